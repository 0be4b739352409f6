//! The HTTP sink against scripted collectors on 127.0.0.1: delivery, framing, and every fault
//! the issue names (down, slow, 500 then 200, 400, resets, 429), with the counts a user reads
//! in the `shutdown` marker's `dropped`.
//!
//! Time bounds here check the sink's budget logic (a flush must end by its budget, because
//! Lambda kills the environment at the shutdown deadline), with generous margins; they are not
//! speed benchmarks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use coldmark::sink::http::{FlushReport, HttpSink};
use coldmark_testkit::http_collector;
use http_collector::{refused_addr, Act, Collector};

/// Slack for the scheduler on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(300);
const BUDGET: Duration = Duration::from_millis(1500);

fn sink(vars: &[(&str, String)]) -> HttpSink {
    let mut map: HashMap<String, String> = HashMap::from([
        ("COLDMARK_SINK".to_string(), "stdout,http".to_string()),
        ("COLDMARK_HTTP_BACKOFF_MS".to_string(), "50".to_string()),
    ]);
    for (k, v) in vars {
        map.insert(k.to_string(), v.clone());
    }
    let (sink, warnings) = HttpSink::from_env(&move |name| map.get(name).cloned());
    assert!(warnings.is_empty(), "{warnings:?}");
    sink.expect("sink configured")
}

/// A collector that answers with `acts`, and a sink that sends to it with `extra` settings.
async fn sink_to(acts: Vec<Act>, extra: &[(&str, &str)]) -> (Collector, HttpSink) {
    let collector = Collector::start(acts).await;
    let mut vars = vec![endpoint(collector.url())];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let sink = sink(&vars);
    (collector, sink)
}

/// A 429 that asks the sink to come back after `seconds`.
fn too_many(seconds: &str) -> Act {
    Act::Status(429, vec![("Retry-After", seconds.into())])
}

/// Flushes `sink` within `budget`: its report, and how long the flush took.
async fn timed_flush(sink: &HttpSink, budget: Duration) -> (FlushReport, Duration) {
    let start = Instant::now();
    let report = sink.flush(budget).await;
    (report, start.elapsed())
}

fn endpoint(url: String) -> (&'static str, String) {
    ("COLDMARK_HTTP_ENDPOINT", url)
}

fn records(n: usize) -> Vec<String> {
    (1..=n)
        .map(|seq| {
            serde_json::json!({"coldmark": "invoke", "schema": 1, "seq": seq, "env_id": "e1"})
                .to_string()
        })
        .collect()
}

fn enqueue_all(sink: &HttpSink, records: &[String]) {
    for r in records {
        sink.enqueue(r);
    }
}

#[tokio::test]
async fn kick_sends_in_the_background_without_a_flush() {
    let (collector, sink) = sink_to(vec![Act::ok()], &[]).await;
    let sent = records(3);
    enqueue_all(&sink, &sent);
    // enqueue alone never sends: sending waits for a point where it is safe
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(collector.seen().len(), 0, "enqueue must not send by itself");
    sink.kick();
    assert_eq!(collector.wait_requests(1, Duration::from_secs(5)).await, 1);
    let report = sink.flush(BUDGET).await;
    assert!(report.complete);
    assert_eq!((report.delivered, report.dropped), (3, 0));
    assert_eq!(
        collector.accepted_lines(),
        sent,
        "records arrive intact and in order"
    );
    let seen = &collector.seen()[0];
    assert_eq!(seen.path, "/ingest");
    assert_eq!(seen.header("content-type"), Some("application/x-ndjson"));
}

