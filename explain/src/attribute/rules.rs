//! The rules of `docs/explain.md`, in their order: what an init's facts say caused it. Pure:
//! the attributor gathers the facts from its state, this decides.

use crate::cause::{Cause, Evidence};

use super::state::Pool;

/// A tenant's first environment of a configuration.
pub(super) struct NewTenant<'a> {
    pub(super) tenant_id: &'a str,
    pub(super) previous_fingerprint: Option<String>,
    pub(super) other_tenants_alive: usize,
}

/// What the attributor knows when an init marker arrives.
pub(super) struct Facts<'a> {
    /// `init_phase` `invoke`: init re-ran inside an invocation.
    pub(super) reinit: bool,
    pub(super) function_request_id: Option<&'a str>,
    pub(super) init_type: &'a str,
    pub(super) proactive: bool,
    /// Lambda Managed Instances: the configuration's batch ahead of traffic is open.
    pub(super) batch: Option<(Cause, &'a Evidence)>,
    /// The version was never initialised while others were: (this version, the last one).
    pub(super) new_version: Option<(&'a str, Option<String>)>,
    /// The version's latest init ran another configuration.
    pub(super) previous_fingerprint: Option<String>,
    pub(super) fingerprint: &'a str,
    pub(super) new_tenant: Option<NewTenant<'a>>,
    /// The environment's own pool (its tenant's, under tenant isolation), if it has one yet.
    pub(super) pool: Option<&'a Pool>,
    /// 1 when this environment is already counted alive in its pool (known from an invoke
    /// marker reordered before its init).
    pub(super) alive_here: usize,
    /// Environments of the pool's version (and tenant) whose init came before the input.
    pub(super) unknown: usize,
    pub(super) at_ms: i64,
}

/// The first rule that holds.
pub(super) fn decide(f: Facts<'_>) -> (Cause, Evidence) {
    let last_end = f.pool.and_then(|p| p.last_end.as_ref());
    if f.reinit {
        return (
            Cause::AfterFailure,
            Evidence::ReinitInInvoke {
                function_request_id: f.function_request_id.map(str::to_owned),
            },
        );
    }
    if let Some(end) = last_end.filter(|e| e.failed()) {
        return (
            Cause::AfterFailure,
            Evidence::ReplacesFailed {
                env_id: end.env_id.clone(),
                reason: end.reason.clone().unwrap_or_default(),
                gap_ms: f.at_ms - end.at_ms,
            },
        );
    }
    if let Some((cause, evidence)) = f.batch {
        return (cause, evidence.clone());
    }
    if f.init_type == "provisioned-concurrency" {
        return (Cause::Provisioned, Evidence::Provisioned);
    }
    if f.init_type == "snap-start" {
        return (Cause::SnapStart, Evidence::SnapStart);
    }
    if let Some((version, previous)) = f.new_version {
        return (
            Cause::NewVersion,
            Evidence::NewVersion {
                version: version.to_owned(),
                previous_version: previous.unwrap_or_default(),
            },
        );
    }
    if let Some(previous) = f.previous_fingerprint {
        return (
            Cause::ConfigurationChange,
            Evidence::ConfigurationChange {
                previous_fingerprint: previous,
                fingerprint: f.fingerprint.to_owned(),
            },
        );
    }
    if let Some(t) = f.new_tenant {
        return (
            Cause::NewTenant,
            Evidence::NewTenant {
                tenant_id: t.tenant_id.to_owned(),
                previous_fingerprint: t.previous_fingerprint,
                other_tenants_alive: t.other_tenants_alive,
            },
        );
    }
    if f.init_type == "on-demand" && f.proactive {
        return (Cause::Proactive, Evidence::Proactive);
    }
    let alive_others = f.pool.map_or(0, |p| p.alive).saturating_sub(f.alive_here);
    if alive_others + f.unknown > 0 {
        return (
            Cause::ScaleOut,
            Evidence::ScaleOut {
                alive: alive_others + f.unknown,
                unknown_configuration: f.unknown,
            },
        );
    }
    if let Some(end) = last_end.filter(|e| e.reason.as_deref() == Some("spindown")) {
        return (
            Cause::Replacement,
            Evidence::Replacement {
                env_id: end.env_id.clone(),
                gap_ms: f.at_ms - end.at_ms,
            },
        );
    }
    let presumed = last_end.filter(|e| e.reason.is_none());
    (
        Cause::FirstSeen,
        Evidence::FirstSeen {
            last_seen_env: presumed.map(|e| e.env_id.clone()),
            last_seen_gap_ms: presumed.map(|e| f.at_ms - e.at_ms),
        },
    )
}
