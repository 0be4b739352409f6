//! coldmark's own HTTP/1 server for Telemetry API batches.
//!
//! One listener for the life of the process (not one per connection), TCP_NODELAY on every
//! accepted connection so the `200` goes out at once (Lambda waits for it before sending the
//! next batch; a Nagle/delayed-ACK stall would add ~40 ms to record delivery), and the reply is
//! a small fixed response hyper writes in one `write`.
//!
//! # Who may post
//! The listener binds the address Lambda delivers to (`sandbox.localdomain` names the execution
//! environment itself, so every interface), where the function's own code, other extensions
//! and anything that can reach the port can connect too. What tells Lambda apart is the path:
//! coldmark subscribes with a random one ([`secret_path`], 128 bits, new in every process) that
//! only Lambda learns, through the subscription request. A request to any other path is
//! answered `404`, another method on the right path `405`; neither body is read, let alone
//! parsed. A batch over [`MAX_BODY`] is answered `413` (Lambda's own batches are at most
//! 256 KiB, as coldmark subscribes). Every batch on the right path is answered `200`, even one
//! it cannot parse: a non-2xx answer would only make Lambda retry the same bytes.
//!
//! # Parsing off the invocation path
//! Batches are parsed and applied on a thread of their own, not on the async runtime's only
//! thread, which also answers INVOKE with the next `/event/next`: a large batch takes as long
//! as it takes there and never holds an invocation. The `200` goes out once the batch is
//! applied, so Lambda's next batch never overtakes it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Largest batch accepted. coldmark subscribes with `maxBytes` 256 KiB; records are
/// JSON-escaped and Lambda may exceed the limit by one record.
pub(crate) const MAX_BODY: usize = 4 * 1024 * 1024;

/// Called with each batch body, on the parser thread (never on the async runtime).
pub(crate) type Handler = Arc<dyn Fn(Bytes) + Send + Sync>;

/// Binds `0.0.0.0:port` (0 = any free port). If the port is taken, warns and takes a free one:
/// a second environment on one machine must not lose its telemetry.
pub(crate) async fn bind(port: u16) -> std::io::Result<(TcpListener, u16)> {
    let listener = match TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await {
        Ok(l) => l,
        Err(e) if port != 0 => {
            tracing::warn!(
                "COLDMARK_TELEMETRY_PORT {port} cannot be bound ({}); using a free port",
                e.kind()
            );
            TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], 0))).await?
        }
        Err(e) => return Err(e),
    };
    let bound = listener.local_addr()?.port();
    Ok((listener, bound))
}

/// A path nobody but Lambda (told in the subscription) can know: 128 random bits.
pub(crate) fn secret_path() -> String {
    format!("/telemetry/{}", crate::random::hex128())
}

/// A batch for the parser thread, and where to say it was applied.
type Job = (Bytes, oneshot::Sender<()>);

/// Starts the parser thread, then serves batches posted to `path` on the current tokio
/// runtime forever (until the runtime stops). The thread is started here, before the caller
/// subscribes, so that nothing is left to start once coldmark reports ready. False (with a
/// warning) when the thread cannot be started.
pub(crate) fn start(listener: TcpListener, path: String, handler: Handler) -> bool {
    let (jobs, queue) = mpsc::channel::<Job>();
    let parser = std::thread::Builder::new()
        .name("coldmark-telemetry".into())
        .spawn(move || {
            for (body, done) in queue {
                handler(body);
                let _ = done.send(());
            }
        });
    if parser.is_err() {
        tracing::warn!("cannot start the telemetry thread; markers from the Extensions API only");
        return false;
    }
    tokio::spawn(serve(listener, path.into(), jobs));
    true
}

async fn serve(listener: TcpListener, path: Arc<str>, jobs: mpsc::Sender<Job>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("telemetry accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let jobs = jobs.clone();
        let path = path.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let jobs = jobs.clone();
                let path = path.clone();
                async move { Ok::<_, Infallible>(receive(req, &path, &jobs).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("telemetry connection ended: {e}");
            }
        });
    }
}

fn answer(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

async fn receive(
    req: Request<Incoming>,
    path: &str,
    jobs: &mpsc::Sender<Job>,
) -> Response<Full<Bytes>> {
    if req.uri().path() != path {
        tracing::debug!("telemetry listener: request to another path refused");
        return answer(StatusCode::NOT_FOUND);
    }
    if req.method() != Method::POST {
        tracing::debug!("telemetry listener: {} refused", req.method());
        let mut response = answer(StatusCode::METHOD_NOT_ALLOWED);
        response.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("POST"),
        );
        return response;
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        tracing::warn!("telemetry batch over {MAX_BODY} bytes; refused");
        return answer(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            tracing::warn!("telemetry batch unreadable or over {MAX_BODY} bytes; refused");
            return answer(StatusCode::PAYLOAD_TOO_LARGE);
        }
    };
    let (done, applied) = oneshot::channel();
    if jobs.send((body, done)).is_ok() {
        // Err only if the parser thread is gone; the answer is the same.
        let _ = applied.await;
    }
    answer(StatusCode::OK)
}
