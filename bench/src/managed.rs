//! Lambda Managed Instances: invoke markers out per second of wall time with N invocations in
//! flight at once in one environment, and the check that none is lost.
//!
//! On Managed Instances coldmark registers for SHUTDOWN only and learns of invocations from
//! `platform.start` / `platform.report` alone, several request ids interleaved in one batch.
//! The harness builds such a stream (pure: [`interleaved`], [`batches`]), POSTs it to the real
//! binary's listener batch after batch as Lambda does (one in flight), and counts the invoke
//! markers the binary writes to its stdout pipe.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::process::{SpawnOptions, FUNCTION_NAME};
use crate::records::{request_id, EnvFacts, Record, MANAGED_INSTANCES};
use crate::server::{ServerOptions, TelemetryMode};
use crate::session::Session;
use crate::stats::Summary;
use crate::telemetry_feed::Poster;

/// The only Telemetry API schema Lambda Managed Instances accept.
pub const SCHEMA: &str = "2025-01-29";

/// How long an invocation's records are apart from the next invocation's start in the
/// simulated timeline (record times are written in whole milliseconds).
const STEP_MS: i64 = 1;

/// The init's duration in the records.
const INIT_MS: f64 = 250.0;

/// No new marker for this long after the last batch: the rest is not coming.
const STALL: Duration = Duration::from_secs(2);

/// The records of `invocations` invocations with `concurrency` of them in flight at once:
/// the first `concurrency` start, then each report (the oldest invocation in flight) comes just
/// before the next start, and the last ones report at the end. Invocation `k` starts at
/// `start + k` ms and reports at `start + k + concurrency` ms, so the record times agree with
/// the overlap.
pub fn interleaved(
    facts: &EnvFacts,
    run: u32,
    invocations: u64,
    concurrency: u64,
    start: DateTime<Utc>,
) -> Vec<Record> {
    let at = |k: u64| start + chrono::Duration::milliseconds(k as i64 * STEP_MS);
    let duration_ms = (concurrency as i64 * STEP_MS) as f64;
    let report =
        |k: u64| facts.managed_report(&request_id(run, k + 1), at(k + concurrency), duration_ms);
    let mut records = Vec::with_capacity(invocations as usize * 2);
    for k in 0..invocations {
        if k >= concurrency {
            records.push(report(k - concurrency));
        }
        records.push(facts.managed_start(&request_id(run, k + 1), at(k)));
    }
    for k in invocations.saturating_sub(concurrency)..invocations {
        records.push(report(k));
    }
    records
}

/// The most invocations in flight at once in `records` (a start opens one, its report closes
/// it): what coldmark's `peak_concurrency` must say.
pub fn peak_in_flight(records: &[Record]) -> u64 {
    use crate::records::RecordBody;
    let (mut now, mut peak) = (0u64, 0u64);
    for record in records {
        match &record.body {
            RecordBody::Start(_) => {
                now += 1;
                peak = peak.max(now);
            }
            RecordBody::Report(_) => now = now.saturating_sub(1),
            _ => {}
        }
    }
    peak
}

/// `records` as Lambda batches them for a subscriber: JSON arrays of at most `max_items`
/// records and `max_bytes` bytes, in order.
pub fn batches(records: &[Record], max_items: usize, max_bytes: usize) -> Result<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut body = Vec::with_capacity(max_bytes.min(1 << 20));
    let mut items = 0;
    for record in records {
        let json = serde_json::to_vec(record).context("serialising a record")?;
        // "[" + records joined by "," + "]"
        if items > 0 && (items == max_items || body.len() + 1 + json.len() + 1 > max_bytes) {
            body.push(b']');
            out.push(Bytes::from(std::mem::take(&mut body)));
            items = 0;
        }
        body.push(if items == 0 { b'[' } else { b',' });
        body.extend_from_slice(&json);
        items += 1;
    }
    if items > 0 {
        body.push(b']');
        out.push(Bytes::from(body));
    }
    Ok(out)
}

/// What the environment's last marker says, read as a typed record.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ShutdownFigures {
    pub invocations: u64,
    pub peak_concurrency: Option<u64>,
    pub dropped: u64,
}

/// What one run delivered against what was sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    pub sent: u64,
    pub concurrency: u64,
    pub invoke_markers: u64,
    pub incomplete_invoke_markers: u64,
    pub shutdown: Option<ShutdownFigures>,
    pub exited: bool,
}

impl Outcome {
    /// Every invocation got its complete marker, and the shutdown marker counts them all with
    /// the right peak and nothing dropped.
    pub fn nothing_lost(&self) -> bool {
        self.invoke_markers == self.sent
            && self.incomplete_invoke_markers == 0
            && self.shutdown
                == Some(ShutdownFigures {
                    invocations: self.sent,
                    peak_concurrency: Some(self.concurrency),
                    dropped: 0,
                })
    }
}

