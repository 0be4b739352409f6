//! The real `coldmark` binary with `COLDMARK_SINK=stdout,http`, against the fake Extensions +
//! Telemetry API: markers reach a real ClickHouse exactly as written on stdout, the shipped
//! queries answer on them, and with a collector that is down, slow, failing, refusing or
//! resetting, invocations are never held, shutdown ends inside Lambda's 2 s deadline, and the
//! `shutdown` marker's `dropped` tells how many markers did not arrive.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use clickhouse::{assert_json_eq, assert_stored_intact, shipped_queries, ClickHouse};
use coldmark_testkit::median::median;
use coldmark_testkit::{clickhouse, fake_lambda, http_collector};
use fake_lambda::{init_records, invoke_records, FakeLambda, Finished, Telemetry};
use http_collector::{refused_addr, Act, Collector};
use serde_json::{json, Value};

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");

/// Lambda's shutdown phase for external extensions.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);
/// What "never held" means here, for the median of a run's INVOKE → /next gaps: well under
/// 1 ms when healthy; 50 ms is a bound no network wait fits under, and the median of a fixed
/// number of invocations does not miss it on a loaded machine (a single gap might).
const GAP_BOUND: Duration = Duration::from_millis(50);
/// The sink's request timeout at its default (`COLDMARK_HTTP_TIMEOUT_MS`, docs/configuration.md):
/// an invocation held for a request to a slow or absent collector waits at least this long, so no
/// single gap may reach it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Invocations in each fault scenario: the median of their gaps is what is bounded.
const FAULT_INVOCATIONS: usize = 5;
const HEADER_SECRET: &str = "hdr-secret-value-77";

