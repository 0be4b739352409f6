//! The front door: one function, its current configuration, and the pool of execution
//! environments that serve it — the part of Lambda a user talks to.
//!
//! Why a pool and not one environment: the experiment is about *which* environment answers.
//! Lambda reuses an idle environment of the current configuration, starts a new one when every
//! environment is busy (a scale-out cold start, up to a concurrency limit, then 429), and after
//! `UpdateFunctionConfiguration` never hands a request to an environment of the old
//! configuration again: idle ones are spun down (SHUTDOWN, reason `spindown`) at once, busy ones
//! when their invocation ends. The next request pays for a new init. That is the behaviour the
//! experiment observes, so it is the behaviour modelled here.
//!
//! Published versions (`PublishVersion`) are snapshots of `$LATEST`'s configuration; a request
//! for a version (`Invoke --qualifier`) is served only by environments of that version. With
//! `idle_reclaim` set, an environment left idle that long is spun down, as Lambda reclaims idle
//! environments after minutes without traffic. Every new environment is started for a reason the
//! pool knows ([`start_reason`]), published with [`ControlPlaneEvent::EnvironmentStarted`].
//!
//! The HTTP faces live in submodules: [`lambda_api`] (the REST API the AWS CLI and SDKs call with
//! `--endpoint-url`) and [`function_url`] (a Function URL, payload format 2.0).

pub mod configuration;
pub mod function_url;
pub mod lambda_api;
pub mod start_reason;
pub mod versions;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;

use crate::environment::{
    Artifacts, CognitoIdentity, Environment, EnvironmentOptions, FunctionConfig, InitFailure,
    InitializationType, InvokeRequest, InvokeResponse, InvokeStatus, Killer, LogLine, LogSink,
    LogSource, ShutdownReason,
};
use start_reason::{History, PoolKey, StartReason};

/// The version name of the unpublished, editable function.
pub const LATEST: &str = "$LATEST";

/// Lambda's default account concurrency is 1000; a laptop is not a fleet, so the sandbox starts
/// lower and lets the user raise it (`--max-environments`).
pub const DEFAULT_MAX_ENVIRONMENTS: usize = 10;

/// How much of an invocation's log `LogType: Tail` returns, as on Lambda.
pub const LOG_TAIL_BYTES: usize = 4096;

/// Platform knobs of the front door.
#[derive(Clone, Debug)]
pub struct ControlPlaneOptions {
    /// Environments that may be initialising or busy at once; one more request gets 429.
    pub max_environments: usize,
    /// Passed to every environment started.
    pub environment: EnvironmentOptions,
    /// The region reported in ARNs.
    pub region: String,
    /// Spin down an environment that has been idle this long (None: keep it until the
    /// configuration changes or the sandbox stops).
    pub idle_reclaim: Option<Duration>,
    /// Environments initialised ahead of demand for the current configuration (provisioned
    /// concurrency): `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`. Requests use them
    /// first; beyond them, on-demand environments start as usual.
    pub provisioned_concurrency: usize,
    /// SnapStart: one init (`initializationType: snap-start`) when the configuration is set
    /// (the snapshot; its processes are then discarded without SHUTDOWN), and every new
    /// environment reports a restore instead of an init. No memory is snapshotted: a "restore"
    /// here starts the processes afresh.
    pub snap_start: bool,
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        Self {
            max_environments: DEFAULT_MAX_ENVIRONMENTS,
            environment: EnvironmentOptions::default(),
            region: "us-east-1".to_owned(),
            idle_reclaim: None,
            provisioned_concurrency: 0,
            snap_start: false,
        }
    }
}

/// Who is calling, when the invoke says so (the Invoke API's `X-Amz-Client-Context`).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The client context, decoded from base64: JSON text.
    pub client_context: Option<String>,
    pub cognito_identity: Option<CognitoIdentity>,
}

