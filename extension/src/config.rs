//! Environment → [`Config`]. Never fails: a bad value gives one warning that names the variable
//! (never its value, which could be a secret pasted into the wrong variable) and the default.
//!
//! The HTTP sink's own variables are parsed by `sink::http`; this module only decides whether
//! the user asked for it (`COLDMARK_SINK`).

use tracing::Level;

/// Default `COLDMARK_TELEMETRY_PORT`: a fixed port so the subscription URI is predictable on
/// Lambda, where only one environment lives in the sandbox; 4243 avoids `lambda-extension`'s
/// 9002/9003 defaults so coldmark can sit beside extensions built with it.
pub const DEFAULT_TELEMETRY_PORT: u16 = 4243;

/// Default `COLDMARK_PROACTIVE_THRESHOLD_MS`. After an on-demand init Lambda hands the waiting
/// request over within milliseconds; a gap of a whole second between the end of init and the
/// first INVOKE means no request was waiting (Lambda initialised the environment ahead of
/// demand). 1 s is two orders of magnitude above the dispatch delay, so scheduler hiccups never
/// turn a real cold start into a "proactive" one, and short enough to catch proactive inits,
/// whose gaps are seconds to minutes.
pub const DEFAULT_PROACTIVE_THRESHOLD_MS: u64 = 1000;

/// Largest `COLDMARK_PROACTIVE_THRESHOLD_MS` taken as given (a day); larger values are clamped
/// with a warning. Gaps of proactive inits are seconds to minutes, and the threshold is added
/// to other spans, which must not overflow.
pub const MAX_PROACTIVE_THRESHOLD_MS: u64 = 86_400_000;

/// Which invocations get an `invoke` marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeMarkers {
    /// The first invocation after each init (the one a cold start may have delayed).
    First,
    All,
    None,
}

/// Which sinks the user asked for (`COLDMARK_SINK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkChoice {
    pub stdout: bool,
    pub http: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `COLDMARK_LOG`: level of coldmark's own diagnostics on stderr; `None` = off.
    pub log_level: Option<Level>,
    /// `COLDMARK_NAMESPACE`: the CloudWatch metrics namespace of the EMF block.
    pub namespace: String,
    pub invoke_markers: InvokeMarkers,
    pub proactive_threshold_ms: u64,
    /// `COLDMARK_FINGERPRINT_EXCLUDE`: more variable names to leave out of the fingerprint.
    pub fingerprint_exclude: Vec<String>,
    /// `COLDMARK_TELEMETRY_PORT`: 0 = any free port.
    pub telemetry_port: u16,
    pub sinks: SinkChoice,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            log_level: Some(Level::WARN),
            namespace: "coldmark".to_string(),
            invoke_markers: InvokeMarkers::First,
            proactive_threshold_ms: DEFAULT_PROACTIVE_THRESHOLD_MS,
            fingerprint_exclude: Vec::new(),
            telemetry_port: DEFAULT_TELEMETRY_PORT,
            sinks: SinkChoice {
                stdout: true,
                http: false,
            },
        }
    }
}

impl Config {
    /// Reads every `COLDMARK_*` setting through `env` (a lookup, so tests need no process
    /// environment). Returns the config and the warnings to log once logging is set up.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> (Config, Vec<String>) {
        let mut c = Config::default();
        let mut warnings = Vec::new();
        let mut bad = |name: &str, expected: &str| {
            warnings.push(format!(
                "{name} is not valid (expected {expected}); using the default"
            ))
        };
        let get = |name: &str| env(name).map(|v| v.trim().to_string());
        let mut clamped = Vec::new();

