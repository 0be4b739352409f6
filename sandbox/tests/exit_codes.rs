//! The `coldmark-sandbox` binary's exit codes, as a script calling it reads them: `experiment`
//! exits 1 on a NO verdict (0 on YES is the end-to-end test's), `probe` exits 1 when no request
//! got a clock answer and 2 on a URL it cannot use.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with `args`; fails the test if it runs longer than `limit`.
fn run(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coldmark-sandbox"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start coldmark-sandbox");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).ok();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        stderr.read_to_end(&mut v).ok();
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("coldmark-sandbox {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn probe_refuses_a_url_it_cannot_use_with_exit_2() {
    for url in ["not a url", "ftp://example.com/", "http://"] {
        let out = run(&["probe", "--url", url], Duration::from_secs(30));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("--url"), "{url}: {stderr}");
        assert!(out.stdout.is_empty(), "{url}: nothing was probed");
    }
}

#[test]
fn probe_exits_1_when_no_request_got_an_answer() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = run(
        &[
            "probe",
            "--url",
            &url,
            "--requests",
            "2",
            "--interval-ms",
            "10",
        ],
        Duration::from_secs(60),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("0 of 2 requests answered"), "{stdout}");
    assert!(
        stderr.contains("none of the 2 requests got an answer"),
        "{stderr}"
    );
}

/// A function that always claims the same init time, whichever environment answers: the
/// answers then show no new environment after the change, the experiment's NO.
const SAME_ENVIRONMENT_FOREVER: &str = r#"#!/usr/bin/env python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
body = json.dumps({"time_out_of_handler": "2026-01-01 00:00:00.000000",
                   "time_in_handler": "2026-01-01 00:00:01.000000",
                   "env_user": "always-the-same"}).encode()
while True:
    with urllib.request.urlopen(api + "next") as event:
        request_id = event.headers["Lambda-Runtime-Aws-Request-Id"]
        event.read()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body,
                                                  method="POST")).read()
"#;

#[test]
fn experiment_exits_1_on_a_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let function = dir.path().join("bootstrap");
    std::fs::write(&function, SAME_ENVIRONMENT_FOREVER).unwrap();
    std::fs::set_permissions(&function, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(
        &[
            "experiment",
            "--function",
            function.to_str().unwrap(),
            "--no-layer",
            "--interval-ms",
            "100",
            "--requests",
            "4",
            "--change-after",
            "2",
        ],
        Duration::from_secs(120),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stdout.contains("verdict: NO new init after the change"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
}

/// Tenant isolation does not go with SnapStart, provisioned concurrency, Managed Instances or a
/// Function URL (AWS's tenant isolation pages): `serve` refuses each pair with exit 2, naming
/// both flags, before it builds or starts anything.
#[test]
fn serve_refuses_tenant_isolation_with_what_it_does_not_go_with() {
    for other in [
        &["--snap-start"][..],
        &["--provisioned-concurrency", "1"],
        &["--managed-instances"],
        &["--url-port", "0"],
    ] {
        let mut args = vec!["serve", "--tenant-isolation"];
        args.extend_from_slice(other);
        let out = run(&args, Duration::from_secs(30));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--tenant-isolation") && stderr.contains(other[0]),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing was served");
    }
}
