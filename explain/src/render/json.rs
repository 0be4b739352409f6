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
        write_init(&mut self.record, &InitRecord::new(a))?;
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

/// [`InitRecord`] as its `Serialize` derive writes it, byte for byte, with the keys as
/// literals and the strings that need no escape copied as they are. The derive is the
/// definition (the tests compare the two on every shape of record); this is the hot path:
/// through serde_json, every key went through the escaping and the compound's state, which made
/// writing an init record a sixth of a `--json` run.
pub(crate) fn write_init(out: &mut Vec<u8>, r: &InitRecord) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"type\":");
    put_str(out, r.record)?;
    out.extend_from_slice(b",\"timestamp\":");
    put_str(out, r.timestamp.as_str())?;
    out.extend_from_slice(b",\"function_name\":");
    put_str(out, r.function_name)?;
    out.extend_from_slice(b",\"function_version\":");
    put_str(out, r.function_version)?;
    out.extend_from_slice(b",\"env_id\":");
    put_str(out, r.env_id)?;
    if let Some(tenant_id) = r.tenant_id {
        out.extend_from_slice(b",\"tenant_id\":");
        put_str(out, tenant_id)?;
    }
    out.extend_from_slice(b",\"init_type\":");
    put_str(out, r.init_type)?;
    out.extend_from_slice(b",\"init_phase\":");
    put_str(out, r.init_phase)?;
    for (key, ms) in [
        (&b",\"init_duration_ms\":"[..], &r.init_duration_ms),
        (b",\"runtime_init_ms\":", &r.runtime_init_ms),
        (b",\"extensions_init_ms\":", &r.extensions_init_ms),
    ] {
        out.extend_from_slice(key);
        round::ms_opt(ms, &mut serde_json::Serializer::new(&mut *out))?;
    }
    out.extend_from_slice(b",\"function_memory_size\":");
    serde_json::to_writer(&mut *out, &r.function_memory_size)?;
    out.extend_from_slice(b",\"gb_seconds\":");
    round::gb_seconds_opt(&r.gb_seconds, &mut serde_json::Serializer::new(&mut *out))?;
    out.extend_from_slice(b",\"config_fingerprint\":");
    put_str(out, r.config_fingerprint)?;
    out.extend_from_slice(if r.proactive {
        b",\"proactive\":true"
    } else {
        b",\"proactive\":false"
    });
    out.extend_from_slice(b",\"init_status\":");
    match r.init_status {
        Some(status) => put_str(out, status)?,
        None => out.extend_from_slice(b"null"),
    }
    if let Some(error_type) = r.init_error_type {
        out.extend_from_slice(b",\"init_error_type\":");
        put_str(out, error_type)?;
    }
    out.extend_from_slice(b",\"cause\":");
    put_str(out, r.cause.as_str())?;
    out.extend_from_slice(b",\"evidence\":");
    put_str(out, &r.evidence)?;
    out.extend_from_slice(b",\"details\":");
    serde_json::to_writer(&mut *out, r.details)?;
    out.push(b'}');
    Ok(())
}

/// A JSON string: copied between quotes when nothing in it needs an escape (serde_json
/// escapes `"`, `\\` and control characters only, and writes everything else as it is), through
/// serde_json otherwise.
fn put_str(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ms_text;

    /// Every evidence the rules give, with the cause it goes with.
    fn evidences() -> Vec<(Cause, Evidence)> {
        vec![
            (
                Cause::AfterFailure,
                Evidence::ReplacesFailed {
                    env_id: "e\"1".into(),
                    reason: "failure".into(),
                    gap_ms: 1234,
                },
            ),
            (
                Cause::AfterFailure,
                Evidence::ReinitInInvoke {
                    function_request_id: Some("req-1".into()),
                },
            ),
            (
                Cause::AfterFailure,
                Evidence::ReinitInInvoke {
                    function_request_id: None,
                },
            ),
            (Cause::Provisioned, Evidence::Provisioned),
            (Cause::SnapStart, Evidence::SnapStart),
            (
                Cause::NewVersion,
                Evidence::NewVersion {
                    version: "7".into(),
                    previous_version: "$LATEST".into(),
                },
            ),
            (
                Cause::ConfigurationChange,
                Evidence::ConfigurationChange {
                    previous_fingerprint: "aaaaaaaaaaaa".into(),
                    fingerprint: "bbbbbbbbbbbb".into(),
                },
            ),
            (
                Cause::NewTenant,
                Evidence::NewTenant {
                    tenant_id: "tenant \\ \u{7}".into(),
                    previous_fingerprint: Some("aaaaaaaaaaaa".into()),
                    other_tenants_alive: 3,
                },
            ),
            (Cause::Proactive, Evidence::Proactive),
            (
                Cause::ScaleOut,
                Evidence::ScaleOut {
                    alive: 2,
                    unknown_configuration: 1,
                },
            ),
            (
                Cause::Replacement,
                Evidence::Replacement {
                    env_id: "e2".into(),
                    gap_ms: -5,
                },
            ),
            (
                Cause::FirstSeen,
                Evidence::FirstSeen {
                    last_seen_env: None,
                    last_seen_gap_ms: None,
                },
            ),
        ]
    }

    /// The fast writer gives what the derive gives, byte for byte, for every cause and
    /// evidence, each optional field present and absent, strings that need escapes (quotes,
    /// backslashes, control characters, non-ASCII), and timestamps beyond year 9999.
    #[test]
    fn the_writer_is_the_derive_byte_for_byte() {
        let texts = [
            "function-00",
            "fünction \"quoted\" \\ back\tslash\u{1}\u{1f}\u{7f}",
            "",
        ];
        let figures = [
            None,
            Some(150.0),
            Some(0.1 + 0.2),
            Some(1e-7),
            Some(123456.789),
        ];
        let mut compared = 0;
        for (i, (cause, details)) in evidences().iter().enumerate() {
            for (j, text) in texts.iter().enumerate() {
                for (k, figure) in figures.iter().enumerate() {
                    let flip = (i + j + k) % 2 == 0;
                    let record = InitRecord {
                        record: "init",
                        timestamp: ms_text(if flip {
                            1_764_064_818_123
                        } else {
                            i64::MAX / 4
                        }),
                        function_name: text,
                        function_version: if flip { "$LATEST" } else { text },
                        env_id: text,
                        tenant_id: flip.then_some(*text),
                        init_type: "on-demand",
                        init_phase: if flip { "init" } else { "invoke" },
                        init_duration_ms: *figure,
                        runtime_init_ms: figures[(k + 1) % figures.len()],
                        extensions_init_ms: figures[(k + 2) % figures.len()],
                        function_memory_size: flip.then_some(1024 + k as u64),
                        gb_seconds: figure.map(|f| f / 7.0),
                        config_fingerprint: text,
                        proactive: !flip,
                        init_status: [None, Some("success"), Some(*text)][k % 3],
                        init_error_type: (!flip).then_some(*text),
                        cause: *cause,
                        evidence: details.words_full(),
                        details,
                    };
                    let mut fast = Vec::new();
                    write_init(&mut fast, &record).unwrap();
                    let derived = serde_json::to_vec(&record).unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&fast),
                        String::from_utf8_lossy(&derived)
                    );
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 12 * 3 * 5);
    }
}
