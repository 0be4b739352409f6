//! The state machine: Extensions API events and Telemetry API records in, markers out. No I/O
//! and no clock reads (every input carries its time), so every case is a plain unit test.
//!
//! Telemetry arrives asynchronously and often late: Lambda buffers records (coldmark asks for
//! 25 ms), and an environment is frozen between invocations, so the `platform.report` of
//! invocation N may arrive during N+1 or only at shutdown. The machine therefore *holds* what
//! it cannot complete yet and releases it on the first of:
//! - init marker: once the first INVOKE came and the init's own report (`platform.initReport`
//!   or `platform.restoreReport`) is in — usually at that INVOKE or during the first
//!   invocation; else the first invocation's `platform.runtimeDone`/`platform.report`; else
//!   once it is overdue by the same rule as an invoke marker (two more INVOKEs after the first
//!   *and* [`REPORT_GRACE_MS`] since it), a newer init, or shutdown; without telemetry
//!   (nothing will come) at the first INVOKE. Some records of an init arriving early does not
//!   make it complete: an init longer than the buffering window delivers `initStart` before
//!   the first INVOKE and `initReport` only at the thaw after the second. Registered for
//!   SHUTDOWN only (Lambda Managed Instances, or a Lambda that refused INVOKE), no INVOKE will
//!   come to wait for: the init marker goes as soon as the init's own report is in, and
//!   without telemetry as soon as coldmark is ready;
//! - invoke marker: its `platform.report`; it is overdue (released with what is known) once two
//!   more INVOKEs came *and* [`REPORT_GRACE_MS`] passed — the count covers records held up by a
//!   freeze (they arrive at the thaw), the time covers bursts of invocations inside one
//!   buffering window; more than [`MAX_HELD`] held; or shutdown; without telemetry immediately.
//!
//! Records are idempotent: Lambda re-sends a batch it believes failed, so a record already
//! applied (same type, time and ids) changes nothing. What one environment accumulates is
//! bounded ([`MAX_EXTENSIONS`], [`MAX_INITS`]), whatever the records say.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::config::InvokeMarkers;
use crate::marker::{
    ms_between, round_ms, Common, Emf, ExtensionInfo, InitMarker, InvokeMarker, Marker,
    ShutdownMarker, Source, SCHEMA,
};
use crate::telemetry::record::{Record, ReportMetrics};

/// Invoke markers waiting for their report, at most (only `COLDMARK_INVOKE_MARKERS=all` can
/// come near it): bounds memory when reports never arrive.
pub const MAX_HELD: usize = 64;

/// Extensions listed in an init marker, at most (Lambda allows 10 per function).
pub const MAX_EXTENSIONS: usize = 32;

/// Inits one process keeps track of, at most. A process sees its init, perhaps a SnapStart
/// restore and a few re-inits after crashes; records beyond this start no new init.
pub const MAX_INITS: usize = 16;

/// Record identities remembered for de-duplication (a redelivered batch comes within seconds;
/// a batch holds at most 1000 records).
const SEEN_RECORDS: usize = 4096;

/// How long a marker waits for its records before it counts as overdue (with two later
/// INVOKEs). Lambda delivers a batch within the buffering timeout coldmark asks for (25 ms) once
/// the environment runs; a function invoked many times within that window would otherwise lose
/// its first markers' figures.
pub const REPORT_GRACE_MS: f64 = 1000.0;

/// Lambda's limit on the init phase. Without telemetry the end of init is unknown; coldmark only
/// knows when it was ready itself, and the runtime and other extensions may go on for up to
/// this long, so the proactive gap must exceed it on top of the threshold.
pub const INIT_LIMIT_MS: u64 = 10_000;

/// Settings the machine needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub invoke_markers: InvokeMarkers,
    pub proactive_threshold_ms: u64,
    pub namespace: String,
}