#[tokio::test]
async fn headers_gzip_and_json_array() {
    let (collector, sink) = sink_to(
        vec![Act::ok()],
        &[
            (
                "COLDMARK_HTTP_HEADERS",
                "Authorization=Bearer%20t0ken,X-Tenant=a%3Db",
            ),
            ("COLDMARK_HTTP_GZIP", "true"),
            ("COLDMARK_HTTP_FORMAT", "json-array"),
        ],
    )
    .await;
    let sent = records(2);
    enqueue_all(&sink, &sent);
    let report = sink.flush(BUDGET).await;
    assert!(report.complete && report.delivered == 2, "{report:?}");
    let seen = &collector.seen()[0];
    assert_eq!(seen.header("authorization"), Some("Bearer t0ken"));
    assert_eq!(seen.header("x-tenant"), Some("a=b"));
    assert_eq!(seen.header("content-encoding"), Some("gzip"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let got: Vec<serde_json::Value> = serde_json::from_slice(&seen.body).expect("a JSON array");
    let want: Vec<serde_json::Value> = sent
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn batches_respect_the_batch_size() {
    let (collector, sink) = sink_to(vec![Act::ok()], &[("COLDMARK_HTTP_BATCH_RECORDS", "2")]).await;
    let sent = records(5);
    enqueue_all(&sink, &sent);
    let report = sink.flush(BUDGET).await;
    assert!(report.complete && report.delivered == 5, "{report:?}");
    let sizes: Vec<usize> = collector.seen().iter().map(|s| s.lines().len()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(collector.accepted_lines(), sent);
}

#[tokio::test]
async fn server_error_then_success_delivers_once() {
    let (collector, sink) = sink_to(vec![Act::status(500), Act::status(503), Act::ok()], &[]).await;
    let sent = records(3);
    enqueue_all(&sink, &sent);
    let report = sink.flush(BUDGET).await;
    assert!(report.complete, "{report:?}");
    assert_eq!((report.delivered, report.dropped), (3, 0));
    let acts: Vec<String> = collector.seen().iter().map(|s| s.act.clone()).collect();
    assert_eq!(acts, ["status 500", "status 503", "status 200"]);
    assert_eq!(
        collector.accepted_lines(),
        sent,
        "delivered once, no duplicate"
    );
}

#[tokio::test]
async fn client_error_is_not_retried_and_counted() {
    let (collector, sink) = sink_to(vec![Act::status(400), Act::ok()], &[]).await;
    enqueue_all(&sink, &records(4));
    let report = sink.flush(BUDGET).await;
    assert_eq!((report.delivered, report.dropped), (0, 4), "{report:?}");
    assert!(report.complete, "the queue was drained (by dropping)");
    assert_eq!(collector.seen().len(), 1, "a 400 is not retried");
    assert_eq!(sink.dropped(), 4);
}

#[tokio::test]
async fn endpoint_down_drops_within_the_budget() {
    let addr = refused_addr().await;
    let sink = sink(&[endpoint(format!("http://{addr}/ingest"))]);
    enqueue_all(&sink, &records(3));
    let (report, took) = timed_flush(&sink, BUDGET).await;
    assert!(took < BUDGET + MARGIN, "{took:?}");
    assert_eq!((report.delivered, report.dropped), (0, 3), "{report:?}");
}

#[tokio::test]
async fn slow_collector_times_out_and_shutdown_ends_in_time() {
    let (collector, sink) = sink_to(
        vec![Act::Slow(Duration::from_secs(5))],
        &[("COLDMARK_HTTP_TIMEOUT_MS", "300")],
    )
    .await;
    enqueue_all(&sink, &records(2));
    let (report, took) = timed_flush(&sink, BUDGET).await;
    assert!(took < BUDGET + MARGIN, "flush took {took:?}");
    assert_eq!((report.delivered, report.dropped), (0, 2), "{report:?}");
    assert!(
        collector.seen().len() >= 2,
        "timeouts are retried: {:?}",
        collector.seen().len()
    );
}

#[tokio::test]
async fn budget_shorter_than_a_request_abandons_and_counts_in_flight_records() {
    let (_collector, sink) = sink_to(
        vec![Act::Slow(Duration::from_secs(5))],
        &[
            ("COLDMARK_HTTP_TIMEOUT_MS", "10000"),
            ("COLDMARK_HTTP_BATCH_RECORDS", "2"),
        ],
    )
    .await;
    enqueue_all(&sink, &records(5));
    let (report, took) = timed_flush(&sink, Duration::from_millis(400)).await;
    assert!(took < Duration::from_millis(400) + MARGIN);
    assert!(!report.complete);
    assert_eq!(report.abandoned, 5, "2 in flight + 3 queued: {report:?}");
    assert_eq!((report.delivered, report.dropped), (0, 5));
    // a second flush (after the shutdown marker) does not count anything twice
    let again = sink.flush(Duration::from_millis(100)).await;
    assert_eq!(again.dropped, 5, "{again:?}");
    // the sink is closed now: later records are counted at once, never queued
    sink.enqueue(&records(1)[0]);
    assert_eq!(sink.dropped(), 6);
}

#[tokio::test]
async fn connection_resets_are_retried() {
    let (collector, sink) = sink_to(vec![Act::Reset, Act::Reset, Act::ok()], &[]).await;
    let sent = records(2);
    enqueue_all(&sink, &sent);
    let report = sink.flush(BUDGET).await;
    assert_eq!((report.delivered, report.dropped), (2, 0), "{report:?}");
    assert_eq!(collector.accepted_lines(), sent);
    assert_eq!(collector.seen().len(), 3);
}

#[tokio::test]
async fn resets_forever_exhaust_the_retries() {
    let (collector, sink) = sink_to(vec![Act::Reset], &[("COLDMARK_HTTP_RETRIES", "2")]).await;
    enqueue_all(&sink, &records(2));
    let report = sink.flush(BUDGET).await;
    assert_eq!((report.delivered, report.dropped), (0, 2), "{report:?}");
    assert!(report.complete);
    assert_eq!(collector.seen().len(), 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn too_many_requests_honours_retry_after_within_the_budget() {
    let (_collector, sink) = sink_to(vec![too_many("1"), Act::ok()], &[]).await;
    enqueue_all(&sink, &records(1));
    let (report, took) = timed_flush(&sink, BUDGET).await;
    assert!(took >= Duration::from_secs(1), "Retry-After honoured");
    assert_eq!((report.delivered, report.dropped), (1, 0), "{report:?}");
}

#[tokio::test]
async fn retry_after_beyond_the_budget_drops_at_once() {
    let (collector, sink) = sink_to(vec![too_many("30"), Act::ok()], &[]).await;
    enqueue_all(&sink, &records(2));
    let (report, took) = timed_flush(&sink, BUDGET).await;
    assert!(took < Duration::from_secs(1), "no pointless wait");
    assert_eq!((report.delivered, report.dropped), (0, 2), "{report:?}");
    assert_eq!(collector.seen().len(), 1);
}

#[tokio::test]
async fn a_flush_cuts_a_long_background_backoff_short() {
    // In the background (no deadline) a 429 asks for 4 s; SHUTDOWN comes meanwhile. The flush
    // gives that batch up at once and still delivers what was queued after it.
    let (collector, sink) = sink_to(vec![too_many("4"), Act::ok()], &[]).await;
    let sent = records(2);
    sink.enqueue(&sent[0]);
    sink.kick();
    assert_eq!(collector.wait_requests(1, Duration::from_secs(5)).await, 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    sink.enqueue(&sent[1]);
    let (report, took) = timed_flush(&sink, BUDGET).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(report.complete, "{report:?}");
    assert_eq!((report.delivered, report.dropped), (1, 1), "{report:?}");
    assert_eq!(collector.accepted_lines(), sent[1..]);
}

#[tokio::test]
async fn full_queue_drops_new_records_and_counts_them() {
    let (collector, sink) = sink_to(vec![Act::ok()], &[("COLDMARK_HTTP_QUEUE_RECORDS", "2")]).await;
    let sent = records(5);
    enqueue_all(&sink, &sent);
    assert_eq!(sink.dropped(), 3, "counted at enqueue");
    let report = sink.flush(BUDGET).await;
    assert_eq!((report.delivered, report.dropped), (2, 3), "{report:?}");
    assert_eq!(collector.accepted_lines(), sent[..2], "the oldest are kept");
}

#[tokio::test]
async fn enqueue_and_kick_never_wait_for_the_network() {
    // The collector never answers within the test: if enqueue or kick waited on it, the
    // invocation path would be held for seconds.
    let (collector, sink) = sink_to(
        vec![Act::Slow(Duration::from_secs(10))],
        &[("COLDMARK_HTTP_TIMEOUT_MS", "10000")],
    )
    .await;
    // A call that waited on the collector would last its 10 s: each must end far sooner, and
    // their median within 50 ms (one call on a loaded machine may be descheduled).
    let mut took = Vec::new();
    for record in records(3) {
        let start = Instant::now();
        sink.enqueue(&record);
        sink.kick();
        took.push(start.elapsed());
        collector.wait_requests(1, Duration::from_secs(5)).await;
    }
    assert!(took.iter().all(|t| *t < Duration::from_secs(1)), "{took:?}");
    took.sort();
    assert!(took[1] < Duration::from_millis(50), "{took:?}");
    let report = sink.flush(Duration::from_millis(200)).await;
    assert_eq!(report.dropped, 3, "{report:?}");
}

#[tokio::test]
async fn flush_with_nothing_queued_returns_at_once() {
    let (collector, sink) = sink_to(vec![Act::ok()], &[]).await;
    let (report, took) = timed_flush(&sink, BUDGET).await;
    // At once, not after the budget: well under half of it, whatever the machine's load.
    assert!(took < BUDGET / 2, "{took:?}");
    assert!(report.complete);
    assert_eq!((report.delivered, report.dropped), (0, 0));
    assert!(collector.seen().is_empty());
}
