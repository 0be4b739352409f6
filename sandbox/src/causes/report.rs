//! What the `causes` script prints besides the markers and the environment events: one
//! `causes_step` record per step (the starts it caused, checked against what it was meant to
//! cause) and a closing `causes_summary`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use lambda_emulator::control_plane::start_reason::StartReason;

use crate::output::{short, Record};

/// An environment start a step caused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepStart {
    pub env_id: String,
    pub reason: StartReason,
    /// How its init ended (`success`, `error`, `timeout`).
    pub init_status: String,
    /// Tenant isolation: the environment's tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// `{"type":"causes_step", ...}`: one step of the script and the starts it caused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    pub step: usize,
    /// What the step did.
    pub action: String,
    /// The function its requests named.
    pub function_name: String,
    /// The version its requests named.
    pub function_version: String,
    /// The reasons the step's starts must have: every start has one of them, and each of them
    /// is some start's (none: the step must start nothing).
    pub expected: Vec<StartReason>,
    /// How many of its starts must be inits that failed (or timed out).
    pub expected_failed_inits: usize,
    /// The requests it sent (`x-amzn-RequestId`).
    pub request_ids: Vec<String>,
    pub starts: Vec<StepStart>,
    /// What each request got, in order: `ok`, the `X-Amz-Function-Error` kind, or the error
    /// code of a refused invoke.
    pub outcomes: Vec<String>,
    pub ok: bool,
}

impl StepRecord {
    /// Whether `starts` are what a step expecting `expected` (and `failed_inits` failed inits)
    /// was meant to cause.
    pub fn as_expected(
        starts: &[StepStart],
        expected: &[StartReason],
        failed_inits: usize,
    ) -> bool {
        let reasons_fit = starts.iter().all(|s| expected.contains(&s.reason))
            && expected
                .iter()
                .all(|reason| starts.iter().any(|s| s.reason == *reason));
        let failed = starts.iter().filter(|s| s.init_status != "success").count();
        reasons_fit && failed == failed_inits
    }
}

impl Record for StepRecord {
    const TYPE: &'static str = "causes_step";

    fn text(&self) -> String {
        let starts: Vec<String> = self
            .starts
            .iter()
            .map(|s| {
                let tenant = s
                    .tenant_id
                    .as_ref()
                    .map(|t| format!(" (tenant {t})"))
                    .unwrap_or_default();
                let init = if s.init_status == "success" {
                    String::new()
                } else {
                    format!(" (init {})", s.init_status)
                };
                format!("{} {}{tenant}{init}", short(&s.env_id), s.reason)
            })
            .collect();
        format!(
            "---- step {}: {} ({} version {}) -> {} start(s){}{} [{}] ----",
            self.step,
            self.action,
            self.function_name,
            self.function_version,
            self.starts.len(),
            if starts.is_empty() { "" } else { ": " },
            starts.join(", "),
            if self.ok { "as expected" } else { "UNEXPECTED" }
        )
    }
}

/// `{"type":"causes_summary", ...}`: how many starts of each reason the run produced.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CausesSummary {
    /// Reason → environment starts with that reason.
    pub starts: BTreeMap<String, usize>,
    /// Starts whose init failed or timed out.
    pub failed_inits: usize,
    /// Reasons the script is meant to produce and did not.
    pub missing: Vec<StartReason>,
    /// Every step started what it was meant to, and nothing else.
    pub ok: bool,
    pub summary: String,
}

impl Record for CausesSummary {
    const TYPE: &'static str = "causes_summary";

    fn text(&self) -> String {
        let counts: Vec<String> = self
            .starts
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        format!(
            "\ncauses: {}\n  starts: {} (failed inits: {})",
            self.summary,
            counts.join(", "),
            self.failed_inits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(reason: StartReason, init_status: &str) -> StepStart {
        StepStart {
            env_id: "e".into(),
            reason,
            init_status: init_status.into(),
            tenant_id: None,
        }
    }

    #[test]
    fn a_step_is_as_expected_when_reasons_and_failed_inits_match() {
        let failed_then_retried = [
            start(StartReason::ConfigurationChange, "error"),
            start(StartReason::AfterFailure, "success"),
        ];
        let expected = [StartReason::ConfigurationChange, StartReason::AfterFailure];
        assert!(StepRecord::as_expected(&failed_then_retried, &expected, 1));
        assert!(!StepRecord::as_expected(&failed_then_retried, &expected, 0));
        assert!(
            !StepRecord::as_expected(&failed_then_retried[..1], &expected, 1),
            "the retry is missing"
        );
        let burst = [
            start(StartReason::ScaleOut, "success"),
            start(StartReason::ScaleOut, "success"),
        ];
        assert!(StepRecord::as_expected(&burst, &[StartReason::ScaleOut], 0));
        assert!(!StepRecord::as_expected(&[], &[StartReason::ScaleOut], 0));
        assert!(
            StepRecord::as_expected(&[], &[], 0),
            "a step meant to start nothing"
        );
        assert!(!StepRecord::as_expected(&burst, &[], 0));
    }
}
