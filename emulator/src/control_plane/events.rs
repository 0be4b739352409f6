//! What the control plane did, for observers ([`ControlPlaneEvent`]): the experiment's verdict,
//! the collector's output, tests.

use chrono::{DateTime, Utc};

use super::start_reason::StartReason;
use crate::environment::ShutdownReason;

/// Something the front door did.
#[derive(Clone, Debug)]
pub enum ControlPlaneEvent {
    /// A new execution environment finished its init phase (successfully or not: a failed init
    /// is retried inside the first invocation), or a running one ran init again after a crash,
    /// a timeout or a failed init (`reason` after-failure, same `env_id`).
    EnvironmentStarted {
        env_id: String,
        revision: u64,
        /// Wall time of `Environment::start` (or of the re-init), measured here.
        start_ms: f64,
        function_name: String,
        /// `$LATEST` or the version number (`AWS_LAMBDA_FUNCTION_VERSION` of its processes).
        version: String,
        /// When init began.
        started_at: DateTime<Utc>,
        /// Why the sandbox started it.
        reason: StartReason,
        /// The evidence, in words.
        detail: String,
        /// The request that waited for this init.
        request_id: String,
        /// Tenant isolation: the tenant the environment is dedicated to.
        tenant_id: Option<String>,
        /// How the init ended (`initReport`'s `status`): `success`, `error` or `timeout`.
        init_status: String,
        /// `initReport`'s `errorType` when the init did not succeed.
        init_error_type: Option<String>,
    },
    /// An invocation crashed or timed out, or an init failed: the environment's processes were
    /// shut down (SHUTDOWN with `reason`) and its next request runs init again.
    EnvironmentReset {
        env_id: String,
        reason: ShutdownReason,
        /// The request that crashed or timed out (or waited for the init that failed).
        request_id: String,
        tenant_id: Option<String>,
        /// Invocations the environment completed so far.
        invocations: u64,
    },
    /// `PublishVersion` created a version.
    VersionPublished { version: String, revision: u64 },
    /// An invocation was answered.
    Invoked {
        request_id: String,
        env_id: String,
        /// The environment was started for this request.
        cold_start: bool,
        init_duration_ms: Option<f64>,
        /// How long the request waited for an environment, in ms: its init on a cold start,
        /// a slot on Managed Instances (`None`: served at once).
        waited_ms: Option<f64>,
    },
    /// The configuration changed; environments of older revisions will not be used again.
    ConfigurationUpdated { revision: u64 },
    /// An environment was shut down.
    EnvironmentStopped {
        env_id: String,
        reason: ShutdownReason,
        killed: Vec<String>,
        tenant_id: Option<String>,
        /// Invocations the environment completed in its life (0: an init nobody used).
        invocations: u64,
    },
}
