//! The OTLP sink's settings as the OpenTelemetry specification defines the variables: endpoint
//! paths, per-signal layering, headers, protocol, compression, timeout, resource attributes,
//! and the same refusals as the HTTP sink, never showing a value.

use super::*;
use std::collections::HashMap;

const SECRET: &str = "s3cr3t-T0KEN";

fn read(vars: &[(&str, &str)]) -> (Option<OtlpSettings>, Vec<String>) {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    OtlpSettings::read(&move |name| map.get(name).cloned(), true)
}

fn on(vars: &[(&str, &str)]) -> OtlpSettings {
    let (settings, warnings) = read(vars);
    assert!(warnings.is_empty(), "{warnings:?}");
    settings.expect("the sink is on")
}

fn url(settings: &OtlpSettings, signal: Signal) -> String {
    settings.signal(signal).unwrap().endpoint.to_string()
}

fn assert_no_secret(warnings: &[String]) {
    for w in warnings {
        assert!(!w.contains(SECRET), "a warning shows a value: {w}");
        assert!(!w.contains("example.invalid"), "a warning shows a URL: {w}");
    }
}

#[test]
fn unselected_reads_nothing_and_says_nothing() {
    let map = HashMap::from([(
        "OTEL_EXPORTER_OTLP_ENDPOINT".to_string(),
        "not a url".to_string(),
    )]);
    let (settings, warnings) = OtlpSettings::read(&move |n| map.get(n).cloned(), false);
    assert!(settings.is_none());
    assert!(
        warnings.is_empty(),
        "the function's own SDK variables: {warnings:?}"
    );
}

#[test]
fn defaults_are_the_specifications() {
    let s = on(&[]);
    assert_eq!(url(&s, Signal::Logs), "http://localhost:4318/v1/logs");
    assert_eq!(url(&s, Signal::Metrics), "http://localhost:4318/v1/metrics");
    assert_eq!(url(&s, Signal::Traces), "http://localhost:4318/v1/traces");
    for (_, signal) in &s.signals {
        assert_eq!(signal.protocol, Protocol::Protobuf);
        assert!(!signal.gzip);
        assert_eq!(signal.timeout, Duration::from_millis(10_000));
        assert!(signal.headers.is_empty());
    }
    assert_eq!(s.retries, DEFAULT_RETRIES);
    assert!(s.proxy.is_none() && s.service_name.is_none());
    assert!(s.resource_attributes.is_empty());
}

#[test]
fn the_base_endpoint_gets_the_signal_path_and_a_signal_endpoint_is_used_as_is() {
    // The specification's own examples.
    let s = on(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]);
    assert_eq!(url(&s, Signal::Traces), "http://collector:4318/v1/traces");
    let s = on(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://collector:4318/mycollector/",
    )]);
    assert_eq!(
        url(&s, Signal::Metrics),
        "https://collector:4318/mycollector/v1/metrics"
    );
    let s = on(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "https://logs.example:443/custom/path",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318",
        ),
    ]);
    assert_eq!(url(&s, Signal::Logs), "https://logs.example/custom/path");
    assert_eq!(
        url(&s, Signal::Metrics),
        "http://collector:4318/base/v1/metrics"
    );
    assert_eq!(url(&s, Signal::Traces), "http://127.0.0.1:4318/");
}

#[test]
fn per_signal_settings_win_over_the_generic_ones() {
    let s = on(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "250"),
    ]);
    let logs = s.signal(Signal::Logs).unwrap();
    let metrics = s.signal(Signal::Metrics).unwrap();
    let traces = s.signal(Signal::Traces).unwrap();
    assert_eq!(
        (logs.protocol, metrics.protocol, traces.protocol),
        (Protocol::Json, Protocol::Protobuf, Protocol::Json)
    );
    assert_eq!((logs.gzip, metrics.gzip, traces.gzip), (false, true, true));
    assert_eq!(logs.timeout, Duration::from_millis(500));
    assert_eq!(traces.timeout, Duration::from_millis(250));
}

#[test]
fn headers_are_decoded_merged_per_signal_and_secret() {
    let s = on(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Bearer%20s3cr3t-T0KEN,x-team=a%2Cb",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "authorization=Basic%20other",
        ),
    ]);
    let logs = &s.signal(Signal::Logs).unwrap().headers;
    assert_eq!(logs["authorization"].as_bytes(), b"Bearer s3cr3t-T0KEN");
    assert_eq!(logs["x-team"].as_bytes(), b"a,b");
    assert!(logs["authorization"].is_sensitive());
    let traces = &s.signal(Signal::Traces).unwrap().headers;
    assert_eq!(traces["authorization"].as_bytes(), b"Basic other");
    assert_eq!(traces.get_all("authorization").iter().count(), 1);
    assert_eq!(traces["x-team"].as_bytes(), b"a,b");
    assert!(
        !format!("{s:?}").contains(SECRET),
        "Debug shows a header value"
    );
}

#[test]
fn grpc_turns_the_sink_off_with_one_warning() {
    for var in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    ] {
        let (settings, warnings) = read(&[(var, "grpc")]);
        assert!(settings.is_none(), "{var}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with(var) && warnings[0].contains("OTLP sink off"));
    }
}

