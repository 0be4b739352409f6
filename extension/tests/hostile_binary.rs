//! The real `coldmark` binary where things go wrong on purpose: telemetry split by a freeze or
//! delivered twice, forged and oversized posts to the listener, a stdout nobody reads, a short
//! shutdown deadline, APIs that never answer, a subscription that delivers nothing, a collector
//! that redirects, proxy variables in the function's environment. Every test drives the
//! process over real sockets (127.0.0.1) and reads what a user would read: the markers, the
//! `shutdown` marker's `dropped`, the warnings on stderr. docs/security.md names the claim each
//! one proves.

use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use coldmark_testkit::median::median;
use coldmark_testkit::{fake_lambda, http_collector};
use fake_lambda::{init_records, invoke_records, record, FakeLambda, Finished, Telemetry};
use http_collector::{Act, Collector};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");

const EXIT_LIMIT: Duration = Duration::from_secs(10);
/// Lambda's shutdown phase for external extensions.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);
/// The median INVOKE → next `/event/next` docs/security.md promises (healthy: well under 1 ms).
/// A median, because one gap on a loaded 2-core machine can be anything; an invocation that
/// waited for a batch, a pipe or a collector would move the median, not one sample.
const GAP_BOUND: Duration = Duration::from_millis(50);
/// Tests whose bound is wall-clock time take this, and so does the one that streams 64 MiB:
/// they never run side by side within this binary.
static TIMED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const HEADER_SECRET: &str = "hdr-secret-value-77";
const QUERY_SECRET: &str = "qs-secret-99";

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

/// INVOKE, and how long until the extension asked for the next event.
async fn invoke_timed(lambda: &FakeLambda, id: &str, nth_next: usize) -> Duration {
    let sent = Instant::now();
    lambda.invoke(id);
    lambda.wait_next(nth_next).await;
    lambda.next_times()[nth_next - 1] - sent
}

#[tokio::test]
async fn an_init_split_by_the_freeze_keeps_its_figures() {
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let coldmark = lambda.spawn_ready(COLDMARK, &[]).await;
    let start = Utc::now() - ms(200);
    let init = init_records(start, 80, 120);
    // Before the first INVOKE: what the 25 ms buffer released during a 120 ms init.
    let early = vec![
        init[0].clone(),
        init[1].clone(),
        record(
            "platform.telemetrySubscription",
            start + ms(5),
            json!({"name": "coldmark", "state": "Subscribed", "types": ["platform"]}),
        ),
    ];
    lambda.deliver(&early).await;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    // Frozen after the first invocation; thawed by the second INVOKE, then the rest arrives.
    lambda.invoke("req-2");
    lambda.wait_next(3).await;
    let mut late = vec![init[2].clone(), init[3].clone()];
    late.extend(invoke_records("req-1", start + ms(121), Some(120.0)));
    lambda.deliver(&late).await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;

    let kinds = out.kinds();
    assert_eq!(kinds, ["init", "invoke", "shutdown"], "{}", out.stdout);
    let init = &out.of_kind("init")[0];
    assert_eq!(init["source"], "telemetry");
    assert_eq!(init["env_id"], "instance-0001");
    assert_eq!(init["init_duration_ms"], 120.0, "{init}");
    assert!(!init["runtime_init_ms"].is_null(), "{init}");
    assert_eq!(init["InitDuration"], 120.0);
    assert_eq!(out.of_kind("invoke")[0]["init_duration_ms"], 120.0);
}

#[tokio::test]
async fn a_redelivered_batch_counts_one_cold_start() {
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let coldmark = lambda.spawn_ready(COLDMARK, &[]).await;
    let start = Utc::now();
    let init = init_records(start, 40, 55);
    lambda.deliver(&init).await;
    lambda.deliver(&init).await;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    let invoked = invoke_records("req-1", start + ms(56), Some(55.0));
    lambda.deliver(&invoked).await;
    // And once more after the markers went out.
    let mut both = init.clone();
    both.extend(invoked);
    lambda.deliver(&both).await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;

    let kinds = out.kinds();
    assert_eq!(kinds, ["init", "invoke", "shutdown"], "{}", out.stdout);
    let cold_starts: i64 = out
        .markers()
        .iter()
        .filter_map(|m| m["ColdStart"].as_i64())
        .sum();
    assert_eq!(cold_starts, 1, "one ColdStart metric per environment");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

/// Sends one raw HTTP/1.1 request; returns the status code, or `None` when the server closed
/// the connection without an answer.
async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: sandbox.localdomain\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    // The server may answer (and close) before the body is through: keep the answer.
    let _ = stream.write_all(body).await;
    read_status(&mut stream).await
}

