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
//! See `retry`: 5xx/429/connection errors/timeouts are retried `COLDMARK_HTTP_RETRIES` times
//! (default 3) with exponential backoff; other 4xx are not. Every record ends in exactly one of
//! `delivered` or `dropped` (full queue, rejected batch, retries exhausted, budget ended, or
//! enqueued after the sink closed). The only record that cannot be reported in a `shutdown`
//! marker is the `shutdown` marker itself. The first loss of a sink's life gets one warning
//! (so a lost `shutdown` marker is visible on stderr unless an earlier loss was, and that one
//! is counted in the marker); later losses are debug lines, not a warning per invocation.
//!
//! # Transport
//! reqwest (HTTP/1.1, rustls with ring, no HTTP/2), TCP_NODELAY, connect timeout and request
//! timeout both `COLDMARK_HTTP_TIMEOUT_MS`. Errors are logged without their URL: endpoints can
//! carry credentials, and header values are marked sensitive. Redirects are never followed (a
//! 3xx is a failed delivery, counted, with one warning naming the status and the host it points
//! to), no `Referer` is sent, and no proxy is used but `COLDMARK_HTTP_PROXY`.

mod body;
mod retry;
mod send;
mod shared;

use std::fmt;
use std::pin::pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::HttpSettings;
use send::sender;
use shared::{Shared, State};

/// Why the HTTP sink cannot start. Never shows a URL: endpoints and proxies can carry
/// credentials.
#[derive(Debug)]
pub(crate) enum StartError {
    /// Not called on a tokio runtime (the sender runs on it).
    NoRuntime,
    /// `COLDMARK_HTTP_PROXY` was refused by the HTTP client.
    Proxy(reqwest::Error),
    /// The HTTP client could not be built (TLS set-up).
    Client(reqwest::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NoRuntime => f.write_str("no tokio runtime to run the sender on"),
            StartError::Proxy(e) => write!(f, "COLDMARK_HTTP_PROXY unusable: {e}"),
            StartError::Client(e) => write!(f, "cannot build the HTTP client: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::NoRuntime => None,
            StartError::Proxy(e) | StartError::Client(e) => Some(e),
        }
    }
}

/// What a [`HttpSink::flush`] achieved. Counts are totals over the sink's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Records the collector accepted (2xx).
    pub delivered: u64,
    /// Records that could not be delivered (same as [`HttpSink::dropped`]).
    pub dropped: u64,
    /// Of `dropped`, those abandoned by this flush because its budget ended.
    pub abandoned: u64,
    /// True when the queue was drained within the budget.
    pub complete: bool,
}

/// Handle to the queue and its background sender. Cheap to call from the invocation path.
pub struct HttpSink {
    shared: Arc<Shared>,
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
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        // Redirects are never followed: a 301/302/303 would turn the POST into a body-less GET
        // that counts as delivered, a 307/308 would re-send the user's headers (credentials)
        // to wherever the answer points. No `Referer` either (it would carry the endpoint's
        // query string). No proxy but `COLDMARK_HTTP_PROXY`: reqwest would otherwise read the
        // function's HTTP_PROXY/HTTPS_PROXY/ALL_PROXY and show the headers to that proxy.
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .no_proxy()
            .user_agent(concat!("coldmark/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = &config.proxy {
            let proxy = reqwest::Proxy::all(proxy.clone())
                .map_err(|e| StartError::Proxy(e.without_url()))?;
            builder = builder.proxy(proxy);
        }
        let client = builder
            .build()
            .map_err(|e| StartError::Client(e.without_url()))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            idle: Notify::new(),
            flushing: Notify::new(),
            warned: AtomicBool::new(false),
            queue_records: config.queue_records,
            queue_bytes: config.queue_bytes,
            batch_records: config.batch_records,
            batch_bytes: config.batch_bytes,
        });
        runtime.spawn(sender(shared.clone(), client, config));
        Ok(HttpSink { shared })
    }

    /// Queues one marker line (trailing newline optional). Never blocks, never sends.
    pub fn enqueue(&self, line: &str) {
        let line = line.trim_end_matches(['\n', '\r']);
        let mut state = self.shared.state();
        let fits = state.queue.len() < self.shared.queue_records
            && state.queued_bytes + line.len() <= self.shared.queue_bytes;
        if state.closed || !fits {
            state.dropped += 1;
            let closed = state.closed;
            drop(state);
            if closed {
                self.shared.report_drop(format_args!(
                    "marker written after the final flush, dropped"
                ));
            } else {
                self.shared
                    .report_drop(format_args!("queue full, marker dropped"));
            }
            return;
        }
        state.queued_bytes += line.len();
        state.queue.push_back(line.to_string());
    }

    /// Lets the sender start on what is queued. Never blocks.
    pub fn kick(&self) {
        self.shared.wake.notify_one();
    }

    /// Sends everything queued, waiting at most `budget`. Whatever is not delivered by then is
    /// counted as dropped and the sink closes (later records are dropped). Can be called more
    /// than once (e.g. before and after writing the `shutdown` marker).
    pub async fn flush(&self, budget: Duration) -> FlushReport {
        let deadline = Instant::now() + budget;
        self.shared.state().deadline = Some(deadline);
        self.shared.flushing.notify_waiters();
        self.shared.wake.notify_one();
        let drained = tokio::time::timeout_at(deadline, self.wait_idle())
            .await
            .is_ok();
        let mut state = self.shared.state();
        let mut abandoned = 0;
        if drained {
            state.deadline = None;
        } else if !state.closed {
            abandoned = (state.queue.len() + state.in_flight) as u64;
            state.dropped += abandoned;
            state.queue.clear();
            state.queued_bytes = 0;
            state.in_flight = 0;
            state.closed = true;
            self.shared.report_drop(format_args!(
                "{abandoned} marker(s) undelivered when the flush budget ended, dropped"
            ));
        }
        FlushReport {
            delivered: state.delivered,
            dropped: state.dropped,
            abandoned,
            complete: drained && !state.closed,
        }
    }

    /// Records that could not be delivered so far.
    pub fn dropped(&self) -> u64 {
        self.shared.state().dropped
    }

    async fn wait_idle(&self) {
        loop {
            let mut notified = pin!(self.shared.idle.notified());
            notified.as_mut().enable();
            if self.shared.is_idle() {
                return;
            }
            notified.await;
        }
    }
}
