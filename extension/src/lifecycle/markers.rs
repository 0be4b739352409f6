//! Turning the state into markers: an init's marker (once per init), an invocation's, and the
//! environment's last.

use chrono::{DateTime, Utc};

use super::state::Held;
use super::{Lifecycle, INIT_LIMIT_MS};
use crate::marker::{
    ms_between, round_ms, Common, Emf, InitMarker, InvokeMarker, Marker, ShutdownMarker, Source,
    SCHEMA, VERSION,
};

impl Lifecycle {
    /// The environment's last marker. `dropped` is what the sinks could not deliver, known
    /// only after they flushed.
    pub(crate) fn shutdown_marker(&self, reason: &str, at: DateTime<Utc>, dropped: u64) -> Marker {
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
            // Counted from telemetry where it is the only source of invocations.
            peak_concurrency: (!self.invoke_events && self.telemetry)
                .then_some(self.peak_concurrency),
        })
    }

    /// Init `idx`'s marker, unless it was written already.
    pub(super) fn emit_init(&mut self, idx: usize) -> Option<Marker> {
        if self.inits[idx].emitted {
            return None;
        }
        self.inits[idx].emitted = true;
        self.env_id_published = true;
        let c = &self.inits[idx];
        let figures = c.figures();
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
        let status = c.status();
        let failed = status.failed();
        let mut aws = Emf::for_init(
            timestamp,
            &self.settings.namespace,
            figures.init_duration,
            figures.runtime_init,
            figures.extensions_init,
        );
        if failed {
            aws = aws.with_init_error();
        }
        let marker = InitMarker {
            common: self.common(timestamp),
            init_type: c
                .init_type
                .clone()
                .or_else(|| self.id.init_type.clone())
                .unwrap_or_else(|| "unknown".to_string()),
            init_phase: phase,
            init_status: status.as_str().to_string(),
            init_error_type: status.error_type().map(str::to_string),
            init_duration_ms: figures.init_duration,
            proactive: self.proactive(idx),
            config_fingerprint: self.id.config_fingerprint.clone(),
            function_memory_size: self.id.memory_size,
            runtime_version: c.runtime_version.clone(),
            source: if c.from_telemetry {
                Source::Telemetry
            } else {
                Source::Extension
            },
            runtime_init_ms: figures.runtime_init,
            extensions_init_ms: figures.extensions_init,
            coldmark_init_ms,
            extensions: if self.extensions.is_empty() {
                None
            } else {
                Some(self.extensions.clone())
            },
            function_request_id,
            max_concurrency: self.id.max_concurrency,
            aws,
            cold_start_metric: 1,
            init_duration_metric: figures.init_duration,
            runtime_init_metric: figures.runtime_init,
            extensions_init_metric: figures.extensions_init,
            init_error_metric: failed.then_some(1),
        };
        Some(Marker::Init(Box::new(marker)))
    }

    /// A held invocation's marker, with whatever of its report arrived.
    pub(super) fn invoke_marker(&self, h: &Held) -> Marker {
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

    /// When init `idx` ended, and whether that time came from telemetry (exact) or is
    /// coldmark's own readiness (a lower bound, known for the process's first init only).
    fn init_end(&self, idx: usize) -> Option<(DateTime<Utc>, bool)> {
        let c = &self.inits[idx];
        if let Some(end) = c.recorded_end() {
            return Some((end, true));
        }
        if idx == 0 && !c.restore {
            return self.ready_at.map(|t| (t, false));
        }
        None
    }

    /// True when no request waited for init `idx`. A failed init served no request, but the
    /// one that came next may have waited for it: Lambda ran init again inside that request's
    /// invocation (the next init, phase `invoke`), so the gap runs to that retry's start.
    fn proactive(&self, idx: usize) -> bool {
        let c = &self.inits[idx];
        let retry_start = if c.first_request.is_none() && c.status().failed() {
            self.inits
                .get(idx + 1)
                .filter(|next| next.phase.as_deref() == Some("invoke"))
                .and_then(|next| next.start)
        } else {
            None
        };
        c.proactive(
            self.id.init_type.as_deref(),
            self.init_end(idx),
            retry_start,
            self.settings.proactive_threshold_ms,
            INIT_LIMIT_MS,
        )
    }

    fn common(&self, timestamp: DateTime<Utc>) -> Common {
        Common {
            schema: SCHEMA,
            timestamp,
            function_name: self.id.function_name.clone(),
            function_version: self.id.function_version.clone(),
            env_id: self.id.env_id.clone(),
            tenant_id: self.tenant.clone(),
            coldmark_version: VERSION.to_string(),
        }
    }
}
