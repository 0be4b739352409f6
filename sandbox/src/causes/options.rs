//! What the `causes` script is run with ([`CausesOptions`]) and which reasons each of its two
//! scripts produces.

use std::time::Duration;

use lambda_emulator::control_plane::start_reason::StartReason;

use crate::front_end::SandboxOptions;

/// What `causes` was asked to run.
#[derive(Clone, Debug)]
pub struct CausesOptions {
    /// The sandbox; its environments always get Lambda's init record order, and
    /// `max_environments` must be at least the burst.
    pub sandbox: SandboxOptions,
    /// Idle reclaim: long enough that the script's steps never wait that long by accident.
    pub idle_reclaim: Duration,
    /// Concurrent requests of the burst (≥ 2).
    pub burst: usize,
    /// How long each request of the burst sleeps in the handler.
    pub burst_sleep: Duration,
    /// The function's timeout (whole seconds, as on Lambda); the timeout step sleeps 1 s longer.
    pub timeout: Duration,
    /// The environments' init timeout. Lambda's is 10 s; the script's timed-out init waits for
    /// it, so it is shorter here (the clock function's own init takes milliseconds).
    pub init_timeout: Duration,
}

impl Default for CausesOptions {
    fn default() -> Self {
        Self {
            sandbox: SandboxOptions::default(),
            idle_reclaim: Duration::from_millis(2000),
            burst: 3,
            burst_sleep: Duration::from_millis(1000),
            timeout: Duration::from_secs(2),
            init_timeout: Duration::from_secs(3),
        }
    }
}

/// The reasons the script produces on Lambda Managed Instances (`after-failure` is not one:
/// an environment that failed there is replaced by those already running, not re-initialised).
pub const PRODUCED_MANAGED: [StartReason; 5] = [
    StartReason::FirstSeen,
    StartReason::ScaleOut,
    StartReason::Replacement,
    StartReason::ConfigurationChange,
    StartReason::NewVersion,
];

/// The reasons the script produces.
pub const PRODUCED: [StartReason; 7] = [
    StartReason::FirstSeen,
    StartReason::ScaleOut,
    StartReason::Replacement,
    StartReason::ConfigurationChange,
    StartReason::NewVersion,
    StartReason::AfterFailure,
    StartReason::NewTenant,
];
