//! One Lambda execution environment: the function and every layer extension as real child
//! processes, the Runtime / Extensions / Telemetry APIs they talk to, and the phases
//! (init, invoke, shutdown) that Lambda drives them through.
//!
//! The public types below are the contract between the environment (this file, `process`,
//! `runtime_api.rs`, `extensions_api.rs`, `telemetry_api.rs`) and its users (`control_plane.rs`,
//! `experiment.rs`, tests).
//!
//! Faithful to Lambda's own init flow (the `rapid` process of AWS's runtime interface emulator):
//! every external extension is started first and must register; only then is the runtime
//! started; init ends when the runtime and every extension have asked for their next event. An
//! extension that registers after the runtime's first `/next` (an "internal" one, by a name that
//! is no executable in `extensions/`) gets 403 and fails the init.

mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch, Mutex as AsyncMutex};
use tokio::task::JoinHandle;

use crate::extensions_api::{ExtensionEvent, InvokeEvent, ShutdownEvent};
use crate::telemetry_api::{self as telemetry, Hub, Record};
pub use process::process_state;
use process::Role;

/// What a user configures on the function (the subset of Lambda's function configuration the
/// sandbox honours). Changing any of it means new execution environments, as on Lambda.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionConfig {
    pub function_name: String,
    /// `$LATEST` unless a version is published.
    pub version: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub handler: String,
    /// User-set environment variables (the `Environment.Variables` of the configuration).
    pub environment: BTreeMap<String, String>,
}

/// The code to run: the function's `bootstrap` and the layers whose `extensions/` executables
/// are started as external extensions.
#[derive(Clone, Debug, Default)]
pub struct Artifacts {
    /// Path to the function's `bootstrap` executable.
    pub bootstrap: PathBuf,
    /// Directories laid out like `/opt` (each may contain `extensions/`). Zips are unpacked by the
    /// caller into a directory first.
    pub layers: Vec<PathBuf>,
    /// Command prefix every process is started through, e.g.
    /// `["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"]`. Empty: exec directly.
    pub launcher: Vec<String>,
}

/// Knobs of the platform itself, not of the function.
#[derive(Clone, Debug)]
pub struct EnvironmentOptions {
    /// SIGSTOP every process between invocations and SIGCONT them on the next, as Lambda does.
    pub freeze: bool,
    /// How long extensions get after SHUTDOWN before they are killed (Lambda: 2 s with external
    /// extensions).
    pub shutdown_deadline: Duration,
    /// How long the init phase may take before it fails (Lambda: 10 s).
    pub init_timeout: Duration,
}

impl Default for EnvironmentOptions {
    fn default() -> Self {
        Self {
            freeze: true,
            shutdown_deadline: Duration::from_secs(2),
            init_timeout: Duration::from_secs(10),
        }
    }
}

/// Where a log line came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSource {
    Function,
    /// An extension, by its executable's file name.
    Extension(String),
    /// The platform's own lines (`INIT_START`, `START`, `END`, `REPORT`), as in CloudWatch.
    Platform,
}

/// One line of an environment's output: what CloudWatch Logs would receive.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// The execution environment it came from (the Telemetry API's `instanceId`).
    pub env_id: String,
    pub source: LogSource,
    pub time: chrono::DateTime<chrono::Utc>,
    pub line: String,
}

/// The environment's log stream; subscribe before `start` to see init lines.
pub type LogSink = broadcast::Sender<LogLine>;

/// One invocation as the control plane hands it over.
#[derive(Clone, Debug, Default)]
pub struct InvokeRequest {
    pub payload: Bytes,
    /// Generated when `None`.
    pub request_id: Option<String>,
}

/// The platform's measured report of one invocation (what `platform.report` carries).
#[derive(Clone, Debug)]
pub struct Report {
    pub request_id: String,
    pub duration_ms: f64,
    pub billed_duration_ms: u64,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u32,
    /// Present on the first invocation of an environment (and on one that re-ran init).
    pub init_duration_ms: Option<f64>,
}

#[derive(Clone, Debug)]
pub enum InvokeStatus {
    Success,
    /// The runtime posted to `/invocation/{id}/error`.
    FunctionError {
        error_type: String,
    },
    /// The function did not answer within its timeout; the environment was reset.
    Timeout,
    /// The runtime process exited during the invocation; the environment was reset.
    Crashed,
}

#[derive(Clone, Debug)]
pub struct InvokeResponse {
    pub status: InvokeStatus,
    /// What the runtime posted (the response or the error body).
    pub payload: Bytes,
    pub report: Report,
}

/// Why an environment shuts down (the Extensions API's `shutdownReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    Spindown,
    Timeout,
    Failure,
}

impl ShutdownReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownReason::Spindown => "spindown",
            ShutdownReason::Timeout => "timeout",
            ShutdownReason::Failure => "failure",
        }
    }
}

/// What shutdown observed.
#[derive(Clone, Debug)]
pub struct ShutdownOutcome {
    /// Extensions that had not exited by the deadline and were killed.
    pub killed: Vec<String>,
    pub elapsed: Duration,
}

