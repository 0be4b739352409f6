//! One Lambda execution environment: the function and every layer extension as real child
//! processes, the Runtime / Extensions / Telemetry APIs they talk to, and the phases
//! (init, invoke, shutdown) that Lambda drives them through.
//!
//! The public types below are the contract between the environment and its users
//! (`control_plane.rs`, `experiment.rs`, tests). Inside: `phases` (init / invoke / shutdown),
//! `state` (what the phases and the API handlers share), `bookkeeping` (what each API call
//! changes), `process` (children, signals, procfs), `variables` (the processes' environment),
//! `ids`; the HTTP side of each API is in `runtime_api.rs`, `extensions_api.rs` and
//! `telemetry_api.rs`.
//!
//! Measured, not invented: durations come from `Instant`s taken where Lambda takes them
//! (initStart before the first spawn, the runtime's readiness at its first `/next`, initReport
//! when every extension is ready too, report when the last INVOKE subscriber asked again); max
//! memory is the processes' summed `VmHWM`. Which record goes out when follows
//! [`InitRecordOrder`].
//!
//! Faithful to Lambda's own init flow (the `rapid` process of AWS's runtime interface emulator):
//! every external extension is started first and must register; only then is the runtime
//! started; init ends when the runtime and every extension have asked for their next event. An
//! extension that registers after the runtime's first `/next` (an "internal" one, by a name that
//! is no executable in `extensions/`) gets 403 and fails the init.

mod bookkeeping;
mod ids;
mod phases;
mod process;
mod state;
mod variables;

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
pub(crate) use bookkeeping::Refusal;
pub(crate) use ids::new_uuid;
use ids::{millis, new_trace_id, random_u64};
pub use process::process_state;
use process::Role;
pub(crate) use state::{
    Caller, ExtensionSlot, Invocation, Registration, RuntimeOutcome, RuntimeSlot, State,
};
use state::{InitProgress, ProcSlot};
use variables::{extension_environment, process_environment};

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
    /// When `platform.initRuntimeDone` and `platform.extension` are sent.
    pub init_records: InitRecordOrder,
    /// Variables the platform gives every process beneath the user's (a user's value wins;
    /// reserved ones still win over both). Empty by default: a Lambda sandbox knows no
    /// extension's settings. The coldmark front-ends use it for the one documented exception,
    /// `COLDMARK_TELEMETRY_PORT=0`, so that many environments (each with its own coldmark
    /// listening for telemetry) coexist on one host's loopback.
    pub platform_variables: BTreeMap<String, String>,
    /// How this environment came to be (`AWS_LAMBDA_INITIALIZATION_TYPE` and the init
    /// records' `initializationType`).
    pub initialization_type: InitializationType,
    /// Report this environment's init as a SnapStart restore (`platform.restoreStart` /
    /// `restoreRuntimeDone` / `restoreReport`, `restoreDurationMs`). The sandbox takes no
    /// memory snapshot: the processes start afresh, so the "restore" lasts as long as an init.
    pub restore: bool,
    /// Fault injection: the first this-many telemetry batches to each subscriber are lost in
    /// transit, as if every retry failed. Lambda then tells the subscriber with
    /// `platform.logsDropped` at the start of its next batch; this is how a test makes that
    /// happen to a real extension, whose listener never refuses on its own. 0 (no loss) unless
    /// a test asks.
    pub lost_telemetry_batches: u32,
}

/// Lambda's initialization types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitializationType {
    /// Started for a request that found no idle environment.
    #[default]
    OnDemand,
    /// Initialised ahead of demand (provisioned concurrency).
    ProvisionedConcurrency,
    /// SnapStart: the snapshot's init, and every environment restored from it.
    SnapStart,
}

impl InitializationType {
    pub fn as_str(self) -> &'static str {
        match self {
            InitializationType::OnDemand => "on-demand",
            InitializationType::ProvisionedConcurrency => "provisioned-concurrency",
            InitializationType::SnapStart => "snap-start",
        }
    }
}

