//! The stdout sink: one marker per line, each line one `write` (Lambda forwards stdout to
//! CloudWatch Logs line by line; a line written in pieces could interleave with the function's
//! own output).
//!
//! Writing happens on a dedicated thread behind a bounded queue, so a slow log pipe never
//! delays an invocation: when the queue is full the marker is counted as dropped instead.
//! Nothing on the async runtime ever waits on stdout either: [`StdoutSink::flush`] watches
//! counters and gives up at its deadline, counting every line still queued or being written
//! as dropped — a log pipe nobody reads (stdout blocked for good) costs markers, counted,
//! never the shutdown deadline.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Lines that may wait for the writer thread. Markers come a few per invocation at most.
const QUEUE: usize = 1024;

/// How often a flush looks at the writer's progress.
const POLL: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Counts {
    /// Lines accepted into the queue.
    queued: u64,
    /// Lines the writer finished (written or failed).
    finished: u64,
    /// Lines lost: queue full, write failed, or still pending when a flush gave up.
    dropped: u64,
    /// A flush gave up: everything pending was counted; the writer's late outcomes are not.
    given_up: bool,
}

pub(crate) struct StdoutSink {
    tx: SyncSender<String>,
    counts: Arc<Mutex<Counts>>,
    /// Lines the writer failed to write (EPIPE: nobody holds the read end any more).
    failed: Arc<AtomicU64>,
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(|p| p.into_inner())
}

impl StdoutSink {
    /// Starts the writer thread on the process's stdout.
    pub(crate) fn start() -> StdoutSink {
        Self::start_with(std::io::stdout)
    }

    /// Starts the writer thread on any writer (tests use a buffer).
    pub(crate) fn start_with<W, F>(open: F) -> StdoutSink
    where
        W: Write,
        F: FnOnce() -> W + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let counts = Arc::new(Mutex::new(Counts::default()));
        let failed = Arc::new(AtomicU64::new(0));
        let (c, f) = (counts.clone(), failed.clone());
        let spawned = std::thread::Builder::new()
            .name("coldmark-stdout".into())
            .spawn(move || writer(open(), rx, c, f));
        if spawned.is_err() {
            tracing::warn!("cannot start the stdout writer thread; markers will be dropped");
        }
        StdoutSink { tx, counts, failed }
    }

    /// Queues one line (without its newline). Never blocks.
    pub(crate) fn write(&self, line: &str) {
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        let mut counts = lock(&self.counts);
        if counts.given_up {
            counts.dropped += 1;
            return;
        }
        match self.tx.try_send(buf) {
            Ok(()) => counts.queued += 1,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => counts.dropped += 1,
        }
    }

    /// Waits up to `budget` for every queued line to be written; never blocks the thread it
    /// runs on. False if the budget ran out: the lines still pending are then counted as
    /// dropped, and so is every line written after.
    pub(crate) async fn flush(&self, budget: Duration) -> bool {
        let end = Instant::now() + budget;
        loop {
            {
                let mut counts = lock(&self.counts);
                if counts.given_up {
                    return false;
                }
                if counts.finished >= counts.queued {
                    return true;
                }
                if Instant::now() >= end {
                    counts.dropped += counts.queued - counts.finished;
                    counts.given_up = true;
                    return false;
                }
            }
            tokio::time::sleep(POLL.min(end.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Lines that did not reach stdout so far.
    pub(crate) fn dropped(&self) -> u64 {
        lock(&self.counts).dropped
    }

    /// Whether stdout refused a write (closed) or a flush gave up on it (blocked): markers
    /// written there from now on are lost, so the loss must be told elsewhere.
    pub(crate) fn dead(&self) -> bool {
        self.failed.load(Ordering::Relaxed) > 0 || lock(&self.counts).given_up
    }
}

fn writer<W: Write>(
    mut out: W,
    rx: Receiver<String>,
    counts: Arc<Mutex<Counts>>,
    failed: Arc<AtomicU64>,
) {
    for line in rx {
        let ok = out
            .write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .is_ok();
        if !ok {
            failed.fetch_add(1, Ordering::Relaxed);
        }
        let mut counts = lock(&counts);
        if counts.given_up {
            continue;
        }
        counts.finished += 1;
        if !ok {
            counts.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A stdout nobody reads: every write blocks for good.
    struct Stuck;

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            loop {
                std::thread::park();
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn each_line_is_one_write_and_flush_waits_for_them() {
        let shared = Shared::default();
        let out = shared.clone();
        let sink = StdoutSink::start_with(move || out);
        sink.write(r#"{"coldmark":"init"}"#);
        sink.write(r#"{"coldmark":"invoke"}"#);
        assert!(sink.flush(Duration::from_secs(5)).await);
        let writes = shared.0.lock().unwrap().clone();
        assert_eq!(
            writes,
            vec![
                b"{\"coldmark\":\"init\"}\n".to_vec(),
                b"{\"coldmark\":\"invoke\"}\n".to_vec()
            ]
        );
        assert_eq!(sink.dropped(), 0);
        assert!(!sink.dead());
    }

    #[tokio::test]
    async fn a_blocked_stdout_costs_counted_lines_never_the_deadline() {
        let sink = StdoutSink::start_with(|| Stuck);
        for _ in 0..QUEUE + 10 {
            sink.write("{}");
        }
        let started = std::time::Instant::now();
        assert!(!sink.flush(Duration::from_millis(50)).await);
        assert!(started.elapsed() < Duration::from_secs(2));
        // Every line: one stuck in the writer, the full queue, and those refused.
        assert_eq!(sink.dropped(), (QUEUE + 10) as u64);
        assert!(sink.dead());
        sink.write("{}");
        assert_eq!(sink.dropped(), (QUEUE + 11) as u64);
    }
}