/// When one extension process was started and when it first asked for its next event, measured
/// by the sandbox from outside the process (issue 8: `coldmark_init_ms` must agree with this).
#[derive(Clone, Debug)]
pub struct ExtensionTiming {
    /// The executable's file name (the name Lambda expects it to register with).
    pub name: String,
    pub pid: Option<u32>,
    /// Right after `spawn` returned (fork + exec done): the closest outside view of the start.
    pub spawned_at: Instant,
    pub registered_at: Option<Instant>,
    /// The first `/extension/event/next` of this process.
    pub first_next_at: Option<Instant>,
}

/// The measured figures of the most recent init of an environment (what
/// `platform.initStart` / `initRuntimeDone` / `initReport` carried).
#[derive(Clone, Debug)]
pub struct InitSummary {
    /// `"init"` for the init phase, `"invoke"` for a re-init inside an invocation.
    pub phase: &'static str,
    pub started_at: DateTime<Utc>,
    /// initStart → initRuntimeDone (the runtime's first `/next`).
    pub runtime_done_ms: f64,
    /// initStart → initReport (the runtime and every extension asked for their next event).
    pub duration_ms: f64,
    /// The request that paid for a re-init in the invoke phase.
    pub request_id: Option<String>,
}

/// A running execution environment. `Send + Sync`: share it behind an `Arc`; invocations are
/// serialised internally, one at a time, as on Lambda.
pub struct Environment {
    shared: Arc<Shared>,
    lifecycle: Arc<AsyncMutex<Lifecycle>>,
    server: JoinHandle<()>,
}

// Shared between the control plane's request handlers.
const _: () = {
    fn send_sync<T: Send + Sync>() {}
    let _ = send_sync::<Environment>;
};

/// What only the invoking / stopping side needs, behind the lock that serialises invocations.
#[derive(Default)]
struct Lifecycle {
    /// The processes were torn down (timeout, crash): the next invocation runs init first.
    needs_init: bool,
    /// The teardown after a timeout or crash, running in the background.
    pending_reset: Option<JoinHandle<ShutdownOutcome>>,
    /// The init duration the next `platform.report` carries (first invocation after an init).
    report_init_ms: Option<f64>,
    stopped: Option<ShutdownOutcome>,
}

/// Header names shared by the APIs.
pub(crate) const EXTENSION_ID_HEADER: &str = "Lambda-Extension-Identifier";

/// Runtime version reported in `platform.initStart`: honest about being the sandbox.
const RUNTIME_VERSION: &str = "provided:al2023.coldmark-sandbox";
const ACCOUNT_ID: &str = "000000000000";
const DEFAULT_REGION: &str = "us-east-1";
/// Lambda's response payload limit is 6 MB; leave room for the request envelope.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// An error answer in the shape every Lambda API uses.
pub(crate) fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ApiError<'a> {
        error_message: &'a str,
        error_type: &'a str,
    }
    (
        status,
        axum::Json(ApiError {
            error_message: message,
            error_type,
        }),
    )
        .into_response()
}

/// `{"status":"OK"}` with 202, what Lambda answers to posted results and errors.
pub(crate) fn accepted() -> Response {
    #[derive(Serialize)]
    struct Status {
        status: &'static str,
    }
    (StatusCode::ACCEPTED, axum::Json(Status { status: "OK" })).into_response()
}

/// A random identifier in UUID v4 form (request ids, extension ids, instance ids).
pub(crate) fn new_uuid() -> String {
    let a = random_u64();
    let b = random_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

/// An X-Ray trace header like Lambda passes to the runtime and in INVOKE events.
fn new_trace_id(now: DateTime<Utc>) -> String {
    format!(
        "Root=1-{:08x}-{:016x}{:08x};Parent={:016x};Sampled=0",
        now.timestamp(),
        random_u64(),
        random_u64() as u32,
        random_u64()
    )
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// One invocation handed to the runtime by `/next`.
#[derive(Clone, Debug)]
pub(crate) struct Invocation {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    pub(crate) deadline_ms: u64,
    pub(crate) function_arn: String,
    pub(crate) trace_id: String,
}

/// What the runtime posted for an invocation.
#[derive(Clone, Debug)]
pub(crate) enum RuntimeOutcome {
    Response(Bytes),
    Error { error_type: String, body: Bytes },
}

/// The runtime's side of the Runtime API.
pub(crate) struct RuntimeSlot {
    pub(crate) first_next_at: Option<Instant>,
    queue_tx: mpsc::UnboundedSender<Invocation>,
    pub(crate) queue_rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<Invocation>>>,
    /// The request handed out by the last `/next`, awaiting its answer.
    pub(crate) current: Option<String>,
    pub(crate) outcome: Option<(String, RuntimeOutcome)>,
    pub(crate) init_error: Option<String>,
}

impl RuntimeSlot {
    fn new() -> RuntimeSlot {
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        RuntimeSlot {
            first_next_at: None,
            queue_tx,
            queue_rx: Arc::new(AsyncMutex::new(queue_rx)),
            current: None,
            outcome: None,
            init_error: None,
        }
    }
}

/// A registered extension.
pub(crate) struct ExtensionSlot {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) events: Vec<String>,
    /// Registered under the name of an executable in `extensions/` (else: internal).
    pub(crate) external: bool,
    /// `/event/next` calls so far, and events queued for it so far: the extension is waiting
    /// for its next event (ready) when it asked more often than it was given something.
    pub(crate) nexts: u64,
    pub(crate) enqueued: u64,
    pub(crate) registered_at: Instant,
    pub(crate) first_next_at: Option<Instant>,
    tx: mpsc::UnboundedSender<ExtensionEvent>,
    pub(crate) rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<ExtensionEvent>>>,
}

impl ExtensionSlot {
    pub(crate) fn new(id: String, name: String, events: Vec<String>, external: bool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        ExtensionSlot {
            id,
            name,
            events,
            external,
            nexts: 0,
            enqueued: 0,
            registered_at: Instant::now(),
            first_next_at: None,
            tx,
            rx: Arc::new(AsyncMutex::new(rx)),
        }
    }

    fn ready(&self) -> bool {
        self.nexts > self.enqueued
    }

    fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }

    fn send(&mut self, event: ExtensionEvent) {
        if self.tx.send(event).is_ok() {
            self.enqueued += 1;
        }
    }
}

