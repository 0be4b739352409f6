//! `coldmark-bench`: measures what coldmark costs a function and prints BENCHMARKS.md tables.
//!
//! `cargo run --profile layer -p coldmark-bench -- all` (add `--quick` for a few-minute run):
//! the layer's profile, so that the binaries it measures (and builds when missing) are built as
//! the layer ships them.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};
use coldmark_bench::scenarios::{self, Subject};
use coldmark_bench::tables::{self, Goals, Plan, Subjects};
use coldmark_testkit::http_collector::{Act, Collector};

#[derive(Parser)]
#[command(version, about = "Benchmarks for the coldmark Lambda extension")]
struct Cli {
    #[command(subcommand)]
    measurement: Measurement,
    /// Fewer runs and invocations: minutes instead of tens of minutes.
    #[arg(long, global = true)]
    quick: bool,
    /// The coldmark binary to measure (default: the workspace's, built if missing).
    #[arg(long, global = true)]
    coldmark: Option<PathBuf>,
    /// Spawns per subject for the init measurement.
    #[arg(long, global = true)]
    runs: Option<usize>,
    /// Measured invocations per subject for the per-invocation measurement.
    #[arg(long, global = true)]
    invocations: Option<u64>,
    /// Invocations for the memory measurement.
    #[arg(long, global = true)]
    memory_invocations: Option<u64>,
    /// Full 1,000-record batches for the telemetry throughput measurement.
    #[arg(long, global = true)]
    batches: Option<u64>,
    /// Lambda Managed Instances: invocations in flight at once, one row each (e.g. 8,64).
    #[arg(long, global = true, value_delimiter = ',')]
    in_flight: Vec<u64>,
    /// Lambda Managed Instances: invocations per environment.
    #[arg(long, global = true)]
    managed_invocations: Option<u64>,
    /// Answer every Telemetry API subscription like AWS RIE (202 Telemetry.NotSupported).
    #[arg(long, global = true)]
    no_telemetry: bool,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Measurement {
    /// Everything below, in order.
    All,
    /// 1. Init: spawn → first /event/next, and coldmark_init_ms beside it.
    Init,
    /// 2. Per invocation: INVOKE written → next /event/next.
    Invoke,
    /// 3. Peak and sampled RSS over a long run with telemetry.
    Memory,
    /// 4. Telemetry records per second through the real listener, and a 1 MB batch.
    Throughput,
    /// 5. Binary and layer zip sizes, glibc floor.
    Size,
    /// 6. Lambda Managed Instances: invoke markers/s with N in flight at once, none lost.
    Managed,
    /// Not a measurement: one coldmark environment with 3 invocations, its markers printed
    /// (to see what the harness feeds and what coldmark makes of it).
    Markers,
}

fn plan(cli: &Cli) -> Plan {
    let (runs, invocations, memory_invocations, batches) = if cli.quick {
        (40, 10_000, 100_000, 50)
    } else {
        (200, 20_000, 200_000, 300)
    };
    Plan {
        runs: cli.runs.unwrap_or(runs),
        invocations: cli.invocations.unwrap_or(invocations),
        paced_invocations: cli.invocations.unwrap_or(invocations).min(if cli.quick {
            2_000
        } else {
            10_000
        }),
        memory_invocations: cli.memory_invocations.unwrap_or(memory_invocations),
        batches: cli.batches.unwrap_or(batches),
        in_flight: if cli.in_flight.is_empty() {
            vec![8, 64]
        } else {
            cli.in_flight.clone()
        },
        managed_invocations: cli.managed_invocations.unwrap_or(if cli.quick {
            10_000
        } else {
            50_000
        }),
        managed_runs: if cli.quick { 3 } else { 7 },
        quick: cli.quick,
        no_telemetry: cli.no_telemetry,
    }
}

// One thread for the whole harness (server, driver, telemetry feed): the extension under test
// gets the machine's other core to itself, and the harness's own timings do not depend on how
// a work-stealing scheduler happened to place a task.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .init();
    let cli = Cli::parse();
    let plan = plan(&cli);
    let profile = scenarios::own_profile()?;
    if profile != scenarios::LAYER_PROFILE {
        eprintln!(
            "warning: the bench runs from the `{profile}` profile, so it measures binaries of that \
             profile, not the layer's; measure with `cargo run --profile layer -p coldmark-bench`"
        );
    }
    let null = scenarios::workspace_binary("null_extension", "coldmark-bench")?;
    let example = scenarios::workspace_binary("lambda_extension_example", "coldmark-bench")?;
    let coldmark = match &cli.coldmark {
        Some(path) => path.clone(),
        None => scenarios::workspace_binary("coldmark", "coldmark-extension")?,
    };
    // Answers every request 200 at once: the sink's cost is measured, not a slow receiver's.
    let collector = Collector::start(vec![Act::ok()]).await;
    let http_sink = lambda_emulator::artifacts::workspace_root()
        .is_some_and(|root| root.join("extension/src/sink/http.rs").is_file());