/// Something the front door did, for observers (the experiment's verdict, tests).
#[derive(Clone, Debug)]
pub enum ControlPlaneEvent {
    /// A new execution environment finished its init phase, or a running one ran init again
    /// after a crash or timeout (`reason` after-failure, same `env_id`).
    EnvironmentStarted {
        env_id: String,
        revision: u64,
        /// Wall time of `Environment::start` (or of the re-init), measured here.
        start_ms: f64,
        function_name: String,
        /// `$LATEST` or the version number (`AWS_LAMBDA_FUNCTION_VERSION` of its processes).
        version: String,
        /// When init began.
        started_at: DateTime<Utc>,
        /// Why the sandbox started it.
        reason: StartReason,
        /// The evidence, in words.
        detail: String,
        /// The request that waited for this init.
        request_id: String,
    },
    /// An invocation crashed or timed out: the environment's processes were shut down (SHUTDOWN
    /// with `reason`) and its next request runs init again.
    EnvironmentReset {
        env_id: String,
        reason: ShutdownReason,
        request_id: String,
    },
    /// `PublishVersion` created a version.
    VersionPublished { version: String, revision: u64 },
    /// An invocation was answered.
    Invoked {
        request_id: String,
        env_id: String,
        /// The environment was started for this request.
        cold_start: bool,
        init_duration_ms: Option<f64>,
    },
    /// The configuration changed; environments of older revisions will not be used again.
    ConfigurationUpdated { revision: u64 },
    /// An environment was shut down.
    EnvironmentStopped {
        env_id: String,
        reason: ShutdownReason,
        killed: Vec<String>,
    },
}

/// Why an invocation got no answer from the function.
#[derive(Debug)]
pub enum InvokeError {
    /// Every allowed environment is busy (Lambda: 429 `TooManyRequestsException`).
    TooManyRequests { limit: usize },
    /// A new environment could not be initialised.
    InitFailed(anyhow::Error),
    /// The environment failed while invoking (not a function error: those are responses).
    Environment(anyhow::Error),
    /// The sandbox is shutting down.
    Closed,
    /// The qualifier names no version of the function.
    UnknownVersion(String),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::TooManyRequests { limit } => {
                write!(f, "rate exceeded: all {limit} environments are busy")
            }
            InvokeError::InitFailed(e) => write!(f, "init failed: {e:#}"),
            InvokeError::Environment(e) => write!(f, "environment failed: {e:#}"),
            InvokeError::Closed => write!(f, "the sandbox is shutting down"),
            InvokeError::UnknownVersion(q) => write!(f, "no version `{q}` of the function"),
        }
    }
}

impl std::error::Error for InvokeError {}

/// One answered invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub env_id: String,
    /// The environment was started for this request.
    pub cold_start: bool,
    pub response: InvokeResponse,
    /// The invocation's log lines, when asked for (`LogType: Tail`).
    pub log: Vec<LogLine>,
}

/// The function as configured now. `revision` increases with every update; an environment
/// remembers the revision it was started with.
#[derive(Clone, Debug)]
pub struct FunctionState {
    pub config: FunctionConfig,
    pub artifacts: Artifacts,
    pub revision: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// A change to the configuration (the fields of UpdateFunctionConfiguration the sandbox honours).
#[derive(Clone, Debug, Default)]
pub struct ConfigUpdate {
    /// Replaces all user variables when given (as Lambda does).
    pub environment: Option<std::collections::BTreeMap<String, String>>,
    pub memory_mb: Option<u32>,
    pub timeout: Option<Duration>,
    pub handler: Option<String>,
}

struct IdleEnvironment {
    env: Environment,
    key: PoolKey,
    /// Tells an idle-reclaim timer whether the environment is still in the idle spell it was
    /// armed for.
    idle_token: u64,
}

struct Pool {
    function: FunctionState,
    /// Published versions by number: snapshots that never change.
    versions: std::collections::BTreeMap<u64, FunctionState>,
    idle: Vec<IdleEnvironment>,
    /// Environments initialising or invoking: what the concurrency limit counts.
    in_flight: usize,
    closed: bool,
    history: History,
    next_idle_token: u64,
}

impl Pool {
    /// The function state a qualifier names (`None` and `$LATEST`: the current configuration).
    fn resolve(&self, qualifier: Option<&str>) -> Option<&FunctionState> {
        match qualifier {
            None | Some(LATEST) => Some(&self.function),
            Some(q) => q.parse::<u64>().ok().and_then(|n| self.versions.get(&n)),
        }
    }

