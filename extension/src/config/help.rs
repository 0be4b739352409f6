//! The settings as `coldmark --help` lists them: every `COLDMARK_*` variable [`Config::from_env`]
//! reads and the standard `OTEL_*` ones the OTLP sink takes, with its default (taken from the
//! typed defaults, so the list cannot drift from them) and one line on what it does.
//!
//! The binary is started by Lambda without arguments and is configured by the environment alone;
//! a person who runs it by hand to find out what it reads gets this list instead of a warning
//! about a missing Lambda.

use std::fmt::Write as _;

use reqwest::Url;
use tracing::Level;

use super::http::{Format, HttpSettings};
use super::otlp;
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
    let sinks = [
        (config.sinks.stdout, "stdout"),
        (config.sinks.http, "http"),
        (config.sinks.otlp, "otlp"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(",");
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
            "where markers go: stdout (CloudWatch Logs), http, otlp, or a mix",
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
            "the network sinks' only proxy (the function's HTTP_PROXY is ignored)",
        ),
        setting(
            "COLDMARK_HTTP_ALLOW_PLAINTEXT_HEADERS",
            "false".to_string(),
            "true: COLDMARK_HTTP_HEADERS may go over http:// to public addresses",
        ),
        setting(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "(localhost)".to_string(),
            "OTLP sink: base URL (http://localhost:4318), /v1/<signal> appended",
        ),
        setting(
            "OTEL_EXPORTER_OTLP_HEADERS",
            none(),
            "OTLP sink: request headers name=value,... (percent-decoded, secret)",
        ),
        setting(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/protobuf".to_string(),
            "OTLP sink: http/protobuf or http/json (grpc: sink off)",
        ),
        setting(
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "none".to_string(),
            "OTLP sink: gzip or none",
        ),
        setting(
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            otlp::DEFAULT_TIMEOUT_MS.to_string(),
            "OTLP sink: ms per request (cut to what is left at SHUTDOWN)",
        ),
        setting(
            "OTEL_SERVICE_NAME",
            "(function)".to_string(),
            "OTLP sink: service.name of the resource",
        ),
        setting(
            "OTEL_RESOURCE_ATTRIBUTES",
            none(),
            "OTLP sink: key=value,... added to the resource (win over coldmark's)",
        ),
        setting(
            "COLDMARK_OTLP_SIGNALS",
            "all".to_string(),
            "OTLP signals to send: all, or some of logs,metrics,traces",
        ),
        setting(
            "COLDMARK_OTLP_RETRIES",
            otlp::DEFAULT_RETRIES.to_string(),
            "OTLP retries after the first attempt (429, 502, 503, 504, network)",
        ),
        setting(
            "COLDMARK_OTLP_BACKOFF_MS",
            otlp::DEFAULT_BACKOFF_MS.to_string(),
            "OTLP wait before the first retry; doubles per retry",
        ),
        setting(
            "COLDMARK_OTLP_QUEUE_RECORDS",
            otlp::DEFAULT_QUEUE_RECORDS.to_string(),
            "most records, data points or spans held per signal",
        ),
        setting(
            "COLDMARK_OTLP_BATCH_RECORDS",
            otlp::DEFAULT_BATCH_RECORDS.to_string(),
            "most records, data points or spans per OTLP request",
        ),
        setting(
            "COLDMARK_OTLP_ALLOW_PLAINTEXT_HEADERS",
            "false".to_string(),
            "true: OTLP headers may go over http:// to public addresses",
        ),
    ]
}

/// `coldmark --help`: what the binary is, how Lambda runs it, and every setting: coldmark's
/// own, then the standard OpenTelemetry ones the OTLP sink reads (each block aligned on its
/// own, so that neither widens the other past 120 columns).
pub fn help() -> String {
    let (own, otel): (Vec<Setting>, Vec<Setting>) = settings()
        .into_iter()
        .partition(|s| s.name.starts_with("COLDMARK_"));
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
         \n",
        env!("CARGO_PKG_VERSION"),
    );
    table(&mut text, &own);
    text.push_str(
        "\nOpenTelemetry's standard variables, read when COLDMARK_SINK includes otlp:\n\n",
    );
    table(&mut text, &otel);
    text.push_str(
        "\nEach OTEL_EXPORTER_OTLP_* setting also has a per-signal form that wins over it:\n\
         OTEL_EXPORTER_OTLP_LOGS_*, OTEL_EXPORTER_OTLP_METRICS_*, OTEL_EXPORTER_OTLP_TRACES_*\n\
         (a signal's own ENDPOINT is used as it is, no path appended).\n\
         \nMore on each, and the reasons behind the defaults: docs/configuration.md in the \
         coldmark repository.\n",
    );
    text
}

/// `settings` as aligned columns under a header line.
fn table(text: &mut String, settings: &[Setting]) {
    let name_width = settings.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let default_width = settings.iter().map(|s| s.default.len()).max().unwrap_or(0);
    let _ = writeln!(
        text,
        "  {:name_width$}  {:default_width$}  what it does",
        "variable", "default"
    );
    for s in settings {
        let _ = writeln!(
            text,
            "  {:name_width$}  {:default_width$}  {}",
            s.name, s.default, s.what
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// Every `COLDMARK_*` variable named in `text`.
    fn names(text: &str) -> BTreeSet<String> {
        prefixed(text, "COLDMARK_")
    }

    /// Every variable starting with `prefix` named in `text`.
    fn prefixed(text: &str, prefix: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
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
            include_str!("net.rs"),
            include_str!("otlp.rs"),
        ];
        let read: BTreeSet<String> = sources.iter().flat_map(|s| names(s)).collect();
        let all: BTreeSet<String> = settings().iter().map(|s| s.name.to_string()).collect();
        let listed: BTreeSet<String> = all
            .iter()
            .filter(|n| n.starts_with("COLDMARK_"))
            .cloned()
            .collect();
        assert_eq!(listed, read, "--help's list against the config readers");
        // The standard variables: the generic forms the OTLP reader names, and those alone.
        let otel: BTreeSet<String> = ["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"]
            .iter()
            .map(|s| s.to_string())
            .chain(
                ["ENDPOINT", "HEADERS", "PROTOCOL", "COMPRESSION", "TIMEOUT"]
                    .iter()
                    .map(|s| format!("OTEL_EXPORTER_OTLP_{s}")),
            )
            .collect();
        let otlp_source = include_str!("otlp.rs");
        for name in &otel {
            let setting = name.trim_start_matches("OTEL_EXPORTER_OTLP_");
            assert!(
                otlp_source.contains(&format!("\"{name}\""))
                    || otlp_source.contains(&format!("\"{setting}\"")),
                "{name} is not read"
            );
        }
        let listed_otel: BTreeSet<String> = all.difference(&listed).cloned().collect();
        assert_eq!(listed_otel, otel, "--help's standard variables");
        let documented = names(include_str!("../../../docs/configuration.md"));
        let documented: BTreeSet<String> = documented
            .union(&prefixed(
                include_str!("../../../docs/configuration.md"),
                "OTEL_",
            ))
            .cloned()
            .collect();
        let undocumented: Vec<_> = all.difference(&documented).collect();
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
        let otlp: &[(&str, &str)] = &[("COLDMARK_SINK", "stdout,otlp")];
        for s in settings() {
            if s.default.starts_with('(') {
                continue;
            }
            let base = if s.name.starts_with("COLDMARK_HTTP_") {
                http
            } else if s.name.starts_with("COLDMARK_OTLP_") || s.name.starts_with("OTEL_") {
                otlp
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
