//! The whole environment's init with and without the coldmark layer, in the local Lambda
//! (`lambda_emulator::environment::Environment::start`): the clock function's `bootstrap`
//! alone, then with `/opt/extensions/coldmark` beside it, as Lambda would start them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lambda_emulator::environment::{
    Artifacts, Environment, EnvironmentOptions, FunctionConfig, ShutdownReason,
};

use crate::stats::Summary;

/// One configuration's figures, in milliseconds.
#[derive(Clone, Debug)]
pub struct EnvInit {
    pub label: String,
    /// `Environment::start` wall time (spawn of everything → init complete).
    pub start_ms: Summary,
    /// The platform's initStart → initReport (`InitSummary::duration_ms`).
    pub init_report_ms: Summary,
    /// The sandbox's own view of coldmark's spawn → first `/event/next`, when present.
    pub coldmark_first_next_ms: Option<Summary>,
}

fn config() -> FunctionConfig {
    FunctionConfig {
        function_name: crate::process::FUNCTION_NAME.to_string(),
        version: "$LATEST".to_string(),
        memory_mb: 128,
        timeout: Duration::from_secs(3),
        handler: "bootstrap".to_string(),
        environment: BTreeMap::new(),
    }
}

/// `runs` inits of each configuration, alternating, each shut down before the next.
pub async fn environment_init(
    bootstrap: &Path,
    coldmark: &Path,
    runs: usize,
) -> Result<Vec<EnvInit>> {
    // The same `/opt`-style layer directory the sandbox's own tools build: the binary as
    // `extensions/coldmark`, the name it registers with.
    let layer = lambda_emulator::artifacts::layer(&[("coldmark", coldmark)])?;
    let configurations = [
        ("function alone", Vec::new()),
        (
            "function + coldmark layer",
            vec![layer.path().to_path_buf()],
        ),
    ];
    let mut start = vec![Vec::new(); 2];
    let mut report = vec![Vec::new(); 2];
    let mut own = vec![Vec::new(); 2];
    for _ in 0..runs {
        for (i, (_, layers)) in configurations.iter().enumerate() {
            let artifacts = Artifacts {
                bootstrap: bootstrap.to_path_buf(),
                layers: layers.clone(),
                launcher: Vec::new(),
            };
            let options = EnvironmentOptions {
                freeze: false,
                ..EnvironmentOptions::default()
            };
            let (logs, _) = tokio::sync::broadcast::channel(1024);
            let began = Instant::now();
            let environment = Environment::start(config(), artifacts, options, logs)
                .await
                .context("starting a sandbox environment")?;
            start[i].push(began.elapsed());
            if let Some(summary) = environment.last_init() {
                report[i].push(summary.duration_ms);
            }
            for timing in environment.extension_timings() {
                if let Some(first) = timing.first_next_at {
                    own[i].push(first - timing.spawned_at);
                }
            }
            environment.shutdown(ShutdownReason::Spindown).await;
        }
    }
    Ok(configurations
        .iter()
        .enumerate()
        .map(|(i, (label, _))| EnvInit {
            label: label.to_string(),
            start_ms: Summary::of_ms(&start[i]),
            init_report_ms: Summary::of(&report[i]),
            coldmark_first_next_ms: (!own[i].is_empty()).then(|| Summary::of_ms(&own[i])),
        })
        .collect())
}
