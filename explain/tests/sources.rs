//! Every file-like source gives the same answer on the same markers: the extension's own
//! lines, lines behind a Lambda log prefix, `aws logs filter-log-events` JSON, a CloudWatch
//! export (.gz per log stream), the sandbox's `--json` output, and stdin.

mod support;

use serde_json::Value;
use support::*;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn ndjson_file_and_stdin() {
    let s = Scenario::day();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "markers.ndjson", &s.ndjson());
    assert_expected(&s, &run(&["--json", &file], b""), "ndjson file");
    assert_expected(&s, &run(&["--json"], s.ndjson().as_bytes()), "stdin");
    assert_expected(
        &s,
        &run(&["--json", "-"], s.ndjson().as_bytes()),
        "stdin as -",
    );
}

#[test]
fn lambda_log_prefix_lines() {
    let s = Scenario::day();
    let out = run(&["--json"], s.prefixed().as_bytes());
    assert_expected(&s, &out, "prefixed lines");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // START + one REPORT per marker + coldmark's stderr line are skipped, never fatal.
    let skipped = 2 + s.lines.len();
    assert!(
        stderr.contains(&format!("{} other lines skipped", skipped)),
        "{stderr}"
    );
}

#[test]
fn filter_log_events_json() {
    let s = Scenario::day();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "events.json", &s.filter_log_events());
    assert_expected(&s, &run(&["--json", &file], b""), "filter-log-events file");
    assert_expected(
        &s,
        &run(&["--json"], s.filter_log_events().as_bytes()),
        "filter-log-events on stdin",
    );
}

#[test]
fn cloudwatch_export_files() {
    let s = Scenario::day();
    let dir = tempfile::tempdir().unwrap();
    let files = s.write_export(dir.path());
    assert!(files.len() > 5, "one file per log stream");
    let mut args = vec!["--json".to_owned()];
    args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_expected(&s, &run(&args, b""), "export files");
}

