//! coldmark's own lenient parser against records made by the shared wire model
//! (`lambda-wire`), which follows AWS's Telemetry API schema reference field for field.
//! The parser stays separate on purpose (one bad or new record must cost that record only);
//! this test keeps the two from drifting: every record type Lambda sends parses, with the
//! figures coldmark reads, and memory sent in bytes comes out in MB.

use chrono::{DateTime, Utc};
use coldmark::telemetry::record::{Parser, Record as Parsed};
use coldmark_testkit::fake_lambda::invocation;
use lambda_wire::telemetry::*;
use serde_json::json;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn parse(records: &[Record]) -> (Vec<Parsed>, Vec<String>) {
    let body = serde_json::to_vec(records).unwrap();
    let parsed = Parser::default().parse_batch(&body);
    (parsed.records, parsed.warnings)
}

fn one(record: Record) -> Parsed {
    let (mut records, warnings) = parse(&[record]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(records.len(), 1, "{records:?}");
    records.remove(0)
}

#[test]
fn init_records_parse_with_instance_and_memory_in_mb() {
    let t = at("2026-11-25T10:00:00.123Z");
    let parsed = one(Record::new(
        t,
        RecordBody::InitStart(InitStart {
            initialization_type: ON_DEMAND.into(),
            phase: "init".into(),
            instance: Instance {
                runtime_version: Some("provided:al2023.v100".into()),
                runtime_version_arn: Some("arn:aws:lambda:eu-west-1::runtime:abc".into()),
                function_name: "clock".into(),
                function_version: "$LATEST".into(),
                instance_id: Some("instance-7".into()),
                instance_max_memory: Some(1769 * 1024 * 1024),
            },
        }),
    ));
    let Parsed::InitStart {
        time,
        initialization_type,
        phase,
        function_name,
        instance_id,
        instance_max_memory_mb,
        ..
    } = parsed
    else {
        panic!("not an initStart: {parsed:?}");
    };
    assert_eq!(time, t);
    assert_eq!(initialization_type.as_deref(), Some("on-demand"));
    assert_eq!(phase.as_deref(), Some("init"));
    assert_eq!(function_name.as_deref(), Some("clock"));
    assert_eq!(instance_id.as_deref(), Some("instance-7"));
    assert_eq!(instance_max_memory_mb, Some(1769));

    let parsed = one(Record::new(
        t,
        RecordBody::InitReport(InitReport {
            initialization_type: ON_DEMAND.into(),
            phase: "init".into(),
            status: "success".into(),
            error_type: None,
            metrics: DurationMetrics { duration_ms: 42.5 },
            spans: Vec::new(),
        }),
    ));
    assert!(
        matches!(parsed, Parsed::InitReport { duration_ms: Some(d), .. } if d == 42.5),
        "{parsed:?}"
    );
    let parsed = one(Record::new(
        t,
        RecordBody::InitRuntimeDone(InitRuntimeDone {
            initialization_type: ON_DEMAND.into(),
            phase: "init".into(),
            status: "success".into(),
            error_type: None,
            spans: Vec::new(),
        }),
    ));
    assert!(
        matches!(&parsed, Parsed::InitRuntimeDone { outcome, .. } if outcome.status.as_deref() == Some("success")),
        "{parsed:?}"
    );
}

#[test]
fn invocation_records_parse_with_the_report_figures() {
    let t = at("2026-11-25T10:00:01Z");
    // One invocation as the test kit's fake Lambda sends it (Init Duration 120.5 ms), then a
    // line of the function.
    let mut sent = invocation("req-1", t, Some(120.5));
    sent.push(Record::new(
        t,
        RecordBody::Function(json!("a line the function wrote")),
    ));
    let (records, warnings) = parse(&sent);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(matches!(&records[0], Parsed::Start { request_id, .. } if request_id == "req-1"));
    assert!(matches!(&records[1], Parsed::RuntimeDone { request_id, .. } if request_id == "req-1"));
    let Parsed::Report { metrics, .. } = &records[2] else {
        panic!("not a report: {:?}", records[2]);
    };
    assert_eq!(metrics.duration_ms, Some(3.25));
    assert_eq!(metrics.billed_duration_ms, Some(4));
    assert_eq!(metrics.max_memory_used_mb, Some(19));
    assert_eq!(metrics.init_duration_ms, Some(120.5));
}

#[test]
fn restore_extension_subscription_and_dropped_records_parse() {
    let t = at("2026-11-25T10:00:02Z");
    let parsed = one(Record::new(
        t,
        RecordBody::RestoreStart(Instance {
            runtime_version: None,
            runtime_version_arn: None,
            function_name: "clock".into(),
            function_version: "3".into(),
            instance_id: Some("instance-8".into()),
            instance_max_memory: Some(512 * 1024 * 1024),
        }),
    ));
    assert!(
        matches!(&parsed, Parsed::RestoreStart { instance_max_memory_mb: Some(512), instance_id: Some(id), .. } if id == "instance-8"),
        "{parsed:?}"
    );
    let parsed = one(Record::new(
        t,
        RecordBody::RestoreReport(RestoreReport {
            status: "success".into(),
            error_type: None,
            metrics: DurationMetrics { duration_ms: 15.25 },
            spans: Vec::new(),
        }),
    ));
    assert!(
        matches!(parsed, Parsed::RestoreReport { duration_ms: Some(d), .. } if d == 15.25),
        "{parsed:?}"
    );
    let parsed = one(Record::new(
        t,
        RecordBody::RestoreRuntimeDone(RestoreRuntimeDone {
            status: "success".into(),
            error_type: None,
            spans: Vec::new(),
        }),
    ));
    assert!(
        matches!(parsed, Parsed::RestoreRuntimeDone { .. }),
        "{parsed:?}"
    );
    let parsed = one(Record::new(
        t,
        RecordBody::Extension(Extension {
            name: "coldmark".into(),
            state: "Ready".into(),
            events: vec!["INVOKE".into(), "SHUTDOWN".into()],
            error_type: None,
        }),
    ));
    assert!(
        matches!(&parsed, Parsed::Extension { name, events, .. } if name == "coldmark" && events.len() == 2),
        "{parsed:?}"
    );
    let parsed = one(Record::new(
        t,
        RecordBody::TelemetrySubscription(TelemetrySubscription {
            name: "coldmark".into(),
            state: "Subscribed".into(),
            types: vec!["platform".into()],
        }),
    ));
    assert!(
        matches!(parsed, Parsed::TelemetrySubscription { .. }),
        "{parsed:?}"
    );
    let parsed = one(Record::new(
        t,
        RecordBody::LogsDropped(LogsDropped {
            reason: "Consumer seems to have fallen behind".into(),
            dropped_records: 12,
            dropped_bytes: 3456,
        }),
    ));
    assert_eq!(
        parsed,
        Parsed::LogsDropped {
            dropped_records: 12
        }
    );
}

#[test]
fn failed_inits_and_tenants_parse() {
    let t = at("2026-11-25T10:00:03Z");
    let parsed = one(Record::new(
        t,
        RecordBody::InitReport(InitReport {
            initialization_type: ON_DEMAND.into(),
            phase: "init".into(),
            status: "error".into(),
            error_type: Some("Runtime.ExitError".into()),
            metrics: DurationMetrics { duration_ms: 41.0 },
            spans: Vec::new(),
        }),
    ));
    let Parsed::InitReport { outcome, .. } = &parsed else {
        panic!("not an initReport: {parsed:?}");
    };
    assert_eq!(outcome.status.as_deref(), Some("error"));
    assert_eq!(outcome.error_type.as_deref(), Some("Runtime.ExitError"));
    let parsed = one(Record::new(
        t,
        RecordBody::RestoreRuntimeDone(RestoreRuntimeDone {
            status: "failure".into(),
            error_type: Some("Runtime.RestoreHookError".into()),
            spans: Vec::new(),
        }),
    ));
    assert!(
        matches!(&parsed, Parsed::RestoreRuntimeDone { outcome, .. }
            if outcome.status.as_deref() == Some("failure")
                && outcome.error_type.as_deref() == Some("Runtime.RestoreHookError")),
        "{parsed:?}"
    );
    // AWS's tenant isolation example: tenantId beside requestId on the invocation's records.
    let mut sent = invocation("req-1", t, None);
    for record in &mut sent {
        match &mut record.body {
            RecordBody::Start(r) => r.tenant_id = Some("BlueTenant".into()),
            RecordBody::RuntimeDone(r) => r.tenant_id = Some("BlueTenant".into()),
            RecordBody::Report(r) => r.tenant_id = Some("BlueTenant".into()),
            _ => {}
        }
    }
    let (records, warnings) = parse(&sent);
    assert!(warnings.is_empty(), "{warnings:?}");
    let tenants: Vec<Option<&str>> = records
        .iter()
        .map(|r| match r {
            Parsed::Start { tenant_id, .. }
            | Parsed::RuntimeDone { tenant_id, .. }
            | Parsed::Report { tenant_id, .. } => tenant_id.as_deref(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tenants, [Some("BlueTenant"); 3]);
    // Without tenant isolation Lambda sends none.
    let (records, _) = parse(&invocation("req-2", t, None));
    assert!(matches!(
        &records[0],
        Parsed::Start {
            tenant_id: None,
            ..
        }
    ));
}