/// Runs one environment: init, `invocations` INVOKEs (each gap measured), SHUTDOWN.
/// Returns the process's output and every INVOKE → /event/next gap, in order.
async fn run_environment(
    telemetry: Telemetry,
    vars: &[(&str, &str)],
    invocations: usize,
) -> (Finished, Vec<Duration>) {
    let lambda = FakeLambda::start(telemetry).await;
    let init_start = Utc::now();
    let coldmark = lambda.spawn_ready(COLDMARK, vars).await;
    if telemetry == Telemetry::Supported {
        lambda.deliver(&init_records(init_start, 40, 55)).await;
    }
    let mut gaps = Vec::with_capacity(invocations);
    for i in 1..=invocations {
        let id = format!("req-{i}");
        let sent = Instant::now();
        lambda.invoke(&id);
        lambda.wait_next(i + 1).await;
        gaps.push(lambda.next_times()[i] - sent);
        if telemetry == Telemetry::Supported {
            let init = (i == 1).then_some(55.0);
            lambda
                .post_telemetry(&invoke_records(&id, Utc::now(), init))
                .await;
        }
        // The function "runs" a little while: the sink's background sending happens here.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    lambda.shutdown("spindown");
    let out = coldmark.finish(Duration::from_secs(10)).await;
    assert!(out.status.success(), "{:?}\n{}", out.status, out.stderr);
    assert!(
        !out.stderr.contains(HEADER_SECRET) && !out.stdout.contains(HEADER_SECRET),
        "a header value was printed"
    );
    (out, gaps)
}

fn dropped_in_shutdown_marker(out: &Finished) -> u64 {
    let shutdown = out.of_kind("shutdown");
    assert_eq!(shutdown.len(), 1, "{}", out.stdout);
    shutdown[0]["dropped"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs clickhouse-server; `bash .ci/run` installs it and runs this test"]
async fn markers_reach_clickhouse_intact_and_the_queries_answer() {
    let server = ClickHouse::start();
    let endpoint = server.insert_endpoint();
    let headers = format!("X-Coldmark-Test={HEADER_SECRET}");
    let (out, gaps) = run_environment(
        Telemetry::Supported,
        &[
            ("COLDMARK_SINK", "stdout,http"),
            ("COLDMARK_HTTP_ENDPOINT", &endpoint),
            ("COLDMARK_HTTP_HEADERS", &headers),
            ("COLDMARK_HTTP_GZIP", "true"),
            ("COLDMARK_INVOKE_MARKERS", "all"),
        ],
        3,
    )
    .await;
    assert!(median(&gaps) < GAP_BOUND, "INVOKE → /next took {gaps:?}");
    assert!(
        out.stderr.is_empty(),
        "no warnings expected: {}",
        out.stderr
    );
    let lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    assert_eq!(
        out.kinds(),
        ["init", "invoke", "invoke", "invoke", "shutdown"]
    );
    assert_eq!(dropped_in_shutdown_marker(&out), 0);
    assert_stored_intact(&server, &lines);

    let expected: HashMap<&str, Value> = HashMap::from([
        ("cold_starts_per_5min", json!([{"cold_starts": 1}])),
        (
            "init_duration_by_version",
            json!([{"function_version": "$LATEST", "inits": 1, "p50_ms": 55, "max_ms": 55}]),
        ),
        ("config_change_cold_starts", json!([])),
        (
            "proactive_vs_user_facing",
            json!([{"init_type": "on-demand", "proactive": 0, "inits": 1, "avg_init_ms": 55}]),
        ),
        (
            "environment_lifetime_by_reason",
            json!([{"reason": "spindown", "environments": 1, "max_invocations": 3,
                    "dropped_markers": 0}]),
        ),
        (
            "cold_invocation_share",
            json!([{"invocations": 3, "cold": 1}]),
        ),
    ]);
    for (name, sql) in shipped_queries() {
        let rows = server.rows(&sql);
        let want = &expected[name.as_str()];
        // Compare only the columns this run determines (the others are covered with a known
        // data set in http_clickhouse.rs).
        let picked: Vec<Value> = rows
            .iter()
            .zip(want.as_array().unwrap())
            .map(|(row, w)| {
                let keys = w.as_object().unwrap().keys();
                Value::Object(keys.map(|k| (k.clone(), row[k].clone())).collect())
            })
            .collect();
        assert_eq!(
            rows.len(),
            want.as_array().unwrap().len(),
            "{name}: {rows:?}"
        );
        assert_json_eq(&name, &Value::Array(picked), want);
        if name == "cold_invocation_share" {
            let pct = rows[0]["cold_pct"].as_f64().unwrap();
            assert!((pct - 100.0 / 3.0).abs() < 1e-6, "cold_pct {pct}");
        }
    }
}

/// One fault scenario: the collector's behaviour and what the user must see.
async fn fault(collector_url: String, extra: &[(&str, &str)]) -> Finished {
    let mut vars: Vec<(&str, &str)> = vec![
        ("COLDMARK_SINK", "stdout,http"),
        ("COLDMARK_INVOKE_MARKERS", "all"),
        ("COLDMARK_HTTP_BACKOFF_MS", "50"),
    ];
    vars.extend_from_slice(extra);
    vars.push(("COLDMARK_HTTP_ENDPOINT", &collector_url));
    let (out, gaps) = run_environment(Telemetry::NotSupported, &vars, FAULT_INVOCATIONS).await;
    eprintln!(
        "INVOKE → /next gaps {gaps:?}, SHUTDOWN → exit {:?}, dropped {}",
        out.exit_after,
        dropped_in_shutdown_marker(&out)
    );
    assert_eq!(gaps.len(), FAULT_INVOCATIONS);
    assert!(
        median(&gaps) < GAP_BOUND,
        "invocations were held: median of {gaps:?}"
    );
    let longest = gaps.iter().max().copied().unwrap_or_default();
    assert!(
        longest < REQUEST_TIMEOUT,
        "an invocation waited as long as a request to the collector: {gaps:?}"
    );
    assert!(
        out.exit_after < SHUTDOWN_DEADLINE,
        "shutdown took {:?}",
        out.exit_after
    );
    out
}

/// The lines coldmark wrote to stdout and those the collector accepted, each sorted: equal when
/// every marker was delivered exactly once, whatever the order.
fn written_and_delivered(out: &Finished, collector: &Collector) -> (Vec<String>, Vec<String>) {
    let mut written: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    let mut delivered = collector.accepted_lines();
    written.sort();
    delivered.sort();
    (written, delivered)
}

/// Markers written before the `shutdown` marker (which cannot count itself).
fn before_shutdown(out: &Finished) -> u64 {
    out.markers().len() as u64 - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_counts_every_marker_as_dropped() {
    let addr = refused_addr().await;
    let out = fault(format!("http://{addr}/ingest"), &[]).await;
    // The init marker and one per invocation, every one of them dropped.
    assert_eq!(
        before_shutdown(&out),
        1 + FAULT_INVOCATIONS as u64,
        "{}",
        out.stdout
    );
    assert_eq!(dropped_in_shutdown_marker(&out), before_shutdown(&out));
    // One clear warning, not one per marker or per invocation.
    let sink_warnings = out.stderr_lines_with("http sink");
    assert_eq!(sink_warnings.len(), 1, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_collector_times_out_without_holding_anything() {
    // Default timeout (1 s) and retries: the budget logic, not a short timeout, keeps
    // shutdown inside the deadline.
    let collector = Collector::start(vec![Act::Slow(Duration::from_secs(5))]).await;
    let out = fault(collector.url(), &[]).await;
    assert_eq!(dropped_in_shutdown_marker(&out), before_shutdown(&out));
    assert!(!collector.seen().is_empty(), "the sink did try");
    let sink_warnings = out.stderr_lines_with("http sink");
    assert_eq!(sink_warnings.len(), 1, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_then_success_delivers_every_marker_once() {
    let collector = Collector::start(vec![Act::status(500), Act::ok()]).await;
    let out = fault(collector.url(), &[]).await;
    assert_eq!(dropped_in_shutdown_marker(&out), 0);
    let (written, delivered) = written_and_delivered(&out, &collector);
    assert_eq!(
        delivered, written,
        "every marker exactly once, as on stdout"
    );
    assert_eq!(collector.seen()[0].act, "status 500");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_error_is_not_retried_and_counted() {
    let collector = Collector::start(vec![Act::status(400)]).await;
    let out = fault(collector.url(), &[]).await;
    assert_eq!(dropped_in_shutdown_marker(&out), before_shutdown(&out));
    // Not retried: no marker was sent twice.
    let mut sent: Vec<String> = collector.seen().iter().flat_map(|s| s.lines()).collect();
    let total = sent.len();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), total, "a 400 was retried");
    assert_eq!(
        total as u64,
        before_shutdown(&out) + 1,
        "the shutdown marker was tried too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_resets_are_retried_and_delivered() {
    let collector = Collector::start(vec![Act::Reset, Act::Reset, Act::ok()]).await;
    let out = fault(collector.url(), &[]).await;
    assert_eq!(dropped_in_shutdown_marker(&out), 0);
    let (written, delivered) = written_and_delivered(&out, &collector);
    assert_eq!(delivered, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_settings_warn_by_name_and_stdout_keeps_working() {
    let (out, _) = run_environment(
        Telemetry::NotSupported,
        &[
            ("COLDMARK_SINK", "stdout,http"),
            ("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1:9/ingest"),
            ("COLDMARK_HTTP_HEADERS", HEADER_SECRET),
        ],
        1,
    )
    .await;
    assert!(
        out.stderr.contains("COLDMARK_HTTP_HEADERS"),
        "warning names the variable: {}",
        out.stderr
    );
    assert_eq!(out.markers().len(), 3, "{}", out.stdout);
    assert_eq!(dropped_in_shutdown_marker(&out), 0);
}

/// The pid of our child `coldmark` that talks to `runtime_api` (tests run in parallel, each
/// with its own fake API address in the child's environment).
fn coldmark_pid(runtime_api: &str) -> u32 {
    let wanted = format!("AWS_LAMBDA_RUNTIME_API={runtime_api}");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let ours = environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes());
        if ours && coldmark_testkit::procfs::parent_pid(pid) == Some(std::process::id()) {
            return pid;
        }
    }
    panic!("no coldmark child for {runtime_api}");
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid}");
}

/// Lambda freezes the environment once the function and the extensions wait for their next
/// event, possibly with a marker batch in flight. Here the process is stopped (SIGSTOP) while
/// the collector holds a request, for longer than the request timeout, then resumed (SIGCONT),
/// as a thaw at the next invocation would. The batch must still arrive (retried if its attempt
/// timed out across the freeze: at-least-once), nothing may be counted as dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_mid_request_resumes_or_retries_after_the_thaw() {
    let collector = Collector::start(vec![Act::Slow(Duration::from_millis(300)), Act::ok()]).await;
    let lambda = FakeLambda::start(Telemetry::NotSupported).await;
    let vars = [
        ("COLDMARK_SINK", "stdout,http"),
        ("COLDMARK_INVOKE_MARKERS", "all"),
        ("COLDMARK_HTTP_TIMEOUT_MS", "800"),
        ("COLDMARK_HTTP_ENDPOINT", &collector.url()),
    ];
    let coldmark = lambda.spawn_ready(COLDMARK, &vars).await;
    let pid = coldmark_pid(&lambda.addr.to_string());

    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    assert_eq!(collector.wait_requests(1, Duration::from_secs(5)).await, 1);
    signal(pid, "-STOP"); // frozen with the request in flight
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(pid, "-CONT"); // thawed by the next invocation

    // The thawing invocation and two more: the median of their gaps is bounded, and none may
    // wait as long as a request to the collector.
    let mut gaps = Vec::new();
    for i in 2..=4 {
        let sent = Instant::now();
        lambda.invoke(&format!("req-{i}"));
        lambda.wait_next(i + 1).await;
        gaps.push(lambda.next_times()[i] - sent);
    }
    assert!(
        median(&gaps) < GAP_BOUND,
        "INVOKE → /next after the thaw: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|gap| *gap < Duration::from_millis(800)),
        "an invocation after the thaw waited out the request timeout: {gaps:?}"
    );
    // The function "runs" a little while before the environment is spun down.
    tokio::time::sleep(Duration::from_millis(100)).await;
    lambda.shutdown("spindown");
    let out = coldmark.finish(Duration::from_secs(10)).await;
    assert!(out.status.success());
    assert!(out.exit_after < SHUTDOWN_DEADLINE, "{:?}", out.exit_after);

    assert_eq!(dropped_in_shutdown_marker(&out), 0, "{}", out.stderr);
    let delivered = collector.accepted_lines();
    for line in out.stdout.lines() {
        assert!(
            delivered.iter().any(|d| d == line),
            "not delivered after the thaw: {line}"
        );
    }
    eprintln!(
        "after the thaw: {} request(s), {} record(s) accepted for {} written",
        collector.seen().len(),
        delivered.len(),
        out.stdout.lines().count()
    );
}
