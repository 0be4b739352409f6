//! The stdout sink: one marker per line, each line one `write` (Lambda forwards stdout to
//! CloudWatch Logs line by line; a line written in pieces could interleave with the function's
//! own output).
//!
//! Writing happens on a dedicated thread behind a bounded queue, so a slow log pipe never
//! delays an invocation: when the queue is full the marker is counted as dropped instead.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Lines that may wait for the writer thread. Markers come a few per invocation at most.
const QUEUE: usize = 1024;

enum Msg {
    Line(String),
    /// Answer on the channel once every earlier line is written.
    Flush(mpsc::Sender<()>),
}

pub struct StdoutSink {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl StdoutSink {
    /// Starts the writer thread on the process's stdout.
    pub fn start() -> StdoutSink {
        Self::start_with(std::io::stdout)
    }

    /// Starts the writer thread on any writer (tests use a buffer).
    pub fn start_with<W, F>(open: F) -> StdoutSink
    where
        W: Write,
        F: FnOnce() -> W + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let spawned = std::thread::Builder::new()
            .name("coldmark-stdout".into())
            .spawn(move || writer(open(), rx, counter));
        if spawned.is_err() {
            tracing::warn!("cannot start the stdout writer thread; markers will be dropped");
        }
        StdoutSink { tx, dropped }
    }

    /// Queues one line (without its newline). Never blocks.
    pub fn write(&self, line: &str) {
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        match self.tx.try_send(Msg::Line(buf)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits up to `budget` for every queued line to be written. False if it ran out.
    pub fn flush(&self, budget: Duration) -> bool {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_err() {
            return false;
        }
        done_rx.recv_timeout(budget).is_ok()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn writer<W: Write>(mut out: W, rx: Receiver<Msg>, dropped: Arc<AtomicU64>) {
    for msg in rx {
        match msg {
            Msg::Line(line) => {
                if out.write_all(line.as_bytes()).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Msg::Flush(done) => {
                let _ = out.flush();
                let _ = done.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

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

    #[test]
    fn each_line_is_one_write_and_flush_waits_for_them() {
        let shared = Shared::default();
        let out = shared.clone();
        let sink = StdoutSink::start_with(move || out);
        sink.write(r#"{"coldmark":"init"}"#);
        sink.write(r#"{"coldmark":"invoke"}"#);
        assert!(sink.flush(Duration::from_secs(5)));
        let writes = shared.0.lock().unwrap().clone();
        assert_eq!(
            writes,
            vec![
                b"{\"coldmark\":\"init\"}\n".to_vec(),
                b"{\"coldmark\":\"invoke\"}\n".to_vec()
            ]
        );
        assert_eq!(sink.dropped(), 0);
    }
}