    /// Whether environments of `key` may still serve requests.
    fn is_current(&self, key: &PoolKey) -> bool {
        if key.version == LATEST {
            key.revision == self.function.revision
        } else {
            key.version
                .parse::<u64>()
                .is_ok_and(|n| self.versions.contains_key(&n))
        }
    }
}

fn key_of(function: &FunctionState) -> PoolKey {
    PoolKey {
        version: function.config.version.clone(),
        revision: function.revision,
    }
}

struct Inner {
    pool: Mutex<Pool>,
    options: ControlPlaneOptions,
    logs: LogSink,
    events: broadcast::Sender<ControlPlaneEvent>,
    /// Spindowns run in the background (an update answers at once, as on Lambda); `close` waits
    /// for them so no process outlives the sandbox.
    shutdowns: Mutex<Vec<JoinHandle<()>>>,
    idle_changed: Notify,
    /// Every environment started and not yet dropped, so that a bounded exit can kill what a
    /// graceful one could not reach.
    started: Mutex<Vec<Killer>>,
}

/// The function and its environments. Cheap to clone; all clones share one pool.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

/// Where a served control plane listens.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    /// The Lambda REST API (`aws --endpoint-url http://<this>`).
    pub lambda_api: SocketAddr,
    /// The Function URL.
    pub function_url: SocketAddr,
}

/// The two servers of a control plane; dropping it does not stop them, [`Served::stop`] does.
pub struct Served {
    pub endpoints: Endpoints,
    tasks: Vec<JoinHandle<()>>,
}

