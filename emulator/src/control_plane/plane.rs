//! [`ControlPlane`]: one function and its pool of environments behind a cheap-to-clone handle,
//! the API the HTTP faces and the front-ends call. Each method asks the pool's rules under the
//! lock, then carries out what they decided.
//!
//! Functions created through `CreateFunction` ([`ControlPlane::create`]) are control planes of
//! their own, kept by the one they were created on: they share its log sink and its events,
//! and close with it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use tempfile::TempDir;
use tokio::sync::broadcast;

use super::events::ControlPlaneEvent;
use super::invocation::{Caller, Invocation, InvokeError};
use super::invoke;
use super::options::ControlPlaneOptions;
use super::shared::Shared;
use super::starter;
use super::versions::{ConfigUpdate, FunctionState};
use crate::environment::{Artifacts, FunctionConfig, LogSink, ShutdownReason};

/// A panic while holding the registry leaves plain data behind; keep serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The function and its environments. Cheap to clone; all clones share one pool.
#[derive(Clone)]
pub struct ControlPlane {
    shared: Arc<Shared>,
    /// Functions created on this one (`CreateFunction`), by name, with the directories their
    /// code was unpacked into (kept for as long as they run).
    created: Arc<Mutex<BTreeMap<String, Created>>>,
}

/// A function created through `CreateFunction`.
#[derive(Clone)]
struct Created {
    plane: ControlPlane,
    _code: Arc<TempDir>,
}

/// Why `CreateFunction` created nothing.
#[derive(Debug)]
pub enum CreateError {
    /// A function of that name exists (Lambda: 409 `ResourceConflictException`).
    Exists(String),
    /// The sandbox is shutting down.
    Closed,
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::Exists(name) => write!(f, "Function already exist: {name}"),
            CreateError::Closed => f.write_str("the sandbox is shutting down"),
        }
    }
}

impl std::error::Error for CreateError {}

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
            created: Arc::default(),
        }
    }

    /// `CreateFunction`: a new function `config` beside this one, with its own pool, running
    /// `artifacts` (its code unpacked into `code`, kept while it runs) with this control plane's
    /// platform settings (environments, limits, idle reclaim, log sink, events), on demand, and
    /// tenant-isolated when asked. Refused when a function of that name exists.
    pub fn create(
        &self,
        config: FunctionConfig,
        artifacts: Artifacts,
        tenant_isolation: bool,
        code: TempDir,
    ) -> Result<ControlPlane, CreateError> {
        let name = config.function_name.clone();
        let mut created = lock(&self.created);
        if self.shared.pool().is_closed() {
            return Err(CreateError::Closed);
        }
        if name == self.function().config.function_name || created.contains_key(&name) {
            return Err(CreateError::Exists(name));
        }
        let options = ControlPlaneOptions {
            provisioned_concurrency: 0,
            snap_start: false,
            managed_instances: None,
            tenant_isolation,
            ..self.shared.options.clone()
        };
        let function = FunctionState {
            config,
            artifacts,
            revision: 1,
            last_modified: Utc::now(),
        };
        let plane = ControlPlane {
            shared: Arc::new(Shared::with_events(
                function,
                options,
                self.shared.logs.clone(),
                self.shared.events(),
            )),
            created: Arc::default(),
        };
        created.insert(
            name,
            Created {
                plane: plane.clone(),
                _code: Arc::new(code),
            },
        );
        Ok(plane)
    }

    /// The function called `name`: this one or one created on it.
    pub fn named(&self, name: &str) -> Option<ControlPlane> {
        if self.function().config.function_name == name {
            return Some(self.clone());
        }
        lock(&self.created).get(name).map(|c| c.plane.clone())
    }

    /// The functions created on this one, by name.
    fn created(&self) -> Vec<ControlPlane> {
        lock(&self.created)
            .values()
            .map(|c| c.plane.clone())
            .collect()
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
        for plane in self.created() {
            plane.kill_all();
        }
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
        // Under the registry's lock, so that no function is created once this one closes.
        let created: Vec<ControlPlane> = {
            let created = lock(&self.created);
            self.stop_taking_requests();
            created.values().map(|c| c.plane.clone()).collect()
        };
        let others: Vec<_> = created
            .into_iter()
            .map(|plane| {
                tokio::spawn(async move {
                    plane.stop_taking_requests();
                    plane.drain(deadline).await;
                })
            })
            .collect();
        self.drain(deadline).await;
        for other in others {
            let _ = other.await;
        }
    }

    /// Closes this function's pool: idle environments are spun down now, busy ones when their
    /// invocation ends.
    fn stop_taking_requests(&self) {
        let idle = self.shared.pool().close();
        for env in idle {
            self.shared.spin_down(env, ShutdownReason::Spindown);
        }
    }

    /// Waits (up to `deadline`) for this function's invocations in flight, then for every
    /// shutdown.
    async fn drain(&self, deadline: tokio::time::Instant) {
        self.shared.requests_ended(deadline).await;
        self.shared.background_done().await;
    }
}
