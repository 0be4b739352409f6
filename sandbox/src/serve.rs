//! `serve`: the control plane on its own, for users who drive it with the AWS CLI or an SDK
//! (`aws --endpoint-url http://127.0.0.1:PORT lambda invoke ...`) or with any HTTP client on the
//! Function URL. Markers (and with `--show-logs` every log line) are printed as they arrive,
//! with the sandbox's `environment_start` / `environment_stop` events; with `--json` every line
//! is one JSON object, so the log can be piped into a tool.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use lambda_emulator::control_plane::ControlPlaneOptions;
use lambda_emulator::environment::FunctionConfig;

use crate::front_end::{start, Launch, SandboxOptions, EXIT_GRACE, SHUTDOWN_ALLOWANCE};
use crate::output::Printer;

/// What `serve` was asked to run.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub lambda_api_port: u16,
    pub function_url_port: u16,
    pub function_name: String,
    pub environment: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub sandbox: SandboxOptions,
    /// Environments initialised ahead of demand (`--provisioned-concurrency`).
    pub provisioned_concurrency: usize,
    /// SnapStart mode (`--snap-start`).
    pub snap_start: bool,
    /// Tenant isolation (`--tenant-isolation`): the function as if created with `TenancyConfig`
    /// `PER_TENANT`.
    pub tenant_isolation: bool,
}

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
    let mut front = start(
        Launch {
            sandbox: options.sandbox.clone(),
            function: FunctionConfig {
                function_name: options.function_name.clone(),
                version: "$LATEST".into(),
                memory_mb: options.memory_mb,
                timeout: options.timeout,
                handler: "bootstrap".into(),
                environment: options.environment.clone(),
            },
            plane: ControlPlaneOptions {
                provisioned_concurrency: options.provisioned_concurrency,
                snap_start: options.snap_start,
                tenant_isolation: options.tenant_isolation,
                ..options.sandbox.plane()
            },
            ports: (options.lambda_api_port, options.function_url_port),
        },
        printer,
    )
    .await?;
    shutdown.await;
    front.stop_serving();
    tokio::select! {
        finished = front.plane.close_within(EXIT_GRACE, SHUTDOWN_ALLOWANCE) => {
            if !finished {
                eprintln!("warning: some environments did not shut down in time and were killed; their last lines may be missing");
            }
        }
        _ = force => {
            front.plane.kill_all();
            eprintln!("warning: interrupted again: every environment was killed; lines they had not written yet are lost");
        }
    }
    if tokio::time::timeout(Duration::from_secs(2), front.finish())
        .await
        .is_err()
    {
        eprintln!("warning: the output was still busy at exit");
    }
    Ok(())
}
