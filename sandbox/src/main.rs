//! `coldmark-sandbox`: run the experiment (`experiment`), serve the sandbox for the AWS CLI
//! (`serve`), repeat the experiment's client loop against a real Function URL (`probe`), or
//! start an environment for every reason the sandbox can produce (`causes`).
//!
//! Exit codes say what happened: 0 done (`experiment`: verdict YES), 1 the answer is not yes
//! (`experiment`: any verdict but YES; `probe`: no request got a clock answer) or the run failed
//! (the message says which), 2 bad arguments.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use coldmark_sandbox::artifacts::ArtifactOptions;
use coldmark_sandbox::experiment::{self, ExperimentOptions};
use coldmark_sandbox::front_end::SandboxOptions;
use coldmark_sandbox::output::Printer;
use coldmark_sandbox::{causes, probe, serve};
use lambda_emulator::control_plane::{DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_ENVIRONMENTS};
use lambda_emulator::environment::InitRecordOrder;

#[derive(Parser)]
#[command(
    name = "coldmark-sandbox",
    version,
    about = "A local AWS Lambda execution environment, and the cold-start experiment on it",
    after_help = "Exit codes: 0 done (experiment: verdict YES), 1 experiment verdict other than \
YES, probe without a single clock answer, or a failed run, 2 bad arguments."
)]
struct Cli {
    /// More diagnostics on stderr (-v: info, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the experiment: change USER mid-stream and watch a new environment init (exit 0 on
    /// a YES verdict, 1 on any other).
    Experiment(ExperimentArgs),
    /// Serve the function (Lambda API + Function URL) until Ctrl-C, for the AWS CLI or SDKs.
    Serve(ServeArgs),
    /// The experiment's client loop against any Function URL (e.g. a real one on AWS); exit 1
    /// when no request got a clock answer, 2 on a URL it cannot use.
    Probe(ProbeArgs),
    /// A scripted run that starts an environment for every reason the sandbox can produce
    /// (first-seen, scale-out, replacement, configuration-change, new-version, after-failure,
    /// new-tenant), failed and timed-out inits among them, printing the sandbox's reasons next
    /// to coldmark's markers.
    Causes(CausesArgs),
}

#[derive(Args)]
struct CausesArgs {
    /// Concurrent requests of the burst that produces scale-out.
    #[arg(long, default_value_t = 3)]
    burst: usize,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// What to run and how: shared by `experiment` and `serve`.
#[derive(Args, Clone)]
struct SandboxArgs {
    /// The function's bootstrap executable (default: build coldmark-clock from this workspace).
    #[arg(long, value_name = "PATH")]
    function: Option<PathBuf>,
    /// A layer directory (laid out like /opt) or zip; repeatable (default: build the coldmark
    /// extension into a temporary layer).
    #[arg(long, value_name = "DIR_OR_ZIP")]
    layer: Vec<PathBuf>,
    /// Run without any layer (no extension, no markers).
    #[arg(long, conflicts_with = "layer")]
    no_layer: bool,
    /// Command prefix for every process, e.g. "qemu-aarch64-static -L /usr/aarch64-linux-gnu".
    #[arg(long, value_name = "CMD ARGS")]
    launcher: Option<String>,
    /// Do not SIGSTOP the processes between invocations.
    #[arg(long)]
    no_freeze: bool,
    /// Environments that may initialise or run at once; beyond it requests get 429.
    #[arg(long, default_value_t = DEFAULT_MAX_ENVIRONMENTS)]
    max_environments: usize,
    /// Cargo profile for what the sandbox builds itself.
    #[arg(long, default_value = "release")]
    cargo_profile: String,
    /// Print every log line of the environments, not only coldmark's markers.
    #[arg(long)]
    show_logs: bool,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Spin down an environment idle for this many milliseconds (SHUTDOWN, reason spindown),
    /// as Lambda does after minutes without traffic (default: never).
    #[arg(long, value_name = "MS")]
    idle_reclaim_ms: Option<u64>,
    /// When init's telemetry records go out: `lambda` (Lambda's own order: initRuntimeDone
    /// after every extension is ready, then platform.extension, then initReport) or
    /// `runtime-next` (the sandbox's earlier order: initRuntimeDone at the runtime's first
    /// /next, platform.extension at each registration).
    #[arg(long, value_enum, default_value_t = InitRecords::Lambda)]
    init_records: InitRecords,
    /// Run on Lambda Managed Instances: environments started ahead of traffic (three per
    /// configuration), never frozen, each taking up to --max-concurrency invocations at once;
    /// extensions may register for SHUTDOWN only, telemetry is schema 2025-01-29.
    #[arg(long)]
    managed_instances: bool,
    /// Invocations one Managed Instances environment takes at once
    /// (PerExecutionEnvironmentMaxConcurrency, 1-1600; AWS's default for Rust: 8 per vCPU).
    #[arg(long, value_name = "N", requires = "managed_instances",
          default_value_t = DEFAULT_MAX_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..=1600))]
    max_concurrency: u32,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum InitRecords {
    Lambda,
    RuntimeNext,
}

