//! coldmark's own HTTP/1 server for Telemetry API batches.
//!
//! One listener for the life of the process (not one per connection), TCP_NODELAY on every
//! accepted connection so the `200` goes out at once (Lambda waits for it before sending the
//! next batch; a Nagle/delayed-ACK stall would add ~40 ms to record delivery), and the reply is
//! a small fixed response hyper writes in one `write`. Every batch is answered `200`, even one
//! it cannot read: a non-2xx answer would only make Lambda retry the same bytes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Largest batch accepted. Lambda's `maxBytes` tops out at 1 MiB; records are JSON-escaped.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Called with each batch body; must not block (it runs on the listener's task).
pub type Handler = Arc<dyn Fn(Bytes) + Send + Sync>;

/// Binds `0.0.0.0:port` (0 = any free port). If the port is taken, warns and takes a free one:
/// a second environment on one machine must not lose its telemetry.
pub async fn bind(port: u16) -> std::io::Result<(TcpListener, u16)> {
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

/// Serves batches forever (until the runtime stops).
pub async fn serve(listener: TcpListener, handler: Handler) {
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
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(receive(req, handler).await) }
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

async fn receive(req: Request<Incoming>, handler: Handler) -> Response<Full<Bytes>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => handler(body.to_bytes()),
        Err(_) => tracing::warn!("telemetry batch unreadable or over {MAX_BODY} bytes; skipped"),
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    response
}