#[test]
fn bad_values_fall_back_with_one_warning_each() {
    let (settings, warnings) = read(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
        ("COLDMARK_OTLP_RETRIES", "many"),
        ("COLDMARK_OTLP_SIGNALS", "logs,profiles"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=a,s3cr3t-T0KEN"),
    ]);
    let settings = settings.expect("still on");
    assert_eq!(warnings.len(), 6, "{warnings:?}");
    for (warning, var) in warnings.iter().zip([
        "COLDMARK_OTLP_SIGNALS",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "COLDMARK_OTLP_RETRIES",
        "OTEL_RESOURCE_ATTRIBUTES",
    ]) {
        assert!(warning.starts_with(var), "{warning}");
    }
    assert_no_secret(&warnings);
    assert_eq!(settings.signals.len(), 3);
    assert!(settings.resource_attributes.is_empty(), "discarded whole");
    assert_eq!(
        settings.signal(Signal::Logs).unwrap().protocol,
        Protocol::Protobuf
    );
}

#[test]
fn unusable_endpoints_and_headers_turn_the_sink_off_without_showing_them() {
    for (var, value) in [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "example.invalid:4318/s3cr3t-T0KEN",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "ftp://example.invalid/",
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "s3cr3t-T0KEN"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            "Authorization=s3cr3t-T0KEN%0A",
        ),
        ("COLDMARK_HTTP_PROXY", "s3cr3t-T0KEN"),
    ] {
        let (settings, warnings) = read(&[(var, value)]);
        assert!(settings.is_none(), "{var}");
        assert_eq!(warnings.len(), 1, "{var}: {warnings:?}");
        assert!(warnings[0].starts_with(var), "{warnings:?}");
        assert_no_secret(&warnings);
    }
}

/// Without Unicode host names in the layer (see `idna_adapter` in its Cargo.toml), an endpoint
/// or proxy named with one turns the sink off with words that name the `xn--` form.
#[test]
fn a_host_name_that_is_not_ascii_names_its_xn_form() {
    for var in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "COLDMARK_HTTP_PROXY",
    ] {
        let (settings, warnings) = read(&[(var, "http://bücher.example.invalid:4318")]);
        assert!(settings.is_none(), "{var}");
        assert_eq!(warnings.len(), 1, "{var}: {warnings:?}");
        assert!(
            warnings[0].starts_with(&format!("{var}'s host name is not ASCII"))
                && warnings[0].contains("xn--"),
            "{warnings:?}"
        );
        assert_no_secret(&warnings);
    }
    let (settings, warnings) = read(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://xn--bcher-kva.example.invalid:4318",
    )]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(settings.is_some());
}

#[test]
fn credentials_over_plain_http_follow_the_http_sinks_rule() {
    let with = |endpoint: &'static str, opt_in: bool| {
        let mut vars = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cr3t-T0KEN"),
        ];
        if opt_in {
            vars.push(("COLDMARK_OTLP_ALLOW_PLAINTEXT_HEADERS", "true"));
        }
        let (settings, warnings) = read(&vars);
        assert_no_secret(&warnings);
        (settings.is_some(), warnings)
    };
    for quiet in [
        "http://127.0.0.1:4318",
        "http://localhost:4318",
        "https://example.invalid",
    ] {
        assert_eq!(with(quiet, false), (true, Vec::new()), "{quiet}");
    }
    let (on, warnings) = with("http://10.0.0.7:4318", false);
    assert!(on);
    assert_eq!(
        warnings.len(),
        1,
        "one warning for three signals: {warnings:?}"
    );
    let (on, warnings) = with("http://example.invalid:4318", false);
    assert!(!on);
    assert!(warnings[0].contains("COLDMARK_OTLP_ALLOW_PLAINTEXT_HEADERS"));
    let (on, warnings) = with("http://example.invalid:4318", true);
    assert!(on);
    assert_eq!(warnings.len(), 1);
    // No headers, nothing to protect.
    assert!(
        read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://203.0.113.9:4318")])
            .0
            .is_some()
    );
}

#[test]
fn a_proxy_only_when_coldmark_is_told() {
    let s = on(&[
        ("HTTP_PROXY", "http://127.0.0.1:3128"),
        ("HTTPS_PROXY", "http://127.0.0.1:3128"),
    ]);
    assert!(s.proxy.is_none());
    let s = on(&[("COLDMARK_HTTP_PROXY", "http://127.0.0.1:3129")]);
    assert_eq!(s.proxy.unwrap().port(), Some(3129));
}

#[test]
fn signals_service_name_and_resource_attributes() {
    let s = on(&[
        ("COLDMARK_OTLP_SIGNALS", "metrics, traces"),
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod,team=pay%20ments,team=payments",
        ),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
    ]);
    assert!(s.signal(Signal::Logs).is_none());
    assert!(s.signal(Signal::Metrics).is_some() && s.signal(Signal::Traces).is_some());
    assert_eq!(s.service_name.as_deref(), Some("checkout"));
    assert_eq!(
        s.resource_attributes,
        vec![
            (
                "deployment.environment.name".to_string(),
                "prod".to_string()
            ),
            ("team".to_string(), "payments".to_string()),
        ]
    );
    assert_eq!(s.region.as_deref(), Some("eu-west-1"));
    assert_eq!(s.memory_mb, Some(512));
}
