//! The environment variables every process of an environment gets, as on Lambda.

use super::*;

/// The variables every process gets, as on Lambda (plus the user's, which cannot override the
/// reserved ones).
pub(super) fn process_environment(
    config: &FunctionConfig,
    env_id: &str,
    api_addr: SocketAddr,
    artifacts: &Artifacts,
) -> BTreeMap<String, String> {
    let mut env = config.environment.clone();
    env.entry("COLDMARK_TELEMETRY_PORT".into())
        .or_insert_with(|| "0".into());
    let region = config
        .environment
        .get("AWS_REGION")
        .cloned()
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let task_root = artifacts
        .bootstrap
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/var/task".into());
    let host_path = std::env::var("PATH").unwrap_or_default();
    let stream_date = Utc::now().format("%Y/%m/%d");
    let compact_id: String = env_id.chars().filter(|c| *c != '-').collect();
    let reserved = [
        ("AWS_LAMBDA_RUNTIME_API", api_addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.function_name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("{stream_date}/[{}]{compact_id}", config.version),
        ),
        // Fake credentials, different per environment, never valid anywhere.
        (
            "AWS_ACCESS_KEY_ID",
            format!("ASIASANDBOX{:09X}", random_u64() & 0xf_ffff_ffff),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            format!("sandbox/{:016x}{:016x}", random_u64(), random_u64()),
        ),
        ("AWS_SESSION_TOKEN", format!("sandbox-session-{compact_id}")),
        ("_HANDLER", config.handler.clone()),
        ("LAMBDA_TASK_ROOT", task_root),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        (
            "PATH",
            if host_path.is_empty() {
                "/usr/local/bin:/usr/bin:/bin:/opt/bin".into()
            } else {
                format!("/usr/local/bin:/usr/bin:/bin:/opt/bin:{host_path}")
            },
        ),
    ];
    for (key, value) in reserved {
        env.insert(key.to_string(), value);
    }
    env
}
