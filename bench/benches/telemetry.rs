//! Telemetry throughput of coldmark's own code on one core, without HTTP: full Lambda batches
//! (1,000 records, function log lines included) through `Parser::parse_batch`, every record
//! through `Lifecycle::on_record`, every resulting marker rendered with `Marker::to_line` —
//! what the listener's handler does for each batch, minus the write to stdout.
//!
//! `cargo bench -p coldmark-bench --bench telemetry [-- BATCHES]`

use std::time::{Duration, Instant};

use chrono::Utc;
use coldmark::config::InvokeMarkers;
use coldmark::lifecycle::{Identity, Invoke, Lifecycle, Settings};
use coldmark::telemetry::record::Parser;
use coldmark_bench::records::{request_id, EnvFacts};
use coldmark_bench::scenarios::full_batch;

/// Invocations per batch: 200 × (start, two function lines, runtimeDone, report) = 1,000.
const PER_BATCH: u64 = 200;

struct Outcome {
    records: u64,
    bytes: u64,
    markers: u64,
    busy: Duration,
}

fn run(batches: u64, invoke_markers: InvokeMarkers) -> Outcome {
    let facts = EnvFacts::new("bench-instance");
    let mut lifecycle = Lifecycle::new(
        Settings {
            invoke_markers,
            proactive_threshold_ms: 10_000,
            namespace: "coldmark".to_string(),
        },
        Identity {
            function_name: facts.function_name.clone(),
            function_version: facts.function_version.clone(),
            memory_size: Some(128),
            config_fingerprint: "bench".to_string(),
            env_id: "generated".to_string(),
            init_type: Some("on-demand".to_string()),
            max_concurrency: None,
            started_at: Utc::now(),
        },
    );
    lifecycle.telemetry_subscribed();
    lifecycle.ready(Utc::now(), 3.0);
    let mut parser = Parser::default();
    let started = Utc::now();
    let mut init = vec![facts.init_start(started)];
    init.extend(facts.init_done("coldmark", started, 12.0));
    for record in parser
        .parse_batch(&serde_json::to_vec(&init).expect("init records"))
        .records
    {
        lifecycle.on_record(record);
    }
    // Bodies are built before timing; each batch has fresh request ids.
    let bodies: Vec<Vec<u8>> = (0..batches)
        .map(|b| {
            serde_json::to_vec(&full_batch(&facts, 1, b * PER_BATCH + 1, PER_BATCH)).expect("batch")
        })
        .collect();
    let mut outcome = Outcome {
        records: 0,
        bytes: 0,
        markers: 0,
        busy: Duration::ZERO,
    };
    let mut sink = 0usize;
    for (b, body) in bodies.iter().enumerate() {
        // The INVOKEs of the batch's requests arrive first, as on Lambda (not timed: they are
        // the per-invocation path, measured by `coldmark-bench invoke`).
        for seq in 0..PER_BATCH {
            let id = request_id(1, b as u64 * PER_BATCH + seq + 1);
            for marker in lifecycle.on_invoke(Invoke {
                request_id: id,
                at: Utc::now(),
                xray_trace_id: None,
            }) {
                sink += marker.to_line().len();
            }
        }
        let started = Instant::now();
        let parsed = parser.parse_batch(body);
        let records = parsed.records.len() as u64;
        for record in parsed.records {
            for marker in lifecycle.on_record(record) {
                sink += marker.to_line().len();
                outcome.markers += 1;
            }
        }
        outcome.busy += started.elapsed();
        outcome.records += records;
        outcome.bytes += body.len() as u64;
    }
    std::hint::black_box(sink);
    outcome
}

fn main() {
    // `cargo bench` passes `--bench`; the first numeric argument, if any, is the batch count.
    let batches = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300u64);
    println!("| COLDMARK_INVOKE_MARKERS | batches × records | MB parsed | markers | records/s on one core | MB/s |");
    println!("|---|---|---|---|---|---|");
    for (label, markers) in [
        ("first (default)", InvokeMarkers::First),
        ("all", InvokeMarkers::All),
    ] {
        // One warm-up pass so page faults of the first allocation do not count.
        run(10, markers);
        let o = run(batches, markers);
        let secs = o.busy.as_secs_f64();
        println!(
            "| {label} | {batches} × 1,000 | {:.1} | {} | {:.0} | {:.1} |",
            o.bytes as f64 / 1e6,
            o.markers,
            o.records as f64 / secs,
            o.bytes as f64 / 1e6 / secs,
        );
    }
}
