//! How an init went (`init_status`, `init_error_type`, the `InitError` metric): Lambda's own
//! word from the init's records, `success` for an init a request followed when Lambda said
//! nothing, and a failed init with its retry inside the first invocation as two init markers.

use super::*;

fn init_runtime_done(at: i64, phase: &str, outcome: Outcome) -> Record {
    Record::InitRuntimeDone {
        time: t(at),
        phase: Some(phase.into()),
        outcome,
    }
}

fn init_report_of(at: i64, phase: &str, ms: f64, outcome: Outcome) -> Record {
    Record::InitReport {
        time: t(at),
        phase: Some(phase.into()),
        duration_ms: Some(ms),
        outcome,
    }
}

fn emf_metrics(marker: &Value) -> Vec<String> {
    marker["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .collect()
}

/// The only init marker after `records` and shutdown, nothing else written.
fn lone_init_marker(m: &mut Lifecycle, records: Vec<Record>) -> Value {
    let mut out = json(&feed(m, records));
    out.extend(json(&m.finish()));
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0)
}

#[test]
fn a_failed_init_and_its_retry_inside_the_first_invocation_are_two_init_markers() {
    // Lambda's order: the init fails (the function's init code exited); when the first request
    // comes, Lambda runs init again inside its invocation (phase `invoke`), then the
    // invocation's records, which name the tenant.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let failed = outcome("error", Some("Runtime.ExitError"));
    let held = feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            init_runtime_done(40, "init", failed.clone()),
            extension_record(),
            init_report_of(41, "init", 41.0, failed),
            init_start(300, "on-demand", "invoke"),
            init_runtime_done(330, "invoke", success()),
            extension_record(),
            init_report_of(335, "invoke", 35.0, success()),
        ],
    );
    assert!(held.is_empty(), "both wait for the tenant: {held:?}");
    assert!(m.on_invoke(invoke("paying", 336)).is_empty());
    let mut out = json(&feed(
        &mut m,
        vec![platform_start("paying", 336, Some("BlueTenant"))],
    ));
    assert_eq!(out.len(), 2, "{out:?}");
    out.extend(json(&feed(
        &mut m,
        vec![Record::Report {
            time: t(400),
            request_id: "paying".into(),
            metrics: ReportMetrics {
                duration_ms: Some(60.0),
                init_duration_ms: Some(35.0),
                ..ReportMetrics::default()
            },
            tenant_id: Some("BlueTenant".into()),
        }],
    )));
    assert!(m.finish().is_empty());
    let kinds: Vec<&str> = out
        .iter()
        .map(|v| v["coldmark"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["init", "init", "invoke"]);
    let (first, retry, invocation) = (&out[0], &out[1], &out[2]);

    assert_eq!(first["init_phase"], "init");
    assert_eq!(first["init_status"], "error");
    assert_eq!(first["init_error_type"], "Runtime.ExitError");
    assert_eq!(first["InitError"], 1);
    assert_eq!(
        emf_metrics(first),
        ["ColdStart", "InitDuration", "InitError"]
    );
    assert_eq!(first["init_duration_ms"], 41.0);
    assert!(first.get("function_request_id").is_none());
    assert_eq!(
        first["proactive"], false,
        "the request that came 259 ms after it failed waited for it"
    );
    assert_eq!(first["tenant_id"], "BlueTenant");

    assert_eq!(retry["init_phase"], "invoke");
    assert_eq!(retry["init_status"], "success");
    assert!(retry.get("init_error_type").is_none());
    assert!(retry.get("InitError").is_none());
    assert!(!emf_metrics(retry).contains(&"InitError".to_string()));
    assert_eq!(retry["function_request_id"], "paying");
    assert_eq!(retry["init_duration_ms"], 35.0);
    assert_eq!(retry["proactive"], false);
    assert_eq!(retry["tenant_id"], "BlueTenant");

    assert_eq!(invocation["function_request_id"], "paying");
    assert_eq!(invocation["cold_start"], true);
    assert_eq!(invocation["tenant_id"], "BlueTenant");
    assert!(first["env_id"] == retry["env_id"] && retry["env_id"] == invocation["env_id"]);
}

