//! The CloudWatch source end to end: the real binary, through the AWS SDK for Rust, against
//! moto's CloudWatch Logs API on 127.0.0.1 seeded with `put-log-events` — the same answer as
//! the files give, paginated, filtered server-side; and the failures a user meets (no
//! credentials, a missing log group, throttling) each end in one clear line and exit code 2.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::moto::Moto;
use support::*;

/// Runs the tool with AWS settings from the arguments only: no shared config files, no
/// instance metadata, so nothing on this machine leaks in.
fn run_aws(args: &[&str], credentials: bool) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if credentials {
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
    }
    cmd.output().expect("run coldmark-explain")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The scenario as Lambda would have logged it: per stream, the platform's lines around the
/// markers. Returns the scenario and how many non-marker lines were put.
fn seed(moto: &Moto, t0: i64) -> (Scenario, usize) {
    let s = Scenario::day_at(t0);
    let mut by_group: std::collections::BTreeMap<String, Vec<(String, i64, String)>> =
        Default::default();
    let mut platform = 0;
    for l in &s.lines {
        let group = format!(
            "/aws/lambda/{}",
            l.marker["function_name"].as_str().unwrap()
        );
        let events = by_group.entry(group).or_default();
        events.push((l.stream.clone(), l.written_ms, l.marker.to_string()));
        events.push((
            l.stream.clone(),
            l.written_ms + 1,
            "REPORT RequestId: 8476a536 Duration: 3.25 ms".to_owned(),
        ));
        platform += 1;
    }
    for (group, events) in &by_group {
        moto.seed(group, events);
    }
    (s, platform)
}

#[test]
#[ignore = "needs moto[server]; `bash .ci/run` installs it and runs this test"]
fn pulls_log_groups_page_by_page_with_the_same_answer_as_files() {
    let moto = Moto::start();
    let t0 = now_ms() - 3_600_000;
    let (s, platform) = seed(&moto, t0);
    let start = (t0 - 60_000).to_string();
    let end = (now_ms() + 60_000).to_string();
    let endpoint = moto.endpoint();
    let base = [
        "--json",
        "--endpoint-url",
        &endpoint,
        "--log-group",
        "/aws/lambda/clock",
        "--log-group",
        "/aws/lambda/api",
        "--start",
        &start,
        "--end",
        &end,
    ];
    // Small pages: the pagination is exercised (19 markers → 7 pages in clock).
    let mut args = base.to_vec();
    args.extend(["--page-size", "3"]);
    let out = run_aws(&args, true);
    assert_expected(&s, &out, "CloudWatch via moto");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The default filter pattern kept the platform's lines on the server.
    assert!(
        stderr.contains(&format!("read {} lines", s.lines.len())),
        "{stderr}"
    );
    assert!(stderr.contains("0 other lines skipped"), "{stderr}");

    // The same records as the file source.
    let file = run(&["--json"], Scenario::day_at(t0).ndjson().as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&file.stdout)
    );

    // No filter pattern: every line comes, and the platform's lines are skipped and counted.
    let mut args = base.to_vec();
    args.extend(["--filter-pattern", ""]);
    let out = run_aws(&args, true);
    assert_expected(&s, &out, "CloudWatch via moto, unfiltered");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{platform} other lines skipped")),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs moto[server]; `bash .ci/run` installs it and runs this test"]
fn missing_credentials_and_missing_log_group_are_one_clear_line() {
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let args = [
        "--endpoint-url",
        &endpoint,
        "--log-group",
        "/aws/lambda/nowhere",
    ];
    let out = run_aws(&args, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("no AWS credentials"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("standard AWS credential chain"), "{line}");
    assert!(line.contains("AWS_ACCESS_KEY_ID"), "{line}");

    let out = run_aws(&args, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("log group /aws/lambda/nowhere not found"),
        "{stderr}"
    );
}

/// A CloudWatch Logs endpoint that throttles every request, as the service does under load.
fn throttling_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, requests)
}

#[test]
fn throttling_is_retried_with_backoff_then_names_the_log_group() {
    let (url, requests) = throttling_server();
    let out = run_aws(
        &[
            "--endpoint-url",
            &url,
            "--log-group",
            "/aws/lambda/busy",
            "--max-attempts",
            "3",
        ],
        true,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        3,
        "three attempts: {stderr}"
    );
    assert!(
        stderr.contains(
            "kept throttling FilterLogEvents on log group /aws/lambda/busy after 3 attempts"
        ),
        "{stderr}"
    );
}
