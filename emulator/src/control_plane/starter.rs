//! The one place an environment is started: on demand, for the request that waits; ahead of
//! demand (provisioned concurrency); or as the SnapStart snapshot. And the one place the
//! "environment started" event is built, for those and for a re-init inside an invocation.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::events::ControlPlaneEvent;
use super::invocation::InvokeError;
use super::pool::Start;
use super::shared::Shared;
use super::start_reason::{on_demand_reason, reinit_reason, StartReason};
use super::versions::{FunctionState, PoolKey};
use crate::environment::{Environment, EnvironmentOptions, InitializationType};

/// Which init a new environment runs.
#[derive(Clone, Copy)]
enum Init {
    /// For a request (a restore under SnapStart).
    OnDemand,
    /// Ahead of demand.
    Provisioned,
    /// The SnapStart snapshot's.
    Snapshot,
    /// A Lambda Managed Instances environment (always ahead of demand).
    ManagedInstances,
}

/// An environment whose init is over, and when it ran.
struct Initialised {
    env: Environment,
    /// Why init failed, when it is to run again inside the first invocation.
    failed_init: Option<anyhow::Error>,
    started_at: DateTime<Utc>,
    start_ms: f64,
}

/// The options of a new environment: the configured ones, with the initialisation type of
/// `kind`, dedicated to `tenant` (tenant isolation).
fn options(shared: &Shared, kind: Init, tenant: Option<&str>) -> EnvironmentOptions {
    let mut options = shared.options.environment.clone();
    options.tenant_id = tenant.map(str::to_owned);
    match kind {
        Init::OnDemand if shared.options.snap_start => {
            options.initialization_type = InitializationType::SnapStart;
            options.restore = true;
        }
        Init::OnDemand => {}
        Init::Provisioned => {
            options.initialization_type = InitializationType::ProvisionedConcurrency
        }
        Init::Snapshot => options.initialization_type = InitializationType::SnapStart,
        Init::ManagedInstances => {
            options.initialization_type = InitializationType::ManagedInstances;
            options.max_concurrency = shared
                .options
                .managed_instances
                .as_ref()
                .map_or(1, |m| m.max_concurrency);
        }
    }
    options
}

