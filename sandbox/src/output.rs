//! What the commands print: one typed record per event, as a human line or (`--json`) as one
//! JSON object per line with a `type` field, so that scripts and tests read the same facts a
//! person reads.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::causes::{CausesSummary, StepRecord};
use crate::experiment::{ConfigUpdateRecord, MarkerRecord, Verdict};
use crate::lifecycle_events::{EnvironmentStartRecord, EnvironmentStopRecord};
use crate::probe::{ProbeSummary, ResponseRecord};

/// Where a served sandbox listens.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EndpointsRecord {
    pub function_name: String,
    /// Base URL of the Lambda REST API (`aws --endpoint-url <this>`).
    pub lambda_api: String,
    /// The Function URL.
    pub function_url: String,
}

/// A log line of an environment (the sandbox's CloudWatch), printed with `--show-logs`/`serve`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogRecord {
    pub env_id: String,
    /// `function`, `platform` or the extension's name.
    pub source: String,
    pub time: String,
    pub line: String,
}

/// Every line the sandbox prints.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    Endpoints(EndpointsRecord),
    Response(ResponseRecord),
    Marker(MarkerRecord),
    ConfigUpdate(ConfigUpdateRecord),
    Log(LogRecord),
    ProbeSummary(ProbeSummary),
    Verdict(Verdict),
    /// Why the sandbox started an environment (its ground truth for cause attribution).
    EnvironmentStart(EnvironmentStartRecord),
    /// An environment shut down (spun down, or reset by a crash or timeout).
    EnvironmentStop(EnvironmentStopRecord),
    /// A step of the `causes` script.
    CausesStep(StepRecord),
    CausesSummary(CausesSummary),
}

impl Output {
    /// The human form.
    pub fn text(&self) -> String {
        match self {
            Output::Endpoints(e) => format!(
                "sandbox serving function `{}`\n  Lambda API:   {}   (aws --endpoint-url {} lambda invoke --function-name {} out.json)\n  Function URL: {}",
                e.function_name, e.lambda_api, e.lambda_api, e.function_name, e.function_url
            ),
            Output::Response(r) => r.text(),
            Output::Marker(m) => format!("     [{} marker] {}", m.kind(), m.line),
            Output::ConfigUpdate(u) => u.text(),
            Output::Log(l) => format!("     [{} {}] {}", short(&l.env_id), l.source, l.line),
            Output::ProbeSummary(s) => s.text(),
            Output::Verdict(v) => v.text(),
            Output::EnvironmentStart(s) => s.text(),
            Output::EnvironmentStop(s) => s.text(),
            Output::CausesStep(s) => s.text(),
            Output::CausesSummary(s) => s.text(),
        }
    }
}

/// The first 8 characters of an id: enough to tell environments apart on screen.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Prints records in the chosen form; each line is flushed at once so a pipe sees it live.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub json: bool,
}

impl Printer {
    pub fn print(&self, output: &Output) {
        let line = if self.json {
            match serde_json::to_string(output) {
                Ok(line) => line,
                Err(e) => {
                    tracing::error!("serialising output: {e}");
                    return;
                }
            }
        } else {
            output.text()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}
