//! What the attribution yields (one [`Attribution`] per init marker, one [`Ended`] per
//! environment, an [`UnusedInit`] per environment that served nothing) and its tunables.

use serde::{Deserialize, Serialize};

use crate::cause::{Cause, Evidence};

/// Tunables of the "alive" decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// An environment without a shutdown marker counts as alive until this long after the
    /// last sign of life (marker or log line). Lambda keeps idle environments for minutes and
    /// busy ones for hours, and coldmark writes only the first invoke marker by default, so
    /// the default is generous: a missing shutdown marker is rarer than a long quiet spell.
    /// The presumption is revised by any later marker of the environment (see [`Presumed`]).
    pub alive_grace_ms: i64,
    /// Yield [`Explained::Ended`] per environment (the timeline needs them; a table does not).
    pub report_ended: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            alive_grace_ms: 30 * 60 * 1000,
            report_ended: true,
        }
    }
}

/// One init marker, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Epoch milliseconds of the init's start.
    pub timestamp_ms: i64,
    pub function_name: String,
    pub function_version: String,
    pub env_id: String,
    /// The tenant the environment serves (tenant isolation).
    pub tenant_id: Option<String>,
    pub init_type: String,
    pub init_phase: String,
    pub init_duration_ms: Option<f64>,
    pub runtime_init_ms: Option<f64>,
    pub extensions_init_ms: Option<f64>,
    pub function_memory_size: Option<u64>,
    pub config_fingerprint: String,
    pub proactive: bool,
    /// Lambda's status of the init (`success`, `error`, `failure`, `timeout`); `None` from a
    /// marker that predates the field.
    pub init_status: Option<String>,
    pub init_error_type: Option<String>,
    pub cause: Cause,
    pub evidence: Evidence,
}

/// `init_type` of an environment on Lambda Managed Instances.
pub const MANAGED_INSTANCES: &str = "lambda-managed-instances";

impl Attribution {
    /// Billed init in GB-seconds (init duration × memory), when both are known. None on
    /// Lambda Managed Instances: their capacity is priced per EC2 instance, not per GB-second
    /// of init.
    pub fn gb_seconds(&self) -> Option<f64> {
        if self.on_managed_instances() {
            return None;
        }
        Some(self.init_duration_ms? / 1000.0 * self.function_memory_size? as f64 / 1024.0)
    }

    /// Whether the environment ran on Lambda Managed Instances.
    pub fn on_managed_instances(&self) -> bool {
        self.init_type == MANAGED_INSTANCES
    }

    /// Whether Lambda said this init did not succeed (`error`, `failure`, `timeout`).
    pub fn failed(&self) -> bool {
        // `success`, and `unknown` (the extension saw no record and no request), are not.
        matches!(
            self.init_status.as_deref(),
            Some("error" | "failure" | "timeout")
        )
    }
}

/// How an environment's life ended, as far as the input tells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    pub env_id: String,
    pub function_name: String,
    pub tenant_id: Option<String>,
    /// When it ended: the shutdown marker's time, else its last sign of life.
    pub at_ms: i64,
    /// The shutdown reason; `None` when no shutdown marker came.
    pub reason: Option<String>,
    /// The requests it served, from its shutdown marker.
    pub invocations: Option<u64>,
    /// It ended without serving a request ([`UnusedInit`]).
    pub unused: bool,
    /// True when the input ended with the environment still alive (not presumed dead).
    pub open: bool,
}

/// An environment that ended without serving a request: its init was paid for nothing.
/// Either its shutdown marker says `invocations: 0`, or it was initialised ahead of demand
/// (provisioned, proactive, started ahead on Managed Instances), ended without a shutdown
/// marker, and no invoke marker of it was seen. One whose every init failed is not one: it is
/// counted with the failed inits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnusedInit {
    pub env_id: String,
    pub function_name: String,
    pub tenant_id: Option<String>,
    /// The cause of its first init.
    pub cause: Cause,
    /// Its inits' billed GB-seconds, when known (never on Managed Instances).
    pub gb_seconds: Option<f64>,
    pub managed_instances: bool,
}

/// What the attributor yields.
// Inits are nearly every item: boxing them would cost an allocation per init to save a few
// hundred bytes in a buffer that is reused (the pipeline drains it in place).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Explained {
    Init(Attribution),
    Ended(Ended),
    /// Always yielded (the summary counts them), whether or not ends are reported.
    Unused(UnusedInit),
}

/// Counts of what the attributor could not use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AttributorCounts {
    /// The same init marker seen twice (overlapping inputs).
    pub duplicate_inits: u64,
    /// Shutdown or invoke markers of environments whose init came before the input began.
    pub before_input: u64,
    /// Shutdown markers of environments the grace had presumed ended: they corrected it.
    pub late_shutdowns: u64,
}