impl From<InitRecords> for InitRecordOrder {
    fn from(value: InitRecords) -> Self {
        match value {
            InitRecords::Lambda => InitRecordOrder::Lambda,
            InitRecords::RuntimeNext => InitRecordOrder::AtRuntimeNext,
        }
    }
}

impl SandboxArgs {
    /// The sandbox these flags ask for.
    fn options(&self) -> SandboxOptions {
        SandboxOptions {
            artifacts: self.artifacts(),
            freeze: !self.no_freeze,
            max_environments: self.max_environments,
            show_logs: self.show_logs,
            idle_reclaim: self.idle_reclaim(),
            init_records: self.init_records.into(),
            managed_instances: self.managed_instances.then_some(self.max_concurrency),
        }
    }

    fn idle_reclaim(&self) -> Option<Duration> {
        self.idle_reclaim_ms.map(Duration::from_millis)
    }

    fn artifacts(&self) -> ArtifactOptions {
        ArtifactOptions {
            function: self.function.clone(),
            layers: self.layer.clone(),
            no_layer: self.no_layer,
            launcher: self.launcher.clone(),
            cargo_profile: self.cargo_profile.clone(),
        }
    }
}

#[derive(Args)]
struct ExperimentArgs {
    /// Milliseconds between requests.
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// Requests in all.
    #[arg(long, default_value_t = 12)]
    requests: usize,
    /// Change USER after this many requests.
    #[arg(long, default_value_t = 6)]
    change_after: usize,
    /// Another environment variable of the function from the start, KEY=VALUE; repeatable
    /// (e.g. COLDMARK_SINK=stdout,otlp and OTEL_EXPORTER_OTLP_ENDPOINT=... to send the
    /// markers to an OpenTelemetry collector too). USER is the experiment's own.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    env: Vec<(String, String)>,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// Port of the Lambda API (0: any free port; the endpoints are printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Port of the Function URL (0: any free port).
    #[arg(long, default_value_t = 0)]
    url_port: u16,
    /// The function's name.
    #[arg(long, default_value = coldmark_sandbox::front_end::FUNCTION_NAME)]
    function_name: String,
    /// An environment variable of the function, KEY=VALUE; repeatable (default USER=user).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    env: Vec<(String, String)>,
    /// Memory size in MB (default 128; 2048, the smallest size, on Managed Instances).
    #[arg(long)]
    memory: Option<u32>,
    /// Function timeout in seconds.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
    /// Environments to initialise ahead of demand (provisioned concurrency), again after each
    /// configuration update.
    #[arg(long, default_value_t = 0, conflicts_with = "managed_instances")]
    provisioned_concurrency: usize,
    /// SnapStart: init once (the snapshot), then every new environment reports a restore
    /// (restoreStart / restoreRuntimeDone / restoreReport). No memory is snapshotted.
    #[arg(long, conflicts_with = "managed_instances")]
    snap_start: bool,
    /// Tenant isolation (TenancyConfig PER_TENANT): every invoke names its tenant
    /// (`aws lambda invoke --tenant-id T`), each tenant gets environments of its own, and the
    /// function has no Function URL. AWS does not offer it with SnapStart, provisioned
    /// concurrency, Function URLs or Managed Instances, so those flags are refused with it.
    #[arg(long, conflicts_with_all = ["snap_start", "provisioned_concurrency", "managed_instances", "url_port"])]
    tenant_isolation: bool,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

#[derive(Args)]
struct ProbeArgs {
    /// The Function URL (http:// or https://).
    #[arg(long, value_parser = parse_url)]
    url: reqwest::Url,
    /// Milliseconds between requests.
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// Requests in all.
    #[arg(long, default_value_t = 12)]
    requests: usize,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))?;
    Ok((k.to_owned(), v.to_owned()))
}

