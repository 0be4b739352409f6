//! The Lambda Telemetry API (2022-07-01, records in schema 2022-12-13): extensions subscribe
//! during init with the record types they want, a buffering policy and an HTTP destination;
//! the sandbox then POSTs JSON arrays of `{time, type, record}` to each subscriber, in order.
//!
//! Like Lambda, records produced before a subscription (an extension can only subscribe after
//! `platform.initStart` happened) are kept for the whole init phase and handed to each new
//! subscriber first, so every subscriber sees the init from its start.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::environment::{api_error, Shared, EXTENSION_ID_HEADER};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/2022-07-01/telemetry", put(subscribe))
        .route("/2022-07-01/telemetry/", put(subscribe))
}

// ---------------------------------------------------------------------------------------------
// Records (schema 2022-12-13)

/// One entry of a delivered batch.
#[derive(Clone, Debug, Serialize)]
pub struct TelemetryEvent {
    #[serde(serialize_with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    #[serde(flatten)]
    pub record: Record,
}

/// Timestamps as Lambda writes them: RFC 3339, UTC, milliseconds.
pub fn rfc3339_millis<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", content = "record")]
pub enum Record {
    #[serde(rename = "platform.initStart")]
    InitStart(InitStart),
    #[serde(rename = "platform.initRuntimeDone")]
    InitRuntimeDone(InitRuntimeDone),
    #[serde(rename = "platform.initReport")]
    InitReport(InitReport),
    #[serde(rename = "platform.start")]
    Start(Start),
    #[serde(rename = "platform.runtimeDone")]
    RuntimeDone(RuntimeDone),
    #[serde(rename = "platform.report")]
    Report(PlatformReport),
    #[serde(rename = "platform.extension")]
    Extension(PlatformExtension),
    #[serde(rename = "platform.telemetrySubscription")]
    TelemetrySubscription(TelemetrySubscription),
    #[serde(rename = "platform.logsDropped")]
    LogsDropped(LogsDropped),
    #[serde(rename = "platform.restoreStart")]
    RestoreStart(RestoreStart),
    #[serde(rename = "platform.restoreRuntimeDone")]
    RestoreRuntimeDone(RestoreRuntimeDone),
    #[serde(rename = "platform.restoreReport")]
    RestoreReport(RestoreReport),
    /// A line the function wrote to stdout/stderr.
    #[serde(rename = "function")]
    FunctionLog(String),
    /// A line an extension wrote to stdout/stderr.
    #[serde(rename = "extension")]
    ExtensionLog(String),
}

