//! The pool's rules, with no I/O: which environment serves a request, when a new one starts
//! (and why, from [`History`]), when one is spun down (idle reclaim, a configuration update, a
//! closed pool, a dead environment) and when a request is refused (429). The function's
//! [`Versions`] live here too, so that an update and the spin-downs it causes are one step.
//! Every input carries what the rule needs (the time as an `Instant`, whether an environment is
//! still alive), so each rule is a plain unit test (`pool/tests.rs`); the shell (`shared.rs`,
//! `starter.rs`, `invoke.rs`) takes the lock, calls a rule, then starts, parks or stops
//! processes as told.
//!
//! Environments are handles of any type `E` (the shell's `Arc<Environment>`, a name in the
//! tests) under their id. An environment takes up to [`Limits::capacity`] invocations at once:
//! one on Lambda today (Lambda Managed Instances take more), so "busy" is a count of invocations
//! in flight, not a flag.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::start_reason::{History, StartReason};
use super::versions::{ConfigUpdate, FunctionState, PoolKey, Published, Versions, LATEST};

/// Invocations one environment takes at once, as on Lambda's on-demand environments.
pub(crate) const INVOCATIONS_PER_ENVIRONMENT: usize = 1;

/// The platform's limits on the pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Environments initialising on demand or invoking at once; a request that needs one more
    /// gets 429.
    pub(crate) max_environments: usize,
    /// Invocations one environment takes at once.
    pub(crate) capacity: usize,
    /// Spin down an environment idle this long (`None`: keep it).
    pub(crate) idle_reclaim: Option<Duration>,
    /// Lambda Managed Instances: no request starts an environment of its own and waits for its
    /// init. Environments are started ahead of traffic; a request that finds every one full
    /// waits for a slot while one more scales out ([`Admission::Wait`]).
    pub(crate) scale_ahead: bool,
}

/// A started environment in the pool.
struct Slot<E> {
    env: E,
    key: PoolKey,
    /// Invocations it is running now.
    in_flight: usize,
    /// Since when nothing has been in flight (`None` while invoking).
    idle_since: Option<Instant>,
    /// When it last joined the pool or had an invocation end (a sequence number): the most
    /// recently used, the warmest, answers first, as on Lambda.
    last_used: u64,
    /// Its processes are gone while invocations are still in flight on it ([`Pool::retire`]):
    /// it takes no more, and leaves when the last ends.
    retired: bool,
}

/// The pool of one function: its versions, its environments, what it has started so far.
pub(crate) struct Pool<E> {
    versions: Versions,
    limits: Limits,
    slots: BTreeMap<String, Slot<E>>,
    /// On-demand starts under way; each holds the request that waits for it.
    starting: usize,
    /// Starts ahead of demand under way, per pool key (nobody holds them).
    ahead: BTreeMap<PoolKey, usize>,
    history: History,
    closed: bool,
    uses: u64,
}

/// Why an environment is started, which decides what happens once its init is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// For a request that waits for it (counted toward the limit while it initialises).
    OnDemand,
    /// Ahead of demand (provisioned concurrency, Managed Instances): it joins the idle
    /// environments.
    Provisioned,
}

/// A new environment to start: of which configuration, and why.
#[derive(Clone, Debug)]
pub(crate) struct Start {
    pub(crate) function: FunctionState,
    pub(crate) key: PoolKey,
    pub(crate) origin: Origin,
    pub(crate) reason: StartReason,
    pub(crate) detail: String,
}

/// How a request is served.
#[derive(Debug)]
pub(crate) enum Admission<E> {
    /// By this running environment; the request is in flight on it now.
    Warm { env: E, key: PoolKey },
    /// By a new environment, started for it ([`Pool::started`] or [`Pool::start_failed`] once
    /// its init is over).
    Start(Box<Start>),
    /// Managed Instances: every environment of the pool key is at its concurrency. The request
    /// waits for a slot (an invocation ending, or an environment started ahead joining) and
    /// asks again; `scale_out` is one more environment to start ahead now, when none of the
    /// key is starting already.
    Wait { scale_out: Option<Box<Start>> },
}

