//! What the state machine's parts hand each other: an INVOKE, a held marker, an instance.

use chrono::{DateTime, Utc};

use crate::telemetry::record::ReportMetrics;

/// An INVOKE event as received.
#[derive(Debug, Clone)]
pub struct Invoke {
    pub request_id: String,
    pub at: DateTime<Utc>,
    pub xray_trace_id: Option<String>,
}

/// An invoke marker waiting for its `platform.report`.
#[derive(Debug, Clone)]
pub(super) struct Held {
    /// The init it followed (index into the inits).
    pub(super) init: usize,
    pub(super) seq: u64,
    pub(super) first_of_init: bool,
    pub(super) invoke: Invoke,
    pub(super) report: Option<ReportMetrics>,
}

/// What `platform.initStart` / `platform.restoreStart` say about the environment.
pub(super) struct Instance {
    pub(super) instance_id: Option<String>,
    pub(super) function_name: Option<String>,
    pub(super) function_version: Option<String>,
    pub(super) memory_mb: Option<u64>,
}
