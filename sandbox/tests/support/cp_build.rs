//! Shared by the front-ends' tests: the real function and extension binaries (built once per
//! test binary with cargo, dev profile), layers laid out like `/opt`, a control plane of the
//! clock function, and readers for what lands in its log sink, as the front-ends read it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use coldmark_sandbox::collector::MarkerRecord;
use coldmark_sandbox::front_end::coldmark_platform_variables;
use coldmark_testkit::broadcast_log::BroadcastLog;
use lambda_emulator::artifacts::{cargo_build, workspace_root};
use lambda_emulator::control_plane::{
    ControlPlane, ControlPlaneEvent, ControlPlaneOptions, Served,
};
use lambda_emulator::environment::{
    Artifacts, EnvironmentOptions, FunctionConfig, InvokeRequest, LogLine,
};

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

/// A test fixture's path.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
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

/// An invocation with an empty object, under the request id `id` (to find its records).
pub fn request_as(id: &str) -> InvokeRequest {
    InvokeRequest {
        payload: bytes::Bytes::from_static(b"{}"),
        request_id: Some(id.into()),
        ..Default::default()
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

    /// The coldmark markers seen so far, read as the front-ends' collector reads them.
    pub fn markers(&self) -> Vec<MarkerRecord> {
        self.lines()
            .iter()
            .filter_map(MarkerRecord::from_log)
            .collect()
    }

    /// Waits (up to `timeout`) until `count` markers satisfy `pred`; returns them.
    pub async fn wait_for(
        &self,
        count: usize,
        timeout: Duration,
        pred: impl Fn(&MarkerRecord) -> bool,
    ) -> Vec<MarkerRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found: Vec<MarkerRecord> = self.markers().into_iter().filter(&pred).collect();
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

/// A marker's numeric field.
pub fn num(marker: &MarkerRecord, field: &str) -> Option<f64> {
    marker.marker.get(field).and_then(|v| v.as_f64())
}

/// A marker's string field.
pub fn text<'a>(marker: &'a MarkerRecord, field: &str) -> Option<&'a str> {
    marker.marker.get(field).and_then(|v| v.as_str())
}

/// Environment options for tests that run coldmark in several environments at once (each picks
/// a free telemetry port, as the front-ends arrange).
pub fn env_options() -> EnvironmentOptions {
    EnvironmentOptions {
        platform_variables: coldmark_platform_variables(),
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
