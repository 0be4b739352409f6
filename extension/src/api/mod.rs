//! Calls to Lambda's Extensions API (register, next event) and Telemetry API (subscribe).
//!
//! coldmark makes these requests itself rather than through `lambda-extension`'s builder:
//! that builder panics when `AWS_LAMBDA_RUNTIME_API` is missing or malformed (an extension must
//! degrade, not crash), requires `handler` in the registration answer (some emulators omit
//! it), and uses a connection without TCP_NODELAY. Events are still parsed with
//! `lambda_extension::NextEvent`, the crate's typed view of Lambda's event format.
//!
//! One keep-alive connection with TCP_NODELAY carries every call, so asking for the next event
//! is one small write and never waits on Nagle's algorithm. Failures are typed ([`error`]);
//! events are read leniently ([`event`]).

mod budget;
mod error;
mod event;

use tokio::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

pub(crate) use budget::INIT_BUDGET;
pub(crate) use error::ApiError;
use error::{error_type, Call};
use event::parse_event;
pub(crate) use event::Event;

const ID_HEADER: &str = "Lambda-Extension-Identifier";
const NAME_HEADER: &str = "Lambda-Extension-Name";
/// Telemetry API buffering. These are Lambda's minimums: records reach coldmark at most 25 ms
/// after they happen (so markers are prompt and few records are lost at a freeze), and a batch
/// holds at most 1000 records / 256 KiB (so a batch is cheap to parse). Sent explicitly
/// because AWS's pages disagree on the defaults.
pub(crate) const BUFFER_MAX_ITEMS: u32 = 1000;
pub(crate) const BUFFER_MAX_BYTES: u32 = 262_144;
pub(crate) const BUFFER_TIMEOUT_MS: u32 = 25;

/// `AWS_LAMBDA_INITIALIZATION_TYPE` on Lambda Managed Instances, where Lambda refuses an
/// extension's registration for INVOKE (one environment serves concurrent invocations, so there
/// is no per-invocation event to hand out): only SHUTDOWN may be registered.
pub(crate) const MANAGED_INSTANCES: &str = "lambda-managed-instances";

/// Telemetry API record schemas coldmark can read. `2025-01-29` is the only one Lambda Managed
/// Instances accepts (it answers 400 `ValidationError` to others); AWS calls it backward
/// compatible, yet some standard runtimes are reported to answer 400 to it, so elsewhere
/// coldmark asks for `2022-12-13` first. Either way a refused version falls back to the other.
pub(crate) const SCHEMA_ON_DEMAND: &str = "2022-12-13";
pub(crate) const SCHEMA_MANAGED_INSTANCES: &str = "2025-01-29";

/// The schema versions to try, in order: the environment's own first, then the other.
pub(crate) fn schema_versions(managed_instances: bool) -> [&'static str; 2] {
    if managed_instances {
        [SCHEMA_MANAGED_INSTANCES, SCHEMA_ON_DEMAND]
    } else {
        [SCHEMA_ON_DEMAND, SCHEMA_MANAGED_INSTANCES]
    }
}

/// The events coldmark registers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Events {
    InvokeAndShutdown,
    /// Lambda Managed Instances, or a Lambda that refused INVOKE: markers from telemetry alone.
    ShutdownOnly,
}

impl Events {
    fn names(self) -> &'static [&'static str] {
        match self {
            Events::InvokeAndShutdown => &["INVOKE", "SHUTDOWN"],
            Events::ShutdownOnly => &["SHUTDOWN"],
        }
    }
}

