//! Fan-out of marker lines to the sinks the user chose (`COLDMARK_SINK`): stdout (default) and
//! the HTTP sink. Every sink call on the invocation path only queues; sending happens on the
//! stdout writer thread and the HTTP sink's background task.

pub mod http;
pub(crate) mod stdout;

use std::time::Duration;

use crate::config::{HttpSettings, SinkChoice};
use crate::marker::Marker;
use http::HttpSink;
use stdout::StdoutSink;

pub(crate) struct Sinks {
    stdout: Option<StdoutSink>,
    http: Option<HttpSink>,
}

impl Sinks {
    /// Starts the chosen sinks with the settings `crate::config` read. Markers always go
    /// somewhere: with no working sink left, stdout is used. The warnings are only the HTTP
    /// sink's failure to start (the settings were warned about when read). Must run inside
    /// the tokio runtime (the HTTP sender is spawned on it).
    pub(crate) fn start(choice: SinkChoice, http: Option<HttpSettings>) -> (Sinks, Vec<String>) {
        let mut warnings = Vec::new();
        let http = http.and_then(|settings| match HttpSink::start(settings) {
            Ok(sink) => Some(sink),
            Err(why) => {
                warnings.push(format!("COLDMARK_SINK: HTTP sink off: {why}"));
                if !choice.stdout {
                    warnings.push(
                        "COLDMARK_SINK: no working sink left; writing markers to stdout".into(),
                    );
                }
                None
            }
        });
        let stdout = (choice.stdout || http.is_none()).then(StdoutSink::start);
        (Sinks { stdout, http }, warnings)
    }

    /// Queues markers on every sink. Never blocks.
    pub(crate) fn emit(&self, markers: &[Marker]) {
        for marker in markers {
            let line = marker.to_line();
            tracing::debug!("marker {}", marker.kind());
            if let Some(s) = &self.stdout {
                s.write(&line);
            }
            if let Some(h) = &self.http {
                h.enqueue(&line);
            }
        }
    }

    /// Lets the HTTP sink send in the background while the function runs (called at INVOKE).
    pub(crate) fn kick(&self) {
        if let Some(h) = &self.http {
            h.kick();
        }
    }

    /// Delivers what is queued, within `budget` (at SHUTDOWN, before the `shutdown` marker).
    /// Whatever is not out by then is counted in [`Sinks::dropped`].
    /// Both sinks flush side by side: a slow collector must not eat stdout's share, nor a
    /// blocked stdout the collector's.
    pub(crate) async fn flush(&self, budget: Duration) {
        let http = async {
            if let Some(h) = &self.http {
                h.flush(budget).await;
            }
        };
        let stdout = async {
            if let Some(s) = &self.stdout {
                s.flush(budget).await;
            }
        };
        tokio::join!(http, stdout);
    }

    /// Whether markers written to stdout are lost (stdout closed, or blocked past a flush).
    pub(crate) fn stdout_dead(&self) -> bool {
        self.stdout.as_ref().is_some_and(StdoutSink::dead)
    }

    /// Markers any sink could not deliver so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.stdout.as_ref().map_or(0, StdoutSink::dropped)
            + self.http.as_ref().map_or(0, HttpSink::dropped)
    }

    /// Lines that did not reach stdout so far.
    pub(crate) fn stdout_dropped(&self) -> u64 {
        self.stdout.as_ref().map_or(0, StdoutSink::dropped)
    }

    /// Writes the environment's last marker and waits (within `budget`) until it is out.
    pub(crate) async fn emit_last(&self, marker: &Marker, budget: Duration) {
        self.emit(std::slice::from_ref(marker));
        self.flush(budget).await;
    }
}
