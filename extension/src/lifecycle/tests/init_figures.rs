//! An init's figures: the split between runtime and extensions, proactive inits, SnapStart
//! restores, re-inits, and nulls (never invented figures) where records are missing.

use super::*;

#[test]
fn on_demand_init_at_its_first_platform_start_and_invoke_marker_waits_for_its_report() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let early = feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            Record::Extension {
                name: "coldmark".into(),
                state: Some("Ready".into()),
                events: vec!["INVOKE".into(), "SHUTDOWN".into()],
            },
            runtime_done(40),
            init_report(100, 100.0),
        ],
    );
    assert!(early.is_empty());
    // INVOKE right after init: the init's records are in, but whether the environment serves
    // a tenant is only known from the invocation's own records.
    let mut out = json(&m.on_invoke(invoke("r1", 101)));
    assert!(out.is_empty(), "{out:?}");
    // Its platform.start names no tenant: the init marker is complete; the invoke marker
    // waits for its report.
    out.extend(json(&feed(&mut m, vec![platform_start("r1", 101, None)])));
    assert_eq!(out.len(), 1);
    assert!(m.awaiting_reports());
    out.extend(json(&feed(
        &mut m,
        vec![
            Record::RuntimeDone {
                time: t(104),
                request_id: "r1".into(),
                status: Some("success".into()),
                tenant_id: None,
            },
            report("r1", 105, Some(100.0)),
        ],
    )));
    assert_eq!(out.len(), 2);
    let (init, inv) = (&out[0], &out[1]);
    assert_eq!(init["coldmark"], "init");
    assert_eq!(init["env_id"], "instance-1");
    assert_eq!(init["init_type"], "on-demand");
    assert_eq!(init["init_phase"], "init");
    assert_eq!(init["init_status"], "success");
    assert!(init.get("init_error_type").is_none());
    assert!(init.get("InitError").is_none());
    assert!(init.get("tenant_id").is_none(), "no tenant: no field");
    assert_eq!(init["init_duration_ms"], 100.0);
    assert_eq!(init["runtime_init_ms"], 40.0);
    assert_eq!(init["extensions_init_ms"], 60.0);
    assert_eq!(init["coldmark_init_ms"], 7.0);
    assert_eq!(init["proactive"], false);
    assert_eq!(init["source"], "telemetry");
    assert_eq!(init["runtime_version"], "provided:al2023.v1");
    assert_eq!(init["extensions"][0]["name"], "coldmark");
    assert_eq!(init["RuntimeInitDuration"], 40.0);
    assert_eq!(init["ExtensionsInitDuration"], 60.0);
    assert!(init.get("function_request_id").is_none());
    assert_eq!(inv["coldmark"], "invoke");
    assert_eq!(inv["cold_start"], true);
    assert_eq!(inv["seq"], 1);
    assert_eq!(inv["since_init_ms"], 1.0);
    assert_eq!(inv["duration_ms"], 2.25);
    assert_eq!(inv["billed_duration_ms"], 3);
    assert_eq!(inv["max_memory_used_mb"], 20);
    assert_eq!(inv["init_duration_ms"], 100.0);
    assert_eq!(inv["xray_trace_id"], "Root=1-r1");
    assert_eq!(inv["env_id"], "instance-1");
    // Later invocations: no marker by default.
    assert!(m.on_invoke(invoke("r2", 5000)).is_empty());
    assert!(feed(&mut m, vec![report("r2", 5003, None)]).is_empty());
    assert!(!m.awaiting_reports());
    assert!(m.finish().is_empty());
    let end: Value =
        serde_json::from_str(&m.shutdown_marker("spindown", t(9000), 0).to_line()).unwrap();
    assert_eq!(end["coldmark"], "shutdown");
    assert_eq!(end["reason"], "spindown");
    assert_eq!(end["invocations"], 2);
    assert_eq!(end["lifetime_ms"], 9000.0);
    assert_eq!(end["dropped"], 0);
}

#[test]
fn lambda_order_runtime_done_at_the_end_leaves_the_split_unknown() {
    // Lambda's own order: initRuntimeDone only once every extension is ready, then one
    // platform.extension per extension, then initReport.
    let init = init_marker_of(vec![
        init_start(0, "on-demand", "init"),
        runtime_done(100),
        extension_record(),
        init_report(100, 100.4),
    ]);
    assert_eq!(init["init_duration_ms"], 100.4);
    assert!(init["runtime_init_ms"].is_null(), "{init}");
    assert!(init["extensions_init_ms"].is_null(), "{init}");
    assert_eq!(init["coldmark_init_ms"], 7.0);
    assert!(init.get("RuntimeInitDuration").is_none(), "{init}");
    assert!(init.get("ExtensionsInitDuration").is_none(), "{init}");
}

