//! `coldmark-sandbox causes --json` with the real clock function and the real coldmark layer:
//! every environment start the sandbox reports has the reason the script meant, and the coldmark
//! markers in the same output carry what a cause attribution needs to reach the same answer on
//! its own (function_version, config_fingerprint, init_phase, shutdown reasons, lifetimes).
//! Then the same output goes through the real `coldmark-explain` binary, which reads only the
//! markers: its cause for every init equals the sandbox's reason for that start (the ground
//! truth the attribution is checked against). Both tests share one scripted run.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::cp_build;

use cp_build::{built, layer};
use serde_json::Value;

/// Runs the binary to completion (killed after `limit`); returns (success, stdout lines).
fn run_causes(args: &[&str], limit: Duration) -> (bool, Vec<Value>, String) {
    let mut child = support::sandbox_command(args)
        .spawn()
        .expect("start coldmark-sandbox");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (status.is_some_and(|s| s.success()), lines, text)
}

fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

/// The markers (the `marker` field of `type: marker` lines) of one kind.
fn markers<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    of_type(lines, "marker")
        .into_iter()
        .map(|l| &l["marker"])
        .filter(|m| m["coldmark"] == kind)
        .collect()
}

fn ms(timestamp: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(timestamp.as_str().expect("a timestamp"))
        .expect("RFC 3339")
        .timestamp_millis()
}

/// The scripted run, once per test binary: (success, JSON lines, the output as printed).
fn causes_run() -> &'static (bool, Vec<Value>, String) {
    static RUN: OnceLock<(bool, Vec<Value>, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let layer = layer(true, &[]);
        run_causes(
            &[
                "causes",
                "--json",
                "--function",
                built().bootstrap.to_str().unwrap(),
                "--layer",
                layer.path().to_str().unwrap(),
            ],
            Duration::from_secs(180),
        )
    })
}

