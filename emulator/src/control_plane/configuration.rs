//! The Lambda REST API's records, in AWS's JSON shape (PascalCase), so that the AWS CLI and the
//! SDKs parse the sandbox's answers exactly as they parse Lambda's.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::options::{ControlPlaneOptions, ManagedInstances};
use super::tenancy::TenancyConfig;
use super::versions::{FunctionState, LATEST};
use crate::environment::ACCOUNT_ID;

/// Keys Lambda refuses in `Environment.Variables` because the platform sets them.
pub(crate) const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Variables that change how the dynamic loader (or a language runtime) loads every process
/// of the environment. Lambda accepts them; the sandbox warns when one is set.
pub(crate) const PROCESS_LOADING_VARIABLES: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "LD_BIND_NOW",
    "LD_DEBUG",
    "LD_DEBUG_OUTPUT",
    "LD_PROFILE",
    "LD_ORIGIN_PATH",
    "GCONV_PATH",
    "MALLOC_CONF",
    "GLIBC_TUNABLES",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "RUBYOPT",
    "PERL5OPT",
    "AWS_LAMBDA_EXEC_WRAPPER",
];

/// Whether setting `name` changes how processes are loaded (any `LD_*` variable counts).
pub(crate) fn changes_process_loading(name: &str) -> bool {
    name.starts_with("LD_") || PROCESS_LOADING_VARIABLES.contains(&name)
}

/// GetFunctionConfiguration's answer (and UpdateFunctionConfiguration's).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    pub code_size: u64,
    pub description: String,
    /// Seconds.
    pub timeout: u64,
    pub memory_size: u32,
    /// ISO 8601 with milliseconds and a `+0000` offset, as Lambda writes it.
    pub last_modified: String,
    pub code_sha256: String,
    pub version: String,
    pub environment: EnvironmentResponse,
    pub tracing_config: TracingConfig,
    pub revision_id: String,
    pub layers: Vec<Layer>,
    pub state: String,
    pub last_update_status: String,
    pub package_type: String,
    pub architectures: Vec<String>,
    pub ephemeral_storage: EphemeralStorage,
    pub logging_config: LoggingConfig,
    /// Lambda Managed Instances: the capacity provider the function runs on (absent on
    /// Lambda's on-demand environments, as in Lambda's own answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_config: Option<CapacityProviderConfig>,
    /// Tenant isolation, as the function was created (absent without it, as in Lambda's own
    /// answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenancy_config: Option<TenancyConfig>,
}

/// `CapacityProviderConfig` of a function on Lambda Managed Instances.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CapacityProviderConfig {
    pub lambda_managed_instances_capacity_provider_config: ManagedInstancesCapacityProvider,
}

/// `LambdaManagedInstancesCapacityProviderConfig`, field names as in Lambda's API.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManagedInstancesCapacityProvider {
    #[serde(rename = "CapacityProviderArn")]
    pub capacity_provider_arn: String,
    #[serde(rename = "PerExecutionEnvironmentMaxConcurrency")]
    pub per_execution_environment_max_concurrency: u32,
    #[serde(rename = "ExecutionEnvironmentMemoryGiBPerVCpu")]
    pub execution_environment_memory_gib_per_vcpu: f64,
}

