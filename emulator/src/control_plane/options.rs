//! The platform knobs of the control plane ([`ControlPlaneOptions`]).

use std::time::Duration;

use crate::environment::EnvironmentOptions;

/// Lambda's default account concurrency is 1000; a laptop is not a fleet, so the sandbox starts
/// lower and lets the user raise it (`--max-environments`).
pub const DEFAULT_MAX_ENVIRONMENTS: usize = 10;

/// Platform knobs of the front door.
#[derive(Clone, Debug)]
pub struct ControlPlaneOptions {
    /// Environments that may be initialising or busy at once; one more request gets 429.
    pub max_environments: usize,
    /// Passed to every environment started.
    pub environment: EnvironmentOptions,
    /// The region reported in ARNs.
    pub region: String,
    /// Spin down an environment that has been idle this long (None: keep it until the
    /// configuration changes or the sandbox stops).
    pub idle_reclaim: Option<Duration>,
    /// Environments initialised ahead of demand for the current configuration (provisioned
    /// concurrency): `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`. Requests use them
    /// first; beyond them, on-demand environments start as usual.
    pub provisioned_concurrency: usize,
    /// SnapStart: one init (`initializationType: snap-start`) when the configuration is set
    /// (the snapshot; its processes are then discarded without SHUTDOWN), and every new
    /// environment reports a restore instead of an init. No memory is snapshotted: a "restore"
    /// here starts the processes afresh.
    pub snap_start: bool,
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        Self {
            max_environments: DEFAULT_MAX_ENVIRONMENTS,
            environment: EnvironmentOptions::default(),
            region: "us-east-1".to_owned(),
            idle_reclaim: None,
            provisioned_concurrency: 0,
            snap_start: false,
        }
    }
}