/// Why a request gets no environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The pool is closing.
    Closed,
    /// The qualifier names no version of the function.
    UnknownVersion(String),
    /// Every environment the limit allows is busy (Lambda: 429).
    TooManyRequests { limit: usize },
}

/// What becomes of an environment when an invocation on it ends (or its init, for one started
/// ahead of demand).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Release<E> {
    /// It waits for the next request; spin it down at `reclaim_at` if it is idle still
    /// ([`Pool::reclaim_idle`]).
    Idle { reclaim_at: Option<Instant> },
    /// It is still running other invocations (or is no longer in the pool).
    Serving,
    /// Out of the pool (its configuration is no longer current, the pool is closing, or its
    /// processes are gone): spin it down.
    SpinDown(E),
}

impl<E: Clone> Pool<E> {
    pub(crate) fn new(function: FunctionState, limits: Limits) -> Self {
        Self {
            versions: Versions::new(function),
            limits,
            slots: BTreeMap::new(),
            starting: 0,
            ahead: BTreeMap::new(),
            history: History::default(),
            closed: false,
            uses: 0,
        }
    }

    pub(crate) fn versions(&self) -> &Versions {
        &self.versions
    }

    /// Environments with no invocation in flight.
    pub(crate) fn idle(&self) -> usize {
        self.slots.values().filter(|s| s.in_flight == 0).count()
    }

    /// Requests being served or waiting for an init: closing waits until there are none.
    pub(crate) fn in_flight(&self) -> usize {
        self.starting + self.slots.values().map(|s| s.in_flight).sum::<usize>()
    }

    /// What the limit counts: environments initialising on demand or invoking.
    fn busy(&self) -> usize {
        self.starting + self.slots.values().filter(|s| s.in_flight > 0).count()
    }

    /// A request for `qualifier` (and, with tenant isolation, `tenant`) arrived: the most
    /// recently used environment of its pool key with room for it, else a new environment (if
    /// the limit allows one), else a refusal. The limit counts every tenant's environments, as
    /// Lambda's concurrency does.
    pub(crate) fn admit(
        &mut self,
        qualifier: Option<&str>,
        tenant: Option<&str>,
    ) -> Result<Admission<E>, Refusal> {
        if self.closed {
            return Err(Refusal::Closed);
        }
        let function = self
            .versions
            .resolve(qualifier)
            .cloned()
            .ok_or_else(|| Refusal::UnknownVersion(qualifier.unwrap_or(LATEST).to_owned()))?;
        let key = function.key_for(tenant);
        let capacity = self.limits.capacity;
        let warm = self
            .slots
            .values_mut()
            .filter(|slot| slot.key == key && slot.in_flight < capacity && !slot.retired)
            .max_by_key(|slot| slot.last_used);
        if let Some(slot) = warm {
            slot.in_flight += 1;
            slot.idle_since = None;
            return Ok(Admission::Warm {
                env: slot.env.clone(),
                key,
            });
        }
        if self.limits.scale_ahead {
            return self.wait_for_slot(function);
        }
        if self.busy() >= self.limits.max_environments {
            return Err(Refusal::TooManyRequests {
                limit: self.limits.max_environments,
            });
        }
        Ok(Admission::Start(Box::new(
            self.start_on_demand(function, key),
        )))
    }

    /// Managed Instances, every environment of the key full: wait, and scale out unless an
    /// environment of the key is starting already. Beyond the limit on environments (each at
    /// its concurrency), the request is refused: Lambda throttles what its capacity cannot
    /// absorb.
    fn wait_for_slot(&mut self, function: FunctionState) -> Result<Admission<E>, Refusal> {
        let key = function.key();
        if self.ahead.get(&key).copied().unwrap_or(0) > 0 {
            return Ok(Admission::Wait { scale_out: None });
        }
        let environments = self.slots.len() + self.ahead.values().sum::<usize>();
        if environments >= self.limits.max_environments {
            return Err(Refusal::TooManyRequests {
                limit: self.limits.max_environments,
            });
        }
        let start = self.start_ahead(function);
        Ok(Admission::Wait {
            scale_out: Some(Box::new(start)),
        })
    }

