//! What the attribution remembers between markers: per function, version and configuration,
//! the pools of environments (one without a tenant, one per tenant under tenant isolation),
//! how their last environment ended, and Lambda Managed Instances' batch ahead of traffic.

use hashbrown::hash_map::EntryRef;

use crate::cause::{Cause, Evidence};

/// hashbrown's map for its `entry_ref`: a name looked up once, copied only when it is new.
pub(super) type Map<K, V> = hashbrown::HashMap<K, V, rustc_hash::FxBuildHasher>;

/// A function name, version or fingerprint as the attribution keeps it: shared between the
/// state maps' keys and every alive environment of it, so that a new environment copies a
/// pointer, not a string (about 24,000 environments are alive in a busy fleet, and one is
/// born per init marker).
pub(super) type Name = std::sync::Arc<str>;

/// The value under `name`, created when missing; its key shared. One lookup.
pub(super) fn entry<'m, V: Default>(map: &'m mut Map<Name, V>, name: &str) -> (Name, &'m mut V) {
    let entry = match map.entry_ref(name) {
        EntryRef::Occupied(entry) => entry,
        EntryRef::Vacant(entry) => entry.insert_entry_with_key(name.into(), V::default()),
    };
    (entry.key().clone(), entry.into_mut())
}

/// Environments that serve the same requests: those of one configuration, or of one tenant
/// of it under tenant isolation (Lambda never gives one tenant's request to another's
/// environment, so scale-out and replacement are judged within a tenant's own pool).
#[derive(Debug, Default)]
pub(super) struct Pool {
    pub(super) alive: usize,
    /// The last environment of the pool that ended, and whether another started since.
    pub(super) last_end: Option<LastEnd>,
}

#[derive(Debug, Clone)]
pub(super) struct LastEnd {
    pub(super) env_id: String,
    pub(super) at_ms: i64,
    /// `None`: presumed ended (no shutdown marker, silent past the grace).
    pub(super) reason: Option<String>,
    pub(super) replaced: bool,
}

impl LastEnd {
    /// Ended by a crash or a timeout, and not replaced yet.
    pub(super) fn failed(&self) -> bool {
        !self.replaced && matches!(self.reason.as_deref(), Some("failure") | Some("timeout"))
    }
}

/// Lambda Managed Instances start several environments of a version ahead of traffic at once.
/// Every init of a configuration before its first invocation belongs to that batch and shares
/// the first init's cause (none of them is a scale-out of another: scaling out there follows
/// load, and there was none yet).
#[derive(Debug, Default)]
pub(super) enum AheadBatch {
    /// No init of the configuration on Managed Instances yet.
    #[default]
    NotYet,
    /// The first init's cause and evidence, until the configuration's first invocation.
    Open(Cause, Evidence),
    /// The configuration has served an invocation: later inits follow the usual rules.
    Closed,
}

#[derive(Debug, Default)]
pub(super) struct ConfigState {
    /// Environments without a tenant.
    pub(super) pool: Pool,
    /// Tenant isolation: each tenant's own pool (empty, and never allocated, otherwise).
    pub(super) tenants: Map<Name, Pool>,
    /// Lambda Managed Instances: the batch started ahead of traffic ([`AheadBatch`]).
    pub(super) ahead_batch: AheadBatch,
}

impl ConfigState {
    /// The pool of `tenant` (or of environments without one), created when missing.
    pub(super) fn pool_mut(&mut self, tenant: Option<&Name>) -> &mut Pool {
        match tenant {
            None => &mut self.pool,
            Some(t) => self.tenants.entry(t.clone()).or_default(),
        }
    }

    /// The pool of `tenant`, if it has one.
    pub(super) fn pool(&self, tenant: Option<&str>) -> Option<&Pool> {
        match tenant {
            None => Some(&self.pool),
            Some(t) => self.tenants.get(t),
        }
    }

    /// Tenants other than `tenant` with an environment of this configuration alive.
    pub(super) fn other_tenants_alive(&self, tenant: &str) -> usize {
        self.tenants
            .iter()
            .filter(|(t, p)| &***t != tenant && p.alive > 0)
            .count()
    }
}

/// One version of a function: its configuration generations.
#[derive(Debug, Default)]
pub(super) struct VersionState {
    /// Whether an init of this version was seen (not only invoke markers).
    pub(super) initialised: bool,
    /// The current generation: the fingerprint of the version's latest init.
    pub(super) current_fingerprint: Option<Name>,
    pub(super) configs: Map<Name, ConfigState>,
    /// Environments without a tenant whose configuration is unknown (init before the input).
    pub(super) unknown_alive: usize,
    /// The same per tenant (tenant isolation only).
    pub(super) unknown_by_tenant: Map<Name, usize>,
    /// Tenant isolation: the configuration each tenant's latest init of this version ran.
    pub(super) tenant_fingerprints: Map<Name, Name>,
}

impl VersionState {
    /// Environments of `tenant`'s pool (or without a tenant) whose init came before the input.
    pub(super) fn unknown(&self, tenant: Option<&str>) -> usize {
        match tenant {
            None => self.unknown_alive,
            Some(t) => self.unknown_by_tenant.get(t).copied().unwrap_or(0),
        }
    }

    pub(super) fn unknown_mut(&mut self, tenant: Option<&Name>) -> &mut usize {
        match tenant {
            None => &mut self.unknown_alive,
            Some(t) => self.unknown_by_tenant.entry(t.clone()).or_default(),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct FunctionState {
    pub(super) versions: Map<Name, VersionState>,
    pub(super) last_version: Option<Name>,
}
