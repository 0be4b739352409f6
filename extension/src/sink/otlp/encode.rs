//! Markers → OTLP messages, following OpenTelemetry's semantic conventions 1.37.0 for FaaS and
//! cloud resources. Pure: no I/O, no clock (times come in), ids from the caller, so that every
//! mapping is a unit test (`encode/tests.rs`). docs/markers.md says the same in a table.
//!
//! - **Resource**: `service.name`, `cloud.provider`/`cloud.platform`/`cloud.region`, `faas.name`,
//!   `faas.version`, `faas.instance`, `faas.max_memory`, then the user's
//!   `OTEL_RESOURCE_ATTRIBUTES` (which win).
//! - **Logs**: one record per marker; the body is the marker's JSON line (byte for byte what
//!   stdout got), the attributes its fields under their semantic-convention names where one
//!   exists and `coldmark.<field>` otherwise. An invoke marker with an X-Ray header carries its
//!   trace and span ids, so the record sits in the request's trace.
//! - **Metrics**, per init: `faas.coldstarts` (a monotonic sum, 1) and `faas.init_duration` (a
//!   histogram in seconds, the buckets semconv advises), both **delta**: every point is one
//!   init, its interval the init itself, so no point repeats another (the process that counts
//!   lives as long as one environment, which a cumulative series would only restate).
//! - **Traces**, per init: the init span (init start → init end) and its known shares as
//!   children: the function's (`runtime_init_ms`), the extensions' (`extensions_init_ms`, after
//!   the function's) and coldmark's own (`coldmark_init_ms`, from the init's start: Lambda starts
//!   the extensions first). In the waiting request's X-Ray trace when it had one (`xray`).

use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, SpanFlags, Status};
use serde_json::Map;

use super::join::Ready;
use super::xray::{self, TraceContext};
use crate::marker::{Common, InitMarker, Marker, VERSION};

/// The semantic conventions followed, as a schema URL on every scope.
pub(crate) const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.37.0";

/// `faas.init_duration`'s buckets, in seconds: the `ExplicitBucketBoundaries` semconv advises.
pub(crate) const INIT_DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Span names.
pub(crate) const INIT_SPAN: &str = "Lambda init";
pub(crate) const FUNCTION_SPAN: &str = "function init";
pub(crate) const EXTENSIONS_SPAN: &str = "extensions init";
pub(crate) const COLDMARK_SPAN: &str = "coldmark init";

/// What the resource says beyond the markers' own fields (from the settings).
#[derive(Clone, Debug, Default)]
pub(crate) struct ResourceInfo {
    /// `OTEL_SERVICE_NAME`.
    pub(crate) service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub(crate) user: Vec<(String, String)>,
    /// `AWS_REGION`.
    pub(crate) region: Option<String>,
    /// The function's memory in MB.
    pub(crate) memory_mb: Option<u64>,
}

/// One metric data point of one init.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Point {
    ColdStarts(NumberDataPoint),
    InitDuration(HistogramDataPoint),
}

