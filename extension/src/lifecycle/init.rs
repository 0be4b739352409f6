//! One init of the environment (the first, a re-init inside an invocation, or a SnapStart
//! restore): what its records said, and the figures they give — its duration, the runtime's
//! and the extensions' share, when it ended, how it went, whether a request waited for it.

use chrono::{DateTime, Duration, Utc};

use crate::marker::{ms_between, round_ms};
use crate::telemetry::record::Outcome;

/// One init, as far as its records and the INVOKEs after it tell.
#[derive(Debug, Clone, Default)]
pub(super) struct EnvInit {
    pub(super) restore: bool,
    pub(super) init_type: Option<String>,
    pub(super) phase: Option<String>,
    pub(super) runtime_version: Option<String>,
    pub(super) start: Option<DateTime<Utc>>,
    pub(super) runtime_done: Option<DateTime<Utc>>,
    /// A `platform.extension` record followed `initRuntimeDone` within this init: the order of
    /// Lambda's own init code (AWS's runtime interface emulator, `doRuntimeDomainInit`), where
    /// `initRuntimeDone` is sent only after every extension is ready. Its time is then the end
    /// of the whole init, and the records cannot tell the runtime's share from the extensions'.
    pub(super) runtime_done_at_end: bool,
    pub(super) report_time: Option<DateTime<Utc>>,
    pub(super) duration_ms: Option<f64>,
    /// How the init went by its own report (`initReport`/`restoreReport`): the last word.
    pub(super) report_outcome: Outcome,
    /// How it went by `initRuntimeDone`/`restoreRuntimeDone`: used when no report says.
    pub(super) runtime_done_outcome: Outcome,
    /// `initDurationMs`/`restoreDurationMs` of the first invocation's `platform.report`.
    pub(super) report_init_duration_ms: Option<f64>,
    /// The first INVOKE after this init.
    pub(super) first_request: Option<FirstRequest>,
    pub(super) first_request_done: bool,
    pub(super) from_telemetry: bool,
    pub(super) emitted: bool,
}

/// The first INVOKE an init served.
#[derive(Debug, Clone)]
pub(super) struct FirstRequest {
    pub(super) request_id: String,
    /// When the INVOKE arrived.
    pub(super) at: DateTime<Utc>,
    /// Its sequence number among the environment's invocations (1 is the first).
    pub(super) seq: u64,
}

/// How an init went, as its marker says it (`init_status`, `init_error_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InitStatus<'a> {
    /// Lambda's `status` (`success`, `error`, `failure`, `timeout`) and, when there is one,
    /// its `errorType`.
    Reported {
        status: &'a str,
        error_type: Option<&'a str>,
    },
    /// No record said, but a request came after the init: it completed.
    Completed,
    /// No record said, and nothing shows that the init completed.
    Unknown,
}

impl<'a> InitStatus<'a> {
    /// `init_status`.
    pub(super) fn as_str(self) -> &'a str {
        match self {
            InitStatus::Reported { status, .. } => status,
            InitStatus::Completed => "success",
            InitStatus::Unknown => "unknown",
        }
    }

    /// Lambda said the init did not succeed.
    pub(super) fn failed(self) -> bool {
        matches!(self, InitStatus::Reported { status, .. } if status != "success")
    }

    /// `init_error_type`: Lambda's `errorType`, only for an init that did not succeed.
    pub(super) fn error_type(self) -> Option<&'a str> {
        match self {
            InitStatus::Reported { error_type, .. } if self.failed() => error_type,
            _ => None,
        }
    }
}

/// An init's durations in milliseconds; `None` where its records do not tell.
#[derive(Debug, Clone, Copy)]
pub(super) struct Figures {
    pub(super) init_duration: Option<f64>,
    pub(super) runtime_init: Option<f64>,
    pub(super) extensions_init: Option<f64>,
}

impl EnvInit {
    /// The init that ran while a SnapStart snapshot was made: it belongs to no environment
    /// that serves requests (the restore replaces it).
    pub(super) fn made_a_snapshot(&self) -> bool {
        !self.restore && self.init_type.as_deref() == Some("snap-start")
    }

    /// The whole init, and its split between the runtime and the extensions.
    pub(super) fn figures(&self) -> Figures {
        let init_duration = self
            .duration_ms
            .or(self.report_init_duration_ms)
            .map(round_ms);
        // Unknown when `initRuntimeDone` marked the end of the whole init (see
        // `runtime_done_at_end`): a figure there would call the whole init the function's and
        // the extensions' share a false zero. Never larger than the whole: record times have
        // millisecond resolution, `durationMs` has microseconds.
        let runtime_init = match (self.start, self.runtime_done) {
            (Some(s), Some(d)) if !self.runtime_done_at_end => {
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
        Figures {
            init_duration,
            runtime_init,
            extensions_init,
        }
    }

    /// How this init went: its report's `status`, else its `initRuntimeDone`'s; the
    /// `errorType` of either (the report's first).
    pub(super) fn status(&self) -> InitStatus<'_> {
        let (said, other) = if self.report_outcome.status.is_some() {
            (&self.report_outcome, &self.runtime_done_outcome)
        } else {
            (&self.runtime_done_outcome, &self.report_outcome)
        };
        match &said.status {
            Some(status) => InitStatus::Reported {
                status,
                error_type: said.error_type.as_deref().or(other.error_type.as_deref()),
            },
            None if self.first_request.is_some() => InitStatus::Completed,
            None => InitStatus::Unknown,
        }
    }

    /// When this init ended, as its records tell (exact); `None` when they do not.
    pub(super) fn recorded_end(&self) -> Option<DateTime<Utc>> {
        if let Some(t) = self.report_time {
            return Some(t);
        }
        if let (Some(s), Some(d)) = (self.start, self.duration_ms) {
            return Some(s + Duration::microseconds((d * 1000.0) as i64));
        }
        self.runtime_done
    }

    /// True when no request waited for this init. `fallback_init_type` is the environment's
    /// (`AWS_LAMBDA_INITIALIZATION_TYPE`); `end` is when the init ended and whether that time
    /// is exact (from records) or a lower bound (coldmark's own readiness); `retry_start` is,
    /// for a failed init, when Lambda began running it again inside an invocation (the request
    /// that came then is the one that may have waited for it).
    pub(super) fn proactive(
        &self,
        fallback_init_type: Option<&str>,
        end: Option<(DateTime<Utc>, bool)>,
        retry_start: Option<DateTime<Utc>>,
        threshold_ms: u64,
        init_limit_ms: u64,
    ) -> bool {
        let init_type = self.init_type.as_deref().or(fallback_init_type);
        // Provisioned concurrency and Lambda Managed Instances start environments ahead of
        // traffic: no request ever waits for their init.
        if matches!(
            init_type,
            Some("provisioned-concurrency" | "lambda-managed-instances")
        ) {
            return true;
        }
        if self.phase.as_deref() == Some("invoke") {
            return false;
        }
        let first_at = match (&self.first_request, retry_start) {
            (Some(FirstRequest { at, .. }), _) => *at,
            (None, Some(retry)) => retry,
            // Served no request, and no retry came: nobody waited for it.
            (None, None) => return true,
        };
        match end {
            Some((end, exact)) => {
                let slack = if exact { 0 } else { init_limit_ms };
                let threshold = (threshold_ms.saturating_add(slack)) as f64;
                ms_between(end, first_at) > threshold
            }
            None => false,
        }
    }
}
