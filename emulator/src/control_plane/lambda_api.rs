//! The Lambda REST API (`2015-03-31`) as the AWS CLI and SDKs call it with `--endpoint-url`:
//! Invoke, GetFunction, GetFunctionConfiguration, UpdateFunctionConfiguration, and versions
//! (PublishVersion, ListVersionsByFunction, `--qualifier`; see [`super::versions`]). Signatures
//! (SigV4) are not checked: the sandbox has no accounts, and any fake credentials must do.
//!
//! Errors follow Lambda's REST-JSON protocol: the error code in the `x-amzn-ErrorType` header and
//! `{"Type": ..., "Message": ...}` in the body, which is what botocore reads to raise
//! `ResourceNotFoundException` and friends.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Serialize;

use super::configuration::{
    changes_process_loading, function_arn, function_name_from, revision_id, ErrorBody,
    FunctionConfiguration, UpdateFunctionConfigurationRequest, RESERVED_VARIABLES,
};
use super::versions::{self, QualifierQuery};
use super::{log_tail, Caller, ConfigUpdate, ControlPlane, Invocation, InvokeError};
use crate::environment::InvokeStatus;

/// The routes of the Lambda API, for callers on this machine only (see [`guard`]).
pub fn router(plane: ControlPlane) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(get_configuration).put(update_configuration),
        )
        .route("/2015-03-31/functions/{name}", get(get_function))
        .route(
            "/2015-03-31/functions/{name}/versions",
            post(versions::publish_version).get(versions::list_versions),
        )
        .fallback(unknown_operation)
        .layer(axum::middleware::from_fn(guard_api))
        .with_state(plane)
}

/// Why a request must not reach the sandbox from a web page. The sandbox is a local server
/// people leave running; a page in their browser can make requests to it: through DNS
/// rebinding (the page's own name, re-pointed at 127.0.0.1: the `Host` header keeps that
/// name), or cross-site (the browser sends "simple" requests, such as a `text/plain` POST,
/// without asking first). So: only loopback host names; no request a browser marks as
/// cross-site or sends from a non-local `Origin`; and, where `simple_bodies_refused`, no
/// body of a type a browser sends cross-site without a preflight (the AWS CLI and the SDKs
/// send no such type to the Lambda API). `None` when the request may go on.
pub fn refusal(headers: &HeaderMap, simple_bodies_refused: bool) -> Option<&'static str> {
    use axum::http::header::{CONTENT_TYPE, HOST, ORIGIN};
    if let Some(host) = headers.get(HOST) {
        let host = host.to_str().unwrap_or("");
        if !is_loopback_name(strip_port(host)) {
            return Some("the Host header is not a loopback name");
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = origin
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
            .unwrap_or("");
        if !is_loopback_name(strip_port(host)) {
            return Some("the request comes from a web page elsewhere (Origin)");
        }
    }
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|s| s.eq_ignore_ascii_case("cross-site")) {
        return Some("the browser marks the request cross-site (Sec-Fetch-Site)");
    }
    if simple_bodies_refused {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if matches!(
            essence,
            "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
        ) {
            return Some(
                "a body type browsers send cross-site without asking (Content-Type); send \
                 application/json, or no Content-Type",
            );
        }
    }
    None
}

/// `host:port`, `[v6]:port`, `host` → the host.
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// `localhost`, `*.localhost`, 127.0.0.0/8, ::1: names that can only mean this machine (the
/// sandbox binds 127.0.0.1 only).
fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

async fn guard_api(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match refusal(request.headers(), true) {
        None => next.run(request).await,
        Some(why) => {
            tracing::warn!("Lambda API: request refused: {why}");
            ApiError::new(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                format!("Refused: {why}. The sandbox serves callers on this machine only."),
            )
            .into_response()
        }
    }
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
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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
        InvokeError::UnknownVersion(q) => ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: version {q}"),
        ),
        InvokeError::InitFailed(_) | InvokeError::Environment(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            error.to_string(),
        ),
    }
}

/// Checks that `reference` names this sandbox's function.
pub(crate) fn resolve(plane: &ControlPlane, reference: &str) -> Result<(), ApiError> {
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
    Query(query): Query<QualifierQuery>,
    headers: HeaderMap,
    payload: Bytes,
) -> Result<Response, ApiError> {
    resolve(&plane, &name)?;
    let qualifier = versions::qualifier_of(&name, query.qualifier.as_deref())?;
    let version = match plane.version(qualifier.as_deref()) {
        Some(function) => function.config.version,
        None => {
            return Err(versions::version_not_found(
                &plane,
                qualifier.as_deref().unwrap_or_default(),
            ))
        }
    };
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
    match invocation_type.as_str() {
        "RequestResponse" => {}
        "Event" => {
            // Asynchronous: accepted now, run in the background like Lambda's event queue.
            let plane = plane.clone();
            tokio::spawn(async move {
                if let Err(e) = plane
                    .invoke_as(qualifier, payload, false, Caller::default())
                    .await
                {
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
    let invocation = match plane.invoke_as(qualifier, payload, tail, caller).await {
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
    Query(query): Query<QualifierQuery>,
) -> Result<Json<FunctionConfiguration>, ApiError> {
    Ok(Json(versions::configuration_of(&plane, &name, &query)?))
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
        // Lambda allows these, so the sandbox does too; but they change what every process of
        // the environment loads, the layer's extension included: say so.
        for name in vars.keys().filter(|k| changes_process_loading(k)) {
            tracing::warn!(
                "UpdateFunctionConfiguration sets {name}: it changes how every process of the \
                 environment (runtime and extensions) is loaded"
            );
        }
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
        "Unknown operation: the sandbox serves Invoke, GetFunction, GetFunctionConfiguration, \
         UpdateFunctionConfiguration, PublishVersion and ListVersionsByFunction",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn loopback_callers_pass() {
        for host in [
            "127.0.0.1:9001",
            "localhost:9001",
            "[::1]:9001",
            "127.0.0.5",
            "LOCALHOST",
        ] {
            assert_eq!(refusal(&headers(&[("host", host)]), true), None, "{host}");
        }
        let cli = headers(&[
            ("host", "127.0.0.1:9001"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(refusal(&cli, true), None);
        assert_eq!(refusal(&headers(&[]), true), None);
    }

    #[test]
    fn web_pages_are_refused() {
        for forged in [
            headers(&[("host", "rebound.example.com:9001")]),
            headers(&[("host", "127.0.0.1.example.com")]),
            headers(&[
                ("host", "127.0.0.1:9001"),
                ("origin", "https://evil.example"),
            ]),
            headers(&[("host", "127.0.0.1:9001"), ("origin", "null")]),
            headers(&[("host", "127.0.0.1:9001"), ("sec-fetch-site", "cross-site")]),
            headers(&[
                ("host", "127.0.0.1:9001"),
                ("content-type", "text/plain;charset=UTF-8"),
            ]),
            headers(&[
                ("host", "127.0.0.1"),
                ("content-type", "application/x-www-form-urlencoded"),
            ]),
            headers(&[
                ("host", "127.0.0.1"),
                ("content-type", "multipart/form-data; boundary=x"),
            ]),
        ] {
            assert!(refusal(&forged, true).is_some(), "{forged:?}");
        }
        // A Function URL takes any body type, from this machine.
        let text = headers(&[("host", "127.0.0.1:9002"), ("content-type", "text/plain")]);
        assert_eq!(refusal(&text, false), None);
    }
}
