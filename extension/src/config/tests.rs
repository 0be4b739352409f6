//! The whole configuration read from variables: defaults, every setting, bad values warned
//! by name, clamping.

use super::markers::MAX_PROACTIVE_THRESHOLD_MS;
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
            http: false,
            otlp: false
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
        ("COLDMARK_HTTP_ENDPOINT", "https://collector.example/ingest"),
        ("COLDMARK_HTTP_GZIP", "true"),
    ]);
    assert!(w.is_empty(), "{w:?}");
    let http = c
        .http
        .as_ref()
        .expect("the HTTP sink's settings, read with the rest");
    assert_eq!(http.endpoint.as_str(), "https://collector.example/ingest");
    assert!(http.gzip);
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
            http: true,
            otlp: false
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
    // Not a number at all: the default, not the clamp a huge number gets.
    assert_eq!(c.proactive_threshold_ms, DEFAULT_PROACTIVE_THRESHOLD_MS);
    assert_eq!(c.telemetry_port, d.telemetry_port);
    assert_eq!(c.sinks, d.sinks);
}

#[test]
fn a_threshold_that_is_no_number_keeps_the_default_and_is_not_clamped() {
    for bad in ["", "12ms", "-5", "1.5", "1e3"] {
        let (c, w) = parse(&[("COLDMARK_PROACTIVE_THRESHOLD_MS", bad)]);
        assert_eq!(
            c.proactive_threshold_ms, DEFAULT_PROACTIVE_THRESHOLD_MS,
            "{bad:?}"
        );
        assert_eq!(w.len(), 1, "{bad:?}: {w:?}");
        assert!(
            w[0].contains("COLDMARK_PROACTIVE_THRESHOLD_MS") && !w[0].contains("above"),
            "{bad:?}: {w:?}"
        );
    }
}

#[test]
fn invoke_markers_take_each_documented_value_in_any_case() {
    for (value, want) in [
        ("first", InvokeMarkers::First),
        ("ALL", InvokeMarkers::All),
        ("none", InvokeMarkers::None),
        ("None", InvokeMarkers::None),
    ] {
        let (c, w) = parse(&[("COLDMARK_INVOKE_MARKERS", value)]);
        assert_eq!(c.invoke_markers, want, "{value}");
        assert!(w.is_empty(), "{value}: {w:?}");
    }
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
    let (c, w) = parse(&[
        ("COLDMARK_LOG", "off"),
        ("COLDMARK_SINK", "http"),
        ("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1:8123/"),
    ]);
    assert!(w.is_empty());
    assert_eq!(c.log_level, None);
    assert_eq!(
        c.sinks,
        SinkChoice {
            stdout: false,
            http: true,
            otlp: false
        }
    );
}

#[test]
fn an_unusable_http_sink_is_warned_about_with_the_rest_and_stdout_takes_over() {
    let (c, w) = parse(&[("COLDMARK_SINK", "http"), ("COLDMARK_LOG", "loud")]);
    assert!(c.http.is_none());
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].starts_with("COLDMARK_LOG"), "{w:?}");
    assert!(w[1].contains("COLDMARK_HTTP_ENDPOINT is not set"), "{w:?}");
    assert_eq!(
        w[2],
        "COLDMARK_SINK: no working sink left; writing markers to stdout"
    );
    // An endpoint set for a sink not chosen: said once, nothing else.
    let (c, w) = parse(&[("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1:1/")]);
    assert!(c.http.is_none());
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("COLDMARK_SINK does not include"), "{w:?}");
}

#[test]
fn the_otlp_sink_is_read_with_the_rest_and_combines_with_the_others() {
    let (c, w) = parse(&[
        ("COLDMARK_SINK", "stdout, OTLP,http"),
        ("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1:8123/"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
    ]);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        c.sinks,
        SinkChoice {
            stdout: true,
            http: true,
            otlp: true
        }
    );
    assert!(c.http.is_some());
    let otlp = c.otlp.expect("the OTLP sink's settings");
    assert_eq!(otlp.signals.len(), 3);
    // Not chosen: not read, whatever the function's own OpenTelemetry variables say.
    let (c, w) = parse(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert!(c.otlp.is_none() && w.is_empty(), "{w:?}");
    // Chosen alone and unusable: stdout takes over, with the reason.
    let (c, w) = parse(&[
        ("COLDMARK_SINK", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    assert!(c.otlp.is_none());
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("OTEL_EXPORTER_OTLP_PROTOCOL is grpc"),
        "{w:?}"
    );
    assert_eq!(
        w[1],
        "COLDMARK_SINK: no working sink left; writing markers to stdout"
    );
}

/// docs/configuration.md's table rows that name one variable and one literal default:
/// `| `NAME` | `default` | … |`.
fn documented_defaults() -> Vec<(String, String)> {
    let doc = include_str!("../../../docs/configuration.md");
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let literal = |cell: &str| {
                let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
                (!inner.contains('`')).then(|| inner.to_string())
            };
            let name = literal(cells.get(1)?)?;
            let default = literal(cells.get(2)?)?;
            (name.starts_with("COLDMARK_") || name.starts_with("OTEL_")).then_some((name, default))
        })
        .collect()
}

/// The documentation's defaults are the code's: each variable set to its documented default
/// gives the same configuration as leaving it unset (a changed default in either fails here).
#[test]
fn each_documented_default_is_what_an_unset_variable_gives() {
    let base = [
        ("COLDMARK_SINK", "stdout,http,otlp"),
        ("COLDMARK_HTTP_ENDPOINT", "https://collector.example/ingest"),
    ];
    let (unset, warnings) = parse(&base);
    assert!(warnings.is_empty(), "{warnings:?}");
    let defaults = documented_defaults();
    assert!(
        defaults.len() >= 20,
        "the table was not found: {defaults:?}"
    );
    for (name, default) in &defaults {
        if base.iter().any(|(set, _)| set == name) {
            continue;
        }
        let mut vars = base.to_vec();
        vars.push((name, default));
        let (set, warnings) = parse(&vars);
        assert!(warnings.is_empty(), "{name}={default}: {warnings:?}");
        assert_eq!(
            format!("{set:?}"),
            format!("{unset:?}"),
            "{name}: docs/configuration.md's default `{default}` is not the code's"
        );
    }
    // COLDMARK_SINK's, which the base sets.
    assert_eq!(
        parse(&[("COLDMARK_SINK", "stdout")]).0.sinks,
        SinkChoice::DEFAULT
    );
}
