//! Why the sandbox starts an execution environment: its own ground truth, so that a tool that
//! infers the cause of a cold start from coldmark's markers alone (the attribution of
//! `coldmark-explain`) can be checked against what really happened instead of against itself.
//!
//! The reasons use the same words as that attribution's causes wherever the sandbox produces the
//! cause: `first-seen`, `new-tenant`, `scale-out`, `replacement`, `configuration-change`,
//! `new-version`, `after-failure`, and `provisioned` / `snap-start` in those modes of `serve`.
//! (`proactive`, an on-demand init nobody waited for, is Lambda's own decision; the sandbox never
//! makes one.)
//!
//! [`History`] is a pure state machine: the pool tells it when it leases a new environment,
//! when one finished or failed its init and when one was spun down; it answers why the next new
//! environment of a pool key (version, configuration revision and, with tenant isolation,
//! tenant) is needed. The rules, first that holds:
//! 1. `after-failure` — the last environment started for this key failed its init (a re-init
//!    after a crash, a timeout or a failed init, inside a running environment, is reported by
//!    the pool itself, from the environment's own init record);
//! 2. nothing of this key ever ran: `new-version` if the function ran but never this version,
//!    `configuration-change` if the version ran but never this configuration, `new-tenant` if
//!    the function has tenant isolation (this configuration ran for other tenants, or nothing
//!    ran yet: a tenant's first environment, the function's first included), else `first-seen`
//!    (the first environment of the function);
//! 3. `scale-out` — another environment of this key is alive (initialising or busy: an idle one
//!    would have been reused), so with tenant isolation scale-out is judged within the tenant's
//!    own environments;
//! 4. `replacement` — every earlier environment of this key was spun down (idle reclaim).
//!
//! `new-tenant` sits after `configuration-change` and before `scale-out`, as in the
//! attribution: a tenant's first environment of a new configuration is a
//! `configuration-change` when no tenant ran that configuration before, a `new-tenant` after.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::versions::PoolKey;

/// The sandbox's reason for starting an environment (`reason` of the `environment_start` event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartReason {
    /// The environment was reset by a crash or a timeout (or its previous init failed) and
    /// init ran again.
    AfterFailure,
    /// The first environment of a newly published (or never invoked) version.
    NewVersion,
    /// The first environment after `UpdateFunctionConfiguration`.
    ConfigurationChange,
    /// Tenant isolation: the first environment of a tenant for the function's version and
    /// configuration (each tenant gets environments of its own).
    NewTenant,
    /// Every environment of the configuration was busy.
    ScaleOut,
    /// Environments of the configuration had been spun down (idle reclaim); none was left.
    Replacement,
    /// The first environment the sandbox started for the function.
    FirstSeen,
    /// Initialised ahead of demand (`serve --provisioned-concurrency`).
    Provisioned,
    /// Restored from the SnapStart snapshot (`serve --snap-start`).
    SnapStart,
}

impl StartReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StartReason::AfterFailure => "after-failure",
            StartReason::NewVersion => "new-version",
            StartReason::ConfigurationChange => "configuration-change",
            StartReason::NewTenant => "new-tenant",
            StartReason::ScaleOut => "scale-out",
            StartReason::Replacement => "replacement",
            StartReason::FirstSeen => "first-seen",
            StartReason::Provisioned => "provisioned",
            StartReason::SnapStart => "snap-start",
        }
    }
}

impl std::fmt::Display for StartReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Default)]
struct KeyHistory {
    /// Leased for a start and not yet started or failed.
    starting: usize,
    /// Started and not spun down.
    running: usize,
    /// Starts attempted (successful or not).
    attempts: usize,
    /// Environments spun down.
    spun_down: usize,
    last_start_failed: bool,
}

/// What the pool has started so far, per key; answers why a new environment is needed.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    keys: BTreeMap<PoolKey, KeyHistory>,
    /// Which key each running environment belongs to.
    running: BTreeMap<String, PoolKey>,
}

