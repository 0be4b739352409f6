//! The Lambda Runtime API (2018-06-01) the function's `bootstrap` talks to: a long-polled
//! `/invocation/next`, then the invocation's `/response` or `/error`; `/init/error` when the
//! function cannot start. This is HTTP only (paths and headers are `lambda_wire`'s); what each
//! call changes, and when it is refused, is decided by the rules (`rules.rs`) through
//! `bookkeeping.rs`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use lambda_wire::runtime::{
    InvocationHeaders, FUNCTION_ERROR_TYPE, INIT_ERROR_PATH, NEXT_PATH, TENANT_ID,
};

use super::http::{accepted, api_error, refuse, reset};
use super::rules::RuntimeOutcome;
use super::shared::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(NEXT_PATH, get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route(INIT_ERROR_PATH, post(init_error))
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
        return reset("Runtime.Reset");
    };
    shared.runtime_took(&invocation.request_id);
    // Client context and Cognito identity only when the invoke carried them, as RIE's
    // `renderInvokeHeaders` does.
    let wire = InvocationHeaders {
        request_id: invocation.request_id.clone(),
        deadline_ms: invocation.deadline_ms,
        invoked_function_arn: invocation.function_arn.clone(),
        trace_id: Some(invocation.trace_id.clone()),
        client_context: invocation.caller.client_context.clone(),
        cognito_identity: invocation
            .caller
            .cognito_identity
            .as_ref()
            .and_then(|identity| serde_json::to_string(identity).ok()),
    };
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    for (name, value) in wire.pairs() {
        put(name, &value);
    }
    // Tenant isolation: the invocation's tenant, only on a function that has it.
    if let Some(tenant) = &invocation.caller.tenant_id {
        put(TENANT_ID, tenant);
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
        Err(refusal) => refuse(refusal),
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
        .get(FUNCTION_ERROR_TYPE)
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
        Err(refusal) => refuse(refusal),
    }
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match shared.runtime_init_error(error_type(&headers, &body)) {
        Ok(()) => accepted(),
        Err(refusal) => refuse(refusal),
    }
}
