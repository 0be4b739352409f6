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
