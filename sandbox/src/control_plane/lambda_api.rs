//! The Lambda REST API (`2015-03-31`) as the AWS CLI and SDKs call it with `--endpoint-url`:
//! Invoke, GetFunction, GetFunctionConfiguration, UpdateFunctionConfiguration. Signatures
//! (SigV4) are not checked: the sandbox has no accounts, and any fake credentials must do.
//!
//! Errors follow Lambda's REST-JSON protocol: the error code in the `x-amzn-ErrorType` header and
//! `{"Type": ..., "Message": ...}` in the body, which is what botocore reads to raise
//! `ResourceNotFoundException` and friends.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Serialize;

use super::configuration::{
    function_arn, function_name_from, revision_id, ErrorBody, FunctionConfiguration,
    UpdateFunctionConfigurationRequest, RESERVED_VARIABLES,
};
use super::{log_tail, Caller, ConfigUpdate, ControlPlane, Invocation, InvokeError};
use crate::environment::InvokeStatus;

/// The routes of the Lambda API.
pub fn router(plane: ControlPlane) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(get_configuration).put(update_configuration),
        )
        .route("/2015-03-31/functions/{name}", get(get_function))
        .fallback(unknown_operation)
        .with_state(plane)
}

/// A Lambda API error: status, code (`x-amzn-ErrorType`) and message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub reason: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reason: None,
        }
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

/// Maps a refused invocation to Lambda's answer (shared with the Function URL).
pub fn invoke_error(error: &InvokeError) -> ApiError {
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
        InvokeError::InitFailed(_) | InvokeError::Environment(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            error.to_string(),
        ),
    }
}

/// Checks that `reference` names this sandbox's function.
fn resolve(plane: &ControlPlane, reference: &str) -> Result<(), ApiError> {
    let function = plane.function();
    let name = function_name_from(reference);
    if name == function.config.function_name {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: {}",
                function_arn(&plane.options().region, name)
            ),
        ))
    }
}

/// What the runtime's error document looks like when the platform, not the function, wrote it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlatformError {
    error_type: String,
    error_message: String,
}

async fn invoke(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
    headers: HeaderMap,
    payload: Bytes,
) -> Result<Response, ApiError> {
    resolve(&plane, &name)?;
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        // The CLI sends no body without `--payload`; Lambda hands the function `{}`.
        Bytes::from_static(b"{}")
    } else {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&payload) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {e}"),
            ));
        }
        payload
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let invocation_type =
        header("x-amz-invocation-type").unwrap_or_else(|| "RequestResponse".into());
    let tail = header("x-amz-log-type").is_some_and(|t| t.eq_ignore_ascii_case("Tail"));
    let version = plane.function().config.version;
    match invocation_type.as_str() {
        "RequestResponse" => {}
        "Event" => {
            // Asynchronous: accepted now, run in the background like Lambda's event queue.
            let plane = plane.clone();
            tokio::spawn(async move {
                if let Err(e) = plane.invoke(payload, false).await {
                    tracing::warn!("asynchronous invocation failed: {e}");
                }
            });
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                format!("Unsupported InvocationType: {other}"),
            ))
        }
    }
    let caller = match header("x-amz-client-context") {
        Some(encoded) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .filter(|text| serde_json::from_str::<serde_json::Value>(text).is_ok());
            match decoded {
                Some(text) => Caller {
                    client_context: Some(text),
                    ..Caller::default()
                },
                None => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequestContentException",
                        "Client context must be a valid Base64-encoded JSON object.",
                    ))
                }
            }
        }
        None => Caller::default(),
    };
    let invocation = match plane.invoke_as(payload, tail, caller).await {
        Ok(invocation) => invocation,
        Err(InvokeError::InitFailed(e)) => {
            // Lambda answers a failed init as a function error of the invocation that paid.
            let body = PlatformError {
                error_type: "Runtime.InitError".into(),
                error_message: format!("{e:#}"),
            };
            let mut response = (StatusCode::OK, Json(body)).into_response();
            response.headers_mut().insert(
                "X-Amz-Function-Error",
                HeaderValue::from_static("Unhandled"),
            );
            return Ok(response);
        }
        Err(e) => return Err(invoke_error(&e)),
    };
    Ok(invoke_response(&invocation, &version, tail))
}

