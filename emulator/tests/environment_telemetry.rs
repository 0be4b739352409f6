//! The Telemetry API with real subscribers (fixture extensions listening on loopback): the
//! records Lambda sends, with measured figures, parsed with AWS's own `lambda_extension`
//! types; buffering (maxItems / maxBytes / timeoutMs) honoured; invalid subscriptions refused.

mod support;

use std::time::Duration;
use support::env_support;

use env_support::{of_type, options, request, Logs, Scratch};
use lambda_emulator::environment::ShutdownReason;
use lambda_extension::{LambdaTelemetry, LambdaTelemetryRecord};
use serde_json::{json, Value};

/// RFC 3339, UTC, milliseconds: `2026-11-25T19:10:18.123Z`.
fn is_lambda_timestamp(time: &str) -> bool {
    time.len() == 24
        && time.ends_with('Z')
        && time.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(time).is_ok()
}

#[tokio::test]
async fn records_carry_real_figures_in_lambda_shape() {
    let scratch = Scratch::new(&["plain", "telemetry"]);
    let logs = Logs::new();
    let env = scratch
        .start(Duration::from_secs(3), &[], options(), &logs)
        .await;
    let first = env.invoke(request(json!({}))).await.unwrap();
    let second = env.invoke(request(json!({}))).await.unwrap();
    let init = env.last_init().unwrap();
    let env_id = env.id().to_string();
    // Shutdown flushes what the frozen environment still held (the second report).
    env.shutdown(ShutdownReason::Spindown).await;
    let records = scratch.telemetry("telemetry");

    for record in &records {
        assert!(
            is_lambda_timestamp(record["time"].as_str().unwrap()),
            "{record}"
        );
        // AWS's own types read every record.
        serde_json::from_value::<LambdaTelemetry>(record.clone())
            .unwrap_or_else(|e| panic!("lambda_extension cannot read {record}: {e}"));
    }

    let init_start = &of_type(&records, "platform.initStart")[0]["record"];
    assert_eq!(init_start["instanceId"], env_id.as_str());
    assert_eq!(init_start["phase"], "init");
    assert_eq!(init_start["initializationType"], "on-demand");
    assert_eq!(init_start["functionName"], "fixture");
    assert_eq!(init_start["functionVersion"], "$LATEST");
    assert_eq!(init_start["instanceMaxMemory"], 128 * 1024 * 1024);
    assert!(init_start["runtimeVersion"].is_string());

    let extensions: Vec<(&str, &Value)> = of_type(&records, "platform.extension")
        .iter()
        .map(|r| (r["record"]["name"].as_str().unwrap(), &r["record"]))
        .collect();
    // One per extension, in the order they registered (they start together).
    let mut names: Vec<&str> = extensions.iter().map(|(n, _)| *n).collect();
    names.sort();
    assert_eq!(names, ["plain", "telemetry"]);
    for (_, record) in &extensions {
        assert_eq!(record["state"], "Ready");
        assert_eq!(record["events"], json!(["INVOKE", "SHUTDOWN"]));
    }
    let subscription = &of_type(&records, "platform.telemetrySubscription")[0]["record"];
    assert_eq!(subscription["name"], "telemetry");
    assert_eq!(
        subscription["types"],
        json!(["platform", "function", "extension"])
    );

    let runtime_done = &of_type(&records, "platform.initRuntimeDone")[0]["record"];
    assert_eq!(runtime_done["status"], "success");
    let init_report = &of_type(&records, "platform.initReport")[0]["record"];
    assert_eq!(init_report["status"], "success");
    assert_eq!(
        init_report["metrics"]["durationMs"].as_f64(),
        Some(init.duration_ms)
    );
    assert!(init.duration_ms > 0.0);

    // Per invocation: start, runtimeDone, report — in that order, with measured figures.
    for (answer, pays_init) in [(&first, true), (&second, false)] {
        let id = answer.report.request_id.as_str();
        let position = |kind: &str| {
            records
                .iter()
                .position(|r| r["type"] == kind && r["record"]["requestId"] == id)
                .unwrap_or_else(|| panic!("no {kind} for {id}"))
        };
        let (start, done, report) = (
            position("platform.start"),
            position("platform.runtimeDone"),
            position("platform.report"),
        );
        assert!(start < done && done < report);
        assert_eq!(records[start]["record"]["version"], "$LATEST");
        let done = &records[done]["record"];
        assert_eq!(done["status"], "success");
        assert!(done["metrics"]["durationMs"].as_f64().unwrap() > 0.0);
        assert_eq!(
            done["metrics"]["producedBytes"].as_u64(),
            Some(answer.payload.len() as u64)
        );
        let metrics = &records[report]["record"]["metrics"];
        assert_eq!(records[report]["record"]["status"], "success");
        assert_eq!(
            metrics["durationMs"].as_f64(),
            Some(answer.report.duration_ms)
        );
        assert!(answer.report.duration_ms > 0.0);
        assert!(
            metrics["billedDurationMs"].as_u64().unwrap()
                >= metrics["durationMs"].as_f64().unwrap() as u64
        );
        assert_eq!(metrics["memorySizeMB"], 128);
        assert!(metrics["maxMemoryUsedMB"].as_u64().unwrap() > 0);
        assert_eq!(
            metrics.get("initDurationMs").is_some(),
            pays_init,
            "{metrics}"
        );
        // The function's own lines arrive as `function` records.
        assert!(records
            .iter()
            .any(|r| r["type"] == "function" && r["record"] == format!("handling {id}")));
    }
    assert!(records
        .iter()
        .any(|r| r["type"] == "extension" && r["record"] == "plain got INVOKE"));
    // Parsed with AWS's types, the report is a report.
    let last = serde_json::from_value::<LambdaTelemetry>(
        records
            .iter()
            .rev()
            .find(|r| r["type"] == "platform.report")
            .unwrap()
            .clone(),
    )
    .unwrap();
    assert!(matches!(
        last.record,
        LambdaTelemetryRecord::PlatformReport { .. }
    ));
}

