//! One handler per Telemetry API record kind: what each record changes in the state. Deciding
//! which markers are then complete is [`super::release`]'s.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::init::EnvInit;
use super::state::{Instance, Invoke};
use super::{Lifecycle, MAX_EXTENSIONS, MAX_IN_FLIGHT};
use crate::marker::{ExtensionInfo, Marker};
use crate::telemetry::record::{Outcome, ReportMetrics};

impl Lifecycle {
    /// `platform.initStart`: an init begins (or the records of one already counted arrive).
    /// The init before it, if any, has all its records now; `release` decides when its marker
    /// goes (a failed init's waits for the tenant its retry's invocation names).
    pub(super) fn on_init_start(
        &mut self,
        time: DateTime<Utc>,
        init_type: Option<String>,
        phase: Option<String>,
        runtime_version: Option<String>,
        instance: Instance,
    ) {
        // The records of an init coldmark already counted from the Extensions API alone (they
        // came late) fill that init rather than starting another: only a re-init inside an
        // invocation is a new init of the same process.
        let late = phase.as_deref() != Some("invoke");
        let reuse = matches!(self.inits.last(), Some(c) if c.start.is_none() && !c.restore && (!c.emitted || late));
        if !reuse {
            self.inits.push(EnvInit::default());
        }
        let c = self.inits.last_mut().expect("an init was just ensured");
        c.start = Some(time);
        c.init_type = init_type;
        c.phase = phase;
        c.runtime_version = runtime_version;
        c.from_telemetry = true;
        self.adopt(instance);
    }

    /// `platform.initRuntimeDone` / `platform.restoreRuntimeDone`.
    pub(super) fn on_init_runtime_done(&mut self, time: DateTime<Utc>, outcome: Outcome) {
        let c = self.current();
        c.runtime_done = Some(time);
        c.runtime_done_outcome = outcome;
        c.from_telemetry = true;
    }

    /// `platform.initReport` / `platform.restoreReport`: the init's own figures and status,
    /// final.
    pub(super) fn on_init_report(
        &mut self,
        time: DateTime<Utc>,
        duration_ms: Option<f64>,
        outcome: Outcome,
    ) {
        let c = self.current();
        c.report_time = Some(time);
        c.duration_ms = duration_ms;
        c.report_outcome = outcome;
        c.from_telemetry = true;
    }

    /// The `tenantId` of an invocation's record (`platform.start`, `platform.runtimeDone`,
    /// `platform.report`): an environment serves one tenant, so the first named is kept (one
    /// allocation per environment; markers share it). A record naming none says there is none.
    pub(super) fn on_tenant(&mut self, tenant_id: Option<String>) {
        self.tenant_settled = true;
        if self.tenant.is_none() {
            self.tenant = tenant_id.filter(|t| !t.is_empty()).map(Arc::from);
        }
    }

    /// `platform.restoreStart`: a SnapStart restore, a new environment from the snapshot.
    pub(super) fn on_restore_start(
        &mut self,
        time: DateTime<Utc>,
        runtime_version: Option<String>,
        instance: Instance,
    ) -> Vec<Marker> {
        let mut out = Vec::new();
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
        if instance.instance_id.is_none() {
            self.id.env_id = derive_id(&self.id.env_id, &time.to_rfc3339());
        }
        self.adopt(instance);
        out
    }

    /// `platform.start`, registered for SHUTDOWN only: the record is all coldmark learns of
    /// an invocation (on Lambda Managed Instances several run at once).
    pub(super) fn on_start(&mut self, request_id: String, time: DateTime<Utc>) -> Vec<Marker> {
        if self.in_flight.len() < MAX_IN_FLIGHT {
            self.in_flight.insert(request_id.clone());
        }
        self.peak_concurrency = self.peak_concurrency.max(self.in_flight.len() as u64);
        self.begin_invocation(Invoke {
            request_id,
            at: time,
            xray_trace_id: None,
        })
    }

    /// `platform.runtimeDone`: an invocation's function code is done.
    pub(super) fn on_runtime_done(&mut self, request_id: &str) {
        for c in &mut self.inits {
            if matches!(&c.first_request, Some(first) if first.request_id == request_id) {
                c.first_request_done = true;
            }
        }
    }

    /// `platform.report`: an invocation's figures, for its held marker (and, for the first
    /// invocation after an init, that init's duration).
    pub(super) fn on_report(&mut self, request_id: &str, metrics: ReportMetrics) {
        self.in_flight.remove(request_id);
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

    /// `platform.extension`: an extension registered (listed in init markers, bounded).
    pub(super) fn on_extension(&mut self, info: ExtensionInfo) {
        if let Some(c) = self.inits.last_mut() {
            if c.runtime_done.is_some() && c.report_time.is_none() {
                c.runtime_done_at_end = true;
            }
        }
        let full = self.extensions.len() >= MAX_EXTENSIONS;
        match self.extensions.iter_mut().find(|e| e.name == info.name) {
            Some(e) => *e = info,
            None if !full => self.extensions.push(info),
            None => {}
        }
    }

    /// The init records apply to: the latest (one is started if none is known yet).
    fn current(&mut self) -> &mut EnvInit {
        if self.inits.is_empty() {
            self.inits.push(EnvInit::default());
        }
        self.inits.last_mut().expect("an init was just ensured")
    }

    /// Takes what the Telemetry API says about the environment over what coldmark guessed.
    fn adopt(&mut self, instance: Instance) {
        if let Some(id) = instance.instance_id.filter(|s| !s.is_empty()) {
            if !self.env_id_from_telemetry && !self.env_id_published {
                self.id.env_id = id;
                self.env_id_from_telemetry = true;
            }
        }
        if self.id.function_name.is_empty() {
            if let Some(n) = instance.function_name {
                self.id.function_name = n;
            }
        }
        if self.id.function_version.is_empty() {
            if let Some(v) = instance.function_version {
                self.id.function_version = v;
            }
        }
        if self.id.memory_size.is_none() {
            self.id.memory_size = instance.memory_mb;
        }
    }
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
