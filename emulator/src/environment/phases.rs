//! The phases Lambda drives an environment through: init (extensions register, then the
//! runtime starts; done when everyone asked for their next event), invoke (done when the runtime
//! answered and every INVOKE subscriber asked again) and shutdown (SHUTDOWN, then signals).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use lambda_wire::telemetry::ReportMetrics;

use super::contract::{
    InitFailure, InitSummary, InvokeResponse, LogSource, Report, ShutdownOutcome, ShutdownReason,
};
use super::ids::{millis, new_trace_id};
use super::process;
use super::rules::{
    report_record, runtime_done_record, Caller, InitEnd, Invocation, InvokeEnd, InvokeFigures,
    ReportEnd, Role, RuntimeEnd, RuntimeStop,
};
use super::shared::Shared;

impl Shared {
    /// The init phase: extensions first (all must register), then the runtime; done when the
    /// runtime and every extension asked for their next event.
    pub(super) async fn run_init(
        self: &Arc<Self>,
        phase: &'static str,
        request_id: Option<String>,
    ) -> anyhow::Result<InitSummary> {
        let started = Instant::now();
        let started_utc = Utc::now();
        let expected: BTreeSet<String> = self
            .extension_paths
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let (records, restoring, instance) = {
            let mut state = self.lock();
            state.generation += 1;
            state.procs.clear();
            state.reset_queues();
            let effects = state.api.begin_init(phase, expected);
            let records: Vec<_> = effects.into_iter().filter_map(|e| state.queue(e)).collect();
            let instance = state.api.facts.instance.clone();
            (records, state.api.restoring(phase), instance)
        };
        self.telemetry.begin_init();
        for record in records {
            self.telemetry.emit(started_utc, record);
        }
        self.log(
            LogSource::Platform,
            format!(
                "{} Runtime Version: {}\tRuntime Version ARN: {}",
                if restoring {
                    "RESTORE_START"
                } else {
                    "INIT_START"
                },
                instance.runtime_version.unwrap_or_default(),
                instance.runtime_version_arn.unwrap_or_default(),
            ),
        );
        let deadline = started + self.options.init_timeout;
        match self.init_steps(deadline).await {
            Ok(()) => {
                let end = Instant::now();
                let duration_ms = millis(end - started);
                let (summary, effects) = {
                    let mut state = self.lock();
                    let (progress, effects) = state.api.end_init(InitEnd {
                        duration_ms,
                        failure: None,
                    });
                    let runtime_done = progress.and_then(|p| p.runtime_done_at).unwrap_or(end);
                    let summary = InitSummary {
                        phase,
                        status: "success",
                        error_type: None,
                        started_at: started_utc,
                        runtime_done_ms: millis(runtime_done - started),
                        duration_ms,
                        request_id,
                    };
                    state.last_init = Some(summary.clone());
                    (summary, effects)
                };
                self.apply(effects);
                self.telemetry.end_init();
                self.bump();
                Ok(summary)
            }
            Err((status, error_type, message)) => {
                let end = Instant::now();
                let duration_ms = millis(end - started);
                let (summary, effects) = {
                    let mut state = self.lock();
                    let (progress, effects) = state.api.end_init(InitEnd {
                        duration_ms,
                        failure: Some((status, error_type.clone())),
                    });
                    let runtime_done = progress.and_then(|p| p.runtime_done_at).unwrap_or(end);
                    let summary = InitSummary {
                        phase,
                        status,
                        error_type: Some(error_type.clone()),
                        started_at: started_utc,
                        runtime_done_ms: millis(runtime_done - started),
                        duration_ms,
                        request_id,
                    };
                    state.last_init = Some(summary.clone());
                    (summary, effects)
                };
                self.apply(effects);
                self.log(
                    LogSource::Platform,
                    format!(
                        "INIT_REPORT Init Duration: {duration_ms:.2} ms\tPhase: {phase}\tStatus: {status}\tError Type: {error_type}"
                    ),
                );
                // Lambda resets the environment after a failed init (AWS's emulator:
                // `handleInitError` asks for a reset, whose graceful shutdown gives every
                // extension SHUTDOWN): the extensions get the failed init's records, then
                // SHUTDOWN, before anything is killed.
                let reason = summary.reset_reason().unwrap_or(ShutdownReason::Failure);
                self.teardown(reason).await;
                Err(InitFailure {
                    phase,
                    error_type,
                    message,
                }
                .into())
            }
        }
    }