    /// An environment of `function` to start ahead of demand, for the reason its history
    /// gives (Managed Instances: first-seen, a new version or configuration, scale-out).
    pub(crate) fn start_ahead(&mut self, function: FunctionState) -> Start {
        let key = function.key();
        let (reason, detail) = self.history.reason(&key);
        self.history.starting(&key);
        *self.ahead.entry(key.clone()).or_default() += 1;
        Start {
            function,
            key,
            origin: Origin::Provisioned,
            reason,
            detail,
        }
    }

    /// Managed Instances: `count` environments of `function` started ahead of traffic together
    /// (Lambda starts a version's first environments so, before marking it active). They share
    /// one reason, the one the first of them has: none of them is a scale-out of another.
    pub(crate) fn start_ahead_batch(
        &mut self,
        function: FunctionState,
        count: usize,
    ) -> Vec<Start> {
        let key = function.key();
        let (reason, detail) = self.history.reason(&key);
        (0..count)
            .map(|i| {
                self.history.starting(&key);
                *self.ahead.entry(key.clone()).or_default() += 1;
                Start {
                    function: function.clone(),
                    key: key.clone(),
                    origin: Origin::Provisioned,
                    reason,
                    detail: format!("{detail}; {} of {count} started ahead of traffic", i + 1),
                }
            })
            .collect()
    }

