//! What the `coldmark-explain` binary says about its own run, as a person at a terminal or a
//! script reads it: `--version`, the hint when it is started with no input on a terminal, a
//! `--function` filter that matches nothing, and `--json` figures without float noise.

mod support;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_names_the_release() {
    let out = run(&["--version"], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("coldmark-explain {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// A pseudo-terminal pair: (controller, the terminal a child reads as its stdin).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut controller, mut terminal) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into the two ints; null name, termios and
    // window size are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are open and owned by nobody else.
    unsafe {
        (
            OwnedFd::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    }
}

#[test]
fn no_input_on_a_terminal_says_how_to_give_one_instead_of_waiting() {
    let (_controller, terminal) = pty();
    let mut child = Command::new(binary())
        .stdin(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run coldmark-explain");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("coldmark-explain waited on the terminal instead of saying what it needs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("no input given"), "{stderr}");
    for way in ["FILE", "| coldmark-explain", "--log-group", "--clickhouse"] {
        assert!(stderr.contains(way), "{way} missing: {stderr}");
    }
}

#[test]
fn stdin_from_a_pipe_is_still_read_without_an_argument() {
    let out = run(&["--json"], Scenario::day().ndjson().as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(!parse_json(&out).0.is_empty());
}

#[test]
fn a_function_filter_that_matches_nothing_says_so() {
    let input = Scenario::day().ndjson();
    let out = run(&["--function", "no-such-function"], input.as_bytes());
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no markers of --function no-such-function in the input"),
        "{stderr}"
    );
    assert!(stderr.contains("it has markers of api, clock"), "{stderr}");
    assert!(!stderr.contains("no init markers in the input"), "{stderr}");

    // The same filter on a matching function explains as before.
    let out = run(&["--json", "--function", "clock"], input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

/// Every number in `value`, with the key it sits under.
fn numbers<'a>(key: &'a str, value: &'a Value, out: &mut Vec<(&'a str, String)>) {
    match value {
        Value::Number(n) => out.push((key, n.to_string())),
        Value::Array(items) => items.iter().for_each(|v| numbers(key, v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| numbers(k, v, out)),
        _ => {}
    }
}

#[test]
fn json_figures_are_rounded_to_what_was_measured() {
    // Three inits whose measured durations (whole microseconds) add up to float noise:
    // 1.0 + 1.137 + 2.096 is 4.2330000000000005 in f64.
    let mut input = String::new();
    for (i, duration_ms) in [1.0, 1.137, 2.096].into_iter().enumerate() {
        let env = format!("env-{i}");
        let marker = init_marker(&InitSpec {
            t0: T0,
            function: "clock",
            version: "$LATEST",
            env: &env,
            at_s: i as f64,
            init_type: "on-demand",
            phase: "init",
            fingerprint: "c65dd9a06e46",
            proactive: false,
            duration_ms,
            memory: 128,
        });
        input.push_str(&format!("{marker}\n"));
    }
    let out = run(
        &["--json", "--price-per-gb-second", "0.0000166667"],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let (inits, summaries) = parse_json(&out);
    assert_eq!(inits.len(), 3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(r#""init_ms":4.233,"#), "{stdout}");
    let mut found = Vec::new();
    for record in inits.iter().chain(&summaries) {
        numbers("", record, &mut found);
    }
    for (key, text) in found {
        let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
        let most = if key.ends_with("_ms") { 3 } else { 12 };
        assert!(decimals <= most, "{key}: {text} has {decimals} decimals");
    }
}
