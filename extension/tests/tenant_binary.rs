//! The real `coldmark` binary against the test kit's fake Lambda, fed Telemetry API records in
//! Lambda's order (built by `lambda-wire`): an environment of a tenant-isolated function
//! (`tenantId` on the invocation records) and an init that fails and is run again inside the
//! first invocation. What a user reads: `tenant_id` on every marker, `init_status` and
//! `init_error_type` on the init markers.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use coldmark_testkit::fake_lambda::{
    init_records_lambda_order, invocation, FakeLambda, Telemetry, FUNCTION_NAME,
};
use lambda_wire::telemetry::{
    DurationMetrics, Extension, InitReport, InitRuntimeDone, InitStart, Instance, Record,
    RecordBody, ON_DEMAND,
};
use serde_json::Value;

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");

/// Longer than any healthy run; Lambda's own shutdown limit for extensions is 2 s.
const EXIT_LIMIT: Duration = Duration::from_secs(10);

const TENANT: &str = "BlueTenant";

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

/// A record as a batch carries it, stamped to the millisecond as Lambda stamps them.
fn wire(time: DateTime<Utc>, body: RecordBody) -> Value {
    serde_json::to_value(Record::new(time.trunc_subsecs(3), body)).expect("records serialise")
}

/// One invocation's `platform.start`, `platform.runtimeDone` and `platform.report`, each naming
/// the tenant as Lambda does under tenant isolation.
fn tenant_invocation(request_id: &str, at: DateTime<Utc>, init_ms: Option<f64>) -> Vec<Value> {
    invocation(request_id, at, init_ms)
        .into_iter()
        .map(|mut record| {
            match &mut record.body {
                RecordBody::Start(r) => r.tenant_id = Some(TENANT.into()),
                RecordBody::RuntimeDone(r) => r.tenant_id = Some(TENANT.into()),
                RecordBody::Report(r) => r.tenant_id = Some(TENANT.into()),
                _ => {}
            }
            serde_json::to_value(&record).expect("records serialise")
        })
        .collect()
}

/// One init in the order of Lambda's own init code (`initStart`, `initRuntimeDone`,
/// `platform.extension`, `initReport`), in `phase` (`init`, or `invoke` for the retry of a
/// failed init inside the first invocation), ending with `status` / `error_type`.
fn init_in_lambda_order(
    phase: &str,
    start: DateTime<Utc>,
    init_ms: i64,
    status: &str,
    error_type: Option<&str>,
) -> Vec<Value> {
    let end = start + ms(init_ms);
    vec![
        wire(
            start,
            RecordBody::InitStart(InitStart {
                initialization_type: ON_DEMAND.into(),
                phase: phase.into(),
                instance: Instance {
                    runtime_version: Some("provided:al2023.v100".into()),
                    runtime_version_arn: None,
                    function_name: FUNCTION_NAME.into(),
                    function_version: "$LATEST".into(),
                    instance_id: Some("instance-0001".into()),
                    instance_max_memory: Some(128 * 1024 * 1024),
                },
            }),
        ),
        wire(
            end,
            RecordBody::InitRuntimeDone(InitRuntimeDone {
                initialization_type: ON_DEMAND.into(),
                phase: phase.into(),
                status: status.into(),
                error_type: error_type.map(Into::into),
                spans: Vec::new(),
            }),
        ),
        wire(
            end,
            RecordBody::Extension(Extension {
                name: "coldmark".into(),
                state: "Ready".into(),
                events: vec!["INVOKE".into(), "SHUTDOWN".into()],
                error_type: None,
            }),
        ),
        wire(
            end,
            RecordBody::InitReport(InitReport {
                initialization_type: ON_DEMAND.into(),
                phase: phase.into(),
                status: status.into(),
                error_type: error_type.map(Into::into),
                metrics: DurationMetrics {
                    duration_ms: init_ms as f64,
                },
                spans: Vec::new(),
            }),
        ),
    ]
}