#[test]
fn runtime_done_first_order_keeps_the_split_and_no_part_exceeds_the_whole() {
    // initRuntimeDone at the runtime's first /next, extension records at registration;
    // record times in whole ms (4 ms) against a durationMs of 3.4 ms.
    let init = init_marker_of(vec![
        init_start(0, "on-demand", "init"),
        extension_record(),
        runtime_done(4),
        init_report(4, 3.4),
    ]);
    assert_eq!(init["init_duration_ms"], 3.4);
    assert_eq!(init["runtime_init_ms"], 3.4, "{init}");
    assert_eq!(init["extensions_init_ms"], 0.0, "{init}");
    assert_eq!(init["coldmark_init_ms"], 7.0);
}

#[test]
fn provisioned_concurrency_is_proactive_and_not_cold() {
    let mut m = subscribed(InvokeMarkers::First, "provisioned-concurrency");
    feed(
        &mut m,
        vec![
            init_start(0, "provisioned-concurrency", "init"),
            runtime_done(300),
            init_report(310, 310.0),
        ],
    );
    let mut out = json(&m.on_invoke(invoke("r1", 60_000)));
    out.extend(json(&feed(&mut m, vec![report("r1", 60_010, None)])));
    assert_eq!(out[0]["init_type"], "provisioned-concurrency");
    assert_eq!(out[0]["proactive"], true);
    assert_eq!(out[1]["cold_start"], false);
}

#[test]
fn provisioned_concurrency_that_served_nothing_writes_init_at_shutdown() {
    let mut m = subscribed(InvokeMarkers::First, "provisioned-concurrency");
    feed(
        &mut m,
        vec![
            init_start(0, "provisioned-concurrency", "init"),
            init_report(50, 50.0),
        ],
    );
    let out = json(&m.finish());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["proactive"], true);
    assert_eq!(out[0]["init_duration_ms"], 50.0);
    assert!(out[0]["runtime_init_ms"].is_null());
    assert!(out[0]["extensions_init_ms"].is_null());
}

#[test]
fn proactive_gap_on_demand() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    feed(
        &mut m,
        vec![init_start(0, "on-demand", "init"), init_report(80, 80.0)],
    );
    let mut out = json(&m.on_invoke(invoke("r1", 80 + 1001)));
    out.extend(json(&feed(&mut m, vec![report("r1", 1100, None)])));
    assert_eq!(out[0]["proactive"], true);
    assert_eq!(out[1]["cold_start"], false);
    assert_eq!(out[1]["since_init_ms"], 1001.0);

    // Exactly at the threshold is still a cold start.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    feed(
        &mut m,
        vec![init_start(0, "on-demand", "init"), init_report(80, 80.0)],
    );
    let mut out = json(&m.on_invoke(invoke("r1", 80 + 1000)));
    out.extend(json(&feed(&mut m, vec![report("r1", 1100, None)])));
    assert_eq!(out[0]["proactive"], false);
    assert_eq!(out[1]["cold_start"], true);
}

#[test]
fn snapstart_restore_replaces_the_snapshot_init() {
    let mut m = subscribed(InvokeMarkers::First, "snap-start");
    // The init that ran while the snapshot was made.
    feed(
        &mut m,
        vec![
            init_start(-100_000, "snap-start", "init"),
            init_report(-99_000, 1000.0),
        ],
    );
    // Restored later, in another environment.
    let out = feed(
        &mut m,
        vec![
            restore_start(Some("java21.v1"), Some("restored-1")),
            Record::RestoreRuntimeDone {
                time: t(150),
                outcome: success(),
            },
            Record::RestoreReport {
                time: t(200),
                duration_ms: Some(200.0),
                outcome: success(),
            },
        ],
    );
    assert!(
        out.is_empty(),
        "the snapshot's init is not this environment's"
    );
    let mut out = json(&m.on_invoke(invoke("r1", 201)));
    let mut r = report("r1", 220, None);
    if let Record::Report { metrics, .. } = &mut r {
        metrics.restore_duration_ms = Some(200.0);
    }
    out.extend(json(&feed(&mut m, vec![r])));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["init_type"], "snap-start");
    assert_eq!(out[0]["init_phase"], "init");
    assert_eq!(out[0]["env_id"], "restored-1");
    assert_eq!(out[0]["init_duration_ms"], 200.0);
    assert_eq!(out[0]["runtime_init_ms"], 150.0);
    assert_eq!(out[0]["extensions_init_ms"], 50.0);
    assert!(out[0]["coldmark_init_ms"].is_null());
    assert_eq!(out[0]["runtime_version"], "java21.v1");
    assert_eq!(out[0]["proactive"], false);
    assert_eq!(out[1]["cold_start"], true);
    assert_eq!(out[1]["init_duration_ms"], 200.0);
}