impl Served {
    /// Stops accepting requests (environments are left to [`ControlPlane::close`]).
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

impl ControlPlane {
    /// A control plane for one function. No environment is started until the first request.
    pub fn new(
        config: FunctionConfig,
        artifacts: Artifacts,
        options: ControlPlaneOptions,
        logs: LogSink,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        let pool = Pool {
            function: FunctionState {
                config,
                artifacts,
                revision: 1,
                last_modified: chrono::Utc::now(),
            },
            versions: Default::default(),
            idle: Vec::new(),
            in_flight: 0,
            closed: false,
            history: History::default(),
            next_idle_token: 0,
        };
        Self {
            inner: Arc::new(Inner {
                pool: Mutex::new(pool),
                options,
                logs,
                events,
                shutdowns: Mutex::new(Vec::new()),
                idle_changed: Notify::new(),
                started: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn options(&self) -> &ControlPlaneOptions {
        &self.inner.options
    }

    /// The log stream every environment writes to.
    pub fn logs(&self) -> &LogSink {
        &self.inner.logs
    }

    /// What the front door does, as it happens.
    pub fn subscribe(&self) -> broadcast::Receiver<ControlPlaneEvent> {
        self.inner.events.subscribe()
    }

    /// The current configuration.
    pub fn function(&self) -> FunctionState {
        self.lock().function.clone()
    }

    /// The configuration a qualifier names: `None`/`$LATEST` or a published version's number.
    pub fn version(&self, qualifier: Option<&str>) -> Option<FunctionState> {
        self.lock().resolve(qualifier).cloned()
    }

    /// Every published version, oldest first.
    pub fn published_versions(&self) -> Vec<FunctionState> {
        self.lock().versions.values().cloned().collect()
    }

    /// Environments currently idle (started, not invoking).
    pub fn idle_environments(&self) -> usize {
        self.lock().idle.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: ControlPlaneEvent) {
        let _ = self.inner.events.send(event);
    }

    /// Binds both HTTP faces on 127.0.0.1 (port 0 picks a free port) and serves them until
    /// [`Served::stop`].
    pub async fn serve(
        &self,
        lambda_api_port: u16,
        function_url_port: u16,
    ) -> anyhow::Result<Served> {
        let api = TcpListener::bind(("127.0.0.1", lambda_api_port))
            .await
            .with_context(|| format!("binding the Lambda API on 127.0.0.1:{lambda_api_port}"))?;
        let url = TcpListener::bind(("127.0.0.1", function_url_port))
            .await
            .with_context(|| {
                format!("binding the Function URL on 127.0.0.1:{function_url_port}")
            })?;
        let endpoints = Endpoints {
            lambda_api: api.local_addr()?,
            function_url: url.local_addr()?,
        };
        let api_router = lambda_api::router(self.clone());
        let url_router = function_url::router(self.clone(), endpoints.function_url);
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = axum::serve(api, api_router).await {
                    tracing::error!("Lambda API server stopped: {e}");
                }
            }),
            tokio::spawn(async move {
                if let Err(e) = axum::serve(url, url_router).await {
                    tracing::error!("Function URL server stopped: {e}");
                }
            }),
        ];
        Ok(Served { endpoints, tasks })
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
        let this = self.clone();
        tokio::spawn(async move {
            this.invoke_inner(qualifier, payload, tail_log, caller)
                .await
        })
        .await
        .unwrap_or_else(|e| {
            Err(InvokeError::Environment(anyhow::anyhow!(
                "invocation task: {e}"
            )))
        })
    }

    async fn invoke_inner(
        &self,
        qualifier: Option<String>,
        payload: bytes::Bytes,
        tail_log: bool,
        caller: Caller,
    ) -> Result<Invocation, InvokeError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        // Subscribed before anything runs so no line of this invocation is missed.
        let log_rx = tail_log.then(|| self.inner.logs.subscribe());
        let lease = self.acquire(qualifier.as_deref())?;
        let guard = InFlight { plane: self };
        let (env, key, cold_start) = match lease {
            Lease::Warm(idle) => (idle.env, idle.key, false),
            Lease::Cold {
                function,
                key,
                reason,
                detail,
            } => {
                let started = Instant::now();
                let started_at = Utc::now();
                let mut options = self.inner.options.environment.clone();
                if self.inner.options.snap_start {
                    options.initialization_type = InitializationType::SnapStart;
                    options.restore = true;
                }
                // A failed init is retried by this request in the same environment (Lambda's
                // suppressed init); only a second failure reaches the caller.
                let (env, failed_init) = match Environment::start_suppressing(
                    function.config.clone(),
                    function.artifacts.clone(),
                    options,
                    self.inner.logs.clone(),
                )
                .await
                {
                    Ok(started) => started,
                    Err(e) => {
                        self.lock().history.start_failed(&key);
                        return Err(InvokeError::InitFailed(e));
                    }
                };
                self.lock().history.started(&key, env.id());
                // A retried init ran in the invoke phase: its markers say so, and so does the
                // reason (the first rule of attribution).
                let (reason, detail) = match failed_init {
                    Some(failure) => {
                        tracing::info!(
                            env_id = env.id(),
                            "init failed, retried in the invoke phase: {failure:#}"
                        );
                        (
                            StartReason::AfterFailure,
                            format!("init failed and was retried inside the invocation: {failure}"),
                        )
                    }
                    None if self.inner.options.snap_start => (
                        StartReason::SnapStart,
                        "restored from the SnapStart snapshot".to_owned(),
                    ),
                    None => (reason, detail),
                };
                self.track(&env);
                self.emit(ControlPlaneEvent::EnvironmentStarted {
                    env_id: env.id().to_owned(),
                    revision: function.revision,
                    start_ms: started.elapsed().as_secs_f64() * 1000.0,
                    function_name: function.config.function_name.clone(),
                    version: function.config.version.clone(),
                    started_at,
                    reason,
                    detail,
                    request_id: request_id.clone(),
                });
                (env, key, true)
            }
        };
        let result = env
            .invoke(InvokeRequest {
                payload,
                request_id: Some(request_id.clone()),
                client_context: caller.client_context,
                cognito_identity: caller.cognito_identity,
            })
            .await;
        if !cold_start {
            self.report_reinit(&env, &key, &request_id);
        }
        if let Ok(response) = &result {
            let reset = match response.status {
                InvokeStatus::Crashed => Some(ShutdownReason::Failure),
                InvokeStatus::Timeout => Some(ShutdownReason::Timeout),
                _ => None,
            };
            if let Some(reason) = reset {
                self.emit(ControlPlaneEvent::EnvironmentReset {
                    env_id: env.id().to_owned(),
                    reason,
                    request_id: request_id.clone(),
                });
            }
        }
        let env_id = env.id().to_owned();
        self.release(env, key);
        drop(guard);
        let response = result.map_err(|e| {
            if e.downcast_ref::<InitFailure>().is_some() {
                InvokeError::InitFailed(e)
            } else {
                InvokeError::Environment(e)
            }
        })?;
        self.emit(ControlPlaneEvent::Invoked {
            request_id: request_id.clone(),
            env_id: env_id.clone(),
            cold_start,
            init_duration_ms: response.report.init_duration_ms,
        });
        let log = match log_rx {
            Some(rx) => collect_log(rx, &env_id, &request_id).await,
            None => Vec::new(),
        };
        Ok(Invocation {
            request_id,
            env_id,
            cold_start,
            response,
            log,
        })
    }

