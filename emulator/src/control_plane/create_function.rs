//! `CreateFunction`'s request and Lambda's checks on it, with no I/O: what turns a request into
//! a [`NewFunction`] (its configuration, its code as zip bytes, its layers among the sandbox's,
//! whether it is tenant-isolated), or into the error Lambda answers.
//!
//! The sandbox creates on-demand functions whose code comes inline (`ZipFile`, what `aws lambda
//! create-function --zip-file fileb://...` sends) and runs its `bootstrap`, whatever the
//! runtime; layers are those the sandbox was started with, named by the ARNs its
//! `GetFunctionConfiguration` shows. Tenant isolation is chosen here, once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use serde::Deserialize;

use super::api_error::ApiError;
use super::configuration::EnvironmentRequest;
use super::tenancy::{self, TenancyConfig};
use super::update_checks::{check_memory, check_timeout, check_variables};
use super::versions::LATEST;
use crate::environment::FunctionConfig;

/// Lambda's limit on a deployment package uploaded inline (zipped).
pub(crate) const ZIP_LIMIT_BYTES: usize = 50 * 1024 * 1024;

/// `CreateFunction`'s request body. Fields the sandbox does not model (VpcConfig, Tags,
/// TracingConfig, ...) are accepted and ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateFunctionRequest {
    pub(crate) function_name: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) code: Option<FunctionCode>,
    pub(crate) handler: Option<String>,
    pub(crate) timeout: Option<u64>,
    pub(crate) memory_size: Option<u32>,
    pub(crate) environment: Option<EnvironmentRequest>,
    #[serde(default)]
    pub(crate) layers: Vec<String>,
    pub(crate) package_type: Option<String>,
    #[serde(default)]
    pub(crate) publish: bool,
    pub(crate) tenancy_config: Option<TenancyConfig>,
    pub(crate) snap_start: Option<SnapStartRequest>,
    pub(crate) capacity_provider_config: Option<serde_json::Value>,
}

/// `Code`: inline (`ZipFile`, base64 in JSON) or from S3.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FunctionCode {
    pub(crate) zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub(crate) s3_bucket: Option<String>,
    pub(crate) image_uri: Option<String>,
}

/// `SnapStart`: `{"ApplyOn": "PublishedVersions" | "None"}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SnapStartRequest {
    pub(crate) apply_on: Option<String>,
}

/// What `CreateFunction` asks for, once Lambda's checks passed.
#[derive(Clone, Debug)]
pub(crate) struct NewFunction {
    pub(crate) config: FunctionConfig,
    /// The deployment package.
    pub(crate) zip: Vec<u8>,
    /// The sandbox's layer directories the request named, in its order.
    pub(crate) layers: Vec<PathBuf>,
    pub(crate) tenant_isolation: bool,
    /// Publish version 1 at once (`Publish: true`).
    pub(crate) publish: bool,
}

/// Checks `request` as Lambda would; `known_layers` are the sandbox's layers by ARN.
pub(crate) fn validate(
    request: CreateFunctionRequest,
    known_layers: &BTreeMap<String, PathBuf>,
) -> Result<NewFunction, ApiError> {
    let name = request
        .function_name
        .as_deref()
        .map(super::function_ref::function_name_from)
        .ok_or_else(|| missing("FunctionName"))?
        .to_owned();
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return Err(ApiError::invalid_parameter(format!(
            "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+"
        )));
    }
    if request.role.is_none() {
        return Err(missing("Role"));
    }
    let tenant_isolation = tenancy::creation_isolates(request.tenancy_config.as_ref())
        .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    let snap_start = request
        .snap_start
        .as_ref()
        .and_then(|s| s.apply_on.as_deref())
        .is_some_and(|on| on != "None");
    let managed = request.capacity_provider_config.is_some();
    if tenant_isolation {
        tenancy::conflicts(snap_start, 0, managed)
            .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    }
    if snap_start || managed {
        return Err(ApiError::invalid_parameter(
            "The sandbox creates on-demand functions only (no SnapStart, no capacity provider): \
             start `coldmark-sandbox serve` with --snap-start or --managed-instances for those.",
        ));
    }
    if request.package_type.as_deref().is_some_and(|t| t != "Zip") {
        return Err(ApiError::invalid_parameter(
            "The sandbox runs Zip packages only (PackageType Zip).",
        ));
    }
    let zip = inline_code(request.code)?;
    if let Some(memory) = request.memory_size {
        check_memory(memory)?;
    }
    if let Some(timeout) = request.timeout {
        check_timeout(timeout)?;
    }
    let environment = request
        .environment
        .and_then(|e| e.variables)
        .unwrap_or_default();
    check_variables(&environment, "CreateFunction")?;
    let layers = request
        .layers
        .iter()
        .map(|arn| {
            known_layers.get(arn).cloned().ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "Layer version {arn} does not exist. The sandbox knows the layers it was \
                     started with: {}",
                    known_layers.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewFunction {
        config: FunctionConfig {
            function_name: name,
            version: LATEST.to_owned(),
            memory_mb: request.memory_size.unwrap_or(128),
            timeout: Duration::from_secs(request.timeout.unwrap_or(3)),
            handler: request.handler.unwrap_or_else(|| "bootstrap".to_owned()),
            environment,
        },
        zip,
        layers,
        tenant_isolation,
        publish: request.publish,
    })
}