impl Default for EnvironmentOptions {
    fn default() -> Self {
        Self {
            freeze: true,
            shutdown_deadline: Duration::from_secs(2),
            init_timeout: Duration::from_secs(10),
            init_records: InitRecordOrder::Lambda,
            platform_variables: BTreeMap::new(),
            initialization_type: InitializationType::OnDemand,
            restore: false,
            lost_telemetry_batches: 0,
        }
    }
}

/// When the init phase's telemetry records go out.
///
/// `Lambda` is what AWS's runtime interface emulator does in `doRuntimeDomainInit`
/// (`lambda/rapid/handlers.go`, the init code Lambda itself runs): `platform.initRuntimeDone` is
/// sent from a deferred call that runs after every extension is ready, followed by one
/// `platform.extension` per extension (its final state, `errorType` on failure) and then
/// `platform.initReport`. So `initRuntimeDone` marks the end of the whole init, not the
/// runtime's own readiness.
///
/// `AtRuntimeNext` is the sandbox's earlier order, kept so that consumers (coldmark's init
/// split) are tested against both: `initRuntimeDone` at the runtime's first `/next`, and
/// `platform.extension` at each registration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitRecordOrder {
    #[default]
    Lambda,
    AtRuntimeNext,
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
    /// The caller's client context (decoded JSON text): the runtime gets it as
    /// `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
    /// The caller's Cognito identity: the runtime gets it as `Lambda-Runtime-Cognito-Identity`.
    pub cognito_identity: Option<CognitoIdentity>,
}

/// A caller's Amazon Cognito identity, as the Runtime API renders it (RIE's
/// `model.CognitoIdentity`, `lambda/rapi/rendering`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CognitoIdentity {
    #[serde(rename = "cognitoIdentityId")]
    pub identity_id: String,
    #[serde(rename = "cognitoIdentityPoolId")]
    pub identity_pool_id: String,
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

/// An init that failed (`Runtime.InitError`, `Extension.InitError`, a timeout...): the error
/// [`Environment::start`] and [`Environment::invoke`] return for it, so callers can tell it from
/// other failures (`anyhow::Error::downcast_ref`).
#[derive(Debug, Clone)]
pub struct InitFailure {
    pub phase: &'static str,
    pub error_type: String,
    pub message: String,
}

impl std::fmt::Display for InitFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "init ({} phase) failed: {} [{}]",
            self.phase, self.message, self.error_type
        )
    }
}

