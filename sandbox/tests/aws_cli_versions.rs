//! Versions driven by the real AWS CLI against `coldmark-sandbox serve --json`: `publish-version`,
//! `invoke --qualifier` (a number and `$LATEST`), `get-function-configuration --qualifier`,
//! `list-versions-by-function`. A published version keeps its configuration when `$LATEST`
//! changes; its environments report `AWS_LAMBDA_FUNCTION_VERSION` (coldmark's
//! `function_version`); the serve log names each environment's start reason.

mod support;

use std::path::Path;
use std::time::Duration;
use support::cp_build;

use coldmark_testkit::aws_cli::{aws_output, aws_stdout};
use cp_build::layer;
use serde_json::Value;

fn aws(endpoint: &str, args: &[&str]) -> Value {
    serde_json::from_str(&aws_stdout(endpoint, args)).unwrap()
}

/// `aws lambda invoke [--qualifier Q]`: (CLI output, the clock body).
fn invoke(endpoint: &str, dir: &Path, n: usize, qualifier: Option<&str>) -> (Value, Value) {
    let out = dir.join(format!("out-{n}.json"));
    let mut args = vec!["lambda", "invoke", "--function-name", "clock"];
    if let Some(q) = qualifier {
        args.extend(["--qualifier", q]);
    }
    args.push(out.to_str().unwrap());
    let meta = aws(endpoint, &args);
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let body: Value = serde_json::from_str(result["body"].as_str().expect("body")).unwrap();
    (meta, body)
}

#[test]
#[ignore = "needs the AWS CLI; `bash .ci/run` installs it and runs this test"]
fn the_aws_cli_publishes_and_invokes_versions() {
    let layer = layer(true, &[]);
    let (sandbox, endpoint, _) = support::serve(layer.path(), &[], Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();

    let (meta, latest) = invoke(&endpoint, dir.path(), 1, None);
    assert_eq!(meta["ExecutedVersion"], "$LATEST");

    let published = aws(
        &endpoint,
        &["lambda", "publish-version", "--function-name", "clock"],
    );
    assert_eq!(published["Version"], "1");
    assert_eq!(
        published["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:clock:1"
    );
    assert_eq!(published["Environment"]["Variables"]["USER"], "user");
    // Nothing changed since: Lambda hands back the same version.
    let again = aws(
        &endpoint,
        &["lambda", "publish-version", "--function-name", "clock"],
    );
    assert_eq!(again["Version"], "1");

    let (meta, v1) = invoke(&endpoint, dir.path(), 2, Some("1"));
    assert_eq!(meta["ExecutedVersion"], "1");
    assert!(meta.get("FunctionError").is_none(), "{meta}");
    assert_ne!(
        v1["time_out_of_handler"], latest["time_out_of_handler"],
        "version 1 has its own environment"
    );
    assert_eq!(v1["invocation_count"], 1);

    // $LATEST changes; version 1 keeps its configuration and its warm environment.
    support::aws_set_user(&endpoint, "user2", &[]);
    let (meta, v1_again) = invoke(&endpoint, dir.path(), 3, Some("1"));
    assert_eq!(meta["ExecutedVersion"], "1");
    assert_eq!(v1_again["env_user"], "user");
    assert_eq!(v1_again["time_out_of_handler"], v1["time_out_of_handler"]);
    assert_eq!(v1_again["invocation_count"], 2);
    let (meta, latest2) = invoke(&endpoint, dir.path(), 4, Some("$LATEST"));
    assert_eq!(meta["ExecutedVersion"], "$LATEST");
    assert_eq!(latest2["env_user"], "user2");

    let v1_config = aws(
        &endpoint,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "clock",
            "--qualifier",
            "1",
        ],
    );
    assert_eq!(v1_config["Version"], "1");
    assert_eq!(v1_config["Environment"]["Variables"]["USER"], "user");
    let listed = aws(
        &endpoint,
        &[
            "lambda",
            "list-versions-by-function",
            "--function-name",
            "clock",
        ],
    );
    let versions: Vec<&str> = listed["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["$LATEST", "1"]);

    // A version that does not exist.
    let out = dir.path().join("missing.json");
    let missing = aws_output(
        &endpoint,
        &[
            "lambda",
            "invoke",
            "--function-name",
            "clock",
            "--qualifier",
            "7",
            out.to_str().unwrap(),
        ],
    );
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("ResourceNotFoundException"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let lines = sandbox.stop();
    let starts: Vec<(&str, &str, &str)> = lines
        .iter()
        .filter(|l| l["type"] == "environment_start")
        .map(|l| {
            (
                l["function_version"].as_str().unwrap(),
                l["reason"].as_str().unwrap(),
                l["env_id"].as_str().unwrap(),
            )
        })
        .collect();
    let reasons: Vec<(&str, &str)> = starts.iter().map(|(v, r, _)| (*v, *r)).collect();
    assert_eq!(
        reasons,
        [
            ("$LATEST", "first-seen"),
            ("1", "new-version"),
            ("$LATEST", "configuration-change")
        ],
        "{lines:#?}"
    );
    // coldmark's markers of version 1's environment say version 1.
    let v1_env = starts[1].2;
    let v1_markers: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "marker" && l["marker"]["env_id"] == v1_env)
        .map(|l| &l["marker"])
        .collect();
    assert!(
        v1_markers.iter().any(|m| m["coldmark"] == "init"),
        "{lines:#?}"
    );
    for m in &v1_markers {
        assert_eq!(m["function_version"], "1", "{m}");
    }
}