    /// The steps of init; an error is (status, errorType, message).
    pub(super) async fn init_steps(
        self: &Arc<Self>,
        deadline: Instant,
    ) -> Result<(), (&'static str, String, String)> {
        let fail = |error_type: &str, message: String| ("error", error_type.to_string(), message);
        for (name, path) in &self.extension_paths {
            self.spawn_process(Role::Extension(name.clone()), path)
                .map_err(|err| fail("Extension.LaunchError", format!("{err:#}")))?;
        }
        let registered = self
            .wait_until(deadline, |state| {
                state.api.registration_outcome(state.first_exit())
            })
            .await;
        match registered {
            Some(Ok(())) => {}
            Some(Err(message)) => return Err(fail("Extension.InitError", message)),
            None => {
                let missing: Vec<String> =
                    self.lock().api.expected_external.iter().cloned().collect();
                return Err((
                    "timeout",
                    "Extension.Timeout".into(),
                    format!("extensions {missing:?} did not register within the init timeout"),
                ));
            }
        }
        self.lock().api.begin_runtime_init();
        self.spawn_process(Role::Runtime, &self.artifacts.bootstrap.clone())
            .map_err(|err| fail("Runtime.InvalidEntrypoint", format!("{err:#}")))?;
        // Runtime init ends at the runtime's first /next; init ends when every extension
        // (external and internal) also waits for its next event.
        let done = self
            .wait_until(deadline, |state| state.api.init_outcome(state.first_exit()))
            .await;
        match done {
            Some(Ok(())) => Ok(()),
            Some(Err((error_type, message))) => Err(fail(error_type, message)),
            None => {
                let waiting = self.lock().api.waiting_for();
                Err((
                    "timeout",
                    "Runtime.Timeout".into(),
                    format!("init timed out waiting for {waiting:?} to ask for the next event"),
                ))
            }
        }
    }

    /// One invocation, from platform.start to platform.report.
    pub(super) async fn run_invoke(
        self: &Arc<Self>,
        request_id: String,
        payload: Bytes,
        caller: Caller,
        init_duration_ms: Option<f64>,
    ) -> (InvokeResponse, Option<ShutdownReason>) {
        self.thaw();
        let start = Instant::now();
        let start_utc = Utc::now();
        let timeout = self.config.timeout;
        let deadline = start + timeout;
        let deadline_ms = (start_utc + chrono::Duration::from_std(timeout).unwrap_or_default())
            .timestamp_millis()
            .max(0);
        let trace_id = new_trace_id(start_utc);
        self.log(
            LogSource::Platform,
            format!(
                "START RequestId: {request_id} Version: {}",
                self.config.version
            ),
        );
        let payload_len = payload.len();
        let tenant_id = caller.tenant_id.clone();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            deadline_ms,
            function_arn: self.function_arn.clone(),
            trace_id: trace_id.clone(),
            caller,
        };
        let effects = self
            .lock()
            .api
            .dispatch_invoke(invocation, &self.config.version);
        self.apply(effects);
        tracing::debug!(%request_id, payload_len, "invocation dispatched");

        let answer = self
            .wait_until(deadline, |state| match state.api.answer_for(&request_id) {
                Some(outcome) => Some(RuntimeEnd::Answered(outcome)),
                None => state.runtime_exit().map(RuntimeEnd::Exited),
            })
            .await;
        let runtime_done = start.elapsed();
        let end = InvokeEnd::of(&request_id, answer.unwrap_or(RuntimeEnd::TimedOut), timeout);
        let figures = InvokeFigures {
            request_id: request_id.clone(),
            tenant_id,
            status: end.status,
            error_type: end.error_type.clone(),
            trace_id,
        };
        // Managed Instances send no `platform.runtimeDone` (AWS's emulator for them has no
        // such event among an invocation's).
        let managed = self.options.managed_instances();
        if !managed {
            self.emit(runtime_done_record(
                &figures,
                millis(runtime_done),
                end.body.len() as u64,
            ));
        }

