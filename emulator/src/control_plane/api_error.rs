//! Lambda's error answers ([`ApiError`]): the status, the error code in the `x-amzn-ErrorType`
//! header and `{"Type": ..., "Message": ...}` in the body, which is what botocore reads to raise
//! `ResourceNotFoundException` and friends; and the answer to a refused invocation.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::configuration::ErrorBody;
use super::invocation::InvokeError;

/// A Lambda API error: status, code (`x-amzn-ErrorType`) and message.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Only on `TooManyRequestsException`.
    pub(crate) reason: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reason: None,
        }
    }

    /// A request body that is not JSON.
    pub(crate) fn unparsable(e: serde_json::Error) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {e}"),
        )
    }

    /// A parameter out of Lambda's bounds.
    pub(crate) fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }

    /// A function or version that does not exist.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    /// A condition of the request (`RevisionId`, `CodeSha256`) that `$LATEST` does not meet.
    pub(crate) fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            message,
        )
    }

    /// A `RevisionId` that is not `$LATEST`'s.
    pub(crate) fn revision_mismatch() -> Self {
        Self::precondition_failed(
            "The Revision Id provided does not match the latest Revision Id. Call the \
             GetFunction/GetAlias API to retrieve the latest Revision Id",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            kind: if self.status.is_server_error() {
                "Service".to_owned()
            } else {
                "User".to_owned()
            },
            message: self.message,
            reason: self.reason,
        };
        let mut response = (self.status, Json(body)).into_response();
        response
            .headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        response
    }
}

/// Maps a refused invocation to Lambda's answer (the Lambda API's and the Function URL's).
pub(crate) fn invoke_error(error: &InvokeError) -> ApiError {
    match error {
        InvokeError::TooManyRequests { .. } => ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "TooManyRequestsException",
            message: "Rate Exceeded.".to_owned(),
            reason: Some("ConcurrentInvocationLimitExceeded".to_owned()),
        },
        InvokeError::Closed => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceException",
            error.to_string(),
        ),
        InvokeError::UnknownVersion(q) => {
            ApiError::not_found(format!("Function not found: version {q}"))
        }
        InvokeError::Tenancy(e) => ApiError::invalid_parameter(e.to_string()),
        InvokeError::InitFailed { .. } | InvokeError::Environment(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            error.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_carry_their_code_in_the_header_and_type_and_message_in_the_body() {
        let response = invoke_error(&InvokeError::TooManyRequests { limit: 2 }).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers()["x-amzn-ErrorType"],
            "TooManyRequestsException"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "Type": "User",
                "Message": "Rate Exceeded.",
                "Reason": "ConcurrentInvocationLimitExceeded"
            })
        );
        let closed = invoke_error(&InvokeError::Closed).into_response();
        assert_eq!(closed.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(closed.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["Type"], "Service");
        assert!(body.get("Reason").is_none());
    }
}
