//! Shared by the environment tests: fixture runtimes and extensions (Python 3 scripts in
//! `tests/fixtures/`), layers that link them under the extension names that select their
//! behaviour, and a log sink with its collector.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use lambda_emulator::environment::{
    process_state, Artifacts, Environment, EnvironmentOptions, FunctionConfig, InvokeRequest,
    InvokeResponse, InvokeStatus, LogSink, LogSource,
};
use serde_json::Value;
use tokio::sync::broadcast;

use super::cp_build::{coldmark_platform_variables, LogCollector};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// A test's scratch space: a layer directory (`extensions/<name>` links to the fixture
/// extension) and `out/`, where fixtures record what they saw.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new(extensions: &[&str]) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("env-test-")
            .tempdir()
            .expect("temp dir");
        let ext_dir = dir.path().join("layer").join("extensions");
        std::fs::create_dir_all(&ext_dir).expect("extensions/");
        std::fs::create_dir_all(dir.path().join("out")).expect("out/");
        for name in extensions {
            std::os::unix::fs::symlink(fixture("env_extension.py"), ext_dir.join(name))
                .expect("link extension");
        }
        Scratch { dir }
    }

    pub fn layer(&self) -> PathBuf {
        self.dir.path().join("layer")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// The fixture runtime with this scratch's layer.
    pub fn artifacts(&self) -> Artifacts {
        Artifacts {
            bootstrap: fixture("env_runtime.py"),
            layers: vec![self.layer()],
            launcher: Vec::new(),
        }
    }

    /// A configuration whose processes record into `out/`, plus `vars`.
    pub fn config(&self, timeout: Duration, vars: &[(&str, &str)]) -> FunctionConfig {
        let mut environment =
            BTreeMap::from([("FIXTURE_OUT".to_string(), self.out().display().to_string())]);
        for (k, v) in vars {
            environment.insert(k.to_string(), v.to_string());
        }
        FunctionConfig {
            function_name: "fixture".into(),
            version: "$LATEST".into(),
            memory_mb: 128,
            timeout,
            handler: "fixture.handler".into(),
            environment,
        }
    }

    /// Starts an environment of this scratch's layer with `options`; a failed init panics with
    /// every log line, which is where its reason is.
    pub async fn start(
        &self,
        timeout: Duration,
        vars: &[(&str, &str)],
        options: EnvironmentOptions,
        logs: &Logs,
    ) -> Environment {
        Environment::start(
            self.config(timeout, vars),
            self.artifacts(),
            options,
            logs.sink.clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("init failed: {e:#}\n{}", logs.dump()))
    }

    /// Starts an environment whose init must fail: its error, with every cause.
    pub async fn start_failing(
        &self,
        vars: &[(&str, &str)],
        options: EnvironmentOptions,
        logs: &Logs,
    ) -> String {
        let err = Environment::start(
            self.config(Duration::from_secs(3), vars),
            self.artifacts(),
            options,
            logs.sink.clone(),
        )
        .await
        .err()
        .expect("init must fail");
        format!("{err:#}")
    }

    /// The JSON lines a fixture recorded in `out/<kind>-<name>.jsonl`.
    pub fn recorded(&self, kind: &str, name: &str) -> Vec<Value> {
        let path = self.out().join(format!("{kind}-{name}.jsonl"));
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Every telemetry record a fixture extension received, in delivery order.
    pub fn telemetry(&self, name: &str) -> Vec<Value> {
        self.recorded("telemetry", name)
            .into_iter()
            .flat_map(|b| b["batch"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until `name` received a telemetry record satisfying `pred`.
    pub async fn wait_telemetry(
        &self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let records = self.telemetry(name);
            if records.iter().any(&pred) || tokio::time::Instant::now() >= deadline {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An invocation with `payload`, under a request id the sandbox makes up.
pub fn request(payload: Value) -> InvokeRequest {
    InvokeRequest {
        payload: Bytes::from(payload.to_string()),
        request_id: None,
        ..Default::default()
    }
}

/// An invocation with an empty object, under the request id `id` (to find its records).
pub fn request_as(id: &str) -> InvokeRequest {
    InvokeRequest {
        payload: Bytes::from_static(b"{}"),
        request_id: Some(id.into()),
        ..Default::default()
    }
}

/// Fails with the status unless the function answered successfully.
pub fn assert_success(answer: &InvokeResponse) {
    assert!(
        matches!(answer.status, InvokeStatus::Success),
        "{:?}",
        answer.status
    );
}

/// Fails unless every process of `pids` is gone (or a zombie): at once after a shutdown that
/// returned, so waited for only as long as a loaded machine may take to show it (2 s).
pub async fn assert_gone(pids: Vec<u32>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    for pid in pids {
        while matches!(process_state(pid), Some(s) if s != 'Z') {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pid {pid} still running"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Short deadlines keep the suite fast; freeze on, as on Lambda.
pub fn options() -> EnvironmentOptions {
    EnvironmentOptions {
        freeze: true,
        shutdown_deadline: Duration::from_secs(2),
        init_timeout: Duration::from_secs(5),
        platform_variables: coldmark_platform_variables(),
        ..EnvironmentOptions::default()
    }
}

/// A log sink of its own with a [`LogCollector`] on it (whose `lines`, `markers` and `dump` it
/// offers), plus the reads by source that the environment tests make.
pub struct Logs {
    pub sink: LogSink,
    collector: LogCollector,
}

impl std::ops::Deref for Logs {
    type Target = LogCollector;

    fn deref(&self) -> &LogCollector {
        &self.collector
    }
}

impl Logs {
    pub fn new() -> Logs {
        let (sink, _) = broadcast::channel(4096);
        let collector = LogCollector::start(&sink);
        Logs { sink, collector }
    }

    pub fn from(&self, source: &LogSource) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| &l.source == source)
            .map(|l| l.line)
            .collect()
    }

    /// Waits (up to 2 s) for a line from `source` satisfying `pred`: the collector receives
    /// lines asynchronously.
    pub async fn wait_line(&self, source: &LogSource, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            if self.from(source).iter().any(|l| pred(l)) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The records of one type, in order.
pub fn of_type<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == kind).collect()
}
