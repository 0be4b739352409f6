//! Calls to Lambda's Extensions API (register, next event) and Telemetry API (subscribe).
//!
//! coldmark makes these requests itself rather than through `lambda-extension`'s builder:
//! that builder panics when `AWS_LAMBDA_RUNTIME_API` is missing or malformed (an extension must
//! degrade, not crash), requires `handler` in the registration answer (some emulators omit
//! it), and uses a connection without TCP_NODELAY. Events are still parsed with
//! `lambda_extension::NextEvent`, the crate's typed view of Lambda's event format.
//!
//! One keep-alive connection with TCP_NODELAY carries every call, so asking for the next event
//! is one small write and never waits on Nagle's algorithm.

use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

const ID_HEADER: &str = "Lambda-Extension-Identifier";
const NAME_HEADER: &str = "Lambda-Extension-Name";
/// coldmark's own init budget: registration and subscription together, before the first
/// `/event/next`. Both normally answer within milliseconds; an API that does not answer within
/// this long is not one coldmark can work with, and the function's init (which Lambda limits
/// to 10 s for the runtime and every extension together) must not wait on it any longer.
pub const INIT_BUDGET: Duration = Duration::from_secs(2);

/// Telemetry API buffering. These are Lambda's minimums: records reach coldmark at most 25 ms
/// after they happen (so markers are prompt and few records are lost at a freeze), and a batch
/// holds at most 1000 records / 256 KiB (so a batch is cheap to parse). Sent explicitly
/// because AWS's pages disagree on the defaults.
pub const BUFFER_MAX_ITEMS: u32 = 1000;
pub const BUFFER_MAX_BYTES: u32 = 262_144;
pub const BUFFER_TIMEOUT_MS: u32 = 25;

pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What registration tells coldmark.
#[derive(Debug, Clone)]
pub struct Registration {
    pub extension_id: String,
    pub function_name: Option<String>,
    pub function_version: Option<String>,
}

/// An event from `/event/next`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Invoke {
        request_id: String,
        xray_trace_id: Option<String>,
    },
    Shutdown {
        reason: String,
        /// Epoch milliseconds; 0 when not given.
        deadline_ms: u64,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterAnswer {
    function_name: Option<String>,
    function_version: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Subscription<'a> {
    schema_version: &'a str,
    types: [&'a str; 1],
    buffering: Buffering,
    destination: Destination,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Buffering {
    max_items: u32,
    max_bytes: u32,
    timeout_ms: u32,
}

#[derive(Serialize)]
struct Destination {
    protocol: &'static str,
    #[serde(rename = "URI")]
    uri: String,
}

#[derive(Serialize)]
struct RegisterBody<'a> {
    events: &'a [&'a str],
}

impl Api {
    /// From the value of `AWS_LAMBDA_RUNTIME_API` (`host:port`, or a URL with a base path as
    /// some emulators give).
    pub fn new(runtime_api: Option<&str>) -> Result<Api, String> {
        let raw = runtime_api
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or("AWS_LAMBDA_RUNTIME_API is not set (not running in Lambda)")?;
        let base = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        };
        let base = base.trim_end_matches('/').to_string();
        base.parse::<hyper::Uri>()
            .ok()
            .filter(|u| u.scheme_str() == Some("http") && u.authority().is_some())
            .ok_or("AWS_LAMBDA_RUNTIME_API is not a host:port")?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(None)
            .build(connector);
        Ok(Api { base, client })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), String> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("Content-Type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("cannot build request: {e}"))?;
        let res = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("{path}: connection failed: {e}"))?;
        let status = res.status();
        let (parts, body) = res.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| format!("{path}: reading the answer failed: {e}"))?
            .to_bytes();
        Ok((status, parts.headers, bytes))
    }

    /// `POST /2020-01-01/extension/register` for INVOKE and SHUTDOWN, answered by `deadline`.
    pub async fn register(&self, name: &str, deadline: Instant) -> Result<Registration, String> {
        let body = serde_json::to_vec(&RegisterBody {
            events: &["INVOKE", "SHUTDOWN"],
        })
        .map_err(|e| e.to_string())?;
        let headers = [(NAME_HEADER, name)];
        let call = self.call(
            Method::POST,
            "/2020-01-01/extension/register",
            &headers,
            Some(body),
        );
        let (status, headers, bytes) = tokio::time::timeout_at(deadline, call)
            .await
            .map_err(|_| format!("register: {}", over_budget()))??;
        if !status.is_success() {
            return Err(format!("register: answered {status}"));
        }
        let extension_id = headers
            .get(ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or("register: no Lambda-Extension-Identifier in the answer")?
            .to_string();
        let answer: Option<RegisterAnswer> = serde_json::from_slice(&bytes).ok();
        Ok(Registration {
            extension_id,
            function_name: answer.as_ref().and_then(|a| a.function_name.clone()),
            function_version: answer.and_then(|a| a.function_version),
        })
    }

    /// `PUT /2022-07-01/telemetry`: platform records to `http://sandbox.localdomain:<port><path>`,
    /// answered by `deadline`.
    pub async fn subscribe(
        &self,
        extension_id: &str,
        port: u16,
        path: &str,
        deadline: Instant,
    ) -> Result<(), String> {
        let body = serde_json::to_vec(&Subscription {
            schema_version: "2022-12-13",
            types: ["platform"],
            buffering: Buffering {
                max_items: BUFFER_MAX_ITEMS,
                max_bytes: BUFFER_MAX_BYTES,
                timeout_ms: BUFFER_TIMEOUT_MS,
            },
            destination: Destination {
                protocol: "HTTP",
                uri: format!("http://sandbox.localdomain:{port}{path}"),
            },
        })
        .map_err(|e| e.to_string())?;
        let headers = [(ID_HEADER, extension_id)];
        let call = self.call(Method::PUT, "/2022-07-01/telemetry", &headers, Some(body));
        let (status, _, bytes) = tokio::time::timeout_at(deadline, call)
            .await
            .map_err(|_| over_budget())??;
        // Only 200 means records will come: RIE and emulators answer 202 "not supported".
        if status == StatusCode::OK {
            return Ok(());
        }
        let error_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("errorType")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            })
            .map(|t| format!(" {}", t.chars().take(64).collect::<String>()))
            .unwrap_or_default();
        Err(format!("answered {status}{error_type}"))
    }

    /// `GET /2020-01-01/extension/event/next` (long poll).
    pub async fn next(&self, extension_id: &str) -> Result<Event, String> {
        let (status, _, bytes) = self
            .call(
                Method::GET,
                "/2020-01-01/extension/event/next",
                &[(ID_HEADER, extension_id)],
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(format!("event/next: answered {status}"));
        }
        parse_event(&bytes)
    }
}