#[tokio::test]
async fn buffering_is_honoured_and_invalid_subscriptions_are_refused() {
    let scratch = Scratch::new(&[
        "telemetry-items",
        "telemetry-bytes",
        "telemetry-slow",
        "telemetry-invalid",
    ]);
    let logs = Logs::new();
    let vars = [
        ("FIXTURE_TYPES", r#"["function"]"#),
        (
            "FIXTURE_BUFFERING_TELEMETRY_ITEMS",
            r#"{"maxItems": 1000, "maxBytes": 1048576, "timeoutMs": 30000}"#,
        ),
        (
            "FIXTURE_BUFFERING_TELEMETRY_BYTES",
            r#"{"maxItems": 10000, "maxBytes": 262144, "timeoutMs": 30000}"#,
        ),
        (
            "FIXTURE_BUFFERING_TELEMETRY_SLOW",
            r#"{"maxItems": 10000, "maxBytes": 1048576, "timeoutMs": 30000}"#,
        ),
        (
            "FIXTURE_BUFFERING_TELEMETRY_INVALID",
            r#"{"maxItems": 10, "maxBytes": 262144, "timeoutMs": 100}"#,
        ),
    ];
    let mut opts = options();
    // Deliveries wait for thaw; without freeze they can be watched between invocations.
    opts.freeze = false;
    let env = scratch
        .start(Duration::from_secs(5), &vars, opts, &logs)
        .await;

    let refused = &scratch.recorded("subscribe", "telemetry-invalid")[0];
    assert_eq!(refused["status"], 400);
    let refusal: Value = serde_json::from_str(refused["body"].as_str().unwrap()).unwrap();
    assert_eq!(refusal["errorType"], "ValidationError");
    assert!(
        refusal["errorMessage"]
            .as_str()
            .unwrap()
            .contains("maxItems"),
        "{refusal}"
    );
    assert_eq!(
        scratch.recorded("subscribe", "telemetry-items")[0]["status"],
        200
    );

    // 2500 short lines: maxItems 1000 flushes two full batches long before timeoutMs.
    env.invoke(request(json!({"print": 2500}))).await.unwrap();
    let lines = |name: &str| {
        scratch
            .telemetry(name)
            .iter()
            .filter(|r| r["record"].as_str().is_some_and(|l| l.starts_with("line ")))
            .count()
    };
    // (Two full batches: everything up to line 001997, after the init's "runtime ready" and
    // the invocation's "handling" lines.)
    let waited = scratch
        .wait_telemetry("telemetry-items", Duration::from_secs(5), |r| {
            r["record"] == "line 001997 "
        })
        .await;
    let batches: Vec<usize> = scratch
        .recorded("telemetry", "telemetry-items")
        .iter()
        .map(|b| b["batch"].as_array().unwrap().len())
        .collect();
    assert!(waited.len() >= 2000, "{batches:?}");
    assert!(batches.iter().all(|n| *n <= 1000), "{batches:?}");
    assert_eq!(&batches[..2], [1000, 1000], "{batches:?}");

    // 600 lines of ~1 KB: maxBytes 262144 flushes batches no larger than that.
    env.invoke(request(json!({"print": 600, "width": 1000})))
        .await
        .unwrap();
    scratch
        .wait_telemetry("telemetry-bytes", Duration::from_secs(5), |r| {
            r["record"]
                .as_str()
                .is_some_and(|l| l.starts_with("line 000400 x"))
        })
        .await;
    let sizes: Vec<usize> = scratch
        .recorded("telemetry", "telemetry-bytes")
        .iter()
        .map(|b| serde_json::to_vec(&b["batch"]).unwrap().len())
        .collect();
    assert!(sizes.len() >= 2, "{sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 262_144), "{sizes:?}");

    // timeoutMs 30000 and neither limit reached: nothing yet for the slow subscriber...
    assert_eq!(lines("telemetry-slow"), 0);
    // ...until shutdown flushes it, in order.
    env.shutdown(ShutdownReason::Spindown).await;
    let slow: Vec<String> = scratch
        .telemetry("telemetry-slow")
        .iter()
        .filter_map(|r| r["record"].as_str().map(str::to_string))
        .filter(|l| l.starts_with("line "))
        .collect();
    assert_eq!(slow.len(), 3100);
    assert!(
        slow[..2500].windows(2).all(|w| w[0] < w[1]),
        "records in order"
    );
    assert_eq!(lines("telemetry-items"), 3100);
}

/// Milliseconds between two records' `time`s.
fn ms_between(a: &Value, b: &Value) -> i64 {
    let t = |r: &Value| {
        chrono::DateTime::parse_from_rfc3339(r["time"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    t(b) - t(a)
}

async fn init_records(order: lambda_emulator::environment::InitRecordOrder) -> Vec<Value> {
    let scratch = Scratch::new(&["slow-next", "telemetry"]);
    let logs = Logs::new();
    let mut opts = options();
    opts.init_records = order;
    let env = scratch
        .start(Duration::from_secs(3), &[], opts, &logs)
        .await;
    env.invoke(request(json!({}))).await.unwrap();
    env.shutdown(ShutdownReason::Spindown).await;
    scratch.telemetry("telemetry")
}

#[tokio::test]
async fn init_records_follow_lambdas_order_and_the_old_order_on_request() {
    use lambda_emulator::environment::InitRecordOrder;
    let position = |records: &[Value], kind: &str| -> Vec<usize> {
        records
            .iter()
            .enumerate()
            .filter(|(_, r)| r["type"] == kind)
            .map(|(i, _)| i)
            .collect()
    };

    // Lambda (RIE's doRuntimeDomainInit): initRuntimeDone once every extension is ready (the
    // slow one took 300 ms after registering), then platform.extension per extension with its
    // final state, then initReport.
    let records = init_records(InitRecordOrder::Lambda).await;
    assert_eq!(
        position(&records, "platform.initStart").len(),
        1,
        "{records:#?}"
    );
    assert_eq!(position(&records, "platform.initReport").len(), 1);
    let start = position(&records, "platform.initStart")[0];
    let done = position(&records, "platform.initRuntimeDone");
    let extensions = position(&records, "platform.extension");
    let report = position(&records, "platform.initReport")[0];
    assert_eq!(done.len(), 1);
    assert_eq!(extensions.len(), 2);
    assert!(
        extensions.iter().all(|&e| done[0] < e && e < report),
        "order: {records:#?}"
    );
    let waited = ms_between(&records[start], &records[done[0]]);
    assert!(waited >= 300, "initRuntimeDone {waited} ms after initStart");
    for &e in &extensions {
        assert_eq!(records[e]["record"]["state"], "Ready", "{}", records[e]);
    }

    // The sandbox's earlier order: platform.extension at registration, initRuntimeDone at the
    // runtime's first /next, long before the slow extension is ready.
    let records = init_records(InitRecordOrder::AtRuntimeNext).await;
    // One of each init record, and one platform.extension per extension (the fixture's two):
    // "every extension record before initRuntimeDone" must not hold of none.
    assert_eq!(
        position(&records, "platform.initStart").len(),
        1,
        "{records:#?}"
    );
    assert_eq!(position(&records, "platform.initRuntimeDone").len(), 1);
    assert_eq!(position(&records, "platform.initReport").len(), 1);
    let start = position(&records, "platform.initStart")[0];
    let done = position(&records, "platform.initRuntimeDone")[0];
    let extensions = position(&records, "platform.extension");
    assert_eq!(extensions.len(), 2, "{records:#?}");
    let report = position(&records, "platform.initReport")[0];
    assert!(
        extensions.iter().all(|&e| e < done) && done < report,
        "order: {records:#?}"
    );
    let waited = ms_between(&records[start], &records[done]);
    let total = ms_between(&records[start], &records[report]);
    assert!(
        waited < total,
        "initRuntimeDone at {waited} ms, initReport at {total} ms"
    );
}

#[tokio::test]
async fn a_batch_refused_on_every_retry_is_reported_as_logs_dropped() {
    // The listener refuses its first 3 deliveries: the sandbox's 3 attempts at the first batch.
    let scratch = Scratch::new(&["telemetry"]);
    let logs = Logs::new();
    // Not frozen between invocations, so the first batch is tried (and dropped) while idle.
    let mut opts = options();
    opts.freeze = false;
    let refuse_three = [("FIXTURE_REFUSE", "3")];
    let env = scratch
        .start(Duration::from_secs(3), &refuse_three, opts, &logs)
        .await;
    env.invoke(request(json!({}))).await.unwrap();
    // The default buffering flushes after 1 s; three attempts with backoff follow. Wait for
    // the third refusal itself (generously), not for a time it usually takes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while scratch.recorded("refused", "telemetry").len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three refused deliveries within 15 s: {:?}\n{}",
            scratch.recorded("refused", "telemetry"),
            logs.dump()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.invoke(request(json!({}))).await.unwrap();
    env.shutdown(ShutdownReason::Spindown).await;
    let refused = scratch.recorded("refused", "telemetry");
    assert_eq!(refused.len(), 3, "{refused:?}\n{}", logs.dump());
    let lost = refused[0]["items"].as_u64().unwrap();
    let records = scratch.telemetry("telemetry");
    let dropped = of_type(&records, "platform.logsDropped");
    assert_eq!(dropped.len(), 1, "{records:#?}");
    assert_eq!(dropped[0]["record"]["droppedRecords"], lost);
    assert!(dropped[0]["record"]["droppedBytes"].as_u64().unwrap() > 0);
    assert!(dropped[0]["record"]["reason"].is_string());
    // It opens the first batch that got through, and AWS's own types read it.
    assert_eq!(records[0]["type"], "platform.logsDropped");
    let parsed: LambdaTelemetry = serde_json::from_value(dropped[0].clone()).unwrap();
    assert!(
        matches!(
            parsed.record,
            LambdaTelemetryRecord::PlatformLogsDropped { .. }
        ),
        "{parsed:?}"
    );
}
