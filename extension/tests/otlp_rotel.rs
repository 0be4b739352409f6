//! The real `coldmark` binary with `COLDMARK_SINK=stdout,otlp` against a real OpenTelemetry
//! collector (rotel, from PyPI; `.ci/run` installs it), asserting on what the collector itself
//! printed that it received: every marker as a log record with its attributes, the cold-start
//! counter and the init-duration histogram with their values, the init span and its children
//! inside the X-Ray trace of the request that waited; over protobuf, gzipped, and OTLP/JSON.
//!
//! rotel (0.0.1a15) misreads OTLP/JSON metrics: a 64-bit integer written as a string — the form
//! the OTLP specification's JSON encoding gives them, and the only one its own example uses for
//! a histogram's counts — is dropped without an error. The last test shows it on the
//! specification's own example (`data/otlp-example-metrics.json`, from opentelemetry-proto's
//! `examples/`), read correctly by the same collector as protobuf; coldmark's JSON is checked by
//! its own decode test (`sink/otlp/encode/tests.rs`), and `http/json` is asserted here for the
//! signals rotel decodes correctly.

use std::time::Duration;

use chrono::Utc;
use coldmark_testkit::fake_lambda::{
    init_records, invoke_records, FakeLambda, Finished, Telemetry,
};
use coldmark_testkit::rotel::Rotel;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use serde_json::Value;

const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);
const REQUEST: &str = "5759e988-bd862e3fe1be46a994272793";
const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const TRACE_ID: &str = "5759e988bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";
/// rotel prints what it received within its batch timeout (10 ms here); this is the most a
/// test waits for it.
const ARRIVAL: Duration = Duration::from_secs(5);

/// One environment (init of 55 ms with the function ready at 40, one invocation that waited
/// for it, with the X-Ray header), sending to `rotel` with `extra` settings. Returns coldmark's
/// output, and rotel's once the three log records and the four spans are printed.
async fn run(rotel: &Rotel, extra: &[(&str, &str)]) -> (Finished, String) {
    let endpoint = rotel.endpoint();
    let mut vars = vec![
        ("COLDMARK_SINK", "stdout,otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
    ];
    vars.extend_from_slice(extra);
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let init_start = Utc::now();
    let coldmark = lambda.spawn_ready(COLDMARK, &vars).await;
    lambda.deliver(&init_records(init_start, 40, 55)).await;
    lambda.invoke_traced(REQUEST, TRACE);
    lambda.wait_next(2).await;
    lambda
        .deliver(&invoke_records(REQUEST, Utc::now(), Some(55.0)))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let out = lambda.spindown(coldmark, Duration::from_secs(10)).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.exit_after < SHUTDOWN_DEADLINE, "{:?}", out.exit_after);
    assert!(out.stderr.is_empty(), "no warning expected: {}", out.stderr);
    assert_eq!(out.of_kind("shutdown")[0]["dropped"], 0);
    let printed = rotel.wait_for(ARRIVAL, |o| {
        o.matches("LogRecord #").count() >= 3 && o.matches("Span #").count() >= 4
    });
    (out, printed)
}

/// The attribute line rotel prints for a marker field (the mapping of docs/markers.md), or
/// `None` for a field that is not an attribute.
fn attribute_line(field: &str, value: &Value) -> Option<String> {
    const NOT_ATTRIBUTES: [&str; 10] = [
        "coldmark",
        "timestamp",
        "function_name",
        "function_version",
        "_aws",
        "ColdStart",
        "InitDuration",
        "RuntimeInitDuration",
        "ExtensionsInitDuration",
        "InitError",
    ];
    if NOT_ATTRIBUTES.contains(&field) || value.is_null() {
        return None;
    }
    let key = match field {
        "function_request_id" => "faas.invocation_id".to_string(),
        "cold_start" => "faas.coldstart".to_string(),
        "coldmark_version" => "coldmark.version".to_string(),
        "function_memory_size" => {
            let bytes = value.as_u64()? * 1024 * 1024;
            return Some(format!("-> faas.max_memory: Int({bytes})"));
        }
        other => format!("coldmark.{other}"),
    };
    let shown = match value {
        Value::String(s) => format!("Str({s})"),
        Value::Bool(b) => format!("Bool({b})"),
        Value::Number(n) if n.is_f64() => format!("Double({})", n.as_f64()?),
        Value::Number(n) => format!("Int({n})"),
        // Lists and maps are checked by their key only.
        _ => return Some(format!("-> {key}: ")),
    };
    Some(format!("-> {key}: {shown}"))
}

