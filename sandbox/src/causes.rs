//! `causes`: one scripted run that makes the sandbox start an environment for every reason it
//! can produce, so that a cause attribution read from coldmark's markers can be checked against
//! the sandbox's own `environment_start` events in the same output.
//!
//! The script, each step through the Lambda API as the AWS CLI would call it:
//! 1. one request — `first-seen`;
//! 2. a burst of concurrent requests that each sleep (`clock_sleep_ms`): one is served warm, the
//!    others find every environment busy — `scale-out`;
//! 3. silence until idle reclaim has spun every environment down (`spindown`), then a request —
//!    `replacement`;
//! 4. `UpdateFunctionConfiguration` (USER changes), then a request — `configuration-change`;
//! 5. `PublishVersion`, then a request for that version — `new-version`
//!    (`AWS_LAMBDA_FUNCTION_VERSION` = 1);
//! 6. a request that crashes the function (`clock_crash`: SHUTDOWN `failure`), then one more —
//!    `after-failure` (init re-runs in the invoke phase, same environment);
//! 7. a request that sleeps past the function's timeout (SHUTDOWN `timeout`), then one more —
//!    `after-failure`;
//! 8. failed inits (`failed_inits.rs`, the clock function's `CLOCK_INIT_FAIL`): an init that
//!    fails and whose retry inside the request succeeds, one whose retry fails too (that
//!    environment serves nothing: an init nobody used), one that times out — each a
//!    `configuration-change` whose init failed, then its retry, `after-failure`;
//! 9. tenant isolation (`tenants.rs`) on a function created with `TenancyConfig` `PER_TENANT`:
//!    two tenants' first environments (`new-tenant`), a second environment of one tenant
//!    (`scale-out` within the tenant), and an invoke without a tenant id, refused.
//!
//! Steps follow each other without pause (well inside the idle-reclaim time), so no environment
//! is reclaimed where the script does not wait for it.
//!
//! On Lambda Managed Instances (`--managed-instances`) no request starts an environment: they
//! start ahead of traffic, so a step's starts are those that happened while it ran. The script
//! there: the three environments started ahead (`first-seen`), then a request; a burst of one
//! more request than three environments take at once (`scale-out`); a request after idle
//! reclaim (`replacement`); `UpdateFunctionConfiguration` (three `configuration-change`);
//! `PublishVersion` (three `new-version`); a request that crashes the function and one after it
//! (no start: another environment of the version serves, the crashed one is spun down).
//! Environments started ahead that never serve a request end with 0 invocations there.

mod failed_inits;
mod options;
mod report;
mod requests;
mod script;
mod tenants;

pub use options::{CausesOptions, PRODUCED, PRODUCED_MANAGED};
pub use report::{CausesSummary, StepRecord, StepStart};
pub use tenants::TENANT_FUNCTION;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;

use lambda_emulator::control_plane::start_reason::StartReason;
use lambda_emulator::environment::{FunctionConfig, InitRecordOrder};

use crate::front_end::{start, Launch, SandboxOptions, FUNCTION_NAME};
use crate::output::Printer;
use requests::Api;
use script::Script;

/// Runs the script, printing markers, environment events and steps as it goes; returns the
/// summary (also printed). An error when a step did not start what it was meant to.
pub async fn run(options: CausesOptions, printer: Printer) -> anyhow::Result<CausesSummary> {
    if options.burst < 2 || options.burst > options.sandbox.max_environments {
        bail!("the burst needs 2 to --max-environments concurrent requests");
    }
    // The same environments as `experiment` and `serve`, in Lambda's record order, with the
    // port setting that lets the burst's environments share this host, and a short init
    // timeout for the timed-out init.
    let sandbox = SandboxOptions {
        idle_reclaim: Some(options.idle_reclaim),
        init_records: InitRecordOrder::Lambda,
        ..options.sandbox.clone()
    };
    let mut plane = sandbox.plane();
    plane.environment.init_timeout = options.init_timeout;
    let mut front = start(
        Launch {
            plane,
            sandbox,
            function: FunctionConfig {
                function_name: FUNCTION_NAME.into(),
                version: "$LATEST".into(),
                memory_mb: options.sandbox.memory_mb(None)?,
                timeout: options.timeout,
                handler: "bootstrap".into(),
                environment: BTreeMap::from([("USER".to_owned(), "user".to_owned())]),
            },
            ports: (0, 0),
        },
        printer,
    )
    .await?;

    let api = Api {
        client: reqwest::Client::new(),
        base: front.lambda_api.clone(),
    };
    let events = std::mem::replace(&mut front.events, front.plane.subscribe());
    let mut script = Script::new(api, events, printer);
    let produced: &[StartReason] = if options.sandbox.managed_instances.is_some() {
        &PRODUCED_MANAGED
    } else {
        &PRODUCED
    };
    let bootstrap = front.plane.function().artifacts.bootstrap;
    let result = match options.sandbox.managed_instances {
        Some(max_concurrency) => script.play_managed(&options, max_concurrency).await,
        None => {
            async {
                script.play(&options).await?;
                failed_inits::play(&mut script).await?;
                tenants::play(&mut script, &options, &bootstrap).await
            }
            .await
        }
    };

    front.plane.close(Duration::from_secs(10)).await;
    front.finish().await?;
    result?;

    let mut starts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed_inits = 0;
    for step in &script.steps {
        for start in &step.starts {
            *starts.entry(start.reason.as_str().to_owned()).or_default() += 1;
            failed_inits += usize::from(start.init_status != "success");
        }
    }
    let missing: Vec<StartReason> = produced
        .iter()
        .copied()
        .filter(|r| !starts.contains_key(r.as_str()))
        .collect();
    let failed: Vec<usize> = script
        .steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| s.step)
        .collect();
    let ok = missing.is_empty() && failed.is_empty();
    let summary = CausesSummary {
        starts,
        failed_inits,
        missing: missing.clone(),
        ok,
        summary: if ok {
            format!(
                "every reason produced ({}); every step started what it was meant to",
                produced
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("steps {failed:?} did not start what they were meant to; missing {missing:?}")
        },
    };
    printer.print(&summary);
    if !ok {
        bail!("{}", summary.summary);
    }
    Ok(summary)
}