fn over_budget() -> String {
    format!(
        "no answer within coldmark's init budget of {} ms for registration and subscription \
         together",
        INIT_BUDGET.as_millis()
    )
}

/// Lenient fallback for events `NextEvent` rejects (an emulator leaving out a field coldmark
/// does not need, such as `invokedFunctionArn`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LooseEvent {
    event_type: String,
    request_id: Option<String>,
    shutdown_reason: Option<String>,
    deadline_ms: Option<u64>,
    tracing: Option<LooseTracing>,
}

#[derive(Deserialize)]
struct LooseTracing {
    value: Option<String>,
}

pub fn parse_event(bytes: &[u8]) -> Result<Event, String> {
    use lambda_extension::NextEvent;
    if let Ok(event) = serde_json::from_slice::<NextEvent>(bytes) {
        return Ok(match event {
            NextEvent::Invoke(i) => Event::Invoke {
                request_id: i.request_id,
                xray_trace_id: Some(i.tracing.value).filter(|v| !v.is_empty()),
            },
            NextEvent::Shutdown(s) => Event::Shutdown {
                reason: s.shutdown_reason,
                deadline_ms: s.deadline_ms,
            },
        });
    }
    let loose: LooseEvent =
        serde_json::from_slice(bytes).map_err(|_| "event/next: unreadable event".to_string())?;
    match loose.event_type.to_ascii_uppercase().as_str() {
        "INVOKE" => Ok(Event::Invoke {
            request_id: loose.request_id.unwrap_or_default(),
            xray_trace_id: loose
                .tracing
                .and_then(|t| t.value)
                .filter(|v| !v.is_empty()),
        }),
        "SHUTDOWN" => Ok(Event::Shutdown {
            reason: loose.shutdown_reason.unwrap_or_default(),
            deadline_ms: loose.deadline_ms.unwrap_or(0),
        }),
        _ => Err("event/next: unknown event type".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lambda_events_and_loose_ones() {
        let invoke = br#"{"eventType":"INVOKE","deadlineMs":1,"requestId":"r1","invokedFunctionArn":"arn","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-a"}}"#;
        assert_eq!(
            parse_event(invoke).unwrap(),
            Event::Invoke {
                request_id: "r1".into(),
                xray_trace_id: Some("Root=1-a".into())
            }
        );
        let loose = br#"{"eventType":"INVOKE","requestId":"r2"}"#;
        assert_eq!(
            parse_event(loose).unwrap(),
            Event::Invoke {
                request_id: "r2".into(),
                xray_trace_id: None
            }
        );
        let shutdown = br#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42}"#;
        assert_eq!(
            parse_event(shutdown).unwrap(),
            Event::Shutdown {
                reason: "spindown".into(),
                deadline_ms: 42
            }
        );
        assert!(parse_event(b"{}").is_err());
    }

    #[test]
    fn runtime_api_forms() {
        assert!(Api::new(None).is_err());
        assert!(Api::new(Some("")).is_err());
        assert!(Api::new(Some("not a host at all")).is_err());
        assert_eq!(
            Api::new(Some("127.0.0.1:9001")).unwrap().base,
            "http://127.0.0.1:9001"
        );
        assert_eq!(
            Api::new(Some("http://127.0.0.1:9001/.rt/")).unwrap().base,
            "http://127.0.0.1:9001/.rt"
        );
    }
}
