//! The measurements of BENCHMARKS.md. Each returns plain figures; `main` turns them into tables.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use serde_json::Value;

use crate::process::{Memory, SpawnOptions, StdoutMode};
use crate::records::{request_id, EnvFacts, Record};
use crate::server::TelemetryMode;
use crate::session::{ms, Session};
use crate::stats::Summary;
use crate::telemetry_feed::{FeedStats, Poster};

static RUN: AtomicU32 = AtomicU32::new(1);

/// A fresh run number: request ids and instance names never repeat within a bench.
pub fn next_run() -> u32 {
    RUN.fetch_add(1, Ordering::Relaxed)
}

/// How a subject is run.
#[derive(Clone, Debug)]
pub enum Kind {
    /// The null extension on a thread of the harness: the harness's own floor.
    InProcess,
    Process {
        options: SpawnOptions,
        mode: TelemetryMode,
        /// The `lambda-extension` crate listens on a fixed port: hand it a free one per run.
        fixed_telemetry_port: bool,
    },
}

/// One thing measured: an extension binary and its configuration.
#[derive(Clone, Debug)]
pub struct Subject {
    pub label: String,
    pub kind: Kind,
}

impl Subject {
    pub fn in_process() -> Self {
        Self {
            label: "no extension (harness loop, in-process)".to_string(),
            kind: Kind::InProcess,
        }
    }

    pub fn process(label: &str, options: SpawnOptions, mode: TelemetryMode) -> Self {
        Self {
            label: label.to_string(),
            kind: Kind::Process {
                options,
                mode,
                fixed_telemetry_port: false,
            },
        }
    }

    /// The `lambda-extension` telemetry example, with a free telemetry port each run.
    pub fn lambda_extension_example(program: &Path) -> Self {
        Self {
            label: "lambda-extension telemetry example".to_string(),
            kind: Kind::Process {
                options: SpawnOptions::new(program),
                mode: TelemetryMode::Supported,
                fixed_telemetry_port: true,
            },
        }
    }

    pub async fn start(&self) -> Result<Session> {
        let run = next_run();
        match &self.kind {
            Kind::InProcess => Session::start_in_process(run).await,
            Kind::Process {
                options,
                mode,
                fixed_telemetry_port,
            } => {
                let mut options = options.clone();
                if *fixed_telemetry_port {
                    options = options.env("BENCH_TELEMETRY_PORT", &free_port()?.to_string());
                }
                Session::start(&options, *mode, run)
                    .await
                    .with_context(|| format!("starting {}", self.label))
            }
        }
    }
}

/// A port nobody listens on right now (for extensions that cannot bind port 0).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Init: spawn → first `/event/next`, measured by the server.
#[derive(Clone, Debug)]
pub struct InitResult {
    pub label: String,
    pub first_next_ms: Summary,
    pub register_ms: Summary,
    /// `coldmark_init_ms` from the init markers, when the subject writes them.
    pub self_reported_ms: Option<Summary>,
    /// Self-reported − measured from outside, paired per run.
    pub self_minus_outside_ms: Option<Summary>,
    pub diffs_ms: Vec<f64>,
    pub init_markers: usize,
    pub runs: usize,
    pub exited_on_shutdown: usize,
    pub stderr_sample: Vec<String>,
}

impl InitResult {
    /// |self-reported − outside| per run, summarised.
    pub fn abs_diffs_ms(&self) -> Option<Summary> {
        let abs: Vec<f64> = self.diffs_ms.iter().map(|d| d.abs()).collect();
        (!abs.is_empty()).then(|| Summary::of(&abs))
    }

    /// Runs where the two clocks agree within `limit` ms.
    pub fn within_ms(&self, limit: f64) -> usize {
        self.diffs_ms.iter().filter(|d| d.abs() <= limit).count()
    }
}

