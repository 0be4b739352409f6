//! The attribution: a pure state machine fed with markers (and signs of life) in time order,
//! yielding one [`Attribution`] per init marker and one [`Ended`] per environment.
//!
//! No I/O and no clock: the same inputs give the same answers whichever source they came
//! from (file, CloudWatch, ClickHouse, the sandbox's own log). Memory grows with the
//! environments alive at one time and the configurations seen, never with the input.
//!
//! The rules, in the order they are tried, are documented in `docs/explain.md`.

mod env_id;
mod output;
mod rules;
mod state;
use env_id::EnvId;
pub use output::{
    Attribution, AttributorCounts, Ended, Explained, Settings, UnusedInit, MANAGED_INSTANCES,
};
use state::{entry, AheadBatch, FunctionState, LastEnd, Map, Name, Pool};

use crate::cause::Cause;
use crate::marker::{Kind, Marker};

/// One thing the readers saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A marker; `stream` is the log stream (or the sandbox environment) whose log carried it.
    Marker {
        marker: Marker,
        stream: Option<String>,
    },
    /// Any other line of a log stream at a known time: on Lambda one stream is one
    /// environment, so a line in it says the environment was still alive.
    Activity { stream: String, at_ms: i64 },
}

impl Observation {
    pub fn marker(marker: Marker) -> Observation {
        Observation::Marker {
            marker,
            stream: None,
        }
    }

    /// The time the attribution orders by.
    pub fn at_ms(&self) -> i64 {
        match self {
            Observation::Marker { marker, .. } => marker.timestamp_ms,
            Observation::Activity { at_ms, .. } => *at_ms,
        }
    }
}

/// What an environment's inits cost, kept until it ends: an environment that served nothing
/// is reported with it ([`UnusedInit`]).
#[derive(Debug, Clone, Copy)]
struct InitCost {
    cause: Cause,
    gb_seconds: Option<f64>,
    managed: bool,
    /// Initialised ahead of demand: provisioned, proactive or started ahead.
    ahead: bool,
    /// Every init of the environment failed: its cost is counted with the failed inits.
    failed: bool,
}

#[derive(Debug)]
struct Env {
    function: Name,
    version: Name,
    /// `None` when the init came before the input (known from an invoke marker only).
    fingerprint: Option<Name>,
    tenant: Option<Name>,
    started_ms: i64,
    last_seen_ms: i64,
    stream: Option<String>,
    /// Its configuration's batch ahead of traffic is still open (Lambda Managed Instances): its
    /// first invoke marker closes it.
    closes_batch: bool,
    /// `None` when its init came before the input.
    cost: Option<InitCost>,
    /// An invoke marker of it was seen.
    served: bool,
}

impl Env {
    /// Whether it ended having served nothing: its shutdown marker says so, or (without one)
    /// it was started ahead of demand and no invoke marker of it came.
    fn unused(&self, invocations: Option<u64>) -> bool {
        if self.cost.is_some_and(|c| c.failed) {
            // Already paid for nothing as failed inits; counting it again would add it twice.
            return false;
        }
        match invocations {
            Some(n) => n == 0,
            None => !self.served && self.cost.is_some_and(|c| c.ahead),
        }
    }
}

/// At most this many environments presumed ended wait for a late marker; the oldest
/// presumption is then taken as final (its end is reported). About 150 bytes each.
const PRESUMED_MAX: usize = 32_768;

/// Environments the grace presumed ended: no longer alive for the rules, but kept, so that a
/// later marker of theirs still counts. A shutdown marker says how and when it really ended
/// (a crash after an hour of quiet service is a failure, and the next environment an
/// `after-failure`); an invoke marker or a log line says it is alive after all.
#[derive(Debug, Default)]
struct Presumed {
    envs: Map<EnvId, Env>,
    /// Presumption order, for the bound; ids revived or ended since are skipped.
    order: std::collections::VecDeque<String>,
}

/// The streaming attribution. Feed observations in time order with [`Attributor::push`]; call
/// [`Attributor::finish`] at the end of the input.
#[derive(Debug, Default)]
pub struct Attributor {
    settings: Settings,
    envs: Map<EnvId, Env>,
    presumed: Presumed,
    streams: Map<String, String>,
    functions: Map<Name, FunctionState>,
    now_ms: i64,
    last_sweep_ms: i64,
    counts: AttributorCounts,
}

/// How often (in input time) environments silent past the grace are retired: a sweep walks
/// every alive environment, so it runs a few times per grace period, not per marker.
fn sweep_every_ms(settings: &Settings) -> i64 {
    (settings.alive_grace_ms / 8).max(1000)
}

