//! Telemetry API records (schema 2022-12-13), parsed one by one.
//!
//! A batch is first read as a list of untyped JSON values, then each record is typed by its
//! `type`. An unknown type (one Lambda adds next year) or a malformed record is skipped with a
//! warning that names only its type; the rest of the batch is kept. (`lambda-extension`'s own
//! processor types the whole batch at once and loses all of it on one unknown record.)

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The records coldmark uses. Fields are optional wherever Lambda's documentation does not
/// promise them, so a record missing one is still used for what it has.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    InitStart {
        time: DateTime<Utc>,
        initialization_type: Option<String>,
        phase: Option<String>,
        runtime_version: Option<String>,
        function_name: Option<String>,
        function_version: Option<String>,
        instance_id: Option<String>,
        /// The instance's memory in MB (Lambda sends bytes; see `memory_mb`).
        instance_max_memory_mb: Option<u64>,
    },
    InitRuntimeDone {
        time: DateTime<Utc>,
        phase: Option<String>,
        outcome: Outcome,
    },
    InitReport {
        time: DateTime<Utc>,
        phase: Option<String>,
        duration_ms: Option<f64>,
        outcome: Outcome,
    },
    RestoreStart {
        time: DateTime<Utc>,
        runtime_version: Option<String>,
        function_name: Option<String>,
        function_version: Option<String>,
        instance_id: Option<String>,
        /// The instance's memory in MB.
        instance_max_memory_mb: Option<u64>,
    },
    RestoreRuntimeDone {
        time: DateTime<Utc>,
        outcome: Outcome,
    },
    RestoreReport {
        time: DateTime<Utc>,
        duration_ms: Option<f64>,
        outcome: Outcome,
    },
    Start {
        time: DateTime<Utc>,
        request_id: String,
        /// The tenant the request was invoked for (tenant isolation); Lambda omits it
        /// otherwise.
        tenant_id: Option<String>,
    },
    RuntimeDone {
        time: DateTime<Utc>,
        request_id: String,
        status: Option<String>,
        tenant_id: Option<String>,
    },
    Report {
        time: DateTime<Utc>,
        request_id: String,
        metrics: ReportMetrics,
        tenant_id: Option<String>,
    },
    Extension {
        name: String,
        state: Option<String>,
        events: Vec<String>,
    },
    TelemetrySubscription {
        name: Option<String>,
        state: Option<String>,
    },
    LogsDropped {
        dropped_records: u64,
    },
}

/// How an init (or a SnapStart restore) went, as one of its records says: `status` (`success`,
/// `error`, `failure`, `timeout`) and, when it did not succeed, `errorType`
/// (`Runtime.ExitError`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub status: Option<String>,
    pub error_type: Option<String>,
}

/// `platform.report`'s `metrics`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportMetrics {
    pub duration_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub billed_duration_ms: Option<u64>,
    #[serde(rename = "maxMemoryUsedMB", default, deserialize_with = "lenient_u64")]
    pub max_memory_used_mb: Option<u64>,
    pub init_duration_ms: Option<f64>,
    pub restore_duration_ms: Option<f64>,
}

/// What parsing one batch gave: the records kept and one warning per problem type.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<Record>,
    pub warnings: Vec<String>,
}

/// Problem types warned about per process, at most; later ones are skipped silently.
const MAX_WARNED: usize = 64;

/// Remembers which types were already warned about, so a type Lambda sends on every
/// invocation warns once per environment, not once per batch.
#[derive(Debug, Default)]
pub struct Parser {
    warned: HashSet<String>,
}

impl Parser {
    pub fn parse_batch(&mut self, body: &[u8]) -> Parsed {
        let mut out = Parsed::default();
        let values: Vec<Value> = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                self.warn_once(
                    &mut out,
                    "batch",
                    "telemetry batch is not a JSON array; skipped",
                );
                return out;
            }
        };
        for value in values {
            let kind = value
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match parse_one(&kind, value) {
                Ok(Some(record)) => out.records.push(record),
                Ok(None) => {}
                Err(Problem::Unknown) => {
                    let shown = printable(&kind);
                    self.warn_once(
                        &mut out,
                        &kind,
                        &format!("unknown telemetry record type {shown:?}; skipped"),
                    );
                }
                Err(Problem::Malformed) => {
                    let shown = printable(&kind);
                    self.warn_once(
                        &mut out,
                        &format!("malformed {kind}"),
                        &format!("malformed telemetry record of type {shown:?}; skipped"),
                    );
                }
            }
        }
        out
    }

    fn warn_once(&mut self, out: &mut Parsed, key: &str, message: &str) {
        // Bounded: records naming ever new types cannot grow the set (or the log) for good.
        if self.warned.len() < MAX_WARNED && self.warned.insert(key.to_string()) {
            out.warnings.push(message.to_string());
        }
    }
}

