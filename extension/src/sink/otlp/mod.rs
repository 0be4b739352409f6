//! The OTLP sink: markers as OpenTelemetry logs, metrics and init spans, sent over OTLP/HTTP
//! to a collector or a vendor's intake, configured by the standard `OTEL_EXPORTER_OTLP_*`
//! variables (`crate::config::otlp`).
//!
//! Receiving, deciding and sending are apart: `encode` turns markers into OTLP messages (pure),
//! `join` decides which request's trace an init span joins (pure), `xray` reads the trace
//! header, `wire` writes request bodies and reads partial successes, and the queues, retries
//! and flush are the HTTP sink's own (`crate::sink::transport`), one queue per signal, each
//! with its endpoint, headers, protocol, compression and timeout.
//!
//! Every call on the invocation path only converts and queues (microseconds); sending happens
//! on the background senders while the environment runs, and at SHUTDOWN, where the three
//! signals flush side by side within the budget. The items are log records, metric data points
//! and spans; each one not delivered (queue full, refused, retries used up, budget over, or
//! rejected in a partial success) counts in the `shutdown` marker's `dropped`, and each
//! signal's first loss gives one warning naming the signal.

mod encode;
mod join;
mod wire;
mod xray;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::config::otlp::{OtlpSettings, Signal};
use crate::marker::Marker;
use crate::sink::transport::retry::RetryOn;
use crate::sink::transport::{self, Encoder, Labels, Limits, Queue, StartError, Target};
use encode::{Point, ResourceInfo};
use join::{Join, Ready};
use wire::{Logs, Metrics, Traces, Wire};

/// What every signal's queue is started with.
struct Maker<'a> {
    settings: &'a OtlpSettings,
    client: &'a reqwest::Client,
    resource: &'a Arc<OnceLock<opentelemetry_proto::tonic::resource::v1::Resource>>,
    limits: Limits,
}

impl Maker<'_> {
    /// `signal`'s queue, sending to its endpoint with its settings; `None` when it is not
    /// chosen (`COLDMARK_OTLP_SIGNALS`).
    fn queue<E: Encoder>(
        &self,
        signal: Signal,
        items: &'static str,
        encoder: fn(Wire) -> E,
    ) -> Result<Option<Queue<E::Item>>, StartError> {
        let Some(own) = self.settings.signal(signal) else {
            return Ok(None);
        };
        let target = Target {
            endpoint: own.endpoint.clone(),
            headers: own.headers.clone(),
            timeout: own.timeout,
            retries: self.settings.retries,
            backoff: self.settings.backoff,
            retry_on: RetryOn::OtlpRetryable,
        };
        let wire = Wire {
            resource: self.resource.clone(),
            protocol: own.protocol,
            gzip: own.gzip,
        };
        let labels = Labels {
            sink: match signal {
                Signal::Logs => "otlp sink (logs)",
                Signal::Metrics => "otlp sink (metrics)",
                Signal::Traces => "otlp sink (traces)",
            },
            items,
        };
        Queue::start(
            self.client.clone(),
            target,
            encoder(wire),
            self.limits,
            labels,
        )
        .map(Some)
    }
}

/// Handle to the three signals' queues. Cheap to call from the invocation path.
pub(crate) struct OtlpSink {
    logs: Option<Queue<LogRecord>>,
    metrics: Option<Queue<Point>>,
    traces: Option<Queue<Span>>,
    /// Built from the first marker (the environment's names and id), read by every encoder.
    resource: Arc<OnceLock<opentelemetry_proto::tonic::resource::v1::Resource>>,
    info: ResourceInfo,
    join: Mutex<Join>,
}