impl Attributor {
    pub fn new(settings: Settings) -> Attributor {
        Attributor {
            settings,
            // A busy fleet has tens of thousands alive: grown from empty, the table would be
            // rebuilt a dozen times on the way. Untouched slots cost address space, not memory.
            envs: Map::with_capacity_and_hasher(1 << 14, Default::default()),
            now_ms: i64::MIN,
            last_sweep_ms: i64::MIN,
            ..Attributor::default()
        }
    }

    pub fn counts(&self) -> AttributorCounts {
        self.counts
    }

    /// Environments alive now (for memory figures and tests).
    pub fn alive(&self) -> usize {
        self.envs.len()
    }

    /// Takes the next observation; appends what it explains to `out`.
    pub fn push(&mut self, observation: Observation, out: &mut Vec<Explained>) {
        let at = observation.at_ms();
        self.now_ms = self.now_ms.max(at);
        if self.now_ms.saturating_sub(self.last_sweep_ms) >= sweep_every_ms(&self.settings) {
            self.sweep(at, out);
            self.last_sweep_ms = self.now_ms;
        }
        match observation {
            Observation::Activity { stream, at_ms } => {
                let Some(id) = self.streams.get(&stream).cloned() else {
                    return;
                };
                self.revive(&id);
                if let Some(env) = self.envs.get_mut(id.as_str()) {
                    env.last_seen_ms = env.last_seen_ms.max(at_ms);
                }
            }
            Observation::Marker { marker, stream } => match marker.kind {
                Kind::Init => self.init(marker, stream, out),
                Kind::Invoke => self.invoke(marker, stream),
                Kind::Shutdown => self.shutdown(marker, out),
            },
        }
    }

    /// The input is over: every environment still alive is reported open, and every one
    /// presumed ended is reported ended at its last sign of life.
    pub fn finish(&mut self, out: &mut Vec<Explained>) {
        let presumed: Vec<String> = self.presumed.order.drain(..).collect();
        for id in presumed {
            self.settle(&id, out);
        }
        self.streams.clear();
        if !self.settings.report_ended {
            self.envs.clear();
            return;
        }
        let mut left: Vec<(String, Env)> = self
            .envs
            .drain()
            .map(|(id, env)| (id.owned(), env))
            .collect();
        left.sort_by(|a, b| a.1.started_ms.cmp(&b.1.started_ms).then(a.0.cmp(&b.0)));
        for (env_id, env) in left {
            out.push(Explained::Ended(Ended {
                env_id,
                function_name: env.function.to_string(),
                tenant_id: env.tenant.as_deref().map(str::to_owned),
                at_ms: env.last_seen_ms,
                reason: None,
                invocations: None,
                unused: false,
                open: true,
            }));
        }
    }

