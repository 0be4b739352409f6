//! The HTTP sink: ships marker lines to a collector (ClickHouse, Vector, Loki, an OTel
//! collector's HTTP log receiver …) in batches, without ever holding an invocation.
//!
//! # Interface
//! - `HttpSink::start` starts the background sender on the current tokio runtime with the
//!   settings `crate::config` read (`COLDMARK_HTTP_*`); [`HttpSink::from_env`] reads them
//!   itself, for tests and embedders. Bad settings give warnings naming the variable; never a
//!   panic.
//! - [`HttpSink::enqueue`] puts one marker line in a bounded queue (records and bytes). It never
//!   blocks and never sends; a full queue drops the *new* record (the init marker, written
//!   first, is the one worth keeping) and counts it.
//! - [`HttpSink::kick`] wakes the sender (the extension calls it at INVOKE). Non-blocking.
//! - [`HttpSink::flush`] sends everything pending within a budget (at SHUTDOWN); what is still
//!   undelivered when the budget ends is counted as dropped and the sink closes.
//! - [`HttpSink::dropped`]: records that could not be delivered so far, for the `shutdown`
//!   marker's `dropped`.
//!
//! # When it sends, and why there
//! Lambda freezes the environment as soon as the runtime and every extension have asked for
//! their next event, and may never thaw it. So the sink sends only while the environment is
//! known to run, never on the INVOKE → next-event path:
//! 1. **During an invocation.** At INVOKE the extension calls `kick` and immediately asks for
//!    the next event; the sender sends what is queued (markers of the previous invocation or of
//!    init) in the background while the function runs. If the function returns first, the
//!    environment freezes with the request in flight: after the thaw (next invocation) the
//!    request either completes or fails on its timeout (the monotonic clock kept running) or
//!    on a connection the collector closed meanwhile, and is then retried. A request the
//!    collector had already stored before the freeze may be stored twice: delivery is
//!    at-least-once, de-duplicate on (`env_id`, `coldmark`, `seq`/`timestamp`) if it matters.
//!    An environment that is never thawed gets its SHUTDOWN (Lambda sends one before reclaiming
//!    it), where step 2 applies.
//! 2. **At SHUTDOWN**, within the 2 s shutdown deadline: `flush(budget)` (the extension uses
//!    about 1.5 s) drains the queue; retries and `Retry-After` waits are only started if they
//!    end before the budget does (a background backoff already running when the flush starts
//!    is cut short if it would overrun: that batch is given up so the rest of the queue gets
//!    the budget), and each request's timeout is cut to the budget left. At the end of the
//!    budget everything still queued or in flight is counted as dropped.
//!
//! # Retries and accounting
//! See `transport::retry`: 5xx/429/connection errors/timeouts are retried `COLDMARK_HTTP_RETRIES` times
//! (default 3) with exponential backoff; other 4xx are not. Every record ends in exactly one of
//! `delivered` or `dropped` (full queue, rejected batch, retries exhausted, budget ended, or
//! enqueued after the sink closed). The only record that cannot be reported in a `shutdown`
//! marker is the `shutdown` marker itself. The first loss of a sink's life gets one warning
//! (so a lost `shutdown` marker is visible on stderr unless an earlier loss was, and that one
//! is counted in the marker); later losses are debug lines, not a warning per invocation.
//!
//! # Transport
//! The queue, the sender, the retries and the client are `crate::sink::transport`'s, shared
//! with the OTLP sink; this module only frames marker lines (`body`). reqwest (HTTP/1.1, rustls
//! with ring, no HTTP/2), TCP_NODELAY, connect timeout and request timeout both
//! `COLDMARK_HTTP_TIMEOUT_MS`. Errors are logged without their URL: endpoints can
//! carry credentials, and header values are marked sensitive. Redirects are never followed (a
//! 3xx is a failed delivery, counted, with one warning naming the status and the host it points
//! to), no `Referer` is sent, and no proxy is used but `COLDMARK_HTTP_PROXY`.

mod body;

use std::time::Duration;

use crate::config::HttpSettings;
use crate::sink::transport::retry::RetryOn;
pub use crate::sink::transport::FlushReport;
use crate::sink::transport::{self, Labels, Limits, Queue, StartError, Target};
use body::Lines;

/// Handle to the queue and its background sender. Cheap to call from the invocation path.
pub struct HttpSink {
    queue: Queue<String>,
}

impl HttpSink {
    /// Reads `COLDMARK_SINK` and the `COLDMARK_HTTP_*` variables through `env` and starts the
    /// sink on the current tokio runtime. `None` when the sink is not selected or cannot run;
    /// warnings say why.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> (Option<HttpSink>, Vec<String>) {
        let (config, mut warnings) = HttpSettings::from_env(env);
        let Some(config) = config else {
            return (None, warnings);
        };
        match HttpSink::start(config) {
            Ok(sink) => (Some(sink), warnings),
            Err(why) => {
                warnings.push(format!("COLDMARK_SINK: HTTP sink off: {why}"));
                (None, warnings)
            }
        }
    }

    /// Builds the client and spawns the sender on the current tokio runtime.
    pub(crate) fn start(config: HttpSettings) -> Result<HttpSink, StartError> {
        let client = transport::client(config.timeout, config.proxy.as_ref())?;
        let target = Target {
            endpoint: config.endpoint.clone(),
            headers: config.headers.clone(),
            timeout: config.timeout,
            retries: config.retries,
            backoff: config.backoff,
            retry_on: RetryOn::ServerErrors,
        };
        let limits = Limits {
            queue_records: config.queue_records,
            queue_bytes: config.queue_bytes,
            batch_records: config.batch_records,
            batch_bytes: config.batch_bytes,
        };
        let labels = Labels {
            sink: "http sink",
            items: "marker(s)",
        };
        let encoder = Lines {
            format: config.format,
            gzip: config.gzip,
        };
        let queue = Queue::start(client, target, encoder, limits, labels)?;
        Ok(HttpSink { queue })
    }

    /// Queues one marker line (trailing newline optional). Never blocks, never sends.
    pub fn enqueue(&self, line: &str) {
        let line = line.trim_end_matches(['\n', '\r']);
        self.queue.enqueue(line.to_string());
    }

    /// Lets the sender start on what is queued. Never blocks.
    pub fn kick(&self) {
        self.queue.kick();
    }

    /// Sends everything queued, waiting at most `budget`. Whatever is not delivered by then is
    /// counted as dropped and the sink closes (later records are dropped). Can be called more
    /// than once (e.g. before and after writing the `shutdown` marker).
    pub async fn flush(&self, budget: Duration) -> FlushReport {
        self.queue.flush(budget).await
    }

    /// Records that could not be delivered so far.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }
}