pub(crate) struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What registration tells coldmark.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) extension_id: String,
    /// What Lambda accepted coldmark's registration for.
    pub(crate) events: Events,
    pub(crate) function_name: Option<String>,
    pub(crate) function_version: Option<String>,
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
    pub(crate) fn new(runtime_api: Option<&str>) -> Result<Api, ApiError> {
        let raw = runtime_api
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ApiError::NoRuntimeApi)?;
        let base = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        };
        let base = base.trim_end_matches('/').to_string();
        base.parse::<hyper::Uri>()
            .ok()
            .filter(|u| u.scheme_str() == Some("http") && u.authority().is_some())
            .ok_or(ApiError::BadRuntimeApi)?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(None)
            .build(connector);
        Ok(Api { base, client })
    }

    async fn call(
        &self,
        call: Call,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), ApiError> {
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
            .map_err(|_| ApiError::InvalidRequest { call })?;
        let res = self
            .client
            .request(req)
            .await
            .map_err(|e| ApiError::Unreachable {
                call,
                source: Box::new(e),
            })?;
        let status = res.status();
        let (parts, body) = res.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| ApiError::Unreachable {
                call,
                source: Box::new(e),
            })?
            .to_bytes();
        Ok((status, parts.headers, bytes))
    }

    /// `POST /2020-01-01/extension/register` for `events`, answered by `deadline`.
    pub(crate) async fn register(
        &self,
        name: &str,
        events: Events,
        deadline: Instant,
    ) -> Result<Registration, ApiError> {
        let call = Call::Register;
        let body = serde_json::to_vec(&RegisterBody {
            events: events.names(),
        })
        .map_err(|_| ApiError::InvalidRequest { call })?;
        let headers = [(NAME_HEADER, name)];
        let request = self.call(
            call,
            Method::POST,
            "/2020-01-01/extension/register",
            &headers,
            Some(body),
        );
        let (status, headers, bytes) = tokio::time::timeout_at(deadline, request)
            .await
            .map_err(|_| ApiError::Timeout { call })??;
        if !status.is_success() {
            return Err(ApiError::Refused {
                call,
                status,
                error_type: error_type(&bytes),
            });
        }
        let extension_id = headers
            .get(ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::BadAnswer {
                call,
                what: "no Lambda-Extension-Identifier in the answer",
            })?
            .to_string();
        let answer: Option<RegisterAnswer> = serde_json::from_slice(&bytes).ok();
        Ok(Registration {
            extension_id,
            events,
            function_name: answer.as_ref().and_then(|a| a.function_name.clone()),
            function_version: answer.and_then(|a| a.function_version),
        })
    }

    /// `PUT /2022-07-01/telemetry`: platform records of `schema_version` to
    /// `http://sandbox.localdomain:<port><path>`, answered by `deadline`.
    pub(crate) async fn subscribe(
        &self,
        extension_id: &str,
        schema_version: &str,
        port: u16,
        path: &str,
        deadline: Instant,
    ) -> Result<(), ApiError> {
        let call = Call::Subscribe;
        let body = serde_json::to_vec(&Subscription {
            schema_version,
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
        .map_err(|_| ApiError::InvalidRequest { call })?;
        let headers = [(ID_HEADER, extension_id)];
        let request = self.call(
            call,
            Method::PUT,
            "/2022-07-01/telemetry",
            &headers,
            Some(body),
        );
        let (status, _, bytes) = tokio::time::timeout_at(deadline, request)
            .await
            .map_err(|_| ApiError::Timeout { call })??;
        // Only 200 means records will come: RIE and emulators answer 202 "not supported".
        if status == StatusCode::OK {
            return Ok(());
        }
        Err(ApiError::Refused {
            call,
            status,
            error_type: error_type(&bytes),
        })
    }

    /// `GET /2020-01-01/extension/event/next` (long poll).
    pub(crate) async fn next(&self, extension_id: &str) -> Result<Event, ApiError> {
        let call = Call::Next;
        let (status, _, bytes) = self
            .call(
                call,
                Method::GET,
                "/2020-01-01/extension/event/next",
                &[(ID_HEADER, extension_id)],
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(ApiError::Refused {
                call,
                status,
                error_type: error_type(&bytes),
            });
        }
        parse_event(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_bodies() {
        let body = |events: Events| {
            serde_json::to_string(&RegisterBody {
                events: events.names(),
            })
            .unwrap()
        };
        assert_eq!(
            body(Events::InvokeAndShutdown),
            r#"{"events":["INVOKE","SHUTDOWN"]}"#
        );
        assert_eq!(body(Events::ShutdownOnly), r#"{"events":["SHUTDOWN"]}"#);
    }

    #[test]
    fn managed_instances_ask_for_2025_01_29_first_and_elsewhere_last() {
        assert_eq!(schema_versions(true), ["2025-01-29", "2022-12-13"]);
        assert_eq!(schema_versions(false), ["2022-12-13", "2025-01-29"]);
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
