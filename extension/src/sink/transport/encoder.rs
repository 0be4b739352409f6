//! What a sink brings to the shared transport: its [`Encoder`] (a batch as a request body, and
//! what a 2xx answer says was rejected) and its [`Target`] (where, with which headers, which
//! statuses are retried).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;

use super::retry::RetryOn;

/// A ready-to-send body and the headers that describe it.
pub(crate) struct Body {
    pub(crate) bytes: bytes::Bytes,
    pub(crate) content_type: &'static str,
    pub(crate) gzip: bool,
}

/// `bytes` gzipped (both network sinks' optional compression; flate2's pure-Rust backend).
/// Level 6 is the usual balance; batches are small, so this costs microseconds.
pub(crate) fn gzipped(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(6),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// What a collector answered to one request.
pub(crate) struct Answer {
    /// `Content-Type`, lower case.
    pub(crate) content_type: Option<String>,
    /// The body (at most 64 KiB; empty beyond that).
    pub(crate) body: Vec<u8>,
    /// For a redirect: the host it points to.
    pub(crate) location: Option<String>,
}

/// How a sink turns a batch into a request, and reads the collector's 2xx answer.
pub(crate) trait Encoder: Send + Sync + 'static {
    type Item: Send + Sync + 'static;

    /// One item's size in bytes, for the queue's and the batch's byte bounds.
    fn size(item: &Self::Item) -> usize;

    fn encode(&self, batch: &[Self::Item]) -> std::io::Result<Body>;

    /// Items of a delivered batch the collector says it did not accept (OTLP's partial
    /// success); 0 where the protocol has no such answer.
    fn rejected(&self, _answer: &Answer) -> u64 {
        0
    }
}

/// Where a queue's batches go.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) endpoint: Url,
    /// All marked sensitive.
    pub(crate) headers: HeaderMap,
    /// Per request (connect + send + answer); also the connect timeout.
    pub(crate) timeout: Duration,
    /// Retries after the first attempt.
    pub(crate) retries: u32,
    /// The first retry waits this long; each further one twice as long (with jitter).
    pub(crate) backoff: Duration,
    pub(crate) retry_on: RetryOn,
}
