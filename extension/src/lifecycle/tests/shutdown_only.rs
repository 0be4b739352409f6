//! Registered for SHUTDOWN only (Lambda Managed Instances, or a Lambda that refused INVOKE):
//! no INVOKE comes, so no marker waits for one.

use super::*;

/// Registered for SHUTDOWN only (Lambda Managed Instances): subscribed, ready.
fn shutdown_only(init_type: &str) -> Lifecycle {
    let mut m = machine(InvokeMarkers::First, init_type);
    m.registered_without_invoke();
    m.telemetry_subscribed();
    assert!(m.ready(t(2), 7.0).is_empty(), "telemetry will come: wait");
    m
}

#[test]
fn registered_without_invoke_writes_the_init_marker_at_its_init_report() {
    let mut m = shutdown_only("lambda-managed-instances");
    let early = feed(
        &mut m,
        vec![
            init_start(0, "lambda-managed-instances", "init"),
            extension_record(),
            runtime_done(40),
        ],
    );
    assert!(early.is_empty(), "not before the init's report: {early:?}");
    let out = json(&feed(&mut m, vec![init_report(100, 100.0)]));
    assert_eq!(out.len(), 1, "no INVOKE to wait for: {out:?}");
    let init = &out[0];
    assert_eq!(init["coldmark"], "init");
    assert_eq!(init["source"], "telemetry");
    assert_eq!(init["init_type"], "lambda-managed-instances");
    assert_eq!(init["init_duration_ms"], 100.0);
    assert_eq!(init["runtime_init_ms"], 40.0);
    assert_eq!(init["extensions_init_ms"], 60.0);
    assert_eq!(init["coldmark_init_ms"], 7.0);
    assert_eq!(init["env_id"], "instance-1");
    assert!(m.finish().is_empty(), "written once");
    let end = json(&[m.shutdown_marker("spindown", t(9000), 0)]);
    assert_eq!(end[0]["env_id"], "instance-1");
    assert_eq!(end[0]["invocations"], 0);
}

#[test]
fn registered_without_invoke_or_telemetry_writes_the_init_marker_when_ready() {
    let mut m = machine(InvokeMarkers::First, "lambda-managed-instances");
    m.registered_without_invoke();
    let out = json(&m.ready(t(3), 4.5));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["coldmark"], "init");
    assert_eq!(out[0]["source"], "extension");
    assert_eq!(out[0]["coldmark_init_ms"], 4.5);
    assert_eq!(out[0]["init_type"], "lambda-managed-instances");
    assert!(out[0]["init_duration_ms"].is_null());
    assert!(m.finish().is_empty(), "written once");
}

