//! The scriptable Extensions + Telemetry API server: the benchmarks time extensions with it,
//! and the binary tests' [`crate::fake_lambda`] drives coldmark through it.
//!
//! It is not a Lambda emulator: it answers the calls an extension makes (register, telemetry
//! subscribe, event/next, the error endpoints) and turns each into an [`ApiEvent`] stamped with
//! `Instant::now()` on arrival, so the driver decides every step and sees every clock.
//! One server serves one extension process: a fresh port per run keeps a dying process from one
//! run out of the next.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::timed_io::{TimedIo, WriteClock};
use lambda_wire::extensions::{
    ErrorResponse, Invoke, RegisterRequest, RegisterResponse, Shutdown, Tracing, EVENT_NEXT_PATH,
    EXIT_ERROR_PATH, IDENTIFIER_HEADER, INIT_ERROR_PATH, NAME_HEADER, REGISTER_PATH,
};
use lambda_wire::telemetry::{Buffering, NOT_SUPPORTED, SUBSCRIBE_PATH};

/// The events the Extensions API hands out.
pub use lambda_wire::extensions::NextEvent as Event;

/// How the server answers a Telemetry API subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelemetryMode {
    /// 200, and the driver gets the destination to POST records to (Lambda).
    Supported,
    /// 202 `Telemetry.NotSupported`, as AWS RIE, SAM CLI and LocalStack answer.
    NotSupported,
    /// The subscription request never gets an answer.
    Hangs,
}

/// How the server presents the function and answers registration.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub telemetry: TelemetryMode,
    /// `functionName` in the registration answer.
    pub function_name: String,
    /// `Lambda-Extension-Identifier` handed out; a fresh one per registration when `None`.
    pub extension_id: Option<String>,
    /// Registration never gets an answer.
    pub register_hangs: bool,
    /// A registration that names INVOKE is refused with this status and Lambda's error body
    /// (`Extension.InvalidEventType`), as on Lambda Managed Instances; one for SHUTDOWN alone
    /// is accepted. `None` (the default) accepts every registration.
    pub refuse_invoke: Option<StatusCode>,
    /// The only Telemetry API `schemaVersion` accepted: a subscription naming another gets
    /// 400 `{"errorType":"ValidationError",…}`, as Lambda Managed Instances answer anything but
    /// `2025-01-29`. `None` (the default) accepts every version.
    pub only_schema: Option<String>,
}

impl ServerOptions {
    pub fn new(telemetry: TelemetryMode, function_name: impl Into<String>) -> Self {
        ServerOptions {
            telemetry,
            function_name: function_name.into(),
            extension_id: None,
            register_hangs: false,
            refuse_invoke: None,
            only_schema: None,
        }
    }
}

/// Where and how the subscriber wants its records.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub destination: SocketAddr,
    /// The destination URI's path (and query): where batches are POSTed, as Lambda does.
    pub path: String,
    pub timeout_ms: u64,
    pub max_items: usize,
    pub max_bytes: usize,
    /// `platform`, `function`, `extension`: Lambda sends only the types subscribed to.
    pub types: Vec<String>,
    /// The request body as the extension sent it.
    pub raw: serde_json::Value,
}

/// Something an extension did, with the server-side instant it arrived.
#[derive(Debug)]
pub enum ApiEvent {
    Registered {
        at: Instant,
        name: String,
        events: Vec<String>,
        /// The server refused this registration ([`ServerOptions::refuse_invoke`]): the
        /// extension is not registered by it.
        refused: bool,
    },
    Subscribed {
        at: Instant,
        subscription: Subscription,
    },
    Next(NextRequest),
    /// `/extension/init/error` or `/extension/exit/error`.
    ReportedError {
        at: Instant,
        path: String,
    },
}

/// An extension waiting on `/event/next`; the driver answers it with [`NextRequest::send`].
#[derive(Debug)]
pub struct NextRequest {
    pub at: Instant,
    reply: oneshot::Sender<Bytes>,
    clock: WriteClock,
}

