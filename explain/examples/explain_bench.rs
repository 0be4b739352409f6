//! Benchmark of `coldmark-explain` on a synthetic day of a busy fleet: markers/s per core
//! and peak RSS of the real binary, measured from outside (the child's own CPU time and
//! `ru_maxrss`). Results and the command are in BENCHMARKS.md.
//!
//! The input is what the extension writes with default settings — per environment one init
//! marker (with its EMF block and extension list, as in docs/markers.md), one invoke marker and
//! one shutdown marker — for 20 functions, a new environment every `--every-ms`, each living 10
//! minutes, a configuration change per function every hour and one environment in 500 ending
//! with `failure`. Lines are in the order the extension writes them (init markers after their
//! init), so the run includes the reordering.
//!
//! `--file`: written to a temporary file first, then read from it (the "from a file" figure).
//! `--table`: the default output, the table, instead of `--json` (both to `/dev/null`).
//! Otherwise: generated on the fly into the binary's stdin (no disk needed for 10 million).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Args {
    binary: String,
    markers: u64,
    file: bool,
    every_ms: i64,
    /// Only write the input to this path (for profiling or other tools).
    write_only: Option<String>,
    /// The default output (the table) instead of `--json`.
    table: bool,
}

fn args() -> Args {
    let mut a = Args {
        binary: "target/explain/coldmark-explain".into(),
        markers: 1_000_000,
        file: false,
        every_ms: 25,
        write_only: None,
        table: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--binary" => a.binary = it.next().expect("--binary PATH"),
            "--markers" => a.markers = it.next().and_then(|v| v.parse().ok()).expect("--markers N"),
            "--every-ms" => {
                a.every_ms = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--every-ms N")
            }
            "--file" => a.file = true,
            "--table" => a.table = true,
            "--write-only" => a.write_only = Some(it.next().expect("--write-only PATH")),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// "2026-11-25T19:10:18.123Z" without a date library in the hot loop.
fn rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Writes `n` markers in write order.
fn generate(out: &mut impl Write, n: u64, every_ms: i64) -> std::io::Result<()> {
    const T0: i64 = 1_795_600_800_000;
    const LIFE_MS: i64 = 600_000;
    let mut pending: BinaryHeap<Reverse<(i64, u64, String)>> = BinaryHeap::new();
    let mut written = 0u64;
    let mut seq = 0u64;
    let mut env = 0u64;
    while written < n {
        let t = T0 + env as i64 * every_ms;
        let f = env % 20;
        let generation = (t - T0) / 3_600_000;
        let fp = format!(
            "{:012x}",
            (f * 7919 + generation as u64 * 104_729) & 0xffff_ffff_ffff
        );
        let id = format!("{env:016x}{:016x}", env.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let ts = rfc3339(t);
        let d = 150.0 + (env % 97) as f64 * 3.5;
        let init = format!(
            r#"{{"coldmark":"init","schema":1,"timestamp":"{ts}","function_name":"function-{f:02}","function_version":"$LATEST","env_id":"{id}","init_type":"on-demand","init_phase":"init","init_duration_ms":{d:.1},"proactive":false,"config_fingerprint":"{fp}","function_memory_size":1024,"runtime_version":"provided:al2023.v100","source":"telemetry","runtime_init_ms":{r:.1},"extensions_init_ms":9.0,"coldmark_init_ms":5.439,"extensions":[{{"name":"coldmark","state":"Ready","events":["INVOKE","SHUTDOWN"]}}],"_aws":{{"Timestamp":{t},"CloudWatchMetrics":[{{"Namespace":"coldmark","Dimensions":[["function_name"]],"Metrics":[{{"Name":"ColdStart","Unit":"Count"}},{{"Name":"InitDuration","Unit":"Milliseconds"}},{{"Name":"RuntimeInitDuration","Unit":"Milliseconds"}},{{"Name":"ExtensionsInitDuration","Unit":"Milliseconds"}}]}}]}},"ColdStart":1,"InitDuration":{d:.1},"RuntimeInitDuration":{r:.1},"ExtensionsInitDuration":9.0}}"#,
            r = d - 9.0
        );
        let first = t + d as i64 + 1;
        let invoke = format!(
            r#"{{"coldmark":"invoke","schema":1,"timestamp":"{}","function_name":"function-{f:02}","function_version":"$LATEST","env_id":"{id}","function_request_id":"8476a536-e9f4-4a8b-a6b6-{env:012x}","cold_start":true,"seq":1,"since_init_ms":2.257,"duration_ms":3.25,"billed_duration_ms":4,"max_memory_used_mb":19,"init_duration_ms":{d:.1}}}"#,
            rfc3339(first)
        );
        let end = t + LIFE_MS;
        let reason = if env % 500 == 499 {
            "failure"
        } else {
            "spindown"
        };
        let shutdown = format!(
            r#"{{"coldmark":"shutdown","schema":1,"timestamp":"{}","function_name":"function-{f:02}","function_version":"$LATEST","env_id":"{id}","reason":"{reason}","invocations":120,"lifetime_ms":{LIFE_MS}.0,"dropped":0}}"#,
            rfc3339(end)
        );
        for (at, line) in [(first, init), (first + 1, invoke), (end, shutdown)] {
            seq += 1;
            pending.push(Reverse((at, seq, line)));
        }
        env += 1;
        while let Some(Reverse((at, _, _))) = pending.peek() {
            if *at > t || written >= n {
                break;
            }
            let Some(Reverse((_, _, line))) = pending.pop() else {
                break;
            };
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            written += 1;
        }
    }
    out.flush()
}

fn main() {
    let a = args();
    if let Some(path) = &a.write_only {
        let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
        generate(&mut f, a.markers, a.every_ms).unwrap();
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("markers.ndjson");
    if a.file {
        let started = Instant::now();
        let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(&input).unwrap());
        generate(&mut f, a.markers, a.every_ms).unwrap();
        drop(f);
        let size = std::fs::metadata(&input).unwrap().len();
        eprintln!(
            "input: {} markers, {:.0} MB, written in {:.1} s",
            a.markers,
            size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    let mut cmd = Command::new(&a.binary);
    cmd.args(if a.table {
        &["--quiet"][..]
    } else {
        &["--json", "--quiet"]
    })
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    if a.file {
        cmd.arg(&input).stdin(Stdio::null());
    } else {
        cmd.stdin(Stdio::piped());
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .expect("run coldmark-explain (build it with `--profile explain` first, or pass --binary)");
    if !a.file {
        let stdin = child.stdin.take().unwrap();
        let mut w = BufWriter::with_capacity(1 << 20, stdin);
        generate(&mut w, a.markers, a.every_ms).unwrap();
    }
    let status = child.wait().unwrap();
    let wall = started.elapsed().as_secs_f64();
    // The child's own CPU time and peak RSS.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let cpu = usage.ru_utime.tv_sec as f64
        + usage.ru_utime.tv_usec as f64 / 1e6
        + usage.ru_stime.tv_sec as f64
        + usage.ru_stime.tv_usec as f64 / 1e6;
    let rss_mb = usage.ru_maxrss as f64 / 1024.0;
    println!(
        "{} markers ({}, {}): exit {}, wall {:.2} s, CPU {:.2} s → {:.0} markers/s per CPU-second ({:.0}/s wall); peak RSS {:.1} MiB",
        a.markers,
        if a.file { "from a file" } else { "generated into stdin" },
        if a.table { "the table" } else { "--json" },
        status.code().unwrap_or(-1),
        wall,
        cpu,
        a.markers as f64 / cpu,
        a.markers as f64 / wall,
        rss_mb
    );
}
