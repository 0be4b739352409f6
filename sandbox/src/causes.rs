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
//!    `after-failure`.
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

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use lambda_emulator::control_plane::start_reason::StartReason;
use lambda_emulator::control_plane::ControlPlaneEvent;
use lambda_emulator::environment::{FunctionConfig, InitRecordOrder};

use crate::front_end::{start, Launch, SandboxOptions, FUNCTION_NAME};
use crate::lambda_client::set_variable;
use crate::output::{short, Printer, Record};

/// What `causes` was asked to run.
#[derive(Clone, Debug)]
pub struct CausesOptions {
    /// The sandbox; its environments always get Lambda's init record order, and
    /// `max_environments` must be at least the burst.
    pub sandbox: SandboxOptions,
    /// Idle reclaim: long enough that the script's steps never wait that long by accident.
    pub idle_reclaim: Duration,
    /// Concurrent requests of the burst (≥ 2).
    pub burst: usize,
    /// How long each request of the burst sleeps in the handler.
    pub burst_sleep: Duration,
    /// The function's timeout (whole seconds, as on Lambda); the timeout step sleeps 1 s longer.
    pub timeout: Duration,
}

impl Default for CausesOptions {
    fn default() -> Self {
        Self {
            sandbox: SandboxOptions::default(),
            idle_reclaim: Duration::from_millis(2000),
            burst: 3,
            burst_sleep: Duration::from_millis(1000),
            timeout: Duration::from_secs(2),
        }
    }
}

/// An environment start a step caused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepStart {
    pub env_id: String,
    pub reason: StartReason,
}

/// `{"type":"causes_step", ...}`: one step of the script and the starts it caused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    pub step: usize,
    /// What the step did.
    pub action: String,
    /// The version its requests named.
    pub function_version: String,
    /// The reason every start of the step must have (none: the step must start nothing).
    pub expected: Option<StartReason>,
    /// The requests it sent (`x-amzn-RequestId`).
    pub request_ids: Vec<String>,
    pub starts: Vec<StepStart>,
    /// What the function answered, per request: `ok` or the `X-Amz-Function-Error` kind.
    pub outcomes: Vec<String>,
    pub ok: bool,
}

impl Record for StepRecord {
    const TYPE: &'static str = "causes_step";

    fn text(&self) -> String {
        let starts: Vec<String> = self
            .starts
            .iter()
            .map(|s| format!("{} {}", short(&s.env_id), s.reason))
            .collect();
        format!(
            "---- step {}: {} (version {}) -> {} start(s){}{} [{}] ----",
            self.step,
            self.action,
            self.function_version,
            self.starts.len(),
            if starts.is_empty() { "" } else { ": " },
            starts.join(", "),
            if self.ok { "as expected" } else { "UNEXPECTED" }
        )
    }
}

/// `{"type":"causes_summary", ...}`: how many starts of each reason the run produced.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CausesSummary {
    /// Reason → environment starts with that reason.
    pub starts: BTreeMap<String, usize>,
    /// Reasons the script is meant to produce and did not.
    pub missing: Vec<StartReason>,
    /// Every step started what it was meant to, and nothing else.
    pub ok: bool,
    pub summary: String,
}

impl Record for CausesSummary {
    const TYPE: &'static str = "causes_summary";

    fn text(&self) -> String {
        let counts: Vec<String> = self
            .starts
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        format!(
            "\ncauses: {}\n  starts: {}",
            self.summary,
            counts.join(", ")
        )
    }
}

/// The reasons the script produces on Lambda Managed Instances (`after-failure` is not one:
/// an environment that failed there is replaced by those already running, not re-initialised).
pub const PRODUCED_MANAGED: [StartReason; 5] = [
    StartReason::FirstSeen,
    StartReason::ScaleOut,
    StartReason::Replacement,
    StartReason::ConfigurationChange,
    StartReason::NewVersion,
];

/// The reasons the script produces.
pub const PRODUCED: [StartReason; 6] = [
    StartReason::FirstSeen,
    StartReason::ScaleOut,
    StartReason::Replacement,
    StartReason::ConfigurationChange,
    StartReason::NewVersion,
    StartReason::AfterFailure,
];

