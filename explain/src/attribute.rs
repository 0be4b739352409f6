//! The attribution: a pure state machine fed with markers (and signs of life) in time order,
//! yielding one [`Attribution`] per init marker and one [`Ended`] per environment.
//!
//! No I/O and no clock: the same inputs give the same answers whichever source they came
//! from (file, CloudWatch, ClickHouse, the sandbox's own log). Memory grows with the
//! environments alive at one time and the configurations seen, never with the input.
//!
//! The rules, in the order they are tried, are documented in `docs/explain.md`.

use hashbrown::hash_map::EntryRef;

mod env_id;
use env_id::EnvId;
use serde::{Deserialize, Serialize};

use crate::cause::{Cause, Evidence};
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

/// Tunables of the "alive" decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// An environment without a shutdown marker counts as alive until this long after the
    /// last sign of life (marker or log line). Lambda keeps idle environments for minutes and
    /// busy ones for hours, and coldmark writes only the first invoke marker by default, so
    /// the default is generous: a missing shutdown marker is rarer than a long quiet spell.
    pub alive_grace_ms: i64,
    /// Yield [`Explained::Ended`] per environment (the timeline needs them; a table does not).
    pub report_ended: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            alive_grace_ms: 30 * 60 * 1000,
            report_ended: true,
        }
    }
}

/// One init marker, explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Epoch milliseconds of the init's start.
    pub timestamp_ms: i64,
    pub function_name: String,
    pub function_version: String,
    pub env_id: String,
    pub init_type: String,
    pub init_phase: String,
    pub init_duration_ms: Option<f64>,
    pub runtime_init_ms: Option<f64>,
    pub extensions_init_ms: Option<f64>,
    pub function_memory_size: Option<u64>,
    pub config_fingerprint: String,
    pub proactive: bool,
    pub cause: Cause,
    pub evidence: Evidence,
}

/// `init_type` of an environment on Lambda Managed Instances.
pub const MANAGED_INSTANCES: &str = "lambda-managed-instances";

impl Attribution {
    /// Billed init in GB-seconds (init duration × memory), when both are known. None on
    /// Lambda Managed Instances: their capacity is priced per EC2 instance, not per GB-second
    /// of init.
    pub fn gb_seconds(&self) -> Option<f64> {
        if self.on_managed_instances() {
            return None;
        }
        Some(self.init_duration_ms? / 1000.0 * self.function_memory_size? as f64 / 1024.0)
    }

    /// Whether the environment ran on Lambda Managed Instances.
    pub fn on_managed_instances(&self) -> bool {
        self.init_type == MANAGED_INSTANCES
    }
}

/// How an environment's life ended, as far as the input tells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    pub env_id: String,
    pub function_name: String,
    /// When it ended: the shutdown marker's time, else its last sign of life.
    pub at_ms: i64,
    /// The shutdown reason; `None` when no shutdown marker came.
    pub reason: Option<String>,
    /// True when the input ended with the environment still alive (not presumed dead).
    pub open: bool,
}

/// What the attributor yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Explained {
    Init(Attribution),
    Ended(Ended),
}

/// Counts of what the attributor could not use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AttributorCounts {
    /// The same init marker seen twice (overlapping inputs).
    pub duplicate_inits: u64,
    /// Shutdown or invoke markers of environments whose init came before the input began.
    pub before_input: u64,
}

/// hashbrown's map for its `entry_ref`: a name looked up once, copied only when it is new.
type Map<K, V> = hashbrown::HashMap<K, V, rustc_hash::FxBuildHasher>;

/// A function name, version or fingerprint as the attribution keeps it: shared between the
/// state maps' keys and every alive environment of it, so that a new environment copies a
/// pointer, not a string (about 24,000 environments are alive in a busy fleet, and one is
/// born per init marker).
type Name = std::sync::Arc<str>;

/// The value under `name`, created when missing; its key shared. One lookup.
fn entry<'m, V: Default>(map: &'m mut Map<Name, V>, name: &str) -> (Name, &'m mut V) {
    let entry = match map.entry_ref(name) {
        EntryRef::Occupied(entry) => entry,
        EntryRef::Vacant(entry) => entry.insert_entry_with_key(name.into(), V::default()),
    };
    (entry.key().clone(), entry.into_mut())
}

#[derive(Debug)]
struct Env {
    function: Name,
    version: Name,
    /// `None` when the init came before the input (known from an invoke marker only).
    fingerprint: Option<Name>,
    started_ms: i64,
    last_seen_ms: i64,
    stream: Option<String>,
    /// Its configuration's batch ahead of traffic is still open (Lambda Managed Instances): its
    /// first invoke marker closes it.
    closes_batch: bool,
}