/// Runs every subject `runs` times, round-robin (so drift on the machine hits all alike); each
/// run is init, one invocation, shutdown.
pub async fn init(subjects: &[Subject], runs: usize) -> Result<Vec<InitResult>> {
    let mut first_next = vec![Vec::new(); subjects.len()];
    let mut register = vec![Vec::new(); subjects.len()];
    let mut self_reported = vec![Vec::new(); subjects.len()];
    let mut diffs = vec![Vec::new(); subjects.len()];
    let mut markers = vec![0; subjects.len()];
    let mut exited = vec![0; subjects.len()];
    let mut other = vec![Vec::new(); subjects.len()];
    for _ in 0..runs {
        for (i, subject) in subjects.iter().enumerate() {
            let mut session = subject.start().await?;
            let times = session.init;
            session.invoke().await?;
            session.flush().await;
            let finished = session.shutdown().await?;
            first_next[i].push(times.first_next);
            register[i].push(times.register);
            if finished.exited {
                exited[i] += 1;
            }
            // Counted, not just found: a run with two init markers is a bug worth seeing.
            markers[i] += finished.output.markers_of("init").count();
            if let Some(marker) = finished.output.markers_of("init").next() {
                if let Some(own) = marker.get("coldmark_init_ms").and_then(Value::as_f64) {
                    self_reported[i].push(own);
                    diffs[i].push(own - ms(times.first_next));
                }
            }
            if other[i].is_empty() {
                other[i] = finished.output.other.iter().take(5).cloned().collect();
            }
        }
    }
    Ok(subjects
        .iter()
        .enumerate()
        .map(|(i, subject)| InitResult {
            label: subject.label.clone(),
            first_next_ms: Summary::of_ms(&first_next[i]),
            register_ms: Summary::of_ms(&register[i]),
            self_reported_ms: (!self_reported[i].is_empty())
                .then(|| Summary::of(&self_reported[i])),
            self_minus_outside_ms: (!diffs[i].is_empty()).then(|| Summary::of(&diffs[i])),
            diffs_ms: std::mem::take(&mut diffs[i]),
            init_markers: markers[i],
            runs,
            exited_on_shutdown: exited[i],
            stderr_sample: std::mem::take(&mut other[i]),
        })
        .collect())
}

/// Per-invocation: INVOKE written → next `/event/next` arrived.
#[derive(Clone, Debug)]
pub struct InvokeResult {
    pub label: String,
    /// Microseconds.
    pub latency_us: Summary,
    pub invocations: u64,
    pub elapsed: Duration,
    /// RSS after the loop, and peak (VmHWM) over the process's life.
    pub memory: Option<Memory>,
    /// `(invocations done, VmRSS KiB)`, every `sample_every` invocations.
    pub rss_samples: Vec<(u64, u64)>,
    pub invoke_markers: u64,
    pub stdout_lines: u64,
    pub feed: FeedStats,
    pub exited_on_shutdown: bool,
    /// CPU time (user + system) the extension process used from the first measured INVOKE
    /// until it had handled the last batch: what the invocations cost it, whatever the
    /// latency. Steadier than the latency on a shared VM, where a neighbour's burst moves a
    /// run's median but not the work done. `None` for the in-process floor.
    pub cpu: Option<Duration>,
}

impl InvokeResult {
    /// CPU microseconds per measured invocation, when the extension is a process.
    pub fn cpu_us_per_invocation(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| cpu.as_secs_f64() * 1e6 / self.invocations.max(1) as f64)
    }
}

/// How the loop spaces INVOKEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// The next INVOKE as soon as the extension asks: the most telemetry per second any
    /// extension will ever see, far beyond what one environment can produce.
    Tight,
    /// At least this long between INVOKEs, like a function whose handler takes that long
    /// (tokio's timer rounds up to whole milliseconds).
    Every(Duration),
}

/// One session, `warmup` unmeasured invocations, then `invocations` measured ones; telemetry
/// (start, a function line, runtimeDone, report per invocation) is fed as Lambda batches it.
pub async fn invoke_loop(
    subject: &Subject,
    warmup: u64,
    invocations: u64,
    sample_every: u64,
) -> Result<InvokeResult> {
    invoke_loop_paced(subject, warmup, invocations, sample_every, Pace::Tight).await
}

pub async fn invoke_loop_paced(
    subject: &Subject,
    warmup: u64,
    invocations: u64,
    sample_every: u64,
    pace: Pace,
) -> Result<InvokeResult> {
    let mut session = subject.start().await?;
    for _ in 0..warmup {
        session.invoke().await?;
    }
    let mut latencies = Vec::with_capacity(invocations as usize);
    let mut rss_samples = Vec::new();
    if let Some(m) = session.memory() {
        rss_samples.push((0, m.rss_kib));
    }
    let cpu_before = session.process().and_then(|p| p.cpu_time().ok());
    let started = Instant::now();
    for i in 1..=invocations {
        let sent = tokio::time::Instant::now();
        latencies.push(session.invoke().await?.as_secs_f64() * 1e6);
        if let Pace::Every(gap) = pace {
            tokio::time::sleep_until(sent + gap).await;
        }
        if sample_every > 0 && i % sample_every == 0 {
            if let Some(m) = session.memory() {
                rss_samples.push((i, m.rss_kib));
            }
        }
    }
    let elapsed = started.elapsed();
    session.flush().await;
    // Let the extension finish what the last batch asked of it before reading its memory.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let memory = session.memory();
    let cpu = match (
        cpu_before,
        session.process().and_then(|p| p.cpu_time().ok()),
    ) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let finished = session.shutdown().await?;
    Ok(InvokeResult {
        label: subject.label.clone(),
        latency_us: Summary::of(&latencies),
        invocations,
        elapsed,
        memory,
        rss_samples,
        invoke_markers: finished.output.invoke_markers,
        stdout_lines: finished.output.lines,
        feed: finished.feed,
        exited_on_shutdown: finished.exited,
        cpu,
    })
}

