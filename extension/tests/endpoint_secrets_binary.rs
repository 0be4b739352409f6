//! The HTTP sink's endpoint may carry credentials (a user and password before the host, a token
//! in the path or the query, as ClickHouse's `?query=…&password=…` does): the real `coldmark`
//! binary against a collector that is down, one that stalls and one that answers 5xx, each
//! reached through such an endpoint, must warn (so the user learns of it) without printing any
//! of it, on stdout or stderr, at the most verbose diagnostics level.

use std::time::Duration;

use coldmark_testkit::{fake_lambda, http_collector};
use fake_lambda::{FakeLambda, Finished, Telemetry};
use http_collector::{refused_addr, Act, Collector};

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");
const EXIT_LIMIT: Duration = Duration::from_secs(10);
/// Lambda's shutdown phase for external extensions.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);

const USER: &str = "userinfo-name-3141";
const PASSWORD: &str = "userinfo-password-2718";
const PATH_SECRET: &str = "path-secret-1618";
const QUERY_SECRET: &str = "query-secret-1414";

/// `http://USER:PASSWORD@<addr>/ingest/PATH_SECRET?token=QUERY_SECRET&user=USER`
fn endpoint(addr: impl std::fmt::Display) -> String {
    format!("http://{USER}:{PASSWORD}@{addr}/ingest/{PATH_SECRET}?token={QUERY_SECRET}&user={USER}")
}

/// One environment, three invocations each with a marker, every diagnostic on; checks that the
/// sink warned and that no part of the endpoint but the host was printed.
async fn run_against(endpoint: &str) -> Finished {
    let lambda = FakeLambda::start(Telemetry::NotSupported).await;
    let vars = [
        ("COLDMARK_SINK", "stdout,http"),
        ("COLDMARK_INVOKE_MARKERS", "all"),
        ("COLDMARK_HTTP_BACKOFF_MS", "50"),
        ("COLDMARK_LOG", "trace"),
        ("COLDMARK_HTTP_ENDPOINT", endpoint),
    ];
    let coldmark = lambda.spawn_ready(COLDMARK, &vars).await;
    for i in 1..=3 {
        lambda.invoke(&format!("req-{i}"));
        lambda.wait_next(i + 1).await;
    }
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.exit_after < SHUTDOWN_DEADLINE, "{:?}", out.exit_after);
    assert_eq!(
        out.kinds(),
        ["init", "invoke", "invoke", "invoke", "shutdown"]
    );
    assert!(
        out.of_kind("shutdown")[0]["dropped"].as_u64().unwrap() >= 1,
        "the collector took markers: the test did not reach a failure"
    );
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("coldmark warn:") && l.contains("http sink"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning, not none:\n{}", out.stderr);
    for secret in [USER, PASSWORD, PATH_SECRET, QUERY_SECRET, "/ingest"] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} was printed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_is_reported_without_the_endpoint() {
    let out = run_against(&endpoint(refused_addr().await)).await;
    eprintln!("{}", out.stderr_lines_with("warn").join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_stalls_is_reported_without_the_endpoint() {
    let collector = Collector::start(vec![Act::Slow(Duration::from_secs(5))]).await;
    let out = run_against(&endpoint(collector.addr)).await;
    assert!(!collector.seen().is_empty(), "the sink did try");
    eprintln!("{}", out.stderr_lines_with("warn").join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_answers_5xx_is_reported_without_the_endpoint() {
    let collector = Collector::start(vec![Act::status(503)]).await;
    let out = run_against(&endpoint(collector.addr)).await;
    assert!(!collector.seen().is_empty(), "the sink did try");
    eprintln!("{}", out.stderr_lines_with("warn").join("\n"));
}