/// Lambda Managed Instances start several environments of a version ahead of traffic at once.
/// Every init of a configuration before its first invocation belongs to that batch and shares
/// the first init's cause (none of them is a scale-out of another: scaling out there follows
/// load, and there was none yet).
#[derive(Debug, Default)]
enum AheadBatch {
    /// No init of the configuration on Managed Instances yet.
    #[default]
    NotYet,
    /// The first init's cause and evidence, until the configuration's first invocation.
    Open(Cause, Evidence),
    /// The configuration has served an invocation: later inits follow the usual rules.
    Closed,
}

#[derive(Debug, Default)]
struct ConfigState {
    alive: usize,
    /// Lambda Managed Instances: the batch started ahead of traffic ([`AheadBatch`]).
    ahead_batch: AheadBatch,
    /// The last environment of this configuration that ended, and whether another of the
    /// configuration started since.
    last_end: Option<LastEnd>,
}

#[derive(Debug, Clone)]
struct LastEnd {
    env_id: String,
    at_ms: i64,
    /// `None`: presumed ended (no shutdown marker, silent past the grace).
    reason: Option<String>,
    replaced: bool,
}

/// One version of a function: its configuration generations.
#[derive(Debug, Default)]
struct VersionState {
    /// Whether an init of this version was seen (not only invoke markers).
    initialised: bool,
    /// The current generation: the fingerprint of the version's latest init.
    current_fingerprint: Option<Name>,
    configs: Map<Name, ConfigState>,
    /// Environments whose configuration is unknown (init before the input).
    unknown_alive: usize,
}

#[derive(Debug, Default)]
struct FunctionState {
    versions: Map<Name, VersionState>,
    last_version: Option<Name>,
}