async fn read_status(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<u16> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
            if answer.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    let line = String::from_utf8_lossy(&answer).to_string();
    line.split(' ').nth(1)?.parse().ok()
}

#[tokio::test]
async fn forged_posts_to_the_listener_are_refused_unread() {
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let coldmark = lambda.spawn_ready(COLDMARK, &[]).await;
    let (addr, path) = lambda.listener();
    assert!(path.len() >= 32, "an unguessable path: {path}");
    assert_ne!(path, "/");

    // What a function, another extension or the network could send.
    let start = Utc::now();
    let mut forged = init_records(start, 1, 99_999);
    forged[0]["record"]["instanceId"] = json!("forged-env");
    forged[0]["record"]["initializationType"] = json!("provisioned-concurrency");
    let forged = serde_json::to_vec(&forged).unwrap();
    let json_type = ("Content-Type", "application/json".to_string());
    let length = ("Content-Length", forged.len().to_string());
    for (method, target, want) in [
        ("POST", "/".to_string(), 404),
        ("POST", "/telemetry".to_string(), 404),
        ("POST", format!("{path}x"), 404),
        ("PUT", path.clone(), 405),
        ("GET", path.clone(), 405),
    ] {
        let status = raw_request(
            addr,
            method,
            &target,
            &[json_type.clone(), length.clone()],
            &forged,
        )
        .await;
        assert_eq!(status, Some(want), "{method} {target}");
    }
    // Not JSON either, on a wrong path: not even read, so no "not a JSON array" warning.
    let garbage = b"not json at all".to_vec();
    let status = raw_request(
        addr,
        "POST",
        "/",
        &[("Content-Length", garbage.len().to_string())],
        &garbage,
    )
    .await;
    assert_eq!(status, Some(404));

    // The real records, on the subscribed path.
    lambda.deliver(&init_records(start, 40, 55)).await;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    lambda
        .post_telemetry(&invoke_records("req-1", start + ms(56), Some(55.0)))
        .await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;

    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert_eq!(out.kinds(), ["init", "invoke", "shutdown"]);
    let init = &out.of_kind("init")[0];
    assert_eq!(init["env_id"], "instance-0001");
    assert_eq!(init["init_type"], "on-demand");
    assert_eq!(init["init_duration_ms"], 55.0);
    assert!(out.markers().iter().all(|m| m["env_id"] == "instance-0001"));
}

