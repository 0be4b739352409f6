//! The end of an invocation, with no I/O: what the runtime's answer (or its absence) means for
//! the caller, the records and the environment, and the records `platform.runtimeDone` and
//! `platform.report`.

use std::time::Duration;

use bytes::Bytes;
use lambda_wire::extensions::ErrorResponse;
use lambda_wire::telemetry::{
    RecordBody, Report, ReportMetrics, RuntimeDone, RuntimeDoneMetrics, TraceContext,
};

use super::super::contract::{InvokeStatus, ShutdownReason};

/// What the runtime posted for an invocation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RuntimeOutcome {
    Response(Bytes),
    Error { error_type: String, body: Bytes },
}

/// How the runtime's part of an invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RuntimeEnd {
    Answered(RuntimeOutcome),
    /// The runtime process exited (how, in Lambda's words).
    Exited(String),
    /// No answer within the function's timeout.
    TimedOut,
}

/// What the end of the runtime's part means: the status and error type of
/// `platform.runtimeDone`, what the caller gets, and whether the environment must be torn down
/// (with which SHUTDOWN reason).
#[derive(Clone, Debug)]
pub(crate) struct InvokeEnd {
    pub(crate) status: &'static str,
    pub(crate) error_type: Option<String>,
    pub(crate) result: InvokeStatus,
    pub(crate) body: Bytes,
    pub(crate) reset: Option<ShutdownReason>,
}

/// What `platform.report` says of the whole invocation (the runtime's part and the
/// extensions'), and whether the environment must be torn down.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReportEnd {
    pub(crate) status: &'static str,
    pub(crate) error_type: Option<String>,
    pub(crate) reset: Option<ShutdownReason>,
}

impl InvokeEnd {
    /// The runtime's part of invocation `request_id` (timeout `timeout`) ended so: a response
    /// is a success, an error a function error; an exit or a timeout fails the invocation with
    /// the body Lambda's Invoke API answers, and the environment is reset.
    pub(crate) fn of(request_id: &str, end: RuntimeEnd, timeout: Duration) -> InvokeEnd {
        match end {
            RuntimeEnd::Answered(RuntimeOutcome::Response(body)) => InvokeEnd {
                status: "success",
                error_type: None,
                result: InvokeStatus::Success,
                body,
                reset: None,
            },
            RuntimeEnd::Answered(RuntimeOutcome::Error { error_type, body }) => InvokeEnd {
                status: "error",
                error_type: Some(error_type.clone()),
                result: InvokeStatus::FunctionError { error_type },
                body,
                reset: None,
            },
            RuntimeEnd::Exited(exit) => InvokeEnd {
                status: "failure",
                error_type: Some("Runtime.ExitError".into()),
                result: InvokeStatus::Crashed,
                body: error_body(
                    "Runtime.ExitError",
                    format!("RequestId: {request_id} Error: Runtime exited with error: {exit}"),
                ),
                reset: Some(ShutdownReason::Failure),
            },
            RuntimeEnd::TimedOut => InvokeEnd {
                status: "timeout",
                error_type: Some("Sandbox.Timedout".into()),
                result: InvokeStatus::Timeout,
                body: error_body(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                        timeout.as_secs_f64()
                    ),
                ),
                reset: Some(ShutdownReason::Timeout),
            },
        }
    }

    /// Whether the INVOKE subscribers are waited for: only after the runtime answered (after
    /// an exit or a timeout the environment is reset anyway).
    pub(crate) fn waits_for_extensions(&self) -> bool {
        self.reset.is_none()
    }

    /// The whole invocation, given the extensions' part ([`ApiState::extensions_done`], `None`
    /// when the timeout came first): an extension that exited instead of asking again fails
    /// it (`Extension.Crash`), one still working at the timeout times it out; both reset the
    /// environment. The runtime's answer stands either way (Lambda returned it already).
    pub(crate) fn report(&self, extensions_done: Option<bool>) -> ReportEnd {
        let runtime = ReportEnd {
            status: self.status,
            error_type: self.error_type.clone(),
            reset: self.reset,
        };
        if !self.waits_for_extensions() {
            return runtime;
        }
        match extensions_done {
            Some(false) => runtime,
            Some(true) => ReportEnd {
                status: "failure",
                error_type: Some("Extension.Crash".into()),
                reset: Some(ShutdownReason::Failure),
            },
            None => ReportEnd {
                status: "timeout",
                error_type: Some("Sandbox.Timedout".into()),
                reset: Some(ShutdownReason::Timeout),
            },
        }
    }
}

/// The error payload Lambda returns for platform errors (timeouts, crashes).
fn error_body(error_type: &str, message: String) -> Bytes {
    serde_json::to_vec(&ErrorResponse {
        error_message: message,
        error_type: error_type.to_string(),
    })
    .map(Bytes::from)
    .unwrap_or_default()
}

/// What the records of a finished invocation name.
#[derive(Clone, Debug)]
pub(crate) struct InvokeFigures {
    pub(crate) request_id: String,
    /// Tenant isolation: the invocation's tenant (`tenantId`).
    pub(crate) tenant_id: Option<String>,
    pub(crate) status: &'static str,
    pub(crate) error_type: Option<String>,
    pub(crate) trace_id: String,
}

pub(crate) fn trace_context(trace_id: &str) -> TraceContext {
    TraceContext {
        span_id: None,
        kind: "X-Amzn-Trace-Id".into(),
        value: trace_id.to_string(),
    }
}

/// `platform.runtimeDone` of a finished invocation: the runtime's duration and what it
/// produced.
pub(crate) fn runtime_done_record(
    figures: &InvokeFigures,
    duration_ms: f64,
    produced_bytes: u64,
) -> RecordBody {
    RecordBody::RuntimeDone(RuntimeDone {
        request_id: figures.request_id.clone(),
        tenant_id: figures.tenant_id.clone(),
        status: figures.status.into(),
        error_type: figures.error_type.clone(),
        metrics: Some(RuntimeDoneMetrics {
            duration_ms,
            produced_bytes: Some(produced_bytes),
        }),
        tracing: Some(trace_context(&figures.trace_id)),
        spans: Vec::new(),
    })
}

/// `platform.report` of a finished invocation.
pub(crate) fn report_record(figures: &InvokeFigures, metrics: ReportMetrics) -> RecordBody {
    RecordBody::Report(Report {
        request_id: figures.request_id.clone(),
        tenant_id: figures.tenant_id.clone(),
        status: figures.status.into(),
        error_type: figures.error_type.clone(),
        metrics,
        tracing: Some(trace_context(&figures.trace_id)),
        spans: Vec::new(),
    })
}
