//! The queue's state and the signals between the sink's handle and its background sender.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Wakes the sender (kick, flush).
    pub(super) wake: Notify,
    /// Signalled when the sender has nothing queued and nothing in flight.
    pub(super) idle: Notify,
    /// Signalled when a flush sets its deadline: a backoff wait that would overrun it ends.
    pub(super) flushing: Notify,
    /// The first undeliverable marker gets a warning, later ones only count (a dead collector
    /// must not turn into a warning per invocation in the user's log).
    pub(super) warned: AtomicBool,
    pub(super) queue_records: usize,
    pub(super) queue_bytes: usize,
    pub(super) batch_records: usize,
    pub(super) batch_bytes: usize,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) queue: VecDeque<String>,
    pub(super) queued_bytes: usize,
    /// Records of the batch the sender is working on.
    pub(super) in_flight: usize,
    /// Set by `flush`: no attempt or wait may run past it.
    pub(super) deadline: Option<Instant>,
    /// A flush ran out of budget: everything was counted; later records are dropped and the
    /// sender's late outcomes are ignored (so nothing is counted twice).
    pub(super) closed: bool,
    pub(super) delivered: u64,
    pub(super) dropped: u64,
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock would be a bug in a few lines of arithmetic; carry on
        // with the data rather than take the extension down.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the next batch and marks it in flight; empty when there is nothing to send.
    pub(super) fn take_batch(&self) -> Vec<String> {
        let mut state = self.state();
        if state.closed {
            return Vec::new();
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(next) = state.queue.front() {
            if !batch.is_empty()
                && (batch.len() >= self.batch_records || bytes + next.len() > self.batch_bytes)
            {
                break;
            }
            let record = state.queue.pop_front().expect("front exists");
            state.queued_bytes -= record.len();
            bytes += record.len();
            batch.push(record);
        }
        state.in_flight = batch.len();
        batch
    }

    /// Records the outcome of the in-flight batch, unless a flush already counted it.
    pub(super) fn settle(&self, delivered: bool) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        let n = std::mem::take(&mut state.in_flight) as u64;
        if delivered {
            state.delivered += n;
        } else {
            state.dropped += n;
        }
    }

    pub(super) fn is_idle(&self) -> bool {
        let state = self.state();
        state.closed || (state.queue.is_empty() && state.in_flight == 0)
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.state().deadline
    }

    /// One warning for the first loss, debug lines after it.
    pub(super) fn report_drop(&self, what: std::fmt::Arguments<'_>) {
        if self.warned.swap(true, Ordering::Relaxed) {
            tracing::debug!("http sink: {what}");
        } else {
            tracing::warn!(
                "http sink: {what} (later losses are only counted, in the shutdown marker's dropped)"
            );
        }
    }
}
