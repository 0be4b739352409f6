//! The environment variables of an environment's processes, as on Lambda.
//!
//! What Lambda documents ("Defined runtime environment variables" and the Extensions API page):
//! the reserved variables are set by the platform and cannot be overridden; `TZ`, `LANG` and
//! `PATH` are set too but are *not* reserved, so a user's value wins; and extensions do not get
//! the runtime-only variables (`AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`,
//! `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`, `_HANDLER`, `AWS_EXECUTION_ENV`).

use super::*;

/// Variables only the runtime process gets.
const RUNTIME_ONLY: [&str; 6] = [
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "_HANDLER",
    "AWS_EXECUTION_ENV",
];

/// The runtime's variables: the platform's defaults (beneath the user's), the user's, then the
/// reserved ones (over the user's).
pub(super) fn process_environment(
    config: &FunctionConfig,
    initialization_type: InitializationType,
    platform_defaults: &BTreeMap<String, String>,
    env_id: &str,
    api_addr: SocketAddr,
    artifacts: &Artifacts,
) -> BTreeMap<String, String> {
    let mut env = platform_defaults.clone();
    env.extend(config.environment.clone());
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
    // Set by Lambda but not reserved: the user's value wins.
    let defaults = [
        ("TZ", ":UTC".to_string()),
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
    for (key, value) in defaults {
        env.entry(key.to_string()).or_insert(value);
    }
    let reserved = [
        ("AWS_LAMBDA_RUNTIME_API", api_addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            initialization_type.as_str().into(),
        ),
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
    ];
    for (key, value) in reserved {
        env.insert(key.to_string(), value);
    }
    env
}

/// An extension's variables: the runtime's without the runtime-only ones.
pub(super) fn extension_environment(
    runtime: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    runtime
        .iter()
        .filter(|(key, _)| !RUNTIME_ONLY.contains(&key.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> FunctionConfig {
        FunctionConfig {
            function_name: "f".into(),
            version: "$LATEST".into(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            handler: "bootstrap".into(),
            environment: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn user_tz_lang_path_win_reserved_do_not() {
        let env = process_environment(
            &config(&[
                ("TZ", "Europe/Paris"),
                ("LANG", "C"),
                ("PATH", "/mine"),
                ("AWS_LAMBDA_FUNCTION_NAME", "nope"),
            ]),
            InitializationType::OnDemand,
            &BTreeMap::new(),
            "e",
            "127.0.0.1:9".parse().unwrap(),
            &Artifacts::default(),
        );
        assert_eq!(env["TZ"], "Europe/Paris");
        assert_eq!(env["LANG"], "C");
        assert_eq!(env["PATH"], "/mine");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "f");
    }

    #[test]
    fn platform_defaults_sit_beneath_the_users_variables() {
        let defaults = BTreeMap::from([
            ("A".to_string(), "platform".to_string()),
            ("B".to_string(), "platform".to_string()),
        ]);
        let env = process_environment(
            &config(&[("A", "user")]),
            InitializationType::OnDemand,
            &defaults,
            "e",
            "127.0.0.1:9".parse().unwrap(),
            &Artifacts::default(),
        );
        assert_eq!(env["A"], "user");
        assert_eq!(env["B"], "platform");
    }

    #[test]
    fn extensions_do_not_get_the_runtime_only_variables() {
        let runtime = process_environment(
            &config(&[("USER", "u")]),
            InitializationType::ProvisionedConcurrency,
            &BTreeMap::new(),
            "e",
            "127.0.0.1:9".parse().unwrap(),
            &Artifacts::default(),
        );
        let ext = extension_environment(&runtime);
        for key in RUNTIME_ONLY {
            assert!(!ext.contains_key(key), "{key}");
        }
        assert!(runtime.contains_key("_HANDLER"));
        assert_eq!(ext["USER"], "u");
        assert_eq!(
            ext["AWS_LAMBDA_INITIALIZATION_TYPE"],
            "provisioned-concurrency"
        );
        assert_eq!(
            ext["AWS_LAMBDA_RUNTIME_API"],
            runtime["AWS_LAMBDA_RUNTIME_API"]
        );
    }
}
