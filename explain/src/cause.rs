//! The fixed vocabulary of causes and the evidence behind each.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::duration_words;

/// Why an environment was initialised. The order is the order the rules are tried in
/// (`docs/explain.md`): the first that holds wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    AfterFailure,
    Provisioned,
    SnapStart,
    NewVersion,
    ConfigurationChange,
    NewTenant,
    Proactive,
    ScaleOut,
    Replacement,
    FirstSeen,
}

impl Cause {
    pub const ALL: [Cause; 10] = [
        Cause::AfterFailure,
        Cause::Provisioned,
        Cause::SnapStart,
        Cause::NewVersion,
        Cause::ConfigurationChange,
        Cause::NewTenant,
        Cause::Proactive,
        Cause::ScaleOut,
        Cause::Replacement,
        Cause::FirstSeen,
    ];

    /// The name used in every output (`cause` in the JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::AfterFailure => "after-failure",
            Cause::Provisioned => "provisioned",
            Cause::SnapStart => "snap-start",
            Cause::NewVersion => "new-version",
            Cause::ConfigurationChange => "configuration-change",
            Cause::NewTenant => "new-tenant",
            Cause::Proactive => "proactive",
            Cause::ScaleOut => "scale-out",
            Cause::Replacement => "replacement",
            Cause::FirstSeen => "first-seen",
        }
    }

    /// Singular noun for the summary sentence ("1 configuration change cost ...").
    pub fn singular(self) -> &'static str {
        match self {
            Cause::AfterFailure => "init after a failure",
            Cause::Provisioned => "provisioned init",
            Cause::SnapStart => "SnapStart restore",
            Cause::NewVersion => "new version",
            Cause::ConfigurationChange => "configuration change",
            Cause::NewTenant => "new tenant",
            Cause::Proactive => "proactive init",
            Cause::ScaleOut => "scale-out",
            Cause::Replacement => "replacement",
            Cause::FirstSeen => "first-seen environment",
        }
    }

    /// Plural noun for the summary sentence ("5 configuration changes cost ...").
    pub fn plural(self) -> &'static str {
        match self {
            Cause::AfterFailure => "inits after a failure",
            Cause::Provisioned => "provisioned inits",
            Cause::SnapStart => "SnapStart restores",
            Cause::NewVersion => "new versions",
            Cause::ConfigurationChange => "configuration changes",
            Cause::NewTenant => "new tenants",
            Cause::Proactive => "proactive inits",
            Cause::ScaleOut => "scale-outs",
            Cause::Replacement => "replacements",
            Cause::FirstSeen => "first-seen environments",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What made the rule hold, typed; [`Evidence::words`] says it to a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// `init_phase` was `invoke`: Lambda re-ran init inside an invocation.
    ReinitInInvoke {
        function_request_id: Option<String>,
    },
    /// The first environment of its configuration after one ended with `failure`/`timeout`.
    ReplacesFailed {
        env_id: String,
        reason: String,
        gap_ms: i64,
    },
    Provisioned,
    SnapStart,
    NewVersion {
        version: String,
        previous_version: String,
    },
    ConfigurationChange {
        previous_fingerprint: String,
        fingerprint: String,
    },
    /// The first environment of a tenant (tenant isolation) for its function, version and
    /// configuration.
    NewTenant {
        tenant_id: String,
        /// The configuration the tenant's previous environment ran, when it ran another one
        /// of this version (the configuration changed under it).
        previous_fingerprint: Option<String>,
        /// Other tenants with an environment of this configuration alive.
        other_tenants_alive: usize,
    },
    Proactive,
    ScaleOut {
        /// Environments of this version and configuration alive when it started.
        alive: usize,
        /// Of which this many are of the same version but an unknown configuration (their
        /// init came before the input began).
        unknown_configuration: usize,
    },
    Replacement {
        env_id: String,
        gap_ms: i64,
    },
    FirstSeen {
        /// An earlier environment of the configuration that ended without a shutdown marker.
        last_seen_env: Option<String>,
        last_seen_gap_ms: Option<i64>,
    },
}

impl Evidence {
    /// The evidence in words, with environment ids shortened as the table shows them.
    pub fn words(&self) -> String {
        self.say(short)
    }

    /// The evidence in words, with whole environment ids (`--json`, `--wide`).
    pub fn words_full(&self) -> String {
        self.say(Cow::Borrowed)
    }

