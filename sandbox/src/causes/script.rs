//! The `causes` script's state ([`Script`]: its requests, the control plane's events, the steps
//! so far), how a step is recorded and checked, and the steps of the first part of the script,
//! on demand and on Lambda Managed Instances (see `causes.rs` for the whole script).

use std::time::Duration;

use anyhow::bail;
use tokio::sync::broadcast;

use lambda_emulator::control_plane::start_reason::StartReason;
use lambda_emulator::control_plane::ControlPlaneEvent;

use super::options::CausesOptions;
use super::report::{StepRecord, StepStart};
use super::requests::{join_all, Answer, Api};
use crate::front_end::FUNCTION_NAME;
use crate::lambda_client::set_variable;
use crate::output::Printer;

/// An environment start the script saw (an `EnvironmentStarted` event).
pub(super) struct Started {
    pub(super) start: StepStart,
    /// The request that waited for it.
    pub(super) request_id: String,
}

/// The script's state: its client, the control plane's events, and what each step did.
pub(super) struct Script {
    pub(super) api: Api,
    events: broadcast::Receiver<ControlPlaneEvent>,
    printer: Printer,
    pub(super) steps: Vec<StepRecord>,
    /// Every start seen so far.
    started: Vec<Started>,
    /// Environments spun down so far.
    stopped: Vec<String>,
    /// Managed Instances: a step's starts are those seen since this index of `started` (no
    /// request starts an environment there). `None`: a step's starts are its requests'.
    window_from: Option<usize>,
}

impl Script {
    pub(super) fn new(
        api: Api,
        events: broadcast::Receiver<ControlPlaneEvent>,
        printer: Printer,
    ) -> Self {
        Self {
            api,
            events,
            printer,
            steps: Vec::new(),
            started: Vec::new(),
            stopped: Vec::new(),
            window_from: None,
        }
    }

    /// The on-demand script's first part: first-seen, scale-out, replacement,
    /// configuration-change, new-version and after-failure (a crash, a timeout).
    pub(super) async fn play(&mut self, options: &CausesOptions) -> anyhow::Result<()> {
        let latest = "$LATEST";
        let a = self.invoke(latest, serde_json::json!({})).await?;
        self.step("one request", latest, &[StartReason::FirstSeen], 0, vec![a]);

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
            &[],
            0,
            vec![a],
        );
        let a = self.invoke(&version, serde_json::json!({})).await?;
        self.step(
            "a request after the crash",
            &version,
            &[StartReason::AfterFailure],
            0,
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
            &[],
            0,
            vec![a],
        );
        let a = self.invoke(&version, serde_json::json!({})).await?;
        self.step(
            "a request after the timeout",
            &version,
            &[StartReason::AfterFailure],
            0,
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
                    init_status,
                    tenant_id,
                    ..
                }) => self.started.push(Started {
                    start: StepStart {
                        env_id,
                        reason,
                        init_status,
                        tenant_id,
                    },
                    request_id,
                }),
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

    /// Records a step of the clock function: see [`Script::step_of`].
    pub(super) fn step(
        &mut self,
        action: &str,
        version: &str,
        expected: &[StartReason],
        failed_inits: usize,
        answers: Vec<Answer>,
    ) {
        self.step_of(
            FUNCTION_NAME,
            action,
            version,
            expected,
            failed_inits,
            answers,
        );
    }

    /// Records a step: the starts its requests caused, checked against `expected` (every start
    /// has one of those reasons, each of them some start's) and `failed_inits` (how many of
    /// them are inits that failed).
    pub(super) fn step_of(
        &mut self,
        function: &str,
        action: &str,
        version: &str,
        expected: &[StartReason],
        failed_inits: usize,
        answers: Vec<Answer>,
    ) {
        self.drain();
        let request_ids: Vec<String> = answers
            .iter()
            .filter_map(|a| a.request_id.clone())
            .collect();
        let window = self.window_from;
        let starts: Vec<StepStart> = self
            .started
            .iter()
            .enumerate()
            .filter(|(i, started)| match window {
                Some(from) => *i >= from,
                None => request_ids.contains(&started.request_id),
            })
            .map(|(_, started)| started.start.clone())
            .collect();
        if window.is_some() {
            self.window_from = Some(self.started.len());
        }
        let ok = StepRecord::as_expected(&starts, expected, failed_inits);
        let record = StepRecord {
            step: self.steps.len() + 1,
            action: action.to_owned(),
            function_name: function.to_owned(),
            function_version: version.to_owned(),
            expected: expected.to_vec(),
            expected_failed_inits: failed_inits,
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
    pub(super) async fn play_managed(
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
            &[StartReason::FirstSeen],
            0,
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
            &[],
            0,
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
        let answers = join_all(
            (0..count)
                .map(|_| self.invoke_detached(FUNCTION_NAME, None, sleep.clone()))
                .collect(),
        )
        .await?;
        self.step(&action, latest, &[StartReason::ScaleOut], 0, answers);
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
            &[StartReason::Replacement],
            0,
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
        self.set_variable("USER", "user2").await?;
        if let Some((count, limit)) = ahead {
            self.wait_for_starts(count, limit).await?;
        }
        let a = self.invoke(latest, serde_json::json!({})).await?;
        self.step(
            "UpdateFunctionConfiguration (USER user -> user2), then a request",
            latest,
            &[StartReason::ConfigurationChange],
            0,
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
        let version = self.api.publish_version(FUNCTION_NAME).await?;
        if let Some((count, limit)) = ahead {
            self.wait_for_starts(count, limit).await?;
        }
        let a = self.invoke(&version, serde_json::json!({})).await?;
        self.step(
            &format!("PublishVersion ({version}), then a request for it"),
            &version,
            &[StartReason::NewVersion],
            0,
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
                .filter(|started| !self.stopped.contains(&started.start.env_id))
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

    /// UpdateFunctionConfiguration of the clock function: one variable set, the others kept.
    pub(super) async fn set_variable(&self, name: &str, value: &str) -> anyhow::Result<()> {
        set_variable(&self.api.client, &self.api.base, FUNCTION_NAME, name, value).await?;
        Ok(())
    }

    /// A request to the clock function's `version`.
    pub(super) async fn invoke(
        &self,
        version: &str,
        payload: serde_json::Value,
    ) -> anyhow::Result<Answer> {
        self.api
            .invoke(FUNCTION_NAME, version, None, payload, false)
            .await
    }

    /// A request to `$LATEST` of `function` (for `tenant`), in a task of its own.
    pub(super) fn invoke_detached(
        &self,
        function: &str,
        tenant: Option<&str>,
        payload: serde_json::Value,
    ) -> tokio::task::JoinHandle<anyhow::Result<Answer>> {
        let api = self.api.clone();
        let (function, tenant) = (function.to_owned(), tenant.map(str::to_owned));
        tokio::spawn(async move {
            api.invoke(&function, "$LATEST", tenant.as_deref(), payload, false)
                .await
        })
    }
}