enum Problem {
    Unknown,
    Malformed,
}

/// A type name is Lambda's, not the user's, but keep a hostile one from flooding the log.
fn printable(kind: &str) -> String {
    kind.chars().take(64).filter(|c| !c.is_control()).collect()
}

#[derive(Deserialize)]
struct Envelope<T> {
    time: DateTime<Utc>,
    record: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitStartBody {
    initialization_type: Option<String>,
    phase: Option<String>,
    runtime_version: Option<String>,
    function_name: Option<String>,
    function_version: Option<String>,
    instance_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    instance_max_memory: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhaseStatusBody {
    phase: Option<String>,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DurationMetrics {
    duration_ms: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportBody {
    phase: Option<String>,
    #[serde(flatten)]
    outcome: Outcome,
    #[serde(default)]
    metrics: DurationMetrics,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody {
    request_id: String,
    status: Option<String>,
    tenant_id: Option<String>,
    #[serde(default)]
    metrics: Option<ReportMetrics>,
}

#[derive(Deserialize)]
struct ExtensionBody {
    name: String,
    state: Option<String>,
    #[serde(default)]
    events: Vec<String>,
}

#[derive(Deserialize)]
struct SubscriptionBody {
    name: Option<String>,
    state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsDroppedBody {
    #[serde(default, deserialize_with = "lenient_u64")]
    dropped_records: Option<u64>,
}

#[derive(Deserialize)]
struct RecordOnly<T> {
    record: T,
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, Problem> {
    serde_json::from_value(value).map_err(|_| Problem::Malformed)
}

/// `instanceMaxMemory` in MB. Lambda sends the instance's memory in bytes (its runtime
/// interface code fills it from the memory size in bytes); a value no larger than Lambda's
/// largest memory size in MB (10,240) cannot be a byte count and is taken as MB already.
fn memory_mb(value: Option<u64>) -> Option<u64> {
    const LARGEST_MB: u64 = 10_240;
    value.map(|v| {
        if v <= LARGEST_MB {
            v
        } else {
            v / (1024 * 1024)
        }
    })
}

fn parse_one(kind: &str, value: Value) -> Result<Option<Record>, Problem> {
    let record = match kind {
        "platform.initStart" => {
            let e: Envelope<InitStartBody> = typed(value)?;
            Record::InitStart {
                time: e.time,
                initialization_type: e.record.initialization_type,
                phase: e.record.phase,
                runtime_version: e.record.runtime_version,
                function_name: e.record.function_name,
                function_version: e.record.function_version,
                instance_id: e.record.instance_id,
                instance_max_memory_mb: memory_mb(e.record.instance_max_memory),
            }
        }
        "platform.initRuntimeDone" => {
            let e: Envelope<PhaseStatusBody> = typed(value)?;
            Record::InitRuntimeDone {
                time: e.time,
                phase: e.record.phase,
                outcome: e.record.outcome,
            }
        }
        "platform.initReport" => {
            let e: Envelope<ReportBody> = typed(value)?;
            Record::InitReport {
                time: e.time,
                phase: e.record.phase,
                duration_ms: e.record.metrics.duration_ms,
                outcome: e.record.outcome,
            }
        }
        "platform.restoreStart" => {
            let e: Envelope<InitStartBody> = typed(value)?;
            Record::RestoreStart {
                time: e.time,
                runtime_version: e.record.runtime_version,
                function_name: e.record.function_name,
                function_version: e.record.function_version,
                instance_id: e.record.instance_id,
                instance_max_memory_mb: memory_mb(e.record.instance_max_memory),
            }
        }
        "platform.restoreRuntimeDone" => {
            let e: Envelope<PhaseStatusBody> = typed(value)?;
            Record::RestoreRuntimeDone {
                time: e.time,
                outcome: e.record.outcome,
            }
        }
        "platform.restoreReport" => {
            let e: Envelope<ReportBody> = typed(value)?;
            Record::RestoreReport {
                time: e.time,
                duration_ms: e.record.metrics.duration_ms,
                outcome: e.record.outcome,
            }
        }
        "platform.start" => {
            let e: Envelope<RequestBody> = typed(value)?;
            Record::Start {
                time: e.time,
                request_id: e.record.request_id,
                tenant_id: e.record.tenant_id,
            }
        }
        "platform.runtimeDone" => {
            let e: Envelope<RequestBody> = typed(value)?;
            Record::RuntimeDone {
                time: e.time,
                request_id: e.record.request_id,
                status: e.record.status,
                tenant_id: e.record.tenant_id,
            }
        }
        "platform.report" => {
            let e: Envelope<RequestBody> = typed(value)?;
            Record::Report {
                time: e.time,
                request_id: e.record.request_id,
                metrics: e.record.metrics.unwrap_or_default(),
                tenant_id: e.record.tenant_id,
            }
        }
        "platform.extension" => {
            let e: RecordOnly<ExtensionBody> = typed(value)?;
            Record::Extension {
                name: e.record.name,
                state: e.record.state,
                events: e.record.events,
            }
        }
        "platform.telemetrySubscription" => {
            let e: RecordOnly<SubscriptionBody> = typed(value)?;
            Record::TelemetrySubscription {
                name: e.record.name,
                state: e.record.state,
            }
        }
        "platform.logsDropped" => {
            let e: RecordOnly<LogsDroppedBody> = typed(value)?;
            Record::LogsDropped {
                dropped_records: e.record.dropped_records.unwrap_or(0),
            }
        }
        // Known records coldmark has no use for, and log lines if someone subscribes to them:
        // ignored without parsing further.
        "function" | "extension" | "platform.fault" | "platform.logsDropped.v2" => return Ok(None),
        _ => return Err(Problem::Unknown),
    };
    Ok(Some(record))
}

/// Whole numbers that some emulators write as floats (`128.0`) are still whole numbers.
fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Number>::deserialize(d)?;
    Ok(v.and_then(|n| {
        n.as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: &str = r#"[
      {"time":"2026-11-25T19:10:18.000Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init","runtimeVersion":"provided:al2023.v1","runtimeVersionArn":"arn:x","functionName":"clock","functionVersion":"$LATEST","instanceId":"i-1","instanceMaxMemory":134217728}},
      {"time":"2026-11-25T19:10:18.010Z","type":"platform.somethingNew","record":{"x":1}},
      {"time":"2026-11-25T19:10:18.020Z","type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","phase":"init","status":"success"}},
      {"time":"2026-11-25T19:10:18.025Z","type":"platform.extension","record":{"state":"Ready","events":["INVOKE"]}},
      {"time":"2026-11-25T19:10:18.030Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":30.5}}},
      {"time":"2026-11-25T19:10:18.031Z","type":"platform.restoreStart","record":{"runtimeVersion":"java21","functionName":"clock","functionVersion":"3","instanceId":"i-2","instanceMaxMemory":512}},
      {"time":"2026-11-25T19:10:18.040Z","type":"platform.report","record":{"requestId":"r1","status":"success","metrics":{"durationMs":2.5,"billedDurationMs":3,"memorySizeMB":128,"maxMemoryUsedMB":20.0,"initDurationMs":30.5}}},
      {"time":"2026-11-25T19:10:18.041Z","type":"function","record":"hello"},
      "not even an object"
    ]"#;

    #[test]
    fn unknown_and_malformed_records_do_not_lose_the_batch() {
        let mut p = Parser::default();
        let parsed = p.parse_batch(BATCH.as_bytes());
        let kinds: Vec<&str> = parsed
            .records
            .iter()
            .map(|r| match r {
                Record::InitStart { .. } => "initStart",
                Record::InitRuntimeDone { .. } => "initRuntimeDone",
                Record::InitReport { .. } => "initReport",
                Record::RestoreStart { .. } => "restoreStart",
                Record::Report { .. } => "report",
                _ => "other",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "initStart",
                "initRuntimeDone",
                "initReport",
                "restoreStart",
                "report"
            ]
        );
        assert_eq!(parsed.warnings.len(), 3, "{:?}", parsed.warnings);
        assert!(parsed.warnings[0].contains("platform.somethingNew"));
        assert!(parsed.warnings[1].contains("platform.extension"));
        // Lambda sends the instance's memory in bytes; a value that can only be MB stays MB.
        match (&parsed.records[0], &parsed.records[3]) {
            (
                Record::InitStart {
                    instance_max_memory_mb: init,
                    ..
                },
                Record::RestoreStart {
                    instance_max_memory_mb: restore,
                    ..
                },
            ) => assert_eq!((*init, *restore), (Some(128), Some(512))),
            other => panic!("{other:?}"),
        }
        match &parsed.records[4] {
            Record::Report { metrics, .. } => {
                assert_eq!(metrics.billed_duration_ms, Some(3));
                assert_eq!(metrics.max_memory_used_mb, Some(20));
                assert_eq!(metrics.init_duration_ms, Some(30.5));
            }
            other => panic!("{other:?}"),
        }
        // The same problems in the next batch do not warn again.
        let again = p.parse_batch(BATCH.as_bytes());
        assert!(again.warnings.is_empty());
        assert_eq!(again.records.len(), 5);
    }

    #[test]
    fn init_outcomes_and_tenants_are_read() {
        let batch = br#"[
          {"time":"2026-11-25T19:10:18.020Z","type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError"}},
          {"time":"2026-11-25T19:10:18.030Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"timeout","metrics":{"durationMs":10000.0}}},
          {"time":"2026-11-25T19:10:18.031Z","type":"platform.restoreReport","record":{"status":"failure","errorType":"Runtime.RestoreError","metrics":{"durationMs":5.0}}},
          {"time":"2026-11-25T19:10:18.040Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST","tenantId":"BlueTenant"}},
          {"time":"2026-11-25T19:10:18.041Z","type":"platform.runtimeDone","record":{"requestId":"r1","status":"success","tenantId":"BlueTenant"}},
          {"time":"2026-11-25T19:10:18.042Z","type":"platform.report","record":{"requestId":"r1","status":"success","tenantId":"BlueTenant","metrics":{"durationMs":1.0}}},
          {"time":"2026-11-25T19:10:18.043Z","type":"platform.start","record":{"requestId":"r2"}}
        ]"#;
        let parsed = Parser::default().parse_batch(batch);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let outcome = |status: &str, error_type: Option<&str>| Outcome {
            status: Some(status.into()),
            error_type: error_type.map(Into::into),
        };
        let blue = Some("BlueTenant".to_string());
        match &parsed.records[..] {
            [Record::InitRuntimeDone { outcome: a, .. }, Record::InitReport {
                outcome: b,
                duration_ms: Some(_),
                ..
            }, Record::RestoreReport { outcome: c, .. }, Record::Start { tenant_id: d, .. }, Record::RuntimeDone { tenant_id: e, .. }, Record::Report { tenant_id: f, .. }, Record::Start {
                tenant_id: None, ..
            }] => {
                assert_eq!(a, &outcome("error", Some("Runtime.ExitError")));
                assert_eq!(b, &outcome("timeout", None));
                assert_eq!(c, &outcome("failure", Some("Runtime.RestoreError")));
                assert_eq!((d, e, f), (&blue, &blue, &blue));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_not_an_array_is_one_warning() {
        let mut p = Parser::default();
        let parsed = p.parse_batch(b"{\"oops\":1}");
        assert!(parsed.records.is_empty());
        assert_eq!(parsed.warnings.len(), 1);
    }

    #[test]
    fn warnings_never_echo_record_contents() {
        let mut p = Parser::default();
        let parsed = p.parse_batch(
            br#"[{"time":"x","type":"platform.start","record":{"requestId":"SECRET-REQ"}}]"#,
        );
        assert_eq!(parsed.warnings.len(), 1);
        assert!(!parsed.warnings[0].contains("SECRET"));
    }

    #[test]
    fn ever_new_unknown_types_cost_a_bounded_number_of_warnings() {
        let mut p = Parser::default();
        let batch: Vec<serde_json::Value> = (0..1000)
            .map(|i| serde_json::json!({"time": "2026-01-01T00:00:00Z", "type": format!("x.{i}"), "record": {}}))
            .collect();
        let parsed = p.parse_batch(&serde_json::to_vec(&batch).unwrap());
        assert_eq!(parsed.warnings.len(), MAX_WARNED);
        assert!(p.parse_batch(br#"[{"type":"y.1"}]"#).warnings.is_empty());
    }
}
