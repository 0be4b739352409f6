//! The phases Lambda drives an environment through: init (extensions register, then the
//! runtime starts; done when everyone asked for their next event), invoke (done when the runtime
//! answered and every INVOKE subscriber asked again) and shutdown (SHUTDOWN, then signals).

use super::*;

impl Shared {
    /// Whether this init is reported as a SnapStart restore (only the `init` phase: a re-init
    /// inside an invocation is a plain init).
    pub(super) fn restoring(&self, phase: &str) -> bool {
        self.options.restore && phase == "init"
    }

    pub(super) fn runtime_done_record(
        &self,
        phase: &'static str,
        status: &str,
        error_type: Option<String>,
    ) -> Record {
        if self.restoring(phase) {
            return Record::RestoreRuntimeDone(telemetry::RestoreRuntimeDone {
                status: status.into(),
                error_type,
                spans: Vec::new(),
            });
        }
        Record::InitRuntimeDone(telemetry::InitRuntimeDone {
            initialization_type: self.options.initialization_type.as_str().into(),
            phase: phase.into(),
            status: status.into(),
            error_type,
            spans: Vec::new(),
        })
    }

    fn init_report_record(
        &self,
        phase: &'static str,
        status: &str,
        error_type: Option<String>,
        duration_ms: f64,
    ) -> Record {
        let metrics = telemetry::InitReportMetrics { duration_ms };
        if self.restoring(phase) {
            return Record::RestoreReport(telemetry::RestoreReport {
                status: status.into(),
                error_type,
                metrics,
                spans: Vec::new(),
            });
        }
        Record::InitReport(telemetry::InitReport {
            initialization_type: self.options.initialization_type.as_str().into(),
            phase: phase.into(),
            status: status.into(),
            error_type,
            metrics,
            spans: Vec::new(),
        })
    }

    pub(super) fn init_start_record(&self, phase: &'static str) -> Record {
        if self.restoring(phase) {
            return Record::RestoreStart(telemetry::RestoreStart {
                runtime_version: Some(RUNTIME_VERSION.into()),
                runtime_version_arn: Some(self.runtime_version_arn()),
                function_name: self.config.function_name.clone(),
                function_version: self.config.version.clone(),
                instance_id: self.env_id.clone(),
                instance_max_memory: u64::from(self.config.memory_mb) * 1024 * 1024,
            });
        }
        Record::InitStart(telemetry::InitStart {
            initialization_type: self.options.initialization_type.as_str().into(),
            phase: phase.into(),
            runtime_version: Some(RUNTIME_VERSION.into()),
            runtime_version_arn: Some(self.runtime_version_arn()),
            function_name: self.config.function_name.clone(),
            function_version: self.config.version.clone(),
            instance_id: self.env_id.clone(),
            instance_max_memory: u64::from(self.config.memory_mb) * 1024 * 1024,
        })
    }

    pub(super) fn runtime_version_arn(&self) -> String {
        let region = self
            .process_env
            .get("AWS_REGION")
            .map(String::as_str)
            .unwrap_or(DEFAULT_REGION);
        format!("arn:aws:lambda:{region}::runtime:coldmark-sandbox")
    }

