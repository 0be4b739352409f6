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

    /// The encoding docs/markers.md documents, built here byte by byte from its words (not by
    /// calling the code under test): the domain separator, then each field preceded by its
    /// length as a 64-bit big-endian integer: the version, the memory size in decimal (empty
    /// when unknown), then every counted variable's name and value, sorted by name then value.
    fn documented_bytes(vars: &[(&str, &str)], version: &str, memory: Option<u64>) -> Vec<u8> {
        let mut bytes = b"coldmark config_fingerprint v1\0".to_vec();
        let mut field = |f: &[u8]| {
            bytes.extend((f.len() as u64).to_be_bytes());
            bytes.extend(f);
        };
        field(version.as_bytes());
        field(memory.map(|m| m.to_string()).unwrap_or_default().as_bytes());
        let mut sorted = vars.to_vec();
        sorted.sort();
        for (name, value) in sorted {
            field(name.as_bytes());
            field(value.as_bytes());
        }
        bytes
    }

    /// SHA-256 by coreutils' `sha256sum`, another implementation than the one under test.
    fn sha256sum(bytes: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum (coreutils)");
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_owned()
    }

    fn owned(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_documented_vector() {
        // docs/markers.md publishes this one, so that another tool can check its own.
        let vars = [("TABLE_NAME", "orders"), ("FEATURE_FLAG", "on")];
        assert_eq!(
            fingerprint(&owned(&vars), "7", Some(512), &[]),
            "907b46ce9fd2"
        );
        assert_eq!(
            &sha256sum(&documented_bytes(&vars, "7", Some(512)))[..12],
            "907b46ce9fd2"
        );
    }

    #[test]
    fn the_documented_encoding_computed_independently() {
        // Names that sort differently as bytes and as text, a value with a newline and a
        // multi-byte character, an unknown memory size; and variables that do not count.
        let counted = [
            ("Z_LAST", "z"),
            ("A_FIRST", "line one\nline two"),
            ("CAFÉ", "crème"),
            ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/wrap"),
            ("COLDMARK_SINK", "stdout"),
        ];
        let mut all = counted.to_vec();
        all.extend([
            ("AWS_REGION", "eu-west-1"),
            ("_HANDLER", "bootstrap"),
            ("PATH", "/bin"),
        ]);
        for (version, memory) in [("$LATEST", None), ("12", Some(10240))] {
            let want = sha256sum(&documented_bytes(&counted, version, memory));
            assert_eq!(
                fingerprint(&owned(&all), version, memory, &[]),
                want[..12],
                "{version} {memory:?}"
            );
        }
    }

    #[test]
    fn every_documented_exclusion_leaves_it_unchanged() {
        // The names docs/markers.md lists, one at a time; a prefix rule by an example of each.
        let excluded = [
            "PATH",
            "LD_LIBRARY_PATH",
            "TZ",
            "LANG",
            "PWD",
            "OLDPWD",
            "SHLVL",
            "HOME",
            "HOSTNAME",
            "AWS_REGION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "_HANDLER",
            "_AWS_XRAY_DAEMON_ADDRESS",
            "LAMBDA_TASK_ROOT",
            "LAMBDA_RUNTIME_DIR",
        ];
        let base = fp(&[]);
        for name in excluded {
            assert_eq!(base, fp(&[(name, "one value")]), "{name} counted");
            assert_eq!(
                fp(&[(name, "one")]),
                fp(&[(name, "another")]),
                "{name} counted"
            );
        }
        // Look-alikes of those names do count (the rules are exact names and prefixes).
        for name in [
            "PATHS",
            "MY_PATH",
            "XAWS_KEY",
            "LAMBDA",
            "TZ_NAME",
            "AWS_LAMBDA_EXEC_WRAPPER",
        ] {
            assert_ne!(base, fp(&[(name, "x")]), "{name} ignored");
        }
        // COLDMARK_FINGERPRINT_EXCLUDE, and only the names it lists.
        let user = vec!["BUILD_ID".to_string(), "DEPLOYED_AT".to_string()];
        for name in ["BUILD_ID", "DEPLOYED_AT"] {
            assert_eq!(
                fingerprint(&env(&[(name, "1")]), "7", Some(512), &user),
                fingerprint(&env(&[(name, "2")]), "7", Some(512), &user),
                "{name}"
            );
        }
        assert_ne!(
            fingerprint(&env(&[("BUILD", "1")]), "7", Some(512), &user),
            fingerprint(&env(&[("BUILD", "2")]), "7", Some(512), &user),
        );
    }
}
