//! The environment variables of an environment's processes, as on Lambda.
//!
//! What Lambda documents ("Defined runtime environment variables" and the Extensions API page):
//! the reserved variables are set by the platform and cannot be overridden; `TZ`, `LANG` and
//! `PATH` are set too but are *not* reserved, so a user's value wins; and extensions do not get
//! the runtime-only variables (`AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`,
//! `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`, `_HANDLER`, `AWS_EXECUTION_ENV`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use chrono::Utc;
use lambda_wire::env::{LambdaEnv, REGION};

use super::contract::{Artifacts, FunctionConfig, InitializationType};
use super::ids::random_u64;

/// The region of a function whose variables name none.
const DEFAULT_REGION: &str = "us-east-1";

/// One environment's variables, as `lambda_wire` builds them from the environment's facts:
/// the runtime's set ([`LambdaEnv::for_runtime`]) and an extension's
/// ([`LambdaEnv::for_extension`]). The platform's defaults sit beneath the user's variables;
/// the credentials are fake, different per environment, and valid nowhere.
pub(super) fn lambda_env(
    config: &FunctionConfig,
    initialization_type: InitializationType,
    platform_defaults: &BTreeMap<String, String>,
    env_id: &str,
    api_addr: SocketAddr,
    artifacts: &Artifacts,
) -> LambdaEnv {
    let mut user = platform_defaults.clone();
    user.extend(config.environment.clone());
    let host_path = std::env::var("PATH").unwrap_or_default();
    let stream_date = Utc::now().format("%Y/%m/%d");
    let compact_id: String = env_id.chars().filter(|c| *c != '-').collect();
    let mut env = LambdaEnv::new(api_addr.to_string(), config.function_name.clone());
    env.function_version = config.version.clone();
    env.memory_mb = u64::from(config.memory_mb);
    env.initialization_type = initialization_type.as_str().into();
    env.region = config
        .environment
        .get(REGION)
        .cloned()
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    env.log_stream_name = format!("{stream_date}/[{}]{compact_id}", config.version);
    env.access_key_id = format!("ASIASANDBOX{:09X}", random_u64() & 0xf_ffff_ffff);
    env.secret_access_key = format!("sandbox/{:016x}{:016x}", random_u64(), random_u64());
    env.session_token = format!("sandbox-session-{compact_id}");
    env.handler = config.handler.clone();
    env.task_root = artifacts
        .bootstrap
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/var/task".into());
    if !host_path.is_empty() {
        env.path = format!("{}:{host_path}", env.path);
    }
    env.user = user;
    env
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        let env = lambda_env(
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
        )
        .for_runtime();
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
        let env = lambda_env(
            &config(&[("A", "user")]),
            InitializationType::OnDemand,
            &defaults,
            "e",
            "127.0.0.1:9".parse().unwrap(),
            &Artifacts::default(),
        )
        .for_runtime();
        assert_eq!(env["A"], "user");
        assert_eq!(env["B"], "platform");
    }

    #[test]
    fn extensions_do_not_get_the_runtime_only_variables() {
        let env = lambda_env(
            &config(&[("USER", "u")]),
            InitializationType::ProvisionedConcurrency,
            &BTreeMap::new(),
            "e",
            "127.0.0.1:9".parse().unwrap(),
            &Artifacts::default(),
        );
        let runtime = env.for_runtime();
        let ext = env.for_extension();
        for key in lambda_wire::env::RUNTIME_ONLY {
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
