//! `coldmark-sandbox causes --json` with the real clock function and the real coldmark layer:
//! every environment start the sandbox reports has the reason the script meant, and the coldmark
//! markers in the same output carry what a cause attribution needs to reach the same answer on
//! its own (function_version, config_fingerprint, init_phase, shutdown reasons, lifetimes, and
//! for failed inits and tenants `init_status`, `init_error_type` and `tenant_id`).
//! Then the same output goes through the real `coldmark-explain` binary, which reads only the
//! markers: its cause for every init equals the sandbox's reason for that start (the ground
//! truth the attribution is checked against). The tests share one scripted run.
//!
//! An environment's starts (its first init, then every init re-run inside a request: after a
//! crash, a timeout or a failed init) are matched to its init markers, and to the attributions,
//! in the order they began.

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

/// The records of one environment among `records` (markers, attributions), in the order their
/// inits began (`timestamp`).
fn of_env<'a>(records: &[&'a Value], env_id: &Value) -> Vec<&'a Value> {
    let mut found: Vec<&Value> = records
        .iter()
        .copied()
        .filter(|r| &r["env_id"] == env_id)
        .collect();
    found.sort_by_key(|r| ms(&r["timestamp"]));
    found
}

/// Each environment start with the init record (a marker or an attribution) of the same init:
/// the k-th start of an environment with its k-th init record. Fails when an environment has
/// not as many of one as of the other.
fn aligned<'a>(
    starts: &[&'a Value],
    records: &[&'a Value],
    what: &str,
) -> Vec<(&'a Value, &'a Value)> {
    let mut pairs = Vec::new();
    let mut seen: Vec<&Value> = Vec::new();
    for s in starts {
        let env = &s["env_id"];
        if seen.contains(&env) {
            continue;
        }
        seen.push(env);
        let env_starts: Vec<&Value> = starts
            .iter()
            .copied()
            .filter(|t| &t["env_id"] == env)
            .collect();
        let env_records = of_env(records, env);
        assert_eq!(
            env_starts.len(),
            env_records.len(),
            "environment {env}: {} start(s), {} {what}(s):\n{env_starts:#?}\n{env_records:#?}",
            env_starts.len(),
            env_records.len()
        );
        pairs.extend(env_starts.into_iter().zip(env_records));
    }
    pairs
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

    // The sandbox's own account: one start per step's environment (and per init re-run inside
    // a request), with the expected reasons, per function.
    let starts = of_type(lines, "environment_start");
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for s in &starts {
        *counts
            .entry((
                s["function_name"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
            ))
            .or_default() += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([
            (("clock", "first-seen"), 1),
            (("clock", "scale-out"), 2),
            (("clock", "replacement"), 1),
            // USER, then CLOCK_INIT_FAIL three times.
            (("clock", "configuration-change"), 4),
            (("clock", "new-version"), 1),
            // A crash, a timeout, and the three failed inits' retries.
            (("clock", "after-failure"), 5),
            (("clock-tenants", "new-tenant"), 2),
            (("clock-tenants", "scale-out"), 1),
        ]),
        "{text}"
    );
    for step in of_type(lines, "causes_step") {
        assert_eq!(step["ok"], true, "{step}");
    }
    let summary = of_type(lines, "causes_summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["ok"], true);
    assert_eq!(summary[0]["failed_inits"], 4, "{}", summary[0]);

    let start = |function: &str, reason: &str| -> Vec<&Value> {
        starts
            .iter()
            .copied()
            .filter(|s| s["function_name"] == function && s["reason"] == reason)
            .collect()
    };
    let inits = markers(lines, "init");
    let shutdowns = markers(lines, "shutdown");
    let pairs = aligned(&starts, &inits, "init marker");
    // The init marker of a start: the same env_id, the same place among its inits.
    let init_of = |s: &Value| -> &Value {
        pairs
            .iter()
            .find(|(t, _)| std::ptr::eq(*t, s))
            .map(|(_, m)| *m)
            .unwrap_or_else(|| panic!("no init marker for {s}"))
    };
    for (s, init) in &pairs {
        assert_eq!(
            init["function_version"], s["function_version"],
            "marker and sandbox agree on the version: {s}"
        );
        assert_eq!(init["function_name"], s["function_name"], "{s}");
        // An environment's later starts are inits re-run inside a request: phase invoke, paid
        // by that request (a retry that failed too never reaches the request, so its marker
        // cannot name it).
        let first_of_env = starts
            .iter()
            .find(|t| t["env_id"] == s["env_id"])
            .is_some_and(|t| std::ptr::eq(*t, *s));
        if first_of_env {
            assert_eq!(init["init_phase"], "init", "{s}\n{init}");
        } else {
            assert_eq!(s["reason"], "after-failure", "{s}");
            assert_eq!(init["init_phase"], "invoke", "{s}\n{init}");
            if !init["function_request_id"].is_null() {
                assert_eq!(init["function_request_id"], s["request_id"], "{s}\n{init}");
            }
        }
    }

    // first-seen and scale-out: same version and configuration; a scale-out started while the
    // first environment was alive (no shutdown marker yet).
    let first = init_of(start("clock", "first-seen")[0]);
    let first_env = &first["env_id"];
    let first_shutdown = shutdowns
        .iter()
        .find(|m| &m["env_id"] == first_env)
        .expect("the first environment's shutdown marker");
    for s in start("clock", "scale-out") {
        let init = init_of(s);
        assert_eq!(init["config_fingerprint"], first["config_fingerprint"]);
        assert_eq!(init["function_version"], "$LATEST");
        assert!(
            ms(&init["timestamp"]) < ms(&first_shutdown["timestamp"]),
            "a scale-out starts while the first environment is alive: {init} / {first_shutdown}"
        );
    }

    // replacement: same configuration; every earlier environment ended with `spindown` before it.
    let replacement = init_of(start("clock", "replacement")[0]);
    assert_eq!(
        replacement["config_fingerprint"],
        first["config_fingerprint"]
    );
    let earlier: Vec<&Value> = std::iter::once(start("clock", "first-seen")[0])
        .chain(start("clock", "scale-out"))
        .collect();
    for s in earlier {
        let ended = shutdowns
            .iter()
            .find(|m| m["env_id"] == s["env_id"])
            .unwrap_or_else(|| panic!("a shutdown marker for {s}"));
        assert_eq!(ended["reason"], "spindown", "idle reclaim: {ended}");
        assert!(ms(&ended["timestamp"]) <= ms(&replacement["timestamp"]));
    }

    // configuration-change: same version, a different fingerprint each time.
    let mut fingerprints = vec![first["config_fingerprint"].clone()];
    for s in start("clock", "configuration-change") {
        let changed = init_of(s);
        assert_eq!(changed["function_version"], "$LATEST");
        assert!(
            !fingerprints.contains(&changed["config_fingerprint"]),
            "a new fingerprint: {changed}"
        );
        fingerprints.push(changed["config_fingerprint"].clone());
    }

    // new-version: the published version's number, not $LATEST.
    let version = init_of(start("clock", "new-version")[0]);
    assert_eq!(version["function_version"], "1");

    // after-failure of a running environment: init ran again in the invoke phase, in the same
    // environment, after a shutdown with reason failure (the crash) and one with reason timeout.
    let version_env = &version["env_id"];
    let mut reasons_before = Vec::new();
    for s in start("clock", "after-failure")
        .into_iter()
        .filter(|s| &s["env_id"] == version_env)
    {
        let init = init_of(s);
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

    // Failed inits: the environment's first start says how its init ended; Lambda resets it
    // (SHUTDOWN with reason failure, or timeout for the init that timed out, 0 invocations)
    // and runs init again inside the same request: the environment's next start,
    // after-failure.
    let failed: Vec<&Value> = starts
        .iter()
        .copied()
        .filter(|s| s["init_status"] != "success")
        .collect();
    let statuses: Vec<(&str, &str)> = failed
        .iter()
        .map(|s| {
            (
                s["init_status"].as_str().unwrap(),
                s["init_error_type"].as_str().unwrap_or("(none)"),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("error", "Runtime.InitError"),
            ("error", "Runtime.InitError"),
            ("error", "Runtime.InitError"),
            ("timeout", "Runtime.Timeout"),
        ],
        "error-once, error (and its retry), timeout-once: {text}"
    );
    for s in &failed {
        assert!(
            s["reason"] == "configuration-change" || s["reason"] == "after-failure",
            "{s}"
        );
        let init = init_of(s);
        let reset_reason = if s["init_status"] == "timeout" {
            "timeout"
        } else {
            "failure"
        };
        let reset = shutdowns
            .iter()
            .filter(|m| m["env_id"] == s["env_id"])
            .find(|m| ms(&m["timestamp"]) >= ms(&init["timestamp"]))
            .unwrap_or_else(|| panic!("a shutdown marker after the failed init {s}:\n{text}"));
        assert_eq!(reset["reason"], reset_reason, "{reset}");
        assert_eq!(reset["invocations"], 0, "{reset}");
        let retry = starts
            .iter()
            .skip_while(|t| !std::ptr::eq(**t, *s))
            .skip(1)
            .find(|t| t["env_id"] == s["env_id"]);
        if let Some(retry) = retry {
            assert_eq!(retry["reason"], "after-failure", "{retry}");
            assert_eq!(
                retry["request_id"], s["request_id"],
                "the same request retries"
            );
        }
    }
    // The sandbox's stop events agree: one reset per crash, timeout and failed init, in order,
    // each saying how many invocations the environment had served.
    let stops = of_type(lines, "environment_stop");
    let resets: Vec<&str> = stops
        .iter()
        .filter(|s| s["reset"] == true)
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        resets,
        ["failure", "timeout", "failure", "failure", "failure", "timeout"],
        "{text}"
    );
    // The environment whose retry failed too never served an invocation: an init nobody used.
    // Every other environment ended having served at least one.
    let unused: Vec<&Value> = stops
        .iter()
        .copied()
        .filter(|s| s["reset"] == false && s["invocations"] == 0)
        .collect();
    assert_eq!(unused.len(), 1, "{unused:#?}");
    let twice = failed[1];
    assert_eq!(unused[0]["env_id"], twice["env_id"], "{text}");
    assert!(shutdowns
        .iter()
        .filter(|m| m["env_id"] == twice["env_id"])
        .all(|m| m["invocations"] == 0));

    // Tenant isolation: each tenant's first environment is its own (blue's idle one does not
    // serve green), and blue's second environment started while its first was alive.
    let tenant_of = |s: &Value| s["tenant_id"].as_str().unwrap_or("(none)").to_owned();
    let firsts: Vec<String> = start("clock-tenants", "new-tenant")
        .into_iter()
        .map(tenant_of)
        .collect();
    assert_eq!(firsts, ["blue", "green"], "{text}");
    let blue_first = init_of(start("clock-tenants", "new-tenant")[0]);
    let blue_scale_out = start("clock-tenants", "scale-out")[0];
    assert_eq!(tenant_of(blue_scale_out), "blue");
    let blue_ended = shutdowns
        .iter()
        .find(|m| m["env_id"] == blue_first["env_id"])
        .expect("blue's first environment's shutdown marker");
    assert!(ms(&init_of(blue_scale_out)["timestamp"]) < ms(&blue_ended["timestamp"]));
    for s in starts.iter().filter(|s| s["function_name"] == "clock") {
        assert!(
            s.get("tenant_id").is_none(),
            "no tenant without isolation: {s}"
        );
    }
    for stop in stops.iter().filter(|stop| {
        start("clock-tenants", "new-tenant")
            .iter()
            .any(|s| s["env_id"] == stop["env_id"])
    }) {
        assert!(stop["tenant_id"].is_string(), "{stop}");
    }
    let refused: Vec<&Value> = of_type(lines, "causes_step")
        .into_iter()
        .filter(|step| {
            step["function_name"] == "clock-tenants" && step["starts"] == serde_json::json!([])
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(
        refused[0]["outcomes"],
        serde_json::json!(["InvalidParameterValueException"])
    );

    // Every shutdown reason is in the log: spindown, failure, timeout.
    for reason in ["spindown", "failure", "timeout"] {
        assert!(
            shutdowns.iter().any(|m| m["reason"] == reason),
            "a shutdown marker with reason {reason}"
        );
    }
}

/// What the extension's markers say of failed inits and tenants (`init_status`,
/// `init_error_type`, `tenant_id`): the same as the sandbox's ground truth, init by init. These
/// marker fields come with the extension's support for them.
#[test]
fn the_markers_say_how_each_init_ended_and_which_tenant_paid() {
    let (ok, lines, text) = causes_run();
    assert!(*ok, "causes failed:\n{text}");
    let starts = of_type(lines, "environment_start");
    let inits = markers(lines, "init");
    for (s, init) in aligned(&starts, &inits, "init marker") {
        assert_eq!(init["init_status"], s["init_status"], "{s}\n{init}");
        assert_eq!(
            init.get("init_error_type"),
            s.get("init_error_type"),
            "{s}\n{init}"
        );
        assert_eq!(init.get("tenant_id"), s.get("tenant_id"), "{s}\n{init}");
    }
    // Every marker of a tenant's environment names the tenant.
    let tenants: BTreeMap<&str, &Value> = starts
        .iter()
        .filter(|s| s.get("tenant_id").is_some())
        .map(|s| (s["env_id"].as_str().unwrap(), &s["tenant_id"]))
        .collect();
    assert_eq!(tenants.len(), 3, "{text}");
    for marker in of_type(lines, "marker").into_iter().map(|l| &l["marker"]) {
        if let Some(tenant) = marker["env_id"].as_str().and_then(|e| tenants.get(e)) {
            assert_eq!(&&marker["tenant_id"], tenant, "{marker}");
        }
    }
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

/// Every start's reason, as `coldmark-explain` reads it off the markers alone. The new causes
/// (`new-tenant`, and the failed inits' own causes) come with explain's and the extension's
/// support for tenants and failed inits.
#[test]
fn coldmark_explain_gives_every_start_the_sandbox_reason() {
    let (ok, lines, text) = causes_run();
    assert!(*ok, "causes failed:\n{text}");
    let (code, explained, stderr) = explain(text);
    assert_eq!(code, Some(0), "coldmark-explain: {stderr}");

    let attributions = of_type(&explained, "init");
    let starts = of_type(lines, "environment_start");
    let init_markers = markers(lines, "init");
    assert!(starts.len() >= 17, "{text}");
    assert_eq!(
        attributions.len(),
        init_markers.len(),
        "one attribution per init marker:\n{explained:#?}"
    );
    assert_eq!(
        attributions.len(),
        starts.len(),
        "no attribution without a start"
    );

    // Every environment start: the attribution of the same init names the sandbox's reason.
    let mut agreed = BTreeMap::<String, usize>::new();
    for (s, attribution) in aligned(&starts, &attributions, "attribution") {
        assert_eq!(attribution["init_phase"] == "invoke", {
            let first = starts.iter().find(|t| t["env_id"] == s["env_id"]).unwrap();
            !std::ptr::eq(*first, s)
        });
        assert_eq!(
            attribution["cause"], s["reason"],
            "coldmark-explain and the sandbox disagree on {s}:\n{attribution:#}"
        );
        *agreed
            .entry(s["reason"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    // Every cause the sandbox can produce was checked.
    for cause in [
        "first-seen",
        "scale-out",
        "replacement",
        "configuration-change",
        "new-version",
        "after-failure",
        "new-tenant",
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
    let functions: Vec<&Value> = summaries.iter().map(|s| &s["function_name"]).collect();
    assert_eq!(functions, ["clock", "clock-tenants"], "{summaries:?}");
    for summary in summaries {
        let of_function = starts
            .iter()
            .filter(|s| s["function_name"] == summary["function_name"])
            .count();
        assert_eq!(summary["cold_starts"], of_function, "{summary}");
    }
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
    // Environments started ahead that served nothing before they were spun down: inits
    // nobody used, in the sandbox's account and in their own shutdown markers alike.
    let shutdowns = markers(lines, "shutdown");
    let unused: Vec<&Value> = of_type(lines, "environment_stop")
        .into_iter()
        .filter(|s| s["reset"] == false && s["invocations"] == 0)
        .collect();
    assert!(!unused.is_empty(), "{text}");
    let unused_count = unused.len();
    for stop in unused {
        let marker = shutdowns
            .iter()
            .find(|m| m["env_id"] == stop["env_id"])
            .unwrap_or_else(|| panic!("a shutdown marker for {stop}"));
        assert_eq!(marker["invocations"], 0, "{marker}");
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
    // coldmark-explain counts the same inits nobody used, from the markers alone.
    assert_eq!(
        summaries[0]["unused_inits"], unused_count,
        "{:#}",
        summaries[0]
    );
}