impl std::error::Error for InitFailure {}

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
/// by the sandbox from outside the process (coldmark's `coldmark_init_ms` must agree with it).
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
/// One account everywhere: the ARNs the control plane reports and the ones the processes see.
use crate::control_plane::configuration::ACCOUNT_ID;
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
    /// The runtime's variables; extensions get `extension_env` (without the runtime-only ones).
    process_env: BTreeMap<String, String>,
    extension_env: BTreeMap<String, String>,
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
        let deadline = Instant::now() + Duration::from_millis(500);
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
        let env = match role {
            Role::Runtime => &self.process_env,
            Role::Extension(_) => &self.extension_env,
        };
        let (mut child, spawned) = process::spawn(&self.artifacts.launcher, program, env, &cwd)?;
        let open_streams = u8::from(child.stdout.is_some()) + u8::from(child.stderr.is_some());
        let generation = {
            let mut state = self.lock();
            state.procs.push(ProcSlot {
                role: role.clone(),
                pid: spawned.pid,
                spawned_at: spawned.spawned_at,
                exited: None,
                open_streams,
            });
            state.generation
        };
        let pid = spawned.pid;
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
            tokio::spawn(async move {
                let lines = weak.clone();
                process::pump_lines(stream, move |line| {
                    if let Some(shared) = lines.upgrade() {
                        shared.process_line(&source, line);
                    }
                })
                .await;
                let Some(shared) = weak.upgrade() else { return };
                {
                    let mut state = shared.lock();
                    if state.generation == generation {
                        if let Some(slot) = state.procs.iter_mut().find(|p| p.pid == pid) {
                            slot.open_streams = slot.open_streams.saturating_sub(1);
                        }
                    }
                }
                shared.bump();
            });
        }
        let weak: Weak<Shared> = Arc::downgrade(self);
        tokio::spawn(async move {
            let status = child.wait().await;
            let Some(shared) = weak.upgrade() else { return };
            let described = match status {
                // Lambda's wording: "exit status 3", "signal: killed".
                Ok(status) => match (
                    status.code(),
                    std::os::unix::process::ExitStatusExt::signal(&status),
                ) {
                    (Some(code), _) => format!("exit status {code}"),
                    (None, Some(signal)) => format!("signal {signal}"),
                    (None, None) => status.to_string(),
                },
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
        match Self::start_suppressing(config, artifacts, options, logs).await? {
            (_, Some(failure)) => Err(failure),
            (environment, None) => Ok(environment),
        }
    }

    /// Like [`Environment::start`], but an init that fails (or times out) does not end the
    /// environment: as Lambda documents ("suppressed init"), the init is run again during the
    /// first invocation, in the `invoke` phase, in this same environment (same `instanceId`).
    /// Returns the environment and, if init failed, why. Errors only when the environment
    /// could not be set up at all.
    pub async fn start_suppressing(
        config: FunctionConfig,
        artifacts: Artifacts,
        options: EnvironmentOptions,
        logs: LogSink,
    ) -> anyhow::Result<(Environment, Option<anyhow::Error>)> {
        let extension_paths = process::discover_extensions(&artifacts.layers)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Lambda APIs on 127.0.0.1")?;
        let api_addr = listener.local_addr()?;
        let env_id = new_uuid();
        let process_env = process_environment(
            &config,
            options.initialization_type,
            &options.platform_variables,
            &env_id,
            api_addr,
            &artifacts,
        );
        let extension_env = extension_environment(&process_env);
        let region = process_env["AWS_REGION"].clone();
        let function_arn = format!(
            "arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{}",
            config.function_name
        );
        let (frozen, frozen_rx) = watch::channel(false);
        let lost_telemetry_batches = options.lost_telemetry_batches;
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
            extension_env,
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
            telemetry: Hub::new(frozen_rx, lost_telemetry_batches),
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
        let summary = match environment.shared.run_init("init", None).await {
            Ok(summary) => summary,
            Err(failure) => {
                // The processes are gone; the next invocation runs init again.
                environment.lifecycle.lock().await.needs_init = true;
                return Ok((environment, Some(failure)));
            }
        };
        environment.lifecycle.lock().await.report_init_ms = Some(summary.duration_ms);
        if environment.shared.options.freeze {
            environment.shared.freeze().await;
        }
        Ok((environment, None))
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

    /// A handle that can kill this environment's processes from anywhere (thawing them first),
    /// without keeping the environment alive: the last resort of a bounded exit.
    pub fn killer(&self) -> Killer {
        Killer {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// See [`Environment::killer`].
#[derive(Clone)]
pub struct Killer {
    shared: Weak<Shared>,
}

impl Killer {
    /// SIGCONT then SIGKILL to every live process; false when the environment is gone already.
    pub fn kill(&self) -> bool {
        match self.shared.upgrade() {
            Some(shared) => {
                shared.kill_all();
                true
            }
            None => false,
        }
    }

    /// Whether the environment still exists.
    pub fn is_gone(&self) -> bool {
        self.shared.strong_count() == 0
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
    let caller = Caller {
        client_context: req.client_context,
        cognito_identity: req.cognito_identity,
    };
    let (response, reset) = shared
        .run_invoke(request_id, req.payload, caller, init_duration_ms)
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
