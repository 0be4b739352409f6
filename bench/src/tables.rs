//! What `coldmark-bench` prints: the run's header, one table per measurement, the goals table,
//! and the configurations ("subjects") it measures. Kept apart from `main` so that the driver
//! reads as the order of measurements and each table's layout is in one place.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::process::{SpawnOptions, StdoutMode};
use crate::report::{mib, ms, ratio, verdict, Table};
use crate::scenarios::{self, InitResult, InvokeResult, Subject, ThroughputResult};
use crate::server::TelemetryMode;
use coldmark_testkit::http_collector::Collector;

/// How much the run measures.
pub struct Plan {
    pub runs: usize,
    pub invocations: u64,
    pub paced_invocations: u64,
    pub memory_invocations: u64,
    pub batches: u64,
    /// Lambda Managed Instances: invocations in flight at once, one row each.
    pub in_flight: Vec<u64>,
    /// Lambda Managed Instances: invocations per environment, and environments per row.
    pub managed_invocations: u64,
    pub managed_runs: usize,
    /// `--quick`: for the header.
    pub quick: bool,
    /// `--no-telemetry`: for the header.
    pub no_telemetry: bool,
}

/// The performance goals against this run's figures.
#[derive(Default)]
pub struct Goals {
    pub init_ms: Option<f64>,
    pub self_minus_outside_ms: Option<f64>,
    pub sandbox_added_ms: Option<f64>,
    /// (label, median µs, p99 µs)
    pub invoke: Vec<(String, f64, f64)>,
    pub peak_kib: Option<u64>,
    pub growth_kib: Option<u64>,
    pub records_per_s: Option<f64>,
    pub big_batch_spike_kib: Option<u64>,
    /// Invoke markers per second of the tight loop with `markers=all` (one invocation at a
    /// time): what Managed Instances' figures are held against.
    pub classic_markers_per_s: Option<f64>,
    /// Lambda Managed Instances: (in flight, median markers/s, runs with nothing lost, runs).
    pub managed: Vec<(u64, f64, usize, usize)>,
}

impl Goals {
    pub fn print(&self) {
        let mut table = Table::new(
            "Performance goals against this run",
            &["goal", "measured", "verdict"],
        );
        if let Some(v) = self.init_ms {
            table.row(vec![
                "init added < 5 ms (median): coldmark's spawn → first /event/next".into(),
                format!("{} ms", ms(v)),
                verdict(v < 5.0).into(),
            ]);
        }
        if let Some(v) = self.sandbox_added_ms {
            table.row(vec![
                "init added < 5 ms (median): whole sandbox environment, with − without layer"
                    .into(),
                format!("{} ms", ms(v)),
                verdict(v < 5.0).into(),
            ]);
        }
        if let Some(v) = self.self_minus_outside_ms {
            table.row(vec![
                "coldmark_init_ms agrees with the outside clock (self-measurement contract, within 2 ms)".into(),
                format!("median difference {} ms", ms(v)),
                verdict(v.abs() <= 2.0).into(),
            ]);
        }
        for (label, median, p99) in &self.invoke {
            table.row(vec![
                format!("per invocation < 0.2 ms median, < 1 ms p99: {label}"),
                format!("{median:.1} µs / {p99:.1} µs"),
                verdict(*median < 200.0 && *p99 < 1_000.0).into(),
            ]);
        }
        if let (Some(peak), Some(growth)) = (self.peak_kib, self.growth_kib) {
            table.row(vec![
                "peak RSS < 10 MB and flat (all coldmark rows)".into(),
                format!(
                    "peak {} MiB, growth after the first 10,000 invocations {} MiB",
                    mib(peak),
                    mib(growth)
                ),
                verdict(peak < 10 * 1024 && growth < 512).into(),
            ]);
        }
        if let Some(v) = self.records_per_s {
            table.row(vec![
                "≥ 200,000 telemetry records/s".into(),
                format!("{v:.0} records/s (wall, through HTTP)"),
                verdict(v >= 200_000.0).into(),
            ]);
        }
        for &(in_flight, per_s, complete, runs) in &self.managed {
            let (goal, met) = match self.classic_markers_per_s {
                Some(classic) => (
                    format!(" ≥ the tight loop's {classic:.0}/s one at a time (markers=all)"),
                    per_s >= classic,
                ),
                None => (
                    " (no goal without the tight loop of this run)".to_string(),
                    true,
                ),
            };
            table.row(vec![
                format!("Managed Instances, {in_flight} in flight: invoke markers/s{goal}"),
                format!("{per_s:.0} markers/s (median of {runs} runs)"),
                verdict(met).into(),
            ]);
            table.row(vec![
                format!("Managed Instances, {in_flight} in flight: no invoke marker lost (markers = invocations sent, all complete; shutdown's invocations, peak_concurrency = {in_flight}, dropped 0)"),
                format!("{complete}/{runs} runs"),
                verdict(complete == runs).into(),
            ]);
        }
        if let Some(v) = self.big_batch_spike_kib {
            table.row(vec![
                "a 1 MB batch without a memory spike (a few MB at most)".into(),
                format!("peak − RSS before: {} MiB", mib(v)),
                verdict(v < 4 * 1024).into(),
            ]);
        }
        table.print();
    }
}

