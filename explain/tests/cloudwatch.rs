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
    // Small pages: the pagination is exercised, counted on the wire by a proxy in front of
    // moto.
    let (proxy, pages) = counting_proxy(moto.port);
    let mut args = base.to_vec();
    args.extend(["--page-size", "3"]);
    args[2] = proxy.as_str();
    let out = run_aws(&args, true);
    assert_expected(&s, &out, "CloudWatch via moto");
    // Pages of 3 events: at least ceil(n / 3) requests per log group (a server may also
    // answer a page short of the size, never one longer).
    let fetched = pages.load(Ordering::SeqCst);
    let per_group = |f: &str| {
        s.lines
            .iter()
            .filter(|l| l.marker["function_name"] == f)
            .count()
    };
    let (clock, api) = (per_group("clock"), per_group("api"));
    let least = clock.div_ceil(3) + api.div_ceil(3);
    assert!(least >= 7, "the scenario pages: {clock} + {api} markers");
    assert!(
        fetched >= least,
        "{fetched} FilterLogEvents requests for {clock} + {api} markers in pages of 3"
    );
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

    // --function on CloudWatch: only clock's inits, with the causes the whole run gives them.
    let mut args = base.to_vec();
    args.extend(["--function", "clock"]);
    let out = run_aws(&args, true);
    assert_only_clock(&s, &out, "CloudWatch, --function");

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

/// A TCP proxy to moto on `port` that counts the FilterLogEvents requests passing through
/// (each carries its `X-Amz-Target` header): the pages the tool really fetched.
fn counting_proxy(port: u16) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let pages = Arc::new(AtomicUsize::new(0));
    let counter = pages.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let counter = counter.clone();
            std::thread::spawn(move || {
                let needle = b"logs_20140328.filterlogevents";
                let mut window: Vec<u8> = Vec::new();
                let mut buf = [0u8; 8192];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    window.extend(buf[..n].iter().map(u8::to_ascii_lowercase));
                    while let Some(at) = window.windows(needle.len()).position(|w| w == needle) {
                        counter.fetch_add(1, Ordering::SeqCst);
                        window.drain(..at + needle.len());
                    }
                    let keep = window.len().saturating_sub(needle.len());
                    window.drain(..keep);
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (url, pages)
}

/// A CloudWatch Logs endpoint that throttles every request, as the service does under load;
/// it records when each request came.
fn throttling_server() -> (String, Arc<std::sync::Mutex<Vec<std::time::Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let arrivals = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            arrivals.lock().unwrap().push(std::time::Instant::now());
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
            "5",
        ],
        true,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let arrivals = requests.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 5, "five attempts: {stderr}");
    // The backoff: the SDK's standard retry waits up to 200 ms × 2^n before attempt n + 1,
    // times a random factor in [0, 1) (full jitter). So the four waits add up to at most
    // 3.0 s, and, unless all four factors are tiny (about 1 chance in 10,000 of under 50 ms),
    // clearly more than back-to-back attempts (a millisecond or so each).
    let waited = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        waited >= std::time::Duration::from_millis(50),
        "attempts {waited:?} apart in all: no backoff"
    );
    assert!(
        waited <= std::time::Duration::from_millis(3_000 + 500),
        "{waited:?}: longer than the documented backoff"
    );
    assert!(
        stderr.contains(
            "kept throttling FilterLogEvents on log group /aws/lambda/busy after 5 attempts"
        ),
        "{stderr}"
    );
}
