//! The state machine: Extensions API events and Telemetry API records in, markers out. No I/O
//! and no clock reads (every input carries its time), so every case is a plain unit test.
//!
//! Telemetry arrives asynchronously and often late: Lambda buffers records (coldmark asks for
//! 25 ms), and an environment is frozen between invocations, so the `platform.report` of
//! invocation N may arrive during N+1 or only at shutdown. The machine therefore *holds* what
//! it cannot complete yet and releases it on the first of:
//! - init marker: once the first INVOKE came, the init's own report (`platform.initReport`
//!   or `platform.restoreReport`) is in, and an invocation's record (the first
//!   `platform.start`, usually) said which tenant the environment serves, if any (Lambda names
//!   it in invocation records only, which may come a batch after the init's, or at the thaw
//!   after a freeze); else the first invocation's `platform.runtimeDone`/`platform.report`;
//!   else once it is overdue by the same rule as an invoke marker (two more INVOKEs after the
//!   first *and* `REPORT_GRACE_MS` since it), or shutdown; without telemetry (nothing will
//!   come) at the first INVOKE. Some records of an init arriving early does not make it
//!   complete: an init longer than the buffering window delivers `initStart` before the first
//!   INVOKE and `initReport` only at the thaw after the second. An init a newer one followed
//!   (a failed init, retried inside the next invocation) has all its records and serves no
//!   invocation: it waits only for the tenant, overdue by the newer init's first invocation.
//!   Registered for SHUTDOWN only (Lambda Managed Instances, or a Lambda that refused INVOKE),
//!   no INVOKE will come to wait for: the init marker goes as soon as the init's own report is
//!   in (or a newer init began), and without telemetry as soon as coldmark is ready;
//! - invoke marker: its `platform.report`; it is overdue (released with what is known) once two
//!   more INVOKEs came *and* `REPORT_GRACE_MS` passed — the count covers records held up by a
//!   freeze (they arrive at the thaw), the time covers bursts of invocations inside one
//!   buffering window; more than `MAX_HELD` held; or shutdown; without telemetry immediately.
//!   Registered for SHUTDOWN only, invocations are known from telemetry alone: each
//!   `platform.start` is one (numbered in their order), its `platform.report` completes its
//!   marker, and since invocations run concurrently there (Lambda Managed Instances) none is
//!   overdue for later ones having started: a marker waits for its report, `MAX_HELD` or
//!   shutdown.
//!
//! Records are idempotent: Lambda re-sends a batch it believes failed, so a record already
//! applied (same type, time and ids) changes nothing (`crate::telemetry::identity`). What one
//! environment accumulates is bounded (`MAX_EXTENSIONS`, `MAX_INITS`), whatever the records
//! say.
//!
//! The parts: this module keeps the state and takes the inputs; `records` has one handler
//! per record kind; `init` holds one init's records and works out its figures; `release`
//! decides when a marker is complete or overdue; `markers` turns the state into markers;
//! `state` has what the parts hand each other (an INVOKE, a held marker, an instance).

mod init;
mod markers;
mod records;
mod release;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::InvokeMarkers;
use crate::marker::{round_ms, ExtensionInfo, Marker};
use crate::telemetry::identity::Seen;
use crate::telemetry::record::Record;
use init::{EnvInit, FirstRequest};
pub use state::Invoke;
use state::{Held, Instance};

/// Invoke markers waiting for their report, at most (only `COLDMARK_INVOKE_MARKERS=all` can
/// come near it): above Lambda Managed Instances' 1600 invocations in flight per environment,
/// so that each of them can wait for its report's figures, and a bound on memory (a few hundred
/// bytes each) when reports never arrive. Beyond it the oldest is written without them.
pub(crate) const MAX_HELD: usize = 2048;

/// Invocations tracked as in flight at once, at most (Lambda Managed Instances allow 1600 per
/// environment): bounds memory when reports never arrive.
pub(crate) const MAX_IN_FLIGHT: usize = 4096;

/// Extensions listed in an init marker, at most (Lambda allows 10 per function).
pub(crate) const MAX_EXTENSIONS: usize = 32;

/// Inits one process keeps track of, at most. A process sees its init, perhaps a SnapStart
/// restore and a few re-inits after crashes; records beyond this start no new init.
pub(crate) const MAX_INITS: usize = 16;

/// How long a marker waits for its records before it counts as overdue (with two later
/// INVOKEs). Lambda delivers a batch within the buffering timeout coldmark asks for (25 ms) once
/// the environment runs; a function invoked many times within that window would otherwise lose
/// its first markers' figures.
pub(crate) const REPORT_GRACE_MS: f64 = 1000.0;

/// Lambda's limit on the init phase. Without telemetry the end of init is unknown; coldmark only
/// knows when it was ready itself, and the runtime and other extensions may go on for up to
/// this long, so the proactive gap must exceed it on top of the threshold.
pub(crate) const INIT_LIMIT_MS: u64 = 10_000;

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
    /// `AWS_LAMBDA_MAX_CONCURRENCY`, when coldmark's environment has it (Lambda Managed
    /// Instances give it to the runtime; an extension may not see it).
    pub max_concurrency: Option<u64>,
    /// When coldmark's process started (wall clock).
    pub started_at: DateTime<Utc>,
}