impl Record {
    fn kind(&self) -> Kind {
        match self {
            Record::FunctionLog(_) => Kind::Function,
            Record::ExtensionLog(_) => Kind::Extension,
            _ => Kind::Platform,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitStart {
    pub initialization_type: String,
    pub phase: String,
    pub runtime_version: Option<String>,
    pub runtime_version_arn: Option<String>,
    pub function_name: String,
    pub function_version: String,
    pub instance_id: String,
    /// The instance's memory in bytes, as Lambda sends it.
    pub instance_max_memory: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRuntimeDone {
    pub initialization_type: String,
    pub phase: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub spans: Vec<Span>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReport {
    pub initialization_type: String,
    pub phase: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: InitReportMetrics,
    pub spans: Vec<Span>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReportMetrics {
    pub duration_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub name: String,
    #[serde(serialize_with = "rfc3339_millis")]
    pub start: DateTime<Utc>,
    pub duration_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracing {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    pub request_id: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDone {
    pub request_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: RuntimeDoneMetrics,
    pub spans: Vec<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDoneMetrics {
    pub duration_ms: f64,
    pub produced_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformReport {
    pub request_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: ReportMetrics,
    pub spans: Vec<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportMetrics {
    pub duration_ms: f64,
    pub billed_duration_ms: u64,
    #[serde(rename = "memorySizeMB")]
    pub memory_size_mb: u64,
    #[serde(rename = "maxMemoryUsedMB")]
    pub max_memory_used_mb: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
    /// Instead of `initDurationMs` on the first invocation after a SnapStart restore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_duration_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformExtension {
    pub name: String,
    /// The extension's state when init ended, with RIE's names: `Ready`, `Registered`,
    /// `InitError`, `LaunchError`.
    pub state: String,
    pub events: Vec<String>,
    /// Why the extension failed init, when it did (RIE's `ExtensionInitData.ErrorType`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySubscription {
    pub name: String,
    pub state: String,
    pub types: Vec<String>,
}

/// A SnapStart restore began (instead of `platform.initStart`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStart {
    pub runtime_version: Option<String>,
    pub runtime_version_arn: Option<String>,
    pub function_name: String,
    pub function_version: String,
    pub instance_id: String,
    pub instance_max_memory: u64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRuntimeDone {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub spans: Vec<Span>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: InitReportMetrics,
    pub spans: Vec<Span>,
}

/// Records a subscriber never received (its listener refused or did not answer every retry).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsDropped {
    pub reason: String,
    pub dropped_records: u64,
    pub dropped_bytes: u64,
}

// ---------------------------------------------------------------------------------------------
// Subscription requests

/// The record families a subscriber can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Platform,
    Function,
    Extension,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        match name {
            "platform" => Some(Kind::Platform),
            "function" => Some(Kind::Function),
            "extension" => Some(Kind::Extension),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribeRequest {
    schema_version: String,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    buffering: Option<BufferingRequest>,
    destination: Destination,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BufferingRequest {
    max_items: Option<i64>,
    max_bytes: Option<i64>,
    timeout_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Destination {
    protocol: String,
    #[serde(rename = "URI")]
    uri: String,
}

/// The buffering a subscriber gets, within Lambda's documented bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffering {
    pub max_items: usize,
    pub max_bytes: usize,
    pub timeout: Duration,
}

const SCHEMA_VERSIONS: [&str; 3] = ["2022-07-01", "2022-12-13", "2025-01-29"];
/// What Lambda answers to an invalid subscription (HTTP 400).
const VALIDATION_ERROR: &str = "ValidationError";

impl Buffering {
    fn from_request(req: Option<&BufferingRequest>) -> Result<Buffering, String> {
        let default = BufferingRequest::default();
        let req = req.unwrap_or(&default);
        let check = |name: &str, value: Option<i64>, min: i64, max: i64, default: i64| {
            let value = value.unwrap_or(default);
            if value < min || value > max {
                Err(format!(
                    "buffering.{name} must be between {min} and {max}, got {value}"
                ))
            } else {
                Ok(value as usize)
            }
        };
        Ok(Buffering {
            max_items: check("maxItems", req.max_items, 1_000, 10_000, 10_000)?,
            max_bytes: check("maxBytes", req.max_bytes, 262_144, 1_048_576, 262_144)?,
            timeout: Duration::from_millis(
                check("timeoutMs", req.timeout_ms, 25, 30_000, 1_000)? as u64
            ),
        })
    }
}

/// Parses and checks a subscription the way Lambda does: known schema, known types, buffering
/// within bounds, an HTTP destination on the sandbox itself (`sandbox.localdomain`, which
/// resolves to loopback — nothing ever leaves the machine).
fn validate(req: &SubscribeRequest) -> Result<(Vec<Kind>, Buffering, http::Uri), String> {
    if !SCHEMA_VERSIONS.contains(&req.schema_version.as_str()) {
        return Err(format!(
            "unsupported schemaVersion {:?}",
            req.schema_version
        ));
    }
    if req.types.is_empty() {
        return Err("types must name at least one of platform, function, extension".into());
    }
    let mut kinds = Vec::new();
    for name in &req.types {
        let kind = Kind::parse(name).ok_or_else(|| format!("unknown type {name:?}"))?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let buffering = Buffering::from_request(req.buffering.as_ref())?;
    if req.destination.protocol != "HTTP" {
        return Err(format!(
            "destination.protocol {:?} is not supported here (HTTP only)",
            req.destination.protocol
        ));
    }
    let uri: http::Uri = req
        .destination
        .uri
        .parse()
        .map_err(|err| format!("destination.URI is not a URI: {err}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("destination.URI must be http://".into());
    }
    let host = uri.host().unwrap_or_default();
    if !["sandbox.localdomain", "localhost", "127.0.0.1"].contains(&host) {
        return Err(format!(
            "destination host {host:?} must be sandbox.localdomain (the execution environment)"
        ));
    }
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let target = format!("http://127.0.0.1:{port}{path}")
        .parse()
        .map_err(|err| format!("destination.URI: {err}"))?;
    Ok((kinds, buffering, target))
}

async fn subscribe(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(id) = headers
        .get(EXTENSION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return api_error(
            StatusCode::FORBIDDEN,
            "Extension.MissingExtensionIdentifier",
            "missing Lambda-Extension-Identifier header",
        );
    };
    let Some(name) = shared.extension_name(id) else {
        return api_error(
            StatusCode::FORBIDDEN,
            "Extension.UnknownExtensionIdentifier",
            "unknown extension identifier",
        );
    };
    let request: SubscribeRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return api_error(StatusCode::BAD_REQUEST, VALIDATION_ERROR, &err.to_string());
        }
    };
    let (kinds, buffering, target) = match validate(&request) {
        Ok(parts) => parts,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, VALIDATION_ERROR, &message),
    };
    if !shared.telemetry.accepting_subscriptions() {
        return api_error(
            StatusCode::FORBIDDEN,
            "Telemetry.SubscriptionClosed",
            "subscriptions are only accepted during the init phase",
        );
    }
    tracing::debug!(extension = %name, ?buffering, %target, "telemetry subscription");
    shared
        .telemetry
        .subscribe(id, &name, kinds, buffering, target);
    shared.telemetry.emit(
        Utc::now(),
        Record::TelemetrySubscription(TelemetrySubscription {
            name,
            state: "Subscribed".into(),
            types: request.types,
        }),
    );
    (StatusCode::OK, "OK").into_response()
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// One encoded record, shared by every subscriber that gets it.
struct Item {
    kind: Kind,
    value: serde_json::Value,
    bytes: usize,
}

struct Subscriber {
    extension_id: String,
    kinds: Vec<Kind>,
    tx: mpsc::UnboundedSender<Arc<Item>>,
    /// Records handed over and not yet delivered (or dropped).
    pending: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct HubState {
    /// Every record since the current init started; `None` once init is over (subscriptions
    /// are closed then, so nobody could ask for them).
    backlog: Option<Vec<Arc<Item>>>,
    subscribers: Vec<Subscriber>,
}

/// Fans records out to the subscribers' delivery tasks.
pub(crate) struct Hub {
    state: Mutex<HubState>,
    /// Whether the processes are frozen: no POST starts while they are (it could not be
    /// answered); delivery resumes on thaw, as on Lambda.
    frozen: watch::Receiver<bool>,
    /// Set during shutdown: buffers are flushed at once instead of waiting for `timeoutMs`.
    urgent: watch::Sender<bool>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// [`crate::environment::EnvironmentOptions::lost_telemetry_batches`].
    lost_batches: u32,
}

impl Hub {
    pub(crate) fn new(frozen: watch::Receiver<bool>, lost_batches: u32) -> Hub {
        Hub {
            lost_batches,
            state: Mutex::new(HubState::default()),
            frozen,
            urgent: watch::Sender::new(false),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// A new init: forget the previous processes' subscriptions and start keeping records.
    pub(crate) fn begin_init(&self) {
        let mut state = self.state.lock().unwrap();
        for sub in state.subscribers.drain(..) {
            sub.task.abort();
        }
        state.backlog = Some(Vec::new());
        self.urgent.send_replace(false);
    }

    /// Init is over: no more subscriptions, no more backlog.
    pub(crate) fn end_init(&self) {
        self.state.lock().unwrap().backlog = None;
    }

    pub(crate) fn accepting_subscriptions(&self) -> bool {
        self.state.lock().unwrap().backlog.is_some()
    }

    fn subscribe(
        &self,
        extension_id: &str,
        name: &str,
        kinds: Vec<Kind>,
        buffering: Buffering,
        target: http::Uri,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let mut state = self.state.lock().unwrap();
        if let Some(backlog) = &state.backlog {
            for item in backlog.iter().filter(|item| kinds.contains(&item.kind)) {
                pending.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(item.clone());
            }
        }
        let delivery = Delivery {
            wants_platform: kinds.contains(&Kind::Platform),
            pending: pending.clone(),
            name: name.to_string(),
            target,
            buffering,
            frozen: self.frozen.clone(),
            urgent: self.urgent.subscribe(),
            client: self.client.clone(),
            lose: self.lost_batches,
        };
        let task = tokio::spawn(delivery.run(rx));
        if let Some(old) = state
            .subscribers
            .iter()
            .position(|s| s.extension_id == extension_id)
        {
            state.subscribers.remove(old).task.abort();
        }
        state.subscribers.push(Subscriber {
            extension_id: extension_id.to_string(),
            kinds,
            tx,
            pending,
            task,
        });
    }

    /// Hands a record to every subscriber of its type (and keeps it for later subscribers
    /// while init lasts).
    pub(crate) fn emit(&self, time: DateTime<Utc>, record: Record) {
        let kind = record.kind();
        let event = TelemetryEvent { time, record };
        let value = match serde_json::to_value(&event) {
            Ok(value) => value,
            Err(err) => {
                tracing::warn!(%err, "encoding a telemetry record");
                return;
            }
        };
        let bytes = value.to_string().len();
        let item = Arc::new(Item { kind, value, bytes });
        let mut state = self.state.lock().unwrap();
        if let Some(backlog) = &mut state.backlog {
            backlog.push(item.clone());
        }
        for sub in state.subscribers.iter().filter(|s| s.kinds.contains(&kind)) {
            sub.pending.fetch_add(1, Ordering::SeqCst);
            let _ = sub.tx.send(item.clone());
        }
    }

    fn pending(&self) -> usize {
        let state = self.state.lock().unwrap();
        state
            .subscribers
            .iter()
            .map(|s| s.pending.load(Ordering::SeqCst))
            .sum()
    }

    /// Flushes every buffer now and waits (up to `limit`) until the subscribers have
    /// received everything emitted so far.
    pub(crate) async fn drain(&self, limit: Duration) {
        self.hurry();
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Shutdown started: deliver what is buffered without waiting for `timeoutMs`.
    pub(crate) fn hurry(&self) {
        self.urgent.send_replace(true);
    }

    /// Stops every delivery (the subscribers' processes are gone).
    pub(crate) fn close(&self) {
        let mut state = self.state.lock().unwrap();
        state.backlog = None;
        for sub in state.subscribers.drain(..) {
            sub.task.abort();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.close();
    }
}

/// One subscriber's delivery loop: batches by `maxItems` / `maxBytes` / `timeoutMs`, POSTs
/// them in order, retrying a failed POST with backoff. A batch that still fails is dropped and
/// the subscriber is told so, as Lambda does: the next batch starts with a
/// `platform.logsDropped` record counting what was lost (when it subscribed to `platform`).
struct Delivery {
    wants_platform: bool,
    pending: Arc<AtomicUsize>,
    name: String,
    target: http::Uri,
    buffering: Buffering,
    frozen: watch::Receiver<bool>,
    urgent: watch::Receiver<bool>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Batches still to be lost in transit (fault injection).
    lose: u32,
}

const ATTEMPTS: u32 = 3;
/// How long one POST may go unanswered while the subscriber is not frozen.
const POST_PATIENCE: Duration = Duration::from_secs(3);

impl Delivery {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Arc<Item>>) {
        let mut carry: Option<Arc<Item>> = None;
        // Records and bytes dropped since the subscriber last heard of it.
        let mut dropped: (u64, u64) = (0, 0);
        loop {
            let first = match carry.take() {
                Some(item) => item,
                None => match rx.recv().await {
                    Some(item) => item,
                    None => return,
                },
            };
            let mut bytes = 2 + first.bytes;
            let mut batch = vec![first];
            let flush_at = tokio::time::Instant::now() + self.buffering.timeout;
            while batch.len() < self.buffering.max_items && !*self.urgent.borrow() {
                tokio::select! {
                    item = rx.recv() => match item {
                        Some(item) => {
                            if bytes + 1 + item.bytes > self.buffering.max_bytes {
                                carry = Some(item);
                                break;
                            }
                            bytes += 1 + item.bytes;
                            batch.push(item);
                        }
                        None => break,
                    },
                    _ = tokio::time::sleep_until(flush_at) => break,
                    changed = self.urgent.changed() => if changed.is_err() { break },
                }
            }
            let handed = batch.len();
            let notice = (dropped.0 > 0 && self.wants_platform)
                .then(|| logs_dropped_item(dropped))
                .flatten();
            let with_notice = notice.is_some();
            if let Some(notice) = notice {
                batch.insert(0, notice);
            }
            if self.post(&batch).await {
                if with_notice {
                    dropped = (0, 0);
                }
            } else {
                let lost = batch
                    .iter()
                    .skip(usize::from(with_notice))
                    .map(|item| item.bytes as u64)
                    .sum::<u64>();
                dropped.0 += (batch.len() - usize::from(with_notice)) as u64;
                dropped.1 += lost;
            }
            self.pending.fetch_sub(handed, Ordering::SeqCst);
        }
    }

    /// Whether the batch was accepted.
    async fn post(&mut self, batch: &[Arc<Item>]) -> bool {
        if self.lose > 0 {
            self.lose -= 1;
            tracing::warn!(subscriber = %self.name, records = batch.len(), "telemetry batch lost in transit (fault injection)");
            return false;
        }
        let values: Vec<&serde_json::Value> = batch.iter().map(|item| &item.value).collect();
        let body = match serde_json::to_vec(&values) {
            Ok(body) => Bytes::from(body),
            Err(err) => {
                tracing::warn!(%err, "encoding a telemetry batch");
                return false;
            }
        };
        for attempt in 1..=ATTEMPTS {
            // Wait for thaw: a frozen listener cannot answer.
            while *self.frozen.borrow() {
                if self.frozen.changed().await.is_err() {
                    return false;
                }
            }
            let request = http::Request::post(self.target.clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .expect("static request parts");
            match self.send(request).await {
                Ok(status) if status.is_success() => return true,
                Ok(status) => {
                    tracing::debug!(subscriber = %self.name, %status, attempt, "telemetry POST refused")
                }
                Err(err) => {
                    tracing::debug!(subscriber = %self.name, %err, attempt, "telemetry POST failed")
                }
            }
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
        }
        tracing::warn!(subscriber = %self.name, records = batch.len(), "telemetry batch dropped after retries");
        false
    }

    /// Sends one request; time spent while the subscriber is frozen does not count against it.
    async fn send(&self, request: http::Request<Full<Bytes>>) -> anyhow::Result<StatusCode> {
        let response = self.client.request(request);
        tokio::pin!(response);
        let mut waited = Duration::ZERO;
        let tick = Duration::from_millis(50);
        loop {
            tokio::select! {
                result = &mut response => return Ok(result?.status()),
                _ = tokio::time::sleep(tick) => {
                    if !*self.frozen.borrow() {
                        waited += tick;
                        if waited >= POST_PATIENCE {
                            anyhow::bail!("no answer within {POST_PATIENCE:?}");
                        }
                    }
                }
            }
        }
    }
}

/// The `platform.logsDropped` record for `(records, bytes)` lost, encoded like every other.
fn logs_dropped_item((records, bytes): (u64, u64)) -> Option<Arc<Item>> {
    let event = TelemetryEvent {
        time: Utc::now(),
        record: Record::LogsDropped(LogsDropped {
            reason: "Some logs were dropped because the subscriber did not accept them".into(),
            dropped_records: records,
            dropped_bytes: bytes,
        }),
    };
    let value = serde_json::to_value(&event).ok()?;
    let bytes = value.to_string().len();
    Some(Arc::new(Item {
        kind: Kind::Platform,
        value,
        bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> SubscribeRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn buffering_defaults_and_bounds() {
        let ok = request(serde_json::json!({
            "schemaVersion": "2022-12-13", "types": ["platform"],
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/t"}
        }));
        let (kinds, buffering, target) = validate(&ok).unwrap();
        assert_eq!(kinds, vec![Kind::Platform]);
        assert_eq!(buffering.max_items, 10_000);
        assert_eq!(target.to_string(), "http://127.0.0.1:4243/t");

        for (field, value) in [
            ("maxItems", 999),
            ("maxBytes", 2_000_000),
            ("timeoutMs", 10),
        ] {
            let bad = request(serde_json::json!({
                "schemaVersion": "2022-12-13", "types": ["platform"],
                "buffering": {field: value},
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"}
            }));
            let err = validate(&bad).unwrap_err();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn destination_must_be_the_sandbox() {
        let bad = request(serde_json::json!({
            "schemaVersion": "2022-12-13", "types": ["platform"],
            "destination": {"protocol": "HTTP", "URI": "http://example.com:80/"}
        }));
        assert!(validate(&bad).is_err());
    }

    #[test]
    fn records_serialise_like_lambda() {
        let event = TelemetryEvent {
            time: DateTime::parse_from_rfc3339("2026-11-25T19:10:18.123456Z")
                .unwrap()
                .to_utc(),
            record: Record::FunctionLog("hello".into()),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"time": "2026-11-25T19:10:18.123Z", "type": "function", "record": "hello"})
        );
    }
}