        // The invocation is complete when every INVOKE subscriber asked for its next event:
        // an extension still working delays it (and is billed), up to the timeout.
        let extensions_done = if end.waits_for_extensions() {
            self.wait_until(deadline, |state| {
                state.api.extensions_done(&state.exited_extensions())
            })
            .await
        } else {
            None
        };
        let ReportEnd {
            status: report_status,
            error_type: report_error,
            reset,
        } = end.report(extensions_done);
        let duration = start.elapsed();
        let duration_ms = millis(duration);
        let max_memory_used_mb = self.max_memory_used_mb();
        let billed_duration_ms = (duration_ms + init_duration_ms.unwrap_or(0.0)).ceil() as u64;
        let (report_init, report_restore) = {
            let state = self.lock();
            let last_phase = state.last_init.as_ref().map(|i| i.phase);
            state.api.report_init(init_duration_ms, last_phase)
        };
        let memory_size_mb = u64::from(self.config.memory_mb);
        let figures = InvokeFigures {
            status: report_status,
            error_type: report_error,
            ..figures
        };
        // Managed Instances report `durationMs` only: capacity is priced per instance.
        let metrics = if managed {
            ReportMetrics::duration_only(duration_ms)
        } else {
            ReportMetrics {
                duration_ms,
                billed_duration_ms: Some(billed_duration_ms),
                memory_size_mb: Some(memory_size_mb),
                max_memory_used_mb: Some(max_memory_used_mb),
                init_duration_ms: report_init,
                restore_duration_ms: report_restore,
                billed_restore_duration_ms: None,
            }
        };
        self.lock().api.finish_invocation(&request_id);
        self.emit(report_record(&figures, metrics));
        if report_status == "timeout" {
            self.log(
                LogSource::Platform,
                format!(
                    "{} {request_id} Task timed out after {:.2} seconds",
                    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    timeout.as_secs_f64()
                ),
            );
        }
        self.log(LogSource::Platform, format!("END RequestId: {request_id}"));
        let mut line = if managed {
            format!("REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms")
        } else {
            format!(
                "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed_duration_ms} ms\tMemory Size: {memory_size_mb} MB\tMax Memory Used: {max_memory_used_mb} MB"
            )
        };
        if let Some(init) = report_init {
            line.push_str(&format!("\tInit Duration: {init:.2} ms"));
        }
        if let Some(restore) = report_restore {
            line.push_str(&format!("\tRestore Duration: {restore:.2} ms"));
        }
        if report_status != "success" && report_status != "error" {
            line.push_str(&format!("\tStatus: {report_status}"));
        }
        self.log(LogSource::Platform, line);
        self.lock().invocations += 1;
        let response = InvokeResponse {
            status: end.result,
            payload: end.body,
            report: Report {
                request_id,
                duration_ms,
                billed_duration_ms,
                memory_size_mb: self.config.memory_mb,
                max_memory_used_mb: max_memory_used_mb as u32,
                init_duration_ms,
            },
        };
        (response, reset)
    }

    /// Shutdown of the current processes, in the order of AWS's runtime interface emulator
    /// (`lambda/rapid/shutdown.go`) and of the Extensions API page ("First, Lambda shuts down
    /// the runtime, then it sends a Shutdown event to each registered external extension"):
    ///
    /// 1. the kill time is fixed first: `deadline = now + shutdown_deadline`;
    /// 2. every process is thawed (a frozen process cannot receive anything);
    /// 3. the runtime gets SIGTERM and up to 300 ms (500 ms with an internal extension), as
    ///    AWS documents for graceful shutdown (RIE gives it 30 % of the deadline), then
    ///    SIGKILL; with no extension registered it is killed at once, as RIE does;
    /// 4. what happened before (the last report, the runtime's last lines) is handed to the
    ///    telemetry subscribers, within a small share of what is left;
    /// 5. SHUTDOWN goes to every extension that subscribed to it, with `deadlineMs` = the kill
    ///    time fixed in step 1; extensions that did not subscribe are killed (RIE does too);
    /// 6. at the deadline whatever is left is killed; then every pipe is read to its end so no
    ///    line a process wrote is lost.
    pub(super) async fn teardown(self: &Arc<Self>, reason: ShutdownReason) -> ShutdownOutcome {
        let started = Instant::now();
        let deadline = started + self.options.shutdown_deadline;
        let deadline_ms = (Utc::now()
            + chrono::Duration::from_std(self.options.shutdown_deadline).unwrap_or_default())
        .timestamp_millis()
        .max(0);
        self.thaw();
        let (runtime, stop) = {
            let state = self.lock();
            let runtime = state
                .procs
                .iter()
                .find(|p| p.role == Role::Runtime && p.exited.is_none())
                .map(|p| p.pid);
            (
                runtime,
                state.api.runtime_stop(self.options.shutdown_deadline),
            )
        };
        if let Some(pid) = runtime {
            match stop {
                RuntimeStop::Term { grace } => {
                    process::signal_group(pid, libc::SIGTERM);
                    let exited = self
                        .wait_until(started + grace, |state| {
                            state
                                .procs
                                .iter()
                                .all(|p| p.role != Role::Runtime || p.exited.is_some())
                                .then_some(())
                        })
                        .await;
                    if exited.is_none() {
                        process::signal_group(pid, libc::SIGKILL);
                    }
                }
                RuntimeStop::Kill => process::signal_group(pid, libc::SIGKILL),
            }
        }
        // What happened before the shutdown (the last invocation's report) reaches the
        // subscribers before SHUTDOWN does, within a small share of the deadline.
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.telemetry.drain(remaining / 4).await;
        let (effects, subscribed) = self.lock().api.shutdown_extensions(reason, deadline_ms);
        self.apply(effects);
        // Nobody can tell the others to stop but a signal.
        let kill_now: Vec<u32> = self
            .lock()
            .procs
            .iter()
            .filter(|p| p.exited.is_none())
            .filter(|p| matches!(&p.role, Role::Extension(name) if !subscribed.contains(name)))
            .map(|p| p.pid)
            .collect();
        for pid in kill_now {
            process::signal_group(pid, libc::SIGKILL);
        }
        let all_exited = self
            .wait_until(deadline, |state| {
                state.procs.iter().all(|p| p.exited.is_some()).then_some(())
            })
            .await;
        let mut killed = Vec::new();
        if all_exited.is_none() {
            let state = self.lock();
            for proc in state.procs.iter().filter(|p| p.exited.is_none()) {
                if let Role::Extension(name) = &proc.role {
                    killed.push(name.clone());
                }
                process::signal_group(proc.pid, libc::SIGKILL);
            }
        }
        // Every line written before the end: the pipes close when the processes (and whatever
        // they forked) are gone. Bounded, in case a grandchild keeps a pipe open.
        let drained = self
            .wait_until(Instant::now() + PIPE_DRAIN, |state| {
                state
                    .procs
                    .iter()
                    .all(|p| p.open_streams == 0)
                    .then_some(())
            })
            .await;
        if drained.is_none() {
            tracing::warn!(
                env_id = %self.env_id,
                "a process's output pipe stayed open after shutdown; its last lines may be missing"
            );
        }
        self.telemetry.close();
        {
            let mut state = self.lock();
            state.api.reset();
            state.reset_queues();
        }
        self.bump();
        let elapsed = started.elapsed();
        tracing::debug!(
            reason = reason.as_str(),
            ?killed,
            ?elapsed,
            "environment shut down"
        );
        ShutdownOutcome { killed, elapsed }
    }
}

/// How long shutdown waits, after the processes ended, for their pipes to be read to the end.
const PIPE_DRAIN: Duration = Duration::from_millis(500);
