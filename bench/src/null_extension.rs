//! The least an external extension can be: register, then ask for events until SHUTDOWN.
//! Measured as a process, it is the floor any extension pays (exec, a runtime, two HTTP calls);
//! run inside the harness, it is the harness's own loop overhead.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

#[derive(Serialize)]
struct Register<'a> {
    events: &'a [&'a str],
}

#[derive(Deserialize)]
struct NextEvent {
    #[serde(rename = "eventType")]
    event_type: String,
}

/// Runs the extension against the Extensions API at `runtime_api` (`host:port`); returns the
/// number of INVOKE events seen.
pub async fn run(runtime_api: &str, name: &str) -> Result<u64> {
    let stream = TcpStream::connect(runtime_api)
        .await
        .with_context(|| format!("connecting to {runtime_api}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let body = serde_json::to_vec(&Register {
        events: &["INVOKE", "SHUTDOWN"],
    })?;
    let request = Request::post("/2020-01-01/extension/register")
        .header("host", runtime_api)
        .header("Lambda-Extension-Name", name)
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await.context("register")?;
    if !response.status().is_success() {
        bail!("register answered {}", response.status());
    }
    let id = response
        .headers()
        .get("Lambda-Extension-Identifier")
        .context("no extension identifier")?
        .to_str()?
        .to_string();
    let _ = response.into_body().collect().await;
    let mut invokes = 0;
    loop {
        sender.ready().await?;
        let request = Request::get("/2020-01-01/extension/event/next")
            .header("host", runtime_api)
            .header("Lambda-Extension-Identifier", &id)
            .body(Full::new(Bytes::new()))?;
        let response = sender.send_request(request).await.context("event/next")?;
        let body = response.into_body().collect().await?.to_bytes();
        let event: NextEvent = serde_json::from_slice(&body).context("event body")?;
        match event.event_type.as_str() {
            "SHUTDOWN" => return Ok(invokes),
            _ => invokes += 1,
        }
    }
}
