//! `coldmark-sandbox causes --json` with the real clock function and the real coldmark layer:
//! every environment start the sandbox reports has the reason the script meant, and the coldmark
//! markers in the same output carry what a cause attribution needs to reach the same answer on
//! its own (function_version, config_fingerprint, init_phase, shutdown reasons, lifetimes).

#[path = "support/cp_build.rs"]
mod cp_build;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cp_build::{built, layer};
use serde_json::Value;

/// Runs the binary to completion (killed after `limit`); returns (success, stdout lines).
fn run_causes(args: &[&str], limit: Duration) -> (bool, Vec<Value>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coldmark-sandbox"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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

#[test]
fn every_start_has_its_reason_and_the_markers_carry_the_evidence() {
    let layer = layer(true, &[]);
    let (ok, lines, text) = run_causes(
        &[
            "causes",
            "--json",
            "--function",
            built().bootstrap.to_str().unwrap(),
            "--layer",
            layer.path().to_str().unwrap(),
        ],
        Duration::from_secs(180),
    );
    assert!(ok, "causes failed:\n{text}");

    // The sandbox's own account: one start per step's environment, with the expected reasons.
    let starts = of_type(&lines, "environment_start");
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
    for step in of_type(&lines, "causes_step") {
        assert_eq!(step["ok"], true, "{step}");
    }
    let summary = of_type(&lines, "causes_summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["ok"], true);

    let start = |reason: &str| -> Vec<&Value> {
        starts
            .iter()
            .copied()
            .filter(|s| s["reason"] == reason)
            .collect()
    };
    let inits = markers(&lines, "init");
    let shutdowns = markers(&lines, "shutdown");
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
    let resets: Vec<&str> = of_type(&lines, "environment_stop")
        .into_iter()
        .filter(|s| s["reset"] == true)
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(resets, ["failure", "timeout"]);
}
