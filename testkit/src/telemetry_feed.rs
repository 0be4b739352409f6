//! Delivers telemetry records to a subscriber the way Lambda does: buffered, and POSTed as one
//! JSON array when the subscriber's `timeoutMs` has passed since the first buffered record, or
//! when `maxItems` / `maxBytes` is reached; one batch at a time over a kept-alive connection.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::server::Subscription;
use lambda_wire::telemetry::Record;

/// What the feed delivered, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct FeedStats {
    pub batches: u64,
    pub records: u64,
    pub bytes: u64,
    pub failed_batches: u64,
}

enum Message {
    Records(Vec<Record>),
    Flush(oneshot::Sender<()>),
}

/// Handle to the delivery task; records pushed here reach the subscriber in the background.
pub struct TelemetryFeed {
    tx: mpsc::UnboundedSender<Message>,
    task: JoinHandle<FeedStats>,
}

impl TelemetryFeed {
    pub fn start(subscription: Subscription) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(deliver(subscription, rx));
        Self { tx, task }
    }

    pub fn push(&self, records: impl IntoIterator<Item = Record>) {
        let _ = self
            .tx
            .send(Message::Records(records.into_iter().collect()));
    }

    /// Delivers everything buffered now, as Lambda does before SHUTDOWN reaches extensions.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    pub async fn finish(self) -> FeedStats {
        self.flush().await;
        drop(self.tx);
        self.task.await.unwrap_or_default()
    }
}

async fn deliver(
    subscription: Subscription,
    mut rx: mpsc::UnboundedReceiver<Message>,
) -> FeedStats {
    let mut stats = FeedStats::default();
    let mut poster = Poster::new(subscription.destination, subscription.path.clone());
    // Records are serialised as they arrive so that `maxBytes` is honoured exactly; the batch
    // is their JSON array.
    let mut buffered: Vec<Vec<u8>> = Vec::new();
    let mut buffered_bytes = 0usize;
    let mut deadline: Option<Instant> = None;
    let timeout = Duration::from_millis(subscription.timeout_ms);
    loop {
        let message = match deadline {
            Some(at) => tokio::select! {
                m = rx.recv() => m,
                _ = tokio::time::sleep_until(at) => {
                    poster.post(&mut buffered, &mut buffered_bytes, &mut stats).await;
                    deadline = None;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match message {
            Some(Message::Records(records)) => {
                for record in records {
                    if !subscription.types.iter().any(|t| t == record.category()) {
                        continue;
                    }
                    let bytes = serde_json::to_vec(&record).expect("records serialise");
                    if buffered_bytes + bytes.len() + 2 > subscription.max_bytes
                        && !buffered.is_empty()
                    {
                        poster
                            .post(&mut buffered, &mut buffered_bytes, &mut stats)
                            .await;
                        deadline = None;
                    }
                    buffered_bytes += bytes.len() + 1;
                    buffered.push(bytes);
                    if buffered.len() >= subscription.max_items {
                        poster
                            .post(&mut buffered, &mut buffered_bytes, &mut stats)
                            .await;
                        deadline = None;
                    }
                }
                if !buffered.is_empty() && deadline.is_none() {
                    deadline = Some(Instant::now() + timeout);
                }
            }
            Some(Message::Flush(done)) => {
                poster
                    .post(&mut buffered, &mut buffered_bytes, &mut stats)
                    .await;
                deadline = None;
                let _ = done.send(());
            }
            None => break,
        }
    }
    stats
}

/// One kept-alive HTTP/1 connection to the subscriber, re-opened when it breaks.
pub struct Poster {
    destination: SocketAddr,
    /// The subscription URI's path (coldmark accepts batches only there).
    path: String,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Poster {
    pub fn new(destination: SocketAddr, path: String) -> Self {
        Self {
            destination,
            path,
            sender: None,
        }
    }

    async fn post(
        &mut self,
        buffered: &mut Vec<Vec<u8>>,
        buffered_bytes: &mut usize,
        stats: &mut FeedStats,
    ) {
        if buffered.is_empty() {
            return;
        }
        let mut body = Vec::with_capacity(*buffered_bytes + 2);
        body.push(b'[');
        for (i, record) in buffered.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(record);
        }
        body.push(b']');
        let records = buffered.len() as u64;
        buffered.clear();
        *buffered_bytes = 0;
        stats.bytes += body.len() as u64;
        match self.post_body(Bytes::from(body)).await {
            Ok(()) => {
                stats.batches += 1;
                stats.records += records;
            }
            Err(err) => {
                stats.failed_batches += 1;
                tracing::debug!("telemetry batch not delivered: {err:#}");
            }
        }
    }

    /// POSTs one body; the subscriber's answer must be 2xx.
    pub async fn post_body(&mut self, body: Bytes) -> Result<()> {
        for attempt in 0..2 {
            if self.sender.is_none() {
                self.sender = Some(connect(self.destination).await?);
            }
            let sender = self.sender.as_mut().expect("connected above");
            let request = Request::post(self.path.as_str())
                .header("host", "sandbox.localdomain")
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .context("building the telemetry request")?;
            let ready = sender.ready().await;
            let result = match ready {
                Ok(()) => sender.send_request(request).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(response) => {
                    let status = response.status();
                    let _ = response.into_body().collect().await;
                    if !status.is_success() {
                        bail!("subscriber answered {status}");
                    }
                    return Ok(());
                }
                Err(err) if attempt == 0 => {
                    tracing::debug!("telemetry connection broke, reconnecting: {err}");
                    self.sender = None;
                }
                Err(err) => return Err(err).context("posting telemetry"),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }
}

async fn connect(destination: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(destination)
        .await
        .with_context(|| format!("connecting to the subscriber at {destination}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake with the subscriber")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