#[test]
fn registered_without_invoke_leaves_the_snapshot_init_to_the_restore() {
    let mut m = shutdown_only("snap-start");
    let out = feed(
        &mut m,
        vec![
            init_start(-100_000, "snap-start", "init"),
            init_report(-99_000, 1000.0),
        ],
    );
    assert!(
        out.is_empty(),
        "the snapshot's init is not this environment's"
    );
    let out = json(&feed(
        &mut m,
        vec![
            restore_start(None, Some("restored-1")),
            Record::RestoreReport {
                time: t(200),
                duration_ms: Some(200.0),
                outcome: success(),
            },
        ],
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["env_id"], "restored-1");
    assert_eq!(out[0]["init_duration_ms"], 200.0);
    assert!(m.finish().is_empty());
}

fn start(id: &str, at: i64) -> Record {
    platform_start(id, at, None)
}

/// `platform.report` as Lambda Managed Instances send it: `durationMs` only.
fn lmi_report(id: &str, at: i64, ms: f64) -> Record {
    Record::Report {
        time: t(at),
        request_id: id.into(),
        metrics: ReportMetrics {
            duration_ms: Some(ms),
            ..ReportMetrics::default()
        },
        tenant_id: None,
    }
}

/// A Lambda Managed Instances environment, its init marker already written.
fn managed_instances(markers: InvokeMarkers) -> Lifecycle {
    let mut m = machine(markers, "lambda-managed-instances");
    m.id.max_concurrency = Some(4);
    m.registered_without_invoke();
    m.telemetry_subscribed();
    m.ready(t(2), 7.0);
    let out = json(&feed(
        &mut m,
        vec![
            init_start(0, "lambda-managed-instances", "init"),
            init_report(100, 100.0),
        ],
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["max_concurrency"], 4);
    assert_eq!(
        out[0]["proactive"], true,
        "no request waits for an LMI init"
    );
    m
}

#[test]
fn concurrent_invocations_from_telemetry_alone() {
    let mut m = managed_instances(InvokeMarkers::All);
    // a, b, c overlap (three in flight), d starts after a and b ended.
    let first = json(&feed(
        &mut m,
        vec![
            start("a", 5000),
            start("b", 5001),
            start("c", 5002),
            lmi_report("b", 5010, 9.0),
        ],
    ));
    assert_eq!(first.len(), 1, "b is complete: {first:?}");
    assert_eq!(first[0]["function_request_id"], "b");
    assert_eq!(first[0]["seq"], 2);
    // The report of a: a marker without any other report figure.
    let second = json(&feed(
        &mut m,
        vec![lmi_report("a", 5020, 20.0), start("d", 5021)],
    ));
    assert_eq!(second.len(), 1, "{second:?}");
    let a = &second[0];
    assert_eq!(a["seq"], 1);
    assert_eq!(a["duration_ms"], 20.0);
    assert_eq!(a["cold_start"], false);
    assert_eq!(a["since_init_ms"], 4900.0);
    for absent in [
        "billed_duration_ms",
        "max_memory_used_mb",
        "init_duration_ms",
    ] {
        assert!(a.get(absent).is_none(), "{absent}: {a}");
    }
    // Redelivered: changes nothing.
    assert!(feed(&mut m, vec![start("a", 5000), lmi_report("a", 5020, 20.0)]).is_empty());
    let last = json(&feed(&mut m, vec![lmi_report("c", 5030, 19.0)]));
    assert_eq!(last[0]["seq"], 3);
    // d never reports: written at shutdown with what is known.
    let rest = json(&m.finish());
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["function_request_id"], "d");
    assert_eq!(rest[0]["seq"], 4);
    assert!(rest[0].get("duration_ms").is_none());
    let end = json(&[m.shutdown_marker("spindown", t(9000), 0)]);
    assert_eq!(end[0]["invocations"], 4);
    assert_eq!(end[0]["peak_concurrency"], 3, "a, b, c at once");
}

#[test]
fn invocations_from_telemetry_follow_the_invoke_marker_setting() {
    let mut m = managed_instances(InvokeMarkers::First);
    let out = json(&feed(
        &mut m,
        vec![
            start("a", 5000),
            start("b", 5001),
            lmi_report("b", 5010, 9.0),
            lmi_report("a", 5020, 20.0),
        ],
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["function_request_id"], "a");
    assert_eq!(out[0]["cold_start"], false);
    let mut none = managed_instances(InvokeMarkers::None);
    assert!(feed(
        &mut none,
        vec![start("a", 5000), lmi_report("a", 5020, 20.0)]
    )
    .is_empty());
    let end = json(&[none.shutdown_marker("spindown", t(9000), 0)]);
    assert_eq!(end[0]["invocations"], 1);
    assert_eq!(end[0]["peak_concurrency"], 1);
}

#[test]
fn with_invoke_events_platform_start_counts_nothing() {
    let mut m = subscribed(InvokeMarkers::All, "on-demand");
    assert!(feed(&mut m, vec![start("a", 10)]).is_empty());
    let end = json(&[m.shutdown_marker("spindown", t(9000), 0)]);
    assert_eq!(end[0]["invocations"], 0);
    assert!(end[0].get("peak_concurrency").is_none());
}

#[test]
fn invocations_in_flight_are_bounded() {
    let mut m = managed_instances(InvokeMarkers::None);
    // 4,096 tracked at most, as docs/security.md says: a changed bound fails here.
    let starts = (0..4096 + 100)
        .map(|i| start(&format!("r{i}"), 5000 + i))
        .collect();
    assert!(feed(&mut m, starts).is_empty());
    let end = json(&[m.shutdown_marker("spindown", t(900_000), 0)]);
    assert_eq!(end[0]["invocations"], 4096 + 100);
    assert_eq!(end[0]["peak_concurrency"], 4096);
}
