//! What the coldmark front-ends (`experiment`, `serve`, `causes`) set up alike: the artifacts,
//! a control plane whose environments carry coldmark's platform settings, the collector that
//! prints its logs and events, and the served endpoints, announced in one `endpoints` line.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use lambda_emulator::control_plane::{ControlPlane, ControlPlaneOptions, ManagedInstances, Served};
use lambda_emulator::environment::{EnvironmentOptions, FunctionConfig, InitRecordOrder};

use crate::artifacts::{self, ArtifactOptions};
use crate::collector::{collect, Collected};
use crate::output::{Printer, Record};

/// The function's name in the experiment and the `causes` script (and `serve`'s default).
pub const FUNCTION_NAME: &str = "clock";

/// The one setting the coldmark front-ends give every environment, beneath the user's
/// variables: `COLDMARK_TELEMETRY_PORT=0`. On Lambda each environment has its own network, so
/// coldmark's default telemetry port (4243) is always free; here every environment shares the
/// host's loopback, and a second environment's coldmark would find it taken (it would fall back
/// to a free port, with a warning on stderr per environment). Port 0 lets the kernel pick at
/// once. A user who sets the variable wins; the default-port path is exercised by a test that
/// runs one environment without it.
pub fn coldmark_platform_variables() -> BTreeMap<String, String> {
    BTreeMap::from([("COLDMARK_TELEMETRY_PORT".to_owned(), "0".to_owned())])
}

/// The environments of every coldmark front-end: frozen between invocations or not, init
/// records in the order asked for, and [`coldmark_platform_variables`].
pub fn front_end_environment(freeze: bool, init_records: InitRecordOrder) -> EnvironmentOptions {
    EnvironmentOptions {
        freeze,
        init_records,
        platform_variables: coldmark_platform_variables(),
        ..EnvironmentOptions::default()
    }
}

/// Where a served sandbox listens.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EndpointsRecord {
    pub function_name: String,
    /// Base URL of the Lambda REST API (`aws --endpoint-url <this>`).
    pub lambda_api: String,
    /// The Function URL (none for a function with tenant isolation: Lambda gives it none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_url: Option<String>,
    /// The function has tenant isolation: every invoke names its tenant (`--tenant-id`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tenant_isolation: bool,
}

impl Record for EndpointsRecord {
    const TYPE: &'static str = "endpoints";

    fn text(&self) -> String {
        let tenant = if self.tenant_isolation {
            " --tenant-id blue"
        } else {
            ""
        };
        let url = self
            .function_url
            .as_deref()
            .unwrap_or("none (the function has tenant isolation: Lambda gives it no Function URL)");
        format!(
            "sandbox serving function `{}`\n  Lambda API:   {}   (aws --endpoint-url {} lambda invoke --function-name {}{tenant} out.json)\n  Function URL: {url}",
            self.function_name, self.lambda_api, self.lambda_api, self.function_name
        )
    }
}

/// How long invocations in flight may still finish after the stop signal.
pub const EXIT_GRACE: Duration = Duration::from_secs(10);
/// How long the environments' shutdowns may take after that (SHUTDOWN's 2 s deadline, reading
/// the pipes to their end, and a margin) before whatever is left is killed.
pub const SHUTDOWN_ALLOWANCE: Duration = Duration::from_secs(4);

/// How every front-end runs its sandbox (the command line's shared sandbox flags).
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    pub artifacts: ArtifactOptions,
    /// SIGSTOP the processes between invocations, as Lambda freezes them.
    pub freeze: bool,
    pub max_environments: usize,
    /// Also print every log line of the environments, not only the markers.
    pub show_logs: bool,
    /// Spin down environments idle this long (`--idle-reclaim-ms`).
    pub idle_reclaim: Option<Duration>,
    /// When init's telemetry records go out (`--init-records`).
    pub init_records: InitRecordOrder,
    /// Lambda Managed Instances with this many invocations per environment
    /// (`--managed-instances --max-concurrency N`); `None`: Lambda's on-demand environments.
    pub managed_instances: Option<u32>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            artifacts: ArtifactOptions {
                cargo_profile: "release".into(),
                ..ArtifactOptions::default()
            },
            freeze: true,
            max_environments: lambda_emulator::control_plane::DEFAULT_MAX_ENVIRONMENTS,
            show_logs: false,
            idle_reclaim: None,
            init_records: InitRecordOrder::Lambda,
            managed_instances: None,
        }
    }
}

impl SandboxOptions {
    /// The control plane's options: the pool's limit, idle reclaim,
    /// [`front_end_environment`] and Managed Instances when asked for.
    pub fn plane(&self) -> ControlPlaneOptions {
        let defaults = ControlPlaneOptions::default();
        ControlPlaneOptions {
            max_environments: self.max_environments,
            environment: front_end_environment(self.freeze, self.init_records),
            idle_reclaim: self.idle_reclaim,
            managed_instances: self
                .managed_instances
                .map(|n| ManagedInstances::new(n, &defaults.region)),
            ..defaults
        }
    }