/// One environment's state: what coldmark knows, what it has written, what it holds.
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
    /// Registered for SHUTDOWN only: the invocations started (`platform.start`) whose
    /// `platform.report` has not come yet, and the most there were at once.
    in_flight: HashSet<String>,
    peak_concurrency: u64,
    held: Vec<Held>,
    /// The tenant the environment serves (tenant isolation: one per environment), from the
    /// first invocation record that names one.
    tenant: Option<Arc<str>>,
    /// An invocation's record (`platform.start`, `platform.runtimeDone`, `platform.report`)
    /// has come: it names the tenant when there is one, so whether there is one is known.
    tenant_settled: bool,
    /// The records applied so far (bounded).
    seen: Seen,
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
            in_flight: HashSet::new(),
            peak_concurrency: 0,
            held: Vec::new(),
            tenant: None,
            tenant_settled: false,
            seen: Seen::default(),
        }
    }

    /// The Telemetry API accepted the subscription: records will come, so wait for them.
    pub fn telemetry_subscribed(&mut self) {
        self.telemetry = true;
    }

    /// coldmark is registered for SHUTDOWN only: no INVOKE will come, so no marker waits for
    /// one.
    pub(crate) fn registered_without_invoke(&mut self) {
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

    /// Whether an invoke marker is still waiting for its `platform.report` (worth waiting a
    /// little for at shutdown).
    pub(crate) fn awaiting_reports(&self) -> bool {
        self.telemetry && self.held.iter().any(|h| h.report.is_none())
    }

    pub fn on_invoke(&mut self, invoke: Invoke) -> Vec<Marker> {
        self.begin_invocation(invoke)
    }

    /// One invocation begins: an INVOKE, or (registered for SHUTDOWN only) a `platform.start`.
    fn begin_invocation(&mut self, invoke: Invoke) -> Vec<Marker> {
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
        // Without INVOKE events invocations overlap: later ones starting say nothing about
        // an earlier one's report.
        let mut out = if self.invoke_events {
            self.release_overdue(seq, invoke.at)
        } else {
            Vec::new()
        };
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

    /// Applies one record (once: a redelivered one changes nothing) through its handler in
    /// `records`.
    pub fn on_record(&mut self, record: Record) -> Vec<Marker> {
        if !self.seen.first_time(&record) {
            return Vec::new();
        }
        let starts_init = matches!(
            record,
            Record::InitStart { .. } | Record::RestoreStart { .. }
        );
        if starts_init && self.inits.len() >= MAX_INITS {
            // More inits than one process ever has: not records worth trusting.
            return Vec::new();
        }
        let mut out = Vec::new();
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
                let instance = Instance {
                    instance_id,
                    function_name,
                    function_version,
                    memory_mb: instance_max_memory_mb,
                };
                self.on_init_start(time, initialization_type, phase, runtime_version, instance);
            }
            // A restore's records complete its init just as an init's do.
            Record::InitRuntimeDone { time, outcome, .. }
            | Record::RestoreRuntimeDone { time, outcome } => {
                self.on_init_runtime_done(time, outcome);
            }
            Record::InitReport {
                time,
                duration_ms,
                outcome,
                ..
            }
            | Record::RestoreReport {
                time,
                duration_ms,
                outcome,
            } => self.on_init_report(time, duration_ms, outcome),
            Record::RestoreStart {
                time,
                runtime_version,
                function_name,
                function_version,
                instance_id,
                instance_max_memory_mb,
            } => {
                let instance = Instance {
                    instance_id,
                    function_name,
                    function_version,
                    memory_mb: instance_max_memory_mb,
                };
                out = self.on_restore_start(time, runtime_version, instance);
            }
            Record::RuntimeDone {
                request_id,
                tenant_id,
                ..
            } => {
                self.on_tenant(tenant_id);
                self.on_runtime_done(&request_id);
            }
            Record::Report {
                request_id,
                metrics,
                tenant_id,
                ..
            } => {
                self.on_tenant(tenant_id);
                self.on_report(&request_id, metrics);
            }
            Record::Extension {
                name,
                state,
                events,
            } => self.on_extension(ExtensionInfo {
                name,
                state,
                events,
            }),
            Record::Start {
                time,
                request_id,
                tenant_id,
            } => {
                self.on_tenant(tenant_id);
                if !self.invoke_events {
                    out = self.on_start(request_id, time);
                }
            }
            Record::TelemetrySubscription { .. } | Record::LogsDropped { .. } => {}
        }
        out.extend(self.ready_markers());
        out
    }

    /// Everything still held, at shutdown: init markers first (one even if the environment
    /// served no invocation), then invoke markers with whatever arrived.
    pub(crate) fn finish(&mut self) -> Vec<Marker> {
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
}
