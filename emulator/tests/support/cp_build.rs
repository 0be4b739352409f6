//! Shared by the control-plane and environment tests: real binaries to run in the emulator (the
//! clock function and coldmark's extension, built once per test binary with cargo, dev profile),
//! layers laid out like `/opt`, a control plane around them, and readers for what lands in its
//! log sink.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use coldmark_testkit::broadcast_log::BroadcastLog;
use lambda_emulator::artifacts::{cargo_build, workspace_root};
use lambda_emulator::control_plane::{
    ControlPlane, ControlPlaneEvent, ControlPlaneOptions, Served,
};
use lambda_emulator::environment::{Artifacts, EnvironmentOptions, FunctionConfig, LogLine};

/// The clock function's `bootstrap` and coldmark's extension binary.
pub struct Built {
    pub bootstrap: PathBuf,
    pub coldmark: PathBuf,
}

/// Builds both binaries once per test process (cargo serialises concurrent builds itself).
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root().expect("the coldmark workspace");
        let bins = cargo_build(&root, "dev", &["coldmark-clock", "coldmark-extension"])
            .unwrap_or_else(|e| panic!("building the function and the extension: {e:#}"));
        Built {
            bootstrap: bins.get("bootstrap").expect("bootstrap built").clone(),
            coldmark: bins.get("coldmark").expect("coldmark built").clone(),
        }
    })
}

/// A layer directory with `extensions/coldmark` plus `extra` (file name in the layer → source).
pub fn layer(with_coldmark: bool, extra: &[(&str, PathBuf)]) -> tempfile::TempDir {
    let coldmark = with_coldmark.then(|| ("coldmark", built().coldmark.as_path()));
    let extensions: Vec<(&str, &Path)> = coldmark
        .into_iter()
        .chain(extra.iter().map(|(name, path)| (*name, path.as_path())))
        .collect();
    lambda_emulator::artifacts::layer(&extensions).expect("the layer")
}

/// The clock function with `layers`.
pub fn artifacts(layers: &[&Path]) -> Artifacts {
    Artifacts {
        bootstrap: built().bootstrap.clone(),
        layers: layers.iter().map(|p| p.to_path_buf()).collect(),
        launcher: Vec::new(),
    }
}

/// The experiment's function configuration plus `vars`.
pub fn config(vars: &[(&str, &str)]) -> FunctionConfig {
    let mut environment = BTreeMap::from([("USER".to_owned(), "user".to_owned())]);
    for (k, v) in vars {
        environment.insert((*k).to_owned(), (*v).to_owned());
    }
    FunctionConfig {
        function_name: "clock".into(),
        version: "$LATEST".into(),
        memory_mb: 128,
        timeout: Duration::from_secs(3),
        handler: "bootstrap".into(),
        environment,
    }
}

/// A line of the log sink that is one of coldmark's markers (a JSON object with a `coldmark`
/// field), as CloudWatch would hold it: the emulator knows no marker, so its tests read them as
/// plain JSON.
#[derive(Clone, Debug)]
pub struct MarkerLine {
    /// The environment whose log carried it.
    pub env_id: String,
    pub marker: serde_json::Value,
    pub line: String,
}

impl MarkerLine {
    pub fn from_log(line: &LogLine) -> Option<Self> {
        let trimmed = line.line.trim();
        let marker: serde_json::Value = serde_json::from_str(trimmed).ok()?;
        marker.get("coldmark")?.as_str()?;
        Some(Self {
            env_id: line.env_id.clone(),
            marker,
            line: trimmed.to_owned(),
        })
    }

    /// `init`, `invoke` or `shutdown`.
    pub fn kind(&self) -> &str {
        self.marker["coldmark"].as_str().unwrap_or("?")
    }
}

/// Collects every log line of a sink in the background, for reading later.
pub struct LogCollector {
    log: BroadcastLog<LogLine>,
}

impl LogCollector {
    pub fn start(sink: &tokio::sync::broadcast::Sender<LogLine>) -> Self {
        Self {
            log: BroadcastLog::start(sink),
        }
    }

    pub fn lines(&self) -> Vec<LogLine> {
        self.log.items()
    }

    /// The coldmark markers seen so far.
    pub fn markers(&self) -> Vec<MarkerLine> {
        self.lines()
            .iter()
            .filter_map(MarkerLine::from_log)
            .collect()
    }

    /// Waits (up to `timeout`) until `count` markers satisfy `pred`; returns them.
    pub async fn wait_for(
        &self,
        count: usize,
        timeout: Duration,
        pred: impl Fn(&MarkerLine) -> bool,
    ) -> Vec<MarkerLine> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found: Vec<MarkerLine> = self.markers().into_iter().filter(&pred).collect();
            if found.len() >= count || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every line, for failure messages.
    pub fn dump(&self) -> String {
        self.lines()
            .iter()
            .map(|l| format!("[{} {:?}] {}", &l.env_id, l.source, l.line))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A marker's string field.
pub fn text<'a>(marker: &'a MarkerLine, field: &str) -> Option<&'a str> {
    marker.marker.get(field).and_then(|v| v.as_str())
}

/// The platform setting coldmark's front-ends give every environment (`COLDMARK_TELEMETRY_PORT=0`):
/// here too, several environments run coldmark at once on one host, each on a free port.
pub fn coldmark_platform_variables() -> BTreeMap<String, String> {
    BTreeMap::from([("COLDMARK_TELEMETRY_PORT".to_owned(), "0".to_owned())])
}

/// Environment options for tests that run coldmark in several environments at once (each picks
/// a free telemetry port, as the experiment's front-ends arrange).
pub fn env_options() -> EnvironmentOptions {
    EnvironmentOptions {
        platform_variables: coldmark_platform_variables(),
        ..Default::default()
    }
}

/// Control-plane options with [`env_options`].
pub fn plane_options() -> ControlPlaneOptions {
    ControlPlaneOptions {
        environment: env_options(),
        ..Default::default()
    }
}

/// A control plane of `function` with `layers`, before it serves: the plane, the collector of
/// its log sink, and its events subscribed from the start.
pub fn test_plane(
    function: FunctionConfig,
    layers: &[&Path],
    options: ControlPlaneOptions,
) -> (
    ControlPlane,
    LogCollector,
    tokio::sync::broadcast::Receiver<ControlPlaneEvent>,
) {
    let (sink, _) = tokio::sync::broadcast::channel(8192);
    let logs = LogCollector::start(&sink);
    let plane = ControlPlane::new(function, artifacts(layers), options, sink);
    let events = plane.subscribe();
    (plane, logs, events)
}

/// `plane` serving on free ports: what stops it, the Lambda API's base URL and the Function URL.
pub async fn serve(plane: &ControlPlane) -> (Served, String, String) {
    let served = plane.serve(0, 0).await.expect("serve");
    let api = format!("http://{}", served.endpoints.lambda_api);
    let url = format!("http://{}/", served.endpoints.function_url);
    (served, api, url)
}

/// The header `name` of `response`, if it is there and readable.
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Sends `request` and reads its answer as JSON, whatever its status.
pub async fn answer(request: reqwest::RequestBuilder) -> serde_json::Value {
    request
        .send()
        .await
        .expect("the request was answered")
        .json()
        .await
        .expect("a JSON answer")
}