/// A batch far over any size Lambda sends (64 MiB, declared or streamed), and a large valid
/// one, while invocations go on: the oversized ones are refused, the valid one is parsed, and
/// no invocation waits for either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_batches_never_hold_an_invocation() {
    let _alone = TIMED.lock().await;
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let coldmark = lambda
        .spawn_ready(COLDMARK, &[("COLDMARK_INVOKE_MARKERS", "none")])
        .await;
    let (addr, path) = lambda.listener();
    let start = Utc::now();
    lambda.deliver(&init_records(start, 40, 55)).await;

    const HUGE: usize = 64 * 1024 * 1024;
    let declared = {
        let path = path.clone();
        tokio::spawn(async move {
            // The head alone: the answer must come without the body being read (or sent).
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: sandbox.localdomain\r\n\
                 Content-Length: {HUGE}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            read_status(&mut stream).await
        })
    };
    let streamed = {
        let path = path.clone();
        tokio::spawn(async move {
            // No length declared: only the bytes tell. The answer is read while the body is
            // still being sent, as a client that streams must: the server answers mid-body.
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut answer, mut body) = stream.into_split();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: sandbox.localdomain\r\n\
                 Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            body.write_all(head.as_bytes()).await.unwrap();
            let send = async move {
                let chunk = vec![b'['; 1024 * 1024];
                let mut sent = 0usize;
                for _ in 0..64 {
                    let size = format!("{:x}\r\n", chunk.len());
                    if body.write_all(size.as_bytes()).await.is_err()
                        || body.write_all(&chunk).await.is_err()
                        || body.write_all(b"\r\n").await.is_err()
                    {
                        break;
                    }
                    sent += chunk.len();
                }
                sent
            };
            let (status, sent) = tokio::join!(read_status(&mut answer), send);
            (status, sent)
        })
    };
    // About 3.5 MiB of valid records: parsed, on coldmark's telemetry thread.
    let valid: Vec<Value> = (0..20_000)
        .map(|i| {
            record(
                "platform.start",
                start + ms(100),
                json!({"requestId": format!("bulk-{i:08}"), "version": "$LATEST"}),
            )
        })
        .collect();
    let valid = serde_json::to_vec(&valid).unwrap();
    let valid_len = valid.len();
    let parsed = {
        let path = path.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            let status = raw_request(
                addr,
                "POST",
                &path,
                &[
                    ("Content-Type", "application/json".to_string()),
                    ("Content-Length", valid_len.to_string()),
                ],
                &valid,
            )
            .await;
            (status, sent, Instant::now())
        })
    };

    // (sent, answered) of every invocation while the three posts are in flight.
    let mut invocations = Vec::new();
    let mut n = 1;
    while !(declared.is_finished() && streamed.is_finished() && parsed.is_finished()) && n < 2000 {
        n += 1;
        let sent = Instant::now();
        let gap = invoke_timed(&lambda, &format!("req-{n}"), n).await;
        invocations.push((sent, sent + gap));
    }
    let declared = declared.await.unwrap();
    let (streamed, streamed_bytes) = streamed.await.unwrap();
    let (valid_status, valid_sent, valid_answered) = parsed.await.unwrap();
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;

    assert_eq!(declared, Some(413), "a declared 64 MiB batch is refused");
    assert_eq!(streamed, Some(413), "a streamed 64 MiB batch is refused");
    assert!(
        streamed_bytes < HUGE,
        "the streamed batch was read to its end before the refusal"
    );
    assert_eq!(valid_status, Some(200), "the large valid batch is taken");
    // Begun and answered while the valid batch was read and parsed: had the parse run on the
    // thread that answers INVOKE, at most one invocation could fit inside it.
    let gaps: Vec<Duration> = invocations.iter().map(|(s, a)| *a - *s).collect();
    let inside: Vec<Duration> = invocations
        .iter()
        .filter(|(s, a)| *s > valid_sent && *a < valid_answered)
        .map(|(s, a)| *a - *s)
        .collect();
    eprintln!(
        "{} invocations, {} begun and answered while the valid batch was read and parsed \
         ({:?}); INVOKE → /next median {:?}, longest {:?}; streamed batch refused after {} MiB",
        gaps.len(),
        inside.len(),
        valid_answered - valid_sent,
        median(&gaps),
        gaps.iter().max().copied().unwrap_or_default(),
        streamed_bytes / (1024 * 1024)
    );
    assert!(
        inside.len() >= 10,
        "{} invocation(s) fit inside the parse",
        inside.len()
    );
    assert!(
        median(&inside) < GAP_BOUND,
        "invocations were held: median {:?}",
        median(&inside)
    );
    assert_eq!(out.kinds(), ["init", "shutdown"]);
    assert_eq!(out.of_kind("init")[0]["init_duration_ms"], 55.0);
}

/// A pipe of one page whose read end is kept open and never read: stdout blocks for good.
fn unread_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: plain syscalls on descriptors this function creates and hands out owned.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

#[tokio::test]
async fn a_stdout_nobody_reads_costs_counted_markers_never_the_deadline() {
    let lambda = FakeLambda::start(Telemetry::NotSupported).await;
    let _alone = TIMED.lock().await;
    let (read_end, write_end) = unread_pipe();
    let env = lambda.lambda_env(&[("COLDMARK_INVOKE_MARKERS", "all")]);
    let coldmark = FakeLambda::spawn_with_stdout(COLDMARK, &env, Stdio::from(write_end));
    lambda.wait_next(1).await;
    // Enough markers to fill the pipe and the whole stdout queue behind it.
    let invocations = 1200;
    let mut gaps = Vec::new();
    for i in 1..=invocations {
        gaps.push(invoke_timed(&lambda, &format!("req-{i}"), i + 1).await);
    }
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
    let mut written = String::new();
    std::fs::File::from(read_end)
        .read_to_string(&mut written)
        .unwrap();

    eprintln!(
        "SHUTDOWN → exit {:?}; {} line(s) reached the pipe; INVOKE → /next median {:?}",
        out.exit_after,
        written.lines().count(),
        median(&gaps)
    );
    assert!(out.status.success());
    assert!(
        out.exit_after < SHUTDOWN_DEADLINE,
        "exit took {:?}",
        out.exit_after
    );
    assert!(
        median(&gaps) < GAP_BOUND,
        "invocations were held: median {:?}",
        median(&gaps)
    );
    let report: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("stdout is closed or not being read"))
        .collect();
    assert_eq!(report.len(), 1, "{}", out.stderr);
    let lost: u64 = report[0]
        .split(": ")
        .nth(2)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {:?}", report[0]));
    // Every marker either reached the pipe or is counted: init, each invoke, shutdown.
    let total = 1 + invocations as u64 + 1;
    assert_eq!(written.lines().count() as u64 + lost, total);
    assert!(written
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));
}

