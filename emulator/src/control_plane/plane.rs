//! [`ControlPlane`]: one function and its pool of environments behind a cheap-to-clone handle,
//! the API the HTTP faces and the front-ends call. Each method asks the pool's rules under the
//! lock, then carries out what they decided.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::broadcast;

use super::events::ControlPlaneEvent;
use super::invocation::{Caller, Invocation, InvokeError};
use super::invoke;
use super::options::ControlPlaneOptions;
use super::shared::Shared;
use super::starter;
use super::versions::{ConfigUpdate, FunctionState};
use crate::environment::{Artifacts, FunctionConfig, LogSink, ShutdownReason};

/// The function and its environments. Cheap to clone; all clones share one pool.
#[derive(Clone)]
pub struct ControlPlane {
    shared: Arc<Shared>,
}

impl ControlPlane {
    /// A control plane for one function. No environment is started until the first request.
    pub fn new(
        config: FunctionConfig,
        artifacts: Artifacts,
        options: ControlPlaneOptions,
        logs: LogSink,
    ) -> Self {
        let function = FunctionState {
            config,
            artifacts,
            revision: 1,
            last_modified: Utc::now(),
        };
        Self {
            shared: Arc::new(Shared::new(function, options, logs)),
        }
    }

    pub(crate) fn options(&self) -> &ControlPlaneOptions {
        &self.shared.options
    }

    /// What the front door does, as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<ControlPlaneEvent> {
        self.shared.subscribe()
    }

    /// The current configuration.
    pub fn function(&self) -> FunctionState {
        self.shared.pool().versions().latest().clone()
    }

    /// The configuration a qualifier names: `None`/`$LATEST` or a published version's number.
    pub(crate) fn version(&self, qualifier: Option<&str>) -> Option<FunctionState> {
        self.shared.pool().versions().resolve(qualifier).cloned()
    }

    /// Every published version, oldest first.
    pub(crate) fn published_versions(&self) -> Vec<FunctionState> {
        self.shared.pool().versions().published().cloned().collect()
    }

    /// Environments currently idle (started, not invoking).
    pub fn idle_environments(&self) -> usize {
        self.shared.pool().idle()
    }

    /// Invokes the function: on an idle environment of the current configuration, or on a new
    /// one. The invocation runs in its own task, so a caller that goes away (a closed HTTP
    /// connection) cannot leave an environment half-invoked.
    pub async fn invoke(
        &self,
        payload: bytes::Bytes,
        tail_log: bool,
    ) -> Result<Invocation, InvokeError> {
        self.invoke_as(None, payload, tail_log, Caller::default())
            .await
    }

    /// Invokes one version of the function (`Invoke --qualifier`: `None` or `$LATEST`, or a
    /// published version's number) for `caller`, who may have sent a client context or a
    /// Cognito identity.
    pub async fn invoke_as(
        &self,
        qualifier: Option<String>,
        payload: bytes::Bytes,
        tail_log: bool,
        caller: Caller,
    ) -> Result<Invocation, InvokeError> {
        let shared = self.shared.clone();
        tokio::spawn(invoke::invoke(shared, qualifier, payload, tail_log, caller))
            .await
            .unwrap_or_else(|e| {
                Err(InvokeError::Environment(anyhow::anyhow!(
                    "invocation task: {e}"
                )))
            })
    }

    /// UpdateFunctionConfiguration: the new configuration applies to the next request; idle
    /// environments of the old one are spun down now, busy ones when they finish.
    pub fn update(&self, update: ConfigUpdate) -> FunctionState {
        let (function, stale) = self.shared.pool().update(update, Utc::now());
        self.shared.emit(ControlPlaneEvent::ConfigurationUpdated {
            revision: function.revision,
        });
        for env in stale {
            self.shared.spin_down(env, ShutdownReason::Spindown);
        }
        self.provision();
        function
    }

    /// PublishVersion: a snapshot of `$LATEST` under the next number (or the last version, when
    /// `$LATEST` did not change since it was published).
    pub(crate) fn publish_version(&self) -> FunctionState {
        let published = self.shared.pool().publish(Utc::now());
        if published.created {
            self.shared.emit(ControlPlaneEvent::VersionPublished {
                version: published.version.config.version.clone(),
                revision: published.version.revision,
            });
            // Managed Instances start a published version's environments before it is active.
            starter::managed_ahead(&self.shared, &published.version);
        }
        published.version
    }

    /// Initialises [`ControlPlaneOptions::provisioned_concurrency`] environments of the current
    /// configuration in the background; each joins the idle pool when its init is done. Called
    /// by `serve` at start and by every configuration update (as Lambda re-provisions when the
    /// configuration behind the provisioned concurrency changes).
    pub fn provision(&self) {
        starter::provision(&self.shared);
    }

    /// Kills (SIGCONT, then SIGKILL) every process of every environment still alive: the end of
    /// a bounded exit, or a second Ctrl-C.
    pub fn kill_all(&self) {
        self.shared.kill_all();
    }

    /// [`ControlPlane::close`] with a hard bound: after `grace` for invocations in flight and
    /// `shutdown_allowance` more for the shutdowns, every process left is killed. Returns
    /// whether the graceful close finished in time.
    pub async fn close_within(&self, grace: Duration, shutdown_allowance: Duration) -> bool {
        let finished = tokio::time::timeout(grace + shutdown_allowance, self.close(grace))
            .await
            .is_ok();
        if !finished {
            tracing::warn!(
                "environments did not shut down within {:?}; killing what is left",
                grace + shutdown_allowance
            );
        }
        self.kill_all();
        finished
    }

    /// Stops taking requests, waits (up to `grace`) for invocations in flight, spins every
    /// environment down and waits for all shutdowns to finish.
    pub async fn close(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let idle = self.shared.pool().close();
        for env in idle {
            self.shared.spin_down(env, ShutdownReason::Spindown);
        }
        // Busy environments are spun down when their invocation ends (the pool is closed).
        self.shared.requests_ended(deadline).await;
        self.shared.background_done().await;
    }
}
