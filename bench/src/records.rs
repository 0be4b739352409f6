//! Telemetry API records (schema 2022-12-13, and 2025-01-29 on Lambda Managed Instances) as
//! Lambda sends them, built by the harness from the shared wire model (`lambda-wire`), so that
//! a benchmark feeds the extension what Lambda feeds it, field for field (`instanceId`,
//! `instanceMaxMemory` in bytes, ...).

use chrono::{DateTime, Utc};
use lambda_wire::telemetry::{
    DurationMetrics, Extension as ExtensionRecord, InitReport, InitRuntimeDone, InitStart,
    Instance, Report, ReportMetrics, RuntimeDone, RuntimeDoneMetrics, Span, Start, ON_DEMAND,
};
pub use lambda_wire::telemetry::{Record, RecordBody};
use serde::Serialize;

/// How long the notional runtime's init takes in the records the harness sends.
pub const RUNTIME_INIT_MS: f64 = 1.0;

/// What the records of one simulated environment have in common.
#[derive(Clone, Debug)]
pub struct EnvFacts {
    pub function_name: String,
    pub function_version: String,
    pub instance_id: String,
    pub memory_mb: u64,
}

impl EnvFacts {
    pub fn new(instance_id: impl Into<String>) -> Self {
        Self {
            function_name: crate::process::FUNCTION_NAME.to_string(),
            function_version: "$LATEST".to_string(),
            instance_id: instance_id.into(),
            memory_mb: 128,
        }
    }

    fn record(body: RecordBody) -> Record {
        Record {
            time: Utc::now(),
            body,
        }
    }

    /// `platform.initStart`, timed at `at`: the moment the environment's processes started
    /// (Lambda emits it before any extension runs and delivers it once one subscribes).
    pub fn init_start(&self, at: DateTime<Utc>) -> Record {
        Record {
            time: at,
            body: RecordBody::InitStart(InitStart {
                initialization_type: ON_DEMAND.into(),
                phase: "init".into(),
                instance: Instance {
                    runtime_version: Some("provided:al2023.v100".into()),
                    runtime_version_arn: Some(format!(
                        "arn:aws:lambda:us-east-1::runtime:{}",
                        "0".repeat(64)
                    )),
                    function_name: self.function_name.clone(),
                    function_version: self.function_version.clone(),
                    instance_id: Some(self.instance_id.clone()),
                    instance_max_memory: Some(self.memory_mb * 1024 * 1024),
                },
            }),
        }
    }

    /// The records Lambda sends once init is over: the runtime was ready (a notional runtime
    /// that took [`RUNTIME_INIT_MS`] after `started`; the harness has no function), the
    /// extension registered, the phase's report.
    pub fn init_done(
        &self,
        extension_name: &str,
        started: DateTime<Utc>,
        init_duration_ms: f64,
    ) -> Vec<Record> {
        vec![
            Record {
                time: started + chrono::Duration::microseconds((RUNTIME_INIT_MS * 1_000.0) as i64),
                body: RecordBody::InitRuntimeDone(InitRuntimeDone {
                    initialization_type: ON_DEMAND.into(),
                    phase: "init".into(),
                    status: "success".into(),
                    error_type: None,
                    spans: Vec::new(),
                }),
            },
            Self::record(RecordBody::Extension(ExtensionRecord {
                name: extension_name.to_string(),
                state: "Ready".into(),
                events: vec!["INVOKE".to_string(), "SHUTDOWN".to_string()],
                error_type: None,
            })),
            Self::record(RecordBody::InitReport(InitReport {
                initialization_type: ON_DEMAND.into(),
                phase: "init".into(),
                status: "success".into(),
                error_type: None,
                metrics: DurationMetrics {
                    duration_ms: init_duration_ms,
                },
                spans: Vec::new(),
            })),
        ]
    }

    /// The records of one invocation: start, a function log line, runtimeDone, report.
    pub fn invocation(&self, request_id: &str, first: Option<f64>) -> [Record; 4] {
        [
            Self::record(RecordBody::Start(Start {
                request_id: request_id.to_string(),
                tenant_id: None,
                version: Some(self.function_version.clone()),
                tracing: None,
            })),
            Self::record(RecordBody::Function(function_line(request_id))),
            Self::record(RecordBody::RuntimeDone(RuntimeDone {
                request_id: request_id.to_string(),
                tenant_id: None,
                status: "success".into(),
                error_type: None,
                metrics: Some(RuntimeDoneMetrics {
                    duration_ms: 1.25,
                    produced_bytes: Some(42),
                }),
                tracing: None,
                spans: Vec::new(),
            })),
            Self::record(RecordBody::Report(Report {
                request_id: request_id.to_string(),
                tenant_id: None,
                status: "success".into(),
                error_type: None,
                metrics: ReportMetrics {
                    duration_ms: 1.5,
                    billed_duration_ms: Some(2),
                    memory_size_mb: Some(self.memory_mb),
                    max_memory_used_mb: Some(18),
                    init_duration_ms: first,
                    restore_duration_ms: None,
                    billed_restore_duration_ms: None,
                },
                tracing: None,
                spans: Vec::new(),
            })),
        ]
    }