/// Who may register right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Registration {
    /// Extension init: the executables in `extensions/` register (and internal ones too).
    External,
    /// Runtime init: only internal extensions (registered from the runtime's process), until
    /// the runtime's first `/next`.
    Internal,
    Closed,
}

/// A child process of the current generation.
#[derive(Clone, Debug)]
struct ProcSlot {
    role: Role,
    pid: u32,
    spawned_at: Instant,
    exited: Option<String>,
}

/// The init in progress.
#[derive(Clone, Debug)]
pub(crate) struct InitProgress {
    pub(crate) phase: &'static str,
    runtime_done_at: Option<Instant>,
}

/// The environment's mutable state, shared with the API handlers.
pub(crate) struct State {
    /// Bumped by every (re-)init: a new set of processes, registrations and subscriptions.
    generation: u64,
    pub(crate) init: Option<InitProgress>,
    pub(crate) registration: Registration,
    /// Executables of `extensions/` that have not registered yet.
    pub(crate) expected_external: BTreeSet<String>,
    pub(crate) runtime: RuntimeSlot,
    pub(crate) extensions: Vec<ExtensionSlot>,
    procs: Vec<ProcSlot>,
    /// Why the current init must fail (set by the API handlers).
    pub(crate) failure: Option<String>,
    last_init: Option<InitSummary>,
    invocations: u64,
    stopped: bool,
}

/// Everything the environment's phases and the HTTP handlers share.
pub(crate) struct Shared {
    pub(crate) config: FunctionConfig,
    pub(crate) env_id: String,
    pub(crate) api_addr: SocketAddr,
    pub(crate) function_arn: String,
    pub(crate) account_id: String,
    options: EnvironmentOptions,
    artifacts: Artifacts,
    extension_paths: Vec<(String, PathBuf)>,
    process_env: BTreeMap<String, String>,
    pub(crate) state: Mutex<State>,
    /// Bumped on every state change; waiters re-check their condition.
    changed: watch::Sender<u64>,
    frozen: watch::Sender<bool>,
    pub(crate) telemetry: Hub,
    logs: LogSink,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes everyone waiting in [`Shared::wait_until`].
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn emit(&self, record: Record) {
        self.telemetry.emit(Utc::now(), record);
    }

