//! A Function URL: every method and path becomes a payload-format-2.0 event, and the function's
//! answer becomes the HTTP response by Lambda's rules for URLs (a `statusCode` object is taken
//! apart; any other JSON is a 200 `application/json` body; a function error is a 502).
//!
//! The experiment's probe loop talks to this endpoint exactly as it would to a real
//! `https://<id>.lambda-url.<region>.on.aws/`, so the same client code serves both. A function
//! with tenant isolation has no Function URL on Lambda: every request here gets a 404 saying so.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::api_error::invoke_error;
use super::invocation::InvokeError;
use super::plane::ControlPlane;
use super::request_guard::refusal;
use crate::environment::InvokeStatus;

#[derive(Clone)]
struct UrlState {
    plane: ControlPlane,
    /// `127.0.0.1:<port>`: what `requestContext.domainName` reports.
    domain: String,
}

/// The routes of the Function URL: all of them.
pub(crate) fn router(
    plane: ControlPlane,
    addr: SocketAddr,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    Router::new()
        .fallback(handle)
        .layer(axum::middleware::from_fn(guard_url))
        .with_state(UrlState {
            plane,
            domain: addr.to_string(),
        })
        .into_make_service_with_connect_info::<SocketAddr>()
}

/// Only callers on this machine (see [`refusal`]); any body type, as a Function URL takes any.
async fn guard_url(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match refusal(request.headers(), false) {
        None => next.run(request).await,
        Some(why) => {
            tracing::warn!("Function URL: request refused: {why}");
            (StatusCode::FORBIDDEN, r#"{"Message":"Forbidden"}"#).into_response()
        }
    }
}

/// The event a Function URL hands the function (payload format version 2.0).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UrlEvent {
    pub version: String,
    pub route_key: String,
    pub raw_path: String,
    pub raw_query_string: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Vec<String>>,
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_string_parameters: Option<BTreeMap<String, String>>,
    pub request_context: RequestContext,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub is_base64_encoded: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestContext {
    pub account_id: String,
    pub api_id: String,
    pub domain_name: String,
    pub domain_prefix: String,
    pub http: HttpContext,
    pub request_id: String,
    pub route_key: String,
    pub stage: String,
    /// `25/Nov/2026:19:10:18 +0000`
    pub time: String,
    pub time_epoch: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpContext {
    pub method: String,
    pub path: String,
    pub protocol: String,
    pub source_ip: String,
    pub user_agent: String,
}

/// A function's structured answer to a URL event.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StructuredResponse {
    status_code: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    cookies: Vec<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

/// Content types Lambda passes as text; everything else travels base64-encoded.
fn is_text(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
        || ct.contains("x-www-form-urlencoded")
}

/// Builds the 2.0 event of one HTTP request.
pub(crate) fn url_event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    source_ip: &str,
    domain: &str,
) -> UrlEvent {
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        merged
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = uri.query().unwrap_or("").to_owned();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_pairs(&raw_query) {
        query
            .entry(k)
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert(v);
    }
    let content_type = merged.get("content-type").cloned().unwrap_or_default();
    let (body, is_base64_encoded) = if body.is_empty() {
        (None, false)
    } else if is_text(&content_type) {
        match std::str::from_utf8(body) {
            Ok(text) => (Some(text.to_owned()), false),
            Err(_) => (
                Some(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            ),
        }
    } else {
        (
            Some(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        )
    };
    let now = chrono::Utc::now();
    let user_agent = merged.get("user-agent").cloned().unwrap_or_default();
    UrlEvent {
        version: "2.0".into(),
        route_key: "$default".into(),
        raw_path: uri.path().to_owned(),
        raw_query_string: raw_query,
        cookies: (!cookies.is_empty()).then_some(cookies),
        headers: merged,
        query_string_parameters: (!query.is_empty()).then_some(query),
        request_context: RequestContext {
            account_id: "anonymous".into(),
            api_id: "sandbox".into(),
            domain_name: domain.to_owned(),
            domain_prefix: "sandbox".into(),
            http: HttpContext {
                method: method.as_str().to_owned(),
                path: uri.path().to_owned(),
                protocol: "HTTP/1.1".into(),
                source_ip: source_ip.to_owned(),
                user_agent,
            },
            request_id: uuid::Uuid::new_v4().to_string(),
            route_key: "$default".into(),
            stage: "$default".into(),
            time: now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            time_epoch: now.timestamp_millis(),
        },
        body,
        is_base64_encoded,
    }
}

/// `a=1&b=x%20y` → pairs, percent- and plus-decoded.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Turns the function's answer into the HTTP response, by Lambda's rules for Function URLs.
pub(crate) fn url_response(payload: &[u8]) -> Response {
    if let Ok(structured) = serde_json::from_slice::<StructuredResponse>(payload) {
        let status =
            StatusCode::from_u16(structured.status_code).unwrap_or(StatusCode::BAD_GATEWAY);
        let body = match (structured.body, structured.is_base64_encoded) {
            (None, _) => Vec::new(),
            (Some(text), false) => text.into_bytes(),
            (Some(text), true) => match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(bytes) => bytes,
                Err(_) => return bad_gateway(),
            },
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        for (name, value) in structured.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
        for cookie in structured.cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append("set-cookie", value);
            }
        }
        if !headers.contains_key("content-type") {
            headers.insert("content-type", HeaderValue::from_static("application/json"));
        }
        return response;
    }
    // Any other answer is the body of a 200 JSON response.
    let mut response = Response::new(Body::from(payload.to_vec()));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn bad_gateway() -> Response {
    (StatusCode::BAD_GATEWAY, "Internal Server Error").into_response()
}

async fn handle(
    State(state): State<UrlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.plane.options().tenant_isolation {
        // Lambda gives a function with tenant isolation no Function URL (an invoke through one
        // could not name its tenant).
        return (
            StatusCode::NOT_FOUND,
            r#"{"Message":"This function has tenant isolation: Lambda gives it no Function URL. Invoke it through the Lambda API with a tenant ID (X-Amz-Tenant-Id)."}"#,
        )
            .into_response();
    }
    let event = url_event(
        &method,
        &uri,
        &headers,
        &body,
        &peer.ip().to_string(),
        &state.domain,
    );
    let payload = match serde_json::to_vec(&event) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("serialising the URL event: {e}");
            return bad_gateway();
        }
    };
    let invocation = match state.plane.invoke(payload.into(), false).await {
        Ok(invocation) => invocation,
        Err(e @ InvokeError::TooManyRequests { .. }) => return invoke_error(&e).into_response(),
        Err(e) => {
            tracing::warn!("Function URL request failed: {e}");
            return bad_gateway();
        }
    };
    let mut response = match invocation.response.status {
        InvokeStatus::Success => url_response(&invocation.response.payload),
        _ => bad_gateway(),
    };
    if let Ok(v) = HeaderValue::from_str(&invocation.request_id) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_answers_are_taken_apart() {
        let payload = br#"{"statusCode":201,"headers":{"x-a":"1"},"body":"aGk=","isBase64Encoded":true,"cookies":["a=b"]}"#;
        let response = url_response(payload);
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["x-a"], "1");
        assert_eq!(response.headers()["set-cookie"], "a=b");
        assert_eq!(response.headers()["content-type"], "application/json");
    }

    #[test]
    fn other_json_is_a_200_body() {
        let response = url_response(br#"{"hello":"world"}"#);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
    }

    #[test]
    fn events_carry_query_cookies_and_text_bodies() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("cookie", HeaderValue::from_static("a=1; b=2"));
        let uri: Uri = "/path/x?q=a%20b&q=c".parse().unwrap();
        let event = url_event(
            &Method::POST,
            &uri,
            &headers,
            b"{}",
            "127.0.0.1",
            "127.0.0.1:1",
        );
        assert_eq!(event.raw_path, "/path/x");
        assert_eq!(event.raw_query_string, "q=a%20b&q=c");
        assert_eq!(event.query_string_parameters.unwrap()["q"], "a b,c");
        assert_eq!(event.cookies.unwrap(), vec!["a=1", "b=2"]);
        assert_eq!(event.body.as_deref(), Some("{}"));
        assert!(!event.is_base64_encoded);
        assert_eq!(event.request_context.http.method, "POST");
    }
}