/// Runs a new environment's init (for `key`'s tenant). A failed init leaves the environment
/// up, to run init again inside its first invocation (Lambda's suppressed init); only an
/// environment that could not be set up at all is an error.
async fn init(
    shared: &Shared,
    function: &FunctionState,
    key: &PoolKey,
    kind: Init,
) -> anyhow::Result<Initialised> {
    let clock = Instant::now();
    let started_at = Utc::now();
    let (env, failed_init) = Environment::start_suppressing(
        function.config.clone(),
        function.artifacts.clone(),
        options(shared, kind, key.tenant.as_deref()),
        shared.logs.clone(),
    )
    .await?;
    Ok(Initialised {
        env,
        failed_init,
        started_at,
        start_ms: clock.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Like [`init`], for an environment nobody waits for: a failed init ends it.
async fn init_or_fail(
    shared: &Shared,
    function: &FunctionState,
    kind: Init,
) -> anyhow::Result<Initialised> {
    let mut initialised = init(shared, function, &function.key(), kind).await?;
    match initialised.failed_init.take() {
        Some(failure) => Err(failure),
        None => Ok(initialised),
    }
}

/// The "environment started" event, built here only: how its init ended is the environment's
/// own last init record.
fn started_event(
    env: &Environment,
    key: &PoolKey,
    start_ms: f64,
    started_at: DateTime<Utc>,
    (reason, detail): (StartReason, String),
    request_id: &str,
) -> ControlPlaneEvent {
    let config = env.config();
    let init = env.last_init();
    ControlPlaneEvent::EnvironmentStarted {
        env_id: env.id().to_owned(),
        revision: key.revision,
        start_ms,
        function_name: config.function_name.clone(),
        version: config.version.clone(),
        started_at,
        reason,
        detail,
        request_id: request_id.to_owned(),
        tenant_id: env.tenant_id().map(str::to_owned),
        init_status: init.as_ref().map_or("success", |i| i.status).to_owned(),
        init_error_type: init.and_then(|i| i.error_type),
    }
}

/// When the environment's last init failed (Lambda then resets it: SHUTDOWN `failure`, or
/// `timeout` for an init that timed out), says so with a reset event for `request_id`, the
/// request that waited for it, which runs init again (or, for a retry that failed, the next
/// one does).
pub(crate) fn report_failed_init(shared: &Shared, env: &Environment, request_id: &str) {
    let Some(reason) = env.last_init().and_then(|init| init.reset_reason()) else {
        return;
    };
    shared.emit(ControlPlaneEvent::EnvironmentReset {
        env_id: env.id().to_owned(),
        reason,
        request_id: request_id.to_owned(),
        tenant_id: env.tenant_id().map(str::to_owned),
        invocations: env.invocations(),
    });
}

/// Gives an on-demand start's place in the pool back if its init never reports (a panic), so
/// the limit does not count a request that is gone.
struct Pending<'a> {
    shared: &'a Arc<Shared>,
    start: &'a Start,
    reported: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.reported {
            self.shared.start_failed(self.start);
        }
    }
}

/// Starts the environment the pool decided on for request `request_id`, which waits for it;
/// the environment joins the pool serving that request.
pub(crate) async fn start_on_demand(
    shared: &Arc<Shared>,
    start: Start,
    request_id: &str,
) -> Result<Arc<Environment>, InvokeError> {
    let mut pending = Pending {
        shared,
        start: &start,
        reported: false,
    };
    // A failed start reports itself: `pending` is dropped unreported.
    let initialised = init(shared, &start.function, &start.key, Init::OnDemand)
        .await
        .map_err(|error| InvokeError::InitFailed {
            request_id: request_id.to_owned(),
            error,
        })?;
    pending.reported = true;
    let env = Arc::new(initialised.env);
    let release = shared
        .pool()
        .started(&start, env.id(), env.clone(), Instant::now());
    shared.carry_out(release);
    if let Some(failure) = &initialised.failed_init {
        tracing::info!(
            env_id = env.id(),
            "init failed, retried in the invoke phase: {failure:#}"
        );
    }
    let reason = on_demand_reason(
        (start.reason, start.detail.clone()),
        shared.options.snap_start,
    );
    shared.track(&env);
    shared.emit(started_event(
        &env,
        &start.key,
        initialised.start_ms,
        initialised.started_at,
        reason,
        request_id,
    ));
    // A failed init: the environment was reset, and the request runs init again (its retry
    // is a start of its own, reported after the invocation by `report_reinit`).
    report_failed_init(shared, &env, request_id);
    Ok(env)
}

/// An environment that re-ran init inside invocation `request_id` (its previous invocation
/// crashed or timed out, or its own init failed) was, in effect, started again: say so, with
/// its own init record (and, when that retry failed too, the reset that follows).
pub(crate) fn report_reinit(shared: &Shared, env: &Environment, key: &PoolKey, request_id: &str) {
    let Some(init) = env.last_init() else { return };
    let Some(reason) = reinit_reason(init.phase, init.request_id.as_deref(), request_id) else {
        return;
    };
    shared.emit(started_event(
        env,
        key,
        init.duration_ms,
        init.started_at,
        reason,
        request_id,
    ));
    report_failed_init(shared, env, request_id);
}

/// Initialises [`ControlPlaneOptions::provisioned_concurrency`] environments of the current
/// configuration in the background; each joins the idle pool when its init is done. Under
/// SnapStart, the snapshot's init runs first. On Managed Instances,
/// [`ManagedInstances::environments_ahead`] environments start instead, for the reasons the
/// pool's history gives (first-seen, configuration-change...).
///
/// [`ControlPlaneOptions::provisioned_concurrency`]: super::options::ControlPlaneOptions::provisioned_concurrency
/// [`ManagedInstances::environments_ahead`]: super::options::ManagedInstances::environments_ahead
pub(crate) fn provision(shared: &Arc<Shared>) {
    if shared.options.managed_instances.is_some() {
        let latest = shared.pool().versions().latest().clone();
        managed_ahead(shared, &latest);
        return;
    }
    if shared.options.snap_start {
        // The sandbox keeps no snapshot, so its processes are discarded (killed without
        // SHUTDOWN) once its init is done.
        let function = shared.pool().versions().latest().clone();
        let this = shared.clone();
        shared.in_background(tokio::spawn(async move {
            match init_or_fail(&this, &function, Init::Snapshot).await {
                Ok(snapshot) => drop(snapshot.env),
                Err(e) => tracing::warn!("the SnapStart snapshot's init failed: {e:#}"),
            }
        }));
    }
    for _ in 0..shared.options.provisioned_concurrency {
        let start = shared.pool().provision();
        spawn_ahead(shared, start, Init::Provisioned);
    }
}

/// Managed Instances: starts [`ManagedInstances::environments_ahead`] environments of
/// `function` (the current configuration, or a version just published) ahead of traffic.
///
/// [`ManagedInstances::environments_ahead`]: super::options::ManagedInstances::environments_ahead
pub(crate) fn managed_ahead(shared: &Arc<Shared>, function: &FunctionState) {
    let Some(managed) = &shared.options.managed_instances else {
        return;
    };
    let batch = shared
        .pool()
        .start_ahead_batch(function.clone(), managed.environments_ahead);
    for start in batch {
        start_ahead(shared, start);
    }
}

/// Managed Instances: starts, in the background, the environment the pool decided on ahead of
/// demand (see [`provision`]; a scale-out when every environment is full). Requests waiting
/// for a slot are woken when it joins.
pub(crate) fn start_ahead(shared: &Arc<Shared>, start: Start) {
    spawn_ahead(shared, start, Init::ManagedInstances);
}

/// Runs `start`'s init (of `kind`) in the background; the environment joins the idle pool when
/// it is done, and its start is reported.
fn spawn_ahead(shared: &Arc<Shared>, start: Start, kind: Init) {
    let this = shared.clone();
    shared.in_background(tokio::spawn(async move {
        match init_or_fail(&this, &start.function, kind).await {
            Ok(initialised) => {
                let env = Arc::new(initialised.env);
                this.track(&env);
                let release = this
                    .pool()
                    .started(&start, env.id(), env.clone(), Instant::now());
                this.emit(started_event(
                    &env,
                    &start.key,
                    initialised.start_ms,
                    initialised.started_at,
                    (start.reason, start.detail.clone()),
                    "",
                ));
                this.carry_out(release);
            }
            Err(e) => {
                this.start_failed(&start);
                tracing::warn!("an environment started ahead of demand failed to init: {e:#}")
            }
        }
    }));
}