/// Every configuration measured.
pub struct Subjects {
    pub null: Subject,
    pub example: Subject,
    pub coldmark: Subject,
    pub coldmark_all: Subject,
    pub coldmark_all_null: Subject,
    pub coldmark_http: Subject,
    pub coldmark_no_telemetry: Subject,
}

impl Subjects {
    pub fn without_telemetry(&mut self) {
        for subject in [
            &mut self.example,
            &mut self.coldmark,
            &mut self.coldmark_all,
            &mut self.coldmark_all_null,
            &mut self.coldmark_http,
        ] {
            if let scenarios::Kind::Process { mode, .. } = &mut subject.kind {
                *mode = TelemetryMode::NotSupported;
            }
            subject.label.push_str(" [no Telemetry API]");
        }
    }

    pub fn new(null: &Path, example: &Path, coldmark: &Path, endpoint: &str) -> Self {
        let all = SpawnOptions::new(coldmark).env("COLDMARK_INVOKE_MARKERS", "all");
        let mut all_null = all.clone();
        all_null.stdout = StdoutMode::Null;
        Self {
            null: Subject::process(
                "null extension (register + next, nothing else)",
                SpawnOptions::new(null),
                TelemetryMode::NotSupported,
            ),
            example: Subject::lambda_extension_example(example),
            coldmark: Subject::process(
                "coldmark (markers=first, default)",
                SpawnOptions::new(coldmark),
                TelemetryMode::Supported,
            ),
            coldmark_all: Subject::process(
                "coldmark (markers=all)",
                all.clone(),
                TelemetryMode::Supported,
            ),
            coldmark_all_null: Subject::process(
                "coldmark (markers=all, stdout → /dev/null)",
                all_null,
                TelemetryMode::Supported,
            ),
            coldmark_http: Subject::process(
                "coldmark (markers=all, sinks stdout + http)",
                all.env("COLDMARK_SINK", "stdout,http")
                    .env("COLDMARK_HTTP_ENDPOINT", endpoint),
                TelemetryMode::Supported,
            ),
            coldmark_no_telemetry: Subject::process(
                "coldmark (Telemetry.NotSupported, like RIE)",
                SpawnOptions::new(coldmark),
                TelemetryMode::NotSupported,
            ),
        }
    }
}

