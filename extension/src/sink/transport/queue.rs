//! A sink's queue state and the signals between its handle and its background sender. Items
//! are anything with a size: the HTTP sink's marker lines, the OTLP sink's log records, data
//! points and spans.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Bounds of the queue and of one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) queue_records: usize,
    pub(crate) queue_bytes: usize,
    pub(crate) batch_records: usize,
    pub(crate) batch_bytes: usize,
}

/// How a sink names itself and its items in its diagnostics.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Labels {
    /// "http sink", "otlp sink (logs)".
    pub(crate) sink: &'static str,
    /// "marker(s)", "log record(s)", "data point(s)", "span(s)".
    pub(crate) items: &'static str,
}

pub(crate) struct Shared<T> {
    pub(crate) state: Mutex<State<T>>,
    /// Wakes the sender (kick, flush).
    pub(crate) wake: Notify,
    /// Signalled when the sender has nothing queued and nothing in flight.
    pub(crate) idle: Notify,
    /// Signalled when a flush sets its deadline: a backoff wait that would overrun it ends.
    pub(crate) flushing: Notify,
    /// The first undeliverable item gets a warning, later ones only count (a dead collector
    /// must not turn into a warning per invocation in the user's log).
    pub(crate) warned: AtomicBool,
    pub(crate) limits: Limits,
    pub(crate) labels: Labels,
    /// An item's size in bytes, for the byte bounds.
    pub(crate) size: fn(&T) -> usize,
}

pub(crate) struct State<T> {
    pub(crate) queue: VecDeque<T>,
    pub(crate) queued_bytes: usize,
    /// Items of the batch the sender is working on.
    pub(crate) in_flight: usize,
    /// Set by `flush`: no attempt or wait may run past it.
    pub(crate) deadline: Option<Instant>,
    /// A flush ran out of budget: everything was counted; later items are dropped and the
    /// sender's late outcomes are ignored (so nothing is counted twice).
    pub(crate) closed: bool,
    pub(crate) delivered: u64,
    pub(crate) dropped: u64,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State {
            queue: VecDeque::new(),
            queued_bytes: 0,
            in_flight: 0,
            deadline: None,
            closed: false,
            delivered: 0,
            dropped: 0,
        }
    }
}

/// How the in-flight batch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The collector took it; it said `rejected` of its items were not accepted (OTLP partial
    /// success; 0 elsewhere).
    Delivered { rejected: u64 },
    /// Not delivered: every item is dropped.
    Failed,
}

impl<T> Shared<T> {
    pub(crate) fn new(limits: Limits, labels: Labels, size: fn(&T) -> usize) -> Self {
        Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            idle: Notify::new(),
            flushing: Notify::new(),
            warned: AtomicBool::new(false),
            limits,
            labels,
            size,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock would be a bug in a few lines of arithmetic; carry on
        // with the data rather than take the extension down.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the next batch and marks it in flight; empty when there is nothing to send.
    pub(crate) fn take_batch(&self) -> Vec<T> {
        let mut state = self.state();
        if state.closed {
            return Vec::new();
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(next) = state.queue.front() {
            let len = (self.size)(next);
            if !batch.is_empty()
                && (batch.len() >= self.limits.batch_records
                    || bytes + len > self.limits.batch_bytes)
            {
                break;
            }
            let item = state.queue.pop_front().expect("front exists");
            state.queued_bytes -= len;
            bytes += len;
            batch.push(item);
        }
        state.in_flight = batch.len();
        batch
    }

    /// Records the outcome of the in-flight batch, unless a flush already counted it.
    pub(crate) fn settle(&self, outcome: Outcome) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        let n = std::mem::take(&mut state.in_flight) as u64;
        match outcome {
            Outcome::Delivered { rejected } => {
                let rejected = rejected.min(n);
                state.delivered += n - rejected;
                state.dropped += rejected;
            }
            Outcome::Failed => state.dropped += n,
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        let state = self.state();
        state.closed || (state.queue.is_empty() && state.in_flight == 0)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.state().deadline
    }

    /// One warning for the first loss, debug lines after it.
    pub(crate) fn report_drop(&self, what: std::fmt::Arguments<'_>) {
        let sink = self.labels.sink;
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!("{sink}: {what}");
        } else {
            tracing::warn!(
                "{sink}: {what} (later losses are only counted, in the shutdown marker's dropped)"
            );
        }
    }
}