fn invoke_response(invocation: &Invocation, version: &str, tail: bool) -> Response {
    let response = &invocation.response;
    let (function_error, payload) = match &response.status {
        InvokeStatus::Success => (None, response.payload.clone()),
        InvokeStatus::FunctionError { .. } => (Some("Unhandled"), response.payload.clone()),
        InvokeStatus::Timeout | InvokeStatus::Crashed if !response.payload.is_empty() => {
            (Some("Unhandled"), response.payload.clone())
        }
        InvokeStatus::Timeout => (
            Some("Unhandled"),
            platform_error(
                "Sandbox.Timedout",
                format!("{} Task timed out", invocation.request_id),
            ),
        ),
        InvokeStatus::Crashed => (
            Some("Unhandled"),
            platform_error(
                "Runtime.ExitError",
                format!("RequestId: {} Error: Runtime exited", invocation.request_id),
            ),
        ),
    };
    let mut http = (StatusCode::OK, payload).into_response();
    let headers = http.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(version) {
        headers.insert("X-Amz-Executed-Version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&invocation.request_id) {
        headers.insert("x-amzn-RequestId", v);
    }
    if let Some(kind) = function_error {
        headers.insert("X-Amz-Function-Error", HeaderValue::from_static(kind));
    }
    if tail {
        let encoded = base64::engine::general_purpose::STANDARD.encode(log_tail(&invocation.log));
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            headers.insert("X-Amz-Log-Result", v);
        }
    }
    http
}

fn platform_error(error_type: &str, message: String) -> Bytes {
    let body = PlatformError {
        error_type: error_type.to_owned(),
        error_message: message,
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .unwrap_or_default()
}

async fn get_configuration(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
) -> Result<Json<FunctionConfiguration>, ApiError> {
    resolve(&plane, &name)?;
    Ok(Json(FunctionConfiguration::describe(
        &plane.function(),
        &plane.options().region,
    )))
}

/// GetFunction's answer: the configuration plus where the code lives.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetFunctionResponse {
    configuration: FunctionConfiguration,
    code: CodeLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CodeLocation {
    repository_type: String,
    location: String,
}

async fn get_function(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
) -> Result<Json<GetFunctionResponse>, ApiError> {
    resolve(&plane, &name)?;
    let function = plane.function();
    Ok(Json(GetFunctionResponse {
        configuration: FunctionConfiguration::describe(&function, &plane.options().region),
        code: CodeLocation {
            repository_type: "S3".into(),
            location: format!("file://{}", function.artifacts.bootstrap.display()),
        },
    }))
}

async fn update_configuration(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<FunctionConfiguration>, ApiError> {
    resolve(&plane, &name)?;
    let request: UpdateFunctionConfigurationRequest =
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {e}"),
            )
        })?;
    let update = validate(&plane, request)?;
    let function = plane.update(update);
    tracing::info!(
        revision = function.revision,
        "function configuration updated"
    );
    let mut answer = FunctionConfiguration::describe(&function, &plane.options().region);
    // Lambda answers an update with `InProgress`; GetFunctionConfiguration reports `Successful`
    // once it is applied (here: at once, so the next read, or `aws lambda wait
    // function-updated`, sees it).
    answer.last_update_status = "InProgress".to_owned();
    Ok(Json(answer))
}

/// Lambda's quota on a function's environment variables (all of them, as JSON).
pub const ENVIRONMENT_LIMIT_BYTES: usize = 4096;

/// Lambda's checks on an update, with its messages.
fn validate(
    plane: &ControlPlane,
    request: UpdateFunctionConfigurationRequest,
) -> Result<ConfigUpdate, ApiError> {
    let invalid = |message: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    };
    if let Some(expected) = &request.revision_id {
        let current = revision_id(plane.function().revision);
        if *expected != current {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the \
                 GetFunction/GetAlias API to retrieve the latest Revision Id",
            ));
        }
    }
    if let Some(memory) = request.memory_size {
        if !(128..=10240).contains(&memory) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{memory}' at 'memorySize' failed to satisfy \
                 constraint: Member must have value between 128 and 10240"
            )));
        }
    }
    if let Some(timeout) = request.timeout {
        if !(1..=900).contains(&timeout) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy \
                 constraint: Member must have value between 1 and 900"
            )));
        }
    }
    let environment = request.environment.map(|e| e.variables.unwrap_or_default());
    if let Some(vars) = &environment {
        let reserved: Vec<&str> = vars
            .keys()
            .map(String::as_str)
            .filter(|k| RESERVED_VARIABLES.contains(k))
            .collect();
        // Lambda's quota: all variables together at most 4 KB, measured on their JSON form.
        let measured = serde_json::to_string(vars).unwrap_or_default();
        if measured.len() > ENVIRONMENT_LIMIT_BYTES {
            return Err(invalid(format!(
                "Lambda was unable to configure your environment variables because the \
                 environment variables you have provided exceeded the 4KB limit. String \
                 measured: {} bytes",
                measured.len()
            )));
        }
        if !reserved.is_empty() {
            return Err(invalid(format!(
                "Lambda was unable to configure your environment variables because the \
                 environment variables you have provided contains reserved keys that are \
                 currently not supported for modification. Reserved keys used in this request: {}",
                reserved.join(", ")
            )));
        }
    }
    Ok(ConfigUpdate {
        environment,
        memory_mb: request.memory_size,
        timeout: request.timeout.map(Duration::from_secs),
        handler: request.handler,
    })
}

async fn unknown_operation() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        "Unknown operation: the sandbox serves Invoke, GetFunction, GetFunctionConfiguration and \
         UpdateFunctionConfiguration",
    )
}
