//! One signal's batch as an OTLP/HTTP request body (binary protobuf or OTLP/JSON, gzipped if
//! asked), and the collector's answer read for a partial success: the three signals'
//! [`Encoder`]s for the shared transport.
//!
//! OTLP/JSON comes from `opentelemetry-proto`'s serde derives, which write what the OTLP
//! specification asks (lowerCamelCase names, trace and span ids as hex, enums as integers,
//! 64-bit integers as strings); `encode/tests.rs` decodes our JSON to check it. Answers are read
//! leniently by hand instead: the crate reads `rejectedLogRecords` only as a JSON number, where
//! a conforming collector writes a string.

use std::sync::{Arc, OnceLock};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use super::encode::{self, Point};
use crate::config::otlp::Protocol;
use crate::sink::transport::{gzipped, Answer, Body, Encoder};

/// How a signal's requests are written, and the resource they all carry (set by the first
/// marker, before any item is queued).
#[derive(Clone)]
pub(crate) struct Wire {
    pub(crate) resource: Arc<OnceLock<Resource>>,
    pub(crate) protocol: Protocol,
    pub(crate) gzip: bool,
}

impl Wire {
    fn resource(&self) -> Resource {
        self.resource.get().cloned().unwrap_or_default()
    }

    /// The request as its protocol writes it.
    fn body<M: Message + serde::Serialize>(&self, request: &M) -> std::io::Result<Body> {
        let (bytes, content_type) = match self.protocol {
            Protocol::Protobuf => (request.encode_to_vec(), "application/x-protobuf"),
            Protocol::Json => (serde_json::to_vec(request)?, "application/json"),
        };
        let bytes = if self.gzip { gzipped(&bytes)? } else { bytes };
        Ok(Body {
            bytes: bytes.into(),
            content_type,
            gzip: self.gzip,
        })
    }

    /// Whether the answer is OTLP/JSON: its `Content-Type` says so, or, without one, the
    /// request was (the specification answers in the request's encoding).
    fn json_answer(&self, answer: &Answer) -> bool {
        match answer.content_type.as_deref() {
            Some(t) if t.contains("json") => true,
            Some(t) if t.contains("protobuf") => false,
            _ => self.protocol == Protocol::Json,
        }
    }
}

/// `partialSuccess.<field>` of a JSON answer, as a string (the specification's form for a
/// 64-bit integer) or a number; 0 when absent or unreadable.
fn json_rejected(body: &[u8], field: &str) -> u64 {
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
        return 0;
    };
    let value = &answer["partialSuccess"][field];
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0)
}

fn positive(n: i64) -> u64 {
    n.max(0) as u64
}

/// Log records.
pub(crate) struct Logs(pub(crate) Wire);

impl Encoder for Logs {
    type Item = LogRecord;

    fn size(record: &LogRecord) -> usize {
        record.encoded_len()
    }

    fn encode(&self, batch: &[LogRecord]) -> std::io::Result<Body> {
        self.0
            .body(&encode::logs_request(&self.0.resource(), batch))
    }

    fn rejected(&self, answer: &Answer) -> u64 {
        if answer.body.is_empty() {
            0
        } else if self.0.json_answer(answer) {
            json_rejected(&answer.body, "rejectedLogRecords")
        } else {
            ExportLogsServiceResponse::decode(answer.body.as_slice())
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| positive(p.rejected_log_records))
        }
    }
}

/// Metric data points.
pub(crate) struct Metrics(pub(crate) Wire);

impl Encoder for Metrics {
    type Item = Point;

    fn size(point: &Point) -> usize {
        match point {
            Point::ColdStarts(p) => p.encoded_len(),
            Point::InitDuration(p) => p.encoded_len(),
        }
    }

    fn encode(&self, batch: &[Point]) -> std::io::Result<Body> {
        self.0
            .body(&encode::metrics_request(&self.0.resource(), batch))
    }

    fn rejected(&self, answer: &Answer) -> u64 {
        if answer.body.is_empty() {
            0
        } else if self.0.json_answer(answer) {
            json_rejected(&answer.body, "rejectedDataPoints")
        } else {
            ExportMetricsServiceResponse::decode(answer.body.as_slice())
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| positive(p.rejected_data_points))
        }
    }
}

/// Spans.
pub(crate) struct Traces(pub(crate) Wire);

impl Encoder for Traces {
    type Item = Span;

    fn size(span: &Span) -> usize {
        span.encoded_len()
    }

    fn encode(&self, batch: &[Span]) -> std::io::Result<Body> {
        self.0
            .body(&encode::traces_request(&self.0.resource(), batch))
    }

    fn rejected(&self, answer: &Answer) -> u64 {
        if answer.body.is_empty() {
            0
        } else if self.0.json_answer(answer) {
            json_rejected(&answer.body, "rejectedSpans")
        } else {
            ExportTraceServiceResponse::decode(answer.body.as_slice())
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| positive(p.rejected_spans))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;

    fn wire(protocol: Protocol) -> Wire {
        Wire {
            resource: Arc::new(OnceLock::new()),
            protocol,
            gzip: false,
        }
    }

    fn answer(content_type: Option<&str>, body: Vec<u8>) -> Answer {
        Answer {
            content_type: content_type.map(str::to_string),
            body,
            location: None,
        }
    }

    #[test]
    fn partial_success_is_read_in_either_encoding() {
        let proto = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        let logs = Logs(wire(Protocol::Protobuf));
        assert_eq!(
            logs.rejected(&answer(Some("application/x-protobuf"), proto.clone())),
            2
        );
        assert_eq!(
            logs.rejected(&answer(None, proto)),
            2,
            "the request's encoding"
        );
        let json = br#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"x"}}"#;
        assert_eq!(
            logs.rejected(&answer(Some("application/json"), json.to_vec())),
            3
        );
        let spans = Traces(wire(Protocol::Json));
        let json = br#"{"partialSuccess":{"rejectedSpans":4}}"#;
        assert_eq!(spans.rejected(&answer(None, json.to_vec())), 4);
        let metrics = Metrics(wire(Protocol::Json));
        let json = br#"{"partialSuccess":{"rejectedDataPoints":"1"}}"#;
        assert_eq!(
            metrics.rejected(&answer(
                Some("application/json; charset=utf-8"),
                json.to_vec()
            )),
            1
        );
    }

    #[test]
    fn full_success_and_unreadable_answers_reject_nothing() {
        let logs = Logs(wire(Protocol::Protobuf));
        assert_eq!(logs.rejected(&answer(None, Vec::new())), 0);
        assert_eq!(
            logs.rejected(&answer(Some("application/json"), b"{}".to_vec())),
            0
        );
        assert_eq!(
            logs.rejected(&answer(Some("text/plain"), b"ok".to_vec())),
            0
        );
        let empty = ExportLogsServiceResponse::default().encode_to_vec();
        assert_eq!(logs.rejected(&answer(None, empty)), 0);
    }
}
