//! The marker contract as a reader sees it (schema 1): the kinds, the fields attribution and the
//! front-ends use, and what a JSON object turned out to be.

use serde::{Deserialize, Serialize};

/// The schema this reader understands.
pub const SCHEMA: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Init,
    Invoke,
    Shutdown,
}

/// One marker, owned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    pub kind: Kind,
    /// Epoch milliseconds of the marker's `timestamp` (for `init`: when the init began).
    pub timestamp_ms: i64,
    pub function_name: String,
    pub function_version: String,
    pub env_id: String,
    /// Only on `init` markers.
    pub init: Option<Box<InitFields>>,
    /// Only on `shutdown` markers: `spindown`, `timeout`, `failure`.
    pub reason: Option<String>,
    /// The tenant the environment serves (tenant isolation); on every kind of marker.
    pub tenant_id: Option<String>,
    /// Only on `shutdown` markers: the requests the environment served in its life.
    pub invocations: Option<u64>,
}

/// The figures of an `init` marker.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct InitFields {
    pub init_type: String,
    pub init_phase: String,
    pub init_duration_ms: Option<f64>,
    pub runtime_init_ms: Option<f64>,
    pub extensions_init_ms: Option<f64>,
    /// coldmark's own start (its process start to its first `/event/next`).
    pub coldmark_init_ms: Option<f64>,
    /// Where the figures came from.
    pub source: Source,
    pub proactive: bool,
    pub config_fingerprint: String,
    pub function_memory_size: Option<u64>,
    pub function_request_id: Option<String>,
    /// Lambda's status of the init (`success`, `error`, `failure`, `timeout`); `None` on a
    /// marker written before the field existed (read as a success).
    pub init_status: Option<String>,
    /// Lambda's `errorType` of an init that did not succeed.
    pub init_error_type: Option<String>,
}

/// Where an init marker's figures came from (`source`). Only `telemetry` promises a measured
/// split; a marker without `source` (or with one this reader does not know) is read as
/// `extension`, as the contract says, so it is never taken for a measured split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Lambda's Telemetry API records.
    Telemetry,
    /// The Extensions API alone.
    #[default]
    Extension,
}

/// What a JSON object turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Marker(Marker),
    /// A `coldmark` object of a schema or kind this reader does not know.
    UnknownSchema,
    /// A `coldmark` object without a usable timestamp, function or environment.
    Malformed,
    /// Valid JSON, but not a marker.
    NotMarker,
}