/// The streaming attribution. Feed observations in time order with [`Attributor::push`]; call
/// [`Attributor::finish`] at the end of the input.
#[derive(Debug, Default)]
pub struct Attributor {
    settings: Settings,
    envs: Map<EnvId, Env>,
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
                if let Some(env) = self
                    .streams
                    .get(&stream)
                    .and_then(|id| self.envs.get_mut(id.as_str()))
                {
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

    /// The input is over: every environment still alive is reported open.
    pub fn finish(&mut self, out: &mut Vec<Explained>) {
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
                at_ms: env.last_seen_ms,
                reason: None,
                open: true,
            }));
        }
        self.streams.clear();
    }

    fn init(&mut self, marker: Marker, stream: Option<String>, out: &mut Vec<Explained>) {
        let Some(init) = marker.init else { return };
        let at = marker.timestamp_ms;
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
        let unknown = version
            .unknown_alive
            .saturating_sub(usize::from(was_unknown));
        let (fingerprint_key, config) = entry(&mut version.configs, &init.config_fingerprint);
        let alive_others = config.alive - usize::from(known_here);

        let failed_end = config.last_end.as_ref().filter(|e| {
            !e.replaced && matches!(e.reason.as_deref(), Some("failure") | Some("timeout"))
        });
        let managed = init.init_type == MANAGED_INSTANCES;
        let batch = match &config.ahead_batch {
            AheadBatch::Open(cause, evidence) if managed => Some((*cause, evidence.clone())),
            _ => None,
        };
        let (cause, evidence) = if init.init_phase == "invoke" {
            (
                Cause::AfterFailure,
                Evidence::ReinitInInvoke {
                    function_request_id: init.function_request_id.clone(),
                },
            )
        } else if let Some(end) = failed_end {
            (
                Cause::AfterFailure,
                Evidence::ReplacesFailed {
                    env_id: end.env_id.clone(),
                    reason: end.reason.clone().unwrap_or_default(),
                    gap_ms: at - end.at_ms,
                },
            )
        } else if let Some(batch) = batch {
            batch
        } else if init.init_type == "provisioned-concurrency" {
            (Cause::Provisioned, Evidence::Provisioned)
        } else if init.init_type == "snap-start" {
            (Cause::SnapStart, Evidence::SnapStart)
        } else if new_version {
            (
                Cause::NewVersion,
                Evidence::NewVersion {
                    version: marker.function_version.clone(),
                    previous_version: last_version.unwrap_or_default(),
                },
            )
        } else if let Some(previous) = previous_fingerprint {
            (
                Cause::ConfigurationChange,
                Evidence::ConfigurationChange {
                    previous_fingerprint: previous,
                    fingerprint: init.config_fingerprint.clone(),
                },
            )
        } else if init.init_type == "on-demand" && init.proactive {
            (Cause::Proactive, Evidence::Proactive)
        } else if alive_others + unknown > 0 {
            (
                Cause::ScaleOut,
                Evidence::ScaleOut {
                    alive: alive_others + unknown,
                    unknown_configuration: unknown,
                },
            )
        } else if let Some(end) = config
            .last_end
            .as_ref()
            .filter(|e| e.reason.as_deref() == Some("spindown"))
        {
            (
                Cause::Replacement,
                Evidence::Replacement {
                    env_id: end.env_id.clone(),
                    gap_ms: at - end.at_ms,
                },
            )
        } else {
            let presumed = config.last_end.as_ref().filter(|e| e.reason.is_none());
            (
                Cause::FirstSeen,
                Evidence::FirstSeen {
                    last_seen_env: presumed.map(|e| e.env_id.clone()),
                    last_seen_gap_ms: presumed.map(|e| at - e.at_ms),
                },
            )
        };

        // The new state: this environment is alive in its configuration's generation.
        if managed
            && matches!(config.ahead_batch, AheadBatch::NotYet)
            && init.init_phase != "invoke"
        {
            config.ahead_batch = AheadBatch::Open(cause, evidence.clone());
        }
        let closes_batch = matches!(config.ahead_batch, AheadBatch::Open(..));
        if let Some(end) = config.last_end.as_mut() {
            end.replaced = true;
        }
        if !known_here {
            config.alive += 1;
        }
        if was_unknown {
            version.unknown_alive = version.unknown_alive.saturating_sub(1);
        }
        version.initialised = true;
        if version.current_fingerprint.as_deref() != Some(init.config_fingerprint.as_str()) {
            version.current_fingerprint = Some(fingerprint_key.clone());
        }
        // Only an environment seen before is looked up again; a new one is inserted at once.
        match existing.and_then(|_| self.envs.get_mut(marker.env_id.as_str())) {
            Some(env) => {
                if env.fingerprint.is_none() {
                    // Known from an invoke marker before its init marker was reordered in.
                    env.fingerprint = Some(fingerprint_key);
                }
                env.started_ms = env.started_ms.min(at);
                env.last_seen_ms = env.last_seen_ms.max(at);
                env.closes_batch = closes_batch;
            }
            None => {
                if let Some(stream) = &stream {
                    self.streams.insert(stream.clone(), marker.env_id.clone());
                }
                self.envs.insert(
                    EnvId::new(&marker.env_id),
                    Env {
                        function: function_key,
                        version: version_key,
                        fingerprint: Some(fingerprint_key),
                        started_ms: at,
                        last_seen_ms: at,
                        stream,
                        closes_batch,
                    },
                );
            }
        }

        let init = *init;
        out.push(Explained::Init(Attribution {
            timestamp_ms: at,
            function_name: marker.function_name,
            function_version: marker.function_version,
            env_id: marker.env_id,
            init_type: init.init_type,
            init_phase: init.init_phase,
            init_duration_ms: init.init_duration_ms,
            runtime_init_ms: init.runtime_init_ms,
            extensions_init_ms: init.extensions_init_ms,
            function_memory_size: init.function_memory_size,
            config_fingerprint: init.config_fingerprint,
            proactive: init.proactive,
            cause,
            evidence,
        }));
    }

    fn invoke(&mut self, marker: Marker, stream: Option<String>) {
        let at = marker.timestamp_ms;
        if let Some(env) = self.envs.get_mut(marker.env_id.as_str()) {
            env.last_seen_ms = env.last_seen_ms.max(at);
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
        version.unknown_alive += 1;
        if let Some(stream) = &stream {
            self.streams.insert(stream.clone(), marker.env_id.clone());
        }
        self.envs.insert(
            EnvId::new(&marker.env_id),
            Env {
                function: function_key,
                version: version_key,
                fingerprint: None,
                started_ms: at,
                last_seen_ms: at,
                stream,
                closes_batch: false,
            },
        );
    }

    fn shutdown(&mut self, marker: Marker, out: &mut Vec<Explained>) {
        let reason = marker.reason.unwrap_or_else(|| "unknown".to_owned());
        match self.envs.remove(marker.env_id.as_str()) {
            Some(env) => self.end(marker.env_id, env, marker.timestamp_ms, Some(reason), out),
            None => self.counts.before_input += 1,
        }
    }

    /// Retires environments silent for longer than the grace: presumed ended at their last
    /// sign of life.
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
            if let Some(env) = self.envs.remove(id.as_str()) {
                let at = env.last_seen_ms;
                self.end(id, env, at, None, out);
            }
        }
    }

    fn end(
        &mut self,
        env_id: String,
        env: Env,
        at_ms: i64,
        reason: Option<String>,
        out: &mut Vec<Explained>,
    ) {
        if let Some(stream) = &env.stream {
            self.streams.remove(stream);
        }
        // Copies only when a renderer wants the end too; otherwise the id and reason move
        // into the configuration's last end (one shutdown marker per environment).
        let report = self
            .settings
            .report_ended
            .then(|| (env_id.clone(), reason.clone()));
        if let Some(version) = self
            .functions
            .get_mut(&env.function)
            .and_then(|f| f.versions.get_mut(&env.version))
        {
            match &env.fingerprint {
                Some(fp) => {
                    if let Some(config) = version.configs.get_mut(fp) {
                        config.alive = config.alive.saturating_sub(1);
                        config.last_end = Some(LastEnd {
                            env_id,
                            at_ms,
                            reason,
                            replaced: false,
                        });
                    }
                }
                None => version.unknown_alive = version.unknown_alive.saturating_sub(1),
            }
        }
        if let Some((env_id, reason)) = report {
            out.push(Explained::Ended(Ended {
                env_id,
                function_name: env.function.to_string(),
                at_ms,
                reason,
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
            Explained::Ended(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marker::InitFields;

    fn init(env: &str, at_ms: i64, fp: &str) -> Observation {
        Observation::Marker {
            marker: Marker {
                kind: Kind::Init,
                timestamp_ms: at_ms,
                function_name: "f".into(),
                function_version: "$LATEST".into(),
                env_id: env.into(),
                init: Some(Box::new(InitFields {
                    init_type: "on-demand".into(),
                    init_phase: "init".into(),
                    init_duration_ms: Some(100.0),
                    config_fingerprint: fp.into(),
                    function_memory_size: Some(512),
                    ..InitFields::default()
                })),
                reason: None,
            },
            stream: Some(format!("stream-{env}")),
        }
    }

    fn other(kind: Kind, env: &str, at_ms: i64, reason: Option<&str>) -> Observation {
        Observation::marker(Marker {
            kind,
            timestamp_ms: at_ms,
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            env_id: env.into(),
            init: None,
            reason: reason.map(str::to_owned),
        })
    }

    fn run(settings: Settings, input: Vec<Observation>) -> Vec<Attribution> {
        attribute_all(input, settings)
    }

    const GRACE: Settings = Settings {
        alive_grace_ms: 60_000,
        report_ended: true,
    };

    #[test]
    fn without_a_shutdown_marker_an_environment_is_presumed_gone_after_the_grace() {
        let out = run(GRACE, vec![init("a", 0, "x"), init("b", 600_000, "x")]);
        assert_eq!(out[1].cause, Cause::FirstSeen);
        assert_eq!(
            out[1].evidence,
            Evidence::FirstSeen {
                last_seen_env: Some("a".into()),
                last_seen_gap_ms: Some(600_000)
            }
        );
        // Within the grace it is still alive: scale-out.
        let out = run(GRACE, vec![init("a", 0, "x"), init("b", 30_000, "x")]);
        assert_eq!(out[1].cause, Cause::ScaleOut);
    }

    #[test]
    fn a_line_in_its_log_stream_keeps_an_environment_alive() {
        let mut input = vec![init("a", 0, "x")];
        for t in (50_000..600_000).step_by(50_000) {
            input.push(Observation::Activity {
                stream: "stream-a".into(),
                at_ms: t,
            });
        }
        input.push(init("b", 600_000, "x"));
        let out = run(GRACE, input);
        assert_eq!(
            out[1].evidence,
            Evidence::ScaleOut {
                alive: 1,
                unknown_configuration: 0
            }
        );
    }

    #[test]
    fn environments_from_before_the_input_count_for_scale_out() {
        let out = run(
            GRACE,
            vec![other(Kind::Invoke, "old", 0, None), init("b", 1000, "x")],
        );
        assert_eq!(
            out[0].evidence,
            Evidence::ScaleOut {
                alive: 1,
                unknown_configuration: 1
            }
        );
    }

    /// An init on Lambda Managed Instances, marked proactive by the extension (no request
    /// waits for one there).
    fn managed_init(env: &str, at_ms: i64, fp: &str) -> Observation {
        let mut o = init(env, at_ms, fp);
        if let Observation::Marker { marker, .. } = &mut o {
            let fields = marker.init.as_mut().expect("init fields");
            fields.init_type = MANAGED_INSTANCES.into();
            fields.proactive = true;
        }
        o
    }

    #[test]
    fn managed_instances_inits_follow_the_rules_and_are_never_proactive_or_billed() {
        // Lambda starts a version's environments ahead of traffic, several at once: those
        // before the configuration's first invocation share the first one's cause; one after
        // it is a scale-out.
        let out = run(
            GRACE,
            vec![
                managed_init("a", 0, "x"),
                managed_init("a2", 40, "x"),
                other(Kind::Invoke, "a", 100, None),
                managed_init("a3", 150, "x"),
                managed_init("b", 10_000, "x"),
                managed_init("c", 20_000, "y"),
                managed_init("c2", 20_030, "y"),
            ],
        );
        let causes: Vec<Cause> = out.iter().map(|a| a.cause).collect();
        assert_eq!(
            causes,
            vec![
                Cause::FirstSeen,
                Cause::FirstSeen,
                Cause::ScaleOut,
                Cause::ScaleOut,
                Cause::ConfigurationChange,
                Cause::ConfigurationChange
            ]
        );
        assert_eq!(out[5].evidence, out[4].evidence);
        assert!(out.iter().all(|a| a.gb_seconds().is_none()));
        let mut summary = crate::summary::Summary::default();
        out.iter().for_each(|a| summary.add(a));
        let records = summary.records(Some(0.0000166667));
        let total = &records[0].total;
        assert_eq!(total.cold_starts, 6);
        assert_eq!(total.managed_instances, 6);
        assert_eq!(total.unknown_duration, 0);
        assert_eq!(total.init_ms, 600.0);
        assert_eq!(total.gb_seconds, 0.0);
    }

    #[test]
    fn timeout_then_replacement_and_duplicates() {
        let out = run(
            GRACE,
            vec![
                init("a", 0, "x"),
                init("a", 0, "x"),
                other(Kind::Shutdown, "a", 5_000, Some("timeout")),
                init("b", 6_000, "x"),
                other(Kind::Shutdown, "b", 7_000, Some("spindown")),
                init("c", 9_000, "x"),
            ],
        );
        let causes: Vec<Cause> = out.iter().map(|a| a.cause).collect();
        assert_eq!(
            causes,
            vec![Cause::FirstSeen, Cause::AfterFailure, Cause::Replacement]
        );
        assert_eq!(
            out[2].evidence,
            Evidence::Replacement {
                env_id: "b".into(),
                gap_ms: 2_000
            }
        );
        assert_eq!(out[0].gb_seconds(), Some(0.05));
    }

    /// `observation` moved to another version (its marker's `function_version`).
    fn of_version(mut observation: Observation, version: &str) -> Observation {
        if let Observation::Marker { marker, .. } = &mut observation {
            marker.function_version = version.into();
        }
        observation
    }

    #[test]
    fn returning_to_a_version_after_its_environments_were_reclaimed_is_a_replacement() {
        // $LATEST serves and is reclaimed, version 1 serves, then $LATEST again: its own
        // configuration was seen and spun down, so a replacement (as the sandbox says), not a
        // new version; and version 1's reclaim says nothing about $LATEST.
        let out = run(
            GRACE,
            vec![
                init("a", 0, "x"),
                other(Kind::Shutdown, "a", 5_000, Some("spindown")),
                of_version(init("v1", 6_000, "y"), "1"),
                of_version(other(Kind::Shutdown, "v1", 8_000, Some("spindown")), "1"),
                init("b", 9_000, "x"),
            ],
        );
        let causes: Vec<Cause> = out.iter().map(|a| a.cause).collect();
        assert_eq!(
            causes,
            vec![Cause::FirstSeen, Cause::NewVersion, Cause::Replacement]
        );
        assert_eq!(
            out[2].evidence,
            Evidence::Replacement {
                env_id: "a".into(),
                gap_ms: 4_000
            }
        );
    }

    #[test]
    fn memory_follows_the_environments_alive_not_the_input() {
        let mut attributor = Attributor::new(GRACE);
        let mut out = Vec::new();
        for i in 0..10_000i64 {
            let env = format!("e{i}");
            attributor.push(init(&env, i * 1000, "x"), &mut out);
            attributor.push(
                other(Kind::Shutdown, &env, i * 1000 + 500, Some("spindown")),
                &mut out,
            );
            assert!(attributor.alive() <= 1);
        }
        assert!(attributor.streams.is_empty());
    }
}