/// Runs the script, printing markers, environment events and steps as it goes; returns the
/// summary (also printed). An error when a step did not start what it was meant to.
pub async fn run(options: CausesOptions, printer: Printer) -> anyhow::Result<CausesSummary> {
    if options.burst < 2 || options.burst > options.sandbox.max_environments {
        bail!("the burst needs 2 to --max-environments concurrent requests");
    }
    // The same environments as `experiment` and `serve`, in Lambda's record order, with the
    // port setting that lets the burst's environments share this host.
    let sandbox = SandboxOptions {
        idle_reclaim: Some(options.idle_reclaim),
        init_records: InitRecordOrder::Lambda,
        ..options.sandbox.clone()
    };
    let mut front = start(
        Launch {
            plane: sandbox.plane(),
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

    let mut script = Script {
        client: reqwest::Client::new(),
        lambda_api: front.lambda_api.clone(),
        events: std::mem::replace(&mut front.events, front.plane.subscribe()),
        printer,
        steps: Vec::new(),
        started: Vec::new(),
        stopped: Vec::new(),
        window_from: None,
    };
    let produced: &[StartReason] = if options.sandbox.managed_instances.is_some() {
        &PRODUCED_MANAGED
    } else {
        &PRODUCED
    };
    let result = match options.sandbox.managed_instances {
        Some(max_concurrency) => script.play_managed(&options, max_concurrency).await,
        None => script.play(&options).await,
    };

    front.plane.close(Duration::from_secs(10)).await;
    front.finish().await?;
    result?;

    let mut starts: BTreeMap<String, usize> = BTreeMap::new();
    for step in &script.steps {
        for start in &step.starts {
            *starts.entry(start.reason.as_str().to_owned()).or_default() += 1;
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

/// The script's state: its client, the control plane's events, and what each step did.
struct Script {
    client: reqwest::Client,
    lambda_api: String,
    events: broadcast::Receiver<ControlPlaneEvent>,
    printer: Printer,
    steps: Vec<StepRecord>,
    /// Every start seen so far: (env_id, reason, request_id).
    started: Vec<(String, StartReason, String)>,
    /// Environments spun down so far.
    stopped: Vec<String>,
    /// Managed Instances: a step's starts are those seen since this index of `started` (no
    /// request starts an environment there). `None`: a step's starts are its requests'.
    window_from: Option<usize>,
}

/// One answered invocation as the script saw it.
struct Answer {
    request_id: String,
    outcome: String,
}

impl Script {
    async fn play(&mut self, options: &CausesOptions) -> anyhow::Result<()> {
        let latest = "$LATEST";
        let a = self.invoke(latest, serde_json::json!({})).await?;
        self.step("one request", latest, Some(StartReason::FirstSeen), vec![a]);

        self.burst_step(
            options,
            options.burst,
            format!("a burst of {} concurrent requests", options.burst),
        )
        .await?;
        self.replacement_step(options).await?;
        self.configuration_change_step(None).await?;
        let version = self.new_version_step(None).await?;

        let a = self
            .invoke(&version, serde_json::json!({ "clock_crash": true }))
            .await?;
        self.step(
            "a request that crashes the function",
            &version,
            None,
            vec![a],
        );
        let a = self.invoke(&version, serde_json::json!({})).await?;
        self.step(
            "a request after the crash",
            &version,
            Some(StartReason::AfterFailure),
            vec![a],
        );

        let past_timeout = (options.timeout + Duration::from_secs(1)).as_millis() as u64;
        let a = self
            .invoke(
                &version,
                serde_json::json!({ "clock_sleep_ms": past_timeout }),
            )
            .await?;
        self.step(
            "a request that runs past the function's timeout",
            &version,
            None,
            vec![a],
        );
        let a = self.invoke(&version, serde_json::json!({})).await?;
        self.step(
            "a request after the timeout",
            &version,
            Some(StartReason::AfterFailure),
            vec![a],
        );
        Ok(())
    }

    /// Reads the control plane's events so far.
    fn drain(&mut self) {
        loop {
            match self.events.try_recv() {
                Ok(ControlPlaneEvent::EnvironmentStarted {
                    env_id,
                    reason,
                    request_id,
                    ..
                }) => self.started.push((env_id, reason, request_id)),
                Ok(ControlPlaneEvent::EnvironmentStopped { env_id, .. }) => {
                    self.stopped.push(env_id)
                }
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::warn!("the causes script missed {n} events");
                }
                Err(_) => break,
            }
        }
    }

    /// Records a step: the starts its requests caused, checked against `expected`.
    fn step(
        &mut self,
        action: &str,
        version: &str,
        expected: Option<StartReason>,
        answers: Vec<Answer>,
    ) {
        self.drain();
        let request_ids: Vec<String> = answers.iter().map(|a| a.request_id.clone()).collect();
        let window = self.window_from;
        let starts: Vec<StepStart> = self
            .started
            .iter()
            .enumerate()
            .filter(|(i, (_, _, request))| match window {
                Some(from) => *i >= from,
                None => request_ids.contains(request),
            })
            .map(|(_, (env_id, reason, _))| StepStart {
                env_id: env_id.clone(),
                reason: *reason,
            })
            .collect();
        if window.is_some() {
            self.window_from = Some(self.started.len());
        }
        let ok = match expected {
            Some(reason) => !starts.is_empty() && starts.iter().all(|s| s.reason == reason),
            None => starts.is_empty(),
        };
        let record = StepRecord {
            step: self.steps.len() + 1,
            action: action.to_owned(),
            function_version: version.to_owned(),
            expected,
            request_ids,
            starts,
            outcomes: answers.into_iter().map(|a| a.outcome).collect(),
            ok,
        };
        self.printer.print(&record);
        self.steps.push(record);
    }

    /// Managed Instances: waits until `count` environments started since the step began.
    async fn wait_for_starts(&mut self, count: usize, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        let from = self.window_from.unwrap_or(0);
        loop {
            self.drain();
            if self.started.len() >= from + count {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} of {count} environment(s) started within {limit:?}",
                    self.started.len() - from
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The script on Lambda Managed Instances (see the module's documentation).
    async fn play_managed(
        &mut self,
        options: &CausesOptions,
        max_concurrency: u32,
    ) -> anyhow::Result<()> {
        const AHEAD: usize = lambda_emulator::control_plane::DEFAULT_ENVIRONMENTS_AHEAD;
        let limit = Duration::from_secs(30);
        self.window_from = Some(0);
        let latest = "$LATEST";
        self.wait_for_starts(AHEAD, limit).await?;
        let a = self.invoke(latest, serde_json::json!({})).await?;
        self.step(
            &format!("{AHEAD} environments started ahead of traffic, then one request"),
            latest,
            Some(StartReason::FirstSeen),
            vec![a],
        );

        let burst = AHEAD * max_concurrency as usize + 1;
        self.burst_step(
            options,
            burst,
            format!(
                "a burst of {burst} concurrent requests ({AHEAD} environments x {max_concurrency}, and one more)"
            ),
        )
        .await?;
        self.replacement_step(options).await?;
        self.configuration_change_step(Some((AHEAD, limit))).await?;
        let version = self.new_version_step(Some((AHEAD, limit))).await?;

        let crash = self
            .invoke(&version, serde_json::json!({ "clock_crash": true }))
            .await?;
        let after = self.invoke(&version, serde_json::json!({})).await?;
        self.step(
            "a request that crashes the function, then one more (another environment serves it)",
            &version,
            None,
            vec![crash, after],
        );
        Ok(())
    }

    /// Both scripts: `count` concurrent requests that sleep in the handler — `scale-out`.
    async fn burst_step(
        &mut self,
        options: &CausesOptions,
        count: usize,
        action: String,
    ) -> anyhow::Result<()> {
        let latest = "$LATEST";
        let sleep = serde_json::json!({ "clock_sleep_ms": options.burst_sleep.as_millis() as u64 });
        let answers = futures_join(
            (0..count)
                .map(|_| self.invoke_detached(latest, sleep.clone()))
                .collect(),
        )
        .await?;
        self.step(&action, latest, Some(StartReason::ScaleOut), answers);
        Ok(())
    }

    /// Both scripts: silence until idle reclaim spun every environment down, then a request —
    /// `replacement`.
    async fn replacement_step(&mut self, options: &CausesOptions) -> anyhow::Result<()> {
        let latest = "$LATEST";
        self.wait_until_all_stopped(options.idle_reclaim * 3 + Duration::from_secs(10))
            .await?;
        let a = self.invoke(latest, serde_json::json!({})).await?;
        self.step(
            "a request after idle reclaim spun every environment down",
            latest,
            Some(StartReason::Replacement),
            vec![a],
        );
        Ok(())
    }

    /// Both scripts: `UpdateFunctionConfiguration` (USER changes), then a request —
    /// `configuration-change`. `ahead`: on Managed Instances, wait (up to the limit) for that
    /// many environments of the new configuration to start ahead of the request.
    async fn configuration_change_step(
        &mut self,
        ahead: Option<(usize, Duration)>,
    ) -> anyhow::Result<()> {
        let latest = "$LATEST";
        set_variable(
            &self.client,
            &self.lambda_api,
            FUNCTION_NAME,
            "USER",
            "user2",
        )
        .await?;
        if let Some((count, limit)) = ahead {
            self.wait_for_starts(count, limit).await?;
        }
        let a = self.invoke(latest, serde_json::json!({})).await?;
        self.step(
            "UpdateFunctionConfiguration (USER user -> user2), then a request",
            latest,
            Some(StartReason::ConfigurationChange),
            vec![a],
        );
        Ok(())
    }

    /// Both scripts: `PublishVersion`, then a request for it — `new-version`; returns the
    /// version. `ahead` as for [`Script::configuration_change_step`].
    async fn new_version_step(
        &mut self,
        ahead: Option<(usize, Duration)>,
    ) -> anyhow::Result<String> {
        let version = self.publish_version().await?;
        if let Some((count, limit)) = ahead {
            self.wait_for_starts(count, limit).await?;
        }
        let a = self.invoke(&version, serde_json::json!({})).await?;
        self.step(
            &format!("PublishVersion ({version}), then a request for it"),
            &version,
            Some(StartReason::NewVersion),
            vec![a],
        );
        Ok(version)
    }

    /// Waits until every environment started so far has been spun down.
    async fn wait_until_all_stopped(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            self.drain();
            let alive = self
                .started
                .iter()
                .filter(|(env, _, _)| !self.stopped.contains(env))
                .count();
            if alive == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{alive} environment(s) were not reclaimed within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn invoke(&self, version: &str, payload: serde_json::Value) -> anyhow::Result<Answer> {
        invoke(&self.client, &self.lambda_api, version, payload).await
    }

    fn invoke_detached(
        &self,
        version: &str,
        payload: serde_json::Value,
    ) -> tokio::task::JoinHandle<anyhow::Result<Answer>> {
        let (client, api, version) = (
            self.client.clone(),
            self.lambda_api.clone(),
            version.to_owned(),
        );
        tokio::spawn(async move { invoke(&client, &api, &version, payload).await })
    }

    /// PublishVersion; returns the new version's number.
    async fn publish_version(&self) -> anyhow::Result<String> {
        let answer: serde_json::Value = self
            .client
            .post(format!(
                "{}/2015-03-31/functions/{FUNCTION_NAME}/versions",
                self.lambda_api
            ))
            .json(&serde_json::json!({}))
            .send()
            .await
            .context("PublishVersion")?
            .error_for_status()
            .context("PublishVersion")?
            .json()
            .await
            .context("reading PublishVersion's answer")?;
        answer["Version"]
            .as_str()
            .map(str::to_owned)
            .context("PublishVersion answered no Version")
    }
}

async fn futures_join(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Answer>>>,
) -> anyhow::Result<Vec<Answer>> {
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.context("a request of the burst")??);
    }
    Ok(answers)
}

/// Invoke (RequestResponse) through the Lambda API with `?Qualifier=`.
async fn invoke(
    client: &reqwest::Client,
    lambda_api: &str,
    version: &str,
    payload: serde_json::Value,
) -> anyhow::Result<Answer> {
    let response = client
        .post(format!(
            "{lambda_api}/2015-03-31/functions/{FUNCTION_NAME}/invocations"
        ))
        .query(&[("Qualifier", version)])
        .json(&payload)
        .send()
        .await
        .context("Invoke")?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("Invoke of version {version} answered {status}: {body}");
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request_id = header("x-amzn-RequestId").context("Invoke answered no request id")?;
    let outcome = header("X-Amz-Function-Error").unwrap_or_else(|| "ok".into());
    Ok(Answer {
        request_id,
        outcome,
    })
}
