//! `config_fingerprint`: a short hash that is equal for environments of identical
//! configuration and changes when the user changes the function's configuration.
//!
//! What goes in: every environment variable the *user* set (name and value), the function
//! version and the memory size. What stays out, by one rule — "Lambda or the runtime sets it":
//! - names starting with `AWS_` (credentials, region, log group/stream, initialization type,
//!   runtime API address, function name/version/memory, execution env), except
//!   `AWS_LAMBDA_EXEC_WRAPPER`, which only the user sets and which changes how init runs;
//! - names starting with `_` (runtime internals: `_HANDLER`, `_X_AMZN_TRACE_ID`, `_AWS_XRAY_*`);
//! - names starting with `LAMBDA_` (`LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`);
//! - the runtime's defaults `PATH`, `LD_LIBRARY_PATH`, `TZ`, `LANG`, and the process's own
//!   `PWD`, `OLDPWD`, `SHLVL`, `HOME`, `HOSTNAME`;
//! - names listed in `COLDMARK_FINGERPRINT_EXCLUDE` (e.g. a build id the user does not want to
//!   count as a configuration change).
//!
//! Privacy: values are only ever fed to SHA-256 together (length-prefixed, behind a domain
//! separator, so no precomputed table applies), and only 12 hex digits (48 bits) are kept. No
//! value can be read back. The trade-off: someone who knows every other value and the hash can
//! confirm a guess for one low-entropy value (e.g. `on`/`off`); exclude such names if that
//! matters.

use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"coldmark config_fingerprint v1\0";

const EXCLUDED_PREFIXES: &[&str] = &["AWS_", "_", "LAMBDA_"];
const INCLUDED_DESPITE_PREFIX: &[&str] = &["AWS_LAMBDA_EXEC_WRAPPER"];
const EXCLUDED_NAMES: &[&str] = &[
    "PATH",
    "LD_LIBRARY_PATH",
    "TZ",
    "LANG",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "HOME",
    "HOSTNAME",
];

/// Whether a variable counts as user configuration.
pub(crate) fn counts(name: &str, user_excluded: &[String]) -> bool {
    if user_excluded.iter().any(|n| n == name) {
        return false;
    }
    if INCLUDED_DESPITE_PREFIX.contains(&name) {
        return true;
    }
    !EXCLUDED_NAMES.contains(&name) && !EXCLUDED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The fingerprint of `vars` (any order), `version` and `memory_mb`.
pub(crate) fn fingerprint(
    vars: &[(String, String)],
    version: &str,
    memory_mb: Option<u64>,
    user_excluded: &[String],
) -> String {
    let mut kept: Vec<&(String, String)> = vars
        .iter()
        .filter(|(name, _)| counts(name, user_excluded))
        .collect();
    kept.sort();
    let mut h = Sha256::new();
    h.update(DOMAIN);
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(version.as_bytes());
    field(
        memory_mb
            .map(|m| m.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    for (name, value) in kept {
        field(name.as_bytes());
        field(value.as_bytes());
    }
    let digest = h.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = [
            ("AWS_ACCESS_KEY_ID", "AKIAFAKE1"),
            ("AWS_SECRET_ACCESS_KEY", "secret1"),
            ("AWS_SESSION_TOKEN", "token1"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]aaaa"),
            ("_X_AMZN_TRACE_ID", "Root=1-aaaa"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_LAMBDA_FUNCTION_NAME", "clock"),
            ("_HANDLER", "bootstrap"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("PATH", "/usr/bin"),
            ("TZ", ":UTC"),
            ("TABLE_NAME", "orders"),
            ("FEATURE_FLAG", "on"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, val) in extra {
            if let Some(e) = v.iter_mut().find(|(name, _)| name == k) {
                e.1 = val.to_string();
            } else {
                v.push((k.to_string(), val.to_string()));
            }
        }
        v
    }

    fn fp(extra: &[(&str, &str)]) -> String {
        fingerprint(&env(extra), "7", Some(512), &[])
    }

    #[test]
    fn same_config_same_fingerprint_in_any_order() {
        let a = fp(&[]);
        let mut reversed = env(&[]);
        reversed.reverse();
        assert_eq!(a, fingerprint(&reversed, "7", Some(512), &[]));
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn any_user_change_changes_it() {
        let base = fp(&[]);
        assert_ne!(base, fp(&[("TABLE_NAME", "orders2")]));
        assert_ne!(base, fp(&[("NEW_VAR", "x")]));
        assert_ne!(base, fp(&[("AWS_LAMBDA_EXEC_WRAPPER", "/opt/wrap")]));
        assert_ne!(base, fingerprint(&env(&[]), "8", Some(512), &[]));
        assert_ne!(base, fingerprint(&env(&[]), "7", Some(1024), &[]));
        // Name/value boundaries are unambiguous.
        assert_ne!(
            fingerprint(&[("AB".into(), "C".into())], "1", None, &[]),
            fingerprint(&[("A".into(), "BC".into())], "1", None, &[])
        );
    }

    #[test]
    fn what_lambda_varies_per_environment_does_not_change_it() {
        let base = fp(&[]);
        assert_eq!(
            base,
            fp(&[
                ("AWS_ACCESS_KEY_ID", "AKIAFAKE2"),
                ("AWS_SECRET_ACCESS_KEY", "secret2"),
                ("AWS_SESSION_TOKEN", "token2"),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]bbbb"),
                ("_X_AMZN_TRACE_ID", "Root=1-bbbb"),
                ("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency"),
                ("_AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129"),
            ])
        );
        assert_eq!(base, fp(&[("AWS_SESSION_TOKEN", "other")]));
        assert_eq!(base, fp(&[("_X_AMZN_TRACE_ID", "Root=1-cccc")]));
        assert_eq!(
            base,
            fp(&[("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")])
        );
        assert_eq!(base, fp(&[("AWS_LAMBDA_LOG_STREAM_NAME", "other")]));
    }

    #[test]
    fn excluded_names_are_ignored() {
        let excluded = vec!["BUILD_ID".to_string()];
        let a = fingerprint(&env(&[("BUILD_ID", "1")]), "7", Some(512), &excluded);
        let b = fingerprint(&env(&[("BUILD_ID", "2")]), "7", Some(512), &excluded);
        assert_eq!(a, b);
        assert_eq!(a, fingerprint(&env(&[]), "7", Some(512), &excluded));
    }

    #[test]
    fn no_value_appears_in_the_output() {
        let out = fp(&[("SECRET_PIN", "1234"), ("TOKEN", "c0ffee")]);
        for value in ["1234", "c0ffee", "orders", "on"] {
            assert!(!out.contains(value), "{out} contains {value}");
        }
    }
}
