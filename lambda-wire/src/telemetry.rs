//! The Telemetry API: the subscription request and the schema 2022-12-13 records Lambda POSTs
//! to a subscriber.
//!
//! Field names follow AWS's "Telemetry API `Event` schema reference"; where AWS's emulator
//! (`lambda/rapid`) and the reference agree on a field, so do we. Memory in `initStart` and
//! `restoreStart` is in bytes (`instanceMaxMemory`), in `report` in MB (`memorySizeMB`), as
//! Lambda sends them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SUBSCRIBE_PATH: &str = "/2022-07-01/telemetry";
/// The schema every record below belongs to.
pub const SCHEMA_VERSION: &str = "2022-12-13";
/// Error type of a 202 answer to the subscription where the API is missing (RIE, SAM CLI,
/// LocalStack): the extension must carry on without telemetry.
pub const NOT_SUPPORTED: &str = "Telemetry.NotSupported";

/// Body of `PUT /2022-07-01/telemetry`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub schema_version: String,
    pub destination: Destination,
    /// `platform`, `function`, `extension`.
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffering: Option<Buffering>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// `HTTP` or `TCP`.
    pub protocol: String,
    #[serde(rename = "URI")]
    pub uri: String,
}

/// How Lambda batches records for one subscriber: a batch goes out when any limit is reached.
/// Each field is optional in a request; a missing one takes Lambda's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Buffering {
    #[serde(default = "default_max_items")]
    pub max_items: u64,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Buffering {
    /// Lambda's defaults when a subscription names no buffering.
    pub const DEFAULT: Buffering = Buffering {
        max_items: 10_000,
        max_bytes: 256 * 1024,
        timeout_ms: 1_000,
    };
    /// Lambda's minimums: smaller requested values are raised to these.
    pub const MIN: Buffering = Buffering {
        max_items: 1_000,
        max_bytes: 256 * 1024,
        timeout_ms: 25,
    };

    /// The limits Lambda applies: the request's, raised to the minimums.
    pub fn effective(requested: Option<Buffering>) -> Buffering {
        let b = requested.unwrap_or(Buffering::DEFAULT);
        Buffering {
            max_items: b.max_items.max(Self::MIN.max_items),
            max_bytes: b.max_bytes.max(Self::MIN.max_bytes),
            timeout_ms: b.timeout_ms.max(Self::MIN.timeout_ms),
        }
    }
}

/// Timestamps as Lambda writes them (every example of AWS's schema reference): RFC 3339, UTC,
/// always three digits of milliseconds (`2022-10-12T00:01:15.000Z`, never `...:15Z`).
pub fn rfc3339_millis<S: serde::Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn default_max_items() -> u64 {
    Buffering::DEFAULT.max_items
}
fn default_max_bytes() -> u64 {
    Buffering::DEFAULT.max_bytes
}
fn default_timeout_ms() -> u64 {
    Buffering::DEFAULT.timeout_ms
}

/// One element of the JSON array POSTed to a subscriber.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(serialize_with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    #[serde(flatten)]
    pub body: RecordBody,
}

impl Record {
    pub fn new(time: DateTime<Utc>, body: RecordBody) -> Self {
        Record { time, body }
    }

    /// The Telemetry API type a subscriber names to receive this record.
    pub fn category(&self) -> &'static str {
        match self.body {
            RecordBody::Function(_) => "function",
            RecordBody::ExtensionLog(_) => "extension",
            _ => "platform",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "record")]
pub enum RecordBody {
    #[serde(rename = "platform.initStart")]
    InitStart(InitStart),
    #[serde(rename = "platform.initRuntimeDone")]
    InitRuntimeDone(InitRuntimeDone),
    #[serde(rename = "platform.initReport")]
    InitReport(InitReport),
    #[serde(rename = "platform.start")]
    Start(Start),
    #[serde(rename = "platform.runtimeDone")]
    RuntimeDone(RuntimeDone),
    #[serde(rename = "platform.report")]
    Report(Report),
    /// A SnapStart restore began; memory in BYTES, as in `initStart`.
    #[serde(rename = "platform.restoreStart")]
    RestoreStart(Instance),
    #[serde(rename = "platform.restoreRuntimeDone")]
    RestoreRuntimeDone(RestoreRuntimeDone),
    #[serde(rename = "platform.restoreReport")]
    RestoreReport(RestoreReport),
    #[serde(rename = "platform.extension")]
    Extension(Extension),
    #[serde(rename = "platform.telemetrySubscription")]
    TelemetrySubscription(TelemetrySubscription),
    #[serde(rename = "platform.logsDropped")]
    LogsDropped(LogsDropped),
    /// A line the function wrote (a string, or an object with the JSON log format).
    #[serde(rename = "function")]
    Function(Value),
    /// A line an extension wrote.
    #[serde(rename = "extension")]
    ExtensionLog(Value),
}