/// One environment's run.
#[derive(Clone, Copy, Debug)]
pub struct ManagedRun {
    /// First batch handed to the listener → last invoke marker read from the pipe.
    pub wall: Duration,
    /// CPU time the extension used over the same span.
    pub cpu: Duration,
    pub outcome: Outcome,
}

impl ManagedRun {
    pub fn markers_per_second(&self) -> f64 {
        self.outcome.invoke_markers as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn markers_per_cpu_second(&self) -> f64 {
        self.outcome.invoke_markers as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

/// Every run at one concurrency.
#[derive(Clone, Debug)]
pub struct ManagedResult {
    pub concurrency: u64,
    pub invocations: u64,
    pub batches: usize,
    pub records: usize,
    pub runs: Vec<ManagedRun>,
}

impl ManagedResult {
    pub fn markers_per_second(&self) -> Summary {
        Summary::of(
            &self
                .runs
                .iter()
                .map(ManagedRun::markers_per_second)
                .collect::<Vec<_>>(),
        )
    }

    pub fn markers_per_cpu_second(&self) -> Summary {
        Summary::of(
            &self
                .runs
                .iter()
                .map(ManagedRun::markers_per_cpu_second)
                .collect::<Vec<_>>(),
        )
    }

    /// Runs in which nothing was lost.
    pub fn runs_complete(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.outcome.nothing_lost())
            .count()
    }
}

/// `runs` environments of the `coldmark` binary, each sent `invocations` invocations with
/// `concurrency` in flight.
pub async fn managed(
    coldmark: &Path,
    concurrency: u64,
    invocations: u64,
    runs: usize,
) -> Result<ManagedResult> {
    let mut result = ManagedResult {
        concurrency,
        invocations,
        batches: 0,
        records: 0,
        runs: Vec::with_capacity(runs),
    };
    for _ in 0..runs {
        let (run, batches, records) = managed_run(
            coldmark,
            concurrency,
            invocations,
            crate::scenarios::next_run(),
        )
        .await?;
        result.batches = batches;
        result.records = records;
        result.runs.push(run);
    }
    Ok(result)
}

/// One environment: init records, then every invocation's records batch after batch, then
/// SHUTDOWN. Returns the run, the batches and the records sent.
async fn managed_run(
    coldmark: &Path,
    concurrency: u64,
    invocations: u64,
    run: u32,
) -> Result<(ManagedRun, usize, usize)> {
    let options = SpawnOptions::new(coldmark)
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", MANAGED_INSTANCES)
        .env("AWS_LAMBDA_MAX_CONCURRENCY", &concurrency.to_string())
        .env("COLDMARK_INVOKE_MARKERS", "all");
    let mut server = ServerOptions::new(TelemetryMode::Supported, FUNCTION_NAME);
    server.only_schema = Some(SCHEMA.to_string());
    server.refuse_invoke = Some(http::StatusCode::FORBIDDEN);
    let session = Session::start_bare(&options, server, run)
        .await
        .context("starting coldmark on Lambda Managed Instances")?;
    let subscription = session
        .subscription
        .clone()
        .context("coldmark did not subscribe to telemetry")?;
    let process = session
        .process()
        .context("the measurement needs a process")?;

    // Built before the clock starts; the timeline ends a second before now.
    let facts = EnvFacts::new(format!("2026/11/25/{FUNCTION_NAME}[1]lmi{run:08x}"));
    let span = chrono::Duration::milliseconds((invocations + concurrency) as i64 * STEP_MS);
    let start = Utc::now() - span - chrono::Duration::seconds(1);
    let init_start =
        start - chrono::Duration::milliseconds(INIT_MS as i64) - chrono::Duration::seconds(1);
    let records = interleaved(&facts, run, invocations, concurrency, start);
    let bodies = batches(&records, subscription.max_items, subscription.max_bytes)?;
    let init = batches(
        &facts.managed_init(init_start, INIT_MS),
        usize::MAX,
        usize::MAX,
    )?;

    let mut poster = Poster::new(subscription.destination, subscription.path.clone());
    for body in init {
        poster
            .post_body(body)
            .await
            .context("posting the init records")?;
    }
    let cpu_before = process.cpu_time()?;
    let started = Instant::now();
    for body in &bodies {
        poster
            .post_body(body.clone())
            .await
            .context("posting a batch of invocations")?;
    }
    let (mut seen, mut last_at) = process.invoke_markers();
    let mut progress = Instant::now();
    while seen < invocations && progress.elapsed() < STALL {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let (now_seen, now_at) = process.invoke_markers();
        if now_seen > seen {
            progress = Instant::now();
        }
        (seen, last_at) = (now_seen, now_at);
    }
    let cpu = process.cpu_time()?.saturating_sub(cpu_before);
    let wall = last_at.map_or(Duration::ZERO, |at| at.saturating_duration_since(started));

    let finished = session.shutdown().await?;
    let shutdown = finished
        .output
        .markers_of("shutdown")
        .next()
        .map(|m| serde_json::from_value::<ShutdownFigures>(m.clone()))
        .transpose()
        .context("reading the shutdown marker")?;
    let outcome = Outcome {
        sent: invocations,
        concurrency: peak_in_flight(&records),
        invoke_markers: finished.output.invoke_markers,
        incomplete_invoke_markers: finished.output.incomplete_invoke_markers,
        shutdown,
        exited: finished.exited,
    };
    Ok((
        ManagedRun { wall, cpu, outcome },
        bodies.len(),
        records.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RecordBody;
    use chrono::SubsecRound;

    fn ids(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| match &r.body {
                RecordBody::Start(s) => format!("start {}", &s.request_id[24..]),
                RecordBody::Report(s) => format!("report {}", &s.request_id[24..]),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn invocations_interleave_with_the_asked_number_in_flight() {
        let facts = EnvFacts::new("i");
        let records = interleaved(&facts, 1, 5, 2, Utc::now());
        assert_eq!(
            ids(&records),
            [
                "start 000000000001",
                "start 000000000002",
                "report 000000000001",
                "start 000000000003",
                "report 000000000002",
                "start 000000000004",
                "report 000000000003",
                "start 000000000005",
                "report 000000000004",
                "report 000000000005",
            ]
        );
        assert_eq!(peak_in_flight(&records), 2);
        assert_eq!(
            peak_in_flight(&interleaved(&facts, 1, 1000, 64, Utc::now())),
            64
        );
        // Fewer invocations than the concurrency: all at once.
        assert_eq!(peak_in_flight(&interleaved(&facts, 1, 3, 8, Utc::now())), 3);
    }

    #[test]
    fn record_times_agree_with_the_overlap() {
        let facts = EnvFacts::new("i");
        let t0 = Utc::now();
        let records = interleaved(&facts, 1, 10, 4, t0);
        let report = records
            .iter()
            .find_map(|r| match &r.body {
                RecordBody::Report(rep) if rep.request_id.ends_with("000000000001") => {
                    Some((r.time, rep.metrics))
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(report.0 - t0, chrono::Duration::milliseconds(4));
        assert_eq!(report.1.duration_ms, 4.0);
        assert_eq!(report.1.billed_duration_ms, None);
        assert_eq!(report.1.max_memory_used_mb, None);
    }

    #[test]
    fn batches_respect_both_limits_and_keep_every_record_in_order() {
        let facts = EnvFacts::new("i");
        // Whole milliseconds, as a batch carries them, so that the records read back equal.
        let records = interleaved(&facts, 1, 1_000, 64, Utc::now().trunc_subsecs(3));
        let by_items = batches(&records, 300, usize::MAX).unwrap();
        assert_eq!(by_items.len(), 7, "2,000 records by 300");
        let by_bytes = batches(&records, usize::MAX, 20_000).unwrap();
        let mut back = Vec::new();
        for body in &by_bytes {
            assert!(body.len() <= 20_000, "{}", body.len());
            back.extend(serde_json::from_slice::<Vec<Record>>(body).unwrap());
        }
        assert!(by_bytes.len() > 1);
        assert_eq!(back, records);
    }

    fn outcome() -> Outcome {
        Outcome {
            sent: 100,
            concurrency: 8,
            invoke_markers: 100,
            incomplete_invoke_markers: 0,
            shutdown: Some(ShutdownFigures {
                invocations: 100,
                peak_concurrency: Some(8),
                dropped: 0,
            }),
            exited: true,
        }
    }

    #[test]
    fn a_run_is_complete_only_if_every_count_agrees() {
        assert!(outcome().nothing_lost());
        let mut o = outcome();
        o.invoke_markers = 99;
        assert!(!o.nothing_lost(), "a marker missing");
        let mut o = outcome();
        o.incomplete_invoke_markers = 1;
        assert!(!o.nothing_lost(), "a marker without its figures");
        for shutdown in [
            None,
            Some(ShutdownFigures {
                invocations: 99,
                peak_concurrency: Some(8),
                dropped: 0,
            }),
            Some(ShutdownFigures {
                invocations: 100,
                peak_concurrency: Some(7),
                dropped: 0,
            }),
            Some(ShutdownFigures {
                invocations: 100,
                peak_concurrency: Some(8),
                dropped: 1,
            }),
        ] {
            let mut o = outcome();
            o.shutdown = shutdown;
            assert!(!o.nothing_lost(), "{shutdown:?}");
        }
    }

    #[test]
    fn the_shutdown_marker_reads_as_figures() {
        let marker = serde_json::json!({"coldmark": "shutdown", "invocations": 12,
            "peak_concurrency": 8, "dropped": 0, "reason": "spindown"});
        let figures: ShutdownFigures = serde_json::from_value(marker).unwrap();
        assert_eq!(
            figures,
            ShutdownFigures {
                invocations: 12,
                peak_concurrency: Some(8),
                dropped: 0
            }
        );
    }
}
