//! The settings as `coldmark --help` lists them: every `COLDMARK_*` variable [`Config::from_env`]
//! reads, with its default (taken from the typed defaults, so the list cannot drift from them)
//! and one line on what it does.
//!
//! The binary is started by Lambda without arguments and is configured by the environment alone;
//! a person who runs it by hand to find out what it reads gets this list instead of a warning
//! about a missing Lambda.

use std::fmt::Write as _;

use reqwest::Url;
use tracing::Level;

use super::http::{Format, HttpSettings};
use super::{Config, InvokeMarkers};

/// One setting as `--help` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable.
    pub name: &'static str,
    /// What applies when it is unset.
    pub default: String,
    /// What it does, in one line.
    pub what: &'static str,
}

fn level(level: Option<Level>) -> String {
    level.map_or_else(|| "off".to_string(), |l| l.as_str().to_ascii_lowercase())
}

fn invoke_markers(choice: InvokeMarkers) -> String {
    match choice {
        InvokeMarkers::First => "first",
        InvokeMarkers::All => "all",
        InvokeMarkers::None => "none",
    }
    .to_string()
}

/// Every `COLDMARK_*` setting, in the order of docs/configuration.md.
pub fn settings() -> Vec<Setting> {
    let config = Config::default();
    // Only the endpoint has no default; any URL gives the others.
    let http = Url::parse("http://127.0.0.1/")
        .map(HttpSettings::new)
        .expect("a literal URL parses");
    let none = || "(none)".to_string();
    let sinks = match (config.sinks.stdout, config.sinks.http) {
        (true, true) => "stdout,http",
        (false, true) => "http",
        _ => "stdout",
    };
    let setting = |name, default: String, what| Setting {
        name,
        default,
        what,
    };
    vec![
        setting(
            "COLDMARK_LOG",
            level(config.log_level),
            "own diagnostics on stderr: off, error, warn, info, debug, trace",
        ),
        setting(
            "COLDMARK_NAMESPACE",
            config.namespace.clone(),
            "CloudWatch metrics namespace of the init marker's EMF block",
        ),
        setting(
            "COLDMARK_INVOKE_MARKERS",
            invoke_markers(config.invoke_markers),
            "which invocations get an invoke marker: first (after init), all, none",
        ),
        setting(
            "COLDMARK_PROACTIVE_THRESHOLD_MS",
            config.proactive_threshold_ms.to_string(),
            "ms from init end to first invoke above which an init is proactive",
        ),
        setting(
            "COLDMARK_FINGERPRINT_EXCLUDE",
            "(empty)".to_string(),
            "comma-separated variables left out of config_fingerprint",
        ),
        setting(
            "COLDMARK_TELEMETRY_PORT",
            config.telemetry_port.to_string(),
            "port of the Telemetry API listener; 0 = any free port",
        ),
        setting(
            "COLDMARK_SINK",
            sinks.to_string(),
            "where markers go: stdout (CloudWatch Logs), http, or stdout,http",
        ),
        setting(
            "COLDMARK_HTTP_ENDPOINT",
            none(),
            "http(s):// URL the HTTP sink POSTs batches to (required for it)",
        ),
        setting(
            "COLDMARK_HTTP_HEADERS",
            none(),
            "request headers name=value,name2=value2 (percent-decoded, secret)",
        ),
        setting(
            "COLDMARK_HTTP_FORMAT",
            match http.format {
                Format::Ndjson => "ndjson",
                Format::JsonArray => "json-array",
            }
            .to_string(),
            "request body: ndjson (one marker per line) or json-array",
        ),
        setting(
            "COLDMARK_HTTP_GZIP",
            http.gzip.to_string(),
            "true: gzip the request body",
        ),
        setting(
            "COLDMARK_HTTP_TIMEOUT_MS",
            http.timeout.as_millis().to_string(),
            "per request (connect + send + answer), 1-60000",
        ),
        setting(
            "COLDMARK_HTTP_RETRIES",
            http.retries.to_string(),
            "retries on 5xx, 429, connection errors and timeouts, 0-10",
        ),
        setting(
            "COLDMARK_HTTP_BACKOFF_MS",
            http.backoff.as_millis().to_string(),
            "wait before the first retry; doubles per retry (jittered, max 5 s)",
        ),
        setting(
            "COLDMARK_HTTP_QUEUE_RECORDS",
            http.queue_records.to_string(),
            "most markers held in memory waiting to be sent",
        ),
        setting(
            "COLDMARK_HTTP_QUEUE_BYTES",
            http.queue_bytes.to_string(),
            "most bytes held in memory waiting to be sent (at least 1024)",
        ),
        setting(
            "COLDMARK_HTTP_BATCH_RECORDS",
            http.batch_records.to_string(),
            "most markers per request",
        ),
        setting(
            "COLDMARK_HTTP_PROXY",
            none(),
            "the HTTP sink's only proxy (the function's HTTP_PROXY is ignored)",
        ),
        setting(
            "COLDMARK_HTTP_ALLOW_PLAINTEXT_HEADERS",
            "false".to_string(),
            "true: COLDMARK_HTTP_HEADERS may go over http:// to public addresses",
        ),
    ]
}