    /// A warm environment that re-ran init inside this invocation (its previous invocation
    /// crashed or timed out) was, in effect, started again: say so, with its own init record.
    fn report_reinit(&self, env: &Environment, key: &PoolKey, request_id: &str) {
        let Some(init) = env.last_init() else { return };
        if init.phase != "invoke" || init.request_id.as_deref() != Some(request_id) {
            return;
        }
        let config = env.config();
        self.emit(ControlPlaneEvent::EnvironmentStarted {
            env_id: env.id().to_owned(),
            revision: key.revision,
            start_ms: init.duration_ms,
            function_name: config.function_name.clone(),
            version: config.version.clone(),
            started_at: init.started_at,
            reason: StartReason::AfterFailure,
            detail: "init ran again inside an invocation: the environment had been reset (a \
                     crash, a timeout or a process that died)"
                .into(),
            request_id: request_id.to_owned(),
        });
    }

    fn acquire(&self, qualifier: Option<&str>) -> Result<Lease, InvokeError> {
        let mut pool = self.lock();
        if pool.closed {
            return Err(InvokeError::Closed);
        }
        let function = pool
            .resolve(qualifier)
            .cloned()
            .ok_or_else(|| InvokeError::UnknownVersion(qualifier.unwrap_or(LATEST).to_owned()))?;
        let key = key_of(&function);
        // Most recently used first, as Lambda tends to: the warmest environment answers.
        if let Some(pos) = pool.idle.iter().rposition(|idle| idle.key == key) {
            let idle = pool.idle.remove(pos);
            pool.in_flight += 1;
            return Ok(Lease::Warm(idle));
        }
        if pool.in_flight >= self.inner.options.max_environments {
            return Err(InvokeError::TooManyRequests {
                limit: self.inner.options.max_environments,
            });
        }
        pool.in_flight += 1;
        let (reason, detail) = pool.history.reason(&key);
        pool.history.starting(&key);
        Ok(Lease::Cold {
            function: Box::new(function),
            key,
            reason,
            detail,
        })
    }

    /// Returns an environment after an invocation: back to idle if its configuration is still
    /// current (and it is still alive), otherwise spun down.
    fn release(&self, env: Environment, key: PoolKey) {
        let mut pool = self.lock();
        if !pool.closed && pool.is_current(&key) && env.is_alive() {
            pool.next_idle_token += 1;
            let idle_token = pool.next_idle_token;
            let env_id = env.id().to_owned();
            pool.idle.push(IdleEnvironment {
                env,
                key,
                idle_token,
            });
            drop(pool);
            self.inner.idle_changed.notify_waiters();
            if let Some(after) = self.inner.options.idle_reclaim {
                self.arm_idle_reclaim(env_id, idle_token, after);
            }
        } else {
            drop(pool);
            self.spin_down(env, ShutdownReason::Spindown);
        }
    }

