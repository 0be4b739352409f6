//! Telemetry delivery: records fan out to each subscriber's delivery task, which batches them
//! by the subscription's buffering and POSTs them in order, as Lambda does. Records produced
//! before a subscription (an extension can only subscribe after `platform.initStart`) are kept
//! for the whole init phase and handed to each new subscriber first, so every subscriber sees
//! the init from its start.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use lambda_wire::telemetry::{Buffering, LogsDropped, Record, RecordBody};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The record families a subscriber can ask for (the subscription's `types`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Platform,
    Function,
    Extension,
}

impl Kind {
    pub(crate) fn parse(name: &str) -> Option<Kind> {
        match name {
            "platform" => Some(Kind::Platform),
            "function" => Some(Kind::Function),
            "extension" => Some(Kind::Extension),
            _ => None,
        }
    }

    fn of(record: &Record) -> Kind {
        Kind::parse(record.category()).unwrap_or(Kind::Platform)
    }
}

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

    pub(crate) fn subscribe(
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
    pub(crate) fn emit(&self, time: DateTime<Utc>, body: RecordBody) {
        let event = Record::new(time, body);
        let kind = Kind::of(&event);
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
            let flush_at =
                tokio::time::Instant::now() + Duration::from_millis(self.buffering.timeout_ms);
            let max_items = usize::try_from(self.buffering.max_items).unwrap_or(usize::MAX);
            let max_bytes = usize::try_from(self.buffering.max_bytes).unwrap_or(usize::MAX);
            while batch.len() < max_items && !*self.urgent.borrow() {
                tokio::select! {
                    item = rx.recv() => match item {
                        Some(item) => {
                            if bytes + 1 + item.bytes > max_bytes {
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
    let event = Record::new(
        Utc::now(),
        RecordBody::LogsDropped(LogsDropped {
            reason: "Some logs were dropped because the subscriber did not accept them".into(),
            dropped_records: records,
            dropped_bytes: bytes,
        }),
    );
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

    #[test]
    fn records_serialise_like_lambda() {
        let event = Record::new(
            DateTime::parse_from_rfc3339("2026-11-25T19:10:18.123456Z")
                .unwrap()
                .to_utc(),
            RecordBody::Function("hello".into()),
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"time": "2026-11-25T19:10:18.123Z", "type": "function", "record": "hello"})
        );
        assert_eq!(Kind::of(&event), Kind::Function);
    }
}
