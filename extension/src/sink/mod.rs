//! Fan-out of marker lines to the sinks the user chose (`COLDMARK_SINK`): stdout (default) and
//! the HTTP sink. Every sink call on the invocation path only queues; sending happens on the
//! stdout writer thread and the HTTP sink's background task.

pub mod http;
pub mod stdout;

use std::time::Duration;

use crate::config::SinkChoice;
use crate::marker::Marker;
use http::HttpSink;
use stdout::StdoutSink;

pub struct Sinks {
    stdout: Option<StdoutSink>,
    http: Option<HttpSink>,
}

impl Sinks {
    /// Starts the chosen sinks (the HTTP sink reads its own `COLDMARK_HTTP_*` variables through
    /// `env`). Markers always go somewhere: with no working sink left, stdout is used.
    /// Must run inside the tokio runtime (the HTTP sender is spawned on it).
    pub fn start(choice: SinkChoice, env: &dyn Fn(&str) -> Option<String>) -> (Sinks, Vec<String>) {
        let mut warnings = Vec::new();
        let http = if choice.http {
            // The sink list was validated by `config`; hand the HTTP sink the cleaned value.
            let chosen = |name: &str| {
                if name == "COLDMARK_SINK" {
                    Some(if choice.stdout { "stdout,http" } else { "http" }.to_string())
                } else {
                    env(name)
                }
            };
            let (sink, w) = HttpSink::from_env(&chosen);
            warnings.extend(w);
            sink
        } else {
            // Not selected: let the HTTP sink say if its endpoint is set for nothing.
            let (_, w) = HttpSink::from_env(&|name: &str| {
                if name == "COLDMARK_SINK" {
                    None
                } else {
                    env(name)
                }
            });
            warnings.extend(w);
            None
        };
        let stdout = if choice.stdout || http.is_none() {
            if !choice.stdout {
                warnings
                    .push("COLDMARK_SINK: no working sink left; writing markers to stdout".into());
            }
            Some(StdoutSink::start())
        } else {
            None
        };
        (Sinks { stdout, http }, warnings)
    }

    /// Sinks for tests and tools: given outright.
    pub fn from_parts(stdout: Option<StdoutSink>, http: Option<HttpSink>) -> Sinks {
        Sinks { stdout, http }
    }

    /// Queues markers on every sink. Never blocks.
    pub fn emit(&self, markers: &[Marker]) {
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
    pub fn kick(&self) {
        if let Some(h) = &self.http {
            h.kick();
        }
    }

    /// Delivers what is queued, within `budget` (at SHUTDOWN, before the `shutdown` marker).
    /// Whatever is not out by then is counted in [`Sinks::dropped`].
    /// Both sinks flush side by side: a slow collector must not eat stdout's share, nor a
    /// blocked stdout the collector's.
    pub async fn flush(&self, budget: Duration) {
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
    pub fn stdout_dead(&self) -> bool {
        self.stdout.as_ref().is_some_and(StdoutSink::dead)
    }

    /// Markers any sink could not deliver so far.
    pub fn dropped(&self) -> u64 {
        self.stdout.as_ref().map_or(0, StdoutSink::dropped)
            + self.http.as_ref().map_or(0, HttpSink::dropped)
    }

    /// Lines that did not reach stdout so far.
    pub fn stdout_dropped(&self) -> u64 {
        self.stdout.as_ref().map_or(0, StdoutSink::dropped)
    }

    /// Writes the environment's last marker and waits (within `budget`) until it is out.
    pub async fn emit_last(&self, marker: &Marker, budget: Duration) {
        self.emit(std::slice::from_ref(marker));
        self.flush(budget).await;
    }
}