fn metric_names(marker: &Value) -> Vec<&str> {
    marker["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_marker_of_a_tenant_environment_names_its_tenant() {
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let init_start = Utc::now();
    let coldmark = lambda.spawn_ready(COLDMARK, &[]).await;
    // The init's records come before the first INVOKE; that invocation's records (the first to
    // name the tenant) are held up by the freeze after it and come only after INVOKE #2.
    lambda
        .deliver(&init_records_lambda_order(init_start, 55))
        .await;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    lambda.invoke("req-2");
    lambda.wait_next(3).await;
    let mut thawed = tenant_invocation("req-1", init_start + ms(56), Some(55.0));
    thawed.extend(tenant_invocation("req-2", init_start + ms(900), None));
    lambda.deliver(&thawed).await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;

    assert!(out.status.success(), "{:?}", out.status);
    assert!(out.stderr.is_empty(), "no warnings: {}", out.stderr);
    assert_eq!(out.kinds(), ["init", "invoke", "shutdown"]);
    let markers = out.markers();
    for marker in &markers {
        assert_eq!(marker["tenant_id"], TENANT, "{marker}");
        assert_eq!(marker["env_id"], "instance-0001");
    }
    let init = &markers[0];
    assert_eq!(init["init_status"], "success");
    assert!(init.get("init_error_type").is_none(), "{init}");
    assert!(init.get("InitError").is_none(), "{init}");
    assert_eq!(init["init_duration_ms"], 55.0);
    assert_eq!(markers[1]["function_request_id"], "req-1");
    assert_eq!(markers[1]["cold_start"], true);
    assert_eq!(markers[2]["invocations"], 2);
}

#[tokio::test]
async fn a_failed_init_and_its_retry_write_two_init_markers_with_their_status() {
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    // Stamped so that the retry ends just before the INVOKE below.
    let t0 = Utc::now() - ms(336);
    let coldmark = lambda.spawn_ready(COLDMARK, &[]).await;
    // Lambda's order: the init fails; when the first request comes, Lambda runs init again
    // inside its invocation (phase `invoke`) and only then hands the request over.
    lambda
        .deliver(&init_in_lambda_order(
            "init",
            t0,
            41,
            "error",
            Some("Runtime.ExitError"),
        ))
        .await;
    let retry_start = t0 + ms(300);
    lambda
        .deliver(&init_in_lambda_order(
            "invoke",
            retry_start,
            35,
            "success",
            None,
        ))
        .await;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    lambda
        .deliver(&tenant_invocation(
            "req-1",
            retry_start + ms(36),
            Some(35.0),
        ))
        .await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;

    assert!(out.status.success(), "{:?}", out.status);
    assert!(out.stderr.is_empty(), "no warnings: {}", out.stderr);
    assert_eq!(out.kinds(), ["init", "init", "invoke", "shutdown"]);
    let markers = out.markers();
    let (failed, retry, invoke) = (&markers[0], &markers[1], &markers[2]);

    assert_eq!(failed["init_phase"], "init");
    assert_eq!(failed["init_status"], "error");
    assert_eq!(failed["init_error_type"], "Runtime.ExitError");
    assert_eq!(failed["InitError"], 1);
    assert_eq!(failed["ColdStart"], 1);
    assert!(metric_names(failed).contains(&"InitError"), "{failed}");
    assert_eq!(failed["init_duration_ms"], 41.0);
    assert_eq!(failed["proactive"], false, "req-1 waited for it");
    assert!(failed.get("function_request_id").is_none());

    assert_eq!(retry["init_phase"], "invoke");
    assert_eq!(retry["init_status"], "success");
    assert!(retry.get("init_error_type").is_none(), "{retry}");
    assert!(retry.get("InitError").is_none(), "{retry}");
    assert!(!metric_names(retry).contains(&"InitError"), "{retry}");
    assert_eq!(retry["function_request_id"], "req-1");
    assert_eq!(retry["init_duration_ms"], 35.0);

    assert_eq!(invoke["function_request_id"], "req-1");
    assert_eq!(invoke["cold_start"], true);
    let since_retry = invoke["since_init_ms"].as_f64().unwrap();
    assert!(
        since_retry >= 0.0,
        "timed from the retry's end: {since_retry}"
    );
    for marker in &markers {
        assert_eq!(marker["tenant_id"], TENANT, "{marker}");
        assert_eq!(marker["env_id"], "instance-0001");
    }
}