impl OtlpSink {
    /// Builds one HTTP client and spawns a sender per chosen signal on the current tokio
    /// runtime. `invoke_markers`: whether `invoke` markers are written, so that an init span
    /// can wait for the request that waited for the init (see `join`).
    pub(crate) fn start(settings: OtlpSettings, invoke_markers: bool) -> Result<Self, StartError> {
        let longest = settings
            .signals
            .iter()
            .map(|(_, s)| s.timeout)
            .max()
            .unwrap_or(Duration::from_secs(10));
        let client = transport::client(longest, settings.proxy.as_ref())?;
        let resource = Arc::new(OnceLock::new());
        let limits = Limits {
            queue_records: settings.queue_records,
            queue_bytes: settings.queue_bytes,
            batch_records: settings.batch_records,
            batch_bytes: settings.batch_bytes,
        };
        let make = Maker {
            settings: &settings,
            client: &client,
            resource: &resource,
            limits,
        };
        let logs = make.queue(Signal::Logs, "log record(s)", Logs)?;
        let metrics = make.queue(Signal::Metrics, "data point(s)", Metrics)?;
        let traces = make.queue(Signal::Traces, "span(s)", Traces)?;
        Ok(OtlpSink {
            logs,
            metrics,
            traces,
            resource,
            info: ResourceInfo {
                service_name: settings.service_name,
                user: settings.resource_attributes,
                region: settings.region,
                memory_mb: settings.memory_mb,
            },
            join: Mutex::new(Join::new(invoke_markers)),
        })
    }

    /// Converts one marker (and `line`, the marker as stdout got it) into its log record, its
    /// metric points and, once its request is known, its init's spans, and queues them. Never
    /// blocks, never sends.
    pub(crate) fn enqueue(&self, marker: &Marker, line: &str) {
        let now = Utc::now();
        self.resource
            .get_or_init(|| encode::resource(&self.info, encode::common(marker)));
        if let Some(logs) = &self.logs {
            logs.enqueue(encode::log_record(marker, line, now));
        }
        if let (Some(metrics), Marker::Init(init)) = (&self.metrics, marker) {
            for point in encode::points(init, now) {
                metrics.enqueue(point);
            }
        }
        if self.traces.is_some() {
            let ready = self
                .join
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .on_marker(marker);
            self.enqueue_spans(ready);
        }
    }

    fn enqueue_spans(&self, ready: impl IntoIterator<Item = Ready>) {
        let Some(traces) = &self.traces else { return };
        let mut ids = crate::random::bytes128;
        for ready in ready {
            for span in encode::spans(&ready, &mut ids) {
                traces.enqueue(span);
            }
        }
    }

    /// Lets the senders start on what is queued. Never blocks.
    pub(crate) fn kick(&self) {
        self.queues(|q| q.kick(), |q| q.kick(), |q| q.kick());
    }

    /// Delivers what is queued within `budget`, the three signals side by side (an init span
    /// still waiting for its request's marker goes first, in a trace of its own). What is not
    /// out by then is counted in [`OtlpSink::dropped`].
    pub(crate) async fn flush(&self, budget: Duration) {
        let held = self
            .join
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .release_held();
        self.enqueue_spans(held);
        let logs = async {
            if let Some(q) = &self.logs {
                q.flush(budget).await;
            }
        };
        let metrics = async {
            if let Some(q) = &self.metrics {
                q.flush(budget).await;
            }
        };
        let traces = async {
            if let Some(q) = &self.traces {
                q.flush(budget).await;
            }
        };
        tokio::join!(logs, metrics, traces);
    }

    /// Items (log records, data points, spans) not delivered so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.logs.as_ref().map_or(0, Queue::dropped)
            + self.metrics.as_ref().map_or(0, Queue::dropped)
            + self.traces.as_ref().map_or(0, Queue::dropped)
    }

    fn queues(
        &self,
        logs: impl FnOnce(&Queue<LogRecord>),
        metrics: impl FnOnce(&Queue<Point>),
        traces: impl FnOnce(&Queue<Span>),
    ) {
        if let Some(q) = &self.logs {
            logs(q);
        }
        if let Some(q) = &self.metrics {
            metrics(q);
        }
        if let Some(q) = &self.traces {
            traces(q);
        }
    }
}
