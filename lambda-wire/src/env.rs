//! The environment variables Lambda gives the processes of an execution environment.
//!
//! Lambda (and AWS's emulator, `rapidcore/env`) builds two sets: the runtime gets the platform
//! variables, the credentials, the runtime-only ones (`_HANDLER`, `AWS_EXECUTION_ENV`, the log
//! group and stream, `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`) and the user's; an extension gets
//! the same without the runtime-only ones and without any variable whose name starts with `_`.
//! The user's variables never override a reserved one; `TZ`, `LANG` and `PATH` are set by
//! Lambda too but are not reserved (AWS's "Defined runtime environment variables"), so there a
//! user's value wins.

use std::collections::BTreeMap;

pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
pub const FUNCTION_VERSION: &str = "AWS_LAMBDA_FUNCTION_VERSION";
pub const FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
pub const INITIALIZATION_TYPE: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";
pub const REGION: &str = "AWS_REGION";
pub const DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
pub const LOG_GROUP_NAME: &str = "AWS_LAMBDA_LOG_GROUP_NAME";
pub const LOG_STREAM_NAME: &str = "AWS_LAMBDA_LOG_STREAM_NAME";
pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const HANDLER: &str = "_HANDLER";
pub const EXECUTION_ENV: &str = "AWS_EXECUTION_ENV";
pub const TASK_ROOT: &str = "LAMBDA_TASK_ROOT";
pub const RUNTIME_DIR: &str = "LAMBDA_RUNTIME_DIR";
pub const TZ: &str = "TZ";
pub const LANG: &str = "LANG";
pub const PATH: &str = "PATH";

/// Variables the runtime gets and extensions do not (besides every `_`-prefixed one).
pub const RUNTIME_ONLY: [&str; 6] = [
    HANDLER,
    EXECUTION_ENV,
    LOG_GROUP_NAME,
    LOG_STREAM_NAME,
    TASK_ROOT,
    RUNTIME_DIR,
];

/// One environment's facts, from which both variable sets are made.
#[derive(Clone, Debug)]
pub struct LambdaEnv {
    pub runtime_api: String,
    pub function_name: String,
    pub function_version: String,
    pub memory_mb: u64,
    pub initialization_type: String,
    pub region: String,
    pub log_stream_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub handler: String,
    pub task_root: String,
    pub path: String,
    /// The user's variables.
    pub user: BTreeMap<String, String>,
}

impl LambdaEnv {
    /// An environment of `function_name` with Lambda's defaults: `$LATEST`, 128 MB, on-demand,
    /// `us-east-1`, handler `bootstrap` in `/var/task`, fake credentials that are valid nowhere.
    pub fn new(runtime_api: impl Into<String>, function_name: impl Into<String>) -> Self {
        LambdaEnv {
            runtime_api: runtime_api.into(),
            function_name: function_name.into(),
            function_version: "$LATEST".into(),
            memory_mb: 128,
            initialization_type: "on-demand".into(),
            region: "us-east-1".into(),
            log_stream_name: "2026/01/01/[$LATEST]00000000000000000000000000000000".into(),
            access_key_id: "ASIAFAKEACCESSKEY000".into(),
            secret_access_key: "fakeSecretAccessKey0000000000000000000000".into(),
            session_token: "fakeSessionToken0000000000".into(),
            handler: "bootstrap".into(),
            task_root: "/var/task".into(),
            path: "/usr/local/bin:/usr/bin:/bin:/opt/bin".into(),
            user: BTreeMap::new(),
        }
    }

    /// Adds one of the user's variables (a reserved name is ignored, as Lambda refuses it).
    pub fn user_var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.user.insert(key.into(), value.into());
        self
    }

    /// Every variable the runtime process gets.
    pub fn for_runtime(&self) -> BTreeMap<String, String> {
        let mut env = self.user.clone();
        let log_group = format!("/aws/lambda/{}", self.function_name);
        // Set by Lambda but not reserved: the user's value wins.
        for (key, value) in [
            (TZ, ":UTC"),
            (LANG, "en_US.UTF-8"),
            (PATH, self.path.as_str()),
        ] {
            env.entry(key.to_string())
                .or_insert_with(|| value.to_string());
        }
        let reserved = [
            (RUNTIME_API, self.runtime_api.as_str()),
            (FUNCTION_NAME, &self.function_name),
            (FUNCTION_VERSION, &self.function_version),
            (FUNCTION_MEMORY_SIZE, &self.memory_mb.to_string()),
            (INITIALIZATION_TYPE, &self.initialization_type),
            (REGION, &self.region),
            (DEFAULT_REGION, &self.region),
            (LOG_GROUP_NAME, &log_group),
            (LOG_STREAM_NAME, &self.log_stream_name),
            (ACCESS_KEY_ID, &self.access_key_id),
            (SECRET_ACCESS_KEY, &self.secret_access_key),
            (SESSION_TOKEN, &self.session_token),
            (HANDLER, &self.handler),
            (TASK_ROOT, &self.task_root),
            (RUNTIME_DIR, "/var/runtime"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        env.extend(reserved);
        env
    }

    /// Every variable an extension process gets.
    pub fn for_extension(&self) -> BTreeMap<String, String> {
        let mut env = self.for_runtime();
        env.retain(|k, _| !k.starts_with('_') && !RUNTIME_ONLY.contains(&k.as_str()));
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_gets_the_reserved_set_and_user_values_cannot_override_it() {
        let env = LambdaEnv::new("127.0.0.1:9001", "clock")
            .user_var("GREETING", "hi")
            .user_var(FUNCTION_NAME, "spoofed")
            .for_runtime();
        assert_eq!(env[RUNTIME_API], "127.0.0.1:9001");
        assert_eq!(env[FUNCTION_NAME], "clock");
        assert_eq!(env[FUNCTION_MEMORY_SIZE], "128");
        assert_eq!(env[LOG_GROUP_NAME], "/aws/lambda/clock");
        assert_eq!(env[HANDLER], "bootstrap");
        assert_eq!(env["GREETING"], "hi");
        assert_eq!(env[TZ], ":UTC");
    }

    #[test]
    fn user_tz_lang_and_path_win_as_they_are_not_reserved() {
        let env = LambdaEnv::new("127.0.0.1:9001", "clock")
            .user_var(TZ, "Europe/Paris")
            .user_var(LANG, "C")
            .user_var(PATH, "/mine")
            .for_runtime();
        assert_eq!(env[TZ], "Europe/Paris");
        assert_eq!(env[LANG], "C");
        assert_eq!(env[PATH], "/mine");
    }

    #[test]
    fn extensions_get_neither_runtime_only_nor_underscore_variables() {
        let env = LambdaEnv::new("127.0.0.1:9001", "clock")
            .user_var("_PRIVATE", "x")
            .user_var("GREETING", "hi")
            .for_extension();
        for gone in RUNTIME_ONLY.iter().chain(&["_PRIVATE"]) {
            assert!(!env.contains_key(*gone), "{gone} leaked to an extension");
        }
        for kept in [
            RUNTIME_API,
            FUNCTION_NAME,
            REGION,
            ACCESS_KEY_ID,
            TZ,
            "GREETING",
        ] {
            assert!(env.contains_key(kept), "{kept} missing for an extension");
        }
    }
}