impl CapacityProviderConfig {
    /// What the function's configuration shows for the sandbox's Managed Instances.
    pub(crate) fn of(managed: &ManagedInstances) -> Self {
        Self {
            lambda_managed_instances_capacity_provider_config: ManagedInstancesCapacityProvider {
                capacity_provider_arn: managed.capacity_provider_arn.clone(),
                per_execution_environment_max_concurrency: managed.max_concurrency,
                execution_environment_memory_gib_per_vcpu: managed.memory_gib_per_vcpu,
            },
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentResponse {
    pub variables: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    pub mode: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Layer {
    pub arn: String,
    pub code_size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    pub size: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    pub log_format: String,
    pub log_group: String,
}

/// UpdateFunctionConfiguration's request body. Fields the sandbox does not model (Role, Layers,
/// VpcConfig, ...) are accepted and ignored, so scripts written for Lambda keep working.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfigurationRequest {
    pub environment: Option<EnvironmentRequest>,
    pub memory_size: Option<u32>,
    pub timeout: Option<u64>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub revision_id: Option<String>,
    /// Never accepted: tenant isolation is fixed when the function is created. (The AWS CLI
    /// cannot send it; an SDK or a raw request can, and gets Lambda's refusal.)
    pub tenancy_config: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentRequest {
    pub variables: Option<BTreeMap<String, String>>,
}

/// The body of every Lambda error; the error's code travels in the `x-amzn-ErrorType` header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    #[serde(rename = "Message")]
    pub(crate) message: String,
    /// Only on `TooManyRequestsException`.
    #[serde(rename = "Reason", skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// The function's ARN in `region`.
pub(crate) fn function_arn(region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}")
}

impl FunctionConfiguration {
    /// The configuration as Lambda would report it for `function`, served by a control plane
    /// with `options` (its region, and its capacity provider on Managed Instances).
    pub(crate) fn describe(function: &FunctionState, options: &ControlPlaneOptions) -> Self {
        let region = options.region.as_str();
        let config = &function.config;
        let (code_size, code_sha256) = code_digest(&function.artifacts.bootstrap);
        let layers = function
            .artifacts
            .layers
            .iter()
            .enumerate()
            .map(|(i, dir)| Layer {
                arn: layer_arn(region, dir, i),
                code_size: dir_size(dir),
            })
            .collect();
        Self {
            function_name: config.function_name.clone(),
            // A published version's ARN carries its number, as on Lambda.
            function_arn: if config.version == LATEST {
                function_arn(region, &config.function_name)
            } else {
                format!(
                    "{}:{}",
                    function_arn(region, &config.function_name),
                    config.version
                )
            },
            runtime: "provided.al2023".to_owned(),
            role: format!(
                "arn:aws:iam::{ACCOUNT_ID}:role/{}-role",
                config.function_name
            ),
            handler: config.handler.clone(),
            code_size,
            description: String::new(),
            timeout: config.timeout.as_secs().max(1),
            memory_size: config.memory_mb,
            last_modified: function
                .last_modified
                .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
                .to_string(),
            code_sha256,
            version: config.version.clone(),
            environment: EnvironmentResponse {
                variables: config.environment.clone(),
            },
            tracing_config: TracingConfig {
                mode: "PassThrough".to_owned(),
            },
            revision_id: revision_id(function.revision),
            layers,
            state: "Active".to_owned(),
            // Applied at once; UpdateFunctionConfiguration's own answer says `InProgress`.
            last_update_status: "Successful".to_owned(),
            package_type: "Zip".to_owned(),
            architectures: vec![std::env::consts::ARCH.replace("aarch64", "arm64")],
            ephemeral_storage: EphemeralStorage { size: 512 },
            logging_config: LoggingConfig {
                log_format: "Text".to_owned(),
                log_group: format!("/aws/lambda/{}", config.function_name),
            },
            capacity_provider_config: options
                .managed_instances
                .as_ref()
                .map(CapacityProviderConfig::of),
            tenancy_config: options.tenant_isolation.then(TenancyConfig::per_tenant),
        }
    }
}

/// Lambda's RevisionId is a UUID that changes with every update; derived from the revision
/// number so that it is stable between reads.
pub(crate) fn revision_id(revision: u64) -> String {
    format!("00000000-0000-4000-8000-{revision:012x}")
}

/// The ARN the sandbox gives the layer in directory `dir`, the `index`th of the function's
/// (version 1: a layer directory does not change while the sandbox runs).
pub(crate) fn layer_arn(region: &str, dir: &Path, index: usize) -> String {
    format!(
        "arn:aws:lambda:{region}:{ACCOUNT_ID}:layer:{}:1",
        layer_name(dir, index)
    )
}

fn layer_name(dir: &Path, index: usize) -> String {
    let name: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if name.is_empty() {
        format!("layer-{}", index + 1)
    } else {
        name
    }
}

/// Size and base64 SHA-256 of the code, as Lambda reports them; zeros when unreadable.
fn code_digest(path: &Path) -> (u64, String) {
    match std::fs::read(path) {
        Ok(bytes) => (
            bytes.len() as u64,
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes)),
        ),
        Err(_) => (0, String::new()),
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