    fn init(&mut self, marker: Marker, stream: Option<String>, out: &mut Vec<Explained>) {
        let Some(init) = marker.init else { return };
        let at = marker.timestamp_ms;
        self.revive(&marker.env_id);
        let existing = self.envs.get(marker.env_id.as_str()).map(|e| {
            (
                e.started_ms,
                e.fingerprint.as_deref() == Some(init.config_fingerprint.as_str()),
                e.fingerprint.is_none(),
            )
        });
        if let Some((started, _, _)) = existing {
            // The same environment's init again (not a re-init): the same marker read twice.
            if init.init_phase != "invoke" && started == at {
                self.counts.duplicate_inits += 1;
                return;
            }
        }
        let known_here = existing.is_some_and(|(_, same, _)| same);
        let was_unknown = existing.is_some_and(|(_, _, unknown)| unknown);
        let tenant = marker.tenant_id.as_deref();

        let (function_key, function) = entry(&mut self.functions, &marker.function_name);
        let any_initialised = function.versions.values().any(|v| v.initialised);
        let (version_key, version) = entry(&mut function.versions, &marker.function_version);
        let new_version = any_initialised && !version.initialised;
        let last_version = if new_version {
            function.last_version.as_deref().map(str::to_owned)
        } else {
            None
        };
        if function.last_version.as_deref() != Some(marker.function_version.as_str()) {
            function.last_version = Some(version_key.clone());
        }
        let previous_fingerprint = version
            .current_fingerprint
            .as_deref()
            .filter(|fp| *fp != init.config_fingerprint)
            .map(str::to_owned);
        let tenant_previous_fingerprint = tenant
            .and_then(|t| version.tenant_fingerprints.get(t))
            .filter(|fp| ***fp != *init.config_fingerprint)
            .map(|fp| fp.to_string());
        let unknown = version
            .unknown(tenant)
            .saturating_sub(usize::from(was_unknown));
        let tenant_key: Option<Name> =
            tenant.map(|t| match version.tenant_fingerprints.get_key_value(t) {
                Some((k, _)) => k.clone(),
                None => Name::from(t),
            });
        let (fingerprint_key, config) = entry(&mut version.configs, &init.config_fingerprint);
        let managed = init.init_type == MANAGED_INSTANCES;
        let facts = rules::Facts {
            reinit: init.init_phase == "invoke",
            function_request_id: init.function_request_id.as_deref(),
            init_type: &init.init_type,
            proactive: init.proactive,
            batch: match &config.ahead_batch {
                AheadBatch::Open(cause, evidence) if managed => Some((*cause, evidence)),
                _ => None,
            },
            new_version: new_version.then_some((marker.function_version.as_str(), last_version)),
            previous_fingerprint,
            fingerprint: &init.config_fingerprint,
            new_tenant: match tenant {
                Some(t) if config.pool(Some(t)).is_none() => Some(rules::NewTenant {
                    tenant_id: t,
                    previous_fingerprint: tenant_previous_fingerprint,
                    other_tenants_alive: config.other_tenants_alive(t),
                }),
                _ => None,
            },
            pool: config.pool(tenant),
            alive_here: usize::from(known_here),
            unknown,
            at_ms: at,
        };
        let (cause, evidence) = rules::decide(facts);

        // The new state: this environment is alive in its configuration's generation.
        if managed
            && matches!(config.ahead_batch, AheadBatch::NotYet)
            && init.init_phase != "invoke"
        {
            config.ahead_batch = AheadBatch::Open(cause, evidence.clone());
        }
        let closes_batch = matches!(config.ahead_batch, AheadBatch::Open(..));
        let pool = config.pool_mut(tenant_key.as_ref());
        if let Some(end) = pool.last_end.as_mut() {
            end.replaced = true;
        }
        if !known_here {
            pool.alive += 1;
        }
        if was_unknown {
            let unknown = version.unknown_mut(tenant_key.as_ref());
            *unknown = unknown.saturating_sub(1);
        }
        version.initialised = true;
        if version.current_fingerprint.as_deref() != Some(init.config_fingerprint.as_str()) {
            version.current_fingerprint = Some(fingerprint_key.clone());
        }
        if let Some(t) = &tenant_key {
            version
                .tenant_fingerprints
                .insert(t.clone(), fingerprint_key.clone());
        }

        let attribution = Attribution {
            timestamp_ms: at,
            function_name: marker.function_name,
            function_version: marker.function_version,
            env_id: marker.env_id,
            tenant_id: marker.tenant_id,
            init_type: init.init_type,
            init_phase: init.init_phase,
            init_duration_ms: init.init_duration_ms,
            runtime_init_ms: init.runtime_init_ms,
            extensions_init_ms: init.extensions_init_ms,
            function_memory_size: init.function_memory_size,
            config_fingerprint: init.config_fingerprint,
            proactive: init.proactive,
            init_status: init.init_status,
            init_error_type: init.init_error_type,
            cause,
            evidence,
        };
        let cost = InitCost {
            cause,
            gb_seconds: attribution.gb_seconds(),
            managed,
            ahead: attribution.proactive || attribution.init_type == "provisioned-concurrency",
            failed: attribution.failed(),
        };
        // Only an environment seen before is looked up again; a new one is inserted at once.
        match existing.and_then(|_| self.envs.get_mut(attribution.env_id.as_str())) {
            Some(env) => {
                if env.fingerprint.is_none() {
                    // Known from an invoke marker before its init marker was reordered in.
                    env.fingerprint = Some(fingerprint_key);
                }
                env.started_ms = env.started_ms.min(at);
                env.last_seen_ms = env.last_seen_ms.max(at);
                env.closes_batch = closes_batch;
                // A re-init adds its cost to the environment's first init's.
                env.cost = Some(match env.cost {
                    Some(first) => InitCost {
                        gb_seconds: first.gb_seconds.zip(cost.gb_seconds).map(|(a, b)| a + b),
                        failed: first.failed && cost.failed,
                        ..first
                    },
                    None => cost,
                });
            }
            None => {
                if let Some(stream) = &stream {
                    self.streams
                        .insert(stream.clone(), attribution.env_id.clone());
                }
                self.envs.insert(
                    EnvId::new(&attribution.env_id),
                    Env {
                        function: function_key,
                        version: version_key,
                        fingerprint: Some(fingerprint_key),
                        tenant: tenant_key,
                        started_ms: at,
                        last_seen_ms: at,
                        stream,
                        closes_batch,
                        cost: Some(cost),
                        served: false,
                    },
                );
            }
        }
        out.push(Explained::Init(attribution));
    }

