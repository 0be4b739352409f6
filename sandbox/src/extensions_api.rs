//! The Lambda Extensions API (2020-01-01): `register` (only during init), the long-polled
//! `event/next` that hands out INVOKE and SHUTDOWN events, and `init/error` / `exit/error`.
//! The lifecycle bookkeeping lives in `environment`; this is HTTP and the event records.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::environment::{accepted, api_error, new_uuid, Refusal, Shared, EXTENSION_ID_HEADER};

const EXTENSION_NAME_HEADER: &str = "Lambda-Extension-Name";
const ACCEPT_FEATURE_HEADER: &str = "Lambda-Extension-Accept-Feature";
const ERROR_TYPE_HEADER: &str = "Lambda-Extension-Function-Error-Type";
const EVENT_ID_HEADER: &str = "Lambda-Extension-Event-Identifier";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/2020-01-01/extension/register", post(register))
        .route("/2020-01-01/extension/event/next", get(next))
        .route("/2020-01-01/extension/init/error", post(init_error))
        .route("/2020-01-01/extension/exit/error", post(exit_error))
}

/// An event as `/event/next` returns it.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "eventType", rename_all = "UPPERCASE")]
pub enum ExtensionEvent {
    Invoke(InvokeEvent),
    Shutdown(ShutdownEvent),
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeEvent {
    pub deadline_ms: u64,
    pub request_id: String,
    pub invoked_function_arn: String,
    pub tracing: EventTracing,
}

#[derive(Clone, Debug, Serialize)]
pub struct EventTracing {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownEvent {
    pub shutdown_reason: String,
    pub deadline_ms: u64,
}

#[derive(Debug, Deserialize)]
struct RegisterRequest {
    #[serde(default)]
    events: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisterResponse<'a> {
    function_name: &'a str,
    function_version: &'a str,
    handler: &'a str,
    /// Only for extensions that announce `Lambda-Extension-Accept-Feature: accountId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

fn refuse((status, error_type, message): Refusal) -> Response {
    api_error(status, error_type, &message)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

fn missing_id() -> Response {
    api_error(
        StatusCode::FORBIDDEN,
        "Extension.MissingExtensionIdentifier",
        "missing Lambda-Extension-Identifier header",
    )
}

async fn register(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(name) = header(&headers, EXTENSION_NAME_HEADER) else {
        return api_error(
            StatusCode::FORBIDDEN,
            "Extension.InvalidExtensionName",
            "Empty extension name",
        );
    };
    let request: RegisterRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return api_error(
                StatusCode::FORBIDDEN,
                "InvalidRequestFormat",
                &err.to_string(),
            );
        }
    };
    if let Some(bad) = request
        .events
        .iter()
        .find(|e| *e != "INVOKE" && *e != "SHUTDOWN")
    {
        return api_error(
            StatusCode::FORBIDDEN,
            "Extension.InvalidEventType",
            &format!("{bad}: unknown event type"),
        );
    }
    let id = match shared.register_extension(name, request.events) {
        Ok(id) => id,
        Err(refusal) => return refuse(refusal),
    };
    let wants_account = header(&headers, ACCEPT_FEATURE_HEADER)
        .is_some_and(|v| v.split(',').any(|f| f.trim() == "accountId"));
    let (function_name, function_version, handler) = shared.function_metadata();
    let body = RegisterResponse {
        function_name,
        function_version,
        handler,
        account_id: wants_account.then_some(shared.account_id.as_str()),
    };
    let mut response = (StatusCode::OK, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(EXTENSION_ID_HEADER, value);
    }
    response
}

/// Blocks until the extension's next event.
async fn next(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(id) = header(&headers, EXTENSION_ID_HEADER).map(str::to_string) else {
        return missing_id();
    };
    let queue = match shared.extension_next(&id) {
        Ok(queue) => queue,
        Err(refusal) => return refuse(refusal),
    };
    let event = queue.lock().await.recv().await;
    let Some(event) = event else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Extension.Reset",
            "the execution environment is being reset",
        );
    };
    let mut response = (StatusCode::OK, Json(event)).into_response();
    if let Ok(value) = HeaderValue::from_str(&new_uuid()) {
        response.headers_mut().insert(EVENT_ID_HEADER, value);
    }
    response
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(id) = header(&headers, EXTENSION_ID_HEADER) else {
        return missing_id();
    };
    let error_type = header(&headers, ERROR_TYPE_HEADER).unwrap_or("Extension.Unknown");
    match shared.extension_init_error(id, error_type) {
        Ok(()) => accepted(),
        Err(refusal) => refuse(refusal),
    }
}

async fn exit_error(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(id) = header(&headers, EXTENSION_ID_HEADER) else {
        return missing_id();
    };
    let error_type = header(&headers, ERROR_TYPE_HEADER).unwrap_or("Extension.Unknown");
    match shared.extension_exit_error(id, error_type) {
        Ok(()) => accepted(),
        Err(refusal) => refuse(refusal),
    }
}
