//! The client half of the experiment: call a Function URL at a steady pace and print what each
//! answer says about the environment behind it.
//!
//! The clock function's `time_out_of_handler` is recorded once per execution environment, so a
//! value never seen before means a new environment — a cold start — whatever the platform says.
//! That makes the probe work the same against the sandbox and against a real Function URL on AWS
//! (`probe --url https://<id>.lambda-url.<region>.on.aws/`), where no markers are at hand.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::output::{Printer, Record};

/// What the clock function's body holds (extra keys are ignored).
#[derive(Clone, Debug, Deserialize)]
pub struct ClockBody {
    pub time_out_of_handler: String,
    pub time_in_handler: String,
    pub env_user: Option<String>,
    #[serde(default)]
    pub invocation_count: Option<u64>,
}

/// A direct invoke's answer wraps the body as a string; a Function URL unwraps it.
#[derive(Deserialize)]
struct Wrapped {
    body: String,
}

impl ClockBody {
    /// Reads the body of a Function URL response, or a whole `{"statusCode", "body"}` document.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if let Ok(body) = serde_json::from_slice::<ClockBody>(bytes) {
            return Some(body);
        }
        let wrapped: Wrapped = serde_json::from_slice(bytes).ok()?;
        serde_json::from_str(&wrapped.body).ok()
    }
}

/// One probe request and what its answer said.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResponseRecord {
    /// 1-based request number.
    pub seq: usize,
    /// When the request was sent (RFC 3339, UTC).
    pub sent_at: String,
    pub latency_ms: f64,
    /// HTTP status; 0 when no answer arrived.
    pub status: u16,
    /// `x-amzn-RequestId` of the answer, when the endpoint sent one.
    pub request_id: Option<String>,
    pub time_out_of_handler: Option<String>,
    pub time_in_handler: Option<String>,
    pub env_user: Option<String>,
    pub invocation_count: Option<u64>,
    /// `time_out_of_handler` was never seen before: this answer came from a new environment.
    pub new_environment: bool,
    /// Why the answer could not be read, if it could not.
    pub error: Option<String>,
}

impl Record for ResponseRecord {
    const TYPE: &'static str = "response";

    /// The original experiment's log line, numbered.
    fn text(&self) -> String {
        let mut line = format!(
            "#{:<3} {:>4} {:>7.1} ms ",
            self.seq, self.status, self.latency_ms
        );
        match (&self.time_out_of_handler, &self.time_in_handler) {
            (Some(out), Some(inside)) => line.push_str(&format!(
                "| time_out_of_handler: {out} | time_in_handler: {inside} | env_user: {}",
                self.env_user.as_deref().unwrap_or("<unset>")
            )),
            _ => line.push_str(&format!(
                "| {}",
                self.error.as_deref().unwrap_or("no clock body")
            )),
        }
        if self.new_environment {
            line.push_str("   <- new environment (init ran)");
        }
        line
    }
}

/// Calls one URL and keeps track of the environments it has seen.
pub struct Prober {
    client: reqwest::Client,
    url: String,
    seen: HashSet<String>,
}

impl Prober {
    pub fn new(url: impl Into<String>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            url: url.into(),
            seen: HashSet::new(),
        })
    }

    /// Sends request number `seq` and reads its answer; network errors become records too, so a
    /// failing request shows up in the log instead of ending the experiment.
    pub async fn probe(&mut self, seq: usize) -> ResponseRecord {
        let sent_at = chrono::Utc::now();
        let started = Instant::now();
        let mut record = ResponseRecord {
            seq,
            sent_at: sent_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            latency_ms: 0.0,
            status: 0,
            request_id: None,
            time_out_of_handler: None,
            time_in_handler: None,
            env_user: None,
            invocation_count: None,
            new_environment: false,
            error: None,
        };
        let answer = match self.client.get(&self.url).send().await {
            Ok(response) => {
                record.status = response.status().as_u16();
                record.request_id = response
                    .headers()
                    .get("x-amzn-requestid")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                response.bytes().await.map_err(anyhow::Error::from)
            }
            Err(e) => Err(e.into()),
        };
        // To the microsecond, as the markers' figures: the clock reads nanoseconds, which in
        // `--json` would only be float noise.
        record.latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
        match answer {
            Ok(bytes) => match ClockBody::parse(&bytes) {
                Some(body) => {
                    record.new_environment = self.seen.insert(body.time_out_of_handler.clone());
                    record.time_out_of_handler = Some(body.time_out_of_handler);
                    record.time_in_handler = Some(body.time_in_handler);
                    record.env_user = body.env_user;
                    record.invocation_count = body.invocation_count;
                }
                None => {
                    let text = String::from_utf8_lossy(&bytes);
                    let shown: String = text.chars().take(200).collect();
                    record.error = Some(format!("not a clock answer: {shown}"));
                }
            },
            Err(e) => record.error = Some(format!("request failed: {e:#}")),
        }
        record
    }
}

