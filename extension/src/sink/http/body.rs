//! Framing a batch of marker lines into one request body.
//!
//! The queue holds markers already serialized by the marker module (one JSON object per
//! record, exactly the bytes written to stdout), so both formats only *frame* records: no
//! record is re-serialized, and what the collector stores is byte-for-byte what CloudWatch got.

use crate::config::http::Format;
use crate::sink::transport::{gzipped, Body, Encoder};

/// The HTTP sink's encoder: marker lines framed as `format`, gzipped if asked.
pub(crate) struct Lines {
    pub(crate) format: Format,
    pub(crate) gzip: bool,
}

impl Encoder for Lines {
    type Item = String;

    fn size(line: &String) -> usize {
        line.len()
    }

    fn encode(&self, batch: &[String]) -> std::io::Result<Body> {
        encode(batch, self.format, self.gzip)
    }
}

/// Frames `records` (each one JSON object) as `format`, then gzips if asked.
pub(crate) fn encode(records: &[String], format: Format, gzip: bool) -> std::io::Result<Body> {
    let framed_len = records.iter().map(|r| r.len() + 1).sum::<usize>() + 2;
    let mut framed = Vec::with_capacity(framed_len);
    let content_type = match format {
        Format::Ndjson => {
            for record in records {
                framed.extend_from_slice(record.as_bytes());
                framed.push(b'\n');
            }
            "application/x-ndjson"
        }
        Format::JsonArray => {
            framed.push(b'[');
            for (i, record) in records.iter().enumerate() {
                if i > 0 {
                    framed.push(b',');
                }
                framed.extend_from_slice(record.as_bytes());
            }
            framed.push(b']');
            "application/json"
        }
    };
    let bytes = if gzip { gzipped(&framed)? } else { framed };
    Ok(Body {
        bytes: bytes.into(),
        content_type,
        gzip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn records() -> Vec<String> {
        vec![
            r#"{"coldmark":"init","schema":1}"#.to_string(),
            r#"{"coldmark":"shutdown","dropped":0}"#.to_string(),
        ]
    }

    #[test]
    fn ndjson_is_one_record_per_line() {
        let body = encode(&records(), Format::Ndjson, false).unwrap();
        assert_eq!(body.content_type, "application/x-ndjson");
        let text = std::str::from_utf8(&body.bytes).unwrap();
        assert_eq!(text.lines().collect::<Vec<_>>(), records());
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn json_array_parses_as_an_array_of_the_records() {
        let body = encode(&records(), Format::JsonArray, false).unwrap();
        assert_eq!(body.content_type, "application/json");
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&body.bytes).unwrap();
        let expected: Vec<serde_json::Value> = records()
            .iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn gzip_round_trips() {
        let plain = encode(&records(), Format::Ndjson, false).unwrap();
        let zipped = encode(&records(), Format::Ndjson, true).unwrap();
        assert!(zipped.gzip);
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&zipped.bytes[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain.bytes);
    }
}