/// Every stdout marker is one log record in rotel's output, with each field as its attribute.
fn assert_every_marker_is_a_record(out: &Finished, printed: &str) {
    for line in out.stdout.lines() {
        let body = format!("Body: Str({line})");
        let at = printed
            .find(&body)
            .unwrap_or_else(|| panic!("no record for {line}\nin:\n{printed}"));
        let record = &printed[at..];
        let record = &record[..record.find("Flags:").unwrap_or(record.len())];
        let marker: Value = serde_json::from_str(line).unwrap();
        for (field, value) in marker.as_object().unwrap() {
            if let Some(expected) = attribute_line(field, value) {
                assert!(
                    record.contains(&expected),
                    "{field}: no `{expected}` in the record:\n{record}"
                );
            }
        }
        if marker["coldmark"] == "invoke" {
            assert!(
                record.contains(&format!("Trace ID       : {TRACE_ID}")),
                "{record}"
            );
        }
    }
}

/// The lines of the block that starts with `start` (up to the next blank-free section header
/// `until`).
fn block<'a>(printed: &'a str, start: &str, until: &str) -> &'a str {
    let at = printed
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in:\n{printed}"));
    let rest = &printed[at..];
    let end = rest[start.len()..]
        .find(until)
        .map_or(rest.len(), |i| i + start.len());
    &rest[..end]
}

fn assert_metrics(printed: &str) {
    let count = block(printed, "Name: faas.coldstarts", "Metric #");
    assert!(count.contains("DataType: Sum"), "{count}");
    assert!(count.contains("IsMonotonic: true"), "{count}");
    assert!(count.contains("AGGREGATION_TEMPORALITY_DELTA"), "{count}");
    assert!(count.contains("Unit: {coldstart}"), "{count}");
    assert!(count.contains("Value: 1\n"), "{count}");
    for attribute in [
        "-> coldmark.init_type: Str(on-demand)",
        "-> coldmark.init_phase: Str(init)",
        "-> coldmark.init_status: Str(success)",
        "-> coldmark.proactive: Bool(false)",
    ] {
        assert!(count.contains(attribute), "{attribute}: {count}");
    }
    let duration = block(printed, "Name: faas.init_duration", "Resource");
    assert!(duration.contains("DataType: Histogram"), "{duration}");
    assert!(duration.contains("Unit: s"), "{duration}");
    assert!(duration.contains("Count: 1\n"), "{duration}");
    assert!(duration.contains("Sum: 0.055\n"), "{duration}");
    // 0.055 s is in (0.05, 0.075]: the fifth bucket.
    assert!(duration.contains("Buckets #4, Count: 1"), "{duration}");
}