fn missing(field: &str) -> ApiError {
    ApiError::invalid_parameter(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member \
         must not be null",
        field[..1].to_ascii_lowercase() + &field[1..]
    ))
}

/// The deployment package from `Code.ZipFile` (base64), within Lambda's limit.
fn inline_code(code: Option<FunctionCode>) -> Result<Vec<u8>, ApiError> {
    let code = code.ok_or_else(|| missing("Code"))?;
    let Some(encoded) = code.zip_file else {
        let source = if code.s3_bucket.is_some() {
            "S3 (S3Bucket/S3Key)"
        } else if code.image_uri.is_some() {
            "a container image (ImageUri)"
        } else {
            "nowhere"
        };
        return Err(ApiError::invalid_parameter(format!(
            "The sandbox takes the code inline (Code.ZipFile, `--zip-file fileb://...`), not \
             from {source}."
        )));
    };
    let zip = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| ApiError::invalid_parameter(format!("Code.ZipFile is not base64: {e}")))?;
    if zip.len() > ZIP_LIMIT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!(
                "Request must be smaller than {ZIP_LIMIT_BYTES} bytes for the CreateFunction \
                 operation"
            ),
        ));
    }
    Ok(zip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: serde_json::Value) -> CreateFunctionRequest {
        let mut body = serde_json::json!({
            "FunctionName": "tenants",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(b"PK")},
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        serde_json::from_value(body).unwrap()
    }

    fn layers() -> BTreeMap<String, PathBuf> {
        BTreeMap::from([(
            "arn:aws:lambda:us-east-1:123456789012:layer:coldmark:1".to_owned(),
            PathBuf::from("/layers/coldmark"),
        )])
    }

    #[test]
    fn a_tenant_isolated_function_with_a_known_layer_is_created() {
        let new = validate(
            request(serde_json::json!({
                "TenancyConfig": {"TenantIsolationMode": "PER_TENANT"},
                "Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:coldmark:1"],
                "Environment": {"Variables": {"USER": "user"}},
                "MemorySize": 256,
            })),
            &layers(),
        )
        .unwrap();
        assert!(new.tenant_isolation);
        assert_eq!(new.config.function_name, "tenants");
        assert_eq!(new.config.version, LATEST);
        assert_eq!(new.config.memory_mb, 256);
        assert_eq!(new.config.timeout, Duration::from_secs(3));
        assert_eq!(new.config.environment["USER"], "user");
        assert_eq!(new.layers, [PathBuf::from("/layers/coldmark")]);
        assert_eq!(new.zip, b"PK");
        let plain = validate(request(serde_json::json!({})), &layers()).unwrap();
        assert!(!plain.tenant_isolation);
        assert!(plain.layers.is_empty());
    }

    #[test]
    fn lambdas_refusals() {
        let refused = |extra: serde_json::Value| validate(request(extra), &layers()).unwrap_err();
        let e = refused(serde_json::json!({"TenancyConfig": {"TenantIsolationMode": "SHARED"}}));
        assert_eq!(e.code, "InvalidParameterValueException");
        let e = refused(serde_json::json!({
            "TenancyConfig": {"TenantIsolationMode": "PER_TENANT"},
            "SnapStart": {"ApplyOn": "PublishedVersions"},
        }));
        assert!(e.message.contains("SnapStart"), "{}", e.message);
        let e = refused(serde_json::json!({"Layers": ["arn:aws:lambda:us-east-1:1:layer:x:1"]}));
        assert!(e.message.contains("does not exist"), "{}", e.message);
        let e = refused(serde_json::json!({"Code": {"S3Bucket": "b", "S3Key": "k"}}));
        assert!(e.message.contains("S3"), "{}", e.message);
        let e = refused(serde_json::json!({"FunctionName": "no spaces"}));
        assert!(e.message.contains("functionName"), "{}", e.message);
        let e = refused(serde_json::json!({"MemorySize": 64}));
        assert!(e.message.contains("memorySize"), "{}", e.message);
        let e = refused(serde_json::json!({"Environment": {"Variables": {"AWS_REGION": "x"}}}));
        assert!(e.message.contains("AWS_REGION"), "{}", e.message);
        let mut no_role = request(serde_json::json!({}));
        no_role.role = None;
        let e = validate(no_role, &layers()).unwrap_err();
        assert!(e.message.contains("'role'"), "{}", e.message);
    }
}