    /// The function's memory: what was asked, else 128 MB, or on Managed Instances their
    /// smallest size (2 GB, one vCPU); a smaller size there is refused, as Lambda refuses it.
    pub fn memory_mb(&self, asked: Option<u32>) -> anyhow::Result<u32> {
        match (self.managed_instances, asked) {
            (Some(_), Some(mb)) if mb < MANAGED_INSTANCES_MIN_MEMORY_MB => anyhow::bail!(
                "Lambda Managed Instances need at least {MANAGED_INSTANCES_MIN_MEMORY_MB} MB of memory (asked: {mb} MB)"
            ),
            (_, Some(mb)) => Ok(mb),
            (Some(_), None) => Ok(MANAGED_INSTANCES_MIN_MEMORY_MB),
            (None, None) => Ok(128),
        }
    }
}

/// The smallest function on Lambda Managed Instances: 2 GB and one vCPU (AWS's scaling page).
pub const MANAGED_INSTANCES_MIN_MEMORY_MB: u32 = 2048;

/// What a front-end starts.
pub struct Launch {
    pub sandbox: SandboxOptions,
    pub function: FunctionConfig,
    /// The control plane's options (usually [`SandboxOptions::plane`]).
    pub plane: ControlPlaneOptions,
    /// The Lambda API's and the Function URL's ports (0: any free one).
    pub ports: (u16, u16),
}

/// A started front-end: the control plane serving, its logs and events being printed.
pub struct FrontEnd {
    pub plane: ControlPlane,
    /// `http://` + the Lambda API's address.
    pub lambda_api: String,
    /// `http://` + the Function URL's address + `/`.
    pub function_url: String,
    /// Whether a coldmark extension is in the layers.
    pub has_layer: bool,
    /// The control plane's events from before the first environment started ahead of demand
    /// (provisioned concurrency, Managed Instances).
    pub events: broadcast::Receiver<lambda_emulator::control_plane::ControlPlaneEvent>,
    served: Option<Served>,
    stop: watch::Sender<bool>,
    collector: JoinHandle<Collected>,
    /// Keeps the prepared artifacts' temporary directories for as long as the plane runs.
    _prepared: artifacts::Prepared,
}

/// Prepares the artifacts (printing their notes), starts the control plane and its collector,
/// serves (and provisions what the options ask for), and prints the endpoints.
pub async fn start(launch: Launch, printer: Printer) -> anyhow::Result<FrontEnd> {
    let artifact_options = launch.sandbox.artifacts;
    let prepared = tokio::task::spawn_blocking(move || artifacts::prepare(&artifact_options))
        .await
        .context("preparing the artifacts")??;
    for note in &prepared.notes {
        eprintln!("note: {note}");
    }
    // Roomy: under load every environment's lines pass through here; a lagging reader is
    // warned about, never silent.
    // Tenant isolation does not go with SnapStart, provisioned concurrency or Managed
    // Instances (`serve`'s flags refuse those together already).
    launch
        .plane
        .check_tenancy()
        .context("the sandbox's options")?;
    let (logs, _) = broadcast::channel(32_768);
    let log_rx = logs.subscribe();
    let function_name = launch.function.function_name.clone();
    let tenant_isolation = launch.plane.tenant_isolation;
    let plane = ControlPlane::new(
        launch.function,
        prepared.artifacts.clone(),
        launch.plane,
        logs,
    );
    let (stop, stop_rx) = watch::channel(false);
    let collector = tokio::spawn(collect(
        log_rx,
        plane.subscribe(),
        stop_rx,
        printer,
        launch.sandbox.show_logs,
    ));
    let served = plane.serve(launch.ports.0, launch.ports.1).await?;
    // Subscribed before anything starts ahead of demand, so that a script sees those starts.
    let events = plane.subscribe();
    let function_url = format!("http://{}/", served.endpoints.function_url);
    let endpoints = EndpointsRecord {
        function_name,
        lambda_api: format!("http://{}", served.endpoints.lambda_api),
        function_url: (!tenant_isolation).then(|| function_url.clone()),
        tenant_isolation,
    };
    // The endpoints first, then what starts ahead of demand: a script that reads the endpoints
    // line before anything else misses none of the provisioned environments' lines.
    printer.print(&endpoints);
    plane.provision();
    Ok(FrontEnd {
        plane,
        lambda_api: endpoints.lambda_api,
        function_url,
        has_layer: prepared.has_layer,
        events,
        served: Some(served),
        stop,
        collector,
        _prepared: prepared,
    })
}

impl FrontEnd {
    /// Stops accepting requests; the environments are left to the plane's close.
    pub fn stop_serving(&mut self) {
        if let Some(served) = self.served.take() {
            served.stop();
        }
    }

    /// Stops serving, lets the collector read the log to its quiet end, and returns what it
    /// gathered.
    pub async fn finish(mut self) -> anyhow::Result<Collected> {
        self.stop_serving();
        let _ = self.stop.send(true);
        self.collector.await.context("the log collector")
    }
}