/// Telemetry throughput through the real listener.
#[derive(Clone, Debug)]
pub struct ThroughputResult {
    pub batches: u64,
    pub records: u64,
    pub batch_bytes: usize,
    pub wall: Duration,
    /// CPU time the extension process used while handling the batches.
    pub cpu: Duration,
    pub big_batch: BigBatch,
    pub stdout_lines: u64,
}

#[derive(Clone, Debug)]
pub struct BigBatch {
    pub bytes: usize,
    pub records: usize,
    pub before: Memory,
    pub after: Memory,
    pub accepted: bool,
}

impl ThroughputResult {
    pub fn records_per_wall_second(&self) -> f64 {
        self.records as f64 / self.wall.as_secs_f64()
    }

    pub fn records_per_cpu_second(&self) -> f64 {
        self.records as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

/// A full batch: `invocations` × (start, two function lines, runtimeDone, report).
pub fn full_batch(facts: &EnvFacts, run: u32, first_seq: u64, invocations: u64) -> Vec<Record> {
    let mut records = Vec::with_capacity(invocations as usize * 5);
    for seq in first_seq..first_seq + invocations {
        let id = request_id(run, seq);
        let [start, line, done, report] = facts.invocation(&id, None);
        records.extend([start, line, facts.function_log(&id), done, report]);
    }
    records
}

/// POSTs `batches` full batches of 1,000 records to the subject's telemetry listener, one after
/// the other (Lambda never has two batches in flight to one subscriber), then one ~1 MB batch.
pub async fn throughput(subject: &Subject, batches: u64) -> Result<ThroughputResult> {
    let session = subject.start().await?;
    let subscription = session
        .subscription
        .clone()
        .context("the subject did not subscribe to telemetry")?;
    session.flush().await;
    let process = session.process().context("throughput needs a process")?;
    let facts = EnvFacts::new("throughput-instance");
    let run = next_run();
    // Built before the clock starts: every batch carries fresh request ids.
    let bodies: Vec<Bytes> = (0..batches)
        .map(|b| {
            let records = full_batch(&facts, run, b * 200 + 1, 200);
            Bytes::from(serde_json::to_vec(&records).expect("records serialise"))
        })
        .collect();
    let batch_bytes = bodies.first().map(Bytes::len).unwrap_or(0);
    let mut poster = Poster::new(subscription.destination, subscription.path.clone());
    let cpu_before = process.cpu_time()?;
    let started = Instant::now();
    for body in bodies {
        poster.post_body(body).await?;
    }
    let wall = started.elapsed();
    let cpu = process.cpu_time()?.saturating_sub(cpu_before);

    // A 1 MB batch (Lambda caps a batch at 1 MB): mostly function lines.
    let mut records = Vec::new();
    let mut bytes = 2;
    let mut seq = batches * 200 + 1;
    while bytes < 1_000_000 {
        let record = facts.function_log(&request_id(run, seq));
        bytes += serde_json::to_vec(&record)?.len() + 1;
        records.push(record);
        seq += 1;
    }
    let body = Bytes::from(serde_json::to_vec(&records)?);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = process.memory()?;
    let accepted = poster.post_body(body.clone()).await.is_ok();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = process.memory()?;
    let finished = session.shutdown().await?;
    Ok(ThroughputResult {
        batches,
        records: batches * 1_000,
        batch_bytes,
        wall,
        cpu,
        big_batch: BigBatch {
            bytes: body.len(),
            records: records.len(),
            before,
            after,
            accepted,
        },
        stdout_lines: finished.output.lines,
    })
}

/// Sizes and the glibc floor.
#[derive(Clone, Debug)]
pub struct SizeResult {
    pub binaries: Vec<(String, u64)>,
    pub layer_zip: Option<(PathBuf, u64)>,
    /// Highest `GLIBC_x.y` symbol version the binary needs, per binary checked.
    pub glibc: Vec<(String, Option<String>)>,
}

pub fn sizes(
    binaries: &[(&str, &Path)],
    zip: &Path,
    zipped_binary: Option<&Path>,
) -> Result<SizeResult> {
    let mut sized = Vec::new();
    let mut glibc = Vec::new();
    for (label, path) in binaries {
        let len = std::fs::metadata(path)
            .with_context(|| format!("size of {}", path.display()))?
            .len();
        sized.push((label.to_string(), len));
        glibc.push((label.to_string(), glibc_floor(path)?));
    }
    if let Some(path) = zipped_binary {
        glibc.push((
            "binary inside the layer zip".to_string(),
            glibc_floor(path)?,
        ));
    }
    let layer_zip = std::fs::metadata(zip)
        .ok()
        .map(|m| (zip.to_path_buf(), m.len()));
    Ok(SizeResult {
        binaries: sized,
        layer_zip,
        glibc,
    })
}

/// The highest `GLIBC_x.y` version in `objdump -T` (dynamic symbols): the oldest glibc the
/// binary runs on. `None` for a static binary.
pub fn glibc_floor(path: &Path) -> Result<Option<String>> {
    let output = std::process::Command::new("objdump")
        .arg("-T")
        .arg(path)
        .output()
        .context("running objdump -T (binutils)")?;
    if !output.status.success() {
        // A static binary has no dynamic symbol table.
        return Ok(None);
    }
    Ok(max_glibc(&String::from_utf8_lossy(&output.stdout)))
}

pub fn max_glibc(objdump: &str) -> Option<String> {
    objdump
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
            parts.map(|p| (p, v.to_string()))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| format!("GLIBC_{v}"))
}

/// The profile the layer ships with (`[profile.layer]` in the workspace's Cargo.toml).
pub const LAYER_PROFILE: &str = "layer";

/// The Cargo profile of the running bench, read from the directory it runs from
/// (`target/<profile>/`, whose `debug` is the `dev` profile's).
pub fn own_profile() -> Result<String> {
    let path = crate::process::sibling_binary("coldmark-bench")?;
    Ok(profile_of_dir(
        path.parent().context("the bench's directory")?,
    ))
}

/// `target/<profile>` → the profile's name (`debug` → `dev`).
pub fn profile_of_dir(dir: &Path) -> String {
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(name) => name.to_owned(),
    }
}

