//! Telemetry API records (schema 2022-12-13) as Lambda sends them, built by the harness.
//!
//! Own types rather than `lambda_extension`'s: those omit fields coldmark reads (`instanceId`,
//! `functionName` on `platform.initStart`), and a benchmark must feed the extension what Lambda
//! feeds it, field for field.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One element of the JSON array POSTed to a subscriber.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub time: DateTime<Utc>,
    #[serde(flatten)]
    pub body: RecordBody,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", content = "record")]
pub enum RecordBody {
    #[serde(rename = "platform.initStart")]
    InitStart(InitStart),
    #[serde(rename = "platform.initRuntimeDone")]
    InitRuntimeDone(InitRuntimeDone),
    #[serde(rename = "platform.extension")]
    Extension(ExtensionRecord),
    #[serde(rename = "platform.initReport")]
    InitReport(InitReport),
    #[serde(rename = "platform.start")]
    Start(Start),
    #[serde(rename = "platform.runtimeDone")]
    RuntimeDone(RuntimeDone),
    #[serde(rename = "platform.report")]
    Report(Report),
    /// A line the function wrote to stdout/stderr.
    #[serde(rename = "function")]
    Function(String),
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitStart {
    pub initialization_type: &'static str,
    pub phase: &'static str,
    pub runtime_version: String,
    pub runtime_version_arn: String,
    pub function_name: String,
    pub function_version: String,
    pub instance_id: String,
    pub instance_max_memory: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRuntimeDone {
    pub initialization_type: &'static str,
    pub phase: &'static str,
    pub status: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExtensionRecord {
    pub name: String,
    pub state: &'static str,
    pub events: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReport {
    pub initialization_type: &'static str,
    pub phase: &'static str,
    pub status: &'static str,
    pub metrics: InitReportMetrics,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReportMetrics {
    pub duration_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    pub request_id: String,
    pub version: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDone {
    pub request_id: String,
    pub status: &'static str,
    pub metrics: RuntimeDoneMetrics,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDoneMetrics {
    pub duration_ms: f64,
    pub produced_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub request_id: String,
    pub status: &'static str,
    pub metrics: ReportMetrics,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportMetrics {
    pub duration_ms: f64,
    pub billed_duration_ms: u64,
    #[serde(rename = "memorySizeMB")]
    pub memory_size_mb: u64,
    #[serde(rename = "maxMemoryUsedMB")]
    pub max_memory_used_mb: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
}

impl Record {
    /// The Telemetry API type a subscriber names to receive this record.
    pub fn category(&self) -> &'static str {
        match self.body {
            RecordBody::Function(_) => "function",
            _ => "platform",
        }
    }
}

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
            initialization_type: "on-demand",
            phase: "init",
            runtime_version: "provided:al2023.v100".to_string(),
            runtime_version_arn: "arn:aws:lambda:us-east-1::runtime:0000000000000000000000000000000000000000000000000000000000000000".to_string(),
            function_name: self.function_name.clone(),
            function_version: self.function_version.clone(),
            instance_id: self.instance_id.clone(),
            instance_max_memory: self.memory_mb * 1024 * 1024,
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
                    initialization_type: "on-demand",
                    phase: "init",
                    status: "success",
                }),
            },
            Self::record(RecordBody::Extension(ExtensionRecord {
                name: extension_name.to_string(),
                state: "Ready",
                events: vec!["INVOKE".to_string(), "SHUTDOWN".to_string()],
            })),
            Self::record(RecordBody::InitReport(InitReport {
                initialization_type: "on-demand",
                phase: "init",
                status: "success",
                metrics: InitReportMetrics {
                    duration_ms: init_duration_ms,
                },
            })),
        ]
    }

    /// The records of one invocation: start, a function log line, runtimeDone, report.
    pub fn invocation(&self, request_id: &str, first: Option<f64>) -> [Record; 4] {
        [
            Self::record(RecordBody::Start(Start {
                request_id: request_id.to_string(),
                version: self.function_version.clone(),
            })),
            Self::record(RecordBody::Function(function_line(request_id))),
            Self::record(RecordBody::RuntimeDone(RuntimeDone {
                request_id: request_id.to_string(),
                status: "success",
                metrics: RuntimeDoneMetrics {
                    duration_ms: 1.25,
                    produced_bytes: 42,
                },
            })),
            Self::record(RecordBody::Report(Report {
                request_id: request_id.to_string(),
                status: "success",
                metrics: ReportMetrics {
                    duration_ms: 1.5,
                    billed_duration_ms: 2,
                    memory_size_mb: self.memory_mb,
                    max_memory_used_mb: 18,
                    init_duration_ms: first,
                },
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

fn function_line(request_id: &str) -> String {
    serde_json::to_string(&FunctionLogLine {
        timestamp: "2026-11-25T19:10:18.123Z",
        level: "INFO",
        request_id,
        message: "handled order 1234 in 3 ms",
    })
    .expect("a log line always serialises")
}

/// A request id in Lambda's UUID shape, unique per (run, sequence number).
pub fn request_id(run: u32, seq: u64) -> String {
    format!("{run:08x}-0000-4000-8000-{seq:012x}")
}