/// One run of consecutive answers from the same environment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EnvironmentRun {
    pub time_out_of_handler: String,
    pub env_user: Option<String>,
    pub first_request: usize,
    pub last_request: usize,
    pub requests: usize,
}

/// What a probe run saw, from the answers alone.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProbeSummary {
    pub requests: usize,
    pub answered: usize,
    /// Distinct environments, in order of first appearance.
    pub environments: Vec<EnvironmentRun>,
    /// Requests answered by an environment never seen before, after the first one.
    pub cold_starts_at: Vec<usize>,
}

/// Groups answers by environment (`time_out_of_handler`).
pub fn summarize(records: &[ResponseRecord]) -> ProbeSummary {
    let mut environments: Vec<EnvironmentRun> = Vec::new();
    for record in records {
        let Some(out) = &record.time_out_of_handler else {
            continue;
        };
        match environments
            .iter_mut()
            .find(|e| &e.time_out_of_handler == out)
        {
            Some(run) => {
                run.last_request = record.seq;
                run.requests += 1;
            }
            None => environments.push(EnvironmentRun {
                time_out_of_handler: out.clone(),
                env_user: record.env_user.clone(),
                first_request: record.seq,
                last_request: record.seq,
                requests: 1,
            }),
        }
    }
    ProbeSummary {
        requests: records.len(),
        answered: records
            .iter()
            .filter(|r| r.time_out_of_handler.is_some())
            .count(),
        cold_starts_at: environments
            .iter()
            .skip(1)
            .map(|e| e.first_request)
            .collect(),
        environments,
    }
}

impl Record for ProbeSummary {
    const TYPE: &'static str = "probe_summary";

    fn text(&self) -> String {
        let mut text = format!(
            "{} of {} requests answered by {} environment(s)",
            self.answered,
            self.requests,
            self.environments.len()
        );
        if !self.cold_starts_at.is_empty() {
            let at: Vec<String> = self
                .cold_starts_at
                .iter()
                .map(|s| format!("#{s}"))
                .collect();
            text.push_str(&format!("; new environments at {}", at.join(", ")));
        }
        for (i, env) in self.environments.iter().enumerate() {
            text.push_str(&format!(
                "\n  environment {}: requests #{}-#{} ({}), time_out_of_handler {}, env_user {}",
                i + 1,
                env.first_request,
                env.last_request,
                env.requests,
                env.time_out_of_handler,
                env.env_user.as_deref().unwrap_or("<unset>")
            ));
        }
        text
    }
}

/// `probe --url`: the experiment's client loop against any Function URL.
pub async fn run(
    url: &str,
    interval: Duration,
    requests: usize,
    printer: &Printer,
) -> anyhow::Result<ProbeSummary> {
    let mut prober = Prober::new(url)?;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut records = Vec::new();
    for seq in 1..=requests {
        ticker.tick().await;
        let record = prober.probe(seq).await;
        printer.print(&record);
        records.push(record);
    }
    let summary = summarize(&records);
    printer.print(&summary);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: usize, out: &str, user: &str) -> ResponseRecord {
        ResponseRecord {
            seq,
            sent_at: String::new(),
            latency_ms: 1.0,
            status: 200,
            request_id: None,
            time_out_of_handler: Some(out.into()),
            time_in_handler: Some(out.into()),
            env_user: Some(user.into()),
            invocation_count: None,
            new_environment: false,
            error: None,
        }
    }

    #[test]
    fn bodies_are_read_bare_or_wrapped() {
        let bare = br#"{"time_out_of_handler":"a","time_in_handler":"b","env_user":"user","invocation_count":2}"#;
        assert_eq!(ClockBody::parse(bare).unwrap().invocation_count, Some(2));
        let wrapped = br#"{"statusCode":200,"body":"{\"time_out_of_handler\":\"a\",\"time_in_handler\":\"b\",\"env_user\":null}"}"#;
        assert_eq!(ClockBody::parse(wrapped).unwrap().env_user, None);
        assert!(ClockBody::parse(b"nope").is_none());
    }

    #[test]
    fn environments_are_told_apart_by_time_out_of_handler() {
        let records = vec![
            record(1, "t1", "user"),
            record(2, "t1", "user"),
            record(3, "t2", "user2"),
            record(4, "t2", "user2"),
        ];
        let summary = summarize(&records);
        assert_eq!(summary.environments.len(), 2);
        assert_eq!(summary.cold_starts_at, vec![3]);
        assert_eq!(summary.environments[1].env_user.as_deref(), Some("user2"));
        assert_eq!(summary.environments[0].last_request, 2);
    }
}