    fn invoke(&mut self, marker: Marker, stream: Option<String>) {
        let at = marker.timestamp_ms;
        self.revive(&marker.env_id);
        if let Some(env) = self.envs.get_mut(marker.env_id.as_str()) {
            env.last_seen_ms = env.last_seen_ms.max(at);
            env.served = true;
            if env.closes_batch {
                // The configuration's first invocation on Managed Instances: its batch ahead
                // of traffic is complete.
                env.closes_batch = false;
                let config = self
                    .functions
                    .get_mut(&*env.function)
                    .and_then(|f| f.versions.get_mut(&*env.version))
                    .zip(env.fingerprint.as_ref())
                    .and_then(|(v, fp)| v.configs.get_mut(&**fp));
                if let Some(config) = config {
                    config.ahead_batch = AheadBatch::Closed;
                }
            }
            return;
        }
        // Its init came before the input: alive, of a known version, unknown configuration.
        self.counts.before_input += 1;
        let (function_key, function) = entry(&mut self.functions, &marker.function_name);
        let (version_key, version) = entry(&mut function.versions, &marker.function_version);
        let tenant: Option<Name> = marker.tenant_id.as_deref().map(Name::from);
        *version.unknown_mut(tenant.as_ref()) += 1;
        if let Some(stream) = &stream {
            self.streams.insert(stream.clone(), marker.env_id.clone());
        }
        self.envs.insert(
            EnvId::new(&marker.env_id),
            Env {
                function: function_key,
                version: version_key,
                fingerprint: None,
                tenant,
                started_ms: at,
                last_seen_ms: at,
                stream,
                closes_batch: false,
                cost: None,
                served: true,
            },
        );
    }

    fn shutdown(&mut self, marker: Marker, out: &mut Vec<Explained>) {
        let reason = marker.reason.unwrap_or_else(|| "unknown".to_owned());
        let at = marker.timestamp_ms;
        if let Some(env) = self.envs.remove(marker.env_id.as_str()) {
            self.end(
                marker.env_id,
                env,
                at,
                Some(reason),
                marker.invocations,
                out,
            );
            return;
        }
        let Some(env) = self.presumed.envs.remove(marker.env_id.as_str()) else {
            self.counts.before_input += 1;
            return;
        };
        // Presumed ended by the grace, it was alive until now: how it ended is what the
        // configuration's next environment is judged by.
        self.counts.late_shutdowns += 1;
        if let Some(pool) = self.pool_of(&env) {
            if pool.last_end.as_ref().is_none_or(|e| e.at_ms <= at) {
                pool.last_end = Some(LastEnd {
                    env_id: marker.env_id.clone(),
                    at_ms: at,
                    reason: Some(reason.clone()),
                    replaced: false,
                });
            }
        }
        self.report_end(
            &marker.env_id,
            &env,
            at,
            Some(&reason),
            marker.invocations,
            out,
        );
    }

    /// The pool an environment of a known configuration belongs to.
    fn pool_of(&mut self, env: &Env) -> Option<&mut Pool> {
        let config = self
            .functions
            .get_mut(&env.function)?
            .versions
            .get_mut(&env.version)?
            .configs
            .get_mut(env.fingerprint.as_ref()?)?;
        Some(config.pool_mut(env.tenant.as_ref()))
    }

    /// A marker or log line of an environment presumed ended: it is alive after all.
    fn revive(&mut self, env_id: &str) {
        if self.presumed.envs.is_empty() {
            return;
        }
        let Some(env) = self.presumed.envs.remove(env_id) else {
            return;
        };
        match self.pool_of(&env) {
            Some(pool) => {
                pool.alive += 1;
                if pool
                    .last_end
                    .as_ref()
                    .is_some_and(|e| e.env_id == env_id && e.reason.is_none())
                {
                    pool.last_end = None;
                }
            }
            None => {
                if let Some(version) = self
                    .functions
                    .get_mut(&env.function)
                    .and_then(|f| f.versions.get_mut(&env.version))
                {
                    *version.unknown_mut(env.tenant.as_ref()) += 1;
                }
            }
        }
        self.envs.insert(EnvId::new(env_id), env);
    }

