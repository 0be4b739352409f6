//! Lambda's checks on an `UpdateFunctionConfiguration` request, with its messages: what turns a
//! request into a [`ConfigUpdate`], or into the error Lambda answers. The checks of single
//! fields (memory, timeout, variables) serve `CreateFunction` too.

use std::collections::BTreeMap;
use std::time::Duration;

use super::api_error::ApiError;
use super::configuration::{
    changes_process_loading, revision_id, UpdateFunctionConfigurationRequest, RESERVED_VARIABLES,
};
use super::tenancy;
use super::versions::ConfigUpdate;

/// Lambda's quota on a function's environment variables (all of them, as JSON).
pub(crate) const ENVIRONMENT_LIMIT_BYTES: usize = 4096;

/// The update `request` asks for, if Lambda would accept it while `$LATEST` is at
/// `current_revision`. A `TenancyConfig` is never accepted: tenant isolation is chosen when
/// the function is created.
pub(crate) fn validate(
    request: UpdateFunctionConfigurationRequest,
    current_revision: u64,
) -> Result<ConfigUpdate, ApiError> {
    if let Some(expected) = &request.revision_id {
        if *expected != revision_id(current_revision) {
            return Err(ApiError::revision_mismatch());
        }
    }
    tenancy::update_allows(request.tenancy_config.is_some())
        .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    if let Some(memory) = request.memory_size {
        check_memory(memory)?;
    }
    if let Some(timeout) = request.timeout {
        check_timeout(timeout)?;
    }
    let environment = request.environment.map(|e| e.variables.unwrap_or_default());
    if let Some(vars) = &environment {
        check_variables(vars, "UpdateFunctionConfiguration")?;
    }
    Ok(ConfigUpdate {
        environment,
        memory_mb: request.memory_size,
        timeout: request.timeout.map(Duration::from_secs),
        handler: request.handler,
    })
}

/// Lambda's bounds on `MemorySize` (MB).
pub(crate) fn check_memory(memory: u32) -> Result<(), ApiError> {
    if (128..=10240).contains(&memory) {
        return Ok(());
    }
    Err(ApiError::invalid_parameter(format!(
        "1 validation error detected: Value '{memory}' at 'memorySize' failed to satisfy \
         constraint: Member must have value between 128 and 10240"
    )))
}

/// Lambda's bounds on `Timeout` (seconds).
pub(crate) fn check_timeout(timeout: u64) -> Result<(), ApiError> {
    if (1..=900).contains(&timeout) {
        return Ok(());
    }
    Err(ApiError::invalid_parameter(format!(
        "1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy \
         constraint: Member must have value between 1 and 900"
    )))
}

/// Lambda's checks on `Environment.Variables` (in `operation`, for the warning): 4 KB in all,
/// no reserved key.
pub(crate) fn check_variables(
    vars: &BTreeMap<String, String>,
    operation: &str,
) -> Result<(), ApiError> {
    // Lambda allows these, so the sandbox does too; but they change what every process of
    // the environment loads, the layer's extension included: say so.
    for name in vars.keys().filter(|k| changes_process_loading(k)) {
        tracing::warn!(
            "{operation} sets {name}: it changes how every process of the environment \
             (runtime and extensions) is loaded"
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
        return Err(ApiError::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the \
             environment variables you have provided exceeded the 4KB limit. String \
             measured: {} bytes",
            measured.len()
        )));
    }
    if !reserved.is_empty() {
        return Err(ApiError::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the \
             environment variables you have provided contains reserved keys that are \
             currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;
    use crate::control_plane::configuration::EnvironmentRequest;

    fn with_variables(vars: &[(&str, &str)]) -> UpdateFunctionConfigurationRequest {
        UpdateFunctionConfigurationRequest {
            environment: Some(EnvironmentRequest {
                variables: Some(
                    vars.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_accepted_update_carries_every_field_asked_for() {
        let update = validate(
            UpdateFunctionConfigurationRequest {
                memory_size: Some(256),
                timeout: Some(30),
                handler: Some("main".into()),
                revision_id: Some(revision_id(3)),
                ..with_variables(&[("USER", "user2")])
            },
            3,
        )
        .unwrap();
        assert_eq!(
            update.environment,
            Some(BTreeMap::from([("USER".into(), "user2".into())]))
        );
        assert_eq!(update.memory_mb, Some(256));
        assert_eq!(update.timeout, Some(Duration::from_secs(30)));
        assert_eq!(update.handler.as_deref(), Some("main"));
    }

    #[test]
    fn a_tenancy_config_is_refused_even_an_unchanged_one() {
        let request = UpdateFunctionConfigurationRequest {
            tenancy_config: Some(serde_json::json!({"TenantIsolationMode": "PER_TENANT"})),
            ..with_variables(&[("USER", "user2")])
        };
        let e = validate(request, 1).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "InvalidParameterValueException")
        );
        assert!(e.message.contains("TenancyConfig"), "{}", e.message);
    }

    #[test]
    fn lambdas_bounds_and_preconditions_are_refused_with_its_codes() {
        let stale = UpdateFunctionConfigurationRequest {
            revision_id: Some(revision_id(1)),
            ..Default::default()
        };
        let e = validate(stale, 2).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException"
            )
        );
        let memory = UpdateFunctionConfigurationRequest {
            memory_size: Some(64),
            ..Default::default()
        };
        let e = validate(memory, 1).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValueException");
        assert!(e.message.contains("'64' at 'memorySize'"), "{}", e.message);
        let timeout = UpdateFunctionConfigurationRequest {
            timeout: Some(901),
            ..Default::default()
        };
        assert!(validate(timeout, 1)
            .unwrap_err()
            .message
            .contains("'timeout'"));
        let e = validate(with_variables(&[("AWS_REGION", "x"), ("A", "1")]), 1).unwrap_err();
        assert!(
            e.message
                .ends_with("Reserved keys used in this request: AWS_REGION"),
            "{}",
            e.message
        );
        let big = "x".repeat(ENVIRONMENT_LIMIT_BYTES);
        let e = validate(with_variables(&[("BIG", &big)]), 1).unwrap_err();
        assert!(
            e.message.contains("exceeded the 4KB limit"),
            "{}",
            e.message
        );
    }
}