    /// Spins the environment down if it is still idle (the same idle spell) after `after`.
    /// The timer holds no strong reference: a dropped control plane cancels nothing it needs.
    fn arm_idle_reclaim(&self, env_id: String, idle_token: u64, after: Duration) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let Some(inner) = weak.upgrade() else { return };
            let plane = ControlPlane { inner };
            let reclaimed = {
                let mut pool = plane.lock();
                let pos = pool
                    .idle
                    .iter()
                    .position(|i| i.idle_token == idle_token && i.env.id() == env_id);
                pos.map(|pos| pool.idle.remove(pos))
            };
            if let Some(idle) = reclaimed {
                tracing::debug!(env_id, "idle reclaim");
                plane.spin_down(idle.env, ShutdownReason::Spindown);
            }
        });
    }

    fn spin_down(&self, env: Environment, reason: ShutdownReason) {
        self.lock().history.stopped(env.id());
        let this = self.clone();
        let task = tokio::spawn(async move {
            let env_id = env.id().to_owned();
            tracing::debug!(
                env_id,
                reason = reason.as_str(),
                "shutting down environment"
            );
            let outcome = env.shutdown(reason).await;
            this.emit(ControlPlaneEvent::EnvironmentStopped {
                env_id,
                reason,
                killed: outcome.killed,
            });
        });
        let mut shutdowns = self
            .inner
            .shutdowns
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        shutdowns.retain(|t| !t.is_finished());
        shutdowns.push(task);
    }

    /// UpdateFunctionConfiguration: the new configuration applies to the next request; idle
    /// environments of the old one are spun down now, busy ones when they finish.
    pub fn update(&self, update: ConfigUpdate) -> FunctionState {
        let mut pool = self.lock();
        let function = &mut pool.function;
        if let Some(vars) = update.environment {
            function.config.environment = vars;
        }
        if let Some(memory) = update.memory_mb {
            function.config.memory_mb = memory;
        }
        if let Some(timeout) = update.timeout {
            function.config.timeout = timeout;
        }
        if let Some(handler) = update.handler {
            function.config.handler = handler;
        }
        function.revision += 1;
        function.last_modified = chrono::Utc::now();
        let state = function.clone();
        // Published versions keep their configuration, and their environments.
        let (stale, kept): (Vec<IdleEnvironment>, Vec<IdleEnvironment>) = pool
            .idle
            .drain(..)
            .partition(|idle| idle.key.version == LATEST);
        pool.idle = kept;
        drop(pool);
        self.emit(ControlPlaneEvent::ConfigurationUpdated {
            revision: state.revision,
        });
        for idle in stale {
            self.spin_down(idle.env, ShutdownReason::Spindown);
        }
        self.provision();
        state
    }

    /// Initialises [`ControlPlaneOptions::provisioned_concurrency`] environments of the current
    /// configuration in the background; each joins the idle pool when its init is done. Called
    /// by `serve` at start and by every configuration update (as Lambda re-provisions when the
    /// configuration behind the provisioned concurrency changes).
    pub fn provision(&self) {
        let count = self.inner.options.provisioned_concurrency;
        let function = self.lock().function.clone();
        if self.inner.options.snap_start {
            // The snapshot's init; the sandbox keeps no snapshot, so its processes are
            // discarded (killed without SHUTDOWN) once it is done.
            let this = self.clone();
            let function = function.clone();
            let task = tokio::spawn(async move {
                let mut options = this.inner.options.environment.clone();
                options.initialization_type = InitializationType::SnapStart;
                match Environment::start(
                    function.config,
                    function.artifacts,
                    options,
                    this.inner.logs.clone(),
                )
                .await
                {
                    Ok(snapshot) => drop(snapshot),
                    Err(e) => tracing::warn!("the SnapStart snapshot's init failed: {e:#}"),
                }
            });
            self.inner
                .shutdowns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
        }
        for _ in 0..count {
            let this = self.clone();
            let function = function.clone();
            let task = tokio::spawn(async move {
                let mut options = this.inner.options.environment.clone();
                options.initialization_type = InitializationType::ProvisionedConcurrency;
                let key = key_of(&function);
                this.lock().history.starting(&key);
                let started = Instant::now();
                let started_at = Utc::now();
                match Environment::start(
                    function.config.clone(),
                    function.artifacts.clone(),
                    options,
                    this.inner.logs.clone(),
                )
                .await
                {
                    Ok(env) => {
                        this.track(&env);
                        this.lock().history.started(&key, env.id());
                        this.emit(ControlPlaneEvent::EnvironmentStarted {
                            env_id: env.id().to_owned(),
                            revision: function.revision,
                            start_ms: started.elapsed().as_secs_f64() * 1000.0,
                            function_name: function.config.function_name.clone(),
                            version: function.config.version.clone(),
                            started_at,
                            reason: StartReason::Provisioned,
                            detail: "initialised ahead of demand (provisioned concurrency)".into(),
                            request_id: String::new(),
                        });
                        this.release(env, key);
                    }
                    Err(e) => {
                        this.lock().history.start_failed(&key);
                        tracing::warn!("a provisioned environment failed to init: {e:#}")
                    }
                }
            });
            self.inner
                .shutdowns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
        }
    }

    fn track(&self, env: &Environment) {
        let mut started = self.inner.started.lock().unwrap_or_else(|e| e.into_inner());
        started.retain(|k| !k.is_gone());
        started.push(env.killer());
    }

    /// Kills (SIGCONT, then SIGKILL) every process of every environment still alive: the end of
    /// a bounded exit, or a second Ctrl-C.
    pub fn kill_all(&self) {
        let started = self.inner.started.lock().unwrap_or_else(|e| e.into_inner());
        for killer in started.iter() {
            killer.kill();
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
        let idle = {
            let mut pool = self.lock();
            pool.closed = true;
            pool.idle.drain(..).collect::<Vec<_>>()
        };
        for idle in idle {
            self.spin_down(idle.env, ShutdownReason::Spindown);
        }
        // Busy environments are spun down by `release` (the pool is closed).
        loop {
            let notified = self.inner.idle_changed.notified();
            if self.lock().in_flight == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
        loop {
            let tasks: Vec<JoinHandle<()>> = {
                let mut shutdowns = self
                    .inner
                    .shutdowns
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                shutdowns.drain(..).collect()
            };
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                let _ = task.await;
            }
        }
    }
}

