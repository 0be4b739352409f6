//! The cases every source and renderer is checked against: one scripted day of two functions
//! whose every init has a known cause, written in each input form a user has.

#![allow(dead_code)]

pub mod moto;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// 2026-11-25T10:00:00Z
pub const T0: i64 = 1_795_600_800_000;

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One marker and when the extension wrote it (init markers are written after the init).
#[derive(Clone, Debug)]
pub struct Line {
    pub written_ms: i64,
    pub stream: String,
    pub marker: Value,
}

pub struct InitSpec<'a> {
    pub t0: i64,
    pub function: &'a str,
    pub version: &'a str,
    pub env: &'a str,
    pub at_s: f64,
    pub init_type: &'a str,
    pub phase: &'a str,
    pub fingerprint: &'a str,
    pub proactive: bool,
    pub duration_ms: f64,
    pub memory: u64,
}

pub fn init_marker(s: &InitSpec) -> Value {
    let ts = s.t0 + (s.at_s * 1000.0) as i64;
    let mut m = json!({
        "coldmark": "init", "schema": 1, "timestamp": rfc3339(ts),
        "function_name": s.function, "function_version": s.version, "env_id": s.env,
        "init_type": s.init_type, "init_phase": s.phase, "init_duration_ms": s.duration_ms,
        "proactive": s.proactive, "config_fingerprint": s.fingerprint,
        "function_memory_size": s.memory, "runtime_version": null, "source": "telemetry",
        "runtime_init_ms": s.duration_ms - 10.0, "extensions_init_ms": 10.0,
        "coldmark_init_ms": 2.5, "extensions": null,
        "_aws": {"Timestamp": ts, "CloudWatchMetrics": [{"Namespace": "coldmark",
            "Dimensions": [["function_name"]], "Metrics": [{"Name": "ColdStart", "Unit": "Count"}]}]},
        "ColdStart": 1, "InitDuration": s.duration_ms
    });
    if s.phase == "invoke" {
        m["function_request_id"] = json!("req-reinit");
    }
    m
}

pub fn invoke_marker(function: &str, version: &str, env: &str, at_s: f64) -> Value {
    invoke_marker_at(T0, function, version, env, at_s)
}

pub fn invoke_marker_at(t0: i64, function: &str, version: &str, env: &str, at_s: f64) -> Value {
    json!({"coldmark": "invoke", "schema": 1, "timestamp": rfc3339(t0 + (at_s * 1000.0) as i64),
        "function_name": function, "function_version": version, "env_id": env,
        "function_request_id": format!("req-{env}-{at_s}"), "cold_start": true, "seq": 1,
        "since_init_ms": 1.5, "duration_ms": 3.0})
}

pub fn shutdown_marker(function: &str, version: &str, env: &str, at_s: f64, reason: &str) -> Value {
    shutdown_marker_at(T0, function, version, env, at_s, reason)
}

pub fn shutdown_marker_at(
    t0: i64,
    function: &str,
    version: &str,
    env: &str,
    at_s: f64,
    reason: &str,
) -> Value {
    json!({"coldmark": "shutdown", "schema": 1, "timestamp": rfc3339(t0 + (at_s * 1000.0) as i64),
        "function_name": function, "function_version": version, "env_id": env,
        "reason": reason, "invocations": 3, "lifetime_ms": 1000.0, "dropped": 0})
}

/// The scripted day and, per env_id, the causes of its inits in order.
pub struct Scenario {
    pub lines: Vec<Line>,
    pub expected: BTreeMap<String, Vec<&'static str>>,
}

fn stream_of(version: &str, env: &str) -> String {
    format!("2026/11/25/[{version}]{env}")
}

impl Scenario {
    pub fn day() -> Scenario {
        Scenario::day_at(T0)
    }