#[tokio::test]
async fn a_300_ms_shutdown_deadline_is_kept() {
    let _alone = TIMED.lock().await;
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let coldmark = lambda.spawn_ready(COLDMARK, &[]).await;
    let start = Utc::now();
    lambda.post_telemetry(&init_records(start, 40, 55)).await;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    // The report of req-1 never comes: coldmark waits for it only as long as the deadline
    // allows.
    lambda.shutdown_within("spindown", Duration::from_millis(300));
    let out = coldmark.finish(EXIT_LIMIT).await;
    eprintln!("SHUTDOWN → exit {:?}", out.exit_after);
    assert!(
        out.exit_after < Duration::from_millis(300),
        "exit took {:?}",
        out.exit_after
    );
    assert_eq!(out.kinds(), ["init", "invoke", "shutdown"]);
    assert_eq!(out.of_kind("shutdown")[0]["dropped"], 0);
}

#[tokio::test]
async fn a_subscription_that_never_answers_costs_at_most_the_init_budget() {
    let lambda = FakeLambda::start(Telemetry::Hangs).await;
    let coldmark = lambda.spawn_ready(COLDMARK, &[]).await;
    let init = lambda.next_times()[0] - coldmark.spawned_at;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
    eprintln!("spawn → first /event/next {init:?}");
    assert!(
        init >= Duration::from_millis(1900) && init < Duration::from_secs(3),
        "init took {init:?} (budget 2 s)"
    );
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains("init budget of 2000 ms"),
        "{}",
        warnings[0]
    );
    assert_eq!(out.kinds(), ["init", "invoke", "shutdown"]);
    assert_eq!(out.of_kind("init")[0]["source"], "extension");
}

