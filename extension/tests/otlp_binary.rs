//! The real `coldmark` binary with `COLDMARK_SINK=stdout,otlp`, against the fake Extensions +
//! Telemetry API and one scripted intake per signal (`OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`):
//! what arrives (decoded with OpenTelemetry's own message types), and every fault the HTTP sink
//! is held to — collector down, 429 with `Retry-After`, 503 (retried) and 500 (not), a partial
//! success, a redirect, a collector that stalls at SHUTDOWN; and a failed init with its retry,
//! both in the waiting request's trace. Nothing is lost uncounted (the
//! `shutdown` marker's `dropped`), each signal's first loss gives one warning naming it, and
//! SHUTDOWN ends inside Lambda's 2 s deadline.
//!
//! The real collector (rotel) is in `otlp_rotel.rs`.

use std::time::{Duration, Instant};

use chrono::Utc;
use coldmark_testkit::{fake_lambda, http_collector};
use fake_lambda::{
    init_records, init_records_lambda_order, invoke_records, FakeLambda, Finished, Telemetry,
};
use http_collector::{refused_addr, Act, Collector, Seen};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use serde_json::Value as Json;

const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);
/// INVOKE → next `/event/next`: well under 1 ms when healthy; no network wait fits under this.
const GAP_BOUND: Duration = Duration::from_millis(50);
const SECRET: &str = "otlp-hdr-secret-31";
/// The request that waits for the init, and its trace header.
const REQUEST: &str = "5759e988-bd862e3fe1be46a994272793";
const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
/// Items queued before the `shutdown` marker: the init's and the invocation's log records, the
/// init's two data points (count and duration), its four spans (init, function, extensions,
/// coldmark).
const ITEMS_BEFORE_SHUTDOWN: u64 = 2 + 2 + 4;

/// One intake per signal.
struct Intakes {
    logs: Collector,
    metrics: Collector,
    traces: Collector,
}

impl Intakes {
    async fn start(logs: Vec<Act>, metrics: Vec<Act>, traces: Vec<Act>) -> Intakes {
        Intakes {
            logs: Collector::start(logs).await,
            metrics: Collector::start(metrics).await,
            traces: Collector::start(traces).await,
        }
    }

    fn vars(&self) -> Vec<(String, String)> {
        vec![
            endpoint("LOGS", &self.logs, "logs"),
            endpoint("METRICS", &self.metrics, "metrics"),
            endpoint("TRACES", &self.traces, "traces"),
        ]
    }
}

fn endpoint(signal: &str, collector: &Collector, path: &str) -> (String, String) {
    (
        format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"),
        format!("http://{}/v1/{path}", collector.addr),
    )
}

