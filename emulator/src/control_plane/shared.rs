//! What every operation of the control plane shares ([`Shared`]): the pool's rules behind one
//! lock, holding the environments as `Arc<Environment>`; the options, the log sink and the event
//! channel; and the effects the pool's decisions call for: parking an environment (with its
//! idle-reclaim timer), spinning one down, and keeping hold of background work and of every
//! process started, so that closing can wait for the one and kill the other.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;

use super::events::ControlPlaneEvent;
use super::options::ControlPlaneOptions;
use super::pool::{Limits, Pool, Release, Start, INVOCATIONS_PER_ENVIRONMENT};
use super::versions::FunctionState;
use crate::environment::{Environment, Killer, LogSink, ShutdownReason};

/// The pool as the shell holds it.
pub(crate) type EnvPool = Pool<Arc<Environment>>;

pub(crate) struct Shared {
    pool: Mutex<EnvPool>,
    pub(crate) options: ControlPlaneOptions,
    pub(crate) logs: LogSink,
    events: broadcast::Sender<ControlPlaneEvent>,
    /// Spindowns and inits ahead of demand run in the background (an update answers at once, as
    /// on Lambda); closing waits for them so no process outlives the sandbox.
    background: Mutex<Vec<JoinHandle<()>>>,
    /// Woken whenever a request stops being in flight.
    released: Notify,
    /// Every environment started and not yet dropped, so that a bounded exit can kill what a
    /// graceful one could not reach.
    started: Mutex<Vec<Killer>>,
}

/// A panic while holding a lock leaves plain data behind; keep serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(
        function: FunctionState,
        options: ControlPlaneOptions,
        logs: LogSink,
    ) -> Self {
        Self::with_events(function, options, logs, broadcast::channel(1024).0)
    }

    /// Like [`Shared::new`], publishing to `events` (a function created beside another reports
    /// to that one's observers).
    pub(crate) fn with_events(
        function: FunctionState,
        options: ControlPlaneOptions,
        logs: LogSink,
        events: broadcast::Sender<ControlPlaneEvent>,
    ) -> Self {
        let limits = Limits {
            max_environments: options.max_environments,
            capacity: options
                .managed_instances
                .as_ref()
                .map_or(INVOCATIONS_PER_ENVIRONMENT, |m| {
                    m.max_concurrency.max(1) as usize
                }),
            idle_reclaim: options.idle_reclaim,
            scale_ahead: options.managed_instances.is_some(),
        };
        Self {
            pool: Mutex::new(Pool::new(function, limits)),
            options,
            logs,
            events,
            background: Mutex::new(Vec::new()),
            released: Notify::new(),
            started: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn pool(&self) -> MutexGuard<'_, EnvPool> {
        lock(&self.pool)
    }

    pub(crate) fn emit(&self, event: ControlPlaneEvent) {
        let _ = self.events.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ControlPlaneEvent> {
        self.events.subscribe()
    }

    /// The channel the events go out on.
    pub(crate) fn events(&self) -> broadcast::Sender<ControlPlaneEvent> {
        self.events.clone()
    }

    /// A start the pool decided on failed its init (or never reported).
    pub(crate) fn start_failed(&self, start: &Start) {
        self.pool().start_failed(start);
        self.released.notify_waiters();
    }

    /// An invocation on `env` ended: the pool decides where the environment goes.
    pub(crate) fn release(self: &Arc<Self>, env: &Environment) {
        let release = self
            .pool()
            .release(env.id(), env.is_alive(), Instant::now());
        self.carry_out(release);
    }

    /// Does what the pool decided for an environment, and wakes whoever waits for requests to
    /// end.
    pub(crate) fn carry_out(self: &Arc<Self>, release: Release<Arc<Environment>>) {
        match release {
            Release::Idle { reclaim_at } => {
                if let Some(at) = reclaim_at {
                    self.arm_idle_reclaim(at);
                }
            }
            Release::Serving => {}
            Release::SpinDown(env) => self.spin_down(env, ShutdownReason::Spindown),
        }
        self.released.notify_waiters();
    }

    /// At `at`, spins down what has been idle long enough by then. The timer holds no strong
    /// reference: a dropped control plane cancels nothing it needs.
    fn arm_idle_reclaim(self: &Arc<Self>, at: Instant) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let Some(shared) = weak.upgrade() else { return };
            let reclaimed = shared.pool().reclaim_idle(Instant::now().max(at));
            for env in reclaimed {
                tracing::debug!(env_id = env.id(), "idle reclaim");
                shared.spin_down(env, ShutdownReason::Spindown);
            }
        });
    }

    /// Shuts the environment down in the background and reports it.
    pub(crate) fn spin_down(self: &Arc<Self>, env: Arc<Environment>, reason: ShutdownReason) {
        let this = self.clone();
        self.in_background(tokio::spawn(async move {
            let env_id = env.id().to_owned();
            tracing::debug!(
                env_id,
                reason = reason.as_str(),
                "shutting down environment"
            );
            let outcome = env.stop(reason).await;
            let (tenant_id, invocations) = (env.tenant_id().map(str::to_owned), env.invocations());
            drop(env);
            this.emit(ControlPlaneEvent::EnvironmentStopped {
                env_id,
                reason,
                killed: outcome.killed,
                tenant_id,
                invocations,
            });
        }));
    }

    /// Work that closing must wait for.
    pub(crate) fn in_background(&self, task: JoinHandle<()>) {
        let mut background = lock(&self.background);
        background.retain(|t| !t.is_finished());
        background.push(task);
    }

    /// Remembers how to kill `env`'s processes, whatever becomes of it.
    pub(crate) fn track(&self, env: &Environment) {
        let mut started = lock(&self.started);
        started.retain(|k| !k.is_gone());
        started.push(env.killer());
    }

    /// Kills (SIGCONT, then SIGKILL) every process of every environment still alive.
    pub(crate) fn kill_all(&self) {
        for killer in lock(&self.started).iter() {
            killer.kill();
        }
    }

    /// Waits until a request stops being in flight or an environment joins the pool (or the
    /// pool changes otherwise), or until `deadline`; false when the deadline came first.
    /// `notified` must be taken (with [`Shared::released_notified`]) before the pool was last
    /// asked, so that no wake-up between the two is missed.
    pub(crate) async fn wait_released(
        notified: tokio::sync::futures::Notified<'_>,
        deadline: tokio::time::Instant,
    ) -> bool {
        tokio::time::timeout_at(deadline, notified).await.is_ok()
    }

    /// A wake-up for [`Shared::wait_released`], armed now.
    pub(crate) fn released_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.released.notified()
    }

    /// Waits until no request is in flight, or until `deadline`.
    pub(crate) async fn requests_ended(&self, deadline: tokio::time::Instant) {
        loop {
            let notified = self.released.notified();
            if self.pool().in_flight() == 0 || tokio::time::Instant::now() >= deadline {
                return;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Waits for every background task, including those started while waiting.
    pub(crate) async fn background_done(&self) {
        loop {
            let tasks: Vec<JoinHandle<()>> = lock(&self.background).drain(..).collect();
            if tasks.is_empty() {
                return;
            }
            for task in tasks {
                let _ = task.await;
            }
        }
    }
}