    /// Retires environments silent for longer than the grace: presumed ended at their last
    /// sign of life, and kept in case a later marker says otherwise.
    fn sweep(&mut self, now: i64, out: &mut Vec<Explained>) {
        let grace = self.settings.alive_grace_ms;
        let mut dead: Vec<String> = self
            .envs
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.last_seen_ms) > grace)
            .map(|(id, _)| id.owned())
            .collect();
        dead.sort();
        for id in dead {
            let Some(env) = self.envs.remove(id.as_str()) else {
                continue;
            };
            let at = env.last_seen_ms;
            match self.pool_of(&env) {
                Some(pool) => {
                    pool.alive = pool.alive.saturating_sub(1);
                    pool.last_end = Some(LastEnd {
                        env_id: id.clone(),
                        at_ms: at,
                        reason: None,
                        replaced: false,
                    });
                }
                None => self.forget_unknown(&env),
            }
            self.presumed.envs.insert(EnvId::new(&id), env);
            self.presumed.order.push_back(id);
        }
        while self.presumed.envs.len() > PRESUMED_MAX {
            let Some(id) = self.presumed.order.pop_front() else {
                break;
            };
            self.settle(&id, out);
        }
    }

    /// A presumption taken as final: the environment is reported ended at its last sign of
    /// life (nothing if it was revived or ended since).
    fn settle(&mut self, id: &str, out: &mut Vec<Explained>) {
        if let Some(env) = self.presumed.envs.remove(id) {
            if let Some(stream) = &env.stream {
                self.streams.remove(stream);
            }
            let at = env.last_seen_ms;
            self.report_end(id, &env, at, None, None, out);
        }
    }

    /// An environment of unknown configuration is no longer alive.
    fn forget_unknown(&mut self, env: &Env) {
        if let Some(version) = self
            .functions
            .get_mut(&env.function)
            .and_then(|f| f.versions.get_mut(&env.version))
        {
            let unknown = version.unknown_mut(env.tenant.as_ref());
            *unknown = unknown.saturating_sub(1);
        }
    }

    /// An environment's shutdown marker: it is no longer alive, and its pool's last end.
    fn end(
        &mut self,
        env_id: String,
        env: Env,
        at_ms: i64,
        reason: Option<String>,
        invocations: Option<u64>,
        out: &mut Vec<Explained>,
    ) {
        if let Some(stream) = &env.stream {
            self.streams.remove(stream);
        }
        // Reported first, so that the id and reason then move into the pool's last end (one
        // end per environment: a copy only when a renderer wants the end too).
        self.report_end(&env_id, &env, at_ms, reason.as_deref(), invocations, out);
        match self.pool_of(&env) {
            Some(pool) => {
                pool.alive = pool.alive.saturating_sub(1);
                pool.last_end = Some(LastEnd {
                    env_id,
                    at_ms,
                    reason,
                    replaced: false,
                });
            }
            None => self.forget_unknown(&env),
        }
    }

    /// Yields the end (when ends are reported) and, for an environment that served nothing,
    /// its unused init.
    fn report_end(
        &mut self,
        env_id: &str,
        env: &Env,
        at_ms: i64,
        reason: Option<&str>,
        invocations: Option<u64>,
        out: &mut Vec<Explained>,
    ) {
        let unused = env.unused(invocations);
        if unused {
            if let Some(cost) = env.cost {
                out.push(Explained::Unused(UnusedInit {
                    env_id: env_id.to_owned(),
                    function_name: env.function.to_string(),
                    tenant_id: env.tenant.as_deref().map(str::to_owned),
                    cause: cost.cause,
                    gb_seconds: cost.gb_seconds,
                    managed_instances: cost.managed,
                }));
            }
        }
        if self.settings.report_ended {
            out.push(Explained::Ended(Ended {
                env_id: env_id.to_owned(),
                function_name: env.function.to_string(),
                tenant_id: env.tenant.as_deref().map(str::to_owned),
                at_ms,
                reason: reason.map(str::to_owned),
                invocations,
                unused,
                open: false,
            }));
        }
    }
}

/// Attributes a whole batch at once (sorted by time first): the convenience for callers that
/// hold every marker already, such as the sandbox's verdict.
pub fn attribute_all(
    observations: impl IntoIterator<Item = Observation>,
    settings: Settings,
) -> Vec<Attribution> {
    let mut all: Vec<Observation> = observations.into_iter().collect();
    all.sort_by_key(Observation::at_ms);
    let mut attributor = Attributor::new(settings);
    let mut out = Vec::new();
    for observation in all {
        attributor.push(observation, &mut out);
    }
    attributor.finish(&mut out);
    out.into_iter()
        .filter_map(|e| match e {
            Explained::Init(a) => Some(a),
            Explained::Ended(_) | Explained::Unused(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
