//! Tenant isolation (`TenancyConfig` `{"TenantIsolationMode": "PER_TENANT"}`), with no I/O: the
//! record the Lambda API shows, and Lambda's rules around it, each a plain function with its
//! unit tests. AWS's Lambda guide (tenant isolation: configuring, invoking):
//! - the mode is chosen when the function is created (`CreateFunction`) and cannot be changed
//!   afterwards (`UpdateFunctionConfiguration` has no such field; the sandbox refuses one);
//! - every invoke of a function with tenant isolation names its tenant (`X-Amz-Tenant-Id`,
//!   `aws lambda invoke --tenant-id`), and only those invokes do;
//! - Lambda routes each request to an environment dedicated to its tenant: the pool keys its
//!   environments by tenant ([`super::versions::PoolKey`]), so environments are never shared;
//! - it does not go with SnapStart, provisioned concurrency, Function URLs or Lambda Managed
//!   Instances ([`conflicts`]).
//!
//! Lambda's answer to a refused request is `InvalidParameterValueException` (400); the messages
//! are the sandbox's own words (AWS documents the rules, not the wording).

use serde::{Deserialize, Serialize};

/// The only `TenantIsolationMode` Lambda's API knows.
pub const PER_TENANT: &str = "PER_TENANT";

/// `TenancyConfig`, as `CreateFunction` takes it and `GetFunctionConfiguration` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct TenancyConfig {
    pub tenant_isolation_mode: String,
}

impl TenancyConfig {
    /// `{"TenantIsolationMode": "PER_TENANT"}`.
    pub fn per_tenant() -> Self {
        Self {
            tenant_isolation_mode: PER_TENANT.to_owned(),
        }
    }
}

/// Lambda's bound on a tenant id (`TenantId` in the API model: 1 to 256 characters).
pub(crate) const TENANT_ID_MAX_CHARS: usize = 256;

/// Why a request's tenancy is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenancyError {
    /// An invoke without a tenant id on a function with tenant isolation.
    Missing,
    /// An invoke with a tenant id on a function without tenant isolation.
    NotIsolated,
    /// A tenant id Lambda's API refuses: empty, longer than 256 characters, or with a character
    /// outside `[a-zA-Z0-9._:/=+-@ ]`.
    InvalidTenantId(String),
    /// `TenancyConfig` in `UpdateFunctionConfiguration`: it is set at creation only.
    Immutable,
    /// `CreateFunction` with a `TenantIsolationMode` other than `PER_TENANT`.
    UnknownMode(String),
    /// Tenant isolation together with a feature it does not go with.
    Conflict(&'static str),
}

impl std::fmt::Display for TenancyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TenancyError::Missing => f.write_str(
                "The function has tenant isolation (TenantIsolationMode PER_TENANT): every \
                 invocation must specify a tenant ID (X-Amz-Tenant-Id, `--tenant-id`).",
            ),
            TenancyError::NotIsolated => f.write_str(
                "A tenant ID (X-Amz-Tenant-Id) was specified, but the function does not have \
                 tenant isolation enabled.",
            ),
            TenancyError::InvalidTenantId(id) => write!(
                f,
                "1 validation error detected: Value '{id}' at 'tenantId' failed to satisfy \
                 constraint: Member must have length between 1 and {TENANT_ID_MAX_CHARS} and \
                 match pattern [a-zA-Z0-9\\._:\\/=+\\-@ ]+"
            ),
            TenancyError::Immutable => f.write_str(
                "TenancyConfig cannot be updated: tenant isolation is chosen when the function \
                 is created and cannot be modified afterwards.",
            ),
            TenancyError::UnknownMode(mode) => write!(
                f,
                "1 validation error detected: Value '{mode}' at \
                 'tenancyConfig.tenantIsolationMode' failed to satisfy constraint: Member must \
                 satisfy enum value set: [{PER_TENANT}]"
            ),
            TenancyError::Conflict(feature) => {
                write!(f, "Tenant isolation cannot be combined with {feature}.")
            }
        }
    }
}

impl std::error::Error for TenancyError {}

/// Whether a character may appear in a tenant id (the API model's pattern).
fn tenant_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._:/=+-@ ".contains(c)
}

