//! The contract between an execution environment and its users (`control_plane.rs`,
//! `experiment.rs`, tests): what they configure (the function, its code, the platform's knobs)
//! and what they get back (invocation results, reports, log lines, init and shutdown figures).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

/// The account every ARN of the sandbox names (AWS's documentation example account): the
/// environment puts it in the function ARN it hands the runtime, the control plane in every
/// ARN it answers with.
pub const ACCOUNT_ID: &str = "123456789012";

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
    /// Lambda Managed Instances only (with [`InitializationType::ManagedInstances`]): how many
    /// invocations the environment runs at once (`PerExecutionEnvironmentMaxConcurrency`, the
    /// runtime's `AWS_LAMBDA_MAX_CONCURRENCY`). Ignored elsewhere: one at a time.
    pub max_concurrency: u32,
    /// Tenant isolation: the one tenant this environment serves. An invocation for any other
    /// tenant (or for none) is refused: environments are never shared across tenants.
    pub tenant_id: Option<String>,
}

impl EnvironmentOptions {
    /// Whether this is a Lambda Managed Instances environment.
    pub fn managed_instances(&self) -> bool {
        self.initialization_type == InitializationType::ManagedInstances
    }

    /// Whether the processes are frozen between invocations: never on Managed Instances.
    pub fn freezes(&self) -> bool {
        self.freeze && !self.managed_instances()
    }

    /// Invocations the environment runs at once.
    pub fn concurrency(&self) -> u32 {
        if self.managed_instances() {
            self.max_concurrency.max(1)
        } else {
            1
        }
    }
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
    /// Lambda Managed Instances: started ahead of traffic, never frozen, up to
    /// [`EnvironmentOptions::max_concurrency`] invocations at once.
    ManagedInstances,
}

impl InitializationType {
    pub fn as_str(self) -> &'static str {
        match self {
            InitializationType::OnDemand => "on-demand",
            InitializationType::ProvisionedConcurrency => "provisioned-concurrency",
            InitializationType::SnapStart => "snap-start",
            InitializationType::ManagedInstances => "lambda-managed-instances",
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
            max_concurrency: 1,
            tenant_id: None,
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
    /// The invocation's tenant (`X-Amz-Tenant-Id`), on a function with tenant isolation only:
    /// `tenantId` in `platform.start`, `platform.runtimeDone` and `platform.report`, and the
    /// runtime's `Lambda-Runtime-Aws-Tenant-Id`, as on Lambda.
    pub tenant_id: Option<String>,
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
    /// Right before the fork. The process's own CPU clock (where `coldmark_init_ms` starts)
    /// begins at the fork, so an outside view of its start lies between this and `spawned_at`:
    /// forking a large, busy sandbox process can take milliseconds on either side of it.
    pub spawning_at: Instant,
    /// Right after `spawn` returned (fork + exec done): the closest outside view of the start
    /// that excludes the fork's cost in the sandbox.
    pub spawned_at: Instant,
    pub registered_at: Option<Instant>,
    /// The first `/extension/event/next` of this process.
    pub first_next_at: Option<Instant>,
}

/// The measured figures of the most recent init of an environment (what
/// `platform.initStart` / `initRuntimeDone` / `initReport` carried), whether it succeeded or
/// not.
#[derive(Clone, Debug)]
pub struct InitSummary {
    /// `"init"` for the init phase, `"invoke"` for a re-init inside an invocation.
    pub phase: &'static str,
    /// `initReport`'s `status`: `success`, `error` or `timeout`.
    pub status: &'static str,
    /// `initReport`'s `errorType` when the init did not succeed (`Runtime.InitError`,
    /// `Runtime.ExitError`, `Runtime.Timeout`...).
    pub error_type: Option<String>,
    pub started_at: DateTime<Utc>,
    /// initStart → initRuntimeDone (the runtime's first `/next`).
    pub runtime_done_ms: f64,
    /// initStart → initReport (the runtime and every extension asked for their next event, or
    /// the init failed).
    pub duration_ms: f64,
    /// The request that paid for a re-init in the invoke phase.
    pub request_id: Option<String>,
}

impl InitSummary {
    /// The SHUTDOWN reason of the reset that follows a failed init (`timeout` for one that
    /// timed out, `failure` otherwise); none after a successful init.
    pub fn reset_reason(&self) -> Option<ShutdownReason> {
        match self.status {
            "success" => None,
            "timeout" => Some(ShutdownReason::Timeout),
            _ => Some(ShutdownReason::Failure),
        }
    }
}
