//! Markers → OTLP, field by field, and the OTLP/JSON the sink writes read back as the OTLP
//! specification defines it (lowerCamelCase, hex ids, enums as integers, 64-bit integers as
//! strings).

use super::*;
use crate::marker::{ExtensionInfo, InvokeMarker, ShutdownMarker, Source, SCHEMA};
use chrono::TimeZone;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use prost::Message;
use serde_json::json;

const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

fn common() -> Common {
    Common {
        schema: SCHEMA,
        timestamp: at(1_795_000_000_000),
        function_name: "checkout".into(),
        function_version: "7".into(),
        env_id: "instance-0001".into(),
        tenant_id: None,
        coldmark_version: VERSION.into(),
    }
}

fn init(duration: Option<f64>) -> InitMarker {
    InitMarker {
        common: common(),
        init_type: "on-demand".into(),
        init_phase: "init".into(),
        init_duration_ms: duration,
        config_fingerprint: "c65dd9a06e46".into(),
        function_memory_size: Some(128),
        source: Source::Telemetry,
        runtime_init_ms: Some(30.0),
        extensions_init_ms: Some(9.0),
        coldmark_init_ms: Some(5.5),
        extensions: Some(vec![ExtensionInfo {
            name: "coldmark".into(),
            state: Some("Ready".into()),
            events: vec!["INVOKE".into(), "SHUTDOWN".into()],
        }]),
        cold_start_metric: 1,
        ..InitMarker::default()
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a V> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(value: Option<&V>) -> &str {
    match value {
        Some(V::StringValue(s)) => s,
        other => panic!("not a string: {other:?}"),
    }
}

/// Ids from a counter: 01 01 …, 02 02 …
fn counter() -> impl FnMut() -> [u8; 16] {
    let mut n = 0u8;
    move || {
        n += 1;
        [n; 16]
    }
}

#[test]
fn the_resource_names_the_function_and_the_user_wins() {
    let info = ResourceInfo {
        service_name: None,
        user: vec![
            ("deployment.environment.name".into(), "prod".into()),
            ("faas.name".into(), "renamed".into()),
        ],
        region: Some("eu-west-1".into()),
        memory_mb: Some(128),
    };
    let r = resource(&info, &common());
    let get = |k| attribute(&r.attributes, k);
    assert_eq!(text(get("service.name")), "checkout");
    assert_eq!(text(get("cloud.provider")), "aws");
    assert_eq!(text(get("cloud.platform")), "aws_lambda");
    assert_eq!(text(get("cloud.region")), "eu-west-1");
    assert_eq!(
        text(get("faas.name")),
        "renamed",
        "the user's attribute wins"
    );
    assert_eq!(text(get("faas.version")), "7");
    assert_eq!(text(get("faas.instance")), "instance-0001");
    assert_eq!(get("faas.max_memory"), Some(&V::IntValue(134_217_728)));
    assert_eq!(text(get("deployment.environment.name")), "prod");
    assert_eq!(
        r.attributes.iter().filter(|a| a.key == "faas.name").count(),
        1
    );
    // OTEL_SERVICE_NAME over a service.name in OTEL_RESOURCE_ATTRIBUTES.
    let info = ResourceInfo {
        service_name: Some("svc".into()),
        user: vec![("service.name".into(), "attr".into())],
        ..ResourceInfo::default()
    };
    let r = resource(&info, &common());
    assert_eq!(text(attribute(&r.attributes, "service.name")), "svc");
    assert!(
        attribute(&r.attributes, "cloud.region").is_none(),
        "unknown: left out"
    );
}

#[test]
fn an_init_marker_is_one_log_record_with_its_fields() {
    let marker = Marker::Init(Box::new(init(Some(39.0))));
    let line = marker.to_line();
    let record = log_record(&marker, &line, at(1_795_000_000_500));
    assert_eq!(record.time_unix_nano, 1_795_000_000_000_000_000);
    assert_eq!(record.observed_time_unix_nano, 1_795_000_000_500_000_000);
    assert_eq!(record.severity_number, SeverityNumber::Info as i32);
    assert_eq!(record.event_name, "coldmark.init");
    assert_eq!(record.body.unwrap().value, Some(V::StringValue(line)));
    let get = |k| attribute(&record.attributes, k);
    assert_eq!(text(get("coldmark.init_type")), "on-demand");
    assert_eq!(
        get("coldmark.init_duration_ms"),
        Some(&V::DoubleValue(39.0))
    );
    assert_eq!(get("coldmark.proactive"), Some(&V::BoolValue(false)));
    assert_eq!(get("coldmark.schema"), Some(&V::IntValue(1)));
    assert_eq!(text(get("coldmark.version")), VERSION);
    assert_eq!(text(get("coldmark.env_id")), "instance-0001");
    assert_eq!(get("faas.max_memory"), Some(&V::IntValue(134_217_728)));
    let Some(V::ArrayValue(extensions)) = get("coldmark.extensions") else {
        panic!("extensions as an array");
    };
    let Some(V::KvlistValue(first)) = extensions.values[0].value.as_ref() else {
        panic!("each extension as a key-value list");
    };
    assert_eq!(text(attribute(&first.values, "name")), "coldmark");
    // Unknown (null) fields, the resource's, the EMF block and values are not attributes.
    for absent in [
        "coldmark.runtime_version",
        "coldmark.function_name",
        "faas.name",
        "coldmark._aws",
        "coldmark.ColdStart",
        "coldmark.InitDuration",
        "coldmark.timestamp",
        "coldmark.coldmark",
    ] {
        assert!(get(absent).is_none(), "{absent}");
    }
}

#[test]
fn an_invoke_record_sits_in_its_requests_trace() {
    let marker = Marker::Invoke(Box::new(InvokeMarker {
        common: common(),
        function_request_id: "r-1".into(),
        cold_start: true,
        seq: 1,
        xray_trace_id: Some(XRAY.into()),
        ..InvokeMarker::default()
    }));
    let record = log_record(&marker, &marker.to_line(), at(0));
    assert_eq!(record.event_name, "coldmark.invoke");
    assert_eq!(hex(&record.trace_id), "5759e988bd862e3fe1be46a994272793");
    assert_eq!(hex(&record.span_id), "53995c3f42cd8ad8");
    assert_eq!(record.flags, 1);
    let get = |k| attribute(&record.attributes, k);
    assert_eq!(text(get("faas.invocation_id")), "r-1");
    assert_eq!(get("faas.coldstart"), Some(&V::BoolValue(true)));
    assert_eq!(get("coldmark.seq"), Some(&V::IntValue(1)));
    assert_eq!(text(get("coldmark.xray_trace_id")), XRAY);
    // A shutdown marker has no trace.
    let shutdown = Marker::Shutdown(ShutdownMarker {
        common: common(),
        reason: "spindown".into(),
        dropped: 2,
        ..ShutdownMarker::default()
    });
    let record = log_record(&shutdown, &shutdown.to_line(), at(0));
    assert!(record.trace_id.is_empty());
    assert_eq!(
        attribute(&record.attributes, "coldmark.dropped"),
        Some(&V::IntValue(2))
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn an_init_is_one_cold_start_and_its_duration_in_seconds() {
    let points = points(&init(Some(39.0)), at(1_795_000_009_000));
    assert_eq!(points.len(), 2);
    let Point::ColdStarts(count) = &points[0] else {
        panic!("the counter first")
    };
    assert_eq!(count.value, Some(number_data_point::Value::AsInt(1)));
    assert_eq!(count.start_time_unix_nano, 1_795_000_000_000_000_000);
    assert_eq!(
        count.time_unix_nano, 1_795_000_000_039_000_000,
        "the init's end"
    );
    assert_eq!(
        text(attribute(&count.attributes, "coldmark.init_type")),
        "on-demand"
    );
    assert_eq!(
        text(attribute(&count.attributes, "coldmark.init_phase")),
        "init"
    );
    let Point::InitDuration(histogram) = &points[1] else {
        panic!("then the histogram")
    };
    assert_eq!((histogram.count, histogram.sum), (1, Some(0.039)));
    assert_eq!((histogram.min, histogram.max), (Some(0.039), Some(0.039)));
    assert_eq!(histogram.explicit_bounds, INIT_DURATION_BOUNDS.to_vec());
    // 0.039 s falls in (0.025, 0.05], the fourth bucket.
    let mut expected = vec![0u64; 15];
    expected[3] = 1;
    assert_eq!(histogram.bucket_counts, expected);
    // Without a duration: counted, no histogram point, the interval ends when it was written.
    let points = super::points(&init(None), at(1_795_000_009_000));
    assert_eq!(points.len(), 1);
    let Point::ColdStarts(count) = &points[0] else {
        panic!()
    };
    assert_eq!(count.time_unix_nano, 1_795_000_009_000_000_000);
    // Longer than the last bound: the overflow bucket.
    let Point::InitDuration(h) = &super::points(&init(Some(12_000.0)), at(0))[1] else {
        panic!()
    };
    assert_eq!(h.bucket_counts[14], 1);
}

#[test]
fn metrics_are_a_delta_counter_and_a_delta_histogram() {
    let mut all = points(&init(Some(39.0)), at(0));
    all.extend(points(&init(None), at(0)));
    let request = metrics_request(&Resource::default(), &all);
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 2);
    assert_eq!(
        (metrics[0].name.as_str(), metrics[0].unit.as_str()),
        ("faas.coldstarts", "{coldstart}")
    );
    let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
        panic!()
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    assert_eq!(sum.data_points.len(), 2);
    assert_eq!(
        (metrics[1].name.as_str(), metrics[1].unit.as_str()),
        ("faas.init_duration", "s")
    );
    let Some(metric::Data::Histogram(h)) = &metrics[1].data else {
        panic!()
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    assert_eq!(h.data_points.len(), 1);
}

#[test]
fn an_init_span_joins_its_requests_trace_with_its_shares_as_children() {
    let ready = Ready {
        init: Box::new(init(Some(39.0))),
        xray: Some(XRAY.into()),
        request_id: Some("r-1".into()),
    };
    let spans = spans(&ready, &mut counter());
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [INIT_SPAN, FUNCTION_SPAN, EXTENSIONS_SPAN, COLDMARK_SPAN]
    );
    let root = &spans[0];
    assert_eq!(hex(&root.trace_id), "5759e988bd862e3fe1be46a994272793");
    assert_eq!(hex(&root.parent_span_id), "53995c3f42cd8ad8");
    assert_eq!(root.span_id, vec![1; 8]);
    assert_eq!(root.flags, 0x301, "sampled, with a remote parent");
    assert_eq!(root.start_time_unix_nano, 1_795_000_000_000_000_000);
    assert_eq!(
        root.end_time_unix_nano - root.start_time_unix_nano,
        39_000_000
    );
    assert_eq!(
        text(attribute(&root.attributes, "faas.invocation_id")),
        "r-1"
    );
    assert_eq!(
        attribute(&root.attributes, "faas.coldstart"),
        Some(&V::BoolValue(true))
    );
    for child in &spans[1..] {
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent_span_id, root.span_id);
        assert_eq!(child.flags, 0x101, "sampled, local parent");
        assert!(child.end_time_unix_nano <= root.end_time_unix_nano);
    }
    let offset = |s: &Span| (s.start_time_unix_nano - root.start_time_unix_nano) / 1_000_000;
    let length = |s: &Span| (s.end_time_unix_nano - s.start_time_unix_nano) / 1_000;
    assert_eq!(
        (offset(&spans[1]), length(&spans[1])),
        (0, 30_000),
        "function"
    );
    assert_eq!(
        (offset(&spans[2]), length(&spans[2])),
        (30, 9_000),
        "extensions, after it"
    );
    assert_eq!(
        (offset(&spans[3]), length(&spans[3])),
        (0, 5_500),
        "coldmark"
    );
}

#[test]
fn without_a_trace_header_an_init_gets_a_trace_of_its_own() {
    let mut partial = init(Some(39.0));
    partial.runtime_init_ms = None;
    partial.extensions_init_ms = None;
    partial.proactive = true;
    let ready = Ready {
        init: Box::new(partial),
        xray: None,
        request_id: None,
    };
    let spans = spans(&ready, &mut counter());
    assert_eq!(
        spans.len(),
        2,
        "the init and coldmark's share: the split is unknown"
    );
    assert_eq!(spans[0].trace_id, vec![1; 16]);
    assert!(spans[0].parent_span_id.is_empty());
    assert_eq!(spans[0].flags, 1);
    assert_eq!(
        attribute(&spans[0].attributes, "faas.coldstart"),
        Some(&V::BoolValue(false))
    );
    // No duration: no end to span to.
    let ready = Ready {
        init: Box::new(init(None)),
        xray: Some(XRAY.into()),
        request_id: None,
    };
    assert!(super::spans(&ready, &mut counter()).is_empty());
}

/// The OTLP/JSON the sink sends, read as the OTLP specification's JSON encoding defines it,
/// and decoded back to the same messages.
#[test]
fn otlp_json_is_the_specifications_and_round_trips() {
    let resource = resource(&ResourceInfo::default(), &common());
    let marker = Marker::Init(Box::new(init(Some(39.0))));
    let line = marker.to_line();
    let logs = logs_request(&resource, &[log_record(&marker, &line, at(0))]);
    let ready = Ready {
        init: Box::new(init(Some(39.0))),
        xray: Some(XRAY.into()),
        request_id: None,
    };
    let traces = traces_request(&resource, &spans(&ready, &mut counter()));
    let metrics = metrics_request(&resource, &points(&init(Some(39.0)), at(0)));

    let logs_json = serde_json::to_value(&logs).unwrap();
    let record = &logs_json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(record["timeUnixNano"], json!("1795000000000000000"));
    assert_eq!(record["severityNumber"], json!(9));
    assert_eq!(record["body"]["stringValue"], json!(line));
    assert_eq!(record["eventName"], json!("coldmark.init"));
    let schema = record["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "coldmark.schema")
        .unwrap();
    assert_eq!(
        schema["value"],
        json!({"intValue": "1"}),
        "int64 as a string"
    );
    let resource_json = &logs_json["resourceLogs"][0]["resource"]["attributes"];
    assert_eq!(
        resource_json[0],
        json!({"key": "service.name", "value": {"stringValue": "checkout"}})
    );

    let traces_json = serde_json::to_value(&traces).unwrap();
    let span = &traces_json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(
        span["traceId"],
        json!("5759e988bd862e3fe1be46a994272793"),
        "hex"
    );
    assert_eq!(span["parentSpanId"], json!("53995c3f42cd8ad8"));
    assert_eq!(span["spanId"], json!("0101010101010101"));
    assert_eq!(span["kind"], json!(1), "enums as integers");
    assert_eq!(span["startTimeUnixNano"], json!("1795000000000000000"));
    assert_eq!(span["name"], json!(INIT_SPAN));

    let metrics_json = serde_json::to_value(&metrics).unwrap();
    let list = &metrics_json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    assert_eq!(list[0]["name"], json!("faas.coldstarts"));
    assert_eq!(list[0]["sum"]["aggregationTemporality"], json!(1));
    assert_eq!(list[0]["sum"]["isMonotonic"], json!(true));
    assert_eq!(list[0]["sum"]["dataPoints"][0]["asInt"], json!("1"));
    let histogram = &list[1]["histogram"]["dataPoints"][0];
    assert_eq!(histogram["count"], json!("1"));
    assert_eq!(histogram["sum"], json!(0.039));
    assert_eq!(histogram["bucketCounts"][3], json!("1"));
    assert_eq!(histogram["explicitBounds"][0], json!(0.005));

    // Each decodes back to what was encoded, through JSON and through protobuf.
    let back: ExportLogsServiceRequest =
        serde_json::from_slice(&serde_json::to_vec(&logs).unwrap()).unwrap();
    assert_eq!(back, logs);
    let back: ExportTraceServiceRequest =
        serde_json::from_slice(&serde_json::to_vec(&traces).unwrap()).unwrap();
    assert_eq!(back, traces);
    let back: ExportMetricsServiceRequest =
        serde_json::from_slice(&serde_json::to_vec(&metrics).unwrap()).unwrap();
    assert_eq!(back, metrics);
    let back = ExportTraceServiceRequest::decode(traces.encode_to_vec().as_slice()).unwrap();
    assert_eq!(back, traces);
}

#[test]
fn a_failed_init_is_counted_with_its_status_and_its_span_is_an_error() {
    let mut failed = init(Some(41.0));
    failed.init_status = "error".into();
    failed.init_error_type = Some("Runtime.ExitError".into());
    failed.init_error_metric = Some(1);
    let Point::ColdStarts(count) = &points(&failed, at(0))[0] else {
        panic!()
    };
    assert_eq!(
        text(attribute(&count.attributes, "coldmark.init_status")),
        "error"
    );
    let ready = Ready {
        init: Box::new(failed.clone()),
        xray: None,
        request_id: None,
    };
    let root = &spans(&ready, &mut counter())[0];
    let status = root.status.as_ref().expect("a status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "Runtime.ExitError");
    let marker = Marker::Init(Box::new(failed));
    let record = log_record(&marker, &marker.to_line(), at(0));
    let get = |k| attribute(&record.attributes, k);
    assert_eq!(text(get("coldmark.init_error_type")), "Runtime.ExitError");
    assert!(
        get("coldmark.InitError").is_none(),
        "the EMF value is not an attribute"
    );
    // `unknown` (no record said) is not a failure.
    let mut unknown = init(Some(41.0));
    unknown.init_status = "unknown".into();
    let ready = Ready {
        init: Box::new(unknown),
        xray: None,
        request_id: None,
    };
    assert!(spans(&ready, &mut counter())[0].status.is_none());
}
