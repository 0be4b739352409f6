//! The function's versions, with no I/O: `$LATEST` (editable: every update is a new
//! configuration generation) and its published snapshots; which configuration a qualifier names
//! and which pool keys may still serve requests.
//!
//! `PublishVersion` snapshots `$LATEST` (its configuration and code) under the next number. A
//! version never changes afterwards: its environments report `AWS_LAMBDA_FUNCTION_VERSION` = its
//! number and keep the configuration it was published with, whatever `UpdateFunctionConfiguration`
//! does to `$LATEST` later. As on Lambda, publishing again while `$LATEST` is unchanged since the
//! last version returns that version instead of creating a new one.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::environment::{Artifacts, FunctionConfig};

/// The version name of the unpublished, editable function.
pub const LATEST: &str = "$LATEST";

/// The function as configured now. `revision` (the configuration generation) increases with
/// every update; an environment remembers the revision it was started with.
#[derive(Clone, Debug)]
pub struct FunctionState {
    pub config: FunctionConfig,
    pub artifacts: Artifacts,
    pub revision: u64,
    pub last_modified: DateTime<Utc>,
}

/// A change to the configuration (the fields of UpdateFunctionConfiguration the sandbox honours).
#[derive(Clone, Debug, Default)]
pub struct ConfigUpdate {
    /// Replaces all user variables when given (as Lambda does).
    pub environment: Option<BTreeMap<String, String>>,
    pub memory_mb: Option<u32>,
    pub timeout: Option<Duration>,
    pub handler: Option<String>,
}

/// Which environments may serve a request: a version (`$LATEST` or a number) at one
/// configuration generation, and on a function with tenant isolation one tenant. Environments
/// of different keys never serve each other's requests, so an environment of one tenant never
/// serves another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PoolKey {
    pub(crate) version: String,
    /// The configuration generation ([`FunctionState::revision`]).
    pub(crate) revision: u64,
    /// Tenant isolation: the tenant the environments are dedicated to (`None` without it).
    pub(crate) tenant: Option<String>,
}

impl PoolKey {
    /// The same version and configuration, without the tenant.
    pub(crate) fn configuration(&self) -> (&str, u64) {
        (&self.version, self.revision)
    }
}

impl FunctionState {
    /// The pool key of environments started with this configuration (for no tenant).
    pub(crate) fn key(&self) -> PoolKey {
        self.key_for(None)
    }

    /// The pool key of environments started with this configuration for `tenant`.
    pub(crate) fn key_for(&self, tenant: Option<&str>) -> PoolKey {
        PoolKey {
            version: self.config.version.clone(),
            revision: self.revision,
            tenant: tenant.map(str::to_owned),
        }
    }
}

/// `$LATEST` and the published versions by number.
#[derive(Clone, Debug)]
pub(crate) struct Versions {
    latest: FunctionState,
    published: BTreeMap<u64, FunctionState>,
}

/// What `PublishVersion` did.
#[derive(Clone, Debug)]
pub(crate) struct Published {
    pub(crate) version: FunctionState,
    /// False when `$LATEST` had not changed since the last version, which is returned instead.
    pub(crate) created: bool,
}

impl Versions {
    pub(crate) fn new(latest: FunctionState) -> Self {
        Self {
            latest,
            published: BTreeMap::new(),
        }
    }

    /// The current configuration.
    pub(crate) fn latest(&self) -> &FunctionState {
        &self.latest
    }

    /// Every published version, oldest first.
    pub(crate) fn published(&self) -> impl Iterator<Item = &FunctionState> {
        self.published.values()
    }

    /// The configuration a qualifier names (`None` and `$LATEST`: the current configuration).
    pub(crate) fn resolve(&self, qualifier: Option<&str>) -> Option<&FunctionState> {
        match qualifier {
            None | Some(LATEST) => Some(&self.latest),
            Some(q) => q.parse::<u64>().ok().and_then(|n| self.published.get(&n)),
        }
    }

    /// Whether environments of `key` may still serve requests: `$LATEST`'s current generation,
    /// or any published version (they never change), whatever their tenant.
    pub(crate) fn is_current(&self, key: &PoolKey) -> bool {
        if key.version == LATEST {
            key.revision == self.latest.revision
        } else {
            key.version
                .parse::<u64>()
                .is_ok_and(|n| self.published.contains_key(&n))
        }
    }

    /// UpdateFunctionConfiguration: `$LATEST` takes the change as its next generation.
    pub(crate) fn update(&mut self, update: ConfigUpdate, now: DateTime<Utc>) -> &FunctionState {
        let function = &mut self.latest;
        if let Some(vars) = update.environment {
            function.config.environment = vars;
        }
        if let Some(memory) = update.memory_mb {
            function.config.memory_mb = memory;
        }
        if let Some(timeout) = update.timeout {
            function.config.timeout = timeout;
        }
        if let Some(handler) = update.handler {
            function.config.handler = handler;
        }
        function.revision += 1;
        function.last_modified = now;
        function
    }

