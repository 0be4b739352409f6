//! The real `coldmark` binary in a Lambda Managed Instances environment: registered for
//! SHUTDOWN only, subscribed with schema `2025-01-29`, its markers from the Telemetry API
//! alone while invocations run concurrently (interleaved `platform.start`/`platform.report`
//! of several request ids, some split across batches, one batch delivered twice).

use std::time::Duration;

use chrono::{DateTime, Utc};
use coldmark_testkit::fake_lambda;
use fake_lambda::{
    managed_instances_init_records, managed_instances_report, managed_instances_start, FakeLambda,
    Finished, RegisterAttempt,
};
use serde_json::Value;

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");

const EXIT_LIMIT: Duration = Duration::from_secs(10);

fn at(t0: DateTime<Utc>, ms: i64) -> DateTime<Utc> {
    t0 + chrono::Duration::milliseconds(ms)
}

/// One environment's life with `invoke_markers`: init, then r1..r5 where r1, r2, r3 run at
/// once (r3's report in a later batch), r4 starts once r1 and r2 are done, r5 runs alone.
async fn run(invoke_markers: &str) -> Finished {
    // Lambda Managed Instances: INVOKE refused, only 2025-01-29 accepted.
    let lambda = FakeLambda::start_only_schema("2025-01-29", true).await;
    let coldmark = lambda
        .spawn_ready(
            COLDMARK,
            &[
                ("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"),
                ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
                ("COLDMARK_INVOKE_MARKERS", invoke_markers),
            ],
        )
        .await;
    assert_eq!(
        lambda.register_attempts(),
        [RegisterAttempt {
            events: vec!["SHUTDOWN".into()],
            refused: false
        }]
    );
    assert_eq!(
        lambda.subscription().unwrap()["schemaVersion"],
        "2025-01-29"
    );

    let t0 = Utc::now() - chrono::Duration::seconds(10);
    lambda
        .deliver(&managed_instances_init_records(t0, 300))
        .await;
    let first = vec![
        managed_instances_start("r1", at(t0, 5000)),
        managed_instances_start("r2", at(t0, 5002)),
        managed_instances_start("r3", at(t0, 5003)),
        managed_instances_report("r2", at(t0, 5010), 8.125),
        managed_instances_report("r1", at(t0, 5020), 20.5),
        managed_instances_start("r4", at(t0, 5021)),
    ];
    lambda.deliver(&first).await;
    // Lambda re-sends a batch it thinks failed: nothing may count twice.
    lambda.deliver(&first).await;
    lambda
        .deliver(&[
            managed_instances_report("r4", at(t0, 5030), 9.0),
            managed_instances_report("r3", at(t0, 5040), 37.25),
            managed_instances_start("r5", at(t0, 6000)),
            managed_instances_report("r5", at(t0, 6001), 1.0),
        ])
        .await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(out.stderr, "", "no warning");
    out
}

fn check_init_and_shutdown(out: &Finished) {
    let init = out.of_kind("init");
    assert_eq!(init.len(), 1, "{}", out.stdout);
    let init = &init[0];
    assert_eq!(init["init_type"], "lambda-managed-instances");
    assert_eq!(init["max_concurrency"], 4);
    assert_eq!(init["proactive"], true);
    assert_eq!(init["init_duration_ms"], 300.0);
    assert_eq!(init["source"], "telemetry");
    let shutdown = out.of_kind("shutdown");
    assert_eq!(shutdown.len(), 1);
    assert_eq!(shutdown[0]["invocations"], 5);
    assert_eq!(shutdown[0]["peak_concurrency"], 3, "r1, r2, r3 at once");
    assert_eq!(shutdown[0]["dropped"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invocation_gets_its_marker_from_telemetry_alone() {
    let out = run("all").await;
    check_init_and_shutdown(&out);
    assert_eq!(out.kinds()[0], "init");
    assert_eq!(out.kinds().last().unwrap(), "shutdown");
    let mut invokes: Vec<Value> = out.of_kind("invoke");
    // Written as their reports come; numbered by their starts.
    let written: Vec<&str> = invokes
        .iter()
        .map(|m| m["function_request_id"].as_str().unwrap())
        .collect();
    assert_eq!(written, ["r2", "r1", "r4", "r3", "r5"]);
    invokes.sort_by_key(|m| m["seq"].as_u64().unwrap());
    let by_seq: Vec<(&str, f64)> = invokes
        .iter()
        .map(|m| {
            (
                m["function_request_id"].as_str().unwrap(),
                m["duration_ms"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_seq,
        [
            ("r1", 20.5),
            ("r2", 8.125),
            ("r3", 37.25),
            ("r4", 9.0),
            ("r5", 1.0)
        ]
    );
    for m in &invokes {
        assert_eq!(m["cold_start"], false, "{m}");
        for absent in [
            "billed_duration_ms",
            "max_memory_used_mb",
            "init_duration_ms",
        ] {
            assert!(m.get(absent).is_none(), "{absent}: {m}");
        }
    }
    assert_eq!(invokes[0]["since_init_ms"], 4700.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_first_invocation_gets_a_marker() {
    let out = run("first").await;
    check_init_and_shutdown(&out);
    assert_eq!(out.kinds(), ["init", "invoke", "shutdown"]);
    let invoke = &out.of_kind("invoke")[0];
    assert_eq!(invoke["function_request_id"], "r1");
    assert_eq!(invoke["seq"], 1);
    assert_eq!(invoke["duration_ms"], 20.5);
    assert_eq!(invoke["cold_start"], false);
}