/// `coldmark --help`: what the binary is, how Lambda runs it, and every setting.
pub fn help() -> String {
    let settings = settings();
    let name_width = settings.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let default_width = settings.iter().map(|s| s.default.len()).max().unwrap_or(0);
    let mut text = format!(
        "coldmark {}: an AWS Lambda extension that writes one JSON marker per cold start\n\
         \n\
         Lambda starts it as /opt/extensions/coldmark (the coldmark layer), without arguments.\n\
         Outside Lambda (AWS_LAMBDA_RUNTIME_API unset) it writes one warning and exits 0.\n\
         \n\
         Usage: coldmark [--help | --version]\n\
         \n\
         Settings: environment variables on the function, all optional; a bad value gives one\n\
         warning naming the variable, and the default applies.\n\
         \n\
         \x20 {:name_width$}  {:default_width$}  what it does\n",
        env!("CARGO_PKG_VERSION"),
        "variable",
        "default",
    );
    for s in &settings {
        let _ = writeln!(
            text,
            "  {:name_width$}  {:default_width$}  {}",
            s.name, s.default, s.what
        );
    }
    text.push_str(
        "\nMore on each, and the reasons behind the defaults: docs/configuration.md in the \
         coldmark repository.\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// Every `COLDMARK_*` variable named in `text`.
    fn names(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("COLDMARK_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(tail.len());
            // `COLDMARK_HTTP_*` names a family, not a variable.
            if !tail[end..].starts_with('*') {
                found.insert(tail[..end].trim_end_matches('_').to_string());
            }
            rest = &tail[end..];
        }
        found
    }

    fn read(pairs: &[(&str, &str)]) -> (String, Vec<String>) {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (config, warnings) = Config::from_env(&|k| map.get(k).cloned());
        (format!("{config:?}"), warnings)
    }

    #[test]
    fn lists_exactly_the_variables_the_readers_read() {
        let sources = [
            include_str!("diagnostics.rs"),
            include_str!("markers.rs"),
            include_str!("telemetry.rs"),
            include_str!("sinks.rs"),
            include_str!("http.rs"),
        ];
        let read: BTreeSet<String> = sources.iter().flat_map(|s| names(s)).collect();
        let listed: BTreeSet<String> = settings().iter().map(|s| s.name.to_string()).collect();
        assert_eq!(listed, read, "--help's list against the config readers");
        let documented = names(include_str!("../../../docs/configuration.md"));
        let undocumented: Vec<_> = listed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "not in docs/configuration.md: {undocumented:?}"
        );
    }

    #[test]
    fn each_default_shown_is_the_default_applied() {
        // Setting a variable to the default --help shows changes nothing and warns nothing.
        let plain: &[(&str, &str)] = &[];
        let http: &[(&str, &str)] = &[
            ("COLDMARK_SINK", "stdout,http"),
            ("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1/"),
        ];
        for s in settings() {
            if s.default.starts_with('(') {
                continue;
            }
            let base = if s.name.starts_with("COLDMARK_HTTP_") {
                http
            } else {
                plain
            };
            let mut with = base.to_vec();
            with.push((s.name, &s.default));
            assert_eq!(read(&with), read(base), "{} = {}", s.name, s.default);
        }
    }

    #[test]
    fn help_names_every_setting_with_its_default() {
        let text = help();
        for line in text.lines() {
            assert!(
                line.chars().count() <= 120,
                "wider than 120 columns: {line}"
            );
        }
        assert!(text.starts_with(&format!("coldmark {}", env!("CARGO_PKG_VERSION"))));
        for s in settings() {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(s.name))
                .unwrap_or_else(|| panic!("{} missing from:\n{text}", s.name));
            assert_eq!(line.split_whitespace().nth(1), Some(s.default.as_str()));
        }
    }
}