#[test]
fn every_start_has_its_reason_and_the_markers_carry_the_evidence() {
    let (ok, lines, text) = causes_run();
    let (ok, lines, text) = (*ok, lines.as_slice(), text.as_str());
    assert!(ok, "causes failed:\n{text}");

    // The sandbox's own account: one start per step's environment, with the expected reasons.
    let starts = of_type(lines, "environment_start");
    let reasons: Vec<&str> = starts
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &reasons {
        *counts.entry(r).or_default() += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([
            ("first-seen", 1),
            ("scale-out", 2),
            ("replacement", 1),
            ("configuration-change", 1),
            ("new-version", 1),
            ("after-failure", 2),
        ]),
        "{text}"
    );
    for step in of_type(lines, "causes_step") {
        assert_eq!(step["ok"], true, "{step}");
    }
    let summary = of_type(lines, "causes_summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["ok"], true);

    let start = |reason: &str| -> Vec<&Value> {
        starts
            .iter()
            .copied()
            .filter(|s| s["reason"] == reason)
            .collect()
    };
    let inits = markers(lines, "init");
    let shutdowns = markers(lines, "shutdown");
    // The init marker of a start: the same env_id; for a re-init, the one paid by its request.
    let init_of = |s: &Value| -> &Value {
        let found: Vec<&Value> = inits
            .iter()
            .copied()
            .filter(|m| m["env_id"] == s["env_id"])
            .filter(|m| {
                if s["reason"] == "after-failure" {
                    m["function_request_id"] == s["request_id"]
                } else {
                    m["init_phase"] == "init"
                }
            })
            .collect();
        assert_eq!(found.len(), 1, "one init marker for {s}:\n{text}");
        found[0]
    };
    for s in &starts {
        let init = init_of(s);
        assert_eq!(
            init["function_version"], s["function_version"],
            "marker and sandbox agree on the version: {s}"
        );
    }

    // first-seen and scale-out: same version and configuration; a scale-out started while the
    // first environment was alive (no shutdown marker yet).
    let first = init_of(start("first-seen")[0]);
    let first_env = &first["env_id"];
    let first_shutdown = shutdowns
        .iter()
        .find(|m| &m["env_id"] == first_env)
        .expect("the first environment's shutdown marker");
    for s in start("scale-out") {
        let init = init_of(s);
        assert_eq!(init["config_fingerprint"], first["config_fingerprint"]);
        assert_eq!(init["function_version"], "$LATEST");
        assert!(
            ms(&init["timestamp"]) < ms(&first_shutdown["timestamp"]),
            "a scale-out starts while the first environment is alive: {init} / {first_shutdown}"
        );
    }

    // replacement: same configuration; every earlier environment ended with `spindown` before it.
    let replacement = init_of(start("replacement")[0]);
    assert_eq!(
        replacement["config_fingerprint"],
        first["config_fingerprint"]
    );
    let earlier: Vec<&Value> = std::iter::once(start("first-seen")[0])
        .chain(start("scale-out"))
        .collect();
    for s in earlier {
        let ended = shutdowns
            .iter()
            .find(|m| m["env_id"] == s["env_id"])
            .unwrap_or_else(|| panic!("a shutdown marker for {s}"));
        assert_eq!(ended["reason"], "spindown", "idle reclaim: {ended}");
        assert!(ms(&ended["timestamp"]) <= ms(&replacement["timestamp"]));
    }

    // configuration-change: same version, a different fingerprint.
    let changed = init_of(start("configuration-change")[0]);
    assert_eq!(changed["function_version"], "$LATEST");
    assert_ne!(changed["config_fingerprint"], first["config_fingerprint"]);

    // new-version: the published version's number, not $LATEST.
    let version = init_of(start("new-version")[0]);
    assert_eq!(version["function_version"], "1");

    // after-failure: init ran again in the invoke phase, in the same environment, after a
    // shutdown with reason failure (the crash) and one with reason timeout.
    let reinits = start("after-failure");
    let version_env = &version["env_id"];
    let mut reasons_before = Vec::new();
    for s in &reinits {
        assert_eq!(&s["env_id"], version_env, "re-init in the same environment");
        let init = init_of(s);
        assert_eq!(init["init_phase"], "invoke", "{init}");
        assert_eq!(init["function_version"], "1");
        let before = shutdowns
            .iter()
            .filter(|m| &m["env_id"] == version_env)
            .filter(|m| ms(&m["timestamp"]) <= ms(&init["timestamp"]))
            .max_by_key(|m| ms(&m["timestamp"]))
            .expect("a shutdown marker before the re-init");
        reasons_before.push(before["reason"].as_str().unwrap().to_owned());
    }
    reasons_before.sort();
    assert_eq!(reasons_before, ["failure", "timeout"], "{text}");

    // Every shutdown reason is in the log: spindown, failure, timeout.
    for reason in ["spindown", "failure", "timeout"] {
        assert!(
            shutdowns.iter().any(|m| m["reason"] == reason),
            "a shutdown marker with reason {reason}"
        );
    }
    // The sandbox's stop events agree with the markers on the resets.
    let resets: Vec<&str> = of_type(lines, "environment_stop")
        .into_iter()
        .filter(|s| s["reset"] == true)
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(resets, ["failure", "timeout"]);
}

/// The `coldmark-explain` binary: the attribution core alone (`--no-default-features`, files and
/// stdin; the same code the default build runs on them, without the AWS SDK to compile).
fn explain_binary() -> PathBuf {
    let root = lambda_emulator::artifacts::workspace_root().expect("the coldmark workspace");
    let bins = lambda_emulator::artifacts::cargo_build_with(
        &root,
        "dev",
        &["coldmark-explain"],
        &["--no-default-features"],
    )
    .unwrap_or_else(|e| panic!("building coldmark-explain: {e:#}"));
    bins.get("coldmark-explain")
        .expect("coldmark-explain built")
        .clone()
}

/// `coldmark-explain --json -` with `input` on stdin: (exit code, JSON lines, stderr).
fn explain(input: &str) -> (Option<i32>, Vec<Value>, String) {
    let mut child = Command::new(explain_binary())
        .args(["--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start coldmark-explain");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("coldmark-explain ran");
    writer.join().unwrap().expect("stdin written");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (
        output.status.code(),
        lines,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn coldmark_explain_gives_every_start_the_sandbox_reason() {
    let (ok, lines, text) = causes_run();
    assert!(*ok, "causes failed:\n{text}");
    let (code, explained, stderr) = explain(text);
    assert_eq!(code, Some(0), "coldmark-explain: {stderr}");

    let attributions = of_type(&explained, "init");
    let starts = of_type(lines, "environment_start");
    let init_markers = markers(lines, "init");
    assert!(starts.len() >= 8, "{text}");

    // Every init marker got exactly one attribution (a re-init is its own, told apart from the
    // environment's first init by init_phase and the request that paid for it).
    let key = |env: &Value, phase: &Value, request: &Value| -> String {
        if phase == "invoke" {
            format!("{env} invoke {request}")
        } else {
            format!("{env} init")
        }
    };
    let mut marker_keys: Vec<String> = init_markers
        .iter()
        .map(|m| key(&m["env_id"], &m["init_phase"], &m["function_request_id"]))
        .collect();
    marker_keys.sort();
    marker_keys.dedup();
    let mut attributed_keys: Vec<String> = attributions
        .iter()
        .map(|a| {
            key(
                &a["env_id"],
                &a["init_phase"],
                &a["details"]["function_request_id"],
            )
        })
        .collect();
    attributed_keys.sort();
    assert_eq!(
        attributed_keys, marker_keys,
        "one attribution per init marker:\n{explained:#?}"
    );

    // Every environment start: the attribution of its init marker names the sandbox's reason.
    let mut agreed = BTreeMap::<String, usize>::new();
    for (i, s) in starts.iter().enumerate() {
        let reason = s["reason"].as_str().unwrap();
        // An environment's later starts are re-inits inside the request that paid for them.
        let reinit = starts[..i].iter().any(|e| e["env_id"] == s["env_id"]);
        let found: Vec<&Value> = attributions
            .iter()
            .copied()
            .filter(|a| a["env_id"] == s["env_id"])
            .filter(|a| {
                if reinit {
                    a["init_phase"] == "invoke"
                        && a["details"]["function_request_id"] == s["request_id"]
                } else {
                    a["init_phase"] != "invoke"
                }
            })
            .collect();
        assert_eq!(found.len(), 1, "one attribution for {s}:\n{explained:#?}");
        assert_eq!(
            found[0]["cause"], s["reason"],
            "coldmark-explain and the sandbox disagree on {s}:\n{:#}",
            found[0]
        );
        *agreed.entry(reason.to_owned()).or_default() += 1;
    }
    assert_eq!(
        attributions.len(),
        starts.len(),
        "no attribution without a start"
    );
    // Every cause the sandbox can produce was checked.
    for cause in [
        "first-seen",
        "scale-out",
        "replacement",
        "configuration-change",
        "new-version",
        "after-failure",
    ] {
        assert!(agreed.contains_key(cause), "{cause} checked: {agreed:?}");
    }

    // The sandbox's other records (responses, steps, environment starts and stops) are not
    // markers: skipped and counted, never fatal.
    let other = lines.iter().filter(|l| l["type"] != "marker").count();
    assert!(
        stderr.contains(&format!("{other} other lines skipped")),
        "{other} records skipped: {stderr}"
    );
    let summaries = of_type(&explained, "summary");
    assert_eq!(summaries.len(), 1, "one function: {summaries:?}");
    assert_eq!(summaries[0]["cold_starts"], starts.len());
}

/// The script on Lambda Managed Instances, once per test binary.
fn managed_causes_run() -> &'static (bool, Vec<Value>, String) {
    static RUN: OnceLock<(bool, Vec<Value>, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let layer = layer(true, &[]);
        run_causes(
            &[
                "causes",
                "--json",
                "--managed-instances",
                "--max-concurrency",
                "2",
                "--function",
                built().bootstrap.to_str().unwrap(),
                "--layer",
                layer.path().to_str().unwrap(),
            ],
            Duration::from_secs(180),
        )
    })
}

/// On Lambda Managed Instances environments start ahead of traffic, three at a time: the
/// sandbox's reason for each (first-seen, scale-out, replacement, configuration-change,
/// new-version) is what `coldmark-explain` reads off the markers alone, the three of one batch
/// included (none of them is a scale-out of another).
#[test]
fn on_managed_instances_coldmark_explain_gives_every_start_the_sandbox_reason() {
    let (ok, lines, text) = managed_causes_run();
    assert!(*ok, "causes --managed-instances failed:\n{text}");
    let (code, explained, stderr) = explain(text);
    assert_eq!(code, Some(0), "coldmark-explain: {stderr}");
    let attributions = of_type(&explained, "init");
    let starts = of_type(lines, "environment_start");
    assert_eq!(attributions.len(), starts.len(), "{explained:#?}");
    let mut agreed = BTreeMap::<String, usize>::new();
    for s in &starts {
        let found: Vec<&Value> = attributions
            .iter()
            .copied()
            .filter(|a| a["env_id"] == s["env_id"])
            .collect();
        assert_eq!(found.len(), 1, "one attribution for {s}:\n{explained:#?}");
        assert_eq!(
            found[0]["init_type"], "lambda-managed-instances",
            "{:#}",
            found[0]
        );
        assert_eq!(
            found[0]["cause"], s["reason"],
            "coldmark-explain and the sandbox disagree on {s}:\n{:#}",
            found[0]
        );
        *agreed
            .entry(s["reason"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for (cause, count) in [
        ("first-seen", 3),
        ("configuration-change", 3),
        ("new-version", 3),
    ] {
        assert_eq!(agreed.get(cause), Some(&count), "{cause}: {agreed:?}");
    }
    for cause in ["scale-out", "replacement"] {
        assert!(agreed.contains_key(cause), "{cause} checked: {agreed:?}");
    }
    // No GB-seconds on Managed Instances: capacity is priced per instance.
    let summaries = of_type(&explained, "summary");
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(
        summaries[0]["managed_instances"],
        starts.len(),
        "{:#}",
        summaries[0]
    );
}