pub fn print_header(plan: &Plan, coldmark: &Path) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "## Run of {}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("- machine: {cpu}, {cores} cores, Linux {}", kernel.trim());
    println!(
        "- load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let shown = lambda_emulator::artifacts::workspace_root()
        .and_then(|root| coldmark.strip_prefix(root).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| coldmark.to_path_buf());
    println!("- coldmark binary: {}", shown.display());
    println!(
        "- plan: {} init runs per subject, {} measured invocations per subject (after 500 warm-up), {} invocations for memory, {} telemetry batches{}",
        plan.runs,
        plan.invocations,
        plan.memory_invocations,
        plan.batches,
        if plan.quick { " (--quick)" } else { "" }
    );
    println!(
        "- Lambda Managed Instances: {} invocations per environment, {} environments per row, in flight at once: {}",
        plan.managed_invocations,
        plan.managed_runs,
        plan.in_flight
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if plan.no_telemetry {
        println!("- --no-telemetry: every subscription is answered 202 Telemetry.NotSupported, like AWS RIE");
    }
    println!("- stdout of every extension goes to a pipe the harness drains (as Lambda's log capture does), unless a row says /dev/null\n");
}

pub fn print_init(results: &[InitResult]) {
    let null = results
        .iter()
        .find(|r| r.label.starts_with("null"))
        .map(|r| r.first_next_ms.median);
    let mut table = Table::new(
        "1. Init: spawn → first /event/next (server clock)",
        &[
            "extension",
            "runs",
            "median ms",
            "p90 ms",
            "p99 ms",
            "register median ms",
            "vs null extension",
            "exited on SHUTDOWN",
        ],
    );
    for r in results {
        table.row(vec![
            r.label.clone(),
            r.runs.to_string(),
            ms(r.first_next_ms.median),
            ms(r.first_next_ms.p90),
            ms(r.first_next_ms.p99),
            ms(r.register_ms.median),
            null.map(|n| ratio(r.first_next_ms.median, n))
                .unwrap_or_default(),
            format!("{}/{}", r.exited_on_shutdown, r.runs),
        ]);
    }
    table.note("Goal: coldmark adds < 5 ms to init at the median. The whole of coldmark's spawn → first /event/next is its share of init (Lambda waits for every extension's first /next).");
    table.print();

    let mut own = Table::new(
        "1b. coldmark_init_ms (coldmark's own clock, from its init marker) beside the server's spawn → first /event/next",
        &["extension", "init markers / runs", "coldmark_init_ms median", "p90", "p99", "outside median", "self − outside, median", "\\|self − outside\\| p90", "\\|self − outside\\| p99", "runs within 2 ms"],
    );
    for r in results {
        match (
            &r.self_reported_ms,
            &r.self_minus_outside_ms,
            r.abs_diffs_ms(),
        ) {
            (Some(s), Some(d), Some(abs)) => own.row(vec![
                r.label.clone(),
                format!("{}/{}", r.init_markers, r.runs),
                ms(s.median),
                ms(s.p90),
                ms(s.p99),
                ms(r.first_next_ms.median),
                ms(d.median),
                ms(abs.p90),
                ms(abs.p99),
                format!("{}/{}", r.within_ms(2.0), d.n),
            ]),
            _ if r.label.starts_with("coldmark") => {
                own.row(vec![
                    r.label.clone(),
                    format!("{}/{}", r.init_markers, r.runs),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    ms(r.first_next_ms.median),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                ]);
                if !r.stderr_sample.is_empty() {
                    own.note(format!(
                        "{} output sample: `{}`",
                        r.label,
                        r.stderr_sample.join(" / ")
                    ));
                }
            }
            _ => {}
        }
    }
    own.note("Self-measurement contract: the two must agree (within 2 ms).");
    own.print();
}

pub fn print_environment_init(results: &[crate::sandbox_init::EnvInit]) {
    let base = results
        .first()
        .map(|r| r.init_report_ms.median)
        .unwrap_or(f64::NAN);
    let base_start = results
        .first()
        .map(|r| r.start_ms.median)
        .unwrap_or(f64::NAN);
    let mut table = Table::new(
        "1c. The whole environment's init in the local sandbox (clock function's bootstrap, with and without the layer)",
        &["environment", "runs", "initStart → initReport median ms", "p90 ms", "added vs alone (median)", "Environment::start median ms", "added (median)", "coldmark spawn → first /next (sandbox's view) median ms"],
    );
    for r in results {
        table.row(vec![
            r.label.clone(),
            r.start_ms.n.to_string(),
            ms(r.init_report_ms.median),
            ms(r.init_report_ms.p90),
            ms(r.init_report_ms.median - base),
            ms(r.start_ms.median),
            ms(r.start_ms.median - base_start),
            r.coldmark_first_next_ms
                .map(|s| ms(s.median))
                .unwrap_or_else(|| "–".into()),
        ]);
    }
    table.note("The runtime and the extensions start in parallel; init ends when the last of them asks for its next event, so the added time is what coldmark costs beyond the function's own init, not coldmark's whole start.");
    table.print();
}

pub fn print_invoke(results: &[InvokeResult], collector: &Collector, http_sink: bool) {
    let mut table = latency_table(
        "2. Per invocation, tight loop: INVOKE handed to the socket → next /event/next arrives (µs)",
        results,
        true,
    );
    table.note("Goal: < 200 µs median, < 1,000 µs p99. Telemetry (start, a function line, runtimeDone, report per invocation) is fed in Lambda-style batches during the loop.");
    if http_sink {
        let (requests, bytes) = collector.received();
        table.note(format!(
            "HTTP collector received {requests} requests, {bytes} bytes."
        ));
    } else {
        table.note(
            "HTTP sink not measured: extension/src/sink/http.rs does not exist in this tree.",
        );
    }
    table.print();
}

pub fn print_paced(results: &[InvokeResult]) {
    let mut table = latency_table(
        "2b. Per invocation, paced: one INVOKE every ≥ 1 ms (a function whose handler takes ~1 ms), µs",
        results,
        false,
    );
    table.note("One environment runs one invocation at a time, so ~1,000 invocations/s is about the most telemetry a real extension gets; the tight loop above feeds it 20–50× that. Between paced INVOKEs every extension sleeps, so each figure here includes waking a process from idle on this VM: compare rows, not absolute values.");
    table.print();
}

/// Tables 2 and 2b, one row per extension: INVOKE → next `/event/next` in µs, against the null
/// extension's median and, with `versus_loop`, against the harness's own loop (the first row).
fn latency_table(title: &str, results: &[InvokeResult], versus_loop: bool) -> Table {
    let floor = results.first().map_or(f64::NAN, |r| r.latency_us.median);
    let null_row = results.iter().find(|r| r.label.starts_with("null"));
    let null = null_row.map_or(f64::NAN, |r| r.latency_us.median);
    let null_cpu = null_row
        .and_then(InvokeResult::cpu_us_per_invocation)
        .unwrap_or(f64::NAN);
    let mut headers = vec![
        "extension",
        "invocations",
        "median µs",
        "p90 µs",
        "p99 µs",
        "max µs",
    ];
    if versus_loop {
        headers.push("median vs harness loop");
    }
    headers.extend([
        "median vs null extension",
        "added vs null (median µs)",
        "invoke markers",
        "telemetry batches",
        "CPU µs per invocation",
        "CPU vs null extension",
    ]);
    let mut table = Table::new(title, &headers);
    for r in results {
        let mut row = vec![
            r.label.clone(),
            r.invocations.to_string(),
            format!("{:.1}", r.latency_us.median),
            format!("{:.1}", r.latency_us.p90),
            format!("{:.1}", r.latency_us.p99),
            format!("{:.0}", r.latency_us.max),
        ];
        if versus_loop {
            row.push(ratio(r.latency_us.median, floor));
        }
        row.extend([
            ratio(r.latency_us.median, null),
            format!("{:+.1}", r.latency_us.median - null),
            r.invoke_markers.to_string(),
            r.feed.batches.to_string(),
        ]);
        match r.cpu_us_per_invocation() {
            Some(cpu) => row.extend([format!("{cpu:.1}"), ratio(cpu, null_cpu)]),
            None => row.extend(["—".to_string(), "—".to_string()]),
        }
        table.row(row);
    }
    table.note("CPU: the extension process's user + system time (procfs) from the first measured INVOKE until it has handled the last telemetry batch, per invocation. It counts the work, not the wait, so it moves less than the latency when the VM's neighbours are busy.");
    table
}

pub fn print_memory(results: &[InvokeResult]) {
    let mut table = Table::new(
        "3. Memory over a long run with telemetry on (KiB→MiB from /proc/PID/status)",
        &[
            "extension",
            "invocations",
            "peak RSS (VmHWM) MiB",
            "RSS after MiB",
            "VmRSS at start and every 10,000 invocations (MiB)",
            "goal < 10 MiB and flat",
        ],
    );
    for r in results {
        let m = r.memory.unwrap_or_default();
        let samples: Vec<String> = r.rss_samples.iter().map(|(_, kib)| mib(*kib)).collect();
        let growth = match (r.rss_samples.get(1), r.rss_samples.last()) {
            (Some((_, first)), Some((_, last))) => last.saturating_sub(*first),
            _ => 0,
        };
        table.row(vec![
            r.label.clone(),
            r.invocations.to_string(),
            mib(m.peak_kib),
            mib(m.rss_kib),
            samples.join(" "),
            verdict(m.peak_kib < 10 * 1024 && growth < 512).to_string(),
        ]);
    }
    table.note("Flat: RSS at the end of the run minus RSS after the first 10,000 invocations, under 0.5 MiB.");
    table.print();
}

/// Each binary is named with its path (`target/layer/coldmark`: the profile it was built with).
pub fn print_sizes(coldmark: &Path, null: &Path, example: &Path) -> Result<()> {
    let root = lambda_emulator::artifacts::workspace_root().unwrap_or_default();
    let zip = root.join("dist/coldmark-layer-x86_64.zip");
    let extracted = extract_from_zip(&zip);
    let result = scenarios::sizes(
        &[
            ("coldmark", coldmark),
            ("null extension", null),
            ("lambda-extension example", example),
        ],
        &zip,
        extracted.as_deref(),
    )?;
    let mut table = Table::new("5. Size", &["artifact", "bytes", "MiB"]);
    let shown = |path: &Path| {
        path.strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let paths = [coldmark, null, example];
    for ((label, bytes), path) in result.binaries.iter().zip(paths) {
        table.row(vec![
            format!("{label} (`{}`)", shown(path)),
            bytes.to_string(),
            format!("{:.2}", *bytes as f64 / 1048576.0),
        ]);
    }
    match &result.layer_zip {
        Some((path, bytes)) => {
            table.row(vec![
                format!("layer zip `{}`", path.strip_prefix(&root).unwrap_or(path).display()),
                bytes.to_string(),
                format!("{:.2}", *bytes as f64 / 1048576.0),
            ]);
            if let Some(inside) = extracted.as_ref().and_then(|p| std::fs::metadata(p).ok()) {
                table.row(vec![
                    "`extensions/coldmark` inside the zip (uncompressed)".to_string(),
                    inside.len().to_string(),
                    format!("{:.2}", inside.len() as f64 / 1048576.0),
                ]);
            }
            let built = |p: &Path| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .map(|t| chrono::DateTime::<chrono::Utc>::from(t).format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default()
            };
            table.note(format!("The zip was built {}, the binary measured here {}.", built(path), built(coldmark)));
        }
        None => table.note("Layer zip not found (dist/coldmark-layer-x86_64.zip): run `bash layer/build.sh` first."),
    }
    for (label, floor) in &result.glibc {
        table.note(format!(
            "glibc floor of {label}: {}",
            floor.as_deref().unwrap_or("none (static)")
        ));
    }
    table.print();
    if let Some(path) = extracted {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// The extension binary from inside the layer zip (`extensions/coldmark`), via `unzip -p`.
fn extract_from_zip(zip: &Path) -> Option<PathBuf> {
    if !zip.is_file() {
        return None;
    }
    let output = std::process::Command::new("unzip")
        .arg("-p")
        .arg(zip)
        .arg("extensions/coldmark")
        .output()
        .ok()?;
    if !output.status.success() || output.stdout.is_empty() {
        return None;
    }
    let path = std::env::temp_dir().join(format!("coldmark-from-zip-{}", std::process::id()));
    std::fs::write(&path, output.stdout).ok()?;
    Some(path)
}

/// Table 4 and 4b: throughput through the real listener and the one ~1 MB batch, per subject.
pub fn print_throughput(results: &[(String, ThroughputResult)]) {
    let mut table = Table::new(
        "4. Telemetry throughput (records POSTed to the real listener, one batch in flight)",
        &[
            "extension",
            "batches × records",
            "batch KiB",
            "records/s (wall)",
            "records/s per CPU-second of the extension",
            "goal ≥ 200,000/s",
        ],
    );
    let mut big = Table::new(
        "4b. One ~1 MB batch (Lambda's largest) to the real listener",
        &[
            "extension",
            "batch",
            "records",
            "accepted",
            "RSS before MiB",
            "RSS after MiB",
            "peak before MiB",
            "peak after MiB",
            "spike MiB",
        ],
    );
    for (label, r) in results {
        table.row(vec![
            label.clone(),
            format!("{} × 1,000", r.batches),
            format!("{:.0}", r.batch_bytes as f64 / 1024.0),
            format!("{:.0}", r.records_per_wall_second()),
            format!("{:.0}", r.records_per_cpu_second()),
            verdict(r.records_per_wall_second() >= 200_000.0).to_string(),
        ]);
        let b = &r.big_batch;
        big.row(vec![
            label.clone(),
            format!("{:.2} MB", b.bytes as f64 / 1e6),
            b.records.to_string(),
            b.accepted.to_string(),
            mib(b.before.rss_kib),
            mib(b.after.rss_kib),
            mib(b.before.peak_kib),
            mib(b.after.peak_kib),
            mib(b.after.peak_kib.saturating_sub(b.before.rss_kib)),
        ]);
    }
    table.note("CPU time from /proc/PID/stat (10 ms ticks). Wall rate includes the harness's HTTP client on the other core.");
    table.print();
    big.print();
}

/// Section 6, Lambda Managed Instances: invoke markers per second with N in flight. `classic`
/// is the tight loop's markers/s with `markers=all` in the same run, when measured.
pub fn print_managed(results: &[crate::managed::ManagedResult], classic: Option<f64>) {
    let mut table = Table::new(
        "6. Lambda Managed Instances: invoke markers out per second, N invocations in flight in one environment (COLDMARK_INVOKE_MARKERS=all)",
        &[
            "in flight (N)",
            "runs × invocations",
            "batches × records",
            "markers/s (wall) median",
            "min–max",
            "vs tight loop one at a time",
            "markers per CPU-second median",
            "markers / sent, all runs",
            "without figures",
            "shutdown: invocations, peak_concurrency, dropped",
            "exited on SHUTDOWN",
            "nothing lost",
        ],
    );
    for r in results {
        let wall = r.markers_per_second();
        let markers: u64 = r.runs.iter().map(|x| x.outcome.invoke_markers).sum();
        let incomplete: u64 = r
            .runs
            .iter()
            .map(|x| x.outcome.incomplete_invoke_markers)
            .sum();
        let mut shutdowns: Vec<String> = r
            .runs
            .iter()
            .map(|x| match x.outcome.shutdown {
                Some(s) => format!(
                    "{}, {}, {}",
                    s.invocations,
                    s.peak_concurrency
                        .map_or("–".to_string(), |p| p.to_string()),
                    s.dropped
                ),
                None => "no marker".to_string(),
            })
            .collect();
        shutdowns.dedup();
        table.row(vec![
            r.concurrency.to_string(),
            format!("{} × {}", r.runs.len(), r.invocations),
            format!("{} × ≤ {}", r.batches, r.records.div_ceil(r.batches.max(1))),
            format!("{:.0}", wall.median),
            format!("{:.0}–{:.0}", wall.min, wall.max),
            classic.map_or("–".to_string(), |c| ratio(wall.median, c)),
            format!("{:.0}", r.markers_per_cpu_second().median),
            format!("{markers}/{}", r.invocations * r.runs.len() as u64),
            incomplete.to_string(),
            shutdowns.join("; "),
            format!(
                "{}/{}",
                r.runs.iter().filter(|x| x.outcome.exited).count(),
                r.runs.len()
            ),
            format!("{}/{}", r.runs_complete(), r.runs.len()),
        ]);
    }
    table.note("The coldmark binary registered for SHUTDOWN only (AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances, AWS_LAMBDA_MAX_CONCURRENCY=N), subscribed with schema 2025-01-29 (the harness refuses INVOKE with 403 and any other schema with 400, as Managed Instances do). Each environment gets its init records, then every invocation's platform.start and platform.report (durationMs only) with N request ids in flight at once, interleaved, in batches at the subscription's limits, POSTed one after the other. Wall: first batch handed to the listener → last invoke marker read from the stdout pipe; markers/s is invoke markers ÷ wall per environment, median over environments.");
    if let Some(c) = classic {
        table.note(format!("Tight loop one at a time: coldmark (markers=all) in section 2, invocations ÷ loop time = {c:.0} markers/s; it is bound by the INVOKE round trip, this by parsing and writing."));
    }
    table.print();
}