fn kv(key: impl Into<String>, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn string(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

fn int(key: &str, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

fn boolean(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

/// Nanoseconds since the epoch (0 before it, which no marker has).
fn nanos(t: DateTime<Utc>) -> u64 {
    t.timestamp_nanos_opt().map_or(0, |n| n.max(0) as u64)
}

fn ms_to_nanos(ms: f64) -> u64 {
    (ms.max(0.0) * 1_000_000.0).round() as u64
}

/// The environment as OpenTelemetry's resource: what coldmark knows, then the user's
/// attributes (which replace coldmark's of the same key), then `OTEL_SERVICE_NAME`.
pub(crate) fn resource(info: &ResourceInfo, common: &Common) -> Resource {
    let mut attributes = vec![
        string("service.name", common.function_name.clone()),
        string("cloud.provider", "aws"),
        string("cloud.platform", "aws_lambda"),
    ];
    if let Some(region) = &info.region {
        attributes.push(string("cloud.region", region.clone()));
    }
    attributes.push(string("faas.name", common.function_name.clone()));
    attributes.push(string("faas.version", common.function_version.clone()));
    attributes.push(string("faas.instance", common.env_id.clone()));
    if let Some(mb) = info.memory_mb {
        attributes.push(int("faas.max_memory", (mb * 1024 * 1024) as i64));
    }
    let mut set = |kv: KeyValue| match attributes.iter_mut().find(|a| a.key == kv.key) {
        Some(existing) => *existing = kv,
        None => attributes.push(kv),
    };
    for (key, value) in &info.user {
        set(string(key, value.clone()));
    }
    if let Some(name) = &info.service_name {
        set(string("service.name", name.clone()));
    }
    Resource {
        attributes,
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    }
}

/// The marker's fields as JSON (what stdout got), for the attribute mapping.
fn fields(marker: &Marker) -> Map<String, serde_json::Value> {
    match serde_json::to_value(marker) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Fields that are not attributes: the kind (the record's event name), the time (the record's
/// time), the resource's (`faas.name`, `faas.version`), and the EMF block and values (CloudWatch
/// metrics, which the OTLP metrics replace).
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

/// A marker field's attribute key: its semantic-convention name where one exists.
fn attribute_key(field: &str) -> String {
    match field {
        "function_request_id" => "faas.invocation_id".to_string(),
        "cold_start" => "faas.coldstart".to_string(),
        "coldmark_version" => "coldmark.version".to_string(),
        other => format!("coldmark.{other}"),
    }
}

/// JSON → an attribute value: strings, booleans, integers, doubles as themselves, arrays and
/// objects as OTLP arrays and key-value lists; `null` → none (the attribute is left out).
fn any_value(json: &serde_json::Value) -> Option<AnyValue> {
    use serde_json::Value as J;
    let value = match json {
        J::Null => return None,
        J::Bool(b) => Value::BoolValue(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => Value::IntValue(i),
            _ => Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => Value::StringValue(s.clone()),
        J::Array(items) => Value::ArrayValue(ArrayValue {
            values: items.iter().filter_map(any_value).collect(),
        }),
        J::Object(map) => Value::KvlistValue(KeyValueList {
            values: map
                .iter()
                .filter_map(|(k, v)| any_value(v).and_then(|a| a.value).map(|a| kv(k, a)))
                .collect(),
        }),
    };
    Some(AnyValue { value: Some(value) })
}

/// The marker's fields as attributes (see [`attribute_key`]); `function_memory_size` becomes
/// `faas.max_memory` in bytes, as semconv counts it.
fn attributes(fields: &Map<String, serde_json::Value>) -> Vec<KeyValue> {
    let mut out = Vec::new();
    for (field, json) in fields {
        if NOT_ATTRIBUTES.contains(&field.as_str()) {
            continue;
        }
        if field == "function_memory_size" {
            if let Some(mb) = json.as_u64() {
                out.push(int("faas.max_memory", (mb * 1024 * 1024) as i64));
            }
            continue;
        }
        if let Some(value) = any_value(json).and_then(|a| a.value) {
            out.push(kv(attribute_key(field), value));
        }
    }
    out
}

/// One log record for one marker. `line` is the marker as written to stdout.
pub(crate) fn log_record(marker: &Marker, line: &str, observed: DateTime<Utc>) -> LogRecord {
    let fields = fields(marker);
    let common = common(marker);
    let mut record = LogRecord {
        time_unix_nano: nanos(common.timestamp),
        observed_time_unix_nano: nanos(observed),
        severity_number: SeverityNumber::Info as i32,
        severity_text: "INFO".to_string(),
        body: Some(AnyValue {
            value: Some(Value::StringValue(line.to_string())),
        }),
        attributes: attributes(&fields),
        event_name: format!("coldmark.{}", marker.kind()),
        ..LogRecord::default()
    };
    if let Marker::Invoke(invoke) = marker {
        if let Some(ctx) = invoke.xray_trace_id.as_deref().and_then(xray::parse) {
            record.trace_id = ctx.trace_id.to_vec();
            if let Some(parent) = ctx.parent_span_id {
                record.span_id = parent.to_vec();
            }
            record.flags = u32::from(ctx.sampled);
        }
    }
    record
}

pub(crate) fn common(marker: &Marker) -> &Common {
    match marker {
        Marker::Init(m) => &m.common,
        Marker::Invoke(m) => &m.common,
        Marker::Shutdown(m) => &m.common,
    }
}

/// The attributes of an init's metric points and span: init type, phase, status (when the
/// marker has one) and whether a request waited.
fn init_attributes(init: &InitMarker, fields: &Map<String, serde_json::Value>) -> Vec<KeyValue> {
    let mut out = vec![
        string("coldmark.init_type", init.init_type.clone()),
        string("coldmark.init_phase", init.init_phase.clone()),
    ];
    if let Some(status) = fields.get("init_status").and_then(|s| s.as_str()) {
        out.push(string("coldmark.init_status", status));
    }
    out.push(boolean("coldmark.proactive", init.proactive));
    out
}

/// When the init began and ended: its start plus its duration; without a duration, `now`
/// (the marker is written after the init, so the interval still holds it).
fn init_interval(init: &InitMarker, now: DateTime<Utc>) -> (u64, u64) {
    let start = nanos(init.common.timestamp);
    let end = match init.init_duration_ms {
        Some(ms) => start + ms_to_nanos(ms),
        None => nanos(now),
    };
    (start, end.max(start))
}

/// An init's metric points: one cold start, and its duration when known.
pub(crate) fn points(init: &InitMarker, now: DateTime<Utc>) -> Vec<Point> {
    let fields = fields(&Marker::Init(Box::new(init.clone())));
    let attributes = init_attributes(init, &fields);
    let (start, end) = init_interval(init, now);
    let mut out = vec![Point::ColdStarts(NumberDataPoint {
        attributes: attributes.clone(),
        start_time_unix_nano: start,
        time_unix_nano: end,
        value: Some(number_data_point::Value::AsInt(1)),
        ..NumberDataPoint::default()
    })];
    if let Some(ms) = init.init_duration_ms {
        // Through whole microseconds (the markers' precision): 9.694 ms is 0.009694 s, not
        // 0.009694000000000001.
        let seconds = (ms.max(0.0) * 1000.0).round() / 1_000_000.0;
        let bucket = INIT_DURATION_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(INIT_DURATION_BOUNDS.len());
        let mut bucket_counts = vec![0u64; INIT_DURATION_BOUNDS.len() + 1];
        bucket_counts[bucket] = 1;
        out.push(Point::InitDuration(HistogramDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: end,
            count: 1,
            sum: Some(seconds),
            bucket_counts,
            explicit_bounds: INIT_DURATION_BOUNDS.to_vec(),
            min: Some(seconds),
            max: Some(seconds),
            ..HistogramDataPoint::default()
        }));
    }
    out
}

/// A span id: 8 of the 16 random bytes `ids` gives.
fn span_id(ids: &mut dyn FnMut() -> [u8; 16]) -> Vec<u8> {
    ids()[..8].to_vec()
}

/// W3C trace flags plus OTLP's "is the parent remote" bits.
fn flags(sampled: bool, remote_parent: Option<bool>) -> u32 {
    let mut flags = u32::from(sampled);
    if let Some(remote) = remote_parent {
        flags |= SpanFlags::ContextHasIsRemoteMask as u32;
        if remote {
            flags |= SpanFlags::ContextIsRemoteMask as u32;
        }
    }
    flags
}

/// An init's spans: the init, then its known shares. None without a duration (no end to span
/// to). `ids` gives 16 random bytes per call (a trace id, or a span id from half of it).
pub(crate) fn spans(ready: &Ready, ids: &mut dyn FnMut() -> [u8; 16]) -> Vec<Span> {
    let init = &ready.init;
    let Some(duration_ms) = init.init_duration_ms else {
        return Vec::new();
    };
    let context: Option<TraceContext> = ready.xray.as_deref().and_then(xray::parse);
    let trace_id = context.map_or_else(|| ids().to_vec(), |c| c.trace_id.to_vec());
    // A trace of our own is recorded (sampled); a joined one follows its request's decision.
    let sampled = context.is_none_or(|c| c.sampled);
    let parent = context.and_then(|c| c.parent_span_id);
    let root_id = span_id(ids);
    let start = nanos(init.common.timestamp);
    let end = start + ms_to_nanos(duration_ms);
    let fields = fields(&Marker::Init(init.clone()));
    let mut attributes = init_attributes(init, &fields);
    attributes.push(boolean("faas.coldstart", !init.proactive));
    if let Some(id) = &ready.request_id {
        attributes.push(string("faas.invocation_id", id.clone()));
    }
    attributes.push(string("coldmark.env_id", init.common.env_id.clone()));
    // Failed: any status but `success` and `unknown` (docs/markers.md, `init_status`).
    let status = match fields.get("init_status").and_then(|s| s.as_str()) {
        Some(status) if !matches!(status, "success" | "unknown") => Some(Status {
            message: fields
                .get("init_error_type")
                .and_then(|e| e.as_str())
                .unwrap_or(status)
                .to_string(),
            code: StatusCode::Error as i32,
        }),
        _ => None,
    };
    let root = Span {
        trace_id: trace_id.clone(),
        span_id: root_id.clone(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        flags: flags(sampled, parent.map(|_| true)),
        name: INIT_SPAN.to_string(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        status,
        ..Span::default()
    };
    let mut out = vec![root];
    let mut child = |name: &str, from_ms: f64, ms: Option<f64>| {
        let Some(ms) = ms else { return };
        let child_start = start + ms_to_nanos(from_ms);
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: span_id(ids),
            parent_span_id: root_id.clone(),
            flags: flags(sampled, Some(false)),
            name: name.to_string(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: child_start,
            end_time_unix_nano: (child_start + ms_to_nanos(ms)).min(end.max(child_start)),
            ..Span::default()
        });
    };
    child(FUNCTION_SPAN, 0.0, init.runtime_init_ms);
    child(
        EXTENSIONS_SPAN,
        init.runtime_init_ms.unwrap_or(0.0),
        init.extensions_init_ms,
    );
    child(COLDMARK_SPAN, 0.0, init.coldmark_init_ms);
    out
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "coldmark".to_string(),
        version: VERSION.to_string(),
        ..InstrumentationScope::default()
    }
}

pub(crate) fn logs_request(resource: &Resource, records: &[LogRecord]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: records.to_vec(),
                schema_url: SCHEMA_URL.to_string(),
            }],
            schema_url: SCHEMA_URL.to_string(),
        }],
    }
}

/// The points grouped into their two metrics (a metric without points is left out).
pub(crate) fn metrics_request(
    resource: &Resource,
    points: &[Point],
) -> ExportMetricsServiceRequest {
    let mut cold_starts = Vec::new();
    let mut durations = Vec::new();
    for point in points {
        match point {
            Point::ColdStarts(p) => cold_starts.push(p.clone()),
            Point::InitDuration(p) => durations.push(p.clone()),
        }
    }
    let delta = AggregationTemporality::Delta as i32;
    let mut metrics = Vec::new();
    if !cold_starts.is_empty() {
        metrics.push(Metric {
            name: "faas.coldstarts".to_string(),
            description: "Number of invocation cold starts.".to_string(),
            unit: "{coldstart}".to_string(),
            data: Some(metric::Data::Sum(Sum {
                data_points: cold_starts,
                aggregation_temporality: delta,
                is_monotonic: true,
            })),
            ..Metric::default()
        });
    }
    if !durations.is_empty() {
        metrics.push(Metric {
            name: "faas.init_duration".to_string(),
            description: "Measures the duration of the function's initialization, such as a \
                          cold start."
                .to_string(),
            unit: "s".to_string(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: durations,
                aggregation_temporality: delta,
            })),
            ..Metric::default()
        });
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                schema_url: SCHEMA_URL.to_string(),
            }],
            schema_url: SCHEMA_URL.to_string(),
        }],
    }
}

pub(crate) fn traces_request(resource: &Resource, spans: &[Span]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: spans.to_vec(),
                schema_url: SCHEMA_URL.to_string(),
            }],
            schema_url: SCHEMA_URL.to_string(),
        }],
    }
}

#[cfg(test)]
mod tests;
