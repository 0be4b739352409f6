//! What the front-ends' integration tests share: the real binaries, layers and a control plane
//! of the clock function ([`cp_build`]), and the `coldmark-sandbox` binary run as a user runs
//! it. Each test binary uses a part of it; the rest is allowed to go unused here, once.
#![allow(dead_code)]

pub mod cp_build;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

pub use coldmark_testkit::json_process::JsonProcess;

/// The `coldmark-sandbox` binary with `args`, its stdout piped, its stderr the test's.
pub fn sandbox_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coldmark-sandbox"));
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// The `coldmark-sandbox` binary with `args` (which must include `--json`), its lines read as
/// they come.
pub fn sandbox(args: &[&str]) -> JsonProcess {
    JsonProcess::spawn(sandbox_command(args))
}

/// `serve --json` with the clock function, `layer` and `extra` flags, once it has printed its
/// endpoints (waited for up to `timeout`): the process, the Lambda API and the Function URL.
pub fn serve(layer: &Path, extra: &[&str], timeout: Duration) -> (JsonProcess, String, String) {
    let mut args = vec![
        "serve",
        "--json",
        "--function",
        cp_build::built().bootstrap.to_str().unwrap(),
        "--layer",
        layer.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut sandbox = sandbox(&args);
    let endpoints = sandbox
        .wait_for(timeout, |l| l["type"] == "endpoints")
        .expect("the sandbox printed its endpoints");
    let api = endpoints["lambda_api"].as_str().unwrap().to_owned();
    // None when the function has tenant isolation (Lambda gives it no Function URL).
    let url = endpoints["function_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (sandbox, api, url)
}

/// The `marker` lines of `kind` (`init`, `invoke`, `shutdown`) among the lines of a `--json` run.
pub fn marker_lines<'a>(lines: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "marker" && l["marker"]["coldmark"] == kind)
        .collect()
}

/// `aws lambda update-function-configuration --function-name clock --environment
/// Variables={USER=<user>} <extra>` against the sandbox at `endpoint`: the CLI's JSON answer.
pub fn aws_set_user(endpoint: &str, user: &str, extra: &[&str]) -> serde_json::Value {
    let variables = format!("Variables={{USER={user}}}");
    let mut args = vec![
        "lambda",
        "update-function-configuration",
        "--function-name",
        "clock",
        "--environment",
        &variables,
    ];
    args.extend_from_slice(extra);
    let answer = coldmark_testkit::aws_cli::aws_stdout(endpoint, &args);
    serde_json::from_str(&answer).expect("UpdateFunctionConfiguration's answer is JSON")
}