impl std::fmt::Debug for WriteClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteClock")
    }
}

impl NextRequest {
    /// Answers with `event`; the receiver yields the instant the answer was written to the socket.
    pub fn send(self, event: &Event) -> oneshot::Receiver<Instant> {
        let written = self.clock.arm();
        let body = serde_json::to_vec(event).expect("events always serialise");
        let _ = self.reply.send(Bytes::from(body));
        written
    }
}

/// The INVOKE the harness hands out for `request_id` of `function_name`, due in 3 s.
pub fn invoke_event(request_id: String, function_name: &str) -> Event {
    let trace = format!(
        "Root=1-674499aa-{:0>24};Parent=53995c3f42cd8ad8;Sampled=0",
        &request_id[..8]
    );
    Event::Invoke(Invoke {
        deadline_ms: epoch_ms() + 3_000,
        request_id,
        invoked_function_arn: format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        ),
        tracing: Tracing::x_ray(trace),
    })
}

/// A `spindown` SHUTDOWN due in 2 s.
pub fn shutdown_event() -> Event {
    Event::Shutdown(Shutdown {
        shutdown_reason: "spindown".to_string(),
        deadline_ms: epoch_ms() + 2_000,
    })
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A running server. Dropping it stops the server and every connection it serves.
pub struct ApiServer {
    pub addr: SocketAddr,
    events: mpsc::UnboundedReceiver<ApiEvent>,
    task: JoinHandle<()>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    options: ServerOptions,
    events: mpsc::UnboundedSender<ApiEvent>,
    next_id: AtomicU64,
}

impl ApiServer {
    /// A server for the benchmark's function (`coldmark-bench-fn`).
    pub async fn start(mode: TelemetryMode) -> Result<Self> {
        Self::start_with(ServerOptions::new(mode, "coldmark-bench-fn")).await
    }

    pub async fn start_with(options: ServerOptions) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the API server to 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            options,
            events: tx,
            next_id: AtomicU64::new(1),
        });
        let task = tokio::spawn(accept_loop(listener, shared));
        Ok(Self {
            addr,
            events: rx,
            task,
        })
    }

    /// The next thing the extension did; `None` once the server is gone.
    pub async fn next_event(&mut self) -> Option<ApiEvent> {
        self.events.recv().await
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owning the connections here means aborting this task closes them all.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let clock = WriteClock::default();
        let io = TokioIo::new(TimedIo::new(stream, clock.clone()));
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                let clock = clock.clone();
                async move { Ok::<_, Infallible>(handle(req, shared, clock).await) }
            });
            let _ = http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    clock: WriteClock,
) -> Response<Full<Bytes>> {
    let at = Instant::now();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, EVENT_NEXT_PATH) => {
            let (tx, rx) = oneshot::channel();
            let _ = shared.events.send(ApiEvent::Next(NextRequest {
                at,
                reply: tx,
                clock,
            }));
            match rx.await {
                Ok(body) => json_response(StatusCode::OK, body),
                // The driver dropped the request: the run is over.
                Err(_) => empty(StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
        (Method::POST, REGISTER_PATH) => {
            if shared.options.register_hangs {
                std::future::pending::<()>().await;
            }
            let name = req
                .headers()
                .get(NAME_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = body_of(req).await;
            let events = serde_json::from_slice::<RegisterRequest>(&body)
                .map(|r| r.events)
                .unwrap_or_default();
            if let Some(status) = shared.options.refuse_invoke {
                if events.iter().any(|e| e == "INVOKE") {
                    let _ = shared.events.send(ApiEvent::Registered {
                        at,
                        name,
                        events,
                        refused: true,
                    });
                    let body = serde_json::to_vec(&ErrorResponse {
                        error_message: "INVOKE: extensions cannot register for INVOKE here".into(),
                        error_type: "Extension.InvalidEventType".into(),
                    })
                    .expect("error serialises");
                    return json_response(status, Bytes::from(body));
                }
            }
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            let _ = shared.events.send(ApiEvent::Registered {
                at,
                name,
                events,
                refused: false,
            });
            let body = serde_json::to_vec(&RegisterResponse {
                function_name: shared.options.function_name.clone(),
                function_version: "$LATEST".into(),
                handler: "bootstrap".into(),
                account_id: Some("123456789012".into()),
            })
            .expect("register response serialises");
            let mut response = json_response(StatusCode::OK, Bytes::from(body));
            let id = shared
                .options
                .extension_id
                .clone()
                .unwrap_or_else(|| format!("00000000-0000-4000-8000-{id:012x}"));
            response
                .headers_mut()
                .insert(IDENTIFIER_HEADER, id.parse().expect("ascii id"));
            response
        }
        (Method::PUT, SUBSCRIBE_PATH) | (Method::PUT, "/2020-08-15/logs") => {
            if shared.options.telemetry == TelemetryMode::Hangs {
                std::future::pending::<()>().await;
            }
            if shared.options.telemetry == TelemetryMode::NotSupported {
                let body = serde_json::to_vec(&ErrorResponse {
                    error_message: "Telemetry API is not supported".into(),
                    error_type: NOT_SUPPORTED.into(),
                })
                .expect("error serialises");
                return json_response(StatusCode::ACCEPTED, Bytes::from(body));
            }
            let body = body_of(req).await;
            if let Some(only) = &shared.options.only_schema {
                let asked = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["schemaVersion"].as_str().map(str::to_string));
                if asked.as_deref() != Some(only.as_str()) {
                    let body = serde_json::to_vec(&ErrorResponse {
                        error_message: format!(
                            "schema validation error: schemaVersion must be one of [\"{only}\"]"
                        ),
                        error_type: "ValidationError".into(),
                    })
                    .expect("error serialises");
                    return json_response(StatusCode::BAD_REQUEST, Bytes::from(body));
                }
            }
            match parse_subscription(&body) {
                Ok(subscription) => {
                    let _ = shared
                        .events
                        .send(ApiEvent::Subscribed { at, subscription });
                    json_response(StatusCode::OK, Bytes::from_static(b"\"OK\""))
                }
                Err(err) => {
                    tracing::warn!("bad subscription: {err:#}");
                    empty(StatusCode::BAD_REQUEST)
                }
            }
        }
        (Method::POST, INIT_ERROR_PATH) | (Method::POST, EXIT_ERROR_PATH) => {
            let _ = shared.events.send(ApiEvent::ReportedError { at, path });
            empty(StatusCode::ACCEPTED)
        }
        _ => empty(StatusCode::NOT_FOUND),
    }
}

fn parse_subscription(body: &[u8]) -> Result<Subscription> {
    let raw: serde_json::Value = serde_json::from_slice(body).context("subscription body")?;
    let parsed: lambda_wire::telemetry::Subscription =
        serde_json::from_value(raw.clone()).context("subscription body")?;
    let uri: http::Uri = parsed.destination.uri.parse().context("destination URI")?;
    let host = uri.host().context("destination host")?;
    // Lambda resolves sandbox.localdomain to the sandbox itself; here that is loopback.
    let host = if host == "sandbox.localdomain" {
        "127.0.0.1"
    } else {
        host
    };
    let port = uri.port_u16().unwrap_or(80);
    let destination: SocketAddr = format!("{host}:{port}")
        .parse()
        .context("destination address")?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let buffering = Buffering::effective(parsed.buffering);
    Ok(Subscription {
        destination,
        path,
        timeout_ms: buffering.timeout_ms,
        max_items: buffering.max_items as usize,
        max_bytes: buffering.max_bytes as usize,
        types: parsed.types,
        raw,
    })
}

/// The request's whole body; empty when it cannot be read (the fake answers all the same).
async fn body_of(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    response
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
