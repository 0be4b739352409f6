//! Tenant isolation: the tenant an environment serves, from the invocation records that name it,
//! on every marker; the init marker waits for it like for its other records, and goes without
//! it when it does not come in time.

use super::*;

fn report_for(tenant: &str, id: &str, at: i64, init_ms: Option<f64>) -> Record {
    let mut r = report(id, at, init_ms);
    if let Record::Report { tenant_id, .. } = &mut r {
        *tenant_id = Some(tenant.into());
    }
    r
}

fn init_records() -> Vec<Record> {
    vec![
        init_start(0, "on-demand", "init"),
        runtime_done(40),
        extension_record(),
        init_report(41, 41.0),
    ]
}

#[test]
fn the_tenant_comes_from_a_platform_start_delivered_after_the_init_report() {
    // The init's records reach coldmark before the first INVOKE; the first invocation's
    // records are held up by the freeze after it and arrive only at the thaw, after INVOKE #2.
    let mut m = subscribed(InvokeMarkers::All, "on-demand");
    assert!(feed(&mut m, init_records()).is_empty());
    assert!(
        m.on_invoke(invoke("r1", 42)).is_empty(),
        "the tenant is not known yet"
    );
    assert!(
        m.on_invoke(invoke("r2", 5000)).is_empty(),
        "r1 is not overdue"
    );
    let out = json(&feed(
        &mut m,
        vec![platform_start("r1", 42, Some("BlueTenant"))],
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    let init = &out[0];
    assert_eq!(init["coldmark"], "init");
    assert_eq!(init["tenant_id"], "BlueTenant");
    assert_eq!(init["init_duration_ms"], 41.0, "its figures are kept");
    assert_eq!(init["init_status"], "success");
    // The invoke markers wait for their reports, which name the tenant as well.
    let out = json(&feed(
        &mut m,
        vec![
            report_for("BlueTenant", "r1", 50, Some(41.0)),
            platform_start("r2", 5000, Some("BlueTenant")),
            report_for("BlueTenant", "r2", 5003, None),
        ],
    ));
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        out.iter().all(|v| v["tenant_id"] == "BlueTenant"),
        "{out:?}"
    );
    assert_eq!(out[0]["cold_start"], true);
    let end = json(&[m.shutdown_marker("spindown", t(9000), 0)]);
    assert_eq!(end[0]["tenant_id"], "BlueTenant");
}

#[test]
fn a_report_names_the_tenant_when_its_platform_start_is_missing() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    feed(&mut m, init_records());
    assert!(m.on_invoke(invoke("r1", 42)).is_empty());
    let out = json(&feed(
        &mut m,
        vec![report_for("BlueTenant", "r1", 50, Some(41.0))],
    ));
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["coldmark"], "init");
    assert!(
        out.iter().all(|v| v["tenant_id"] == "BlueTenant"),
        "{out:?}"
    );
}

#[test]
fn without_a_platform_start_in_time_the_init_marker_goes_without_the_tenant() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    feed(&mut m, init_records());
    assert!(m.on_invoke(invoke("r1", 42)).is_empty());
    assert!(m.on_invoke(invoke("r2", 500)).is_empty());
    assert!(
        m.on_invoke(invoke("r3", 600)).is_empty(),
        "within the grace"
    );
    // Two INVOKEs later and past the grace: overdue, written with what is known.
    let out = json(&m.on_invoke(invoke("r4", 42 + REPORT_GRACE_MS as i64)));
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["coldmark"], "init");
    assert_eq!(out[0]["init_duration_ms"], 41.0);
    assert!(out[0].get("tenant_id").is_none(), "{}", out[0]);
    assert!(out[1].get("tenant_id").is_none(), "{}", out[1]);
    // Named later: the markers still to come carry it.
    assert!(feed(&mut m, vec![platform_start("r1", 42, Some("BlueTenant"))]).is_empty());
    let end = json(&[m.shutdown_marker("spindown", t(9000), 0)]);
    assert_eq!(end[0]["tenant_id"], "BlueTenant");
}

#[test]
fn an_environment_without_a_tenant_writes_no_tenant_field() {
    let mut m = subscribed(InvokeMarkers::All, "on-demand");
    let mut out = feed(&mut m, init_records());
    out.extend(m.on_invoke(invoke("r1", 42)));
    out.extend(feed(
        &mut m,
        vec![platform_start("r1", 42, None), report("r1", 50, Some(41.0))],
    ));
    out.extend(m.finish());
    out.push(m.shutdown_marker("spindown", t(9000), 0));
    let kinds: Vec<&str> = out.iter().map(Marker::kind).collect();
    assert_eq!(kinds, ["init", "invoke", "shutdown"]);
    for line in out.iter().map(Marker::to_line) {
        assert!(!line.contains("tenant"), "skipped, not null: {line}");
    }
}

#[test]
fn without_telemetry_the_init_marker_goes_at_the_first_invoke_without_a_tenant() {
    let mut m = machine(InvokeMarkers::First, "on-demand");
    m.ready(t(3), 4.5);
    let out = json(&m.on_invoke(invoke("r1", 50)));
    assert_eq!(out.len(), 2, "nothing will name a tenant: {out:?}");
    assert!(out.iter().all(|v| v.get("tenant_id").is_none()));
}

#[test]
fn a_platform_start_before_the_invoke_event_does_not_release_the_init_marker_without_its_request() {
    // Lambda's telemetry may bring the first request's `platform.start` before coldmark reads
    // that request's INVOKE: the init marker still waits for the INVOKE (the first request).
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let early = feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            runtime_done(40),
            init_report(50, 50.0),
            platform_start("r1", 60, Some("blue")),
        ],
    );
    assert!(early.is_empty(), "released before its request: {early:?}");
    let out = json(&m.on_invoke(invoke("r1", 61)));
    let init = out
        .iter()
        .find(|v| v["coldmark"] == "init")
        .expect("the init marker at the INVOKE");
    assert_eq!(init["tenant_id"], "blue");
    assert_eq!(init["init_duration_ms"], 50.0);
}
