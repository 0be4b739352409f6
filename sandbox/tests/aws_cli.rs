//! The sandbox driven by the real AWS CLI (PyPI `awscli`), exactly as a user would:
//! `coldmark-sandbox serve`, then `aws --endpoint-url ... lambda invoke /
//! get-function-configuration / update-function-configuration`. Fake credentials, no
//! credential files, nothing leaves 127.0.0.1.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::cp_build;

use base64::Engine;
use coldmark_testkit::aws_cli::{aws_output, aws_stdout};
use cp_build::layer;
use serde_json::Value;

/// Runs `aws --endpoint-url <endpoint> <args>` with throwaway credentials; returns stdout.
fn aws(endpoint: &str, args: &[&str]) -> String {
    aws_stdout(endpoint, args)
}

/// `aws lambda invoke --log-type Tail`: (CLI output, the function's result).
fn invoke(endpoint: &str, dir: &Path, n: usize) -> (Value, Value) {
    let out = dir.join(format!("out-{n}.json"));
    let printed = aws(
        endpoint,
        &[
            "lambda",
            "invoke",
            "--function-name",
            "clock",
            "--log-type",
            "Tail",
            out.to_str().unwrap(),
        ],
    );
    let meta: Value = serde_json::from_str(&printed).unwrap();
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let body: Value = serde_json::from_str(result["body"].as_str().expect("body")).unwrap();
    (meta, body)
}

fn log_result(meta: &Value) -> String {
    let encoded = meta["LogResult"].as_str().expect("LogResult");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

#[test]
#[ignore = "needs the AWS CLI; `bash .ci/run` installs it and runs this test"]
fn the_aws_cli_invokes_reads_and_updates_the_function() {
    let aws_present = Command::new("aws").arg("--version").output().is_ok();
    assert!(
        aws_present,
        "the AWS CLI (`aws`) is not on PATH. {}",
        coldmark_testkit::venv::install_hint("the AWS CLI", &["awscli"])
    );
    let layer = layer(true, &[]);
    let (sandbox, endpoint, _) = support::serve(layer.path(), &[], Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();

    let (meta, first) = invoke(&endpoint, dir.path(), 1);
    assert_eq!(meta["StatusCode"], 200);
    assert_eq!(meta["ExecutedVersion"], "$LATEST");
    assert!(meta.get("FunctionError").is_none(), "{meta}");
    assert_eq!(first["env_user"], "user");
    assert_eq!(first["invocation_count"], 1);
    let log = log_result(&meta);
    assert!(log.contains("REPORT RequestId:"), "{log}");
    assert!(
        log.contains("Init Duration"),
        "a cold start's REPORT: {log}"
    );

    let (meta, second) = invoke(&endpoint, dir.path(), 2);
    assert_eq!(second["time_out_of_handler"], first["time_out_of_handler"]);
    assert_eq!(second["invocation_count"], 2);
    assert!(!log_result(&meta).contains("Init Duration"), "a warm start");

    let config: Value = serde_json::from_str(&aws(
        &endpoint,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "clock",
        ],
    ))
    .unwrap();
    assert_eq!(config["FunctionName"], "clock");
    assert_eq!(config["Environment"]["Variables"]["USER"], "user");
    assert_eq!(config["MemorySize"], 128);

    let updated = support::aws_set_user(&endpoint, "user2", &["--memory-size", "256"]);
    assert_eq!(updated["Environment"]["Variables"]["USER"], "user2");
    assert_eq!(updated["MemorySize"], 256);
    assert_eq!(updated["LastUpdateStatus"], "InProgress");
    assert_ne!(updated["RevisionId"], config["RevisionId"]);

    let (meta, third) = invoke(&endpoint, dir.path(), 3);
    assert_eq!(third["env_user"], "user2");
    assert_ne!(
        third["time_out_of_handler"], first["time_out_of_handler"],
        "a new environment"
    );
    assert_eq!(third["invocation_count"], 1);
    let log = log_result(&meta);
    assert!(
        log.contains("Init Duration"),
        "the new environment's cold start: {log}"
    );
    assert!(log.contains("Memory Size: 256 MB"), "{log}");

    // Unknown functions are ResourceNotFoundException to the CLI too.
    let missing = aws_output(
        &endpoint,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "nope",
        ],
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ResourceNotFoundException"));

    // The old environment was spun down; on exit the new one is too.
    let lines = sandbox.stop();
    let shutdowns = support::marker_lines(&lines, "shutdown");
    assert_eq!(shutdowns.len(), 2, "{lines:#?}");
    for s in shutdowns {
        assert_eq!(s["marker"]["reason"], "spindown");
    }
}
