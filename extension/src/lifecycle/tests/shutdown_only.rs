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
            Record::RestoreStart {
                time: t(0),
                runtime_version: None,
                function_name: None,
                function_version: None,
                instance_id: Some("restored-1".into()),
                instance_max_memory_mb: None,
            },
            Record::RestoreReport {
                time: t(200),
                duration_ms: Some(200.0),
            },
        ],
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["env_id"], "restored-1");
    assert_eq!(out[0]["init_duration_ms"], 200.0);
    assert!(m.finish().is_empty());
}