    /// The same day starting at `t0` (epoch ms): CloudWatch refuses events older than 14 days.
    pub fn day_at(t0: i64) -> Scenario {
        let mut lines = Vec::new();
        let mut expected: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
        let mut init = |s: InitSpec, cause: &'static str, lines: &mut Vec<Line>| {
            let ts = t0 + (s.at_s * 1000.0) as i64;
            // Written at the first invocation, after init: later than its own timestamp.
            let written = ts + s.duration_ms as i64 + 5;
            lines.push(Line {
                written_ms: written,
                stream: stream_of(s.version, s.env),
                marker: init_marker(&s),
            });
            expected.entry(s.env.to_owned()).or_default().push(cause);
        };
        let spec = |env: &'static str, at_s: f64, fp: &'static str| InitSpec {
            t0,
            function: "clock",
            version: "$LATEST",
            env,
            at_s,
            init_type: "on-demand",
            phase: "init",
            fingerprint: fp,
            proactive: false,
            duration_ms: 400.0,
            memory: 1024,
        };
        let a = "1c5492cf7f84";
        let b = "1402bb942569";
        let c = "77aa00bb11cc";
        init(spec("env-first-01", 0.0, a), "first-seen", &mut lines);
        init(spec("env-scale-02", 0.2, a), "scale-out", &mut lines);
        init(spec("env-scale-03", 0.3, a), "scale-out", &mut lines);
        for (env, at) in [
            ("env-scale-02", 60.0),
            ("env-scale-03", 61.0),
            ("env-first-01", 62.0),
        ] {
            lines.push(Line {
                written_ms: t0 + (at * 1000.0) as i64,
                stream: stream_of("$LATEST", env),
                marker: shutdown_marker_at(t0, "clock", "$LATEST", env, at, "spindown"),
            });
        }
        init(spec("env-replace-04", 120.0, a), "replacement", &mut lines);
        lines.push(Line {
            written_ms: t0 + 130_000,
            stream: stream_of("$LATEST", "env-replace-04"),
            marker: shutdown_marker_at(t0, "clock", "$LATEST", "env-replace-04", 130.0, "failure"),
        });
        init(spec("env-failed-05", 131.0, a), "after-failure", &mut lines);
        init(
            InitSpec {
                phase: "invoke",
                ..spec("env-failed-05", 140.0, a)
            },
            "after-failure",
            &mut lines,
        );
        init(
            spec("env-config-06", 200.0, b),
            "configuration-change",
            &mut lines,
        );
        init(
            InitSpec {
                proactive: true,
                ..spec("env-proact-07", 201.0, b)
            },
            "proactive",
            &mut lines,
        );
        let v1 = |env: &'static str, at_s: f64, init_type: &'static str| InitSpec {
            version: "1",
            init_type,
            ..spec(env, at_s, c)
        };
        init(
            v1("env-version-08", 300.0, "on-demand"),
            "new-version",
            &mut lines,
        );
        init(
            v1("env-provis-09", 301.0, "provisioned-concurrency"),
            "provisioned",
            &mut lines,
        );
        init(
            v1("env-snap-10", 302.0, "snap-start"),
            "snap-start",
            &mut lines,
        );
        // A second function, with a smaller memory size.
        init(
            InitSpec {
                function: "api",
                memory: 128,
                duration_ms: 250.0,
                ..spec("env-api-11", 5.0, "aaaaaaaaaaaa")
            },
            "first-seen",
            &mut lines,
        );
        // Invoke markers (first invocation of some environments).
        for (env, at) in [
            ("env-first-01", 0.45),
            ("env-scale-02", 0.65),
            ("env-config-06", 200.5),
        ] {
            lines.push(Line {
                written_ms: t0 + (at * 1000.0) as i64 + 3,
                stream: stream_of("$LATEST", env),
                marker: invoke_marker_at(t0, "clock", "$LATEST", env, at),
            });
        }
        lines.sort_by_key(|l| l.written_ms);
        Scenario { lines, expected }
    }

    /// The extension's own output: one marker per line, in the order written.
    pub fn ndjson(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("{}\n", l.marker))
            .collect()
    }

    /// Lines with a Lambda log prefix (Node.js and Python text formats alternating), plus
    /// the platform's own lines and coldmark's stderr.
    pub fn prefixed(&self) -> String {
        let mut out = String::from("START RequestId: 8476a536 Version: $LATEST\n");
        for (i, l) in self.lines.iter().enumerate() {
            let t = rfc3339(l.written_ms);
            if i % 2 == 0 {
                out.push_str(&format!("{t}\t8476a536-e9f4-4a8b\tINFO\t{}\n", l.marker));
            } else {
                out.push_str(&format!("[INFO]\t{t}\t8476a536-e9f4-4a8b\t{}\n", l.marker));
            }
            out.push_str("REPORT RequestId: 8476a536 Duration: 3.25 ms\tBilled Duration: 4 ms\n");
        }
        out.push_str("coldmark warn: something the extension said on stderr\n");
        out
    }

    /// What `aws logs filter-log-events --output json` prints (pretty, as the CLI does).
    pub fn filter_log_events(&self) -> String {
        let events: Vec<Value> = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({"logStreamName": l.stream, "timestamp": l.written_ms,
                    "message": format!("{}\n", l.marker), "ingestionTime": l.written_ms + 100,
                    "eventId": format!("{i:056}")})
            })
            .collect();
        serde_json::to_string_pretty(&json!({"events": events, "searchedLogStreams": []})).unwrap()
    }

    /// A CloudWatch export: `<prefix>/<task>/<stream...>/000000.gz`, lines `TIME MESSAGE`.
    pub fn write_export(&self, root: &Path) -> Vec<PathBuf> {
        let mut by_stream: BTreeMap<&str, Vec<&Line>> = BTreeMap::new();
        for l in &self.lines {
            by_stream.entry(&l.stream).or_default().push(l);
        }
        let mut files = Vec::new();
        for (stream, lines) in by_stream {
            let dir = root.join("exportedlogs/task-1").join(stream);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("000000.gz");
            let mut gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::default(),
            );
            for l in lines {
                writeln!(gz, "{} {}", rfc3339(l.written_ms), l.marker).unwrap();
            }
            gz.finish().unwrap();
            files.push(path);
        }
        files
    }

    /// The sandbox's `--json` output: markers wrapped with the environment that logged them,
    /// among the sandbox's other records (and one kind this reader has never seen).
    pub fn sandbox_json(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{}\n",
            json!({"type": "config_update", "after_request": 3, "variable": "USER",
                "from": "a", "to": "b", "last_update_status": "Successful", "revision_id": "r"})
        ));
        for l in &self.lines {
            out.push_str(&format!(
                "{}\n",
                json!({"type": "environment_start", "env_id": l.marker["env_id"], "reason": "first request"})
            ));
            out.push_str(&format!(
                "{}\n",
                json!({"type": "marker", "env_id": l.marker["env_id"], "source": "coldmark",
                    "received_at": rfc3339(l.written_ms), "marker": l.marker})
            ));
            out.push_str(&format!(
                "{}\n",
                json!({"type": "response", "request": 1, "status": 200, "body": {"user": "x"}})
            ));
        }
        out
    }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_coldmark-explain"))
}