#[test]
fn a_failed_init_long_before_the_request_that_retried_it_was_proactive() {
    let mut m = subscribed(InvokeMarkers::None, "on-demand");
    let failed = outcome("error", Some("Runtime.ExitError"));
    feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            init_report_of(41, "init", 41.0, failed),
            init_start(60_000, "on-demand", "invoke"),
            init_report_of(60_035, "invoke", 35.0, success()),
        ],
    );
    let mut out = json(&m.on_invoke(invoke("r1", 60_036)));
    out.extend(json(&feed(
        &mut m,
        vec![platform_start("r1", 60_036, None)],
    )));
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        (out[0]["init_status"].as_str(), &out[0]["proactive"]),
        (Some("error"), &Value::Bool(true))
    );
    assert_eq!(out[1]["proactive"], false);
}

#[test]
fn a_timed_out_init_says_timeout() {
    // The init ran out of time and the environment was shut down before any request.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let init = lone_init_marker(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            init_report_of(10_000, "init", 10_000.0, outcome("timeout", None)),
        ],
    );
    assert_eq!(init["init_status"], "timeout");
    assert!(
        init.get("init_error_type").is_none(),
        "Lambda gave no errorType: {init}"
    );
    assert_eq!(init["InitError"], 1);
    assert!(emf_metrics(&init).contains(&"InitError".to_string()));
    assert_eq!(init["proactive"], true, "no request waited for it");
}

#[test]
fn init_runtime_done_tells_when_no_init_report_came() {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let init = lone_init_marker(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            init_runtime_done(30, "init", outcome("failure", Some("Runtime.Unknown"))),
        ],
    );
    assert_eq!(init["init_status"], "failure");
    assert_eq!(init["init_error_type"], "Runtime.Unknown");
    assert_eq!(init["InitError"], 1);
    // The init's own report has the last word, and the error type of either record.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let init = lone_init_marker(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            init_runtime_done(30, "init", outcome("error", Some("Runtime.ExitError"))),
            init_report_of(31, "init", 31.0, outcome("timeout", None)),
        ],
    );
    assert_eq!(init["init_status"], "timeout");
    assert_eq!(init["init_error_type"], "Runtime.ExitError");
}

#[test]
fn a_snapstart_restore_takes_its_status_from_the_restore_report() {
    let mut m = subscribed(InvokeMarkers::First, "snap-start");
    let init = lone_init_marker(
        &mut m,
        vec![
            restore_start(Some("java21.v1"), Some("restored-1")),
            Record::RestoreRuntimeDone {
                time: t(150),
                outcome: outcome("error", Some("Runtime.RestoreHookError")),
            },
            Record::RestoreReport {
                time: t(200),
                duration_ms: Some(200.0),
                outcome: outcome("error", Some("Runtime.RestoreHookError")),
            },
        ],
    );
    assert_eq!(init["init_type"], "snap-start");
    assert_eq!(init["init_status"], "error");
    assert_eq!(init["init_error_type"], "Runtime.RestoreHookError");
    assert_eq!(init["InitError"], 1);
}

#[test]
fn without_a_status_an_init_a_request_followed_succeeded() {
    // Extensions API only: the INVOKE shows the init completed.
    let mut m = machine(InvokeMarkers::First, "on-demand");
    m.ready(t(3), 4.5);
    let out = json(&m.on_invoke(invoke("r1", 50)));
    assert_eq!(out[0]["source"], "extension");
    assert_eq!(out[0]["init_status"], "success");
    assert!(out[0].get("init_error_type").is_none());
    assert!(out[0].get("InitError").is_none());
    // Records without `status` (as some emulators send them): the same.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let mut out = json(&feed(
        &mut m,
        vec![
            init_start(0, "on-demand", "init"),
            init_report_of(20, "init", 20.0, Outcome::default()),
        ],
    ));
    out.extend(json(&m.on_invoke(invoke("r1", 21))));
    out.extend(json(&feed(&mut m, vec![report("r1", 30, None)])));
    assert_eq!(out[0]["init_status"], "success");
    // A success with an errorType is still a success, and has none.
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let init = lone_init_marker(
        &mut m,
        vec![init_report_of(
            20,
            "init",
            20.0,
            outcome("success", Some("Odd.Type")),
        )],
    );
    assert_eq!(init["init_status"], "success");
    assert!(init.get("init_error_type").is_none());
}

#[test]
fn without_a_status_or_a_request_the_status_is_unknown() {
    // Extensions API only, shut down before any request: nothing says how the init went.
    let mut m = machine(InvokeMarkers::First, "provisioned-concurrency");
    m.ready(t(3), 4.5);
    let out = json(&m.finish());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["init_status"], "unknown");
    assert!(out[0].get("init_error_type").is_none());
    assert!(out[0].get("InitError").is_none(), "not counted as failed");
}
