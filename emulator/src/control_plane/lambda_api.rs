//! The Lambda REST API (`2015-03-31`) as the AWS CLI and SDKs call it with `--endpoint-url`:
//! the router, CreateFunction, Invoke (with `X-Amz-Tenant-Id` for tenant isolation),
//! GetFunction, GetFunctionConfiguration and UpdateFunctionConfiguration; versions
//! (PublishVersion, ListVersionsByFunction) in `versions_api.rs`, `--qualifier` and which
//! function a name means in `function_ref.rs`, CreateFunction's checks in `create_function.rs`. Signatures (SigV4) are not checked: the sandbox has no accounts, and any
//! fake credentials must do. Errors are Lambda's ([`ApiError`]).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Serialize;

use super::api_error::{invoke_error, ApiError};
use super::configuration::{layer_arn, FunctionConfiguration, UpdateFunctionConfigurationRequest};
use super::create_function::{self, CreateFunctionRequest, ZIP_LIMIT_BYTES};
use super::function_code;
use super::function_ref::{function_plane, qualifier_of, version_not_found, QualifierQuery};
use super::invocation::{Caller, Invocation, InvokeError};
use super::log_tail::log_tail;
use super::plane::ControlPlane;
use super::plane::CreateError;
use super::request_guard::refusal;
use super::tenancy;
use super::update_checks::validate;
use super::versions::LATEST;
use super::versions_api::{list_versions, publish_version};
use crate::environment::{Artifacts, InvokeStatus};

/// The routes of the Lambda API, for callers on this machine only (see [`refusal`]).
pub(crate) fn router(plane: ControlPlane) -> Router {
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(create_function).layer(DefaultBodyLimit::max(CREATE_BODY_LIMIT)),
        )
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(get_configuration).put(update_configuration),
        )
        .route("/2015-03-31/functions/{name}", get(get_function))
        .route(
            "/2015-03-31/functions/{name}/versions",
            post(publish_version).get(list_versions),
        )
        .fallback(unknown_operation)
        .layer(axum::middleware::from_fn(guard_api))
        .with_state(plane)
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
    let plane = function_plane(&plane, &name)?;
    let qualifier = qualifier_of(&name, query.qualifier.as_deref())?;
    let version = match plane.version(qualifier.as_deref()) {
        Some(function) => function.config.version,
        None => {
            return Err(version_not_found(
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
            return Err(ApiError::unparsable(e));
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
    // Checked before anything is accepted, an asynchronous invoke included.
    let tenant_id = tenancy::invoke_tenant(
        plane.options().tenant_isolation,
        header("x-amz-tenant-id").as_deref(),
    )
    .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    let tenant = Caller {
        tenant_id,
        ..Caller::default()
    };
    match invocation_type.as_str() {
        "RequestResponse" => {}
        "Event" => {
            // Asynchronous: accepted now, run in the background like Lambda's event queue.
            let plane = plane.clone();
            tokio::spawn(async move {
                if let Err(e) = plane.invoke_as(qualifier, payload, false, tenant).await {
                    tracing::warn!("asynchronous invocation failed: {e}");
                }
            });
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        other => {
            return Err(ApiError::invalid_parameter(format!(
                "Unsupported InvocationType: {other}"
            )))
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
                    ..tenant
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
        None => tenant,
    };
    let invocation = match plane.invoke_as(qualifier, payload, tail, caller).await {
        Ok(invocation) => invocation,
        Err(InvokeError::InitFailed { request_id, error }) => {
            // Lambda answers a failed init as a function error of the invocation that paid.
            let body = PlatformError {
                error_type: "Runtime.InitError".into(),
                error_message: format!("{error:#}"),
            };
            let mut response = (StatusCode::OK, Json(body)).into_response();
            let headers = response.headers_mut();
            headers.insert(
                "X-Amz-Function-Error",
                HeaderValue::from_static("Unhandled"),
            );
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                headers.insert("x-amzn-RequestId", v);
            }
            if let Ok(v) = HeaderValue::from_str(&version) {
                headers.insert("X-Amz-Executed-Version", v);
            }
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

/// GetFunctionConfiguration for a qualifier (`$LATEST` when none).
async fn get_configuration(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
    Query(query): Query<QualifierQuery>,
) -> Result<Json<FunctionConfiguration>, ApiError> {
    let plane = function_plane(&plane, &name)?;
    let qualifier = qualifier_of(&name, query.qualifier.as_deref())?;
    let function = plane
        .version(qualifier.as_deref())
        .ok_or_else(|| version_not_found(&plane, qualifier.as_deref().unwrap_or(LATEST)))?;
    Ok(Json(FunctionConfiguration::describe(
        &function,
        plane.options(),
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
    let plane = function_plane(&plane, &name)?;
    let function = plane.function();
    Ok(Json(GetFunctionResponse {
        configuration: FunctionConfiguration::describe(&function, plane.options()),
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
    let plane = function_plane(&plane, &name)?;
    let request: UpdateFunctionConfigurationRequest =
        serde_json::from_slice(&body).map_err(ApiError::unparsable)?;
    let update = validate(request, plane.function().revision)?;
    let function = plane.update(update);
    tracing::info!(
        revision = function.revision,
        "function configuration updated"
    );
    let mut answer = FunctionConfiguration::describe(&function, plane.options());
    // Lambda answers an update with `InProgress`; GetFunctionConfiguration reports `Successful`
    // once it is applied (here: at once, so the next read, or `aws lambda wait
    // function-updated`, sees it).
    answer.last_update_status = "InProgress".to_owned();
    Ok(Json(answer))
}

/// What CreateFunction's body may weigh: Lambda's 50 MB package, base64-encoded, and the rest.
const CREATE_BODY_LIMIT: usize = ZIP_LIMIT_BYTES / 3 * 4 + 1024 * 1024;

/// CreateFunction: a new function beside the sandbox's own (201 with its configuration).
async fn create_function(
    State(plane): State<ControlPlane>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateFunctionRequest =
        serde_json::from_slice(&body).map_err(ApiError::unparsable)?;
    let options = plane.options();
    let sandbox_layers = plane.function().artifacts;
    let known = sandbox_layers
        .layers
        .iter()
        .enumerate()
        .map(|(i, dir)| (layer_arn(&options.region, dir, i), dir.clone()))
        .collect();
    let new = create_function::validate(request, &known)?;
    let (code, bootstrap) = function_code::unpack(&new.zip).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidZipFileException",
            format!("Could not unzip uploaded file: {e:#}"),
        )
    })?;
    let artifacts = Artifacts {
        bootstrap,
        layers: new.layers,
        launcher: sandbox_layers.launcher,
    };
    let created = plane
        .create(new.config, artifacts, new.tenant_isolation, code)
        .map_err(|e| match e {
            CreateError::Exists(_) => ApiError::new(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                e.to_string(),
            ),
            CreateError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceException",
                e.to_string(),
            ),
        })?;
    if new.publish {
        created.publish_version();
    }
    let function = created.function();
    tracing::info!(
        function = function.config.function_name,
        tenant_isolation = new.tenant_isolation,
        "function created"
    );
    let answer = FunctionConfiguration::describe(&function, created.options());
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn unknown_operation() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        "Unknown operation: the sandbox serves CreateFunction, Invoke, GetFunction, \
         GetFunctionConfiguration, UpdateFunctionConfiguration, PublishVersion and \
         ListVersionsByFunction",
    )
}
