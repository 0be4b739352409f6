//! One Lambda execution environment: the function and every layer extension as real child
//! processes, the Runtime / Extensions / Telemetry APIs they talk to, and the phases
//! (init, invoke, shutdown) that Lambda drives them through.
//!
//! `contract` holds the public types, the contract between the environment and its users
//! (`control_plane.rs`, `experiment.rs`, tests). Inside, dependencies point one way, from the
//! HTTP side down to the rules:
//!
//! - `runtime_api`, `extensions_api`, `telemetry_api`: the APIs' HTTP handlers (with `http`,
//!   their shared answers); bodies, headers and records are `lambda_wire`'s;
//! - `bookkeeping` (what each API call does) and `phases` (init / invoke / shutdown): they take
//!   the lock, ask the rules, and carry out the effects (records, queued events, signals);
//! - `shared` (what the phases and handlers share: state, telemetry hub, logs, processes),
//!   `state` (the state behind the lock), `telemetry` (delivery to subscribers), `process`
//!   (children, signals, procfs), `variables` (the processes' environment), `ids`;
//! - `rules`: the environment's rules with no I/O (registration, `/next` ordering, init's end
//!   and its records, invocations, shutdown), each a function from state and input to effects.
//!
//! Measured, not invented: durations come from `Instant`s taken where Lambda takes them
//! (initStart before the first spawn, the runtime's readiness at its first `/next`, initReport
//! when every extension is ready too, report when the last INVOKE subscriber asked again); max
//! memory is the processes' summed `VmHWM`. Which record goes out when follows
//! [`InitRecordOrder`].
//!
//! Faithful to Lambda's own init flow (the `rapid` process of AWS's runtime interface emulator):
//! every external extension is started first and must register; only then is the runtime
//! started; init ends when the runtime and every extension have asked for their next event. An
//! extension that registers after the runtime's first `/next` (an "internal" one, by a name that
//! is no executable in `extensions/`) gets 403 and fails the init.

mod bookkeeping;
mod contract;
mod extensions_api;
mod http;
mod ids;
mod phases;
mod process;
mod rules;
mod runtime_api;
mod shared;
mod state;
mod telemetry;
mod telemetry_api;
mod variables;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use tokio::sync::{watch, Mutex as AsyncMutex, Semaphore};
use tokio::task::JoinHandle;

pub use contract::*;
use ids::new_uuid;
pub use process::process_state;
use rules::{ApiState, Caller, Facts, Role};
use shared::Shared;
use state::{ProcSlot, State};
use telemetry::Hub;

/// A running execution environment. `Send + Sync`: share it behind an `Arc`; invocations are
/// serialised internally, one at a time, as on Lambda, or run up to
/// [`EnvironmentOptions::concurrency`] at once on Lambda Managed Instances.
pub struct Environment {
    shared: Arc<Shared>,
    lifecycle: Arc<AsyncMutex<Lifecycle>>,
    /// Managed Instances: one permit per invocation the environment may run at once.
    slots: Arc<Semaphore>,
    server: JoinHandle<()>,
}

// Shared between the control plane's request handlers.
const _: () = {
    fn send_sync<T: Send + Sync>() {}
    let _ = send_sync::<Environment>;
};

/// What only the invoking / stopping side needs, behind the lock that serialises invocations.
#[derive(Default)]
struct Lifecycle {
    /// The processes were torn down (timeout, crash): the next invocation runs init first.
    needs_init: bool,
    /// The teardown after a timeout or crash, running in the background.
    pending_reset: Option<JoinHandle<ShutdownOutcome>>,
    /// The init duration the next `platform.report` carries (first invocation after an init).
    report_init_ms: Option<f64>,
    stopped: Option<ShutdownOutcome>,
}

/// Lambda's response payload limit is 6 MB; leave room for the request envelope.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

impl Environment {
    /// Spawns every executable in the layers' `extensions/` (sorted by name) and, once they have
    /// registered, the function's `bootstrap`, all as real child processes; serves the APIs on
    /// 127.0.0.1:0 and returns once init completed (the runtime and every extension asked for
    /// their next event). Init failures are errors, after the processes were killed.
    pub async fn start(
        config: FunctionConfig,
        artifacts: Artifacts,
        options: EnvironmentOptions,
        logs: LogSink,
    ) -> anyhow::Result<Environment> {
        match Self::start_suppressing(config, artifacts, options, logs).await? {
            (_, Some(failure)) => Err(failure),
            (environment, None) => Ok(environment),
        }
    }