/// The tenant of an invoke: `header` (`X-Amz-Tenant-Id`) on a function with tenant isolation
/// (`isolated`), none on one without; anything else is refused as Lambda refuses it.
pub fn invoke_tenant(isolated: bool, header: Option<&str>) -> Result<Option<String>, TenancyError> {
    match (isolated, header) {
        (true, None) => Err(TenancyError::Missing),
        (false, Some(_)) => Err(TenancyError::NotIsolated),
        (false, None) => Ok(None),
        (true, Some(id)) => {
            let valid = !id.is_empty()
                && id.chars().count() <= TENANT_ID_MAX_CHARS
                && id.chars().all(tenant_char);
            if valid {
                Ok(Some(id.to_owned()))
            } else {
                Err(TenancyError::InvalidTenantId(id.to_owned()))
            }
        }
    }
}

/// Whether `CreateFunction`'s `TenancyConfig` asks for tenant isolation.
pub fn creation_isolates(config: Option<&TenancyConfig>) -> Result<bool, TenancyError> {
    match config {
        None => Ok(false),
        Some(c) if c.tenant_isolation_mode == PER_TENANT => Ok(true),
        Some(c) => Err(TenancyError::UnknownMode(c.tenant_isolation_mode.clone())),
    }
}

/// `UpdateFunctionConfiguration` may not carry a `TenancyConfig` at all (not even the same
/// one): Lambda's API has no such field for updates, and the mode is fixed at creation.
pub fn update_allows(tenancy_config_present: bool) -> Result<(), TenancyError> {
    if tenancy_config_present {
        Err(TenancyError::Immutable)
    } else {
        Ok(())
    }
}

/// The platform features a function with tenant isolation has set and may not have (AWS:
/// tenant isolation does not go with SnapStart, provisioned concurrency, Function URLs, Lambda
/// Managed Instances). The first one set is the error.
pub fn conflicts(
    snap_start: bool,
    provisioned_concurrency: usize,
    managed_instances: bool,
) -> Result<(), TenancyError> {
    if snap_start {
        return Err(TenancyError::Conflict("SnapStart"));
    }
    if provisioned_concurrency > 0 {
        return Err(TenancyError::Conflict("provisioned concurrency"));
    }
    if managed_instances {
        return Err(TenancyError::Conflict("Lambda Managed Instances"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_isolated_function_needs_a_tenant_and_only_it_takes_one() {
        assert_eq!(invoke_tenant(true, Some("blue")), Ok(Some("blue".into())));
        assert_eq!(invoke_tenant(true, None), Err(TenancyError::Missing));
        assert_eq!(invoke_tenant(false, None), Ok(None));
        assert_eq!(
            invoke_tenant(false, Some("blue")),
            Err(TenancyError::NotIsolated)
        );
    }

    #[test]
    fn tenant_ids_follow_the_api_models_pattern_and_length() {
        for good in ["BlueTenant", "a.b_c:d/e=f+g-h@i j", &"x".repeat(256)] {
            assert!(invoke_tenant(true, Some(good)).is_ok(), "{good}");
        }
        for bad in ["", "semi;colon", "é", &"x".repeat(257)] {
            assert_eq!(
                invoke_tenant(true, Some(bad)),
                Err(TenancyError::InvalidTenantId(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_per_tenant_is_a_mode_and_no_update_may_name_it() {
        assert_eq!(creation_isolates(None), Ok(false));
        assert_eq!(
            creation_isolates(Some(&TenancyConfig::per_tenant())),
            Ok(true)
        );
        let shared = TenancyConfig {
            tenant_isolation_mode: "SHARED".into(),
        };
        let e = creation_isolates(Some(&shared)).unwrap_err();
        assert!(e.to_string().contains("[PER_TENANT]"), "{e}");
        assert_eq!(update_allows(false), Ok(()));
        let e = update_allows(true).unwrap_err();
        assert_eq!(e, TenancyError::Immutable);
        assert!(e.to_string().contains("cannot be modified"), "{e}");
    }

    #[test]
    fn snap_start_provisioned_concurrency_and_managed_instances_are_refused() {
        assert_eq!(conflicts(false, 0, false), Ok(()));
        assert_eq!(
            conflicts(true, 0, false),
            Err(TenancyError::Conflict("SnapStart"))
        );
        assert_eq!(
            conflicts(false, 2, false),
            Err(TenancyError::Conflict("provisioned concurrency"))
        );
        assert_eq!(
            conflicts(false, 0, true),
            Err(TenancyError::Conflict("Lambda Managed Instances"))
        );
    }

    #[test]
    fn the_record_is_in_lambdas_json_shape() {
        assert_eq!(
            serde_json::to_value(TenancyConfig::per_tenant()).unwrap(),
            serde_json::json!({"TenantIsolationMode": "PER_TENANT"})
        );
    }
}
