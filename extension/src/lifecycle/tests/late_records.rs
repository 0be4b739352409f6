//! Records that come late, split by a freeze, or not at all: what is held, and when it is
//! released with what is known.

use super::*;

#[test]
fn no_telemetry_writes_at_the_first_invoke_from_the_extension_alone() {
    let mut m = machine(InvokeMarkers::First, "on-demand");
    m.ready(t(3), 4.5);
    let out = json(&m.on_invoke(invoke("r1", 50)));
    assert_eq!(out.len(), 2);
    let init = &out[0];
    assert_eq!(init["source"], "extension");
    assert_eq!(init["env_id"], "generated");
    assert_eq!(init["init_type"], "on-demand");
    assert!(init["init_duration_ms"].is_null());
    assert!(init["runtime_init_ms"].is_null());
    assert!(init["extensions_init_ms"].is_null());
    assert!(init["extensions"].is_null());
    assert!(init["runtime_version"].is_null());
    assert_eq!(init["coldmark_init_ms"], 4.5);
    assert_eq!(init["proactive"], false);
    assert!(init.get("InitDuration").is_none());
    assert_eq!(init["ColdStart"], 1);
    assert_eq!(
        init["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(out[1]["cold_start"], true);
    assert!(out[1].get("duration_ms").is_none());
    assert!(m.on_invoke(invoke("r2", 60)).is_empty());
}

#[test]
fn no_telemetry_needs_a_much_longer_gap_to_call_it_proactive() {
    let mut m = machine(InvokeMarkers::First, "on-demand");
    m.ready(t(0), 4.5);
    let out = json(&m.on_invoke(invoke("r1", 5000)));
    assert_eq!(out[0]["proactive"], false);
    let mut m = machine(InvokeMarkers::First, "on-demand");
    m.ready(t(0), 4.5);
    let out = json(&m.on_invoke(invoke("r1", 11_001 + 10)));
    assert_eq!(out[0]["proactive"], true);
    assert_eq!(out[1]["cold_start"], false);
}

#[test]
fn subscribed_but_silent_telemetry_releases_when_the_first_invoke_is_overdue() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    assert!(m.on_invoke(invoke("r1", 10)).is_empty());
    // The init's records may be held up by the freeze and arrive at this thaw: wait.
    assert!(m.on_invoke(invoke("r2", 20)).is_empty());
    // Two INVOKEs later, but within the grace: records of a burst are still on their way.
    assert!(m.on_invoke(invoke("r3", 30)).is_empty());
    // Two INVOKEs later and past the grace the first invocation is overdue: both markers
    // go, with what is known.
    let out = json(&m.on_invoke(invoke("r4", 10 + REPORT_GRACE_MS as i64)));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["coldmark"], "init");
    assert_eq!(out[0]["source"], "extension");
    assert_eq!(out[1]["function_request_id"], "r1");
    assert!(out[1].get("duration_ms").is_none());
}

#[test]
fn init_records_arriving_after_the_second_invoke_fill_the_same_init() {
    // Sandbox and Lambda freeze the environment after an invocation: the init's records can
    // reach coldmark only at the next thaw, just after INVOKE #2.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    assert!(m.on_invoke(invoke("r1", 12)).is_empty());
    assert!(m.on_invoke(invoke("r2", 520)).is_empty());
    let out = json(&feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            runtime_done(8),
            init_report(11, 11.0),
            report("r1", 20, Some(11.0)),
        ],
    ));
    let inits: Vec<_> = out.iter().filter(|v| v["coldmark"] == "init").collect();
    assert_eq!(inits.len(), 1, "one init marker per init: {out:?}");
    assert_eq!(inits[0]["source"], "telemetry");
    assert_eq!(inits[0]["init_duration_ms"], 11.0);
    assert_eq!(inits[0]["env_id"], "instance-1");
    assert!(out.iter().all(|v| v["env_id"] == "instance-1"));
    // Records that arrive after an init marker went out without them add no second one,
    // and the id its markers carry does not change.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    m.on_invoke(invoke("r1", 12));
    m.on_invoke(invoke("r2", 520));
    let early = json(&m.on_invoke(invoke("r3", 1020)));
    assert!(!early.is_empty(), "r1 is overdue at r3 past the grace");
    assert_eq!(early[0]["coldmark"], "init");
    let late = json(&feed(
        &mut m,
        vec![init_start(0, "on-demand", "init"), init_report(11, 11.0)],
    ));
    assert!(late.iter().all(|v| v["coldmark"] != "init"), "{late:?}");
    let shutdown = json(&[m.shutdown_marker("spindown", t(2000), 0)]);
    assert_eq!(shutdown[0]["env_id"], early[0]["env_id"]);
}

