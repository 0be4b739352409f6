//! `--json`: one object per init (`type: "init"`), then one `type: "summary"` per function;
//! figures rounded to the precision they were measured with (`round`).

use std::io::Write;

use serde::Serialize;

use crate::attribute::Attribution;
use crate::cause::{Cause, Evidence};
use crate::render::Render;
use crate::round;
use crate::summary::FunctionSummary;
use crate::time::{ms_text, MsText};

/// The `--json` init record (a public interface: names follow the marker contract).
#[derive(Debug, Serialize)]
pub struct InitRecord<'a> {
    #[serde(rename = "type")]
    pub record: &'static str,
    pub timestamp: MsText,
    pub function_name: &'a str,
    pub function_version: &'a str,
    pub env_id: &'a str,
    /// Only on a function with tenant isolation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<&'a str>,
    pub init_type: &'a str,
    pub init_phase: &'a str,
    #[serde(serialize_with = "round::ms_opt")]
    pub init_duration_ms: Option<f64>,
    #[serde(serialize_with = "round::ms_opt")]
    pub runtime_init_ms: Option<f64>,
    #[serde(serialize_with = "round::ms_opt")]
    pub extensions_init_ms: Option<f64>,
    pub function_memory_size: Option<u64>,
    #[serde(serialize_with = "round::gb_seconds_opt")]
    pub gb_seconds: Option<f64>,
    pub config_fingerprint: &'a str,
    pub proactive: bool,
    /// Lambda's status of the init; `null` from a marker that predates the field.
    pub init_status: Option<&'a str>,
    /// Only when the init did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_error_type: Option<&'a str>,
    pub cause: Cause,
    /// The evidence in words, with whole environment ids.
    pub evidence: String,
    /// The same evidence, typed.
    pub details: &'a Evidence,
}

impl<'a> InitRecord<'a> {
    pub fn new(a: &'a Attribution) -> InitRecord<'a> {
        InitRecord {
            record: "init",
            timestamp: ms_text(a.timestamp_ms),
            function_name: &a.function_name,
            function_version: &a.function_version,
            env_id: &a.env_id,
            tenant_id: a.tenant_id.as_deref(),
            init_type: &a.init_type,
            init_phase: &a.init_phase,
            init_duration_ms: a.init_duration_ms,
            runtime_init_ms: a.runtime_init_ms,
            extensions_init_ms: a.extensions_init_ms,
            function_memory_size: a.function_memory_size,
            gb_seconds: a.gb_seconds(),
            config_fingerprint: &a.config_fingerprint,
            proactive: a.proactive,
            init_status: a.init_status.as_deref(),
            init_error_type: a.init_error_type.as_deref().filter(|_| a.failed()),
            cause: a.cause,
            evidence: a.evidence.words_full(),
            details: &a.evidence,
        }
    }
}

pub struct Json<W: Write> {
    out: W,
    /// One record at a time: serde_json's many small writes land in a `Vec` (a copy each)
    /// rather than each going through the writer's own buffering, then one write per record.
    record: Vec<u8>,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Json<W> {
        Json {
            out,
            record: Vec::with_capacity(1024),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Render for Json<W> {
    fn init(&mut self, a: &Attribution) -> std::io::Result<()> {
        self.record.clear();
        serde_json::to_writer(&mut self.record, &InitRecord::new(a))?;
        self.record.push(b'\n');
        self.out.write_all(&self.record)
    }

    fn finish(&mut self, summary: &[FunctionSummary]) -> std::io::Result<()> {
        for f in summary {
            serde_json::to_writer(&mut self.out, f)?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}