    pub(crate) fn extension_name(&self, id: &str) -> Option<String> {
        let state = self.lock();
        state
            .extensions
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.name.clone())
    }

    fn log(&self, source: LogSource, line: String) {
        let _ = self.logs.send(LogLine {
            env_id: self.env_id.clone(),
            source,
            time: Utc::now(),
            line,
        });
    }

    /// Waits until `check` yields something or `deadline` passes (`None`).
    async fn wait_until<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let mut changed = self.changed.subscribe();
        loop {
            if let Some(found) = check(&mut self.lock()) {
                return Some(found);
            }
            let deadline = tokio::time::Instant::from_std(deadline);
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    fn live_pids(&self) -> Vec<u32> {
        let state = self.lock();
        state
            .procs
            .iter()
            .filter(|p| p.exited.is_none())
            .map(|p| p.pid)
            .collect()
    }

    /// SIGSTOP every process and wait (briefly) until the kernel reports them stopped: a
    /// stop is delivered asynchronously, and Lambda's freeze is complete when it returns.
    async fn freeze(&self) {
        let pids = self.live_pids();
        for pid in &pids {
            process::signal_group(*pid, libc::SIGSTOP);
        }
        self.frozen.send_replace(true);
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline
            && pids
                .iter()
                .any(|pid| matches!(process::process_state(*pid), Some(s) if s != 'T' && s != 't' && s != 'Z'))
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn thaw(&self) {
        for pid in self.live_pids() {
            process::signal_group(pid, libc::SIGCONT);
        }
        self.frozen.send_replace(false);
    }

    fn kill_all(&self) {
        for pid in self.live_pids() {
            process::signal_group(pid, libc::SIGCONT);
            process::signal_group(pid, libc::SIGKILL);
        }
        self.frozen.send_replace(false);
    }

    /// The sum of the processes' peak RSS, in MB (rounded up).
    fn max_memory_used_mb(&self) -> u64 {
        let kib: u64 = self
            .live_pids()
            .into_iter()
            .filter_map(process::peak_rss_kib)
            .sum();
        kib.div_ceil(1024)
    }

    fn runtime_exit(&self, state: &State) -> Option<String> {
        state
            .procs
            .iter()
            .find(|p| p.role == Role::Runtime)
            .and_then(|p| p.exited.clone())
    }

    /// Starts one process of the current generation and wires its output and exit.
    fn spawn_process(
        self: &Arc<Self>,
        role: Role,
        program: &std::path::Path,
    ) -> anyhow::Result<()> {
        let cwd = self
            .artifacts
            .bootstrap
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("."));
        let (mut child, spawned) =
            process::spawn(&self.artifacts.launcher, program, &self.process_env, &cwd)?;
        let generation = {
            let mut state = self.lock();
            state.procs.push(ProcSlot {
                role: role.clone(),
                pid: spawned.pid,
                spawned_at: spawned.spawned_at,
                exited: None,
            });
            state.generation
        };
        let source = match &role {
            Role::Runtime => LogSource::Function,
            Role::Extension(name) => LogSource::Extension(name.clone()),
        };
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let weak = Arc::downgrade(self);
            let source = source.clone();
            tokio::spawn(process::pump_lines(stream, move |line| {
                if let Some(shared) = weak.upgrade() {
                    shared.process_line(&source, line);
                }
            }));
        }
        let weak: Weak<Shared> = Arc::downgrade(self);
        let pid = spawned.pid;
        tokio::spawn(async move {
            let status = child.wait().await;
            let Some(shared) = weak.upgrade() else { return };
            let described = match status {
                Ok(status) => status.to_string(),
                Err(err) => format!("wait failed: {err}"),
            };
            tracing::debug!(pid, ?role, status = %described, "process exited");
            {
                let mut state = shared.lock();
                if state.generation == generation {
                    if let Some(slot) = state.procs.iter_mut().find(|p| p.pid == pid) {
                        slot.exited = Some(described);
                    }
                }
            }
            shared.bump();
        });
        Ok(())
    }

    /// A line a process wrote: to the log sink and to `function` / `extension` subscribers.
    fn process_line(&self, source: &LogSource, line: String) {
        let record = match source {
            LogSource::Function => Record::FunctionLog(line.clone()),
            _ => Record::ExtensionLog(line.clone()),
        };
        self.emit(record);
        self.log(source.clone(), line);
    }

    fn init_start_record(&self, phase: &'static str) -> Record {
        Record::InitStart(telemetry::InitStart {
            initialization_type: "on-demand".into(),
            phase: phase.into(),
            runtime_version: Some(RUNTIME_VERSION.into()),
            runtime_version_arn: Some(self.runtime_version_arn()),
            function_name: self.config.function_name.clone(),
            function_version: self.config.version.clone(),
            instance_id: self.env_id.clone(),
            instance_max_memory: u64::from(self.config.memory_mb),
        })
    }

    fn runtime_version_arn(&self) -> String {
        let region = self
            .process_env
            .get("AWS_REGION")
            .map(String::as_str)
            .unwrap_or(DEFAULT_REGION);
        format!("arn:aws:lambda:{region}::runtime:coldmark-sandbox")
    }

    /// The init phase: extensions first (all must register), then the runtime; done when the
    /// runtime and every extension asked for their next event.
    async fn run_init(
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
                "INIT_START Runtime Version: {RUNTIME_VERSION}\tRuntime Version ARN: {}",
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
                self.emit(Record::InitReport(telemetry::InitReport {
                    initialization_type: "on-demand".into(),
                    phase: phase.into(),
                    status: "success".into(),
                    error_type: None,
                    metrics: telemetry::InitReportMetrics {
                        duration_ms: summary.duration_ms,
                    },
                    spans: Vec::new(),
                }));
                self.telemetry.end_init();
                self.bump();
                Ok(summary)
            }
            Err((status, error_type, message)) => {
                let duration_ms = millis(started.elapsed());
                let runtime_done = {
                    let mut state = self.lock();
                    let progress = state.init.take();
                    state.registration = Registration::Closed;
                    progress.and_then(|p| p.runtime_done_at).is_some()
                };
                if !runtime_done {
                    self.emit(Record::InitRuntimeDone(telemetry::InitRuntimeDone {
                        initialization_type: "on-demand".into(),
                        phase: phase.into(),
                        status: status.into(),
                        error_type: Some(error_type.clone()),
                        spans: Vec::new(),
                    }));
                }
                self.emit(Record::InitReport(telemetry::InitReport {
                    initialization_type: "on-demand".into(),
                    phase: phase.into(),
                    status: status.into(),
                    error_type: Some(error_type.clone()),
                    metrics: telemetry::InitReportMetrics { duration_ms },
                    spans: Vec::new(),
                }));
                self.log(
                    LogSource::Platform,
                    format!(
                        "INIT_REPORT Init Duration: {duration_ms:.2} ms\tPhase: {phase}\tStatus: {status}\tError Type: {error_type}"
                    ),
                );
                self.kill_all();
                self.telemetry.close();
                self.bump();
                anyhow::bail!("init ({phase} phase) failed: {message} [{error_type}]")
            }
        }
    }

    /// The steps of init; an error is (status, errorType, message).
    async fn init_steps(
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
    async fn run_invoke(
        self: &Arc<Self>,
        request_id: String,
        payload: Bytes,
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
                error_body(
                    "Sandbox.Timedout",
                    format!(
                        "{} {request_id} Task timed out after {:.2} seconds",
                        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
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
                init_duration_ms,
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
        if let Some(init) = init_duration_ms {
            line.push_str(&format!("\tInit Duration: {init:.2} ms"));
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

    /// Shutdown of the current processes: SHUTDOWN to the extensions that asked for it,
    /// SIGTERM to the runtime, and SIGKILL for whatever is left at the deadline.
    async fn teardown(self: &Arc<Self>, reason: ShutdownReason) -> ShutdownOutcome {
        let started = Instant::now();
        self.thaw();
        let deadline = started + self.options.shutdown_deadline;
        // What happened before the shutdown (the last invocation's report) reaches the
        // subscribers before SHUTDOWN does, within a small share of the deadline.
        self.telemetry
            .drain(self.options.shutdown_deadline / 4)
            .await;
        let deadline_ms = (Utc::now()
            + chrono::Duration::from_std(self.options.shutdown_deadline).unwrap_or_default())
        .timestamp_millis()
        .max(0) as u64;
        let mut terminate = Vec::new();
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
                    Role::Runtime => terminate.push(proc.pid),
                    // Nobody can tell these to stop but a signal.
                    Role::Extension(name) if !subscribed.contains(name) => terminate.push(proc.pid),
                    Role::Extension(_) => {}
                }
            }
        }
        self.bump();
        for pid in terminate {
            process::signal_group(pid, libc::SIGTERM);
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

fn role_name(role: &Role) -> String {
    match role {
        Role::Runtime => "the runtime".into(),
        Role::Extension(name) => format!("extension {name}"),
    }
}

/// The error payload Lambda returns for platform errors (timeouts, crashes).
fn error_body(error_type: &str, message: String) -> Bytes {
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

/// The variables every process gets, as on Lambda (plus the user's, which cannot override the
/// reserved ones).
fn process_environment(
    config: &FunctionConfig,
    env_id: &str,
    api_addr: SocketAddr,
    artifacts: &Artifacts,
) -> BTreeMap<String, String> {
    let mut env = config.environment.clone();
    env.entry("COLDMARK_TELEMETRY_PORT".into())
        .or_insert_with(|| "0".into());
    let region = config
        .environment
        .get("AWS_REGION")
        .cloned()
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let task_root = artifacts
        .bootstrap
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/var/task".into());
    let host_path = std::env::var("PATH").unwrap_or_default();
    let stream_date = Utc::now().format("%Y/%m/%d");
    let compact_id: String = env_id.chars().filter(|c| *c != '-').collect();
    let reserved = [
        ("AWS_LAMBDA_RUNTIME_API", api_addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.function_name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("{stream_date}/[{}]{compact_id}", config.version),
        ),
        // Fake credentials, different per environment, never valid anywhere.
        (
            "AWS_ACCESS_KEY_ID",
            format!("ASIASANDBOX{:09X}", random_u64() & 0xf_ffff_ffff),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            format!("sandbox/{:016x}{:016x}", random_u64(), random_u64()),
        ),
        ("AWS_SESSION_TOKEN", format!("sandbox-session-{compact_id}")),
        ("_HANDLER", config.handler.clone()),
        ("LAMBDA_TASK_ROOT", task_root),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        (
            "PATH",
            if host_path.is_empty() {
                "/usr/local/bin:/usr/bin:/bin:/opt/bin".into()
            } else {
                format!("/usr/local/bin:/usr/bin:/bin:/opt/bin:{host_path}")
            },
        ),
    ];
    for (key, value) in reserved {
        env.insert(key.to_string(), value);
    }
    env
}

impl Environment {
    /// Spawns every executable in the layers' `extensions/` (sorted by name) and, once they have
    /// registered, the function's `bootstrap`, all as real child processes; serves the APIs on
    /// 127.0.0.1:0 and returns once init completed (the runtime and every extension asked for
    /// their next event). Init failures are errors, after the processes were killed.
    pub async fn start(
        config: FunctionConfig,
        artifacts: Artifacts,
        options: EnvironmentOptions,
        logs: LogSink,
    ) -> anyhow::Result<Environment> {
        let extension_paths = process::discover_extensions(&artifacts.layers)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Lambda APIs on 127.0.0.1")?;
        let api_addr = listener.local_addr()?;
        let env_id = new_uuid();
        let process_env = process_environment(&config, &env_id, api_addr, &artifacts);
        let region = process_env["AWS_REGION"].clone();
        let function_arn = format!(
            "arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{}",
            config.function_name
        );
        let (frozen, frozen_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            env_id,
            api_addr,
            function_arn,
            account_id: ACCOUNT_ID.into(),
            options,
            artifacts,
            extension_paths,
            process_env,
            state: Mutex::new(State {
                generation: 0,
                init: None,
                registration: Registration::Closed,
                expected_external: BTreeSet::new(),
                runtime: RuntimeSlot::new(),
                extensions: Vec::new(),
                procs: Vec::new(),
                failure: None,
                last_init: None,
                invocations: 0,
                stopped: false,
            }),
            changed: watch::Sender::new(0),
            frozen,
            telemetry: Hub::new(frozen_rx),
            logs,
        });
        let app = axum::Router::new()
            .merge(crate::runtime_api::routes())
            .merge(crate::extensions_api::routes())
            .merge(crate::telemetry_api::routes())
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(%err, "the Lambda APIs stopped");
            }
        });
        let environment = Environment {
            shared,
            lifecycle: Arc::new(AsyncMutex::new(Lifecycle::default())),
            server,
        };
        let summary = environment.shared.run_init("init", None).await?;
        environment.lifecycle.lock().await.report_init_ms = Some(summary.duration_ms);
        if environment.shared.options.freeze {
            environment.shared.freeze().await;
        }
        Ok(environment)
    }

    /// The Telemetry API's `instanceId`, also `LogLine::env_id`.
    pub fn id(&self) -> &str {
        &self.shared.env_id
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.shared.config
    }

    /// Where the Runtime, Extensions and Telemetry APIs listen (`AWS_LAMBDA_RUNTIME_API`).
    pub fn api_addr(&self) -> SocketAddr {
        self.shared.api_addr
    }

    /// Runs one invocation (serialised per environment) and returns once the runtime answered
    /// and every INVOKE-subscribed extension asked for its next event. After a timeout or a
    /// crash the processes are torn down (SHUTDOWN with that reason) and the next invocation
    /// runs init again, in the invoke phase, and pays for it.
    ///
    /// An extension that does not ask for its next event before the timeout resets the
    /// environment too, but the runtime's answer still stands (Lambda has returned it to the
    /// caller already); `platform.report` then says `timeout`.
    ///
    /// Cancel-safe: the invocation runs in its own task, so a caller that goes away (a client
    /// disconnecting) does not leave the environment half-way (thawed, or with a request the
    /// runtime still holds).
    pub async fn invoke(&self, req: InvokeRequest) -> anyhow::Result<InvokeResponse> {
        let shared = self.shared.clone();
        let lifecycle = self.lifecycle.clone();
        tokio::spawn(async move {
            let mut lifecycle = lifecycle.lock_owned().await;
            invoke_serialised(&shared, &mut lifecycle, req).await
        })
        .await
        .context("the invocation task failed")?
    }

    /// SHUTDOWN to the extensions, SIGTERM to the runtime, SIGKILL for what is left at the
    /// deadline.
    pub async fn shutdown(self, reason: ShutdownReason) -> ShutdownOutcome {
        self.stop(reason).await
    }

    /// Like [`Environment::shutdown`] for an environment shared behind an `Arc`; later calls
    /// return the first outcome and invocations fail.
    pub async fn stop(&self, reason: ShutdownReason) -> ShutdownOutcome {
        let mut lifecycle = self.lifecycle.lock().await;
        if let Some(outcome) = &lifecycle.stopped {
            return outcome.clone();
        }
        let mut outcome = ShutdownOutcome {
            killed: Vec::new(),
            elapsed: Duration::ZERO,
        };
        if let Some(reset) = lifecycle.pending_reset.take() {
            if let Ok(reset) = reset.await {
                outcome = reset;
            }
        }
        if !lifecycle.needs_init {
            outcome = self.shared.teardown(reason).await;
        }
        self.shared.lock().stopped = true;
        self.server.abort();
        lifecycle.stopped = Some(outcome.clone());
        outcome
    }

    /// Per extension process of the current init: spawn, registration and first
    /// `/event/next` instants.
    pub fn extension_timings(&self) -> Vec<ExtensionTiming> {
        let state = self.shared.lock();
        state
            .procs
            .iter()
            .filter_map(|p| match &p.role {
                Role::Extension(name) => {
                    let slot = state
                        .extensions
                        .iter()
                        .find(|e| e.external && e.name == *name);
                    Some(ExtensionTiming {
                        name: name.clone(),
                        pid: Some(p.pid),
                        spawned_at: p.spawned_at,
                        registered_at: slot.map(|s| s.registered_at),
                        first_next_at: slot.and_then(|s| s.first_next_at),
                    })
                }
                Role::Runtime => None,
            })
            .collect()
    }

    /// The pids of the live processes (runtime first, then extensions by name).
    pub fn pids(&self) -> Vec<u32> {
        let state = self.shared.lock();
        let mut live: Vec<&ProcSlot> = state.procs.iter().filter(|p| p.exited.is_none()).collect();
        live.sort_by_key(|p| match &p.role {
            Role::Runtime => (0, String::new()),
            Role::Extension(name) => (1, name.clone()),
        });
        live.into_iter().map(|p| p.pid).collect()
    }

    /// The runtime's pid, if it is running.
    pub fn runtime_pid(&self) -> Option<u32> {
        let state = self.shared.lock();
        state
            .procs
            .iter()
            .find(|p| p.role == Role::Runtime && p.exited.is_none())
            .map(|p| p.pid)
    }

    /// The most recent init's measured figures.
    pub fn last_init(&self) -> Option<InitSummary> {
        self.shared.lock().last_init.clone()
    }

    /// How many invocations this environment completed.
    pub fn invocations(&self) -> u64 {
        self.shared.lock().invocations
    }

    /// Whether the environment still accepts invocations (not stopped).
    pub fn is_alive(&self) -> bool {
        !self.shared.lock().stopped
    }
}

/// One invocation, with the environment's invocation lock held.
async fn invoke_serialised(
    shared: &Arc<Shared>,
    lifecycle: &mut Lifecycle,
    req: InvokeRequest,
) -> anyhow::Result<InvokeResponse> {
    if lifecycle.stopped.is_some() {
        anyhow::bail!("execution environment {} is shut down", shared.env_id);
    }
    if let Some(reset) = lifecycle.pending_reset.take() {
        let _ = reset.await;
    }
    let request_id = req.request_id.unwrap_or_else(new_uuid);
    // A process that died while the environment was idle (an extension crashing between
    // invocations): Lambda resets the environment before the next invocation.
    let died = shared.live_pids().len() < shared.lock().procs.len();
    if !lifecycle.needs_init && died {
        shared.teardown(ShutdownReason::Failure).await;
        lifecycle.needs_init = true;
    }
    let mut init_duration_ms = lifecycle.report_init_ms.take();
    if lifecycle.needs_init {
        let summary = shared
            .run_init("invoke", Some(request_id.clone()))
            .await
            .with_context(|| format!("re-init for request {request_id}"))?;
        lifecycle.needs_init = false;
        init_duration_ms = Some(summary.duration_ms);
    }
    let (response, reset) = shared
        .run_invoke(request_id, req.payload, init_duration_ms)
        .await;
    match reset {
        Some(reason) => {
            lifecycle.needs_init = true;
            let shared = shared.clone();
            lifecycle.pending_reset =
                Some(tokio::spawn(async move { shared.teardown(reason).await }));
        }
        None if shared.options.freeze => shared.freeze().await,
        None => {}
    }
    Ok(response)
}

impl Drop for Environment {
    /// No child outlives its environment, even when nobody called `shutdown`.
    fn drop(&mut self) {
        if let Ok(mut lifecycle) = self.lifecycle.try_lock() {
            if let Some(reset) = lifecycle.pending_reset.take() {
                reset.abort();
            }
        }
        self.shared.kill_all();
        self.shared.telemetry.close();
        self.server.abort();
    }
}

/// Why an API call was refused: (status, errorType, message).
pub(crate) type Refusal = (StatusCode, &'static str, String);

/// The bookkeeping behind the API handlers (the handlers themselves only speak HTTP).
impl Shared {
    /// The runtime asks for its next invocation: the first ask ends runtime init
    /// (`platform.initRuntimeDone`) and closes registration.
    pub(crate) fn runtime_next(&self) -> Arc<AsyncMutex<mpsc::UnboundedReceiver<Invocation>>> {
        let (queue, runtime_done) = {
            let mut state = self.lock();
            let mut runtime_done = None;
            if state.runtime.first_next_at.is_none() {
                let now = Instant::now();
                state.runtime.first_next_at = Some(now);
                if state.registration == Registration::Internal {
                    state.registration = Registration::Closed;
                }
                if let Some(init) = state.init.as_mut() {
                    init.runtime_done_at = Some(now);
                    runtime_done = Some(init.phase);
                }
            }
            (state.runtime.queue_rx.clone(), runtime_done)
        };
        if let Some(phase) = runtime_done {
            self.emit(Record::InitRuntimeDone(telemetry::InitRuntimeDone {
                initialization_type: "on-demand".into(),
                phase: phase.into(),
                status: "success".into(),
                error_type: None,
                spans: Vec::new(),
            }));
        }
        self.bump();
        queue
    }

    /// `/next` handed `request_id` to the runtime.
    pub(crate) fn runtime_took(&self, request_id: &str) {
        self.lock().runtime.current = Some(request_id.to_string());
    }

    /// The runtime posted the answer for `request_id`.
    pub(crate) fn runtime_answer(
        &self,
        request_id: &str,
        outcome: RuntimeOutcome,
    ) -> Result<(), Refusal> {
        {
            let mut state = self.lock();
            if state.runtime.current.as_deref() != Some(request_id) {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestID",
                    format!("request {request_id} is not the current invocation"),
                ));
            }
            if state
                .runtime
                .outcome
                .as_ref()
                .is_some_and(|(id, _)| id == request_id)
            {
                return Err((
                    StatusCode::FORBIDDEN,
                    "InvalidStateTransition",
                    format!("request {request_id} was answered already"),
                ));
            }
            state.runtime.outcome = Some((request_id.to_string(), outcome));
        }
        self.bump();
        Ok(())
    }

    /// The runtime reported that its init failed.
    pub(crate) fn runtime_init_error(&self, error_type: String) -> Result<(), Refusal> {
        {
            let mut state = self.lock();
            if state.init.is_none() || state.runtime.first_next_at.is_some() {
                return Err((
                    StatusCode::FORBIDDEN,
                    "InvalidStateTransition",
                    "init/error is only valid during the runtime's init".into(),
                ));
            }
            state.runtime.init_error = Some(error_type);
        }
        self.bump();
        Ok(())
    }

    /// `/extension/register`: returns the new extension's identifier.
    pub(crate) fn register_extension(
        &self,
        name: &str,
        events: Vec<String>,
    ) -> Result<String, Refusal> {
        let id = new_uuid();
        {
            let mut state = self.lock();
            if state.extensions.iter().any(|e| e.name == name) {
                return Err((
                    StatusCode::FORBIDDEN,
                    "Extension.InvalidExtensionState",
                    format!("extension {name} is registered already"),
                ));
            }
            let external = state.expected_external.remove(name);
            if !external {
                if state.registration == Registration::Closed {
                    // Lambda refuses it; during init the init fails with it.
                    let message = format!(
                        "extension {name} tried to register after the runtime's first /next: registration is closed (Extension.RegistrationClosed)"
                    );
                    if state.init.is_some() {
                        state.failure = Some(message.clone());
                    }
                    drop(state);
                    self.bump();
                    return Err((
                        StatusCode::FORBIDDEN,
                        "Extension.RegistrationClosed",
                        message,
                    ));
                }
                if events.iter().any(|e| e == "SHUTDOWN") {
                    return Err((
                        StatusCode::FORBIDDEN,
                        "Extension.InvalidEventType",
                        "SHUTDOWN: internal extensions cannot subscribe to SHUTDOWN".into(),
                    ));
                }
            }
            state.extensions.push(ExtensionSlot::new(
                id.clone(),
                name.to_string(),
                events.clone(),
                external,
            ));
        }
        self.emit(Record::Extension(telemetry::PlatformExtension {
            name: name.to_string(),
            state: "Ready".into(),
            events,
        }));
        self.bump();
        Ok(id)
    }

    /// `/extension/event/next`: the queue this extension's next event comes from.
    pub(crate) fn extension_next(
        &self,
        id: &str,
    ) -> Result<Arc<AsyncMutex<mpsc::UnboundedReceiver<ExtensionEvent>>>, Refusal> {
        let queue = {
            let mut state = self.lock();
            let Some(ext) = state.extensions.iter_mut().find(|e| e.id == id) else {
                return Err(unknown_extension());
            };
            ext.nexts += 1;
            ext.first_next_at.get_or_insert_with(Instant::now);
            ext.rx.clone()
        };
        self.bump();
        Ok(queue)
    }

    /// `/extension/init/error`: the init fails.
    pub(crate) fn extension_init_error(&self, id: &str, error_type: &str) -> Result<(), Refusal> {
        {
            let mut state = self.lock();
            let Some(name) = state
                .extensions
                .iter()
                .find(|e| e.id == id)
                .map(|e| e.name.clone())
            else {
                return Err(unknown_extension());
            };
            if state.init.is_none() {
                return Err((
                    StatusCode::FORBIDDEN,
                    "Extension.InvalidExtensionState",
                    "init/error is only valid during init".into(),
                ));
            }
            state.failure = Some(format!(
                "extension {name} reported an init error ({error_type})"
            ));
        }
        self.bump();
        Ok(())
    }

    /// `/extension/exit/error`: recorded; the extension exits next.
    pub(crate) fn extension_exit_error(&self, id: &str, error_type: &str) -> Result<(), Refusal> {
        let name = self.extension_name(id).ok_or_else(unknown_extension)?;
        tracing::info!(extension = %name, %error_type, "extension reported an exit error");
        Ok(())
    }

    /// What `/extension/register` answers besides the identifier.
    pub(crate) fn function_metadata(&self) -> (&str, &str, &str) {
        (
            &self.config.function_name,
            &self.config.version,
            &self.config.handler,
        )
    }
}

fn unknown_extension() -> Refusal {
    (
        StatusCode::FORBIDDEN,
        "Extension.UnknownExtensionIdentifier",
        "unknown Lambda-Extension-Identifier".into(),
    )
}