/// Finds or builds a workspace binary in the same profile as the running bench, so that
/// `cargo run --profile layer -p coldmark-bench` measures every subject as the layer ships it.
pub fn workspace_binary(name: &str, package: &str) -> Result<PathBuf> {
    let path = crate::process::sibling_binary(name)?;
    if path.is_file() {
        return Ok(path);
    }
    let profile = profile_of_dir(path.parent().context("the bench's directory")?);
    eprintln!("building {name} ({package}, profile {profile}) …");
    let root = lambda_emulator::artifacts::workspace_root().context("no workspace root")?;
    let built = lambda_emulator::artifacts::cargo_build(&root, &profile, &[package])?;
    match built.get(name) {
        Some(built) if built.is_file() => Ok(built.clone()),
        _ => bail!("{} is missing and could not be built", path.display()),
    }
}

/// Which stdout a subject uses, for labels.
pub fn stdout_label(mode: StdoutMode) -> &'static str {
    match mode {
        StdoutMode::Pipe => "stdout → pipe (drained)",
        StdoutMode::Null => "stdout → /dev/null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_named_by_its_directory() {
        assert_eq!(profile_of_dir(Path::new("target/debug")), "dev");
        assert_eq!(profile_of_dir(Path::new("/x/target/layer")), "layer");
        assert_eq!(profile_of_dir(Path::new("target/release")), "release");
    }

    #[test]
    fn the_glibc_floor_is_the_highest_version() {
        let dump =
            "0000 DF *UND* 0000 (GLIBC_2.2.5) write\n0000 DF *UND* 0000 (GLIBC_2.17) clock\n\
                    0000 DF *UND* 0000 (GLIBC_2.3.4) x\n0000 DF *UND* 0000 (GLIBC_PRIVATE) y\n";
        assert_eq!(max_glibc(dump).as_deref(), Some("GLIBC_2.17"));
        assert_eq!(max_glibc("no versions"), None);
    }

    #[test]
    fn a_full_batch_has_a_thousand_records_with_function_lines() {
        let facts = EnvFacts::new("i");
        let records = full_batch(&facts, 1, 1, 200);
        assert_eq!(records.len(), 1_000);
        let json = serde_json::to_value(&records).unwrap();
        let functions = json
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "function")
            .count();
        assert_eq!(functions, 400);
    }
}
