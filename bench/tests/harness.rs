//! The harness against real extension processes: if these fail, no figure in BENCHMARKS.md
//! can be trusted.

use std::path::Path;
use std::time::Duration;

use coldmark_bench::process::SpawnOptions;
use coldmark_bench::scenarios::{self, Subject};
use coldmark_bench::server::{ApiServer, TelemetryMode};
use coldmark_bench::session::Session;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn null_extension() -> SpawnOptions {
    SpawnOptions::new(env!("CARGO_BIN_EXE_null_extension"))
}

#[tokio::test]
async fn init_is_timed_from_spawn_to_the_first_next_and_shutdown_ends_the_process() {
    let mut session = Session::start(&null_extension(), TelemetryMode::NotSupported, 1)
        .await
        .expect("the null extension starts");
    assert_eq!(session.extension_name, "null_extension");
    assert!(session.init.register <= session.init.first_next);
    assert!(session.init.first_next > Duration::ZERO);
    assert!(
        session.init.subscribe.is_none(),
        "the null extension never subscribes"
    );
    for _ in 0..3 {
        let latency = session.invoke().await.expect("an invocation completes");
        assert!(latency < Duration::from_secs(5));
    }
    let finished = session.shutdown().await.expect("shutdown");
    assert!(
        finished.exited,
        "the null extension exits on SHUTDOWN by itself"
    );
}

#[tokio::test]
async fn the_invoke_loop_times_every_invocation_and_samples_memory() {
    let subject = Subject::process("null", null_extension(), TelemetryMode::NotSupported);
    let result = scenarios::invoke_loop(&subject, 10, 300, 100)
        .await
        .expect("the loop runs");
    assert_eq!(result.latency_us.n, 300);
    assert!(result.latency_us.median > 0.0);
    assert!(result.latency_us.min <= result.latency_us.median);
    assert!(result.latency_us.median <= result.latency_us.p99);
    // One sample before the loop and one per 100 invocations.
    assert_eq!(result.rss_samples.len(), 4);
    let memory = result.memory.expect("memory of a live process");
    assert!(memory.rss_kib > 0 && memory.peak_kib >= memory.rss_kib);
}

#[tokio::test]
async fn the_lambda_extension_example_receives_every_fed_telemetry_record() {
    let subject = Subject::lambda_extension_example(Path::new(env!(
        "CARGO_BIN_EXE_lambda_extension_example"
    )));
    let mut session = subject.start().await.expect("the example starts");
    assert!(
        session.has_telemetry(),
        "the example subscribes to the Telemetry API"
    );
    for _ in 0..5 {
        session.invoke().await.expect("an invocation completes");
    }
    let finished = session.shutdown().await.expect("shutdown");
    assert_eq!(finished.feed.failed_batches, 0);
    // initStart + 3 init records + 4 per invocation.
    assert_eq!(finished.feed.records, 1 + 3 + 5 * 4);
    let started = finished
        .output
        .other
        .iter()
        .filter(|l| l.contains("[platform] Handling of request") && l.contains("started"))
        .count();
    assert_eq!(
        started, 5,
        "one line per platform.start: {:?}",
        finished.output.other
    );
}

#[tokio::test]
async fn telemetry_not_supported_is_answered_like_rie() {
    let server = ApiServer::start(TelemetryMode::NotSupported)
        .await
        .expect("server");
    let body = r#"{"schemaVersion":"2022-12-13","destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1234"},"types":["platform"]}"#;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = format!(
        "PUT /2022-07-01/telemetry HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    assert!(response.contains("Telemetry.NotSupported"), "{response}");
}

#[tokio::test]
async fn the_init_scenario_reports_one_figure_per_run() {
    let subjects = [Subject::process(
        "null",
        null_extension(),
        TelemetryMode::NotSupported,
    )];
    let results = scenarios::init(&subjects, 3).await.expect("init runs");
    assert_eq!(results[0].first_next_ms.n, 3);
    assert_eq!(results[0].exited_on_shutdown, 3);
    assert!(
        results[0].self_reported_ms.is_none(),
        "the null extension writes no markers"
    );
}

#[tokio::test]
async fn the_paced_loop_leaves_at_least_the_gap_between_invokes() {
    let subject = Subject::process("null", null_extension(), TelemetryMode::NotSupported);
    let gap = Duration::from_millis(2);
    let result = scenarios::invoke_loop_paced(&subject, 0, 20, 0, scenarios::Pace::Every(gap))
        .await
        .expect("the loop runs");
    assert_eq!(result.latency_us.n, 20);
    // 20 INVOKEs, each at least `gap` after the previous one.
    assert!(result.elapsed >= gap * 19, "{:?}", result.elapsed);
}

/// The Managed Instances figure drives the real coldmark binary: every invocation sent comes
/// out as one complete invoke marker, and the shutdown marker counts them with the peak.
#[tokio::test(flavor = "current_thread")]
async fn managed_instances_runs_count_every_marker_of_the_real_binary() {
    let coldmark = coldmark_bench::scenarios::workspace_binary("coldmark", "coldmark-extension")
        .expect("the coldmark binary");
    let result = coldmark_bench::managed::managed(&coldmark, 8, 3_000, 1)
        .await
        .unwrap();
    let run = &result.runs[0];
    assert_eq!(run.outcome.invoke_markers, 3_000, "{run:?}");
    assert_eq!(
        run.outcome.shutdown,
        Some(coldmark_bench::managed::ShutdownFigures {
            invocations: 3_000,
            peak_concurrency: Some(8),
            dropped: 0
        }),
        "{run:?}"
    );
    assert!(run.outcome.nothing_lost(), "{run:?}");
    assert!(run.outcome.exited, "coldmark exits on SHUTDOWN");
    assert!(result.batches > 1, "6,000 records span several batches");
    assert!(run.markers_per_second() > 0.0);
}