/// `on-demand`, `provisioned-concurrency` or `snap-start`.
pub const ON_DEMAND: &str = "on-demand";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitStart {
    pub initialization_type: String,
    /// `init` or `invoke` (a suppressed init re-run during the first invoke).
    pub phase: String,
    #[serde(flatten)]
    pub instance: Instance,
}

/// What `initStart` and `restoreStart` say about the environment that is starting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version_arn: Option<String>,
    pub function_name: String,
    pub function_version: String,
    /// Names the execution environment; the same in every record of one environment's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The environment's memory in BYTES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_max_memory: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRuntimeDone {
    pub initialization_type: String,
    pub phase: String,
    /// `success`, `error` or `failure`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReport {
    pub initialization_type: String,
    pub phase: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: DurationMetrics,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

/// `{"durationMs": …}`, the metrics of `initReport` and `restoreReport`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationMetrics {
    pub duration_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub name: String,
    #[serde(serialize_with = "rfc3339_millis")]
    pub start: DateTime<Utc>,
    pub duration_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The tenant the request was invoked for (`X-Amz-Tenant-Id`), on a function with tenant
    /// isolation (`TenancyConfig` `PER_TENANT`) only; Lambda omits it otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TraceContext>,
}

/// The X-Ray context of a record: `{"spanId", "type": "X-Amzn-Trace-Id", "value"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDone {
    pub request_id: String,
    pub status: String,
    /// The tenant the request was invoked for (`X-Amz-Tenant-Id`), on a function with tenant
    /// isolation (`TenancyConfig` `PER_TENANT`) only; Lambda omits it otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<RuntimeDoneMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TraceContext>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDoneMetrics {
    pub duration_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub request_id: String,
    pub status: String,
    /// The tenant the request was invoked for (`X-Amz-Tenant-Id`), on a function with tenant
    /// isolation (`TenancyConfig` `PER_TENANT`) only; Lambda omits it otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: ReportMetrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TraceContext>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportMetrics {
    pub duration_ms: f64,
    /// Absent on Lambda Managed Instances (schema `2025-01-29`), whose report carries
    /// `durationMs` only: capacity is priced per instance, not per invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_duration_ms: Option<u64>,
    #[serde(
        rename = "memorySizeMB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_size_mb: Option<u64>,
    #[serde(
        rename = "maxMemoryUsedMB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_memory_used_mb: Option<u64>,
    /// Only in the report of an environment's first invocation (a cold start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_duration_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_restore_duration_ms: Option<u64>,
}