    /// A `function` record the size of a typical structured log line.
    pub fn function_log(&self, request_id: &str) -> Record {
        Self::record(RecordBody::Function(function_line(request_id)))
    }
}

/// A structured log line, the shape most Lambda logging libraries write.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionLogLine<'a> {
    timestamp: &'a str,
    level: &'a str,
    request_id: &'a str,
    message: &'a str,
}

fn function_line(request_id: &str) -> serde_json::Value {
    serde_json::Value::String(
        serde_json::to_string(&FunctionLogLine {
            timestamp: "2026-11-25T19:10:18.123Z",
            level: "INFO",
            request_id,
            message: "handled order 1234 in 3 ms",
        })
        .expect("a log line always serialises"),
    )
}

/// A request id in Lambda's UUID shape, unique per (run, sequence number).
pub fn request_id(run: u32, seq: u64) -> String {
    format!("{run:08x}-0000-4000-8000-{seq:012x}")
}

/// `initializationType` of a Lambda Managed Instances environment.
pub const MANAGED_INSTANCES: &str = "lambda-managed-instances";

/// The records of a Lambda Managed Instances environment (schema `2025-01-29`): no
/// `platform.runtimeDone`, and reports carry `durationMs` only (capacity is priced per
/// instance, so no billed duration and no memory figures).
impl EnvFacts {
    /// `platform.initStart`, `platform.initRuntimeDone` and `platform.initReport` of an
    /// environment whose init started at `start` and took `init_ms`.
    pub fn managed_init(&self, start: DateTime<Utc>, init_ms: f64) -> [Record; 3] {
        let done = start + chrono::Duration::microseconds((init_ms * 1_000.0) as i64);
        [
            Record::new(
                start,
                RecordBody::InitStart(InitStart {
                    initialization_type: MANAGED_INSTANCES.into(),
                    phase: "init".into(),
                    instance: Instance {
                        runtime_version: Some("provided:al2023.v100".into()),
                        runtime_version_arn: None,
                        function_name: self.function_name.clone(),
                        function_version: self.function_version.clone(),
                        instance_id: Some(self.instance_id.clone()),
                        instance_max_memory: Some(self.memory_mb * 1024 * 1024),
                    },
                }),
            ),
            Record::new(
                done,
                RecordBody::InitRuntimeDone(InitRuntimeDone {
                    initialization_type: MANAGED_INSTANCES.into(),
                    phase: "init".into(),
                    status: "success".into(),
                    error_type: None,
                    spans: Vec::new(),
                }),
            ),
            Record::new(
                done,
                RecordBody::InitReport(InitReport {
                    initialization_type: MANAGED_INSTANCES.into(),
                    phase: "init".into(),
                    status: "success".into(),
                    error_type: None,
                    metrics: DurationMetrics {
                        duration_ms: init_ms,
                    },
                    spans: Vec::new(),
                }),
            ),
        ]
    }

    /// `platform.start` of one invocation at `at`.
    pub fn managed_start(&self, request_id: &str, at: DateTime<Utc>) -> Record {
        Record::new(
            at,
            RecordBody::Start(Start {
                request_id: request_id.to_string(),
                tenant_id: None,
                version: Some(self.function_version.clone()),
                tracing: None,
            }),
        )
    }

    /// `platform.report` of one invocation at `at`: `metrics.durationMs` and the response
    /// spans, nothing else.
    pub fn managed_report(&self, request_id: &str, at: DateTime<Utc>, duration_ms: f64) -> Record {
        Record::new(
            at,
            RecordBody::Report(Report {
                request_id: request_id.to_string(),
                tenant_id: None,
                status: "success".into(),
                error_type: None,
                metrics: ReportMetrics::duration_only(duration_ms),
                tracing: None,
                spans: vec![
                    Span {
                        name: "responseLatency".into(),
                        start: at,
                        duration_ms: 0.847,
                    },
                    Span {
                        name: "responseDuration".into(),
                        start: at,
                        duration_ms: 0.127,
                    },
                ],
            }),
        )
    }
}