    /// The init phase: extensions first (all must register), then the runtime; done when the
    /// runtime and every extension asked for their next event.
    pub(super) async fn run_init(
        self: &Arc<Self>,
        phase: &'static str,
        request_id: Option<String>,
    ) -> anyhow::Result<InitSummary> {
        let started = Instant::now();
        let started_utc = Utc::now();
        {
            let mut state = self.lock();
            state.generation += 1;
            state.init = Some(InitProgress {
                phase,
                runtime_done_at: None,
            });
            state.registration = Registration::External;
            state.expected_external = self
                .extension_paths
                .iter()
                .map(|(n, _)| n.clone())
                .collect();
            state.runtime = RuntimeSlot::new();
            state.extensions.clear();
            state.procs.clear();
            state.failure = None;
        }
        self.telemetry.begin_init();
        self.telemetry
            .emit(started_utc, self.init_start_record(phase));
        self.log(
            LogSource::Platform,
            format!(
                "{} Runtime Version: {RUNTIME_VERSION}\tRuntime Version ARN: {}",
                if self.restoring(phase) {
                    "RESTORE_START"
                } else {
                    "INIT_START"
                },
                self.runtime_version_arn()
            ),
        );
        let deadline = started + self.options.init_timeout;
        match self.init_steps(deadline).await {
            Ok(()) => {
                let end = Instant::now();
                let summary = {
                    let mut state = self.lock();
                    let progress = state.init.take().expect("init in progress");
                    state.registration = Registration::Closed;
                    let runtime_done = progress.runtime_done_at.unwrap_or(end);
                    let summary = InitSummary {
                        phase,
                        started_at: started_utc,
                        runtime_done_ms: millis(runtime_done - started),
                        duration_ms: millis(end - started),
                        request_id,
                    };
                    state.last_init = Some(summary.clone());
                    summary
                };
                if self.options.init_records == InitRecordOrder::Lambda {
                    self.emit(self.runtime_done_record(phase, "success", None));
                    self.emit_extension_states();
                }
                self.emit(self.init_report_record(phase, "success", None, summary.duration_ms));
                self.telemetry.end_init();
                self.bump();
                Ok(summary)
            }
            Err((status, error_type, message)) => {
                let duration_ms = millis(started.elapsed());
                let lambda_order = self.options.init_records == InitRecordOrder::Lambda;
                let runtime_done = {
                    let mut state = self.lock();
                    let progress = state.init.take();
                    state.registration = Registration::Closed;
                    progress.and_then(|p| p.runtime_done_at).is_some()
                };
                if lambda_order || !runtime_done {
                    self.emit(self.runtime_done_record(phase, status, Some(error_type.clone())));
                }
                if lambda_order {
                    self.emit_extension_states();
                }
                self.emit(self.init_report_record(
                    phase,
                    status,
                    Some(error_type.clone()),
                    duration_ms,
                ));
                self.log(
                    LogSource::Platform,
                    format!(
                        "INIT_REPORT Init Duration: {duration_ms:.2} ms\tPhase: {phase}\tStatus: {status}\tError Type: {error_type}"
                    ),
                );
                self.kill_all();
                self.telemetry.close();
                self.bump();
                Err(InitFailure {
                    phase,
                    error_type,
                    message,
                }
                .into())
            }
        }
    }

