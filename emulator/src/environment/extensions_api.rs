//! The Lambda Extensions API (2020-01-01), its HTTP side: `register` (only during init), the
//! long-polled `event/next` that hands out INVOKE and SHUTDOWN events, and `init/error` /
//! `exit/error`. Bodies and headers are `lambda_wire`'s; what each call changes, and when it is
//! refused, is decided by the rules (`rules.rs`) through `bookkeeping.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use lambda_wire::extensions::{
    RegisterRequest, RegisterResponse, ACCEPT_FEATURE_HEADER, EVENT_IDENTIFIER_HEADER,
    EVENT_NEXT_PATH, EXIT_ERROR_PATH, FUNCTION_ERROR_TYPE_HEADER, IDENTIFIER_HEADER,
    INIT_ERROR_PATH, NAME_HEADER, REGISTER_PATH,
};

use super::http::{accepted, api_error, extension_id, header, missing_id, refuse, reset};
use super::ids::new_uuid;
use super::rules::Refusal;
use super::shared::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(REGISTER_PATH, post(register))
        .route(EVENT_NEXT_PATH, get(next))
        .route(INIT_ERROR_PATH, post(init_error))
        .route(EXIT_ERROR_PATH, post(exit_error))
}

async fn register(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(name) = header(&headers, NAME_HEADER) else {
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
    let id = match shared.register_extension(name, request.events) {
        Ok(id) => id,
        Err(refusal) => return refuse(refusal),
    };
    let wants_account = header(&headers, ACCEPT_FEATURE_HEADER)
        .is_some_and(|v| v.split(',').any(|f| f.trim() == "accountId"));
    let body = RegisterResponse {
        function_name: shared.config.function_name.clone(),
        function_version: shared.config.version.clone(),
        handler: shared.config.handler.clone(),
        account_id: wants_account.then(|| shared.account_id.clone()),
    };
    let mut response = (StatusCode::OK, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(IDENTIFIER_HEADER, value);
    }
    response
}

/// Blocks until the extension's next event.
async fn next(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(id) = extension_id(&headers).map(str::to_string) else {
        return missing_id();
    };
    let queue = match shared.extension_next(&id) {
        Ok(queue) => queue,
        Err(refusal) => return refuse(refusal),
    };
    let event = queue.lock().await.recv().await;
    let Some(event) = event else {
        return reset("Extension.Reset");
    };
    let mut response = (StatusCode::OK, Json(event)).into_response();
    if let Ok(value) = HeaderValue::from_str(&new_uuid()) {
        response
            .headers_mut()
            .insert(EVENT_IDENTIFIER_HEADER, value);
    }
    response
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    error_report(&headers, |id, error_type| {
        shared.extension_init_error(id, error_type)
    })
}

async fn exit_error(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    error_report(&headers, |id, error_type| {
        shared.extension_exit_error(id, error_type)
    })
}

/// `init/error` and `exit/error`: the caller's identifier and error type (Lambda's default
/// when the header is missing) go to `report`.
fn error_report(
    headers: &HeaderMap,
    report: impl FnOnce(&str, &str) -> Result<(), Refusal>,
) -> Response {
    let Some(id) = extension_id(headers) else {
        return missing_id();
    };
    let error_type = header(headers, FUNCTION_ERROR_TYPE_HEADER).unwrap_or("Extension.Unknown");
    match report(id, error_type) {
        Ok(()) => accepted(),
        Err(refusal) => refuse(refusal),
    }
}