    /// PublishVersion: a snapshot of `$LATEST` under the next number, or the last version when
    /// `$LATEST` did not change since it was published.
    pub(crate) fn publish(&mut self, now: DateTime<Utc>) -> Published {
        if let Some(last) = self.published.values().next_back() {
            if last.revision == self.latest.revision {
                return Published {
                    version: last.clone(),
                    created: false,
                };
            }
        }
        let number = self.published.keys().next_back().map_or(1, |n| n + 1);
        let mut snapshot = self.latest.clone();
        snapshot.config.version = number.to_string();
        snapshot.last_modified = now;
        self.published.insert(number, snapshot.clone());
        Published {
            version: snapshot,
            created: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions() -> Versions {
        Versions::new(FunctionState {
            config: FunctionConfig {
                function_name: "clock".into(),
                version: LATEST.into(),
                memory_mb: 128,
                timeout: Duration::from_secs(3),
                handler: "bootstrap".into(),
                environment: BTreeMap::from([("USER".into(), "user".into())]),
            },
            artifacts: Artifacts::default(),
            revision: 1,
            last_modified: DateTime::<Utc>::MIN_UTC,
        })
    }

    fn user(function: &FunctionState) -> Option<&str> {
        function.config.environment.get("USER").map(String::as_str)
    }

    #[test]
    fn qualifiers_name_latest_or_a_published_version() {
        let mut v = versions();
        assert_eq!(v.resolve(None).unwrap().config.version, LATEST);
        assert_eq!(v.resolve(Some(LATEST)).unwrap().config.version, LATEST);
        assert!(v.resolve(Some("1")).is_none(), "nothing published yet");
        v.publish(Utc::now());
        assert_eq!(v.resolve(Some("1")).unwrap().config.version, "1");
        assert!(v.resolve(Some("2")).is_none());
        assert!(v.resolve(Some("latest")).is_none());
    }

    #[test]
    fn an_update_is_the_next_generation_and_replaces_every_variable() {
        let mut v = versions();
        let now = Utc::now();
        let updated = v
            .update(
                ConfigUpdate {
                    environment: Some(BTreeMap::from([("A".into(), "1".into())])),
                    memory_mb: Some(256),
                    ..ConfigUpdate::default()
                },
                now,
            )
            .clone();
        assert_eq!(updated.revision, 2);
        assert_eq!(updated.last_modified, now);
        assert_eq!(updated.config.memory_mb, 256);
        assert_eq!(
            user(&updated),
            None,
            "the variables were replaced, not merged"
        );
        assert_eq!(updated.config.handler, "bootstrap", "untouched fields stay");
    }

    #[test]
    fn only_the_current_generation_of_latest_and_published_versions_are_current() {
        let mut v = versions();
        let first = v.latest().key();
        assert!(v.is_current(&first));
        let version_1 = v.publish(Utc::now()).version.key();
        v.update(ConfigUpdate::default(), Utc::now());
        assert!(
            !v.is_current(&first),
            "an update retires the old generation"
        );
        assert!(v.is_current(&v.latest().key()));
        assert!(
            v.is_current(&version_1),
            "a published version stays current"
        );
        let unknown = PoolKey {
            version: "7".into(),
            revision: 1,
            tenant: None,
        };
        assert!(!v.is_current(&unknown));
        let tenant = v.latest().key_for(Some("blue"));
        assert_eq!(tenant.configuration(), v.latest().key().configuration());
        assert!(
            v.is_current(&tenant),
            "a tenant's pool follows its configuration"
        );
    }

    #[test]
    fn publishing_an_unchanged_latest_returns_the_last_version() {
        let mut v = versions();
        let one = v.publish(Utc::now());
        assert!(one.created);
        assert_eq!(one.version.config.version, "1");
        let again = v.publish(Utc::now());
        assert!(!again.created);
        assert_eq!(again.version.config.version, "1");
        v.update(ConfigUpdate::default(), Utc::now());
        let two = v.publish(Utc::now());
        assert!(two.created);
        assert_eq!(two.version.config.version, "2");
        assert_eq!(two.version.revision, 2);
        let numbers: Vec<&str> = v.published().map(|f| f.config.version.as_str()).collect();
        assert_eq!(numbers, ["1", "2"]);
    }

    #[test]
    fn a_published_version_keeps_its_configuration_after_updates() {
        let mut v = versions();
        v.publish(Utc::now());
        v.update(
            ConfigUpdate {
                environment: Some(BTreeMap::from([("USER".into(), "user2".into())])),
                ..ConfigUpdate::default()
            },
            Utc::now(),
        );
        assert_eq!(user(v.resolve(Some("1")).unwrap()), Some("user"));
        assert_eq!(user(v.latest()), Some("user2"));
        assert_eq!(v.resolve(Some("1")).unwrap().revision, 1);
    }
}