    /// Like [`Environment::start`], but an init that fails (or times out) does not end the
    /// environment: as Lambda documents ("suppressed init"), the init is run again during the
    /// first invocation, in the `invoke` phase, in this same environment (same `instanceId`).
    /// Returns the environment and, if init failed, why. Errors only when the environment
    /// could not be set up at all.
    pub async fn start_suppressing(
        config: FunctionConfig,
        artifacts: Artifacts,
        options: EnvironmentOptions,
        logs: LogSink,
    ) -> anyhow::Result<(Environment, Option<anyhow::Error>)> {
        let extension_paths = process::discover_extensions(&artifacts.layers)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Lambda APIs on 127.0.0.1")?;
        let api_addr = listener.local_addr()?;
        let env_id = new_uuid();
        let lambda_env = variables::lambda_env(
            &config,
            options.initialization_type,
            &options.platform_variables,
            &env_id,
            api_addr,
            &artifacts,
        );
        let region = lambda_env.region.clone();
        let function_arn = format!(
            "arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{}",
            config.function_name
        );
        let facts = Facts::new(&config, &options, &env_id, &region);
        let mut process_env = lambda_env.for_runtime();
        if options.managed_instances() {
            // The runtime's workers (AWS's emulator for Managed Instances sets it for the
            // runtime only, not for extensions).
            process_env.insert(
                MAX_CONCURRENCY_VARIABLE.to_owned(),
                options.concurrency().to_string(),
            );
        }
        let slots = Arc::new(Semaphore::new(options.concurrency() as usize));
        let (frozen, frozen_rx) = watch::channel(false);
        let lost_telemetry_batches = options.lost_telemetry_batches;
        let shared = Arc::new(Shared {
            config,
            env_id,
            api_addr,
            function_arn,
            account_id: ACCOUNT_ID.into(),
            options,
            artifacts,
            extension_paths,
            process_env,
            extension_env: lambda_env.for_extension(),
            state: Mutex::new(State::new(ApiState::new(facts))),
            changed: watch::Sender::new(0),
            frozen,
            telemetry: Hub::new(frozen_rx, lost_telemetry_batches),
            logs,
        });
        let app = axum::Router::new()
            .merge(runtime_api::routes())
            .merge(extensions_api::routes())
            .merge(telemetry_api::routes())
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(%err, "the Lambda APIs stopped");
            }
        });
        let environment = Environment {
            shared,
            lifecycle: Arc::new(AsyncMutex::new(Lifecycle::default())),
            slots,
            server,
        };
        let summary = match environment.shared.run_init("init", None).await {
            Ok(summary) => summary,
            Err(failure) => {
                // The processes are gone; the next invocation runs init again.
                environment.lifecycle.lock().await.needs_init = true;
                return Ok((environment, Some(failure)));
            }
        };
        environment.lifecycle.lock().await.report_init_ms = Some(summary.duration_ms);
        if environment.shared.options.freezes() {
            environment.shared.freeze().await;
        }
        Ok((environment, None))
    }

    /// The Telemetry API's `instanceId`, also `LogLine::env_id`.
    pub fn id(&self) -> &str {
        &self.shared.env_id
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.shared.config
    }

    /// Where the Runtime, Extensions and Telemetry APIs listen (`AWS_LAMBDA_RUNTIME_API`).
    pub fn api_addr(&self) -> SocketAddr {
        self.shared.api_addr
    }

    /// Runs one invocation (serialised per environment) and returns once the runtime answered
    /// and every INVOKE-subscribed extension asked for its next event. After a timeout or a
    /// crash the processes are torn down (SHUTDOWN with that reason) and the next invocation
    /// runs init again, in the invoke phase, and pays for it.
    ///
    /// An extension that does not ask for its next event before the timeout resets the
    /// environment too, but the runtime's answer still stands (Lambda has returned it to the
    /// caller already); `platform.report` then says `timeout`.
    ///
    /// Cancel-safe: the invocation runs in its own task, so a caller that goes away (a client
    /// disconnecting) does not leave the environment half-way (thawed, or with a request the
    /// runtime still holds).
    ///
    /// On Lambda Managed Instances invocations are not serialised: up to the environment's
    /// concurrency run at once (one more waits for a slot), and nothing is frozen. See
    /// `invoke_concurrent` for what a crash or a timeout does there.
    pub async fn invoke(&self, req: InvokeRequest) -> anyhow::Result<InvokeResponse> {
        if req.tenant_id != self.shared.options.tenant_id {
            anyhow::bail!(
                "execution environment {} serves tenant {:?} only, not {:?}",
                self.shared.env_id,
                self.shared.options.tenant_id,
                req.tenant_id
            );
        }
        let shared = self.shared.clone();
        let lifecycle = self.lifecycle.clone();
        if shared.options.managed_instances() {
            let slots = self.slots.clone();
            return tokio::spawn(async move {
                let _slot = slots
                    .acquire_owned()
                    .await
                    .context("the environment's invocation slots are closed")?;
                invoke_concurrent(&shared, &lifecycle, req).await
            })
            .await
            .context("the invocation task failed")?;
        }
        tokio::spawn(async move {
            let mut lifecycle = lifecycle.lock_owned().await;
            invoke_serialised(&shared, &mut lifecycle, req).await
        })
        .await
        .context("the invocation task failed")?
    }

    /// SHUTDOWN to the extensions, SIGTERM to the runtime, SIGKILL for what is left at the
    /// deadline.
    pub async fn shutdown(self, reason: ShutdownReason) -> ShutdownOutcome {
        self.stop(reason).await
    }

    /// Like [`Environment::shutdown`] for an environment shared behind an `Arc`; later calls
    /// return the first outcome and invocations fail.
    pub async fn stop(&self, reason: ShutdownReason) -> ShutdownOutcome {
        let mut lifecycle = self.lifecycle.lock().await;
        if let Some(outcome) = &lifecycle.stopped {
            return outcome.clone();
        }
        let mut outcome = ShutdownOutcome {
            killed: Vec::new(),
            elapsed: Duration::ZERO,
        };
        if let Some(reset) = lifecycle.pending_reset.take() {
            if let Ok(reset) = reset.await {
                outcome = reset;
            }
        }
        if !lifecycle.needs_init {
            outcome = self.shared.teardown(reason).await;
        }
        self.shared.lock().stopped = true;
        self.server.abort();
        lifecycle.stopped = Some(outcome.clone());
        outcome
    }

    /// Per extension process of the current init: spawn, registration and first
    /// `/event/next` instants.
    pub fn extension_timings(&self) -> Vec<ExtensionTiming> {
        let state = self.shared.lock();
        state
            .procs
            .iter()
            .filter_map(|p| match &p.role {
                Role::Extension(name) => {
                    let slot = state
                        .api
                        .extensions
                        .iter()
                        .find(|e| e.external && e.name == *name);
                    Some(ExtensionTiming {
                        name: name.clone(),
                        pid: Some(p.pid),
                        spawning_at: p.spawning_at,
                        spawned_at: p.spawned_at,
                        registered_at: slot.map(|s| s.registered_at),
                        first_next_at: slot.and_then(|s| s.first_next_at),
                    })
                }
                Role::Runtime => None,
            })
            .collect()
    }

    /// The pids of the live processes (runtime first, then extensions by name).
    pub fn pids(&self) -> Vec<u32> {
        let state = self.shared.lock();
        let mut live: Vec<&ProcSlot> = state.procs.iter().filter(|p| p.exited.is_none()).collect();
        live.sort_by_key(|p| match &p.role {
            Role::Runtime => (0, String::new()),
            Role::Extension(name) => (1, name.clone()),
        });
        live.into_iter().map(|p| p.pid).collect()
    }

    /// The runtime's pid, if it is running.
    pub fn runtime_pid(&self) -> Option<u32> {
        let state = self.shared.lock();
        state
            .procs
            .iter()
            .find(|p| p.role == Role::Runtime && p.exited.is_none())
            .map(|p| p.pid)
    }

    /// The most recent init's measured figures.
    pub fn last_init(&self) -> Option<InitSummary> {
        self.shared.lock().last_init.clone()
    }

    /// Tenant isolation: the tenant this environment is dedicated to.
    pub fn tenant_id(&self) -> Option<&str> {
        self.shared.options.tenant_id.as_deref()
    }

    /// How many invocations this environment completed.
    pub fn invocations(&self) -> u64 {
        self.shared.lock().invocations
    }

    /// Whether the environment still accepts invocations (not stopped).
    pub fn is_alive(&self) -> bool {
        !self.shared.lock().stopped
    }

    /// A handle that can kill this environment's processes from anywhere (thawing them first),
    /// without keeping the environment alive: the last resort of a bounded exit.
    pub fn killer(&self) -> Killer {
        Killer {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// See [`Environment::killer`].
#[derive(Clone)]
pub struct Killer {
    shared: Weak<Shared>,
}

impl Killer {
    /// SIGCONT then SIGKILL to every live process; false when the environment is gone already.
    pub fn kill(&self) -> bool {
        match self.shared.upgrade() {
            Some(shared) => {
                shared.kill_all();
                true
            }
            None => false,
        }
    }

    /// Whether the environment still exists.
    pub fn is_gone(&self) -> bool {
        self.shared.strong_count() == 0
    }
}

/// The runtime-only variable that tells a Managed Instances runtime how many workers to run.
const MAX_CONCURRENCY_VARIABLE: &str = "AWS_LAMBDA_MAX_CONCURRENCY";

/// One invocation on Lambda Managed Instances, beside others in flight (the caller holds one
/// of the environment's slots). Nothing is frozen, no init runs here (Managed Instances
/// initialise ahead of traffic), and an environment is never re-initialised in place: a
/// runtime that exited, or a process that died while idle, ends the environment (its
/// processes get SHUTDOWN `failure`): the control plane spins it down and the others serve (one
/// more starts when they are all full). A timeout fails only
/// its own invocation: Managed Instances stop no handler at its deadline, and the runtime's
/// other workers go on.
async fn invoke_concurrent(
    shared: &Arc<Shared>,
    lifecycle: &AsyncMutex<Lifecycle>,
    req: InvokeRequest,
) -> anyhow::Result<InvokeResponse> {
    {
        let lifecycle = lifecycle.lock().await;
        if lifecycle.stopped.is_some() || lifecycle.needs_init {
            anyhow::bail!("execution environment {} is shut down", shared.env_id);
        }
    }
    let died = shared.live_pids().len() < shared.lock().procs.len();
    if died {
        end_concurrent(shared, lifecycle).await;
        anyhow::bail!(
            "execution environment {} lost a process while idle and is replaced",
            shared.env_id
        );
    }
    let request_id = req.request_id.unwrap_or_else(new_uuid);
    let caller = Caller {
        client_context: req.client_context,
        cognito_identity: req.cognito_identity,
        tenant_id: req.tenant_id,
    };
    let (response, reset) = shared
        .run_invoke(request_id, req.payload, caller, None)
        .await;
    if reset == Some(ShutdownReason::Failure) {
        end_concurrent(shared, lifecycle).await;
    }
    Ok(response)
}

/// A Managed Instances environment that can serve no more: its teardown (SHUTDOWN `failure`)
/// starts in the background, and it reports itself no longer alive so that the control plane
/// spins it down.
async fn end_concurrent(shared: &Arc<Shared>, lifecycle: &AsyncMutex<Lifecycle>) {
    let mut lifecycle = lifecycle.lock().await;
    if lifecycle.needs_init || lifecycle.stopped.is_some() {
        return;
    }
    lifecycle.needs_init = true;
    shared.lock().stopped = true;
    let shared = shared.clone();
    lifecycle.pending_reset = Some(tokio::spawn(async move {
        shared.teardown(ShutdownReason::Failure).await
    }));
}

/// One invocation, with the environment's invocation lock held.
async fn invoke_serialised(
    shared: &Arc<Shared>,
    lifecycle: &mut Lifecycle,
    req: InvokeRequest,
) -> anyhow::Result<InvokeResponse> {
    if lifecycle.stopped.is_some() {
        anyhow::bail!("execution environment {} is shut down", shared.env_id);
    }
    if let Some(reset) = lifecycle.pending_reset.take() {
        let _ = reset.await;
    }
    let request_id = req.request_id.unwrap_or_else(new_uuid);
    // A process that died while the environment was idle (an extension crashing between
    // invocations): Lambda resets the environment before the next invocation.
    let died = shared.live_pids().len() < shared.lock().procs.len();
    if !lifecycle.needs_init && died {
        shared.teardown(ShutdownReason::Failure).await;
        lifecycle.needs_init = true;
    }
    let mut init_duration_ms = lifecycle.report_init_ms.take();
    if lifecycle.needs_init {
        let summary = shared
            .run_init("invoke", Some(request_id.clone()))
            .await
            .with_context(|| format!("re-init for request {request_id}"))?;
        lifecycle.needs_init = false;
        init_duration_ms = Some(summary.duration_ms);
    }
    let caller = Caller {
        client_context: req.client_context,
        cognito_identity: req.cognito_identity,
        tenant_id: req.tenant_id,
    };
    let (response, reset) = shared
        .run_invoke(request_id, req.payload, caller, init_duration_ms)
        .await;
    match reset {
        Some(reason) => {
            lifecycle.needs_init = true;
            let shared = shared.clone();
            lifecycle.pending_reset =
                Some(tokio::spawn(async move { shared.teardown(reason).await }));
        }
        None if shared.options.freezes() => shared.freeze().await,
        None => {}
    }
    Ok(response)
}

impl Drop for Environment {
    /// No child outlives its environment, even when nobody called `shutdown`.
    fn drop(&mut self) {
        if let Ok(mut lifecycle) = self.lifecycle.try_lock() {
            if let Some(reset) = lifecycle.pending_reset.take() {
                reset.abort();
            }
        }
        self.shared.kill_all();
        self.shared.telemetry.close();
        self.server.abort();
    }
}