/// The init span in the request's trace, under its parent, with its three shares as children.
fn assert_init_span(printed: &str) {
    let spans: Vec<&str> = printed.split("Span #").skip(1).collect();
    let field = |span: &str, name: &str| -> String {
        let line = span
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {span}"));
        line.split(':').nth(1).unwrap().trim().to_string()
    };
    let root = spans
        .iter()
        .find(|s| field(s, "Name") == "Lambda init")
        .unwrap_or_else(|| panic!("no init span in:\n{printed}"));
    assert_eq!(field(root, "Trace ID"), TRACE_ID);
    assert_eq!(field(root, "Parent ID"), PARENT);
    assert!(root.contains("-> faas.coldstart: Bool(true)"), "{root}");
    assert!(
        root.contains(&format!("-> faas.invocation_id: Str({REQUEST})")),
        "{root}"
    );
    let root_id = field(root, "ID ");
    let mut children: Vec<String> = spans
        .iter()
        .filter(|s| field(s, "Parent ID") == root_id)
        .map(|s| {
            assert_eq!(field(s, "Trace ID"), TRACE_ID);
            field(s, "Name")
        })
        .collect();
    children.sort();
    assert_eq!(
        children,
        ["coldmark init", "extensions init", "function init"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rotel (PyPI) and libpython3.11; `bash .ci/run` installs them and runs this test"]
async fn every_marker_its_metrics_and_the_joined_init_span_reach_a_real_collector() {
    let rotel = Rotel::start();
    let (out, printed) = run(&rotel, &[]).await;
    assert_every_marker_is_a_record(&out, &printed);
    let printed = rotel.wait_for(ARRIVAL, |o| o.contains("Buckets #14"));
    assert_metrics(&printed);
    assert_init_span(&printed);
    // The resource, once per request.
    for attribute in [
        "-> service.name: Str(clock)",
        "-> cloud.provider: Str(aws)",
        "-> cloud.platform: Str(aws_lambda)",
        "-> cloud.region: Str(eu-west-1)",
        "-> faas.name: Str(clock)",
        "-> faas.version: Str($LATEST)",
        "-> faas.instance: Str(instance-0001)",
        "-> faas.max_memory: Int(134217728)",
    ] {
        assert!(printed.contains(attribute), "{attribute}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rotel (PyPI) and libpython3.11; `bash .ci/run` installs them and runs this test"]
async fn gzipped_requests_arrive_whole() {
    let rotel = Rotel::start();
    let (out, printed) = run(&rotel, &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]).await;
    assert_every_marker_is_a_record(&out, &printed);
    let printed = rotel.wait_for(ARRIVAL, |o| o.contains("Buckets #14"));
    assert_metrics(&printed);
    assert_init_span(&printed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rotel (PyPI) and libpython3.11; `bash .ci/run` installs them and runs this test"]
async fn otlp_json_logs_and_traces_reach_a_real_collector() {
    let rotel = Rotel::start();
    let (out, printed) = run(
        &rotel,
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
    )
    .await;
    assert_every_marker_is_a_record(&out, &printed);
    assert_init_span(&printed);
    // Metrics as JSON arrive by name (their values are what rotel misreads: the last test).
    let printed = rotel.wait_for(ARRIVAL, |o| o.contains("Name: faas.init_duration"));
    assert!(printed.contains("Name: faas.coldstarts"), "{printed}");
}

/// The OTLP specification's own metrics example, posted to rotel as OTLP/JSON and, decoded by
/// OpenTelemetry's own types, as protobuf: the same histogram reads whole from protobuf and as
/// an empty metric from JSON (its counts are 64-bit integers written as strings, as the
/// specification's JSON encoding writes them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs rotel (PyPI) and libpython3.11; `bash .ci/run` installs them and runs this test"]
async fn the_collector_misreads_the_specifications_own_otlp_json_example() {
    let example = include_str!("data/otlp-example-metrics.json");
    let decoded: ExportMetricsServiceRequest =
        serde_json::from_str(example).expect("the example is valid OTLP/JSON");
    let histogram = &decoded.resource_metrics[0].scope_metrics[0].metrics[2];
    assert_eq!(histogram.name, "my.histogram");
    let client = reqwest::Client::new();
    let post = |rotel: &Rotel, content_type: &'static str, body: Vec<u8>| {
        client
            .post(format!("{}/v1/metrics", rotel.endpoint()))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let rotel = Rotel::start();
    let answer = post(&rotel, "application/x-protobuf", decoded.encode_to_vec())
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let printed = rotel.wait_for(ARRIVAL, |o| o.contains("Name: my.exponential.histogram"));
    let read = block(&printed, "Name: my.histogram", "Metric #");
    assert!(read.contains("DataType: Histogram"), "{read}");
    assert!(read.contains("Count: 2\n"), "{read}");
    drop(rotel);

    let rotel = Rotel::start();
    let answer = post(&rotel, "application/json", example.as_bytes().to_vec())
        .await
        .unwrap();
    assert!(answer.status().is_success(), "accepted, without a word");
    let printed = rotel.wait_for(ARRIVAL, |o| o.contains("Name: my.exponential.histogram"));
    let misread = block(&printed, "Name: my.histogram", "Metric #");
    assert!(
        misread.contains("DataType: Empty"),
        "rotel now reads the example's JSON histogram: assert JSON metrics in \
         otlp_json_logs_and_traces_reach_a_real_collector too\n{misread}"
    );
}