/// A URL the probe can call: absolute, http or https.
fn parse_url(s: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.has_host() => Ok(url),
        "http" | "https" => Err("the URL names no host".to_owned()),
        other => Err(format!("`{other}:` is not http or https")),
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Experiment(args) => {
            let printer = Printer {
                json: args.sandbox.json,
            };
            if args.change_after == 0 || args.change_after >= args.requests {
                eprintln!("error: --change-after must be between 1 and --requests - 1");
                return ExitCode::from(2);
            }
            if args.env.iter().any(|(key, _)| key == "USER") {
                eprintln!("error: --env USER=...: USER is the variable the experiment changes");
                return ExitCode::from(2);
            }
            let options = ExperimentOptions {
                interval: Duration::from_millis(args.interval_ms),
                requests: args.requests,
                change_after: args.change_after,
                variables: args.env.into_iter().collect(),
                sandbox: args.sandbox.options(),
                ..ExperimentOptions::default()
            };
            match experiment::run(options, printer).await {
                // The verdict is printed; the exit code says it to scripts.
                Ok(verdict) if !verdict.new_init_after_change => return ExitCode::from(1),
                result => result.map(|_| ()),
            }
        }
        Command::Serve(args) => {
            let printer = Printer {
                json: args.sandbox.json,
            };
            let environment: BTreeMap<String, String> = if args.env.is_empty() {
                BTreeMap::from([("USER".to_owned(), "user".to_owned())])
            } else {
                args.env.into_iter().collect()
            };
            let options = serve::ServeOptions {
                lambda_api_port: args.port,
                function_url_port: args.url_port,
                function_name: args.function_name,
                environment,
                memory_mb: match args.sandbox.options().memory_mb(args.memory) {
                    Ok(mb) => mb,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        return ExitCode::from(2);
                    }
                },
                timeout: Duration::from_secs(args.timeout),
                sandbox: args.sandbox.options(),
                provisioned_concurrency: args.provisioned_concurrency,
                snap_start: args.snap_start,
                tenant_isolation: args.tenant_isolation,
            };
            serve::run(options, printer, shutdown_signal(), shutdown_signal()).await
        }
        Command::Causes(args) => {
            let printer = Printer {
                json: args.sandbox.json,
            };
            let defaults = causes::CausesOptions::default();
            let options = causes::CausesOptions {
                idle_reclaim: args.sandbox.idle_reclaim().unwrap_or(defaults.idle_reclaim),
                burst: args.burst,
                sandbox: args.sandbox.options(),
                ..defaults
            };
            causes::run(options, printer).await.map(|_| ())
        }
        Command::Probe(args) => {
            let printer = Printer { json: args.json };
            match probe::run(
                args.url.as_str(),
                Duration::from_millis(args.interval_ms),
                args.requests,
                &printer,
            )
            .await
            {
                Ok(summary) if summary.answered == 0 => {
                    eprintln!(
                        "error: none of the {} requests got an answer from the clock function at {}",
                        summary.requests, args.url
                    );
                    return ExitCode::from(1);
                }
                result => result.map(|_| ()),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C or SIGTERM: stop serving and spin every environment down (a second one, polled only
/// after the first arrived, kills them at once).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