    /// One `platform.extension` per registered extension with its state at the end of init,
    /// as RIE's `logAgentsInitStatus` sends them (after `initRuntimeDone`, before `initReport`).
    fn emit_extension_states(&self) {
        let records: Vec<telemetry::PlatformExtension> = {
            let state = self.lock();
            state
                .extensions
                .iter()
                .map(|e| {
                    let (status, error_type) = e.init_state();
                    telemetry::PlatformExtension {
                        name: e.name.clone(),
                        state: status.into(),
                        events: e.events.clone(),
                        error_type,
                    }
                })
                .collect()
        };
        for record in records {
            self.emit(Record::Extension(record));
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
                if let Some(failure) = state.failure.clone() {
                    return Some(Err(failure));
                }
                if let Some(p) = state.procs.iter().find(|p| p.exited.is_some()) {
                    return Some(Err(format!(
                        "extension {:?} exited before registering ({})",
                        role_name(&p.role),
                        p.exited.as_deref().unwrap_or_default()
                    )));
                }
                state.expected_external.is_empty().then_some(Ok(()))
            })
            .await;
        match registered {
            Some(Ok(())) => {}
            Some(Err(message)) => return Err(fail("Extension.InitError", message)),
            None => {
                let missing: Vec<String> = self.lock().expected_external.iter().cloned().collect();
                return Err((
                    "timeout",
                    "Extension.Timeout".into(),
                    format!("extensions {missing:?} did not register within the init timeout"),
                ));
            }
        }
        self.lock().registration = Registration::Internal;
        self.spawn_process(Role::Runtime, &self.artifacts.bootstrap.clone())
            .map_err(|err| fail("Runtime.InvalidEntrypoint", format!("{err:#}")))?;
        // Runtime init ends at the runtime's first /next; init ends when every extension
        // (external and internal) also waits for its next event.
        let done = self
            .wait_until(deadline, |state| {
                if let Some(failure) = state.failure.clone() {
                    return Some(Err(("Extension.InitError", failure)));
                }
                if let Some(error_type) = state.runtime.init_error.clone() {
                    return Some(Err((
                        "Runtime.InitError",
                        format!("the function reported an init error ({error_type})"),
                    )));
                }
                if let Some(p) = state.procs.iter().find(|p| p.exited.is_some()) {
                    let error_type = match p.role {
                        Role::Runtime => "Runtime.ExitError",
                        Role::Extension(_) => "Extension.Crash",
                    };
                    return Some(Err((
                        error_type,
                        format!(
                            "{} exited during init ({})",
                            role_name(&p.role),
                            p.exited.as_deref().unwrap_or_default()
                        ),
                    )));
                }
                let ready = state.runtime.first_next_at.is_some()
                    && state.extensions.iter().all(ExtensionSlot::ready);
                ready.then_some(Ok(()))
            })
            .await;
        match done {
            Some(Ok(())) => Ok(()),
            Some(Err((error_type, message))) => Err(fail(error_type, message)),
            None => {
                let state = self.lock();
                let waiting: Vec<String> = std::iter::once("runtime".to_string())
                    .filter(|_| state.runtime.first_next_at.is_none())
                    .chain(
                        state
                            .extensions
                            .iter()
                            .filter(|e| !e.ready())
                            .map(|e| e.name.clone()),
                    )
                    .collect();
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
            .max(0) as u64;
        let trace_id = new_trace_id(start_utc);
        let tracing_ctx = Some(telemetry::Tracing {
            kind: "X-Amzn-Trace-Id".into(),
            value: trace_id.clone(),
        });
        self.emit(Record::Start(telemetry::Start {
            request_id: request_id.clone(),
            version: self.config.version.clone(),
            tracing: tracing_ctx.clone(),
        }));
        self.log(
            LogSource::Platform,
            format!(
                "START RequestId: {request_id} Version: {}",
                self.config.version
            ),
        );
        let payload_len = payload.len();
        {
            let mut state = self.lock();
            state.runtime.outcome = None;
            let _ = state.runtime.queue_tx.send(Invocation {
                request_id: request_id.clone(),
                payload,
                deadline_ms,
                function_arn: self.function_arn.clone(),
                trace_id: trace_id.clone(),
                caller,
            });
            for ext in state.extensions.iter_mut().filter(|e| e.wants("INVOKE")) {
                ext.send(ExtensionEvent::Invoke(InvokeEvent {
                    deadline_ms,
                    request_id: request_id.clone(),
                    invoked_function_arn: self.function_arn.clone(),
                    tracing: crate::extensions_api::EventTracing {
                        kind: "X-Amzn-Trace-Id".into(),
                        value: trace_id.clone(),
                    },
                }));
            }
        }
        self.bump();
        tracing::debug!(%request_id, payload_len, "invocation dispatched");

        enum Answer {
            Runtime(RuntimeOutcome),
            Crash(String),
        }
        let answer = self
            .wait_until(deadline, |state| {
                if let Some((id, outcome)) = &state.runtime.outcome {
                    if *id == request_id {
                        return Some(Answer::Runtime(outcome.clone()));
                    }
                }
                self.runtime_exit(state).map(Answer::Crash)
            })
            .await;
        let runtime_done = start.elapsed();
        let (status, error_type, invoke_status, body) = match &answer {
            Some(Answer::Runtime(RuntimeOutcome::Response(body))) => {
                ("success", None, InvokeStatus::Success, body.clone())
            }
            Some(Answer::Runtime(RuntimeOutcome::Error { error_type, body })) => (
                "error",
                Some(error_type.clone()),
                InvokeStatus::FunctionError {
                    error_type: error_type.clone(),
                },
                body.clone(),
            ),
            Some(Answer::Crash(exit)) => (
                "failure",
                Some("Runtime.ExitError".to_string()),
                InvokeStatus::Crashed,
                error_body(
                    "Runtime.ExitError",
                    format!("RequestId: {request_id} Error: Runtime exited with error: {exit}"),
                ),
            ),
            None => (
                "timeout",
                Some("Sandbox.Timedout".to_string()),
                InvokeStatus::Timeout,
                // What Lambda's Invoke API answers for a timeout.
                error_body(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                        timeout.as_secs_f64()
                    ),
                ),
            ),
        };
        self.emit(Record::RuntimeDone(telemetry::RuntimeDone {
            request_id: request_id.clone(),
            status: status.into(),
            error_type: error_type.clone(),
            metrics: telemetry::RuntimeDoneMetrics {
                duration_ms: millis(runtime_done),
                produced_bytes: body.len() as u64,
            },
            spans: Vec::new(),
            tracing: tracing_ctx.clone(),
        }));

        // The invocation is complete when every INVOKE subscriber asked for its next event:
        // an extension still working delays it (and is billed), up to the timeout.
        let mut report_status = status;
        let mut report_error = error_type;
        let mut reset = match &answer {
            Some(Answer::Runtime(_)) => None,
            Some(Answer::Crash(_)) => Some(ShutdownReason::Failure),
            None => Some(ShutdownReason::Timeout),
        };
        if reset.is_none() {
            let extensions_done = self
                .wait_until(deadline, |state| {
                    let exited = |name: &str| {
                        state.procs.iter().any(|p| {
                            p.exited.is_some() && matches!(&p.role, Role::Extension(n) if n == name)
                        })
                    };
                    let pending: Vec<&ExtensionSlot> = state
                        .extensions
                        .iter()
                        .filter(|e| e.wants("INVOKE") && !e.ready())
                        .collect();
                    if pending.iter().all(|e| e.external && exited(&e.name)) {
                        Some(!pending.is_empty())
                    } else {
                        None
                    }
                })
                .await;
            match extensions_done {
                Some(false) => {}
                Some(true) => {
                    report_status = "failure";
                    report_error = Some("Extension.Crash".into());
                    reset = Some(ShutdownReason::Failure);
                }
                None => {
                    report_status = "timeout";
                    report_error = Some("Sandbox.Timedout".into());
                    reset = Some(ShutdownReason::Timeout);
                }
            }
        }
        let duration = start.elapsed();
        let duration_ms = millis(duration);
        let max_memory_used_mb = self.max_memory_used_mb();
        let billed_duration_ms = (duration_ms + init_duration_ms.unwrap_or(0.0)).ceil() as u64;
        // After a SnapStart restore the first report names it a restore.
        let restored = init_duration_ms.is_some()
            && self.options.restore
            && self
                .lock()
                .last_init
                .as_ref()
                .is_some_and(|i| i.phase == "init");
        let (report_init, report_restore) = if restored {
            (None, init_duration_ms)
        } else {
            (init_duration_ms, None)
        };
        let memory_size_mb = u64::from(self.config.memory_mb);
        self.emit(Record::Report(telemetry::PlatformReport {
            request_id: request_id.clone(),
            status: report_status.into(),
            error_type: report_error,
            metrics: telemetry::ReportMetrics {
                duration_ms,
                billed_duration_ms,
                memory_size_mb,
                max_memory_used_mb,
                init_duration_ms: report_init,
                restore_duration_ms: report_restore,
            },
            spans: Vec::new(),
            tracing: tracing_ctx,
        }));
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
        let mut line = format!(
            "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed_duration_ms} ms\tMemory Size: {memory_size_mb} MB\tMax Memory Used: {max_memory_used_mb} MB"
        );
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
            status: invoke_status,
            payload: body,
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
        .max(0) as u64;
        self.thaw();
        let (runtime, has_extensions, has_internal) = {
            let state = self.lock();
            let runtime = state
                .procs
                .iter()
                .find(|p| p.role == Role::Runtime && p.exited.is_none())
                .map(|p| p.pid);
            (
                runtime,
                !state.extensions.is_empty(),
                state.extensions.iter().any(|e| !e.external),
            )
        };
        if let Some(pid) = runtime {
            if has_extensions {
                process::signal_group(pid, libc::SIGTERM);
                // AWS (graceful shutdown with Lambda extensions): up to 300 ms for the runtime,
                // 500 ms with an internal extension; never more than the whole deadline.
                let share = Duration::from_millis(if has_internal { 500 } else { 300 })
                    .min(self.options.shutdown_deadline);
                let runtime_deadline = started + share;
                let exited = self
                    .wait_until(runtime_deadline, |state| {
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
            } else {
                process::signal_group(pid, libc::SIGKILL);
            }
        }
        // What happened before the shutdown (the last invocation's report) reaches the
        // subscribers before SHUTDOWN does, within a small share of the deadline.
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.telemetry.drain(remaining / 4).await;
        let mut kill_now = Vec::new();
        {
            let mut state = self.lock();
            let subscribed: BTreeSet<String> = state
                .extensions
                .iter()
                .filter(|e| e.wants("SHUTDOWN"))
                .map(|e| e.name.clone())
                .collect();
            for ext in state.extensions.iter_mut().filter(|e| e.wants("SHUTDOWN")) {
                ext.send(ExtensionEvent::Shutdown(ShutdownEvent {
                    shutdown_reason: reason.as_str().into(),
                    deadline_ms,
                }));
            }
            for proc in state.procs.iter().filter(|p| p.exited.is_none()) {
                match &proc.role {
                    // Nobody can tell these to stop but a signal.
                    Role::Extension(name) if !subscribed.contains(name) => kill_now.push(proc.pid),
                    _ => {}
                }
            }
        }
        self.bump();
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
            state.registration = Registration::Closed;
            state.extensions.clear();
            state.runtime = RuntimeSlot::new();
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

pub(super) fn role_name(role: &Role) -> String {
    match role {
        Role::Runtime => "the runtime".into(),
        Role::Extension(name) => format!("extension {name}"),
    }
}

/// The error payload Lambda returns for platform errors (timeouts, crashes).
pub(super) fn error_body(error_type: &str, message: String) -> Bytes {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PlatformError<'a> {
        error_message: String,
        error_type: &'a str,
    }
    serde_json::to_vec(&PlatformError {
        error_message: message,
        error_type,
    })
    .map(Bytes::from)
    .unwrap_or_default()
}
