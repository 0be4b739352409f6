//! Lambda Managed Instances end to end, driven as a user would: `coldmark-sandbox serve
//! --managed-instances`, the real AWS CLI invoking concurrently, the real clock function serving
//! through `lambda_runtime`'s concurrent mode and the real coldmark extension registered for
//! SHUTDOWN only. What is checked is what a user would look at: every answer 200 (no 429 below
//! the capacity), several invocations overlapping in one environment (the answers, and
//! coldmark's `peak_concurrency`), the markers, the sandbox's reasons and the function's
//! `CapacityProviderConfig`.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use chrono::NaiveDateTime;
use coldmark_testkit::aws_cli::{aws_command, aws_stdout};
use serde_json::Value;
use support::cp_build::layer;

/// Invocations one environment takes at once in these tests.
const MAX_CONCURRENCY: usize = 4;
/// How long each invocation sleeps in the handler: long enough for all to overlap.
const SLEEP_MS: u64 = 1_500;

/// The clock function's `time_*` fields (`2026-12-02 22:05:41.857260`).
fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").expect("a clock timestamp")
}

#[test]
#[ignore = "needs the AWS CLI; `bash .ci/run` installs it and runs this test"]
fn concurrent_aws_cli_invocations_overlap_in_one_managed_instances_environment() {
    let layer = layer(true, &[]);
    let concurrency = MAX_CONCURRENCY.to_string();
    let (mut sandbox, endpoint, _) = support::serve(
        layer.path(),
        &["--managed-instances", "--max-concurrency", &concurrency],
        Duration::from_secs(120),
    );
    // Three environments start ahead of traffic, before any request.
    for n in 1..=3 {
        sandbox
            .wait_for(Duration::from_secs(60), |l| {
                l["type"] == "environment_start"
            })
            .unwrap_or_else(|| panic!("environment {n} of 3 started ahead of traffic"));
    }

    let configuration: Value = serde_json::from_str(&aws_stdout(
        &endpoint,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "clock",
        ],
    ))
    .unwrap();
    let provider =
        &configuration["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"];
    assert_eq!(
        provider["PerExecutionEnvironmentMaxConcurrency"], MAX_CONCURRENCY,
        "{configuration:#}"
    );
    assert!(
        provider["CapacityProviderArn"]
            .as_str()
            .is_some_and(|arn| arn.contains(":capacity-provider:")),
        "{configuration:#}"
    );
    assert_eq!(configuration["MemorySize"], 2048, "the smallest size there");

    // Twice the concurrency of one environment, all at once: the capacity (three
    // environments) takes them without a 429.
    let dir = tempfile::tempdir().unwrap();
    let payload = format!(r#"{{"clock_sleep_ms": {SLEEP_MS}}}"#);
    let clients: Vec<_> = (0..2 * MAX_CONCURRENCY)
        .map(|n| {
            let out = dir.path().join(format!("out-{n}.json"));
            let child = aws_command(&endpoint)
                .args(["lambda", "invoke", "--function-name", "clock", "--payload"])
                .arg(&payload)
                .arg(&out)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the AWS CLI runs");
            (child, out)
        })
        .collect();
    let mut answers = Vec::new();
    for (child, out) in clients {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "aws lambda invoke failed (a 429 below the capacity?): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let meta: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(meta["StatusCode"], 200, "{meta}");
        assert!(meta.get("FunctionError").is_none(), "{meta}");
        let result: Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
        let body = result["body"]
            .as_str()
            .expect("the clock's answer has a body");
        answers.push(serde_json::from_str::<Value>(body).unwrap());
    }

    // The answers: environments by `time_out_of_handler`, and in one of them several handler
    // calls that overlapped (each sleeps SLEEP_MS; started closer than that, they overlapped).
    let mut by_environment: BTreeMap<String, Vec<NaiveDateTime>> = BTreeMap::new();
    for answer in &answers {
        let environment = answer["time_out_of_handler"]
            .as_str()
            .expect("the clock's answer");
        let called = at(answer["time_in_handler"].as_str().unwrap());
        by_environment
            .entry(environment.to_owned())
            .or_default()
            .push(called);
        assert_eq!(answer["env_user"], "user", "{answer}");
    }
    let overlapping = by_environment
        .values()
        .map(|calls| {
            calls
                .iter()
                .filter(|c| {
                    let first = calls.iter().min().unwrap();
                    (**c - *first).num_milliseconds() < SLEEP_MS as i64
                })
                .count()
        })
        .max()
        .unwrap();
    assert!(
        overlapping > 1,
        "several invocations ran at once in one environment: {by_environment:#?}"
    );
    assert!(
        by_environment
            .values()
            .all(|calls| calls.len() <= MAX_CONCURRENCY),
        "no environment took more than its concurrency: {by_environment:#?}"
    );

    let _ = Command::new("kill")
        .args(["-INT", &sandbox.pid().to_string()])
        .status();
    assert!(sandbox.wait_exit(Duration::from_secs(30)), "serve exits");
    let lines = sandbox.finish();

    let reasons: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "environment_start")
        .filter_map(|l| l["reason"].as_str())
        .collect();
    assert_eq!(
        reasons, ["first-seen"; 3],
        "three started ahead, none scaled out below the capacity: {lines:#?}"
    );
    let inits = support::marker_lines(&lines, "init");
    assert_eq!(inits.len(), 3, "{lines:#?}");
    for init in &inits {
        let marker = &init["marker"];
        assert_eq!(marker["init_type"], "lambda-managed-instances", "{marker}");
        assert_eq!(marker["proactive"], true, "{marker}");
        assert_eq!(
            marker["extensions"][0]["events"],
            serde_json::json!(["SHUTDOWN"]),
            "{marker}"
        );
    }
    let invokes = support::marker_lines(&lines, "invoke");
    assert!(!invokes.is_empty(), "{lines:#?}");
    assert!(
        invokes.iter().all(|i| i["marker"]["cold_start"] == false),
        "no request waits for an init there: {invokes:#?}"
    );
    let shutdowns = support::marker_lines(&lines, "shutdown");
    assert_eq!(shutdowns.len(), 3, "{lines:#?}");
    let invoked: u64 = shutdowns
        .iter()
        .map(|s| s["marker"]["invocations"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(invoked, answers.len() as u64, "{shutdowns:#?}");
    let peak = shutdowns
        .iter()
        .filter_map(|s| s["marker"]["peak_concurrency"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(
        peak > 1 && peak <= MAX_CONCURRENCY as u64,
        "coldmark saw invocations overlap (peak_concurrency {peak}): {shutdowns:#?}"
    );
}