#[test]
fn restore_without_instance_id_gets_a_fresh_env_id() {
    let mut m = subscribed(InvokeMarkers::None, "snap-start");
    feed(&mut m, vec![restore_start(None, None)]);
    let out = json(&m.finish());
    assert_ne!(out[0]["env_id"], "generated");
    assert_eq!(out[0]["env_id"].as_str().unwrap().len(), 32);
}

#[test]
fn reinit_in_invoke_phase_names_the_paying_request() {
    // A fresh coldmark process started by the re-init after a timeout.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "invoke"),
            Record::InitRuntimeDone {
                time: t(30),
                phase: Some("invoke".into()),
                outcome: success(),
            },
            Record::InitReport {
                time: t(35),
                phase: Some("invoke".into()),
                duration_ms: Some(35.0),
                outcome: success(),
            },
        ],
    );
    let mut out = json(&m.on_invoke(invoke("paying", 36)));
    out.extend(json(&feed(&mut m, vec![report("paying", 100, Some(35.0))])));
    assert_eq!(out[0]["init_phase"], "invoke");
    assert_eq!(out[0]["function_request_id"], "paying");
    assert_eq!(out[0]["runtime_init_ms"], 30.0);
    assert_eq!(out[0]["extensions_init_ms"], 5.0);
    assert_eq!(out[0]["proactive"], false);
    assert_eq!(out[1]["cold_start"], true);
}

#[test]
fn second_init_in_the_same_process_gets_its_own_marker() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    feed(
        &mut m,
        vec![init_start(0, "on-demand", "init"), init_report(10, 10.0)],
    );
    assert!(m.on_invoke(invoke("r1", 11)).is_empty());
    assert_eq!(feed(&mut m, vec![report("r1", 20, None)]).len(), 2);
    // Lambda re-ran init inside request r2 (the runtime crashed).
    let out = feed(&mut m, vec![init_start(5000, "on-demand", "invoke")]);
    assert!(out.is_empty());
    let mut out = json(&m.on_invoke(invoke("r2", 5050)));
    out.extend(json(&feed(
        &mut m,
        vec![init_report(5049, 49.0), report("r2", 5100, Some(49.0))],
    )));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["init_phase"], "invoke");
    assert_eq!(out[0]["function_request_id"], "r2");
    assert!(out[0]["coldmark_init_ms"].is_null());
    assert_eq!(out[1]["cold_start"], true);
    assert_eq!(out[1]["seq"], 2);
}

#[test]
fn report_init_duration_fills_a_missing_init_report() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    feed(&mut m, vec![init_start(0, "on-demand", "init")]);
    let mut out = json(&m.on_invoke(invoke("r1", 30)));
    out.extend(json(&feed(&mut m, vec![report("r1", 40, Some(29.5))])));
    assert_eq!(out[0]["init_duration_ms"], 29.5);
    assert!(out[0]["runtime_init_ms"].is_null());
    assert!(out[0]["extensions_init_ms"].is_null());
}

#[test]
fn missing_init_records_give_nulls_never_invented_figures() {
    // Only initReport arrived: no initStart, no initRuntimeDone, no platform.extension.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    feed(&mut m, vec![init_report(60, 60.0)]);
    let mut out = json(&m.on_invoke(invoke("r1", 61)));
    out.extend(json(&feed(&mut m, vec![report("r1", 70, None)])));
    let init = &out[0];
    assert_eq!(init["source"], "telemetry");
    assert_eq!(init["init_duration_ms"], 60.0);
    assert!(init["runtime_init_ms"].is_null());
    assert!(init["extensions_init_ms"].is_null());
    assert!(init["extensions"].is_null());
    assert!(init["runtime_version"].is_null());
    assert_eq!(init["env_id"], "generated");
    assert_eq!(
        init["init_type"], "on-demand",
        "from AWS_LAMBDA_INITIALIZATION_TYPE"
    );
    assert!(init.get("RuntimeInitDuration").is_none());
    assert!(init.get("ExtensionsInitDuration").is_none());
    assert_eq!(init["coldmark_init_ms"], 7.0);
}

#[test]
fn shutdown_before_anything_still_writes_an_init_marker() {
    let mut m = machine(InvokeMarkers::First, "on-demand");
    let out = json(&m.finish());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["proactive"], true);
    assert!(out[0]["coldmark_init_ms"].is_null());
}