#[test]
fn sandbox_json_output() {
    let s = Scenario::day();
    let out = run(&["--json"], s.sandbox_json().as_bytes());
    assert_expected(&s, &out, "sandbox --json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The sandbox's other records (and one kind this reader has never seen) are skipped.
    let skipped = 1 + 2 * s.lines.len();
    assert!(
        stderr.contains(&format!(
            "{} markers, {} other lines skipped",
            s.lines.len(),
            skipped
        )),
        "{stderr}"
    );
}

#[test]
fn the_same_answer_from_every_form() {
    // Not only the causes: the whole records (evidence, figures) are identical.
    let s = Scenario::day();
    let dir = tempfile::tempdir().unwrap();
    let ndjson = run(&["--json"], s.ndjson().as_bytes());
    let reference = String::from_utf8_lossy(&ndjson.stdout).into_owned();
    let events = write(dir.path(), "events.json", &s.filter_log_events());
    for (what, out) in [
        ("prefixed", run(&["--json"], s.prefixed().as_bytes())),
        ("filter-log-events", run(&["--json", &events], b"")),
        ("sandbox", run(&["--json"], s.sandbox_json().as_bytes())),
    ] {
        assert_eq!(String::from_utf8_lossy(&out.stdout), reference, "{what}");
    }
}

/// A recorded run of the real sandbox with the real extension (`coldmark-sandbox experiment
/// --json`, 12 requests, USER changed after the 6th): its own output format, unedited.
#[test]
fn a_recorded_sandbox_experiment() {
    let recorded = include_str!("data/sandbox-experiment.json");
    let out = run(&["--json"], recorded.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (inits, _) = parse_json(&out);
    let causes: Vec<&str> = inits.iter().map(|i| i["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, vec!["first-seen", "configuration-change"]);
    assert_eq!(
        inits[1]["details"]["previous_fingerprint"],
        inits[0]["config_fingerprint"]
    );
    // Responses, the configuration update and the verdict are skipped, not fatal.
    assert!(
        stderr.contains("6 markers, 15 other lines skipped"),
        "{stderr}"
    );
}

/// A recorded run of the sandbox's causes script with the real extension (`coldmark-sandbox
/// causes --json`): its `environment_start` records hold the sandbox's own reason for every
/// start. Each init's cause equals that reason, from the markers alone. (The live version of
/// this check, which runs the script, is the sandbox's `causes` test.)
#[test]
fn a_recorded_sandbox_causes_run_agrees_with_the_sandbox() {
    let recorded = include_str!("data/sandbox-causes.json");
    let out = run(&["--json"], recorded.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (inits, _) = parse_json(&out);
    let records: Vec<Value> = recorded
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let starts: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "environment_start")
        .collect();
    assert_eq!(starts.len(), 8);
    assert_eq!(inits.len(), starts.len(), "one attribution per start");
    for (i, start) in starts.iter().enumerate() {
        // A later start of the same environment is a re-init, paid by its request.
        let reinit = starts[..i].iter().any(|s| s["env_id"] == start["env_id"]);
        let found: Vec<&Value> = inits
            .iter()
            .filter(|a| a["env_id"] == start["env_id"])
            .filter(|a| {
                if reinit {
                    a["init_phase"] == "invoke"
                        && a["details"]["function_request_id"] == start["request_id"]
                } else {
                    a["init_phase"] != "invoke"
                }
            })
            .collect();
        assert_eq!(found.len(), 1, "{start}");
        assert_eq!(
            found[0]["cause"], start["reason"],
            "{start}\n{:#}",
            found[0]
        );
    }
    // Steps, starts, stops, the endpoints and the summary are skipped and counted.
    assert!(
        stderr.contains("24 markers, 27 other lines skipped"),
        "{stderr}"
    );
}

#[test]
fn function_filter_on_files_and_stdin() {
    let s = Scenario::day();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "markers.ndjson", &s.ndjson());
    let events = write(dir.path(), "events.json", &s.filter_log_events());
    assert_only_clock(
        &s,
        &run(&["--json", "--function", "clock", &file], b""),
        "file",
    );
    assert_only_clock(
        &s,
        &run(&["--json", "--function", "clock"], s.ndjson().as_bytes()),
        "stdin",
    );
    assert_only_clock(
        &s,
        &run(&["--json", "--function", "clock", &events], b""),
        "filter-log-events file",
    );
    let roots = s.write_export(dir.path());
    let mut args = vec!["--json", "--function", "clock"];
    let roots: Vec<String> = roots
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    args.extend(roots.iter().map(String::as_str));
    assert_only_clock(&s, &run(&args, b""), "export files");
}

/// Lambda's JSON log format (`LoggingConfig.LogFormat = JSON`): every line an object with
/// `timestamp`, `level`, `requestId` and the line as `message`: as text when the runtime wrote
/// text, as an object when it wrote JSON.
#[test]
fn lambda_json_log_format() {
    let s = Scenario::day();
    let mut text = String::new();
    for (i, l) in s.lines.iter().enumerate() {
        let message = if i % 2 == 0 {
            Value::String(l.marker.to_string())
        } else {
            l.marker.clone()
        };
        let line = serde_json::json!({
            "timestamp": rfc3339(l.written_ms),
            "level": "INFO",
            "requestId": "8476a536-e9f4-4a8b-a6b6-0ee1c6e3c2d5",
            "message": message,
        });
        text.push_str(&format!("{line}\n"));
        text.push_str(
            "{\"time\":\"2026-11-25T10:00:00.000Z\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"8476a536\",\"metrics\":{\"durationMs\":3.25}}}\n",
        );
    }
    assert_eq!(text.lines().count(), 2 * s.lines.len());
    let out = run(&["--json"], text.as_bytes());
    assert_expected(&s, &out, "Lambda JSON log format");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} other lines skipped", s.lines.len())),
        "the platform's JSON records are skipped and counted: {stderr}"
    );
}

/// `aws logs filter-log-events --query events`: the bare array of events.
#[test]
fn the_bare_events_array_of_query_events() {
    let s = Scenario::day();
    let whole: Value = serde_json::from_str(&s.filter_log_events()).unwrap();
    let bare = serde_json::to_string_pretty(&whole["events"]).unwrap();
    assert!(bare.trim_start().starts_with('['));
    assert_expected(&s, &run(&["--json"], bare.as_bytes()), "bare events array");
    assert_only_clock(
        &s,
        &run(&["--json", "--function", "clock"], bare.as_bytes()),
        "bare events array, --function",
    );
}