#[test]
fn a_burst_inside_one_buffering_window_still_gets_the_init_records() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    for (i, at) in [12, 14, 16, 18, 20].into_iter().enumerate() {
        let out = json(&m.on_invoke(invoke(&format!("r{}", i + 1), at)));
        assert!(out.is_empty(), "nothing before the records: {out:?}");
    }
    let out = json(&feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            runtime_done(8),
            init_report(11, 11.0),
            report("r1", 13, Some(11.0)),
        ],
    ));
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["source"], "telemetry");
    assert_eq!(out[0]["init_duration_ms"], 11.0);
    assert_eq!(out[0]["env_id"], "instance-1");
    assert_eq!(out[1]["function_request_id"], "r1");
    assert_eq!(out[1]["duration_ms"], 2.25);
}

#[test]
fn late_records_after_invoke_still_fill_the_init_marker() {
    // Init shorter than the buffering window: every init record arrives after INVOKE.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    assert!(m.on_invoke(invoke("r1", 12)).is_empty());
    let out = json(&feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            runtime_done(8),
            init_report(11, 11.0),
            report("r1", 20, Some(11.0)),
        ],
    ));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["init_duration_ms"], 11.0);
    assert_eq!(out[0]["runtime_init_ms"], 8.0);
    assert_eq!(out[0]["env_id"], "instance-1");
    assert_eq!(out[0]["source"], "telemetry");
    assert_eq!(out[1]["cold_start"], true);
}

#[test]
fn an_init_split_across_the_freeze_waits_for_the_thaw() {
    // initStart reached coldmark before INVOKE #1; the rest of the init's records (and
    // the first invocation's) only at the thaw, just after INVOKE #2.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    assert!(feed(&mut m, vec![init_start(0, "on-demand", "init")]).is_empty());
    assert!(m.on_invoke(invoke("r1", 120)).is_empty());
    assert!(
        m.on_invoke(invoke("r2", 5000)).is_empty(),
        "an init with only some of its records in is not complete"
    );
    let out = json(&feed(
        &mut m,
        vec![
            runtime_done(80),
            init_report(119, 119.0),
            report("r1", 125, Some(119.0)),
        ],
    ));
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["coldmark"], "init");
    assert_eq!(out[0]["init_duration_ms"], 119.0);
    assert!(!out[0]["runtime_init_ms"].is_null());
    assert_eq!(out[1]["init_duration_ms"], 119.0);
}

#[test]
fn a_silent_subscription_without_invoke_markers_releases_the_init_after_the_grace() {
    let mut m = subscribed(InvokeMarkers::None, "on-demand");
    assert!(m.on_invoke(invoke("r1", 10)).is_empty());
    assert!(m.on_invoke(invoke("r2", 20)).is_empty());
    assert!(m.on_invoke(invoke("r3", 30)).is_empty(), "within the grace");
    let out = json(&m.on_invoke(invoke("r4", 10 + REPORT_GRACE_MS as i64)));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["coldmark"], "init");
    assert_eq!(out[0]["source"], "extension");
    assert_eq!(out[0]["coldmark_init_ms"], 7.0);
}
