//! The Lambda API's version operations: `PublishVersion` and `ListVersionsByFunction` (the
//! rules of versions are in `versions.rs`; `Invoke` and `GetFunctionConfiguration` take a
//! qualifier in `lambda_api.rs`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::api_error::ApiError;
use super::configuration::{revision_id, FunctionConfiguration};
use super::function_ref::function_plane;
use super::plane::ControlPlane;

/// PublishVersion's request body (all optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PublishVersionRequest {
    /// Publish only if `$LATEST`'s code has this SHA-256 (base64).
    pub(crate) code_sha256: Option<String>,
    pub(crate) description: Option<String>,
    /// Publish only if `$LATEST` is at this revision.
    pub(crate) revision_id: Option<String>,
}

/// ListVersionsByFunction's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListVersionsResponse {
    pub(crate) versions: Vec<FunctionConfiguration>,
}

/// PublishVersion, after Lambda's preconditions (`RevisionId`, `CodeSha256`).
pub(crate) async fn publish_version(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let plane = function_plane(&plane, &name)?;
    let request: PublishVersionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PublishVersionRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(ApiError::unparsable)?
    };
    let latest = plane.function();
    let described = FunctionConfiguration::describe(&latest, plane.options());
    if let Some(expected) = &request.revision_id {
        if *expected != revision_id(latest.revision) {
            return Err(ApiError::revision_mismatch());
        }
    }
    if let Some(expected) = &request.code_sha256 {
        if *expected != described.code_sha256 {
            return Err(ApiError::precondition_failed(format!(
                "CodeSHA256 ({expected}) is different from current CodeSHA256 in $LATEST \
                 ({}). Please try again with the CodeSHA256 in $LATEST.",
                described.code_sha256
            )));
        }
    }
    let version = plane.publish_version();
    tracing::info!(version = version.config.version, "version published");
    let mut answer = FunctionConfiguration::describe(&version, plane.options());
    if let Some(description) = request.description {
        answer.description = description;
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// ListVersionsByFunction: `$LATEST`, then every published version, oldest first.
pub(crate) async fn list_versions(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
) -> Result<Json<ListVersionsResponse>, ApiError> {
    let plane = function_plane(&plane, &name)?;
    let mut versions = vec![FunctionConfiguration::describe(
        &plane.function(),
        plane.options(),
    )];
    versions.extend(
        plane
            .published_versions()
            .iter()
            .map(|v| FunctionConfiguration::describe(v, plane.options())),
    );
    Ok(Json(ListVersionsResponse { versions }))
}