    let mut subjects = Subjects::new(&null, &example, &coldmark, &collector.url());
    if cli.no_telemetry {
        subjects.without_telemetry();
    }
    tables::print_header(&plan, &coldmark);
    if cli.measurement == Measurement::Markers {
        return show_markers(&subjects, cli.invocations.unwrap_or(3)).await;
    }
    let all = cli.measurement == Measurement::All;
    let mut goals = Goals::default();
    if all || cli.measurement == Measurement::Init {
        measure_init(&subjects, &plan, &coldmark, &mut goals).await?;
    }
    if all || cli.measurement == Measurement::Invoke {
        measure_invoke(&subjects, &plan, &collector, http_sink, &mut goals).await?;
    }
    if all || cli.measurement == Measurement::Memory {
        measure_memory(&subjects, &plan, &mut goals).await?;
    }
    if all || cli.measurement == Measurement::Throughput {
        measure_throughput(&subjects, &plan, &mut goals).await?;
    }
    if all || cli.measurement == Measurement::Size {
        tables::print_sizes(&coldmark, &null, &example)?;
    }
    if all || cli.measurement == Measurement::Managed {
        measure_managed(&coldmark, &plan, &mut goals).await?;
    }
    if all {
        goals.print();
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "Load average at the end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

/// 1. Init of each subject, then the whole sandbox environment with and without the layer.
async fn measure_init(
    subjects: &Subjects,
    plan: &Plan,
    coldmark: &Path,
    goals: &mut Goals,
) -> Result<()> {
    let init_subjects = [
        Subject::in_process(),
        subjects.null.clone(),
        subjects.example.clone(),
        subjects.coldmark.clone(),
        subjects.coldmark_no_telemetry.clone(),
    ];
    let results = scenarios::init(&init_subjects, plan.runs).await?;
    tables::print_init(&results);
    let coldmark_row = results.iter().find(|r| r.label == subjects.coldmark.label);
    goals.init_ms = coldmark_row.map(|r| r.first_next_ms.median);
    goals.self_minus_outside_ms =
        coldmark_row.and_then(|r| r.self_minus_outside_ms.map(|d| d.median));
    let bootstrap = scenarios::workspace_binary("bootstrap", "coldmark-clock")?;
    match coldmark_bench::sandbox_init::environment_init(&bootstrap, coldmark, plan.runs / 4).await
    {
        Ok(results) => {
            tables::print_environment_init(&results);
            if let [alone, with] = results.as_slice() {
                goals.sandbox_added_ms =
                    Some(with.init_report_ms.median - alone.init_report_ms.median);
            }
        }
        Err(err) => println!("Sandbox environment init not measured: {err:#}\n"),
    }
    Ok(())
}

/// 2. Per-invocation latency: a tight loop, then paced one invocation per millisecond.
async fn measure_invoke(
    subjects: &Subjects,
    plan: &Plan,
    collector: &Collector,
    http_sink: bool,
    goals: &mut Goals,
) -> Result<()> {
    let mut loop_subjects = vec![
        Subject::in_process(),
        subjects.null.clone(),
        subjects.example.clone(),
        subjects.coldmark.clone(),
        subjects.coldmark_all.clone(),
        subjects.coldmark_all_null.clone(),
    ];
    if http_sink {
        loop_subjects.push(subjects.coldmark_http.clone());
    }
    let mut results = Vec::new();
    for subject in &loop_subjects {
        results.push(scenarios::invoke_loop(subject, 500, plan.invocations, 0).await?);
    }
    tables::print_invoke(&results, collector, http_sink);

    let mut paced = Vec::new();
    for subject in loop_subjects
        .iter()
        .filter(|s| !matches!(s.kind, scenarios::Kind::InProcess))
    {
        paced.push(
            scenarios::invoke_loop_paced(
                subject,
                100,
                plan.paced_invocations,
                0,
                scenarios::Pace::Every(std::time::Duration::from_millis(1)),
            )
            .await?,
        );
    }
    tables::print_paced(&paced);
    goals.classic_markers_per_s = results
        .iter()
        .find(|r| r.label == subjects.coldmark_all.label)
        .map(|r| r.invocations as f64 / r.elapsed.as_secs_f64());
    for (rows, how) in [(&results, "tight loop"), (&paced, "paced 1 ms")] {
        for r in rows {
            if r.label.starts_with("coldmark") && !r.label.contains("/dev/null") {
                goals.invoke.push((
                    format!("{} — {how}", r.label),
                    r.latency_us.median,
                    r.latency_us.p99,
                ));
            }
        }
    }
    Ok(())
}

/// 3. Peak and sampled RSS over a long run with telemetry.
async fn measure_memory(subjects: &Subjects, plan: &Plan, goals: &mut Goals) -> Result<()> {
    let mut results = Vec::new();
    for subject in [
        &subjects.null,
        &subjects.example,
        &subjects.coldmark,
        &subjects.coldmark_all,
    ] {
        results.push(scenarios::invoke_loop(subject, 0, plan.memory_invocations, 10_000).await?);
    }
    tables::print_memory(&results);
    for r in results.iter().filter(|r| r.label.starts_with("coldmark")) {
        let peak = r.memory.unwrap_or_default().peak_kib;
        goals.peak_kib = Some(goals.peak_kib.unwrap_or(0).max(peak));
        let growth = match (r.rss_samples.get(1), r.rss_samples.last()) {
            (Some((_, first)), Some((_, last))) => last.saturating_sub(*first),
            _ => 0,
        };
        goals.growth_kib = Some(goals.growth_kib.unwrap_or(0).max(growth));
    }
    Ok(())
}

/// 4. Telemetry records per second through the real listener, and one 1 MB batch.
async fn measure_throughput(subjects: &Subjects, plan: &Plan, goals: &mut Goals) -> Result<()> {
    let mut results = Vec::new();
    for subject in [&subjects.coldmark, &subjects.example] {
        let r = scenarios::throughput(subject, plan.batches).await?;
        if subject.label == subjects.coldmark.label {
            goals.records_per_s = Some(r.records_per_wall_second());
            goals.big_batch_spike_kib = Some(
                r.big_batch
                    .after
                    .peak_kib
                    .saturating_sub(r.big_batch.before.rss_kib),
            );
        }
        results.push((subject.label.clone(), r));
    }
    tables::print_throughput(&results);
    Ok(())
}

/// 6. Lambda Managed Instances: invoke markers per second with N in flight, none lost.
async fn measure_managed(coldmark: &Path, plan: &Plan, goals: &mut Goals) -> Result<()> {
    let mut results = Vec::new();
    for &in_flight in &plan.in_flight {
        let r = coldmark_bench::managed::managed(
            coldmark,
            in_flight,
            plan.managed_invocations,
            plan.managed_runs,
        )
        .await?;
        goals.managed.push((
            in_flight,
            r.markers_per_second().median,
            r.runs_complete(),
            r.runs.len(),
        ));
        results.push(r);
    }
    tables::print_managed(&results, goals.classic_markers_per_s);
    Ok(())
}

/// Not a measurement: one coldmark environment with a few invocations, its markers printed.
async fn show_markers(subjects: &Subjects, invocations: u64) -> Result<()> {
    let mut session = subjects.coldmark.start().await?;
    if std::env::var_os("BENCH_FLUSH_INIT").is_some() {
        session.flush().await;
    }
    for _ in 0..invocations {
        session.invoke().await?;
    }
    session.flush().await;
    let finished = session.shutdown().await?;
    for marker in &finished.output.markers {
        println!("{marker}");
    }
    for line in &finished.output.other {
        println!("(other) {line}");
    }
    Ok(())
}
