//! `serve`: the control plane on its own, for users who drive it with the AWS CLI or an SDK
//! (`aws --endpoint-url http://127.0.0.1:PORT lambda invoke ...`) or with any HTTP client on the
//! Function URL. Markers (and with `--show-logs` every log line) are printed as they arrive,
//! with the sandbox's `environment_start` / `environment_stop` events; with `--json` every line
//! is one JSON object, so the log can be piped into a tool.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{broadcast, watch};

use crate::artifacts::{self, ArtifactOptions};
use crate::control_plane::{ControlPlane, ControlPlaneOptions};
use crate::environment::FunctionConfig;
use crate::experiment::collect;
use crate::output::{EndpointsRecord, Output, Printer};

/// What `serve` was asked to run.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub lambda_api_port: u16,
    pub function_url_port: u16,
    pub function_name: String,
    pub environment: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub artifacts: ArtifactOptions,
    pub freeze: bool,
    pub max_environments: usize,
    pub show_logs: bool,
    /// Spin down environments idle this long (`--idle-reclaim-ms`).
    pub idle_reclaim: Option<Duration>,
    /// When init's telemetry records go out (`--init-records`).
    pub init_records: crate::environment::InitRecordOrder,
    /// Environments initialised ahead of demand (`--provisioned-concurrency`).
    pub provisioned_concurrency: usize,
    /// SnapStart mode (`--snap-start`).
    pub snap_start: bool,
}

/// How long invocations in flight may still finish after the stop signal.
pub const EXIT_GRACE: Duration = Duration::from_secs(10);
/// How long the environments' shutdowns may take after that (SHUTDOWN's 2 s deadline, reading
/// the pipes to their end, and a margin) before whatever is left is killed.
pub const SHUTDOWN_ALLOWANCE: Duration = Duration::from_secs(4);

/// Serves until `shutdown` completes, then spins every environment down: every process is
/// thawed and gets SHUTDOWN, and every line it writes until it ends is printed. Bounded: after
/// [`EXIT_GRACE`] + [`SHUTDOWN_ALLOWANCE`] whatever is left is killed; `force` completing (a
/// second Ctrl-C) kills everything at once.
pub async fn run(
    options: ServeOptions,
    printer: Printer,
    shutdown: impl Future<Output = ()>,
    force: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let artifact_options = options.artifacts.clone();
    let prepared = tokio::task::spawn_blocking(move || artifacts::prepare(&artifact_options))
        .await
        .context("preparing the artifacts")??;
    for note in &prepared.notes {
        eprintln!("note: {note}");
    }
    // Roomy: under load every environment's lines pass through here; a lagging reader is
    // warned about, never silent.
    let (logs, _) = broadcast::channel(32_768);
    let log_rx = logs.subscribe();
    let config = FunctionConfig {
        function_name: options.function_name.clone(),
        version: "$LATEST".into(),
        memory_mb: options.memory_mb,
        timeout: options.timeout,
        handler: "bootstrap".into(),
        environment: options.environment.clone(),
    };
    let plane = ControlPlane::new(
        config,
        prepared.artifacts.clone(),
        ControlPlaneOptions {
            max_environments: options.max_environments,
            provisioned_concurrency: options.provisioned_concurrency,
            snap_start: options.snap_start,
            environment: crate::experiment::front_end_environment(
                options.freeze,
                options.init_records,
            ),
            idle_reclaim: options.idle_reclaim,
            ..ControlPlaneOptions::default()
        },
        logs,
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let collector = tokio::spawn(collect(
        log_rx,
        plane.subscribe(),
        stop_rx,
        printer,
        options.show_logs,
    ));
    let served = plane
        .serve(options.lambda_api_port, options.function_url_port)
        .await?;
    plane.provision();
    printer.print(&Output::Endpoints(EndpointsRecord {
        function_name: options.function_name.clone(),
        lambda_api: format!("http://{}", served.endpoints.lambda_api),
        function_url: format!("http://{}/", served.endpoints.function_url),
    }));
    shutdown.await;
    served.stop();
    tokio::select! {
        finished = plane.close_within(EXIT_GRACE, SHUTDOWN_ALLOWANCE) => {
            if !finished {
                eprintln!("warning: some environments did not shut down in time and were killed; their last lines may be missing");
            }
        }
        _ = force => {
            plane.kill_all();
            eprintln!("warning: interrupted again: every environment was killed; lines they had not written yet are lost");
        }
    }
    let _ = stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(2), collector)
        .await
        .is_err()
    {
        eprintln!("warning: the output was still busy at exit");
    }
    Ok(())
}