        if let Some(v) = get("COLDMARK_LOG") {
            match v.to_ascii_lowercase().as_str() {
                "off" | "none" => c.log_level = None,
                "error" => c.log_level = Some(Level::ERROR),
                "warn" | "warning" => c.log_level = Some(Level::WARN),
                "info" => c.log_level = Some(Level::INFO),
                "debug" => c.log_level = Some(Level::DEBUG),
                "trace" => c.log_level = Some(Level::TRACE),
                _ => bad("COLDMARK_LOG", "off, error, warn, info, debug or trace"),
            }
        }
        if let Some(v) = get("COLDMARK_NAMESPACE") {
            // CloudWatch namespaces: 1..=255 printable ASCII, not starting with ':'.
            let valid = !v.is_empty()
                && v.len() <= 255
                && !v.starts_with(':')
                && v.bytes().all(|b| (0x20..0x7f).contains(&b));
            if valid {
                c.namespace = v;
            } else {
                bad("COLDMARK_NAMESPACE", "a CloudWatch namespace");
            }
        }
        if let Some(v) = get("COLDMARK_INVOKE_MARKERS") {
            match v.to_ascii_lowercase().as_str() {
                "first" => c.invoke_markers = InvokeMarkers::First,
                "all" => c.invoke_markers = InvokeMarkers::All,
                "none" => c.invoke_markers = InvokeMarkers::None,
                _ => bad("COLDMARK_INVOKE_MARKERS", "first, all or none"),
            }
        }
        if let Some(v) = get("COLDMARK_PROACTIVE_THRESHOLD_MS") {
            let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
            match v.parse::<u64>() {
                Ok(ms) if ms <= MAX_PROACTIVE_THRESHOLD_MS => c.proactive_threshold_ms = ms,
                // Too large for u64 is still a number of milliseconds: clamp it too.
                Ok(_) | Err(_) if digits => {
                    c.proactive_threshold_ms = MAX_PROACTIVE_THRESHOLD_MS;
                    clamped.push(format!(
                        "COLDMARK_PROACTIVE_THRESHOLD_MS is above {MAX_PROACTIVE_THRESHOLD_MS} \
                         (a day); using {MAX_PROACTIVE_THRESHOLD_MS}"
                    ));
                }
                Ok(_) | Err(_) => bad(
                    "COLDMARK_PROACTIVE_THRESHOLD_MS",
                    "a whole number of milliseconds",
                ),
            }
        }
        if let Some(v) = get("COLDMARK_FINGERPRINT_EXCLUDE") {
            c.fingerprint_exclude = v
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
        }
        if let Some(v) = get("COLDMARK_TELEMETRY_PORT") {
            match v.parse::<u16>() {
                Ok(port) => c.telemetry_port = port,
                Err(_) => bad("COLDMARK_TELEMETRY_PORT", "a port number, or 0 for any"),
            }
        }
        if let Some(v) = get("COLDMARK_SINK") {
            let mut choice = SinkChoice {
                stdout: false,
                http: false,
            };
            let mut ok = true;
            for part in v.split(',').map(|p| p.trim().to_ascii_lowercase()) {
                match part.as_str() {
                    "stdout" => choice.stdout = true,
                    "http" => choice.http = true,
                    _ => ok = false,
                }
            }
            if ok && (choice.stdout || choice.http) {
                c.sinks = choice;
            } else {
                bad("COLDMARK_SINK", "stdout, http or stdout,http");
            }
        }
        warnings.extend(clamped);
        (c, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> (Config, Vec<String>) {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_without_any_variable() {
        let (c, w) = parse(&[]);
        assert!(w.is_empty());
        assert_eq!(c.log_level, Some(Level::WARN));
        assert_eq!(c.namespace, "coldmark");
        assert_eq!(c.invoke_markers, InvokeMarkers::First);
        assert_eq!(c.proactive_threshold_ms, DEFAULT_PROACTIVE_THRESHOLD_MS);
        assert_eq!(c.telemetry_port, DEFAULT_TELEMETRY_PORT);
        assert_eq!(
            c.sinks,
            SinkChoice {
                stdout: true,
                http: false
            }
        );
    }

    #[test]
    fn every_setting_is_read() {
        let (c, w) = parse(&[
            ("COLDMARK_LOG", "Debug"),
            ("COLDMARK_NAMESPACE", "Team/ColdStarts"),
            ("COLDMARK_INVOKE_MARKERS", "all"),
            ("COLDMARK_PROACTIVE_THRESHOLD_MS", "2500"),
            ("COLDMARK_FINGERPRINT_EXCLUDE", "BUILD_ID, DEPLOYED_AT,,"),
            ("COLDMARK_TELEMETRY_PORT", "0"),
            ("COLDMARK_SINK", "stdout,http"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.log_level, Some(Level::DEBUG));
        assert_eq!(c.namespace, "Team/ColdStarts");
        assert_eq!(c.invoke_markers, InvokeMarkers::All);
        assert_eq!(c.proactive_threshold_ms, 2500);
        assert_eq!(c.fingerprint_exclude, vec!["BUILD_ID", "DEPLOYED_AT"]);
        assert_eq!(c.telemetry_port, 0);
        assert_eq!(
            c.sinks,
            SinkChoice {
                stdout: true,
                http: true
            }
        );
    }

    #[test]
    fn bad_values_warn_by_name_never_by_value_and_keep_defaults() {
        let secret = "hunter2-s3cr3t";
        let (c, w) = parse(&[
            ("COLDMARK_LOG", secret),
            ("COLDMARK_NAMESPACE", ":bad"),
            ("COLDMARK_INVOKE_MARKERS", secret),
            ("COLDMARK_PROACTIVE_THRESHOLD_MS", secret),
            ("COLDMARK_TELEMETRY_PORT", "70000"),
            ("COLDMARK_SINK", secret),
        ]);
        assert_eq!(w.len(), 6, "{w:?}");
        for name in [
            "COLDMARK_LOG",
            "COLDMARK_NAMESPACE",
            "COLDMARK_INVOKE_MARKERS",
            "COLDMARK_PROACTIVE_THRESHOLD_MS",
            "COLDMARK_TELEMETRY_PORT",
            "COLDMARK_SINK",
        ] {
            assert_eq!(w.iter().filter(|m| m.contains(name)).count(), 1, "{name}");
        }
        assert!(w
            .iter()
            .all(|m| !m.contains(secret) && !m.contains("70000")));
        let d = Config::default();
        assert_eq!(c.log_level, d.log_level);
        assert_eq!(c.namespace, d.namespace);
        assert_eq!(c.invoke_markers, d.invoke_markers);
        assert_eq!(c.telemetry_port, d.telemetry_port);
        assert_eq!(c.sinks, d.sinks);
    }

    #[test]
    fn huge_proactive_thresholds_are_clamped_with_a_warning() {
        for huge in [
            "86400001",
            "18446744073709551615",
            "99999999999999999999999",
        ] {
            let (c, w) = parse(&[("COLDMARK_PROACTIVE_THRESHOLD_MS", huge)]);
            assert_eq!(
                c.proactive_threshold_ms, MAX_PROACTIVE_THRESHOLD_MS,
                "{huge}"
            );
            assert_eq!(w.len(), 1, "{w:?}");
            assert!(w[0].starts_with("COLDMARK_PROACTIVE_THRESHOLD_MS"));
            assert!(!w[0].contains(huge));
        }
        let (c, w) = parse(&[("COLDMARK_PROACTIVE_THRESHOLD_MS", "86400000")]);
        assert_eq!(c.proactive_threshold_ms, MAX_PROACTIVE_THRESHOLD_MS);
        assert!(w.is_empty());
    }

    #[test]
    fn log_off_and_http_only() {
        let (c, w) = parse(&[("COLDMARK_LOG", "off"), ("COLDMARK_SINK", "http")]);
        assert!(w.is_empty());
        assert_eq!(c.log_level, None);
        assert_eq!(
            c.sinks,
            SinkChoice {
                stdout: false,
                http: true
            }
        );
    }
}