/// One environment: an init with its records (runtime ready after 40 ms, init over after
/// 55 ms), one invocation that waited for it (with the X-Ray header), its records, SHUTDOWN.
async fn run(vars: &[(String, String)]) -> Finished {
    let mut all: Vec<(&str, &str)> = vec![
        ("COLDMARK_SINK", "stdout,otlp"),
        ("COLDMARK_OTLP_BACKOFF_MS", "50"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=otlp-hdr-secret-31"),
    ];
    all.extend(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let init_start = Utc::now();
    let coldmark = lambda.spawn_ready(COLDMARK, &all).await;
    lambda.deliver(&init_records(init_start, 40, 55)).await;
    let sent = Instant::now();
    lambda.invoke_traced(REQUEST, TRACE);
    lambda.wait_next(2).await;
    let gap = lambda.next_times()[1] - sent;
    lambda
        .deliver(&invoke_records(REQUEST, Utc::now(), Some(55.0)))
        .await;
    // The function "runs" a little: the background sending happens here.
    tokio::time::sleep(Duration::from_millis(100)).await;
    lambda.shutdown("spindown");
    let out = coldmark.finish(Duration::from_secs(10)).await;
    assert!(out.status.success(), "{:?}\n{}", out.status, out.stderr);
    assert!(gap < GAP_BOUND, "INVOKE → /next took {gap:?}");
    assert!(
        out.exit_after < SHUTDOWN_DEADLINE,
        "SHUTDOWN → exit took {:?}",
        out.exit_after
    );
    assert!(
        !out.stderr.contains(SECRET) && !out.stdout.contains(SECRET),
        "a header value was printed"
    );
    out
}

fn dropped(out: &Finished) -> u64 {
    let shutdown = out.of_kind("shutdown");
    assert_eq!(shutdown.len(), 1, "{}", out.stdout);
    shutdown[0]["dropped"].as_u64().unwrap()
}

fn accepted(collector: &Collector) -> Vec<Seen> {
    collector
        .seen()
        .into_iter()
        .filter(|s| s.act.starts_with("status 2"))
        .collect()
}

fn logs_of(seen: &[Seen]) -> Vec<ExportLogsServiceRequest> {
    seen.iter()
        .map(|s| ExportLogsServiceRequest::decode(s.body.as_slice()).expect("OTLP logs"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_marker_arrives_as_a_record_with_metrics_and_a_joined_init_span() {
    let intakes = Intakes::start(vec![Act::ok()], vec![Act::ok()], vec![Act::ok()]).await;
    let mut vars = intakes.vars();
    vars.push((
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION".into(),
        "gzip".into(),
    ));
    vars.push(("OTEL_SERVICE_NAME".into(), "checkout".into()));
    let out = run(&vars).await;
    assert_eq!(dropped(&out), 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "no warning expected: {}", out.stderr);

    // Logs: every stdout line is one record's body, with the resource and the header.
    let seen = accepted(&intakes.logs);
    assert_eq!(seen[0].path, "/v1/logs");
    assert_eq!(
        seen[0].header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(seen[0].header("x-api-key"), Some(SECRET));
    let requests = logs_of(&seen);
    let bodies: Vec<String> = requests
        .iter()
        .flat_map(|r| &r.resource_logs[0].scope_logs[0].log_records)
        .map(
            |record| match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                other => panic!("body {other:?}"),
            },
        )
        .collect();
    let lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    assert_eq!(bodies, lines, "one record per marker, byte for byte");
    let resource = requests[0].resource_logs[0].resource.as_ref().unwrap();
    let service = resource
        .attributes
        .iter()
        .find(|a| a.key == "service.name")
        .and_then(|a| a.value.as_ref()?.value.clone());
    assert_eq!(service, Some(Value::StringValue("checkout".into())));

    // Metrics: one cold start, 55 ms as 0.055 s.
    let seen = accepted(&intakes.metrics);
    let metrics: Vec<_> = seen
        .iter()
        .map(|s| ExportMetricsServiceRequest::decode(s.body.as_slice()).unwrap())
        .flat_map(|r| r.resource_metrics[0].scope_metrics[0].metrics.clone())
        .collect();
    let cold = metrics
        .iter()
        .find(|m| m.name == "faas.coldstarts")
        .unwrap();
    let Some(metric::Data::Sum(sum)) = &cold.data else {
        panic!("a sum")
    };
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsInt(1))
    );
    let duration = metrics
        .iter()
        .find(|m| m.name == "faas.init_duration")
        .unwrap();
    let Some(metric::Data::Histogram(histogram)) = &duration.data else {
        panic!("a histogram")
    };
    assert_eq!(histogram.data_points[0].count, 1);
    assert_eq!(histogram.data_points[0].sum, Some(0.055));

    // Traces, gzipped: the init and its three shares, in the waiting request's trace.
    let seen = accepted(&intakes.traces);
    assert_eq!(seen[0].header("content-encoding"), Some("gzip"));
    let spans: Vec<_> = seen
        .iter()
        .map(|s| ExportTraceServiceRequest::decode(s.body.as_slice()).unwrap())
        .flat_map(|r| r.resource_spans[0].scope_spans[0].spans.clone())
        .collect();
    assert_eq!(spans.len(), 4, "{spans:?}");
    let root = spans.iter().find(|s| s.name == "Lambda init").unwrap();
    assert_eq!(hex(&root.trace_id), "5759e988bd862e3fe1be46a994272793");
    assert_eq!(hex(&root.parent_span_id), "53995c3f42cd8ad8");
    assert_eq!(
        root.end_time_unix_nano - root.start_time_unix_nano,
        55_000_000
    );
    for child in spans.iter().filter(|s| s.name != "Lambda init") {
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent_span_id, root.span_id, "{}", child.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_counts_every_item_and_warns_once_per_signal() {
    let down = refused_addr().await;
    let vars: Vec<(String, String)> = vec![(
        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        format!("http://{down}"),
    )];
    let out = run(&vars).await;
    assert_eq!(dropped(&out), ITEMS_BEFORE_SHUTDOWN, "{}", out.stderr);
    for signal in ["logs", "metrics", "traces"] {
        let warnings = out.stderr_lines_with(&format!("otlp sink ({signal})"));
        assert_eq!(warnings.len(), 1, "{signal}: {}", out.stderr);
    }
    assert_eq!(
        out.kinds(),
        ["init", "invoke", "shutdown"],
        "stdout unharmed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_waits_for_retry_after_then_delivers() {
    let retry_after = Act::Status(429, vec![("Retry-After", "1".into())]);
    let intakes = Intakes::start(
        vec![retry_after, Act::ok()],
        vec![Act::ok()],
        vec![Act::ok()],
    )
    .await;
    let out = run(&intakes.vars()).await;
    assert_eq!(dropped(&out), 0, "{}", out.stderr);
    let seen = intakes.logs.seen();
    assert_eq!(seen[0].act, "status 429");
    assert!(
        seen[1].at - seen[0].at >= Duration::from_secs(1),
        "Retry-After honoured: {:?}",
        seen[1].at - seen[0].at
    );
    let records: usize = logs_of(&accepted(&intakes.logs))
        .iter()
        .map(|r| r.resource_logs[0].scope_logs[0].log_records.len())
        .sum();
    assert_eq!(records, 3, "every marker once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_retried_and_a_500_is_not() {
    let intakes = Intakes::start(
        vec![Act::ok()],
        vec![Act::status(503), Act::ok()],
        vec![Act::status(500)],
    )
    .await;
    let out = run(&intakes.vars()).await;
    let acts: Vec<String> = intakes
        .metrics
        .seen()
        .iter()
        .map(|s| s.act.clone())
        .collect();
    assert_eq!(acts, ["status 503", "status 200"]);
    assert_eq!(intakes.traces.seen().len(), 1, "OTLP does not retry a 500");
    assert_eq!(dropped(&out), 4, "the four spans: {}", out.stderr);
    let warnings = out.stderr_lines_with("otlp sink (traces)");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(warnings[0].contains("not retried"), "{}", warnings[0]);
    assert!(out.stderr_lines_with("otlp sink (metrics)").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_success_counts_what_the_collector_rejected() {
    let partial = ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 1,
            error_message: "histogram bounds not accepted".into(),
        }),
    }
    .encode_to_vec();
    let intakes = Intakes::start(
        vec![Act::ok()],
        vec![Act::Reply(200, "application/x-protobuf", partial)],
        vec![Act::ok()],
    )
    .await;
    let out = run(&intakes.vars()).await;
    assert_eq!(
        intakes.metrics.seen().len(),
        1,
        "a partial success is not retried"
    );
    assert_eq!(dropped(&out), 1, "{}", out.stderr);
    let warnings = out.stderr_lines_with("otlp sink (metrics)");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(warnings[0].contains("partial success"), "{}", warnings[0]);
    assert!(
        !out.stderr.contains("histogram bounds"),
        "the collector's message is not echoed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_counted_failure_and_nothing_goes_where_it_points() {
    let elsewhere = Collector::start(vec![Act::ok()]).await;
    let location = format!("http://{}/v1/logs?token=s3cr3t", elsewhere.addr);
    let intakes = Intakes::start(
        vec![Act::Status(307, vec![("Location", location)])],
        vec![Act::ok()],
        vec![Act::ok()],
    )
    .await;
    let out = run(&intakes.vars()).await;
    assert!(elsewhere.seen().is_empty(), "the redirect was followed");
    assert_eq!(dropped(&out), 2, "the two log records: {}", out.stderr);
    let warnings = out.stderr_lines_with("otlp sink (logs)");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains(&format!("host 127.0.0.1:{}", elsewhere.addr.port())),
        "{}",
        warnings[0]
    );
    assert!(
        !out.stderr.contains("s3cr3t"),
        "the Location's query is not shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_stalls_at_shutdown_costs_counted_spans_never_the_deadline() {
    let intakes = Intakes::start(
        vec![Act::ok()],
        vec![Act::ok()],
        vec![Act::Slow(Duration::from_secs(30))],
    )
    .await;
    let out = run(&intakes.vars()).await;
    assert_eq!(dropped(&out), 4, "the four spans: {}", out.stderr);
    assert_eq!(intakes.traces.seen().len(), 1);
    assert_eq!(
        out.stderr_lines_with("otlp sink (traces)").len(),
        1,
        "{}",
        out.stderr
    );
    // The other signals were not held up by it.
    assert_eq!(
        logs_of(&accepted(&intakes.logs)).len(),
        intakes.logs.seen().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_sends_otlp_json() {
    let intakes = Intakes::start(vec![Act::ok()], vec![Act::ok()], vec![Act::ok()]).await;
    let mut vars = intakes.vars();
    vars.push(("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/json".into()));
    let out = run(&vars).await;
    assert_eq!(dropped(&out), 0, "{}", out.stderr);
    for collector in [&intakes.logs, &intakes.metrics, &intakes.traces] {
        let seen = accepted(collector);
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
    }
    let json: serde_json::Value = serde_json::from_slice(&intakes.traces.seen()[0].body).unwrap();
    let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "5759e988bd862e3fe1be46a994272793");
    let records: ExportLogsServiceRequest =
        serde_json::from_slice(&intakes.logs.seen()[0].body).unwrap();
    assert!(!records.resource_logs[0].scope_logs[0]
        .log_records
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_chosen_it_reads_nothing_and_sends_nothing() {
    let collector = Collector::start(vec![Act::ok()]).await;
    let lambda = FakeLambda::start(Telemetry::NotSupported).await;
    let endpoint = format!("http://{}", collector.addr);
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ];
    let coldmark = lambda.spawn_ready(COLDMARK, &vars).await;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    let out = lambda.spindown(coldmark, Duration::from_secs(10)).await;
    // (The fake answers the subscription as RIE does: that warning is the only one.)
    assert!(out.stderr_lines_with("OTEL").is_empty(), "{}", out.stderr);
    assert!(out.stderr_lines_with("otlp").is_empty(), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_eq!(out.kinds(), ["init", "invoke", "shutdown"]);
    assert!(collector.seen().is_empty());
}

/// An init in the order of Lambda's own init code, in `phase`, ending with `status` (and
/// `error_type`).
fn init_ending(
    phase: &str,
    start: chrono::DateTime<Utc>,
    init_ms: i64,
    status: &str,
    error_type: Option<&str>,
) -> Vec<Json> {
    let mut records = init_records_lambda_order(start, init_ms);
    for record in &mut records {
        let body = &mut record["record"];
        if body.get("phase").is_some() {
            body["phase"] = phase.into();
        }
        if body.get("status").is_some() {
            body["status"] = status.into();
            if let Some(error_type) = error_type {
                body["errorType"] = error_type.into();
            }
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_init_and_its_retry_both_join_the_waiting_requests_trace() {
    let intakes = Intakes::start(vec![Act::ok()], vec![Act::ok()], vec![Act::ok()]).await;
    let mut vars = vec![("COLDMARK_SINK".to_string(), "stdout,otlp".to_string())];
    vars.extend(intakes.vars());
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let ms = chrono::Duration::milliseconds;
    // Lambda's order: the init fails; the first request has Lambda run init again inside its
    // invocation (phase `invoke`) before it is handed over.
    let t0 = Utc::now() - ms(336);
    let coldmark = lambda.spawn_ready(COLDMARK, &vars).await;
    lambda
        .deliver(&init_ending(
            "init",
            t0,
            41,
            "error",
            Some("Runtime.ExitError"),
        ))
        .await;
    let retry = t0 + ms(300);
    lambda
        .deliver(&init_ending("invoke", retry, 35, "success", None))
        .await;
    lambda.invoke_traced(REQUEST, TRACE);
    lambda.wait_next(2).await;
    lambda
        .deliver(&invoke_records(REQUEST, retry + ms(36), Some(35.0)))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let out = lambda.spindown(coldmark, Duration::from_secs(10)).await;
    assert_eq!(
        out.kinds(),
        ["init", "init", "invoke", "shutdown"],
        "{}",
        out.stderr
    );
    assert_eq!(dropped(&out), 0, "{}", out.stderr);

    let spans: Vec<_> = accepted(&intakes.traces)
        .iter()
        .map(|s| ExportTraceServiceRequest::decode(s.body.as_slice()).unwrap())
        .flat_map(|r| r.resource_spans[0].scope_spans[0].spans.clone())
        .collect();
    let inits: Vec<_> = spans.iter().filter(|s| s.name == "Lambda init").collect();
    assert_eq!(inits.len(), 2, "{spans:?}");
    for init in &inits {
        assert_eq!(hex(&init.trace_id), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(hex(&init.parent_span_id), "53995c3f42cd8ad8");
    }
    let failed: Vec<_> = inits.iter().filter_map(|s| s.status.as_ref()).collect();
    assert_eq!(failed.len(), 1, "only the failed init is an error");
    assert_eq!(failed[0].code, StatusCode::Error as i32);
    assert_eq!(failed[0].message, "Runtime.ExitError");

    let metrics: Vec<_> = accepted(&intakes.metrics)
        .iter()
        .map(|s| ExportMetricsServiceRequest::decode(s.body.as_slice()).unwrap())
        .flat_map(|r| r.resource_metrics[0].scope_metrics[0].metrics.clone())
        .filter(|m| m.name == "faas.coldstarts")
        .collect();
    let mut statuses: Vec<String> = metrics
        .iter()
        .flat_map(|m| match &m.data {
            Some(metric::Data::Sum(sum)) => sum.data_points.clone(),
            _ => Vec::new(),
        })
        .map(|point| {
            let status = point
                .attributes
                .iter()
                .find(|a| a.key == "coldmark.init_status")
                .and_then(|a| a.value.as_ref()?.value.clone());
            match status {
                Some(Value::StringValue(s)) => s,
                other => panic!("init_status {other:?}"),
            }
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["error", "success"], "two cold starts, by status");
}
