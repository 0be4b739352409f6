//! Fan-out of markers to the sinks the user chose (`COLDMARK_SINK`): stdout (default), the
//! HTTP sink and the OTLP sink. Every sink call on the invocation path only queues; sending
//! happens on the stdout writer thread and the network sinks' background tasks (`transport`,
//! which both network sinks share).

pub mod http;
pub(crate) mod otlp;
pub(crate) mod stdout;
pub(crate) mod transport;

use std::time::Duration;

use crate::config::{HttpSettings, OtlpSettings, SinkChoice};
use crate::marker::Marker;
use http::HttpSink;
use otlp::OtlpSink;
use stdout::StdoutSink;

pub(crate) struct Sinks {
    stdout: Option<StdoutSink>,
    http: Option<HttpSink>,
    /// `None` unless chosen: then no client is built and nothing is converted.
    otlp: Option<OtlpSink>,
}

/// What the sinks start with: the choice and each network sink's settings.
pub(crate) struct SinkSettings {
    pub(crate) choice: SinkChoice,
    pub(crate) http: Option<HttpSettings>,
    pub(crate) otlp: Option<OtlpSettings>,
    /// `invoke` markers are written (`COLDMARK_INVOKE_MARKERS` is not `none`): the OTLP sink's
    /// init span may wait for the marker of the request that waited for the init.
    pub(crate) invoke_markers: bool,
}

impl Sinks {
    /// Starts the chosen sinks with the settings `crate::config` read. Markers always go
    /// somewhere: with no working sink left, stdout is used. The warnings are only the network
    /// sinks' failures to start (the settings were warned about when read). Must run inside
    /// the tokio runtime (the senders are spawned on it).
    pub(crate) fn start(settings: SinkSettings) -> (Sinks, Vec<String>) {
        let SinkSettings {
            choice,
            http,
            otlp,
            invoke_markers,
        } = settings;
        let mut warnings = Vec::new();
        let http = http.and_then(|settings| match HttpSink::start(settings) {
            Ok(sink) => Some(sink),
            Err(why) => {
                warnings.push(format!("COLDMARK_SINK: HTTP sink off: {why}"));
                None
            }
        });
        let otlp = otlp.and_then(|settings| match OtlpSink::start(settings, invoke_markers) {
            Ok(sink) => Some(sink),
            Err(why) => {
                warnings.push(format!("COLDMARK_SINK: OTLP sink off: {why}"));
                None
            }
        });
        let none_left = http.is_none() && otlp.is_none();
        if !warnings.is_empty() && !choice.stdout && none_left {
            warnings.push("COLDMARK_SINK: no working sink left; writing markers to stdout".into());
        }
        let stdout = (choice.stdout || none_left).then(StdoutSink::start);
        (Sinks { stdout, http, otlp }, warnings)
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
            if let Some(o) = &self.otlp {
                o.enqueue(marker, &line);
            }
        }
    }

    /// Lets the network sinks send in the background while the function runs (called at
    /// INVOKE).
    pub(crate) fn kick(&self) {
        if let Some(h) = &self.http {
            h.kick();
        }
        if let Some(o) = &self.otlp {
            o.kick();
        }
    }

    /// Delivers what is queued, within `budget` (at SHUTDOWN, before the `shutdown` marker).
    /// Whatever is not out by then is counted in [`Sinks::dropped`].
    /// The sinks flush side by side: a slow collector must not eat stdout's share, nor a
    /// blocked stdout the collector's.
    pub(crate) async fn flush(&self, budget: Duration) {
        let http = async {
            if let Some(h) = &self.http {
                h.flush(budget).await;
            }
        };
        let otlp = async {
            if let Some(o) = &self.otlp {
                o.flush(budget).await;
            }
        };
        let stdout = async {
            if let Some(s) = &self.stdout {
                s.flush(budget).await;
            }
        };
        tokio::join!(http, otlp, stdout);
    }

    /// Whether markers written to stdout are lost (stdout closed, or blocked past a flush).
    pub(crate) fn stdout_dead(&self) -> bool {
        self.stdout.as_ref().is_some_and(StdoutSink::dead)
    }

    /// What any sink could not deliver so far: marker lines (stdout, HTTP), OTLP log records,
    /// data points and spans.
    pub(crate) fn dropped(&self) -> u64 {
        self.stdout.as_ref().map_or(0, StdoutSink::dropped)
            + self.http.as_ref().map_or(0, HttpSink::dropped)
            + self.otlp.as_ref().map_or(0, OtlpSink::dropped)
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
