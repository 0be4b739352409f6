//! The platform knobs of the control plane ([`ControlPlaneOptions`]).

use std::time::Duration;

use super::tenancy::{self, TenancyError};
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
    /// Lambda Managed Instances: environments that take many invocations at once, started
    /// ahead of traffic and never frozen. `None`: Lambda's on-demand environments.
    pub managed_instances: Option<ManagedInstances>,
    /// Tenant isolation (`TenancyConfig` `PER_TENANT`, fixed when the function is created):
    /// every invoke names its tenant, and each tenant gets environments of its own. It does not
    /// go with SnapStart, provisioned concurrency or Managed Instances
    /// ([`ControlPlaneOptions::check_tenancy`]); the function has no Function URL.
    pub tenant_isolation: bool,
}

impl ControlPlaneOptions {
    /// With tenant isolation, the features AWS says it does not go with are refused.
    pub fn check_tenancy(&self) -> Result<(), TenancyError> {
        if !self.tenant_isolation {
            return Ok(());
        }
        tenancy::conflicts(
            self.snap_start,
            self.provisioned_concurrency,
            self.managed_instances.is_some(),
        )
    }
}

/// Lambda Managed Instances as the sandbox models them (docs/emulators.md says what it
/// chooses where AWS's documentation is silent).
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedInstances {
    /// `PerExecutionEnvironmentMaxConcurrency`: invocations one environment takes at once
    /// (the runtime's `AWS_LAMBDA_MAX_CONCURRENCY`).
    pub max_concurrency: u32,
    /// Environments started ahead of traffic for each configuration and published version:
    /// AWS starts three before it marks a version active.
    pub environments_ahead: usize,
    /// The capacity provider the function runs on (shown in `CapacityProviderConfig`).
    pub capacity_provider_arn: String,
    /// `ExecutionEnvironmentMemoryGiBPerVCpu` (2, 4 or 8 on AWS; only shown here).
    pub memory_gib_per_vcpu: f64,
}

/// AWS's default `PerExecutionEnvironmentMaxConcurrency` for Rust on `provided.al2023`: 8 per
/// vCPU, and the smallest Managed Instances function (2 GB) has one vCPU.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 8;

/// `PerExecutionEnvironmentMaxConcurrency`'s bounds in Lambda's API.
pub const MAX_CONCURRENCY_RANGE: std::ops::RangeInclusive<u32> = 1..=1600;

/// Environments AWS starts for a version before marking it active.
pub const DEFAULT_ENVIRONMENTS_AHEAD: usize = 3;

impl ManagedInstances {
    /// Managed Instances with `max_concurrency` invocations per environment and AWS's other
    /// defaults, on a capacity provider of the sandbox's account in `region`.
    pub fn new(max_concurrency: u32, region: &str) -> Self {
        Self {
            max_concurrency,
            environments_ahead: DEFAULT_ENVIRONMENTS_AHEAD,
            capacity_provider_arn: format!(
                "arn:aws:lambda:{region}:{}:capacity-provider:coldmark-sandbox",
                crate::environment::ACCOUNT_ID
            ),
            memory_gib_per_vcpu: 2.0,
        }
    }
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
            managed_instances: None,
            tenant_isolation: false,
        }
    }
}