    fn say<'a>(&'a self, short: impl Fn(&'a str) -> Cow<'a, str>) -> String {
        match self {
            Evidence::ReinitInInvoke {
                function_request_id,
            } => match function_request_id {
                Some(id) => format!("init re-ran inside invocation {id} (after a crash or timeout)"),
                None => "init re-ran inside an invocation (after a crash or timeout)".into(),
            },
            Evidence::ReplacesFailed {
                env_id,
                reason,
                gap_ms,
            } => format!(
                "replaces environment {} that ended with `{reason}` {} before",
                short(env_id),
                duration_words(*gap_ms)
            ),
            Evidence::Provisioned => "provisioned concurrency: initialised ahead of demand".into(),
            Evidence::SnapStart => "SnapStart restore from the version's snapshot".into(),
            Evidence::NewVersion {
                version,
                previous_version,
            } => format!("version {version} first seen; before it {previous_version} served"),
            Evidence::ConfigurationChange {
                previous_fingerprint,
                fingerprint,
            } => format!(
                "configuration changed: fingerprint {previous_fingerprint} → {fingerprint}"
            ),
            Evidence::NewTenant {
                tenant_id,
                previous_fingerprint,
                other_tenants_alive,
            } => {
                let mut text = format!(
                    "tenant {tenant_id}'s first environment of this configuration ({other_tenants_alive} of other tenants alive)"
                );
                if let Some(fp) = previous_fingerprint {
                    text.push_str(&format!("; its last one ran fingerprint {fp}"));
                }
                text
            }
            Evidence::Proactive => {
                "on-demand init ahead of demand: no request waited for it".into()
            }
            Evidence::ScaleOut {
                alive,
                unknown_configuration,
            } => {
                let mut text = format!(
                    "{alive} environment{} of this configuration {} busy",
                    plural_s(*alive),
                    if *alive == 1 { "was" } else { "were" }
                );
                if *unknown_configuration > 0 {
                    text.push_str(&format!(
                        " ({unknown_configuration} of this version with an init before the input)"
                    ));
                }
                text
            }
            Evidence::Replacement { env_id, gap_ms } => format!(
                "none of this configuration alive; {} spun down {} before",
                short(env_id),
                duration_words(*gap_ms)
            ),
            Evidence::FirstSeen {
                last_seen_env,
                last_seen_gap_ms,
            } => match (last_seen_env, last_seen_gap_ms) {
                (Some(env), Some(gap)) => format!(
                    "no cause known from the data; {} of this configuration was last seen {} before, without a shutdown marker",
                    short(env),
                    duration_words(*gap)
                ),
                _ => "first environment of this configuration in the input".into(),
            },
        }
    }
}

fn plural_s(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Characters of an environment id shown on screen: ids up to this long are shown whole.
pub const SHORT_ID: usize = 13;

/// An environment id as a person reads it on screen: whole up to [`SHORT_ID`] characters, else
/// its first and last six around "…". Both ends, because ids that differ only at one end are
/// common (`env-scale-1`, `env-scale-2`; a UUID's random head, an instance counter's tail).
pub fn short(id: &str) -> Cow<'_, str> {
    // Ids are ASCII in practice (UUIDs, hex): bytes are characters, one allocation (this runs
    // for every row of the table).
    if id.is_ascii() {
        if id.len() <= SHORT_ID {
            return Cow::Borrowed(id);
        }
        let mut text = String::with_capacity(6 + '…'.len_utf8() + 6);
        text.push_str(&id[..6]);
        text.push('…');
        text.push_str(&id[id.len() - 6..]);
        return Cow::Owned(text);
    }
    let count = id.chars().count();
    if count <= SHORT_ID {
        return Cow::Borrowed(id);
    }
    let head: String = id.chars().take(6).collect();
    let tail: String = id.chars().skip(count - 6).collect();
    Cow::Owned(format!("{head}…{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole up to 13 characters, else six and six around "…", counted in characters whether
    /// the id is ASCII (the fast path) or not.
    #[test]
    fn short_ids_keep_both_ends_in_characters() {
        assert_eq!(short("env-scale-1"), "env-scale-1");
        assert_eq!(short("abcdefghijklm"), "abcdefghijklm");
        assert_eq!(short("abcdefghijklmn"), "abcdef…ijklmn");
        assert_eq!(short("00000000000000019e3779b97f4a7c15"), "000000…4a7c15");
        assert_eq!(short("éabcdefghijkl"), "éabcdefghijkl");
        assert_eq!(short("éabcdefghijklmnö"), "éabcde…jklmnö");
        assert_eq!(short(""), "");
    }
}
