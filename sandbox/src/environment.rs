//! One Lambda execution environment: the function and every layer extension as real child
//! processes, the Runtime / Extensions / Telemetry APIs they talk to, and the phases
//! (init, invoke, shutdown) that Lambda drives them through.
//!
//! INTERFACE STUB — the signatures below are the contract between the environment (this file,
//! `runtime_api.rs`, `extensions_api.rs`, `telemetry_api.rs`) and its users (`control_plane.rs`,
//! `experiment.rs`, tests). Bodies are filled in by the environment's implementation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;

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
    FunctionError { error_type: String },
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
    /// Just before `spawn` returned control: the closest outside view of the exec.
    pub spawned_at: std::time::Instant,
    pub registered_at: Option<std::time::Instant>,
    /// The first `/extension/event/next` of this process.
    pub first_next_at: Option<std::time::Instant>,
}

/// The measured figures of the most recent init of an environment (what
/// `platform.initStart` / `initRuntimeDone` / `initReport` carried).
#[derive(Clone, Debug)]
pub struct InitSummary {
    /// `"init"` for the init phase, `"invoke"` for a re-init inside an invocation.
    pub phase: &'static str,
    pub started_at: chrono::DateTime<chrono::Utc>,
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
    shared: std::sync::Arc<Shared>,
}

/// State shared between the environment's phases and the HTTP APIs the processes talk to.
pub(crate) struct Shared {
    pub(crate) config: FunctionConfig,
    pub(crate) env_id: String,
    pub(crate) api_addr: std::net::SocketAddr,
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
        let _ = (config, artifacts, options, logs);
        anyhow::bail!("environment not implemented yet")
    }

    /// The Telemetry API's `instanceId`, also `LogLine::env_id`.
    pub fn id(&self) -> &str {
        &self.shared.env_id
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.shared.config
    }

    /// Where the Runtime, Extensions and Telemetry APIs listen (`AWS_LAMBDA_RUNTIME_API`).
    pub fn api_addr(&self) -> std::net::SocketAddr {
        self.shared.api_addr
    }

    /// Runs one invocation (serialised per environment) and returns once the runtime answered
    /// and every INVOKE-subscribed extension asked for its next event.
    pub async fn invoke(&self, req: InvokeRequest) -> anyhow::Result<InvokeResponse> {
        let _ = req;
        anyhow::bail!("environment not implemented yet")
    }

    /// SHUTDOWN to the extensions, SIGTERM to the runtime, SIGKILL for what is left at the
    /// deadline.
    pub async fn shutdown(self, reason: ShutdownReason) -> ShutdownOutcome {
        self.stop(reason).await
    }

    /// Like [`Environment::shutdown`] for an environment shared behind an `Arc`; later calls
    /// (and invocations after it) find the environment stopped.
    pub async fn stop(&self, reason: ShutdownReason) -> ShutdownOutcome {
        let _ = reason;
        ShutdownOutcome {
            killed: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Per extension process: spawn, registration and first `/event/next` instants.
    pub fn extension_timings(&self) -> Vec<ExtensionTiming> {
        Vec::new()
    }

    /// The pids of the live processes (runtime first, then extensions by name).
    pub fn pids(&self) -> Vec<u32> {
        Vec::new()
    }

    /// The runtime's pid, if it is running.
    pub fn runtime_pid(&self) -> Option<u32> {
        None
    }

    /// The most recent init's measured figures.
    pub fn last_init(&self) -> Option<InitSummary> {
        None
    }

    /// How many invocations this environment completed.
    pub fn invocations(&self) -> u64 {
        0
    }

    /// Whether the environment still accepts invocations (not stopped).
    pub fn is_alive(&self) -> bool {
        false
    }
}
