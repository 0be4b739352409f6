//! The Lambda Runtime API (2018-06-01) the function's `bootstrap` talks to: a long-polled
//! `/invocation/next`, then the invocation's `/response` or `/error`; `/init/error` when the
//! function cannot start. The lifecycle bookkeeping lives in `environment`; this is HTTP only.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;

use crate::environment::{accepted, api_error, RuntimeOutcome, Shared};

const ERROR_TYPE_HEADER: &str = "Lambda-Runtime-Function-Error-Type";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .route("/2018-06-01/runtime/restore/next", get(restore_next))
        .route("/2018-06-01/runtime/restore/error", post(init_error))
}

/// SnapStart: a runtime whose `AWS_LAMBDA_INITIALIZATION_TYPE` is `snap-start` calls this when
/// its init is done (the snapshot point) and blocks until the environment is restored (AWS
/// "Lambda SnapStart runtime hooks"; `lambda_runtime`'s `RestoreNextRequest`). The sandbox keeps
/// no snapshot, so the restore is immediate: 200 with an empty body. Elsewhere: 404, as a
/// runtime without SnapStart would see.
async fn restore_next(State(shared): State<Arc<Shared>>) -> Response {
    if shared.snap_start() {
        StatusCode::OK.into_response()
    } else {
        api_error(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            "restore/next is only served to SnapStart environments",
        )
    }
}

/// Blocks until the next invocation, as Lambda does (the runtime is frozen meanwhile anyway).
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let queue = shared.runtime_next();
    let invocation = queue.lock().await.recv().await;
    let Some(invocation) = invocation else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Reset",
            "the execution environment is being reset",
        );
    };
    shared.runtime_took(&invocation.request_id);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    put("Lambda-Runtime-Aws-Request-Id", &invocation.request_id);
    put(
        "Lambda-Runtime-Deadline-Ms",
        &invocation.deadline_ms.to_string(),
    );
    put(
        "Lambda-Runtime-Invoked-Function-Arn",
        &invocation.function_arn,
    );
    put("Lambda-Runtime-Trace-Id", &invocation.trace_id);
    // Only when the invoke carried them, as RIE's `renderInvokeHeaders` does.
    if let Some(context) = &invocation.caller.client_context {
        put("Lambda-Runtime-Client-Context", context);
    }
    if let Some(identity) = &invocation.caller.cognito_identity {
        if let Ok(json) = serde_json::to_string(identity) {
            put("Lambda-Runtime-Cognito-Identity", &json);
        }
    }
    put("Content-Type", "application/json");
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match shared.runtime_answer(&id, RuntimeOutcome::Response(body)) {
        Ok(()) => accepted(),
        Err((status, error_type, message)) => api_error(status, error_type, &message),
    }
}

/// The error type: the header, else the body's `errorType`, else Lambda's default.
fn error_type(headers: &HeaderMap, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ErrorBody {
        error_type: Option<String>,
    }
    headers
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            serde_json::from_slice::<ErrorBody>(body)
                .ok()
                .and_then(|b| b.error_type)
        })
        .unwrap_or_else(|| "Unhandled".into())
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error_type = error_type(&headers, &body);
    match shared.runtime_answer(&id, RuntimeOutcome::Error { error_type, body }) {
        Ok(()) => accepted(),
        Err((status, error_type, message)) => api_error(status, error_type, &message),
    }
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match shared.runtime_init_error(error_type(&headers, &body)) {
        Ok(()) => accepted(),
        Err((status, error_type, message)) => api_error(status, error_type, &message),
    }
}