    /// A start ahead of demand of `key` is over (joined or failed).
    fn ahead_done(&mut self, key: &PoolKey) {
        if let Some(count) = self.ahead.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.ahead.remove(key);
            }
        }
    }

    /// An environment of the current configuration to start ahead of demand (provisioned
    /// concurrency). It holds no request, so the limit does not count it.
    pub(crate) fn provision(&mut self) -> Start {
        let function = self.versions.latest().clone();
        let key = function.key();
        self.history.starting(&key);
        *self.ahead.entry(key.clone()).or_default() += 1;
        Start {
            function,
            key,
            origin: Origin::Provisioned,
            reason: StartReason::Provisioned,
            detail: "initialised ahead of demand (provisioned concurrency)".into(),
        }
    }

    /// A new environment of `key` for a request: why it is needed, from what the pool started
    /// so far.
    fn start_on_demand(&mut self, function: FunctionState, key: PoolKey) -> Start {
        let (reason, detail) = self.history.reason(&key);
        self.history.starting(&key);
        self.starting += 1;
        Start {
            function,
            key,
            origin: Origin::OnDemand,
            reason,
            detail,
        }
    }

    /// The environment `start` asked for finished its init and joins the pool: on demand, it
    /// serves the request that waited for it; ahead of demand, it is idle (or spun down at once
    /// if its configuration was replaced meanwhile).
    pub(crate) fn started(
        &mut self,
        start: &Start,
        env_id: &str,
        env: E,
        now: Instant,
    ) -> Release<E> {
        self.history.started(&start.key, env_id);
        let in_flight = match start.origin {
            Origin::OnDemand => {
                self.starting = self.starting.saturating_sub(1);
                1
            }
            Origin::Provisioned => {
                self.ahead_done(&start.key);
                0
            }
        };
        let last_used = self.next_use();
        self.slots.insert(
            env_id.to_owned(),
            Slot {
                env,
                key: start.key.clone(),
                in_flight,
                idle_since: None,
                last_used,
                retired: false,
            },
        );
        if in_flight > 0 {
            Release::Serving
        } else {
            self.settle(env_id, true, now)
        }
    }

    /// The environment `start` asked for failed its init: the next start of its pool key is
    /// `after-failure`.
    pub(crate) fn start_failed(&mut self, start: &Start) {
        match start.origin {
            Origin::OnDemand => self.starting = self.starting.saturating_sub(1),
            Origin::Provisioned => self.ahead_done(&start.key),
        }
        self.history.start_failed(&start.key);
    }

    /// An invocation on `env_id` ended; `alive`: its processes can still take invocations.
    pub(crate) fn release(&mut self, env_id: &str, alive: bool, now: Instant) -> Release<E> {
        let used = self.next_use();
        let Some(slot) = self.slots.get_mut(env_id) else {
            return Release::Serving;
        };
        slot.in_flight = slot.in_flight.saturating_sub(1);
        slot.last_used = used;
        if slot.in_flight > 0 {
            return Release::Serving;
        }
        self.settle(env_id, alive, now)
    }

    /// An environment with nothing in flight: idle if it may still serve, else out.
    fn settle(&mut self, env_id: &str, alive: bool, now: Instant) -> Release<E> {
        let Some(slot) = self.slots.get_mut(env_id) else {
            return Release::Serving;
        };
        if self.closed || !alive || slot.retired || !self.versions.is_current(&slot.key) {
            return match self.remove(env_id) {
                Some(env) => Release::SpinDown(env),
                None => Release::Serving,
            };
        }
        slot.idle_since = Some(now);
        Release::Idle {
            reclaim_at: self.limits.idle_reclaim.map(|limit| now + limit),
        }
    }

    /// `env_id` can serve no more (Managed Instances: its runtime exited while other
    /// invocations were in flight on it): no request is given to it again, and it leaves the
    /// pool when its last invocation ends ([`Pool::release`]).
    pub(crate) fn retire(&mut self, env_id: &str) {
        if let Some(slot) = self.slots.get_mut(env_id) {
            slot.retired = true;
        }
    }

    /// Idle reclaim: every environment idle for [`Limits::idle_reclaim`] or longer at `now`
    /// leaves the pool, to be spun down. Busy ones are never reclaimed.
    pub(crate) fn reclaim_idle(&mut self, now: Instant) -> Vec<E> {
        let Some(limit) = self.limits.idle_reclaim else {
            return Vec::new();
        };
        self.take_idle(|slot| {
            slot.idle_since
                .is_some_and(|since| now.saturating_duration_since(since) >= limit)
        })
    }

    /// UpdateFunctionConfiguration: the new configuration serves the next request; idle
    /// environments of the old one leave the pool now (to be spun down), busy ones when their
    /// invocation ends. Published versions keep their environments.
    pub(crate) fn update(
        &mut self,
        update: ConfigUpdate,
        now: DateTime<Utc>,
    ) -> (FunctionState, Vec<E>) {
        let function = self.versions.update(update, now).clone();
        let versions = &self.versions;
        let stale: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.in_flight == 0 && !versions.is_current(&slot.key))
            .map(|(id, _)| id.clone())
            .collect();
        let stale = stale.iter().filter_map(|id| self.remove(id)).collect();
        (function, stale)
    }

    /// PublishVersion.
    pub(crate) fn publish(&mut self, now: DateTime<Utc>) -> Published {
        self.versions.publish(now)
    }

    /// Whether [`Pool::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// No more requests: the idle environments leave the pool now (to be spun down), busy ones
    /// when their invocation ends, provisioned ones when their init does.
    pub(crate) fn close(&mut self) -> Vec<E> {
        self.closed = true;
        self.take_idle(|_| true)
    }

    fn take_idle(&mut self, pick: impl Fn(&Slot<E>) -> bool) -> Vec<E> {
        let ids: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.in_flight == 0 && pick(slot))
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter().filter_map(|id| self.remove(id)).collect()
    }

    fn next_use(&mut self) -> u64 {
        self.uses += 1;
        self.uses
    }

    fn remove(&mut self, env_id: &str) -> Option<E> {
        let slot = self.slots.remove(env_id)?;
        self.history.stopped(env_id);
        Some(slot.env)
    }
}

#[cfg(test)]
mod tests;
