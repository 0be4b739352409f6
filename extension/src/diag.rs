//! coldmark's own diagnostics: `tracing` to stderr, one terse line per event, each starting
//! with `coldmark <level>:` so no diagnostic can be mistaken for a marker (never a JSON line).
//! The level comes from `COLDMARK_LOG`, parsed by `config` (tracing-subscriber's env-filter
//! would pull in a regex engine for one word).
//!
//! Lines go to stderr through a thread of their own behind a bounded queue: on Lambda stderr
//! is the same log pipe as stdout, and a pipe nobody reads must not stop coldmark in a
//! `write` (a line that finds the queue full is lost). [`drain`] gives the lines a bounded
//! moment to get out before the process exits.

use std::fmt;
use std::io::Write;
use std::sync::mpsc::{self, SyncSender};
use std::sync::OnceLock;
use std::time::Duration;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

struct Terse;

impl<S, N> FormatEvent<S, N> for Terse
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        write!(writer, "coldmark {level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Diagnostic lines waiting for the stderr thread, at most.
const QUEUE: usize = 256;

enum Msg {
    Line(Vec<u8>),
    /// Answer once every earlier line is written.
    Drained(mpsc::Sender<()>),
}

static LINES: OnceLock<SyncSender<Msg>> = OnceLock::new();

/// One diagnostic line, handed to the stderr thread when tracing is done with it.
struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if let Some(tx) = LINES.get() {
            let _ = tx.try_send(Msg::Line(std::mem::take(&mut self.0)));
        }
    }
}

fn start_stderr_thread() -> bool {
    let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("coldmark-stderr".into())
        .spawn(move || {
            let mut err = std::io::stderr();
            for msg in rx {
                match msg {
                    Msg::Line(line) => {
                        let _ = err.write_all(&line);
                    }
                    Msg::Drained(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
    spawned.is_ok() && LINES.set(tx).is_ok()
}

/// Waits at most `limit` for the diagnostics written so far to reach stderr.
pub fn drain(limit: Duration) {
    let Some(tx) = LINES.get() else { return };
    let (done, drained) = mpsc::channel();
    if tx.try_send(Msg::Drained(done)).is_ok() {
        let _ = drained.recv_timeout(limit);
    }
}

/// Installs the subscriber; `None` turns diagnostics off.
pub fn init(level: Option<Level>) {
    let Some(level) = level else { return };
    if !start_stderr_thread() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(|| Line(Vec::new()))
        .with_ansi(false)
        .with_max_level(level)
        .event_format(Terse)
        .try_init();
}