enum Lease {
    Warm(IdleEnvironment),
    Cold {
        function: Box<FunctionState>,
        key: PoolKey,
        reason: StartReason,
        detail: String,
    },
}

/// Counts an environment against the concurrency limit for as long as a request holds it, even
/// if the request fails half-way.
struct InFlight<'a> {
    plane: &'a ControlPlane,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut pool = self.plane.lock();
        pool.in_flight = pool.in_flight.saturating_sub(1);
        drop(pool);
        self.plane.inner.idle_changed.notify_waiters();
    }
}

/// The lines of one invocation: everything its environment logged since the request was taken,
/// up to and including the platform's `REPORT` line for it. Lines reach the sink asynchronously,
/// so this waits briefly for the `REPORT` line.
async fn collect_log(
    mut rx: broadcast::Receiver<LogLine>,
    env_id: &str,
    request_id: &str,
) -> Vec<LogLine> {
    let mut lines = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(line)) => {
                if line.env_id != env_id {
                    continue;
                }
                let is_report = line.source == LogSource::Platform
                    && line.line.starts_with("REPORT")
                    && line.line.contains(request_id);
                lines.push(line);
                if is_report {
                    break;
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                tracing::warn!("log tail missed {n} lines");
            }
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
        }
    }
    lines
}

/// The last [`LOG_TAIL_BYTES`] of an invocation's log, as `X-Amz-Log-Result` carries it (before
/// base64): whole lines where possible.
pub fn log_tail(lines: &[LogLine]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line.line);
        text.push('\n');
    }
    if text.len() <= LOG_TAIL_BYTES {
        return text;
    }
    let mut start = text.len() - LOG_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> LogLine {
        LogLine {
            env_id: "e".into(),
            source: LogSource::Function,
            time: chrono::Utc::now(),
            line: text.into(),
        }
    }

    #[test]
    fn log_tail_keeps_the_last_4_kb() {
        let lines: Vec<LogLine> = (0..200)
            .map(|i| line(&format!("line {i:04} {}", "x".repeat(40))))
            .collect();
        let tail = log_tail(&lines);
        assert_eq!(tail.len(), LOG_TAIL_BYTES);
        assert!(tail.ends_with(&format!("line 0199 {}\n", "x".repeat(40))));
    }

    #[test]
    fn short_logs_are_returned_whole() {
        let tail = log_tail(&[line("START"), line("END")]);
        assert_eq!(tail, "START\nEND\n");
    }
}