#[tokio::test]
async fn a_registration_that_never_answers_ends_within_the_init_budget() {
    let lambda = FakeLambda::start_with(Telemetry::Supported, true).await;
    let coldmark = FakeLambda::spawn(COLDMARK, &lambda.lambda_env(&[]));
    let spawned = coldmark.spawned_at;
    let out = coldmark.finish(EXIT_LIMIT).await;
    let lived = spawned.elapsed();
    eprintln!("spawn → exit {lived:?}");
    assert!(out.status.success());
    assert!(
        lived < Duration::from_secs(3),
        "lived {lived:?} (budget 2 s)"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("init budget of 2000 ms"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("coldmark is off"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_subscription_still_gets_its_init_marker_before_shutdown() {
    let collector = Collector::start(vec![Act::ok()]).await;
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let vars = [
        ("COLDMARK_INVOKE_MARKERS", "none"),
        ("COLDMARK_SINK", "stdout,http"),
        ("COLDMARK_HTTP_ENDPOINT", &collector.url()),
    ];
    let coldmark = lambda.spawn_ready(COLDMARK, &vars).await;
    // Subscribed (200), but not one record ever arrives.
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    lambda.invoke("req-2");
    lambda.wait_next(3).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    lambda.invoke("req-3");
    lambda.wait_next(4).await;
    let seen = collector.wait_requests(1, Duration::from_secs(5)).await;
    let before_shutdown = collector.accepted_lines();
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;

    assert!(seen >= 1, "nothing was sent before SHUTDOWN");
    assert_eq!(before_shutdown.len(), 1, "{before_shutdown:?}");
    let init: Value = serde_json::from_str(&before_shutdown[0]).unwrap();
    assert_eq!(init["coldmark"], "init");
    assert_eq!(init["source"], "extension");
    assert!(init["coldmark_init_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(out.kinds(), ["init", "shutdown"]);
}

/// Runs one environment with the HTTP sink on `endpoint`: three invocations, every one with
/// a marker, telemetry not supported (markers at once).
async fn with_sink(endpoint: &str, extra: &[(&str, &str)]) -> Finished {
    let lambda = FakeLambda::start(Telemetry::NotSupported).await;
    let headers = format!("X-ClickHouse-Key={HEADER_SECRET}");
    let mut vars: Vec<(&str, &str)> = vec![
        ("COLDMARK_SINK", "stdout,http"),
        ("COLDMARK_INVOKE_MARKERS", "all"),
        ("COLDMARK_HTTP_BACKOFF_MS", "50"),
        ("COLDMARK_HTTP_HEADERS", &headers),
        ("COLDMARK_HTTP_ENDPOINT", endpoint),
    ];
    vars.extend_from_slice(extra);
    let coldmark = lambda.spawn_ready(COLDMARK, &vars).await;
    let mut gaps = Vec::new();
    for i in 1..=3 {
        gaps.push(invoke_timed(&lambda, &format!("req-{i}"), i + 1).await);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(median(&gaps) < GAP_BOUND, "INVOKE → /next took {gaps:?}");
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
    assert!(out.status.success());
    assert!(out.exit_after < SHUTDOWN_DEADLINE, "{:?}", out.exit_after);
    for secret in [HEADER_SECRET, QUERY_SECRET] {
        assert!(
            !out.stderr.contains(secret) && !out.stdout.contains(secret),
            "{secret} was printed:\n{}",
            out.stderr
        );
    }
    out
}

fn dropped(out: &Finished) -> u64 {
    out.of_kind("shutdown")[0]["dropped"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_failed_deliveries_and_carry_nothing_elsewhere() {
    for status in [301u16, 302, 307, 308] {
        let elsewhere = Collector::start(vec![Act::ok()]).await;
        let location = format!("http://{}/moved?token={QUERY_SECRET}", elsewhere.addr);
        let collector =
            Collector::start(vec![Act::Status(status, vec![("Location", location)])]).await;
        let out = with_sink(&collector.url(), &[]).await;

        assert!(
            elsewhere.seen().is_empty(),
            "{status}: the redirect was followed: {:?}",
            elsewhere.seen()
        );
        assert!(!collector.seen().is_empty());
        // Nothing counts as delivered: every marker before the shutdown marker is dropped.
        let before_shutdown = out.markers().len() as u64 - 1;
        assert_eq!(dropped(&out), before_shutdown, "{status}");
        let warnings = out.stderr_lines_with("http sink");
        assert_eq!(warnings.len(), 1, "{status}: {}", out.stderr);
        assert!(warnings[0].contains(&status.to_string()), "{}", warnings[0]);
        assert!(
            warnings[0].contains(&elsewhere.addr.to_string()),
            "names the Location's host: {}",
            warnings[0]
        );
        assert!(!warnings[0].contains("moved"), "{}", warnings[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_variables_of_the_function_are_not_used() {
    let proxy = Collector::start(vec![Act::ok()]).await;
    let collector = Collector::start(vec![Act::ok()]).await;
    let proxy_url = format!("http://{}", proxy.addr);
    let proxies: Vec<(&str, &str)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ]
    .into_iter()
    .map(|name| (name, proxy_url.as_str()))
    .collect();
    let out = with_sink(&collector.url(), &proxies).await;
    assert!(proxy.seen().is_empty(), "the proxy saw {:?}", proxy.seen());
    assert_eq!(dropped(&out), 0);
    assert!(!collector.accepted_lines().is_empty());

    // COLDMARK_HTTP_PROXY is the way to use one.
    let mut vars = proxies.clone();
    vars.push(("COLDMARK_HTTP_PROXY", &proxy_url));
    let direct = Collector::start(vec![Act::ok()]).await;
    let out = with_sink(&direct.url(), &vars).await;
    assert!(direct.seen().is_empty(), "went around COLDMARK_HTTP_PROXY");
    let via = proxy.seen();
    assert!(!via.is_empty());
    assert!(
        via[0].path.starts_with(&format!("http://{}/", direct.addr)),
        "a proxy request names the target: {}",
        via[0].path
    );
    assert_eq!(dropped(&out), 0);
}

#[tokio::test]
async fn credentials_are_not_sent_over_plain_http_to_a_public_address() {
    // 203.0.113.7 (TEST-NET-3) is never contacted: the sink refuses to start.
    let out = with_sink("http://203.0.113.7:8123/ingest", &[]).await;
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("COLDMARK_HTTP"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(warnings[0].contains("COLDMARK_HTTP_HEADERS"));
    assert!(warnings[0].contains("COLDMARK_HTTP_ALLOW_PLAINTEXT_HEADERS"));
    assert!(!warnings[0].contains("203.0.113.7"));
    assert_eq!(
        out.kinds(),
        ["init", "invoke", "invoke", "invoke", "shutdown"]
    );
    assert_eq!(dropped(&out), 0);
}
