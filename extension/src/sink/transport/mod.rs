//! What the network sinks share: a bounded queue, a background sender that delivers it in
//! batches with retries, and the flush that ends inside SHUTDOWN's budget. The HTTP sink runs
//! one queue of marker lines; the OTLP sink one per signal (log records, metric data points,
//! spans). A sink brings its [`Encoder`] (how a batch becomes a request body, and what a 2xx
//! answer says was rejected) and its [`Target`] (where, with which headers, which statuses are
//! retried).
//!
//! # Interface
//! - [`Queue::start`] builds the HTTP client and spawns the sender on the current tokio
//!   runtime.
//! - [`Queue::enqueue`] puts one item in the queue (bounded in items and bytes). It never
//!   blocks and never sends; a full queue drops the *new* item (the init marker, written first,
//!   is the one worth keeping) and counts it.
//! - [`Queue::kick`] wakes the sender (at INVOKE). Non-blocking.
//! - [`Queue::flush`] sends everything pending within a budget (at SHUTDOWN); what is still
//!   undelivered when the budget ends is counted as dropped and the queue closes.
//! - [`Queue::dropped`]: items that could not be delivered so far.
//!
//! When it sends and why there, retries and accounting: see `crate::sink::http`, whose rules
//! this module holds for both sinks.
//!
//! # Transport
//! reqwest (HTTP/1.1, rustls with ring, no HTTP/2), TCP_NODELAY, connect timeout and request
//! timeout both the sink's timeout. Errors are logged without their URL: endpoints can carry
//! credentials, and header values are marked sensitive. Redirects are never followed (a 3xx is
//! a failed delivery, counted, with one warning naming the status and the host it points to),
//! no `Referer` is sent, and no proxy is used but `COLDMARK_HTTP_PROXY`.

mod encoder;
mod queue;
pub(crate) mod retry;
mod send;

use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use tokio::time::Instant;

pub(crate) use encoder::{gzipped, Answer, Body, Encoder, Target};
use queue::Shared;
pub(crate) use queue::{Labels, Limits};

/// Why a sink cannot start. Never shows a URL: endpoints and proxies can carry credentials.
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

/// The HTTP client every queue of a sink shares: no redirects, no `Referer`, no proxy but
/// `proxy`, HTTP/1.1 over rustls.
pub(crate) fn client(
    timeout: Duration,
    proxy: Option<&Url>,
) -> Result<reqwest::Client, StartError> {
    // Redirects are never followed: a 301/302/303 would turn the POST into a body-less GET
    // that counts as delivered, a 307/308 would re-send the user's headers (credentials)
    // to wherever the answer points. No `Referer` either (it would carry the endpoint's
    // query string). No proxy but `COLDMARK_HTTP_PROXY`: reqwest would otherwise read the
    // function's HTTP_PROXY/HTTPS_PROXY/ALL_PROXY and show the headers to that proxy.
    let mut builder = reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .no_proxy()
        .user_agent(concat!("coldmark/", env!("CARGO_PKG_VERSION")));
    if let Some(proxy) = proxy {
        let proxy =
            reqwest::Proxy::all(proxy.clone()).map_err(|e| StartError::Proxy(e.without_url()))?;
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| StartError::Client(e.without_url()))
}

/// What a [`Queue::flush`] achieved. Counts are totals over the queue's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Items the collector accepted.
    pub delivered: u64,
    /// Items that could not be delivered (same as [`Queue::dropped`]).
    pub dropped: u64,
    /// Of `dropped`, those abandoned by this flush because its budget ended.
    pub abandoned: u64,
    /// True when the queue was drained within the budget.
    pub complete: bool,
}

/// Handle to one queue and its background sender. Cheap to call from the invocation path.
pub(crate) struct Queue<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + Sync + 'static> Queue<T> {
    /// Spawns the sender for `target` on the current tokio runtime, sending with `client`.
    pub(crate) fn start<E: Encoder<Item = T>>(
        client: reqwest::Client,
        target: Target,
        encoder: E,
        limits: Limits,
        labels: Labels,
    ) -> Result<Queue<T>, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let shared = Arc::new(Shared::new(limits, labels, E::size));
        runtime.spawn(send::sender(shared.clone(), client, target, encoder));
        Ok(Queue { shared })
    }

    /// Queues one item. Never blocks, never sends.
    pub(crate) fn enqueue(&self, item: T) {
        let len = (self.shared.size)(&item);
        let limits = self.shared.limits;
        let items = self.shared.labels.items;
        let mut state = self.shared.state();
        let fits = state.queue.len() < limits.queue_records
            && state.queued_bytes + len <= limits.queue_bytes;
        if state.closed || !fits {
            state.dropped += 1;
            let closed = state.closed;
            drop(state);
            if closed {
                self.shared.report_drop(format_args!(
                    "1 {items} written after the final flush, dropped"
                ));
            } else {
                self.shared
                    .report_drop(format_args!("queue full; 1 {items} dropped"));
            }
            return;
        }
        state.queued_bytes += len;
        state.queue.push_back(item);
    }

    /// Lets the sender start on what is queued. Never blocks.
    pub(crate) fn kick(&self) {
        self.shared.wake.notify_one();
    }

    /// Sends everything queued, waiting at most `budget`. Whatever is not delivered by then is
    /// counted as dropped and the queue closes (later items are dropped). Can be called more
    /// than once (e.g. before and after writing the `shutdown` marker).
    pub(crate) async fn flush(&self, budget: Duration) -> FlushReport {
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
            let items = self.shared.labels.items;
            self.shared.report_drop(format_args!(
                "{abandoned} {items} undelivered when the flush budget ended, dropped"
            ));
        }
        FlushReport {
            delivered: state.delivered,
            dropped: state.dropped,
            abandoned,
            complete: drained && !state.closed,
        }
    }

    /// Items that could not be delivered so far.
    pub(crate) fn dropped(&self) -> u64 {
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