impl ReportMetrics {
    /// A Lambda Managed Instances report's metrics: `durationMs` and nothing else.
    pub fn duration_only(duration_ms: f64) -> Self {
        Self {
            duration_ms,
            billed_duration_ms: None,
            memory_size_mb: None,
            max_memory_used_mb: None,
            init_duration_ms: None,
            restore_duration_ms: None,
            billed_restore_duration_ms: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRuntimeDone {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: DurationMetrics,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

/// `platform.extension`: an extension registered (`state` `Ready`) or failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    pub name: String,
    pub state: String,
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetrySubscription {
    pub name: String,
    pub state: String,
    pub types: Vec<String>,
}

/// Lambda dropped records because a subscriber could not keep up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsDropped {
    pub reason: String,
    pub dropped_records: u64,
    pub dropped_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Serialises `record` to exactly `documented` and parses `documented` back to `record`.
    fn round_trip(record: Record, documented: Value) {
        assert_eq!(serde_json::to_value(&record).unwrap(), documented);
        let back: Record = serde_json::from_value(documented).unwrap();
        assert_eq!(back, record);
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn init_start_carries_instance_and_memory_in_bytes() {
        round_trip(
            Record::new(
                at("2022-10-12T00:00:15.064Z"),
                RecordBody::InitStart(InitStart {
                    initialization_type: ON_DEMAND.into(),
                    phase: "init".into(),
                    instance: Instance {
                        runtime_version: Some("nodejs-14.v3".into()),
                        runtime_version_arn: Some("arn".into()),
                        function_name: "myFunction".into(),
                        function_version: "$LATEST".into(),
                        instance_id: Some("82561ce0-53dd-47d1-90e0-c8f5e063e62e".into()),
                        instance_max_memory: Some(128 * 1024 * 1024),
                    },
                }),
            ),
            json!({
                "time": "2022-10-12T00:00:15.064Z",
                "type": "platform.initStart",
                "record": {
                    "initializationType": "on-demand",
                    "phase": "init",
                    "runtimeVersion": "nodejs-14.v3",
                    "runtimeVersionArn": "arn",
                    "functionName": "myFunction",
                    "functionVersion": "$LATEST",
                    "instanceId": "82561ce0-53dd-47d1-90e0-c8f5e063e62e",
                    "instanceMaxMemory": 134_217_728
                }
            }),
        );
    }

    #[test]
    fn init_runtime_done_and_init_report() {
        round_trip(
            Record::new(
                at("2022-10-12T00:01:15.000Z"),
                RecordBody::InitRuntimeDone(InitRuntimeDone {
                    initialization_type: ON_DEMAND.into(),
                    phase: "init".into(),
                    status: "success".into(),
                    error_type: None,
                    spans: vec![Span {
                        name: "someTimeSpan".into(),
                        start: at("2022-06-02T12:02:33.913Z"),
                        duration_ms: 70.5,
                    }],
                }),
            ),
            json!({
                "time": "2022-10-12T00:01:15.000Z",
                "type": "platform.initRuntimeDone",
                "record": {
                    "initializationType": "on-demand",
                    "phase": "init",
                    "status": "success",
                    "spans": [{"name": "someTimeSpan", "start": "2022-06-02T12:02:33.913Z", "durationMs": 70.5}]
                }
            }),
        );
        round_trip(
            Record::new(
                at("2022-10-12T00:01:15.000Z"),
                RecordBody::InitReport(InitReport {
                    initialization_type: ON_DEMAND.into(),
                    phase: "init".into(),
                    status: "error".into(),
                    error_type: Some("Runtime.ExitError".into()),
                    metrics: DurationMetrics {
                        duration_ms: 125.33,
                    },
                    spans: vec![],
                }),
            ),
            json!({
                "time": "2022-10-12T00:01:15.000Z",
                "type": "platform.initReport",
                "record": {
                    "initializationType": "on-demand",
                    "phase": "init",
                    "status": "error",
                    "errorType": "Runtime.ExitError",
                    "metrics": {"durationMs": 125.33}
                }
            }),
        );
    }

    /// Tenant isolation's example in AWS's guide ("Monitoring Lambda functions with tenant
    /// isolation"): `tenantId` sits in the record beside `requestId`, and a function without
    /// tenant isolation has none.
    #[test]
    fn tenant_id_rides_on_start_and_report() {
        round_trip(
            Record::new(
                at("2025-10-13T19:48:06.990Z"),
                RecordBody::Start(Start {
                    request_id: "a0f40320-b43c-44b3-91bf-d5b5240a1bed".into(),
                    tenant_id: Some("BlueTenant".into()),
                    version: Some("$LATEST".into()),
                    tracing: None,
                }),
            ),
            json!({
                "time": "2025-10-13T19:48:06.990Z",
                "type": "platform.start",
                "record": {
                    "requestId": "a0f40320-b43c-44b3-91bf-d5b5240a1bed",
                    "version": "$LATEST",
                    "tenantId": "BlueTenant"
                }
            }),
        );
        round_trip(
            Record::new(
                at("2025-10-13T19:48:07.100Z"),
                RecordBody::Report(Report {
                    request_id: "a0f40320-b43c-44b3-91bf-d5b5240a1bed".into(),
                    tenant_id: Some("BlueTenant".into()),
                    status: "success".into(),
                    error_type: None,
                    metrics: ReportMetrics::duration_only(110.0),
                    tracing: None,
                    spans: vec![],
                }),
            ),
            json!({
                "time": "2025-10-13T19:48:07.100Z",
                "type": "platform.report",
                "record": {
                    "requestId": "a0f40320-b43c-44b3-91bf-d5b5240a1bed",
                    "status": "success",
                    "tenantId": "BlueTenant",
                    "metrics": {"durationMs": 110.0}
                }
            }),
        );
    }

    #[test]
    fn invocation_records() {
        let tracing = Some(TraceContext {
            span_id: Some("54565fb41ac79632".into()),
            kind: "X-Amzn-Trace-Id".into(),
            value: "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"
                .into(),
        });
        round_trip(
            Record::new(
                at("2022-10-12T00:00:15.064Z"),
                RecordBody::Start(Start {
                    request_id: "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa".into(),
                    tenant_id: None,
                    version: Some("$LATEST".into()),
                    tracing: tracing.clone(),
                }),
            ),
            json!({
                "time": "2022-10-12T00:00:15.064Z",
                "type": "platform.start",
                "record": {
                    "requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",
                    "version": "$LATEST",
                    "tracing": {
                        "spanId": "54565fb41ac79632",
                        "type": "X-Amzn-Trace-Id",
                        "value": "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"
                    }
                }
            }),
        );
        round_trip(
            Record::new(
                at("2022-10-12T00:01:15.000Z"),
                RecordBody::RuntimeDone(RuntimeDone {
                    request_id: "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa".into(),
                    tenant_id: None,
                    status: "success".into(),
                    error_type: None,
                    metrics: Some(RuntimeDoneMetrics {
                        duration_ms: 140.0,
                        produced_bytes: Some(16),
                    }),
                    tracing: None,
                    spans: vec![],
                }),
            ),
            json!({
                "time": "2022-10-12T00:01:15.000Z",
                "type": "platform.runtimeDone",
                "record": {
                    "requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",
                    "status": "success",
                    "metrics": {"durationMs": 140.0, "producedBytes": 16}
                }
            }),
        );
        round_trip(
            Record::new(
                at("2022-10-12T00:01:15.000Z"),
                RecordBody::Report(Report {
                    request_id: "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa".into(),
                    tenant_id: None,
                    status: "success".into(),
                    error_type: None,
                    metrics: ReportMetrics {
                        duration_ms: 101.51,
                        billed_duration_ms: Some(102),
                        memory_size_mb: Some(256),
                        max_memory_used_mb: Some(35),
                        init_duration_ms: Some(127.87),
                        restore_duration_ms: None,
                        billed_restore_duration_ms: None,
                    },
                    tracing,
                    spans: vec![],
                }),
            ),
            json!({
                "time": "2022-10-12T00:01:15.000Z",
                "type": "platform.report",
                "record": {
                    "requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa",
                    "status": "success",
                    "metrics": {
                        "durationMs": 101.51,
                        "billedDurationMs": 102,
                        "memorySizeMB": 256,
                        "maxMemoryUsedMB": 35,
                        "initDurationMs": 127.87
                    },
                    "tracing": {
                        "spanId": "54565fb41ac79632",
                        "type": "X-Amzn-Trace-Id",
                        "value": "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"
                    }
                }
            }),
        );
    }

    #[test]
    fn restore_records() {
        round_trip(
            Record::new(
                at("2022-10-12T00:00:15.064Z"),
                RecordBody::RestoreStart(Instance {
                    runtime_version: Some("nodejs-14.v3".into()),
                    runtime_version_arn: Some("arn".into()),
                    function_name: "myFunction".into(),
                    function_version: "$LATEST".into(),
                    instance_id: Some("82561ce0-53dd-47d1-90e0-c8f5e063e62e".into()),
                    instance_max_memory: Some(256 * 1024 * 1024),
                }),
            ),
            json!({
                "time": "2022-10-12T00:00:15.064Z",
                "type": "platform.restoreStart",
                "record": {
                    "runtimeVersion": "nodejs-14.v3",
                    "runtimeVersionArn": "arn",
                    "functionName": "myFunction",
                    "functionVersion": "$LATEST",
                    "instanceId": "82561ce0-53dd-47d1-90e0-c8f5e063e62e",
                    "instanceMaxMemory": 268_435_456
                }
            }),
        );
        round_trip(
            Record::new(
                at("2022-10-12T00:00:15.064Z"),
                RecordBody::RestoreRuntimeDone(RestoreRuntimeDone {
                    status: "success".into(),
                    error_type: None,
                    spans: vec![],
                }),
            ),
            json!({"time": "2022-10-12T00:00:15.064Z", "type": "platform.restoreRuntimeDone", "record": {"status": "success"}}),
        );
        round_trip(
            Record::new(
                at("2022-10-12T00:00:15.064Z"),
                RecordBody::RestoreReport(RestoreReport {
                    status: "success".into(),
                    error_type: None,
                    metrics: DurationMetrics { duration_ms: 15.19 },
                    spans: vec![],
                }),
            ),
            json!({"time": "2022-10-12T00:00:15.064Z", "type": "platform.restoreReport", "record": {"status": "success", "metrics": {"durationMs": 15.19}}}),
        );
    }

    #[test]
    fn extension_subscription_and_dropped_records() {
        round_trip(
            Record::new(
                at("2022-10-12T00:02:15.000Z"),
                RecordBody::Extension(Extension {
                    name: "my-telemetry-extension".into(),
                    state: "Ready".into(),
                    events: vec!["SHUTDOWN".into(), "INVOKE".into()],
                    error_type: None,
                }),
            ),
            json!({
                "time": "2022-10-12T00:02:15.000Z",
                "type": "platform.extension",
                "record": {"name": "my-telemetry-extension", "state": "Ready", "events": ["SHUTDOWN", "INVOKE"]}
            }),
        );
        round_trip(
            Record::new(
                at("2022-10-12T00:02:15.000Z"),
                RecordBody::TelemetrySubscription(TelemetrySubscription {
                    name: "my-telemetry-extension".into(),
                    state: "Subscribed".into(),
                    types: vec!["platform".into(), "function".into()],
                }),
            ),
            json!({
                "time": "2022-10-12T00:02:15.000Z",
                "type": "platform.telemetrySubscription",
                "record": {"name": "my-telemetry-extension", "state": "Subscribed", "types": ["platform", "function"]}
            }),
        );
        round_trip(
            Record::new(
                at("2022-10-12T00:02:15.000Z"),
                RecordBody::LogsDropped(LogsDropped {
                    reason: "Consumer seems to have fallen behind as it has not acknowledged receipt of logs."
                        .into(),
                    dropped_records: 123,
                    dropped_bytes: 12345,
                }),
            ),
            json!({
                "time": "2022-10-12T00:02:15.000Z",
                "type": "platform.logsDropped",
                "record": {
                    "reason": "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.",
                    "droppedRecords": 123,
                    "droppedBytes": 12345
                }
            }),
        );
    }

    #[test]
    fn function_lines_are_strings_or_objects() {
        round_trip(
            Record::new(
                at("2022-10-12T00:03:50.000Z"),
                RecordBody::Function(json!("[INFO] Hello world, I am a function!")),
            ),
            json!({"time": "2022-10-12T00:03:50.000Z", "type": "function", "record": "[INFO] Hello world, I am a function!"}),
        );
        let r = Record::new(
            at("2022-10-12T00:03:50.000Z"),
            RecordBody::ExtensionLog(json!({"level": "INFO", "message": "hi"})),
        );
        assert_eq!(r.category(), "extension");
        round_trip(
            r,
            json!({"time": "2022-10-12T00:03:50.000Z", "type": "extension", "record": {"level": "INFO", "message": "hi"}}),
        );
    }

    #[test]
    fn subscription_request_with_buffering() {
        let sub = Subscription {
            schema_version: SCHEMA_VERSION.into(),
            destination: Destination {
                protocol: "HTTP".into(),
                uri: "http://sandbox.localdomain:8080/telemetry".into(),
            },
            types: vec!["platform".into(), "function".into()],
            buffering: Some(Buffering {
                max_items: 1000,
                max_bytes: 256 * 1024,
                timeout_ms: 100,
            }),
        };
        let documented = json!({
            "schemaVersion": "2022-12-13",
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:8080/telemetry"},
            "types": ["platform", "function"],
            "buffering": {"maxItems": 1000, "maxBytes": 262_144, "timeoutMs": 100}
        });
        assert_eq!(serde_json::to_value(&sub).unwrap(), documented);
        assert_eq!(
            serde_json::from_value::<Subscription>(documented).unwrap(),
            sub
        );
        let bare: Subscription = serde_json::from_value(json!({
            "schemaVersion": "2022-12-13",
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:8080/t"},
            "types": ["platform"]
        }))
        .unwrap();
        assert_eq!(bare.buffering, None);
        assert_eq!(Buffering::effective(None), Buffering::DEFAULT);
        let partial: Buffering = serde_json::from_value(json!({"timeoutMs": 5})).unwrap();
        assert_eq!(partial.max_items, 10_000);
        assert_eq!(Buffering::effective(Some(partial)).timeout_ms, 25);
    }
}
