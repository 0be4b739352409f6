//! Versions: `PublishVersion` snapshots `$LATEST` (its configuration and code) under the next
//! number; `ListVersionsByFunction` lists them; `Invoke`/`GetFunctionConfiguration` with a
//! qualifier reach one of them. A version never changes afterwards: its environments report
//! `AWS_LAMBDA_FUNCTION_VERSION` = its number and keep the configuration it was published with,
//! whatever `UpdateFunctionConfiguration` does to `$LATEST` later.
//!
//! As on Lambda, publishing again while `$LATEST` is unchanged since the last version returns that
//! version instead of creating a new one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::configuration::{revision_id, FunctionConfiguration};
use super::lambda_api::ApiError;
use super::{ControlPlane, ControlPlaneEvent, FunctionState, LATEST};

/// PublishVersion's request body (all optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishVersionRequest {
    /// Publish only if `$LATEST`'s code has this SHA-256 (base64).
    pub code_sha256: Option<String>,
    pub description: Option<String>,
    /// Publish only if `$LATEST` is at this revision.
    pub revision_id: Option<String>,
}

/// ListVersionsByFunction's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsResponse {
    pub versions: Vec<FunctionConfiguration>,
}

/// The `?Qualifier=` of Invoke and GetFunctionConfiguration.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    pub qualifier: Option<String>,
}

impl ControlPlane {
    /// PublishVersion: a snapshot of `$LATEST` under the next number (or the last version, when
    /// `$LATEST` did not change since it was published).
    pub fn publish_version(&self) -> FunctionState {
        let mut pool = self.lock();
        if let Some(last) = pool.versions.values().next_back() {
            if last.revision == pool.function.revision {
                return last.clone();
            }
        }
        let number = pool.versions.keys().next_back().map_or(1, |n| n + 1);
        let mut snapshot = pool.function.clone();
        snapshot.config.version = number.to_string();
        snapshot.last_modified = chrono::Utc::now();
        pool.versions.insert(number, snapshot.clone());
        drop(pool);
        self.emit(ControlPlaneEvent::VersionPublished {
            version: snapshot.config.version.clone(),
            revision: snapshot.revision,
        });
        snapshot
    }
}

/// Splits `FunctionName` into the name and the qualifier it may carry (`clock:1`, an ARN with
/// `:1`); a `Qualifier` query parameter must agree with it, as on Lambda.
pub fn qualifier_of(reference: &str, query: Option<&str>) -> Result<Option<String>, ApiError> {
    let parts: Vec<&str> = reference.split(':').collect();
    let in_name = match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", _, q] => Some(*q),
        [_, "function", _, q] => Some(*q),
        [_, q] => Some(*q),
        _ => None,
    };
    match (in_name, query) {
        (Some(a), Some(b)) if a != b => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        )),
        (Some(q), _) | (None, Some(q)) => Ok(Some(q.to_owned())),
        (None, None) => Ok(None),
    }
}

/// The 404 Lambda answers for a version that does not exist.
pub fn version_not_found(plane: &ControlPlane, qualifier: &str) -> ApiError {
    let function = plane.function();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!(
            "Function not found: {}:{qualifier}",
            super::configuration::function_arn(
                &plane.options().region,
                &function.config.function_name
            )
        ),
    )
}

pub(super) async fn publish_version(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    super::lambda_api::resolve(&plane, &name)?;
    let request: PublishVersionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PublishVersionRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {e}"),
            )
        })?
    };
    let latest = plane.function();
    let described = FunctionConfiguration::describe(&latest, &plane.options().region);
    if let Some(expected) = &request.revision_id {
        if *expected != revision_id(latest.revision) {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the \
                 GetFunction/GetAlias API to retrieve the latest Revision Id",
            ));
        }
    }
    if let Some(expected) = &request.code_sha256 {
        if *expected != described.code_sha256 {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
                format!(
                    "CodeSHA256 ({expected}) is different from current CodeSHA256 in $LATEST \
                     ({}). Please try again with the CodeSHA256 in $LATEST.",
                    described.code_sha256
                ),
            ));
        }
    }
    let version = plane.publish_version();
    tracing::info!(version = version.config.version, "version published");
    let mut answer = FunctionConfiguration::describe(&version, &plane.options().region);
    if let Some(description) = request.description {
        answer.description = description;
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub(super) async fn list_versions(
    State(plane): State<ControlPlane>,
    Path(name): Path<String>,
) -> Result<Json<ListVersionsResponse>, ApiError> {
    super::lambda_api::resolve(&plane, &name)?;
    let region = plane.options().region.clone();
    let mut versions = vec![FunctionConfiguration::describe(&plane.function(), &region)];
    versions.extend(
        plane
            .published_versions()
            .iter()
            .map(|v| FunctionConfiguration::describe(v, &region)),
    );
    Ok(Json(ListVersionsResponse { versions }))
}

/// GetFunctionConfiguration for a qualifier (`$LATEST` when none).
pub(super) fn configuration_of(
    plane: &ControlPlane,
    name: &str,
    query: &QualifierQuery,
) -> Result<FunctionConfiguration, ApiError> {
    super::lambda_api::resolve(plane, name)?;
    let qualifier = qualifier_of(name, query.qualifier.as_deref())?;
    let function = plane
        .version(qualifier.as_deref())
        .ok_or_else(|| version_not_found(plane, qualifier.as_deref().unwrap_or(LATEST)))?;
    Ok(FunctionConfiguration::describe(
        &function,
        &plane.options().region,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_from_names_arns_and_the_query() {
        assert_eq!(qualifier_of("clock", None).unwrap(), None);
        assert_eq!(qualifier_of("clock:1", None).unwrap().as_deref(), Some("1"));
        assert_eq!(
            qualifier_of(
                "arn:aws:lambda:us-east-1:123456789012:function:clock:$LATEST",
                None
            )
            .unwrap()
            .as_deref(),
            Some("$LATEST")
        );
        assert_eq!(
            qualifier_of("123456789012:function:clock", Some("2"))
                .unwrap()
                .as_deref(),
            Some("2")
        );
        assert!(qualifier_of("clock:1", Some("2")).is_err());
        assert_eq!(
            qualifier_of("clock:1", Some("1")).unwrap().as_deref(),
            Some("1")
        );
    }
}