/// Runs the tool with `stdin` piped in.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run coldmark-explain");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The `--json` init records, as (env_id, cause) in output order, and the summaries.
pub fn parse_json(out: &Output) -> (Vec<Value>, Vec<Value>) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut inits = Vec::new();
    let mut summaries = Vec::new();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        match v["type"].as_str() {
            Some("init") => inits.push(v),
            Some("summary") => summaries.push(v),
            other => panic!("unexpected record type {other:?}: {line}"),
        }
    }
    (inits, summaries)
}

/// Per env_id, the causes in output order.
pub fn causes(inits: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in inits {
        map.entry(i["env_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(i["cause"].as_str().unwrap().to_owned());
    }
    map
}

pub fn assert_expected(scenario: &Scenario, out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exit code; stderr: {stderr}"
    );
    let (inits, summaries) = parse_json(out);
    let got = causes(&inits);
    let want: BTreeMap<String, Vec<String>> = scenario
        .expected
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(
        got, want,
        "{what}: causes per environment; stderr: {stderr}"
    );
    assert_eq!(summaries.len(), 2, "{what}: one summary per function");
}

/// `--function clock` on `input`: only clock's inits and summary, with the causes the
/// unfiltered run gives them.
pub fn assert_only_clock(s: &Scenario, out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
    let (inits, summaries) = parse_json(out);
    let want: std::collections::BTreeMap<String, Vec<String>> = s
        .expected
        .iter()
        .filter(|(env, _)| !env.starts_with("env-api"))
        .map(|(k, v)| (k.clone(), v.iter().map(|c| c.to_string()).collect()))
        .collect();
    assert_eq!(causes(&inits), want, "{what}");
    assert!(
        inits.iter().all(|i| i["function_name"] == "clock"),
        "{what}"
    );
    assert_eq!(summaries.len(), 1, "{what}");
    assert_eq!(summaries[0]["function_name"], "clock", "{what}");
}