/// What coldmark knows about its environment before any record arrives.
#[derive(Debug, Clone)]
pub struct Identity {
    pub function_name: String,
    pub function_version: String,
    pub memory_size: Option<u64>,
    pub config_fingerprint: String,
    /// Generated at start; replaced by the Telemetry API's `instanceId` when it arrives.
    pub env_id: String,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`, used when no `platform.initStart` arrives.
    pub init_type: Option<String>,
    /// When coldmark's process started (wall clock).
    pub started_at: DateTime<Utc>,
}

/// An INVOKE event as received.
#[derive(Debug, Clone)]
pub struct Invoke {
    pub request_id: String,
    pub at: DateTime<Utc>,
    pub xray_trace_id: Option<String>,
}

/// One init of the environment: the first, a re-init inside an invocation, or a SnapStart
/// restore.
#[derive(Debug, Clone, Default)]
struct EnvInit {
    restore: bool,
    init_type: Option<String>,
    phase: Option<String>,
    runtime_version: Option<String>,
    start: Option<DateTime<Utc>>,
    runtime_done: Option<DateTime<Utc>>,
    /// A `platform.extension` record followed `initRuntimeDone` within this init: the order of
    /// Lambda's own init code (AWS's runtime interface emulator, `doRuntimeDomainInit`), where
    /// `initRuntimeDone` is sent only after every extension is ready. Its time is then the end
    /// of the whole init, and the records cannot tell the runtime's share from the extensions'.
    runtime_done_at_end: bool,
    report_time: Option<DateTime<Utc>>,
    duration_ms: Option<f64>,
    /// `initDurationMs`/`restoreDurationMs` of the first invocation's `platform.report`.
    report_init_duration_ms: Option<f64>,
    /// The first INVOKE after this init.
    first_request: Option<FirstRequest>,
    first_request_done: bool,
    from_telemetry: bool,
    emitted: bool,
}

/// The first INVOKE an init served.
#[derive(Debug, Clone)]
struct FirstRequest {
    request_id: String,
    /// When the INVOKE arrived.
    at: DateTime<Utc>,
    /// Its sequence number among the environment's invocations (1 is the first).
    seq: u64,
}

#[derive(Debug, Clone)]
struct Held {
    init: usize,
    seq: u64,
    first_of_init: bool,
    invoke: Invoke,
    report: Option<ReportMetrics>,
}

pub struct Lifecycle {
    settings: Settings,
    id: Identity,
    env_id_from_telemetry: bool,
    /// A marker went out with the current `env_id`: it stays, so that all of an environment's
    /// markers share one id even when the Telemetry API names the environment only later.
    env_id_published: bool,
    telemetry: bool,
    /// Registered for INVOKE as well as SHUTDOWN: INVOKE events will come. False on Lambda
    /// Managed Instances (and wherever Lambda refused INVOKE): telemetry is all there is.
    invoke_events: bool,
    ready_at: Option<DateTime<Utc>>,
    coldmark_init_ms: Option<f64>,
    inits: Vec<EnvInit>,
    extensions: Vec<ExtensionInfo>,
    invocations: u64,
    held: Vec<Held>,
    /// Identities of the records applied so far (bounded, oldest forgotten first).
    seen: std::collections::HashSet<u64>,
    seen_order: std::collections::VecDeque<u64>,
}

impl Lifecycle {
    pub fn new(settings: Settings, id: Identity) -> Lifecycle {
        Lifecycle {
            settings,
            id,
            env_id_from_telemetry: false,
            env_id_published: false,
            telemetry: false,
            invoke_events: true,
            ready_at: None,
            coldmark_init_ms: None,
            inits: Vec::new(),
            extensions: Vec::new(),
            invocations: 0,
            held: Vec::new(),
            seen: std::collections::HashSet::new(),
            seen_order: std::collections::VecDeque::new(),
        }
    }

    /// The Telemetry API accepted the subscription: records will come, so wait for them.
    pub fn telemetry_subscribed(&mut self) {
        self.telemetry = true;
    }

    /// coldmark is registered for SHUTDOWN only: no INVOKE will come, so no marker waits for
    /// one.
    pub fn registered_without_invoke(&mut self) {
        self.invoke_events = false;
    }

    /// coldmark asked for its first event at `at`, `coldmark_init_ms` after its process began.
    /// Registered for SHUTDOWN only and without telemetry, nothing more will come: the init
    /// marker is returned at once.
    pub fn ready(&mut self, at: DateTime<Utc>, coldmark_init_ms: f64) -> Vec<Marker> {
        if self.ready_at.is_none() {
            self.ready_at = Some(at);
            self.coldmark_init_ms = Some(round_ms(coldmark_init_ms));
        }
        if !self.invoke_events && !self.telemetry && self.inits.is_empty() {
            self.inits.push(EnvInit::default());
        }
        self.ready_markers()
    }

    pub fn invocations(&self) -> u64 {
        self.invocations
    }

    /// Whether an invoke marker is still waiting for its `platform.report` (worth waiting a
    /// little for at shutdown).
    pub fn awaiting_reports(&self) -> bool {
        self.telemetry && self.held.iter().any(|h| h.report.is_none())
    }

    pub fn on_invoke(&mut self, invoke: Invoke) -> Vec<Marker> {
        let mut out = Vec::new();
        self.invocations += 1;
        let seq = self.invocations;
        if self.inits.is_empty() {
            self.inits.push(EnvInit::default());
        }
        let idx = self.inits.len() - 1;
        let first_of_init = self.inits[idx].first_request.is_none();
        if first_of_init {
            self.inits[idx].first_request = Some(FirstRequest {
                request_id: invoke.request_id.clone(),
                at: invoke.at,
                seq,
            });
        }
        // An init whose first invocation is two or more back, and older than the grace, is
        // overdue: its records are not coming. Not earlier, even if some of its records are
        // in: those of an init longer than the buffering window are split, and the rest
        // (initRuntimeDone, initReport) is held up by the freeze after the first invocation
        // until the thaw at the second INVOKE — writing then would lose the init's figures.
        let now = invoke.at;
        let overdue_inits: Vec<usize> = (0..self.inits.len())
            .filter(|&i| {
                let c = &self.inits[i];
                !c.emitted
                    && matches!(&c.first_request, Some(first) if first.seq + 2 <= seq
                        && (!self.telemetry || ms_between(first.at, now) >= REPORT_GRACE_MS))
            })
            .collect();
        for i in overdue_inits {
            out.extend(self.emit_init(i));
        }
        // Reports of invocations two or more back, and older than the grace, are overdue.
        let overdue: Vec<usize> = (0..self.held.len())
            .filter(|&i| {
                let h = &self.held[i];
                h.seq + 2 <= seq
                    && (!self.telemetry || ms_between(h.invoke.at, now) >= REPORT_GRACE_MS)
            })
            .collect();
        out.extend(self.release(&overdue));

        let wanted = match self.settings.invoke_markers {
            InvokeMarkers::First => first_of_init,
            InvokeMarkers::All => true,
            InvokeMarkers::None => false,
        };
        if wanted {
            self.held.push(Held {
                init: idx,
                seq,
                first_of_init,
                invoke,
                report: None,
            });
        }
        if self.held.len() > MAX_HELD {
            out.extend(self.release(&[0]));
        }
        out.extend(self.ready_markers());
        out
    }

    pub fn on_record(&mut self, record: Record) -> Vec<Marker> {
        let mut out = Vec::new();
        if let Some(key) = record_identity(&record) {
            if !self.seen.insert(key) {
                // Redelivered: already applied.
                return out;
            }
            self.seen_order.push_back(key);
            if self.seen_order.len() > SEEN_RECORDS {
                if let Some(old) = self.seen_order.pop_front() {
                    self.seen.remove(&old);
                }
            }
        }
        let starts_init = matches!(
            record,
            Record::InitStart { .. } | Record::RestoreStart { .. }
        );
        if starts_init && self.inits.len() >= MAX_INITS {
            // More inits than one process ever has: not records worth trusting.
            return out;
        }
        match record {
            Record::InitStart {
                time,
                initialization_type,
                phase,
                runtime_version,
                function_name,
                function_version,
                instance_id,
                instance_max_memory_mb,
            } => {
                // The records of an init coldmark already counted from the Extensions API alone
                // (they came late) fill that init rather than starting another: only a re-init
                // inside an invocation is a new init of the same process.
                let late = phase.as_deref() != Some("invoke");
                let reuse = matches!(self.inits.last(), Some(c) if c.start.is_none() && !c.restore && (!c.emitted || late));
                if !reuse {
                    if let Some(last) = self.inits.len().checked_sub(1) {
                        out.extend(self.emit_init(last));
                    }
                    self.inits.push(EnvInit::default());
                }
                let c = self.inits.last_mut().expect("an init was just ensured");
                c.start = Some(time);
                c.init_type = initialization_type;
                c.phase = phase;
                c.runtime_version = runtime_version;
                c.from_telemetry = true;
                self.adopt(
                    instance_id,
                    function_name,
                    function_version,
                    instance_max_memory_mb,
                );
            }
            // A restore's records complete its init just as an init's do.
            Record::InitRuntimeDone { time, .. } | Record::RestoreRuntimeDone { time, .. } => {
                let c = self.current();
                c.runtime_done = Some(time);
                c.from_telemetry = true;
            }
            Record::InitReport {
                time, duration_ms, ..
            }
            | Record::RestoreReport { time, duration_ms } => {
                let c = self.current();
                c.report_time = Some(time);
                c.duration_ms = duration_ms;
                c.from_telemetry = true;
            }
            Record::RestoreStart {
                time,
                runtime_version,
                function_name,
                function_version,
                instance_id,
                instance_max_memory_mb,
            } => {
                // The init before a restore ran while the snapshot was made: it belongs to no
                // environment that serves requests. Drop it unless it served some.
                if let Some(last) = self.inits.len().checked_sub(1) {
                    if self.inits[last].first_request.is_none() && !self.inits[last].emitted {
                        self.inits.pop();
                    } else {
                        out.extend(self.emit_init(last));
                    }
                }
                self.inits.push(EnvInit {
                    restore: true,
                    init_type: Some("snap-start".to_string()),
                    phase: Some("init".to_string()),
                    runtime_version,
                    start: Some(time),
                    from_telemetry: true,
                    ..EnvInit::default()
                });
                // Every restored copy starts with the snapshot's memory, ids included: take the
                // restore's instanceId, or derive a new id from the restore time.
                self.env_id_from_telemetry = false;
                self.env_id_published = false;
                if instance_id.is_none() {
                    self.id.env_id = derive_id(&self.id.env_id, &time.to_rfc3339());
                }
                self.adopt(
                    instance_id,
                    function_name,
                    function_version,
                    instance_max_memory_mb,
                );
            }
            Record::RuntimeDone { request_id, .. } => {
                for c in &mut self.inits {
                    if matches!(&c.first_request, Some(first) if first.request_id == request_id) {
                        c.first_request_done = true;
                    }
                }
            }
            Record::Report {
                request_id,
                metrics,
                ..
            } => {
                for c in &mut self.inits {
                    if matches!(&c.first_request, Some(first) if first.request_id == request_id) {
                        c.first_request_done = true;
                        c.report_init_duration_ms =
                            metrics.init_duration_ms.or(metrics.restore_duration_ms);
                    }
                }
                for h in &mut self.held {
                    if h.invoke.request_id == request_id {
                        h.report = Some(metrics.clone());
                    }
                }
            }
            Record::Extension {
                name,
                state,
                events,
            } => {
                if let Some(c) = self.inits.last_mut() {
                    if c.runtime_done.is_some() && c.report_time.is_none() {
                        c.runtime_done_at_end = true;
                    }
                }
                let info = ExtensionInfo {
                    name,
                    state,
                    events,
                };
                let full = self.extensions.len() >= MAX_EXTENSIONS;
                match self.extensions.iter_mut().find(|e| e.name == info.name) {
                    Some(e) => *e = info,
                    None if !full => self.extensions.push(info),
                    None => {}
                }
            }
            Record::Start { .. }
            | Record::TelemetrySubscription { .. }
            | Record::LogsDropped { .. } => {}
        }
        out.extend(self.ready_markers());
        out
    }

    /// Everything still held, at shutdown: init markers first (one even if the environment
    /// served no invocation), then invoke markers with whatever arrived.
    pub fn finish(&mut self) -> Vec<Marker> {
        let mut out = Vec::new();
        if self.inits.is_empty() {
            self.inits.push(EnvInit::default());
        }
        for idx in 0..self.inits.len() {
            out.extend(self.emit_init(idx));
        }
        let all: Vec<usize> = (0..self.held.len()).collect();
        out.extend(self.release(&all));
        out
    }

    /// The environment's last marker. `dropped` is what the sinks could not deliver, known
    /// only after they flushed.
    pub fn shutdown_marker(&self, reason: &str, at: DateTime<Utc>, dropped: u64) -> Marker {
        let began = self
            .inits
            .first()
            .and_then(|c| c.start)
            .unwrap_or(self.id.started_at);
        Marker::Shutdown(ShutdownMarker {
            common: self.common(at),
            reason: reason.to_string(),
            invocations: self.invocations,
            lifetime_ms: Some(ms_between(began, at).max(0.0)),
            dropped,
        })
    }

    fn current(&mut self) -> &mut EnvInit {
        if self.inits.is_empty() {
            self.inits.push(EnvInit::default());
        }
        self.inits.last_mut().expect("an init was just ensured")
    }

    /// Takes what the Telemetry API says about the environment over what coldmark guessed.
    fn adopt(
        &mut self,
        instance_id: Option<String>,
        function_name: Option<String>,
        function_version: Option<String>,
        memory: Option<u64>,
    ) {
        if let Some(id) = instance_id.filter(|s| !s.is_empty()) {
            if !self.env_id_from_telemetry && !self.env_id_published {
                self.id.env_id = id;
                self.env_id_from_telemetry = true;
            }
        }
        if self.id.function_name.is_empty() {
            if let Some(n) = function_name {
                self.id.function_name = n;
            }
        }
        if self.id.function_version.is_empty() {
            if let Some(v) = function_version {
                self.id.function_version = v;
            }
        }
        if self.id.memory_size.is_none() {
            self.id.memory_size = memory;
        }
    }

    /// Markers whose data is now complete.
    fn ready_markers(&mut self) -> Vec<Marker> {
        let mut out = Vec::new();
        for idx in 0..self.inits.len() {
            let c = &self.inits[idx];
            // Complete once the init's own report is in (nothing later changes its figures),
            // or the first invocation's report (which may carry initDurationMs), or when no
            // telemetry will come.
            let complete = if self.invoke_events {
                c.first_request.is_some()
                    && (c.report_time.is_some() || c.first_request_done || !self.telemetry)
            } else {
                // No INVOKE to wait for. The init that made a SnapStart snapshot is left to
                // the restore (which drops it) or to shutdown, as with INVOKE events.
                let snapshot = !c.restore && c.init_type.as_deref() == Some("snap-start");
                (c.report_time.is_some() && !snapshot)
                    || (!self.telemetry && self.ready_at.is_some())
            };
            if !c.emitted && complete {
                out.extend(self.emit_init(idx));
            }
        }
        let done: Vec<usize> = (0..self.held.len())
            .filter(|&i| !self.telemetry || self.held[i].report.is_some())
            .collect();
        out.extend(self.release(&done));
        out
    }

    /// Releases held invoke markers (by index), each after its init marker.
    fn release(&mut self, indices: &[usize]) -> Vec<Marker> {
        let mut out = Vec::new();
        let mut taken = Vec::new();
        for &i in indices.iter().rev() {
            taken.push(self.held.remove(i));
        }
        taken.reverse();
        for h in taken {
            out.extend(self.emit_init(h.init));
            out.push(self.invoke_marker(&h));
            self.env_id_published = true;
        }
        out
    }

    fn emit_init(&mut self, idx: usize) -> Option<Marker> {
        if self.inits[idx].emitted {
            return None;
        }
        self.inits[idx].emitted = true;
        self.env_id_published = true;
        let c = &self.inits[idx];
        let init_duration = c.duration_ms.or(c.report_init_duration_ms).map(round_ms);
        // Unknown when `initRuntimeDone` marked the end of the whole init (see
        // `runtime_done_at_end`): a figure there would call the whole init the function's and
        // the extensions' share a false zero. Never larger than the whole: record times have
        // millisecond resolution, `durationMs` has microseconds.
        let runtime_init = match (c.start, c.runtime_done) {
            (Some(s), Some(d)) if !c.runtime_done_at_end => {
                let runtime = ms_between(s, d).max(0.0);
                Some(match init_duration {
                    Some(total) => runtime.min(total),
                    None => runtime,
                })
            }
            _ => None,
        };
        let extensions_init = match (init_duration, runtime_init) {
            (Some(total), Some(runtime)) => Some(round_ms((total - runtime).max(0.0))),
            _ => None,
        };
        let phase = c.phase.clone().unwrap_or_else(|| "init".to_string());
        let timestamp = c
            .start
            .or(if idx == 0 {
                Some(self.id.started_at)
            } else {
                None
            })
            .or(c.first_request.as_ref().map(|first| first.at))
            .unwrap_or(self.id.started_at);
        let coldmark_init_ms = if idx == 0 && !c.restore {
            self.coldmark_init_ms
        } else {
            None
        };
        let function_request_id = if phase == "invoke" {
            c.first_request
                .as_ref()
                .map(|first| first.request_id.clone())
        } else {
            None
        };
        let marker = InitMarker {
            common: self.common(timestamp),
            init_type: c
                .init_type
                .clone()
                .or_else(|| self.id.init_type.clone())
                .unwrap_or_else(|| "unknown".to_string()),
            init_phase: phase,
            init_duration_ms: init_duration,
            proactive: self.proactive(idx),
            config_fingerprint: self.id.config_fingerprint.clone(),
            function_memory_size: self.id.memory_size,
            runtime_version: c.runtime_version.clone(),
            source: if c.from_telemetry {
                Source::Telemetry
            } else {
                Source::Extension
            },
            runtime_init_ms: runtime_init,
            extensions_init_ms: extensions_init,
            coldmark_init_ms,
            extensions: if self.extensions.is_empty() {
                None
            } else {
                Some(self.extensions.clone())
            },
            function_request_id,
            aws: Emf::for_init(
                timestamp,
                &self.settings.namespace,
                init_duration,
                runtime_init,
                extensions_init,
            ),
            cold_start_metric: 1,
            init_duration_metric: init_duration,
            runtime_init_metric: runtime_init,
            extensions_init_metric: extensions_init,
        };
        Some(Marker::Init(Box::new(marker)))
    }

    fn invoke_marker(&self, h: &Held) -> Marker {
        let cold_start = h.first_of_init && !self.proactive(h.init);
        let since_init_ms = self
            .init_end(h.init)
            .map(|(end, _)| ms_between(end, h.invoke.at));
        let report = h.report.clone().unwrap_or_default();
        Marker::Invoke(Box::new(InvokeMarker {
            common: self.common(h.invoke.at),
            function_request_id: h.invoke.request_id.clone(),
            cold_start,
            seq: h.seq,
            since_init_ms,
            duration_ms: report.duration_ms.map(round_ms),
            billed_duration_ms: report.billed_duration_ms,
            max_memory_used_mb: report.max_memory_used_mb,
            init_duration_ms: report
                .init_duration_ms
                .or(report.restore_duration_ms)
                .map(round_ms),
            xray_trace_id: h.invoke.xray_trace_id.clone(),
        }))
    }

    /// When this init ended, and whether that time came from telemetry (exact) or is coldmark's
    /// own readiness (a lower bound).
    fn init_end(&self, idx: usize) -> Option<(DateTime<Utc>, bool)> {
        let c = &self.inits[idx];
        if let Some(t) = c.report_time {
            return Some((t, true));
        }
        if let (Some(s), Some(d)) = (c.start, c.duration_ms) {
            return Some((s + Duration::microseconds((d * 1000.0) as i64), true));
        }
        if let Some(t) = c.runtime_done {
            return Some((t, true));
        }
        if idx == 0 && !c.restore {
            return self.ready_at.map(|t| (t, false));
        }
        None
    }

    /// True when no request waited for this init.
    fn proactive(&self, idx: usize) -> bool {
        let c = &self.inits[idx];
        let init_type = c.init_type.as_deref().or(self.id.init_type.as_deref());
        if init_type == Some("provisioned-concurrency") {
            return true;
        }
        if c.phase.as_deref() == Some("invoke") {
            return false;
        }
        let Some(FirstRequest { at: first_at, .. }) = &c.first_request else {
            // Served no request: nobody waited for it.
            return true;
        };
        match self.init_end(idx) {
            Some((end, exact)) => {
                let slack = if exact { 0 } else { INIT_LIMIT_MS };
                let threshold = (self.settings.proactive_threshold_ms.saturating_add(slack)) as f64;
                ms_between(end, *first_at) > threshold
            }
            None => false,
        }
    }

    fn common(&self, timestamp: DateTime<Utc>) -> Common {
        Common {
            schema: SCHEMA,
            timestamp,
            function_name: self.id.function_name.clone(),
            function_version: self.id.function_version.clone(),
            env_id: self.id.env_id.clone(),
        }
    }
}

/// What makes a record the same record when Lambda delivers it again: its type, time and
/// ids. `None` for records that carry no time (applying them twice changes nothing anyway).
fn record_identity(record: &Record) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same record always gives the same identity.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let time = match record {
        Record::InitStart {
            time,
            phase,
            instance_id,
            ..
        } => {
            (0u8, phase, instance_id).hash(&mut h);
            time
        }
        Record::InitRuntimeDone { time, phase, .. } => {
            (1u8, phase).hash(&mut h);
            time
        }
        Record::InitReport { time, phase, .. } => {
            (2u8, phase).hash(&mut h);
            time
        }
        Record::RestoreStart {
            time, instance_id, ..
        } => {
            (3u8, instance_id).hash(&mut h);
            time
        }
        Record::RestoreRuntimeDone { time, .. } => {
            4u8.hash(&mut h);
            time
        }
        Record::RestoreReport { time, .. } => {
            5u8.hash(&mut h);
            time
        }
        Record::Start { time, request_id } => {
            (6u8, request_id).hash(&mut h);
            time
        }
        Record::RuntimeDone {
            time, request_id, ..
        } => {
            (7u8, request_id).hash(&mut h);
            time
        }
        Record::Report {
            time, request_id, ..
        } => {
            (8u8, request_id).hash(&mut h);
            time
        }
        Record::Extension { .. }
        | Record::TelemetrySubscription { .. }
        | Record::LogsDropped { .. } => return None,
    };
    time.timestamp_nanos_opt().hash(&mut h);
    time.timestamp().hash(&mut h);
    Some(h.finish())
}

/// A new id for a restored copy of a snapshot, from the snapshot's id and the restore time.
fn derive_id(old: &str, salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"coldmark env_id restore\0");
    h.update(old.as_bytes());
    h.update([0]);
    h.update(salt.as_bytes());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::Value;

    const T0: i64 = 1_795_000_000_000;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(T0 + ms).unwrap()
    }

    fn machine(markers: InvokeMarkers, init_type: &str) -> Lifecycle {
        Lifecycle::new(
            Settings {
                invoke_markers: markers,
                proactive_threshold_ms: 1000,
                namespace: "coldmark".into(),
            },
            Identity {
                function_name: "clock".into(),
                function_version: "$LATEST".into(),
                memory_size: Some(128),
                config_fingerprint: "0123456789ab".into(),
                env_id: "generated".into(),
                init_type: Some(init_type.into()),
                started_at: t(-5),
            },
        )
    }

    fn subscribed(markers: InvokeMarkers, init_type: &str) -> Lifecycle {
        let mut m = machine(markers, init_type);
        m.telemetry_subscribed();
        m.ready(t(2), 7.0);
        m
    }

    fn json(markers: &[Marker]) -> Vec<Value> {
        markers
            .iter()
            .map(|m| serde_json::from_str(&m.to_line()).unwrap())
            .collect()
    }

    fn invoke(id: &str, at: i64) -> Invoke {
        Invoke {
            request_id: id.into(),
            at: t(at),
            xray_trace_id: Some(format!("Root=1-{id}")),
        }
    }

    fn init_start(at: i64, kind: &str, phase: &str) -> Record {
        Record::InitStart {
            time: t(at),
            initialization_type: Some(kind.into()),
            phase: Some(phase.into()),
            runtime_version: Some("provided:al2023.v1".into()),
            function_name: Some("clock".into()),
            function_version: Some("$LATEST".into()),
            instance_id: Some("instance-1".into()),
            instance_max_memory_mb: Some(128),
        }
    }

    fn runtime_done(at: i64) -> Record {
        Record::InitRuntimeDone {
            time: t(at),
            phase: Some("init".into()),
            status: Some("success".into()),
        }
    }

    fn init_report(at: i64, ms: f64) -> Record {
        Record::InitReport {
            time: t(at),
            phase: Some("init".into()),
            duration_ms: Some(ms),
        }
    }

    fn report(id: &str, at: i64, init_ms: Option<f64>) -> Record {
        Record::Report {
            time: t(at),
            request_id: id.into(),
            metrics: ReportMetrics {
                duration_ms: Some(2.25),
                billed_duration_ms: Some(3),
                max_memory_used_mb: Some(20),
                init_duration_ms: init_ms,
                restore_duration_ms: None,
            },
        }
    }

    fn feed(m: &mut Lifecycle, records: Vec<Record>) -> Vec<Marker> {
        records.into_iter().flat_map(|r| m.on_record(r)).collect()
    }

    #[test]
    fn on_demand_init_at_first_invoke_and_invoke_marker_waits_for_its_report() {
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        let early = feed(
            &mut m,
            vec![
                init_start(0, "on-demand", "init"),
                Record::Extension {
                    name: "coldmark".into(),
                    state: Some("Ready".into()),
                    events: vec!["INVOKE".into(), "SHUTDOWN".into()],
                },
                runtime_done(40),
                init_report(100, 100.0),
            ],
        );
        assert!(early.is_empty());
        // INVOKE right after init: the init marker is complete; the invoke marker waits for
        // its report.
        let mut out = json(&m.on_invoke(invoke("r1", 101)));
        assert_eq!(out.len(), 1);
        assert!(m.awaiting_reports());
        out.extend(json(&feed(
            &mut m,
            vec![
                Record::RuntimeDone {
                    time: t(104),
                    request_id: "r1".into(),
                    status: Some("success".into()),
                },
                report("r1", 105, Some(100.0)),
            ],
        )));
        assert_eq!(out.len(), 2);
        let (init, inv) = (&out[0], &out[1]);
        assert_eq!(init["coldmark"], "init");
        assert_eq!(init["env_id"], "instance-1");
        assert_eq!(init["init_type"], "on-demand");
        assert_eq!(init["init_phase"], "init");
        assert_eq!(init["init_duration_ms"], 100.0);
        assert_eq!(init["runtime_init_ms"], 40.0);
        assert_eq!(init["extensions_init_ms"], 60.0);
        assert_eq!(init["coldmark_init_ms"], 7.0);
        assert_eq!(init["proactive"], false);
        assert_eq!(init["source"], "telemetry");
        assert_eq!(init["runtime_version"], "provided:al2023.v1");
        assert_eq!(init["extensions"][0]["name"], "coldmark");
        assert_eq!(init["RuntimeInitDuration"], 40.0);
        assert_eq!(init["ExtensionsInitDuration"], 60.0);
        assert!(init.get("function_request_id").is_none());
        assert_eq!(inv["coldmark"], "invoke");
        assert_eq!(inv["cold_start"], true);
        assert_eq!(inv["seq"], 1);
        assert_eq!(inv["since_init_ms"], 1.0);
        assert_eq!(inv["duration_ms"], 2.25);
        assert_eq!(inv["billed_duration_ms"], 3);
        assert_eq!(inv["max_memory_used_mb"], 20);
        assert_eq!(inv["init_duration_ms"], 100.0);
        assert_eq!(inv["xray_trace_id"], "Root=1-r1");
        assert_eq!(inv["env_id"], "instance-1");
        // Later invocations: no marker by default.
        assert!(m.on_invoke(invoke("r2", 5000)).is_empty());
        assert!(feed(&mut m, vec![report("r2", 5003, None)]).is_empty());
        assert!(!m.awaiting_reports());
        assert!(m.finish().is_empty());
        let end: Value =
            serde_json::from_str(&m.shutdown_marker("spindown", t(9000), 0).to_line()).unwrap();
        assert_eq!(end["coldmark"], "shutdown");
        assert_eq!(end["reason"], "spindown");
        assert_eq!(end["invocations"], 2);
        assert_eq!(end["lifetime_ms"], 9000.0);
        assert_eq!(end["dropped"], 0);
    }

    fn extension_record() -> Record {
        Record::Extension {
            name: "coldmark".into(),
            state: Some("Ready".into()),
            events: vec!["INVOKE".into(), "SHUTDOWN".into()],
        }
    }

    /// The first init marker after feeding `records` and one invocation.
    fn init_marker_of(records: Vec<Record>) -> Value {
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        let mut out = feed(&mut m, records);
        out.extend(m.on_invoke(invoke("r1", 200)));
        out.extend(m.finish());
        json(&out)
            .into_iter()
            .find(|v| v["coldmark"] == "init")
            .expect("an init marker")
    }

    #[test]
    fn lambda_order_runtime_done_at_the_end_leaves_the_split_unknown() {
        // Lambda's own order: initRuntimeDone only once every extension is ready, then one
        // platform.extension per extension, then initReport.
        let init = init_marker_of(vec![
            init_start(0, "on-demand", "init"),
            runtime_done(100),
            extension_record(),
            init_report(100, 100.4),
        ]);
        assert_eq!(init["init_duration_ms"], 100.4);
        assert!(init["runtime_init_ms"].is_null(), "{init}");
        assert!(init["extensions_init_ms"].is_null(), "{init}");
        assert_eq!(init["coldmark_init_ms"], 7.0);
        assert!(init.get("RuntimeInitDuration").is_none(), "{init}");
        assert!(init.get("ExtensionsInitDuration").is_none(), "{init}");
    }

    #[test]
    fn runtime_done_first_order_keeps_the_split_and_no_part_exceeds_the_whole() {
        // initRuntimeDone at the runtime's first /next, extension records at registration;
        // record times in whole ms (4 ms) against a durationMs of 3.4 ms.
        let init = init_marker_of(vec![
            init_start(0, "on-demand", "init"),
            extension_record(),
            runtime_done(4),
            init_report(4, 3.4),
        ]);
        assert_eq!(init["init_duration_ms"], 3.4);
        assert_eq!(init["runtime_init_ms"], 3.4, "{init}");
        assert_eq!(init["extensions_init_ms"], 0.0, "{init}");
        assert_eq!(init["coldmark_init_ms"], 7.0);
    }

    #[test]
    fn provisioned_concurrency_is_proactive_and_not_cold() {
        let mut m = subscribed(InvokeMarkers::First, "provisioned-concurrency");
        feed(
            &mut m,
            vec![
                init_start(0, "provisioned-concurrency", "init"),
                runtime_done(300),
                init_report(310, 310.0),
            ],
        );
        let mut out = json(&m.on_invoke(invoke("r1", 60_000)));
        out.extend(json(&feed(&mut m, vec![report("r1", 60_010, None)])));
        assert_eq!(out[0]["init_type"], "provisioned-concurrency");
        assert_eq!(out[0]["proactive"], true);
        assert_eq!(out[1]["cold_start"], false);
    }

    #[test]
    fn provisioned_concurrency_that_served_nothing_writes_init_at_shutdown() {
        let mut m = subscribed(InvokeMarkers::First, "provisioned-concurrency");
        feed(
            &mut m,
            vec![
                init_start(0, "provisioned-concurrency", "init"),
                init_report(50, 50.0),
            ],
        );
        let out = json(&m.finish());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["proactive"], true);
        assert_eq!(out[0]["init_duration_ms"], 50.0);
        assert!(out[0]["runtime_init_ms"].is_null());
        assert!(out[0]["extensions_init_ms"].is_null());
    }

    #[test]
    fn proactive_gap_on_demand() {
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        feed(
            &mut m,
            vec![init_start(0, "on-demand", "init"), init_report(80, 80.0)],
        );
        let mut out = json(&m.on_invoke(invoke("r1", 80 + 1001)));
        out.extend(json(&feed(&mut m, vec![report("r1", 1100, None)])));
        assert_eq!(out[0]["proactive"], true);
        assert_eq!(out[1]["cold_start"], false);
        assert_eq!(out[1]["since_init_ms"], 1001.0);

        // Exactly at the threshold is still a cold start.
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        feed(
            &mut m,
            vec![init_start(0, "on-demand", "init"), init_report(80, 80.0)],
        );
        let mut out = json(&m.on_invoke(invoke("r1", 80 + 1000)));
        out.extend(json(&feed(&mut m, vec![report("r1", 1100, None)])));
        assert_eq!(out[0]["proactive"], false);
        assert_eq!(out[1]["cold_start"], true);
    }

    #[test]
    fn snapstart_restore_replaces_the_snapshot_init() {
        let mut m = subscribed(InvokeMarkers::First, "snap-start");
        // The init that ran while the snapshot was made.
        feed(
            &mut m,
            vec![
                init_start(-100_000, "snap-start", "init"),
                init_report(-99_000, 1000.0),
            ],
        );
        // Restored later, in another environment.
        let out = feed(
            &mut m,
            vec![
                Record::RestoreStart {
                    time: t(0),
                    runtime_version: Some("java21.v1".into()),
                    function_name: None,
                    function_version: None,
                    instance_id: Some("restored-1".into()),
                    instance_max_memory_mb: None,
                },
                Record::RestoreRuntimeDone {
                    time: t(150),
                    status: Some("success".into()),
                },
                Record::RestoreReport {
                    time: t(200),
                    duration_ms: Some(200.0),
                },
            ],
        );
        assert!(
            out.is_empty(),
            "the snapshot's init is not this environment's"
        );
        let mut out = json(&m.on_invoke(invoke("r1", 201)));
        let mut r = report("r1", 220, None);
        if let Record::Report { metrics, .. } = &mut r {
            metrics.restore_duration_ms = Some(200.0);
        }
        out.extend(json(&feed(&mut m, vec![r])));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["init_type"], "snap-start");
        assert_eq!(out[0]["init_phase"], "init");
        assert_eq!(out[0]["env_id"], "restored-1");
        assert_eq!(out[0]["init_duration_ms"], 200.0);
        assert_eq!(out[0]["runtime_init_ms"], 150.0);
        assert_eq!(out[0]["extensions_init_ms"], 50.0);
        assert!(out[0]["coldmark_init_ms"].is_null());
        assert_eq!(out[0]["runtime_version"], "java21.v1");
        assert_eq!(out[0]["proactive"], false);
        assert_eq!(out[1]["cold_start"], true);
        assert_eq!(out[1]["init_duration_ms"], 200.0);
    }

    #[test]
    fn restore_without_instance_id_gets_a_fresh_env_id() {
        let mut m = subscribed(InvokeMarkers::None, "snap-start");
        feed(
            &mut m,
            vec![Record::RestoreStart {
                time: t(0),
                runtime_version: None,
                function_name: None,
                function_version: None,
                instance_id: None,
                instance_max_memory_mb: None,
            }],
        );
        let out = json(&m.finish());
        assert_ne!(out[0]["env_id"], "generated");
        assert_eq!(out[0]["env_id"].as_str().unwrap().len(), 32);
    }

    #[test]
    fn reinit_in_invoke_phase_names_the_paying_request() {
        // A fresh coldmark process started by the re-init after a timeout.
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        feed(
            &mut m,
            vec![
                init_start(0, "on-demand", "invoke"),
                Record::InitRuntimeDone {
                    time: t(30),
                    phase: Some("invoke".into()),
                    status: Some("success".into()),
                },
                Record::InitReport {
                    time: t(35),
                    phase: Some("invoke".into()),
                    duration_ms: Some(35.0),
                },
            ],
        );
        let mut out = json(&m.on_invoke(invoke("paying", 36)));
        out.extend(json(&feed(&mut m, vec![report("paying", 100, Some(35.0))])));
        assert_eq!(out[0]["init_phase"], "invoke");
        assert_eq!(out[0]["function_request_id"], "paying");
        assert_eq!(out[0]["runtime_init_ms"], 30.0);
        assert_eq!(out[0]["extensions_init_ms"], 5.0);
        assert_eq!(out[0]["proactive"], false);
        assert_eq!(out[1]["cold_start"], true);
    }

    #[test]
    fn second_init_in_the_same_process_gets_its_own_marker() {
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        feed(
            &mut m,
            vec![init_start(0, "on-demand", "init"), init_report(10, 10.0)],
        );
        assert_eq!(m.on_invoke(invoke("r1", 11)).len(), 1);
        assert_eq!(feed(&mut m, vec![report("r1", 20, None)]).len(), 1);
        // Lambda re-ran init inside request r2 (the runtime crashed).
        let out = feed(&mut m, vec![init_start(5000, "on-demand", "invoke")]);
        assert!(out.is_empty());
        let mut out = json(&m.on_invoke(invoke("r2", 5050)));
        out.extend(json(&feed(
            &mut m,
            vec![init_report(5049, 49.0), report("r2", 5100, Some(49.0))],
        )));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["init_phase"], "invoke");
        assert_eq!(out[0]["function_request_id"], "r2");
        assert!(out[0]["coldmark_init_ms"].is_null());
        assert_eq!(out[1]["cold_start"], true);
        assert_eq!(out[1]["seq"], 2);
    }

    #[test]
    fn no_telemetry_writes_at_the_first_invoke_from_the_extension_alone() {
        let mut m = machine(InvokeMarkers::First, "on-demand");
        m.ready(t(3), 4.5);
        let out = json(&m.on_invoke(invoke("r1", 50)));
        assert_eq!(out.len(), 2);
        let init = &out[0];
        assert_eq!(init["source"], "extension");
        assert_eq!(init["env_id"], "generated");
        assert_eq!(init["init_type"], "on-demand");
        assert!(init["init_duration_ms"].is_null());
        assert!(init["runtime_init_ms"].is_null());
        assert!(init["extensions_init_ms"].is_null());
        assert!(init["extensions"].is_null());
        assert!(init["runtime_version"].is_null());
        assert_eq!(init["coldmark_init_ms"], 4.5);
        assert_eq!(init["proactive"], false);
        assert!(init.get("InitDuration").is_none());
        assert_eq!(init["ColdStart"], 1);
        assert_eq!(
            init["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(out[1]["cold_start"], true);
        assert!(out[1].get("duration_ms").is_none());
        assert!(m.on_invoke(invoke("r2", 60)).is_empty());
    }

    #[test]
    fn no_telemetry_needs_a_much_longer_gap_to_call_it_proactive() {
        let mut m = machine(InvokeMarkers::First, "on-demand");
        m.ready(t(0), 4.5);
        let out = json(&m.on_invoke(invoke("r1", 5000)));
        assert_eq!(out[0]["proactive"], false);
        let mut m = machine(InvokeMarkers::First, "on-demand");
        m.ready(t(0), 4.5);
        let out = json(&m.on_invoke(invoke("r1", 11_001 + 10)));
        assert_eq!(out[0]["proactive"], true);
        assert_eq!(out[1]["cold_start"], false);
    }

    #[test]
    fn subscribed_but_silent_telemetry_releases_when_the_first_invoke_is_overdue() {
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        assert!(m.on_invoke(invoke("r1", 10)).is_empty());
        // The init's records may be held up by the freeze and arrive at this thaw: wait.
        assert!(m.on_invoke(invoke("r2", 20)).is_empty());
        // Two INVOKEs later, but within the grace: records of a burst are still on their way.
        assert!(m.on_invoke(invoke("r3", 30)).is_empty());
        // Two INVOKEs later and past the grace the first invocation is overdue: both markers
        // go, with what is known.
        let out = json(&m.on_invoke(invoke("r4", 10 + REPORT_GRACE_MS as i64)));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["coldmark"], "init");
        assert_eq!(out[0]["source"], "extension");
        assert_eq!(out[1]["function_request_id"], "r1");
        assert!(out[1].get("duration_ms").is_none());
    }

    #[test]
    fn init_records_arriving_after_the_second_invoke_fill_the_same_init() {
        // Sandbox and Lambda freeze the environment after an invocation: the init's records can
        // reach coldmark only at the next thaw, just after INVOKE #2.
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        assert!(m.on_invoke(invoke("r1", 12)).is_empty());
        assert!(m.on_invoke(invoke("r2", 520)).is_empty());
        let out = json(&feed(
            &mut m,
            vec![
                init_start(0, "on-demand", "init"),
                runtime_done(8),
                init_report(11, 11.0),
                report("r1", 20, Some(11.0)),
            ],
        ));
        let inits: Vec<_> = out.iter().filter(|v| v["coldmark"] == "init").collect();
        assert_eq!(inits.len(), 1, "one init marker per init: {out:?}");
        assert_eq!(inits[0]["source"], "telemetry");
        assert_eq!(inits[0]["init_duration_ms"], 11.0);
        assert_eq!(inits[0]["env_id"], "instance-1");
        assert!(out.iter().all(|v| v["env_id"] == "instance-1"));
        // Records that arrive after an init marker went out without them add no second one,
        // and the id its markers carry does not change.
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        m.on_invoke(invoke("r1", 12));
        m.on_invoke(invoke("r2", 520));
        let early = json(&m.on_invoke(invoke("r3", 1020)));
        assert!(!early.is_empty(), "r1 is overdue at r3 past the grace");
        assert_eq!(early[0]["coldmark"], "init");
        let late = json(&feed(
            &mut m,
            vec![init_start(0, "on-demand", "init"), init_report(11, 11.0)],
        ));
        assert!(late.iter().all(|v| v["coldmark"] != "init"), "{late:?}");
        let shutdown = json(&[m.shutdown_marker("spindown", t(2000), 0)]);
        assert_eq!(shutdown[0]["env_id"], early[0]["env_id"]);
    }

    #[test]
    fn a_burst_inside_one_buffering_window_still_gets_the_init_records() {
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        for (i, at) in [12, 14, 16, 18, 20].into_iter().enumerate() {
            let out = json(&m.on_invoke(invoke(&format!("r{}", i + 1), at)));
            assert!(out.is_empty(), "nothing before the records: {out:?}");
        }
        let out = json(&feed(
            &mut m,
            vec![
                init_start(0, "on-demand", "init"),
                runtime_done(8),
                init_report(11, 11.0),
                report("r1", 13, Some(11.0)),
            ],
        ));
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0]["source"], "telemetry");
        assert_eq!(out[0]["init_duration_ms"], 11.0);
        assert_eq!(out[0]["env_id"], "instance-1");
        assert_eq!(out[1]["function_request_id"], "r1");
        assert_eq!(out[1]["duration_ms"], 2.25);
    }

    #[test]
    fn late_records_after_invoke_still_fill_the_init_marker() {
        // Init shorter than the buffering window: every init record arrives after INVOKE.
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        assert!(m.on_invoke(invoke("r1", 12)).is_empty());
        let out = json(&feed(
            &mut m,
            vec![
                init_start(0, "on-demand", "init"),
                runtime_done(8),
                init_report(11, 11.0),
                report("r1", 20, Some(11.0)),
            ],
        ));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["init_duration_ms"], 11.0);
        assert_eq!(out[0]["runtime_init_ms"], 8.0);
        assert_eq!(out[0]["env_id"], "instance-1");
        assert_eq!(out[0]["source"], "telemetry");
        assert_eq!(out[1]["cold_start"], true);
    }

    #[test]
    fn report_init_duration_fills_a_missing_init_report() {
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        feed(&mut m, vec![init_start(0, "on-demand", "init")]);
        let mut out = json(&m.on_invoke(invoke("r1", 30)));
        out.extend(json(&feed(&mut m, vec![report("r1", 40, Some(29.5))])));
        assert_eq!(out[0]["init_duration_ms"], 29.5);
        assert!(out[0]["runtime_init_ms"].is_null());
        assert!(out[0]["extensions_init_ms"].is_null());
    }

    #[test]
    fn missing_init_records_give_nulls_never_invented_figures() {
        // Only initReport arrived: no initStart, no initRuntimeDone, no platform.extension.
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        feed(&mut m, vec![init_report(60, 60.0)]);
        let mut out = json(&m.on_invoke(invoke("r1", 61)));
        out.extend(json(&feed(&mut m, vec![report("r1", 70, None)])));
        let init = &out[0];
        assert_eq!(init["source"], "telemetry");
        assert_eq!(init["init_duration_ms"], 60.0);
        assert!(init["runtime_init_ms"].is_null());
        assert!(init["extensions_init_ms"].is_null());
        assert!(init["extensions"].is_null());
        assert!(init["runtime_version"].is_null());
        assert_eq!(init["env_id"], "generated");
        assert_eq!(
            init["init_type"], "on-demand",
            "from AWS_LAMBDA_INITIALIZATION_TYPE"
        );
        assert!(init.get("RuntimeInitDuration").is_none());
        assert!(init.get("ExtensionsInitDuration").is_none());
        assert_eq!(init["coldmark_init_ms"], 7.0);
    }

    #[test]
    fn all_mode_marks_every_invocation_and_bounds_what_it_holds() {
        let mut m = subscribed(InvokeMarkers::All, "on-demand");
        feed(
            &mut m,
            vec![init_start(0, "on-demand", "init"), init_report(5, 5.0)],
        );
        let mut written = Vec::new();
        for i in 0..200 {
            written.extend(json(&m.on_invoke(invoke(&format!("r{i}"), 10 + i * 600))));
        }
        // Invocations further apart than half the grace: never more than two held without a
        // report.
        let invokes = written.iter().filter(|v| v["coldmark"] == "invoke").count();
        assert_eq!(invokes, 198);
        written.extend(json(&m.finish()));
        let seqs: Vec<u64> = written
            .iter()
            .filter(|v| v["coldmark"] == "invoke")
            .map(|v| v["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        assert_eq!(written[0]["coldmark"], "init");
        assert_eq!(
            written.iter().filter(|v| v["cold_start"] == true).count(),
            1
        );
    }

    #[test]
    fn a_burst_without_reports_holds_at_most_max_held() {
        let mut m = subscribed(InvokeMarkers::All, "on-demand");
        feed(
            &mut m,
            vec![init_start(0, "on-demand", "init"), init_report(5, 5.0)],
        );
        let mut written = Vec::new();
        for i in 0..200 {
            written.extend(json(&m.on_invoke(invoke(&format!("r{i}"), 10 + i))));
        }
        let invokes = written.iter().filter(|v| v["coldmark"] == "invoke").count();
        assert_eq!(invokes, 200 - MAX_HELD);
        written.extend(json(&m.finish()));
        let seqs: Vec<u64> = written
            .iter()
            .filter(|v| v["coldmark"] == "invoke")
            .map(|v| v["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    }

    #[test]
    fn none_mode_writes_only_init_and_shutdown() {
        let mut m = machine(InvokeMarkers::None, "on-demand");
        let out = m.on_invoke(invoke("r1", 1));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind(), "init");
    }

    #[test]
    fn shutdown_before_anything_still_writes_an_init_marker() {
        let mut m = machine(InvokeMarkers::First, "on-demand");
        let out = json(&m.finish());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["proactive"], true);
        assert!(out[0]["coldmark_init_ms"].is_null());
    }

    #[test]
    fn an_init_split_across_the_freeze_waits_for_the_thaw() {
        // initStart reached coldmark before INVOKE #1; the rest of the init's records (and
        // the first invocation's) only at the thaw, just after INVOKE #2.
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        assert!(feed(&mut m, vec![init_start(0, "on-demand", "init")]).is_empty());
        assert!(m.on_invoke(invoke("r1", 120)).is_empty());
        assert!(
            m.on_invoke(invoke("r2", 5000)).is_empty(),
            "an init with only some of its records in is not complete"
        );
        let out = json(&feed(
            &mut m,
            vec![
                runtime_done(80),
                init_report(119, 119.0),
                report("r1", 125, Some(119.0)),
            ],
        ));
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0]["coldmark"], "init");
        assert_eq!(out[0]["init_duration_ms"], 119.0);
        assert!(!out[0]["runtime_init_ms"].is_null());
        assert_eq!(out[1]["init_duration_ms"], 119.0);
    }

    #[test]
    fn a_redelivered_batch_changes_nothing() {
        let batch = || {
            vec![
                init_start(0, "on-demand", "init"),
                runtime_done(8),
                init_report(11, 11.0),
            ]
        };
        let mut m = subscribed(InvokeMarkers::First, "on-demand");
        let mut out = json(&feed(&mut m, batch()));
        out.extend(json(&feed(&mut m, batch())));
        out.extend(json(&m.on_invoke(invoke("r1", 12))));
        out.extend(json(&feed(&mut m, vec![report("r1", 20, Some(11.0))])));
        // Again after the markers went out.
        out.extend(json(&feed(&mut m, batch())));
        out.extend(json(&feed(&mut m, vec![report("r1", 20, Some(11.0))])));
        out.extend(json(&m.finish()));
        let inits: Vec<_> = out.iter().filter(|v| v["coldmark"] == "init").collect();
        assert_eq!(inits.len(), 1, "{out:?}");
        assert_eq!(
            out.iter().filter(|v| v["ColdStart"] == 1).count(),
            1,
            "one ColdStart metric"
        );
        assert_eq!(out.iter().filter(|v| v["coldmark"] == "invoke").count(), 1);
    }

    #[test]
    fn a_silent_subscription_without_invoke_markers_releases_the_init_after_the_grace() {
        let mut m = subscribed(InvokeMarkers::None, "on-demand");
        assert!(m.on_invoke(invoke("r1", 10)).is_empty());
        assert!(m.on_invoke(invoke("r2", 20)).is_empty());
        assert!(m.on_invoke(invoke("r3", 30)).is_empty(), "within the grace");
        let out = json(&m.on_invoke(invoke("r4", 10 + REPORT_GRACE_MS as i64)));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["coldmark"], "init");
        assert_eq!(out[0]["source"], "extension");
        assert_eq!(out[0]["coldmark_init_ms"], 7.0);
    }

    /// Registered for SHUTDOWN only (Lambda Managed Instances): subscribed, ready.
    fn shutdown_only(init_type: &str) -> Lifecycle {
        let mut m = machine(InvokeMarkers::First, init_type);
        m.registered_without_invoke();
        m.telemetry_subscribed();
        assert!(m.ready(t(2), 7.0).is_empty(), "telemetry will come: wait");
        m
    }

    #[test]
    fn registered_without_invoke_writes_the_init_marker_at_its_init_report() {
        let mut m = shutdown_only("lambda-managed-instances");
        let early = feed(
            &mut m,
            vec![
                init_start(0, "lambda-managed-instances", "init"),
                extension_record(),
                runtime_done(40),
            ],
        );
        assert!(early.is_empty(), "not before the init's report: {early:?}");
        let out = json(&feed(&mut m, vec![init_report(100, 100.0)]));
        assert_eq!(out.len(), 1, "no INVOKE to wait for: {out:?}");
        let init = &out[0];
        assert_eq!(init["coldmark"], "init");
        assert_eq!(init["source"], "telemetry");
        assert_eq!(init["init_type"], "lambda-managed-instances");
        assert_eq!(init["init_duration_ms"], 100.0);
        assert_eq!(init["runtime_init_ms"], 40.0);
        assert_eq!(init["extensions_init_ms"], 60.0);
        assert_eq!(init["coldmark_init_ms"], 7.0);
        assert_eq!(init["env_id"], "instance-1");
        assert!(m.finish().is_empty(), "written once");
        let end = json(&[m.shutdown_marker("spindown", t(9000), 0)]);
        assert_eq!(end[0]["env_id"], "instance-1");
        assert_eq!(end[0]["invocations"], 0);
    }

    #[test]
    fn registered_without_invoke_or_telemetry_writes_the_init_marker_when_ready() {
        let mut m = machine(InvokeMarkers::First, "lambda-managed-instances");
        m.registered_without_invoke();
        let out = json(&m.ready(t(3), 4.5));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["coldmark"], "init");
        assert_eq!(out[0]["source"], "extension");
        assert_eq!(out[0]["coldmark_init_ms"], 4.5);
        assert_eq!(out[0]["init_type"], "lambda-managed-instances");
        assert!(out[0]["init_duration_ms"].is_null());
        assert!(m.finish().is_empty(), "written once");
    }

    #[test]
    fn registered_without_invoke_leaves_the_snapshot_init_to_the_restore() {
        let mut m = shutdown_only("snap-start");
        let out = feed(
            &mut m,
            vec![
                init_start(-100_000, "snap-start", "init"),
                init_report(-99_000, 1000.0),
            ],
        );
        assert!(
            out.is_empty(),
            "the snapshot's init is not this environment's"
        );
        let out = json(&feed(
            &mut m,
            vec![
                Record::RestoreStart {
                    time: t(0),
                    runtime_version: None,
                    function_name: None,
                    function_version: None,
                    instance_id: Some("restored-1".into()),
                    instance_max_memory_mb: None,
                },
                Record::RestoreReport {
                    time: t(200),
                    duration_ms: Some(200.0),
                },
            ],
        ));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["env_id"], "restored-1");
        assert_eq!(out[0]["init_duration_ms"], 200.0);
        assert!(m.finish().is_empty());
    }

    #[test]
    fn forged_records_cannot_grow_the_state_without_bound() {
        let mut m = subscribed(InvokeMarkers::None, "on-demand");
        let mut out = Vec::new();
        for i in 0..1000 {
            out.extend(json(&m.on_record(Record::Extension {
                name: format!("ext-{i}"),
                state: Some("Ready".into()),
                events: vec![],
            })));
            out.extend(json(&m.on_record(init_start(i, "on-demand", "invoke"))));
        }
        out.extend(json(&m.finish()));
        assert_eq!(out.len(), MAX_INITS);
        let listed = |v: &Value| v["extensions"].as_array().unwrap().len();
        assert!(out.iter().all(|v| listed(v) <= MAX_EXTENSIONS));
        assert_eq!(listed(out.last().unwrap()), MAX_EXTENSIONS);
    }
}