impl History {
    /// Why a new environment of `key` is needed now (call before [`History::starting`]), with
    /// the evidence in words.
    pub(crate) fn reason(&self, key: &PoolKey) -> (StartReason, String) {
        let this = self.keys.get(key).cloned().unwrap_or_default();
        if this.last_start_failed {
            return (
                StartReason::AfterFailure,
                "the previous environment of this configuration failed its init".into(),
            );
        }
        if this.attempts == 0 {
            return self.first_of_key(key);
        }
        let alive = this.starting + this.running;
        if alive > 0 {
            return (
                StartReason::ScaleOut,
                format!("{alive} environment(s) of this configuration were busy or initialising"),
            );
        }
        (
            StartReason::Replacement,
            format!(
                "no environment of this configuration was left: {} had been spun down",
                this.spun_down
            ),
        )
    }

    /// Rule 2: why the first environment of `key` starts (nothing of this key ever ran).
    fn first_of_key(&self, key: &PoolKey) -> (StartReason, String) {
        let function_ran = !self.keys.is_empty();
        let version_ran = self.keys.keys().any(|k| k.version == key.version);
        if function_ran && !version_ran {
            let others: std::collections::BTreeSet<&str> =
                self.keys.keys().map(|k| k.version.as_str()).collect();
            return (
                StartReason::NewVersion,
                format!(
                    "the first environment of version {} (before: {})",
                    key.version,
                    others.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        let configuration_ran = self
            .keys
            .keys()
            .any(|k| k.configuration() == key.configuration());
        if version_ran && !configuration_ran {
            let previous = self
                .keys
                .keys()
                .filter(|k| k.version == key.version)
                .map(|k| k.revision)
                .max()
                .unwrap_or_default();
            return (
                StartReason::ConfigurationChange,
                format!(
                    "the first environment of configuration revision {} of {} (before: revision {previous})",
                    key.revision, key.version
                ),
            );
        }
        if let Some(tenant) = &key.tenant {
            let others: std::collections::BTreeSet<&str> = self
                .keys
                .keys()
                .filter(|k| k.configuration() == key.configuration())
                .filter_map(|k| k.tenant.as_deref())
                .collect();
            let before = if others.is_empty() {
                "the first tenant".to_owned()
            } else {
                format!(
                    "tenants before: {}",
                    others.into_iter().collect::<Vec<_>>().join(", ")
                )
            };
            return (
                StartReason::NewTenant,
                format!(
                    "the first environment of tenant {tenant} for revision {} of {} ({before})",
                    key.revision, key.version
                ),
            );
        }
        (
            StartReason::FirstSeen,
            "the first environment of the function".into(),
        )
    }

    /// A new environment of `key` is being started.
    pub(crate) fn starting(&mut self, key: &PoolKey) {
        let entry = self.keys.entry(key.clone()).or_default();
        entry.starting += 1;
        entry.attempts += 1;
    }

    /// The environment leased by [`History::starting`] finished its init.
    pub(crate) fn started(&mut self, key: &PoolKey, env_id: &str) {
        let entry = self.keys.entry(key.clone()).or_default();
        entry.starting = entry.starting.saturating_sub(1);
        entry.running += 1;
        entry.last_start_failed = false;
        self.running.insert(env_id.to_owned(), key.clone());
    }

    /// The environment leased by [`History::starting`] failed its init.
    pub(crate) fn start_failed(&mut self, key: &PoolKey) {
        let entry = self.keys.entry(key.clone()).or_default();
        entry.starting = entry.starting.saturating_sub(1);
        entry.last_start_failed = true;
    }

    /// An environment was spun down (its processes are gone for good).
    pub(crate) fn stopped(&mut self, env_id: &str) {
        if let Some(key) = self.running.remove(env_id) {
            if let Some(entry) = self.keys.get_mut(&key) {
                entry.running = entry.running.saturating_sub(1);
                entry.spun_down += 1;
            }
        }
    }
}

/// The reason of an on-demand start once its init is done: under SnapStart every on-demand
/// environment is a restore; else the reason [`History::reason`] gave when the start was
/// decided. A failed init keeps that reason (its init record says how it failed): its retry
/// inside the first invocation (Lambda's suppressed init) is a start of its own,
/// `after-failure` ([`reinit_reason`]).
pub(crate) fn on_demand_reason(
    decided: (StartReason, String),
    snap_start: bool,
) -> (StartReason, String) {
    if snap_start {
        (
            StartReason::SnapStart,
            "restored from the SnapStart snapshot".to_owned(),
        )
    } else {
        decided
    }
}

/// Whether an environment ran init again inside invocation `request_id` (its previous
/// invocation crashed or timed out, or its own init failed): its last init record is of the
/// `invoke` phase and names this request. Such an environment was, in effect, started again,
/// after a failure.
pub(crate) fn reinit_reason(
    init_phase: &str,
    init_request_id: Option<&str>,
    request_id: &str,
) -> Option<(StartReason, String)> {
    (init_phase == "invoke" && init_request_id == Some(request_id)).then(|| {
        (
            StartReason::AfterFailure,
            "init ran again inside an invocation: the environment had been reset (a crash, a \
             timeout, a failed init or a process that died)"
                .to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(version: &str, revision: u64) -> PoolKey {
        PoolKey {
            version: version.into(),
            revision,
            tenant: None,
        }
    }

    fn tenant_key(version: &str, revision: u64, tenant: &str) -> PoolKey {
        PoolKey {
            tenant: Some(tenant.into()),
            ..key(version, revision)
        }
    }

    fn start(history: &mut History, key: &PoolKey, env: &str) -> StartReason {
        let (reason, _) = history.reason(key);
        history.starting(key);
        history.started(key, env);
        reason
    }

    #[test]
    fn the_rules_in_order() {
        let mut h = History::default();
        let latest1 = key("$LATEST", 1);
        assert_eq!(start(&mut h, &latest1, "a"), StartReason::FirstSeen);
        // "a" is busy: a second request scales out.
        assert_eq!(start(&mut h, &latest1, "b"), StartReason::ScaleOut);
        // Both reclaimed: the next one replaces them.
        h.stopped("a");
        h.stopped("b");
        let (reason, detail) = h.reason(&latest1);
        assert_eq!(reason, StartReason::Replacement);
        assert!(detail.contains("2 had been spun down"), "{detail}");
        assert_eq!(start(&mut h, &latest1, "c"), StartReason::Replacement);
        // An update: revision 2 of $LATEST.
        let latest2 = key("$LATEST", 2);
        assert_eq!(
            start(&mut h, &latest2, "d"),
            StartReason::ConfigurationChange
        );
        // Version 1, published from revision 2.
        let v1 = key("1", 2);
        let (reason, detail) = h.reason(&v1);
        assert_eq!(reason, StartReason::NewVersion);
        assert!(detail.contains("version 1 (before: $LATEST)"), "{detail}");
        assert_eq!(start(&mut h, &v1, "e"), StartReason::NewVersion);
        // Back to $LATEST after its environments were reclaimed while version 1 served: a
        // replacement, as coldmark-explain names it from the markers (versions are apart).
        h.stopped("c");
        h.stopped("d");
        assert_eq!(h.reason(&latest2).0, StartReason::Replacement);
    }

    #[test]
    fn each_tenant_has_its_own_first_environment_scale_out_and_replacement() {
        let mut h = History::default();
        let blue = tenant_key("$LATEST", 1, "blue");
        let green = tenant_key("$LATEST", 1, "green");
        // A tenant-isolated function's very first environment is its tenant's first.
        let (reason, detail) = h.reason(&blue);
        assert_eq!(reason, StartReason::NewTenant);
        assert!(
            detail.contains("tenant blue") && detail.contains("the first tenant"),
            "{detail}"
        );
        assert_eq!(start(&mut h, &blue, "b1"), StartReason::NewTenant);
        // blue's environment is busy, but green never had one: green's first, not a scale-out.
        let (reason, detail) = h.reason(&green);
        assert_eq!(reason, StartReason::NewTenant);
        assert!(detail.contains("tenants before: blue"), "{detail}");
        assert_eq!(start(&mut h, &green, "g1"), StartReason::NewTenant);
        // A second blue environment while the first is busy: scale-out within blue.
        assert_eq!(start(&mut h, &blue, "b2"), StartReason::ScaleOut);
        // green's environment reclaimed while blue's live on: green's next is a replacement
        // (blue's alive environments do not make it a scale-out).
        h.stopped("g1");
        assert_eq!(h.reason(&green).0, StartReason::Replacement);
        // A failed init is the tenant's own affair.
        let red = tenant_key("$LATEST", 1, "red");
        h.starting(&red);
        h.start_failed(&red);
        assert_eq!(h.reason(&red).0, StartReason::AfterFailure);
        assert_eq!(h.reason(&green).0, StartReason::Replacement);
    }

    #[test]
    fn a_new_configuration_or_version_comes_before_a_new_tenant() {
        let mut h = History::default();
        start(&mut h, &tenant_key("$LATEST", 1, "blue"), "b1");
        // After an update, the first tenant to run revision 2 sees a configuration change...
        assert_eq!(
            start(&mut h, &tenant_key("$LATEST", 2, "green"), "g2"),
            StartReason::ConfigurationChange
        );
        // ...and every other tenant of revision 2 its own first environment.
        assert_eq!(
            start(&mut h, &tenant_key("$LATEST", 2, "blue"), "b2"),
            StartReason::NewTenant
        );
        assert_eq!(
            start(&mut h, &tenant_key("1", 2, "blue"), "v1"),
            StartReason::NewVersion
        );
        assert_eq!(
            start(&mut h, &tenant_key("1", 2, "green"), "v1g"),
            StartReason::NewTenant
        );
    }

    #[test]
    fn a_failed_init_makes_the_next_start_after_failure() {
        let mut h = History::default();
        let k = key("$LATEST", 1);
        h.starting(&k);
        h.start_failed(&k);
        assert_eq!(h.reason(&k).0, StartReason::AfterFailure);
        h.starting(&k);
        h.started(&k, "a");
        h.stopped("a");
        assert_eq!(h.reason(&k).0, StartReason::Replacement);
    }

    #[test]
    fn an_initialising_environment_counts_as_alive() {
        let mut h = History::default();
        let k = key("$LATEST", 1);
        h.starting(&k);
        assert_eq!(h.reason(&k).0, StartReason::ScaleOut);
    }

    #[test]
    fn reasons_serialise_in_the_attribution_vocabulary() {
        for reason in [
            StartReason::AfterFailure,
            StartReason::NewVersion,
            StartReason::ConfigurationChange,
            StartReason::NewTenant,
            StartReason::ScaleOut,
            StartReason::Replacement,
            StartReason::FirstSeen,
        ] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::String(reason.as_str().into())
            );
        }
    }

    #[test]
    fn a_snapshot_overrides_the_decided_reason_a_failed_init_does_not() {
        let decided = || (StartReason::ScaleOut, "busy".to_owned());
        assert_eq!(
            on_demand_reason(decided(), false),
            (StartReason::ScaleOut, "busy".to_owned())
        );
        assert_eq!(on_demand_reason(decided(), true).0, StartReason::SnapStart);
    }

    #[test]
    fn a_reinit_is_an_invoke_phase_init_of_this_request() {
        assert_eq!(
            reinit_reason("invoke", Some("r2"), "r2").map(|r| r.0),
            Some(StartReason::AfterFailure)
        );
        assert_eq!(reinit_reason("init", None, "r2"), None, "the first init");
        assert_eq!(
            reinit_reason("invoke", Some("r1"), "r2"),
            None,
            "a re-init paid by an earlier request"
        );
    }
}
