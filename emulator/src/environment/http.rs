//! What the Runtime, Extensions and Telemetry API handlers share on the HTTP side: Lambda's
//! error and 202 answers, a refusal as an answer, and reading a request's headers.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lambda_wire::extensions::{ErrorResponse, IDENTIFIER_HEADER};
use lambda_wire::runtime::StatusResponse;

use super::rules::Refusal;

/// An error answer in the shape every Lambda API uses (`errorMessage`, `errorType`).
pub(crate) fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = ErrorResponse {
        error_message: message.to_string(),
        error_type: error_type.to_string(),
    };
    (status, Json(body)).into_response()
}

/// A call the rules refused.
pub(crate) fn refuse(refusal: Refusal) -> Response {
    api_error(refusal.status, refusal.error_type, &refusal.message)
}

/// The answer to a `/next` whose queue went away: the processes are being torn down.
pub(crate) fn reset(error_type: &str) -> Response {
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        error_type,
        "the execution environment is being reset",
    )
}

/// `{"status":"OK"}` with 202, what Lambda answers to posted results and errors.
pub(crate) fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(StatusResponse::ok())).into_response()
}

/// A header's value, when present, text and not empty.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The caller's `Lambda-Extension-Identifier`.
pub(crate) fn extension_id(headers: &HeaderMap) -> Option<&str> {
    header(headers, IDENTIFIER_HEADER)
}

/// What Lambda answers a call without `Lambda-Extension-Identifier`.
pub(crate) fn missing_id() -> Response {
    api_error(
        StatusCode::FORBIDDEN,
        "Extension.MissingExtensionIdentifier",
        "missing Lambda-Extension-Identifier header",
    )
}
