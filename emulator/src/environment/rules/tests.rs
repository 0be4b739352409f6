//! One test per rule: state and inputs in, effects and refusals out; no process, no socket.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lambda_wire::extensions::NextEvent;
use lambda_wire::telemetry::RecordBody;

use super::super::contract::InvokeStatus;
use super::*;

fn facts(order: InitRecordOrder) -> Facts {
    let config = FunctionConfig {
        function_name: "f".into(),
        version: "$LATEST".into(),
        memory_mb: 128,
        timeout: Duration::from_secs(3),
        handler: "bootstrap".into(),
        environment: Default::default(),
    };
    let options = EnvironmentOptions {
        init_records: order,
        ..EnvironmentOptions::default()
    };
    Facts::new(&config, &options, "instance", "us-east-1")
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| n.to_string()).collect()
}

/// An environment in init (phase `init`) expecting the external extensions `external`.
fn in_init(order: InitRecordOrder, external: &[&str]) -> ApiState {
    let mut api = ApiState::new(facts(order));
    api.begin_init("init", names(external));
    api
}

fn register(api: &mut ApiState, name: &str, events: &[&str]) -> Result<Vec<Effect>, Refusal> {
    let events = events.iter().map(|e| e.to_string()).collect();
    api.register(name, events, format!("id-{name}"), Instant::now())
}

/// The `type` of each record among `effects`, in order.
fn record_types(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(record) => Some(record_type(record)),
            _ => None,
        })
        .collect()
}

fn record_type(record: &RecordBody) -> String {
    let json = serde_json::to_value(lambda_wire::telemetry::Record::new(
        chrono::Utc::now(),
        record.clone(),
    ))
    .unwrap();
    json["type"].as_str().unwrap().to_string()
}

/// Init through to its end: `a` (external, INVOKE + SHUTDOWN) registered and ready, the
/// runtime asked for its first invocation.
fn initialised(order: InitRecordOrder) -> ApiState {
    let mut api = in_init(order, &["a"]);
    register(&mut api, "a", &["INVOKE", "SHUTDOWN"]).unwrap();
    api.begin_runtime_init();
    api.extension_next("id-a", Instant::now()).unwrap();
    api.runtime_next(Instant::now());
    api.end_init(InitEnd {
        duration_ms: 10.0,
        failure: None,
    });
    api
}

fn invocation(request_id: &str) -> Invocation {
    Invocation {
        request_id: request_id.into(),
        payload: Bytes::from_static(b"{}"),
        deadline_ms: 1_000,
        function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
        trace_id: "Root=1-0-0".into(),
        caller: Caller::default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Registration

#[test]
fn begin_init_emits_init_start_and_opens_registration_to_external_extensions() {
    let mut api = ApiState::new(facts(InitRecordOrder::Lambda));
    let effects = api.begin_init("init", names(&["a"]));
    assert_eq!(record_types(&effects), ["platform.initStart"]);
    let Effect::Emit(RecordBody::InitStart(start)) = &effects[0] else {
        panic!("{effects:?}")
    };
    assert_eq!(start.phase, "init");
    assert_eq!(start.instance.instance_max_memory, Some(134_217_728));
    assert_eq!(api.registration, Registration::External);
}

#[test]
fn an_expected_executable_registers_as_external() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a"]);
    assert_eq!(api.registration_outcome(None), None);
    let effects = register(&mut api, "a", &["INVOKE"]).unwrap();
    assert!(
        effects.is_empty(),
        "Lambda's order reports extensions at init's end"
    );
    assert!(api.extensions[0].external);
    assert_eq!(api.registration_outcome(None), Some(Ok(())));
}

#[test]
fn an_unknown_event_type_is_refused() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a"]);
    let refusal = register(&mut api, "a", &["INVOKE", "RESTORE"]).unwrap_err();
    assert_eq!(refusal.status, StatusCode::FORBIDDEN);
    assert_eq!(refusal.error_type, "Extension.InvalidEventType");
    assert!(api.extensions.is_empty());
}

#[test]
fn a_name_registers_once() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a"]);
    register(&mut api, "a", &[]).unwrap();
    let refusal = register(&mut api, "a", &[]).unwrap_err();
    assert_eq!(refusal.error_type, "Extension.InvalidExtensionState");
    assert_eq!(api.extensions.len(), 1);
}

#[test]
fn more_than_ten_extensions_are_refused() {
    let mut api = in_init(InitRecordOrder::Lambda, &[]);
    for i in 0..MAX_EXTENSIONS {
        register(&mut api, &format!("internal-{i}"), &["INVOKE"]).unwrap();
    }
    let refusal = register(&mut api, "one-too-many", &["INVOKE"]).unwrap_err();
    assert_eq!(refusal.error_type, "Extension.TooManyExtensions");
    assert_eq!(api.extensions.len(), MAX_EXTENSIONS);
}

#[test]
fn an_internal_extension_cannot_subscribe_to_shutdown() {
    let mut api = in_init(InitRecordOrder::Lambda, &[]);
    let refusal = register(&mut api, "internal", &["INVOKE", "SHUTDOWN"]).unwrap_err();
    assert_eq!(refusal.error_type, "Extension.InvalidEventType");
    register(&mut api, "internal", &["INVOKE"]).unwrap();
    assert!(!api.extensions[0].external);
}

#[test]
fn registration_after_the_runtimes_first_next_is_refused_and_fails_the_init() {
    let mut api = in_init(InitRecordOrder::Lambda, &[]);
    api.begin_runtime_init();
    register(&mut api, "early-internal", &["INVOKE"]).unwrap();
    api.runtime_next(Instant::now());
    let refusal = register(&mut api, "late-internal", &["INVOKE"]).unwrap_err();
    assert_eq!(refusal.error_type, "Extension.RegistrationClosed");
    assert!(refusal.message.contains("late-internal"));
    let outcome = api.init_outcome(None).unwrap().unwrap_err();
    assert_eq!(outcome.0, "Extension.InitError");
    assert!(outcome.1.contains("Extension.RegistrationClosed"));
}

#[test]
fn registration_outside_init_is_refused_without_failing_anything() {
    let mut api = initialised(InitRecordOrder::Lambda);
    let refusal = register(&mut api, "late", &[]).unwrap_err();
    assert_eq!(refusal.error_type, "Extension.RegistrationClosed");
    assert_eq!(api.failure, None);
}

#[test]
fn an_extension_that_exits_before_registering_fails_extension_init() {
    let api = in_init(InitRecordOrder::Lambda, &["a"]);
    let role = Role::Extension("a".into());
    let outcome = api.registration_outcome(Some((&role, "exit status 3")));
    let message = outcome.unwrap().unwrap_err();
    assert!(
        message.contains("exited before registering (exit status 3)"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// /next ordering and init completion

#[test]
fn init_completes_when_the_runtime_and_every_extension_wait_for_their_next_event() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a"]);
    register(&mut api, "a", &["INVOKE"]).unwrap();
    api.begin_runtime_init();
    assert_eq!(api.init_outcome(None), None);
    api.runtime_next(Instant::now());
    assert_eq!(api.init_outcome(None), None, "extension a still works");
    assert_eq!(api.waiting_for(), ["a"]);
    api.extension_next("id-a", Instant::now()).unwrap();
    assert_eq!(api.init_outcome(None), Some(Ok(())));
}

#[test]
fn the_runtimes_first_next_closes_internal_registration() {
    let mut api = in_init(InitRecordOrder::Lambda, &[]);
    api.begin_runtime_init();
    assert_eq!(api.registration, Registration::Internal);
    let now = Instant::now();
    let effects = api.runtime_next(now);
    assert!(
        effects.is_empty(),
        "Lambda's order: initRuntimeDone waits for the extensions"
    );
    assert_eq!(api.registration, Registration::Closed);
    assert_eq!(api.init.as_ref().unwrap().runtime_done_at, Some(now));
    // Only the first ask counts.
    assert!(api.runtime_next(now + Duration::from_millis(5)).is_empty());
    assert_eq!(api.runtime.first_next_at, Some(now));
}

#[test]
fn an_unknown_extension_cannot_ask_for_its_next_event() {
    let mut api = in_init(InitRecordOrder::Lambda, &[]);
    let refusal = api.extension_next("nobody", Instant::now()).unwrap_err();
    assert_eq!(refusal.error_type, "Extension.UnknownExtensionIdentifier");
}

#[test]
fn a_runtime_init_error_fails_the_init_only_before_its_first_next() {
    let mut api = in_init(InitRecordOrder::Lambda, &[]);
    api.begin_runtime_init();
    api.runtime_init_error("Runtime.Boom".into()).unwrap();
    let (error_type, message) = api.init_outcome(None).unwrap().unwrap_err();
    assert_eq!(error_type, "Runtime.InitError");
    assert!(message.contains("Runtime.Boom"));

    let mut api = in_init(InitRecordOrder::Lambda, &[]);
    api.runtime_next(Instant::now());
    let refusal = api.runtime_init_error("Runtime.Late".into()).unwrap_err();
    assert_eq!(refusal.error_type, "InvalidStateTransition");
}

#[test]
fn an_extension_init_error_fails_the_init_and_marks_the_extension() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a"]);
    register(&mut api, "a", &["INVOKE"]).unwrap();
    api.extension_init_error("id-a", "Extension.ConfigInvalid")
        .unwrap();
    let (error_type, message) = api.init_outcome(None).unwrap().unwrap_err();
    assert_eq!(error_type, "Extension.InitError");
    assert!(message.contains("extension a reported an init error (Extension.ConfigInvalid)"));
    assert_eq!(
        api.extensions[0].init_error.as_deref(),
        Some("Extension.ConfigInvalid")
    );
    let after = initialised(InitRecordOrder::Lambda)
        .extension_init_error("id-a", "Extension.Late")
        .unwrap_err();
    assert_eq!(after.error_type, "Extension.InvalidExtensionState");
}

#[test]
fn a_process_exiting_during_runtime_init_fails_it_with_its_role() {
    let mut api = in_init(InitRecordOrder::Lambda, &[]);
    api.begin_runtime_init();
    let runtime = Role::Runtime;
    let (error_type, message) = api
        .init_outcome(Some((&runtime, "exit status 1")))
        .unwrap()
        .unwrap_err();
    assert_eq!(error_type, "Runtime.ExitError");
    assert_eq!(message, "the runtime exited during init (exit status 1)");
    let extension = Role::Extension("a".into());
    let (error_type, _) = api
        .init_outcome(Some((&extension, "signal 9")))
        .unwrap()
        .unwrap_err();
    assert_eq!(error_type, "Extension.Crash");
}

// ---------------------------------------------------------------------------------------------
// The init's records

#[test]
fn lambda_order_sends_runtime_done_then_each_extension_then_the_report_at_init_end() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a", "b"]);
    register(&mut api, "a", &["INVOKE"]).unwrap();
    register(&mut api, "b", &["SHUTDOWN"]).unwrap();
    api.begin_runtime_init();
    api.extension_next("id-a", Instant::now()).unwrap();
    assert!(api.runtime_next(Instant::now()).is_empty());
    let (progress, effects) = api.end_init(InitEnd {
        duration_ms: 12.5,
        failure: None,
    });
    assert!(progress.unwrap().runtime_done_at.is_some());
    assert_eq!(
        record_types(&effects),
        [
            "platform.initRuntimeDone",
            "platform.extension",
            "platform.extension",
            "platform.initReport"
        ]
    );
    let states: Vec<(String, String)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(RecordBody::Extension(x)) => Some((x.name.clone(), x.state.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            ("a".to_string(), "Ready".to_string()),
            ("b".to_string(), "Registered".to_string())
        ]
    );
    let Some(Effect::Emit(RecordBody::InitReport(report))) = effects.last() else {
        panic!("{effects:?}")
    };
    assert_eq!(report.metrics.duration_ms, 12.5);
    assert_eq!(report.status, "success");
    assert_eq!(api.registration, Registration::Closed);
}

#[test]
fn runtime_next_order_sends_runtime_done_at_the_first_next_and_extensions_at_registration() {
    let mut api = in_init(InitRecordOrder::AtRuntimeNext, &["a"]);
    let effects = register(&mut api, "a", &["INVOKE"]).unwrap();
    assert_eq!(record_types(&effects), ["platform.extension"]);
    api.begin_runtime_init();
    let effects = api.runtime_next(Instant::now());
    assert_eq!(record_types(&effects), ["platform.initRuntimeDone"]);
    api.extension_next("id-a", Instant::now()).unwrap();
    let (_, effects) = api.end_init(InitEnd {
        duration_ms: 1.0,
        failure: None,
    });
    assert_eq!(record_types(&effects), ["platform.initReport"]);
}

#[test]
fn a_failed_init_reports_the_extension_state_and_error_in_lambdas_order() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a"]);
    register(&mut api, "a", &["INVOKE"]).unwrap();
    api.extension_init_error("id-a", "Extension.ConfigInvalid")
        .unwrap();
    let (_, effects) = api.end_init(InitEnd {
        duration_ms: 3.0,
        failure: Some(("error", "Extension.InitError".into())),
    });
    assert_eq!(
        record_types(&effects),
        [
            "platform.initRuntimeDone",
            "platform.extension",
            "platform.initReport"
        ]
    );
    let Effect::Emit(RecordBody::Extension(ext)) = &effects[1] else {
        panic!("{effects:?}")
    };
    assert_eq!(ext.state, "InitError");
    assert_eq!(ext.error_type.as_deref(), Some("Extension.ConfigInvalid"));
    let Effect::Emit(RecordBody::InitReport(report)) = &effects[2] else {
        panic!("{effects:?}")
    };
    assert_eq!(report.status, "error");
    assert_eq!(report.error_type.as_deref(), Some("Extension.InitError"));
}

#[test]
fn a_failed_init_in_runtime_next_order_sends_runtime_done_only_if_the_runtime_never_asked() {
    let mut api = in_init(InitRecordOrder::AtRuntimeNext, &[]);
    let (_, effects) = api.end_init(InitEnd {
        duration_ms: 3.0,
        failure: Some(("timeout", "Runtime.Timeout".into())),
    });
    assert_eq!(
        record_types(&effects),
        ["platform.initRuntimeDone", "platform.initReport"]
    );

    let mut api = in_init(InitRecordOrder::AtRuntimeNext, &[]);
    api.runtime_next(Instant::now());
    let (_, effects) = api.end_init(InitEnd {
        duration_ms: 3.0,
        failure: Some(("error", "Extension.InitError".into())),
    });
    assert_eq!(record_types(&effects), ["platform.initReport"]);
}

#[test]
fn a_suppressed_init_runs_again_in_the_invoke_phase_and_is_never_a_restore() {
    let mut api = ApiState::new(Facts {
        restore: true,
        ..facts(InitRecordOrder::Lambda)
    });
    let effects = api.begin_init("init", BTreeSet::new());
    assert_eq!(record_types(&effects), ["platform.restoreStart"]);
    api.end_init(InitEnd {
        duration_ms: 1.0,
        failure: Some(("error", "Runtime.InitError".into())),
    });
    // The first invocation runs init again: phase `invoke`, plain init records.
    let effects = api.begin_init("invoke", BTreeSet::new());
    let Effect::Emit(RecordBody::InitStart(start)) = &effects[0] else {
        panic!("{effects:?}")
    };
    assert_eq!(start.phase, "invoke");
    api.runtime_next(Instant::now());
    let (progress, effects) = api.end_init(InitEnd {
        duration_ms: 2.0,
        failure: None,
    });
    assert_eq!(progress.unwrap().phase, "invoke");
    let Some(Effect::Emit(RecordBody::InitReport(report))) = effects.last() else {
        panic!("{effects:?}")
    };
    assert_eq!(report.phase, "invoke");
    // Its invocation's report carries the init, not a restore.
    assert_eq!(
        api.report_init(Some(2.0), Some("invoke")),
        (Some(2.0), None)
    );
    assert_eq!(api.report_init(Some(2.0), Some("init")), (None, Some(2.0)));
}

// ---------------------------------------------------------------------------------------------
// Invoke

#[test]
fn an_invocation_goes_to_the_runtime_and_invoke_subscribers_after_platform_start() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a", "b"]);
    register(&mut api, "a", &["INVOKE", "SHUTDOWN"]).unwrap();
    register(&mut api, "b", &["SHUTDOWN"]).unwrap();
    let effects = api.dispatch_invoke(invocation("r1"), "$LATEST");
    assert_eq!(record_types(&effects[..1]), ["platform.start"]);
    assert!(matches!(&effects[1], Effect::Invoke(i) if i.request_id == "r1"));
    assert_eq!(effects.len(), 3, "only a subscribed to INVOKE: {effects:?}");
    let Effect::Deliver {
        extension_id,
        event: NextEvent::Invoke(event),
    } = &effects[2]
    else {
        panic!("{effects:?}")
    };
    assert_eq!(extension_id, "id-a");
    assert_eq!(event.request_id, "r1");
    assert_eq!(event.tracing.value, "Root=1-0-0");
    assert_eq!(api.extensions[0].enqueued, 1, "a now works on r1");
}

/// Tenant isolation (AWS's "Monitoring Lambda functions with tenant isolation"): the
/// invocation's tenant is `tenantId` in `platform.start`, `platform.runtimeDone` and
/// `platform.report`; without tenant isolation none of them has the field.
#[test]
fn the_invocations_tenant_is_in_its_start_runtime_done_and_report() {
    let mut api = initialised(InitRecordOrder::Lambda);
    let mut blue = invocation("r1");
    blue.caller.tenant_id = Some("blue".into());
    let effects = api.dispatch_invoke(blue, "$LATEST");
    let Effect::Emit(RecordBody::Start(start)) = &effects[0] else {
        panic!("{effects:?}")
    };
    assert_eq!(start.tenant_id.as_deref(), Some("blue"));
    let Effect::Invoke(handed) = &effects[1] else {
        panic!("{effects:?}")
    };
    assert_eq!(
        handed.caller.tenant_id.as_deref(),
        Some("blue"),
        "for the runtime's header"
    );
    let figures = InvokeFigures {
        request_id: "r1".into(),
        tenant_id: Some("blue".into()),
        status: "success",
        error_type: None,
        trace_id: "Root=1-0-0".into(),
    };
    let RecordBody::RuntimeDone(done) = runtime_done_record(&figures, 1.0, 2) else {
        panic!("a runtimeDone")
    };
    assert_eq!(done.tenant_id.as_deref(), Some("blue"));
    let metrics = lambda_wire::telemetry::ReportMetrics::duration_only(1.0);
    let RecordBody::Report(report) = report_record(&figures, metrics) else {
        panic!("a report")
    };
    assert_eq!(report.tenant_id.as_deref(), Some("blue"));
    let plain = InvokeFigures {
        tenant_id: None,
        ..figures
    };
    let json = serde_json::to_value(report_record(&plain, metrics)).unwrap();
    assert!(json.get("tenantId").is_none(), "{json}");
    let effects = api.dispatch_invoke(invocation("r2"), "$LATEST");
    let Effect::Emit(RecordBody::Start(start)) = &effects[0] else {
        panic!("{effects:?}")
    };
    assert_eq!(start.tenant_id, None);
}

#[test]
fn the_runtime_answers_the_current_invocation_once() {
    let mut api = initialised(InitRecordOrder::Lambda);
    api.dispatch_invoke(invocation("r1"), "$LATEST");
    let response = RuntimeOutcome::Response(Bytes::from_static(b"ok"));
    let refusal = api.runtime_answer("r1", response.clone()).unwrap_err();
    assert_eq!(refusal.error_type, "InvalidRequestID", "not handed out yet");
    assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
    api.runtime_took("r1");
    api.runtime_answer("r1", response.clone()).unwrap();
    assert_eq!(api.answer_for("r1"), Some(response.clone()));
    assert_eq!(api.answer_for("r0"), None);
    let again = api.runtime_answer("r1", response).unwrap_err();
    assert_eq!(again.error_type, "InvalidStateTransition");
}

#[test]
fn an_invocation_completes_when_every_invoke_subscriber_asked_again() {
    let mut api = initialised(InitRecordOrder::Lambda);
    api.dispatch_invoke(invocation("r1"), "$LATEST");
    assert_eq!(api.extensions_done(&BTreeSet::new()), None, "a is working");
    assert_eq!(api.extensions_done(&names(&["a"])), Some(true), "a exited");
    api.extension_next("id-a", Instant::now()).unwrap();
    assert_eq!(api.extensions_done(&BTreeSet::new()), Some(false));
}

#[test]
fn a_response_is_a_success_and_an_error_a_function_error() {
    let timeout = Duration::from_secs(3);
    let body = Bytes::from_static(b"ok");
    let end = InvokeEnd::of(
        "r1",
        RuntimeEnd::Answered(RuntimeOutcome::Response(body.clone())),
        timeout,
    );
    assert_eq!((end.status, end.error_type.as_deref()), ("success", None));
    assert!(matches!(end.result, InvokeStatus::Success));
    assert_eq!(end.body, body);
    assert_eq!(end.reset, None);
    let end = InvokeEnd::of(
        "r1",
        RuntimeEnd::Answered(RuntimeOutcome::Error {
            error_type: "Handled".into(),
            body: body.clone(),
        }),
        timeout,
    );
    assert_eq!(end.status, "error");
    assert!(
        matches!(&end.result, InvokeStatus::FunctionError { error_type } if error_type == "Handled")
    );
    assert_eq!(end.reset, None);
    assert!(end.waits_for_extensions());
}

#[test]
fn a_runtime_exit_or_timeout_fails_the_invocation_and_resets_the_environment() {
    let timeout = Duration::from_millis(1500);
    let end = InvokeEnd::of("r1", RuntimeEnd::Exited("exit status 2".into()), timeout);
    assert_eq!(end.status, "failure");
    assert_eq!(end.error_type.as_deref(), Some("Runtime.ExitError"));
    assert_eq!(end.reset, Some(ShutdownReason::Failure));
    let body: serde_json::Value = serde_json::from_slice(&end.body).unwrap();
    assert_eq!(
        body["errorMessage"],
        "RequestId: r1 Error: Runtime exited with error: exit status 2"
    );
    let end = InvokeEnd::of("r1", RuntimeEnd::TimedOut, timeout);
    assert_eq!(end.status, "timeout");
    assert_eq!(end.reset, Some(ShutdownReason::Timeout));
    let body: serde_json::Value = serde_json::from_slice(&end.body).unwrap();
    assert_eq!(body["errorType"], "Sandbox.Timedout");
    assert_eq!(
        body["errorMessage"],
        "RequestId: r1 Error: Task timed out after 1.50 seconds"
    );
    assert!(!end.waits_for_extensions());
    assert_eq!(end.report(None).status, "timeout");
}

#[test]
fn the_report_counts_the_extensions_part_of_an_answered_invocation() {
    let end = InvokeEnd::of(
        "r1",
        RuntimeEnd::Answered(RuntimeOutcome::Response(Bytes::new())),
        Duration::from_secs(1),
    );
    assert_eq!(
        end.report(Some(false)),
        ReportEnd {
            status: "success",
            error_type: None,
            reset: None
        }
    );
    assert_eq!(
        end.report(Some(true)),
        ReportEnd {
            status: "failure",
            error_type: Some("Extension.Crash".into()),
            reset: Some(ShutdownReason::Failure)
        }
    );
    assert_eq!(
        end.report(None),
        ReportEnd {
            status: "timeout",
            error_type: Some("Sandbox.Timedout".into()),
            reset: Some(ShutdownReason::Timeout)
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Shutdown

#[test]
fn shutdown_stops_the_runtime_first_with_lambdas_grace() {
    let deadline = Duration::from_secs(2);
    let mut api = in_init(InitRecordOrder::Lambda, &["a"]);
    assert_eq!(api.runtime_stop(deadline), RuntimeStop::Kill);
    register(&mut api, "a", &["SHUTDOWN"]).unwrap();
    assert_eq!(
        api.runtime_stop(deadline),
        RuntimeStop::Term {
            grace: Duration::from_millis(300)
        }
    );
    register(&mut api, "internal", &["INVOKE"]).unwrap();
    assert_eq!(
        api.runtime_stop(deadline),
        RuntimeStop::Term {
            grace: Duration::from_millis(500)
        }
    );
    assert_eq!(
        api.runtime_stop(Duration::from_millis(100)),
        RuntimeStop::Term {
            grace: Duration::from_millis(100)
        }
    );
}

#[test]
fn shutdown_goes_to_shutdown_subscribers_with_the_kill_time() {
    let mut api = in_init(InitRecordOrder::Lambda, &["a", "b"]);
    register(&mut api, "a", &["INVOKE", "SHUTDOWN"]).unwrap();
    register(&mut api, "b", &["INVOKE"]).unwrap();
    let (effects, subscribed) = api.shutdown_extensions(ShutdownReason::Timeout, 42);
    assert_eq!(subscribed, names(&["a"]));
    let [Effect::Deliver {
        extension_id,
        event: NextEvent::Shutdown(event),
    }] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    assert_eq!(extension_id, "id-a");
    assert_eq!(event.shutdown_reason, "timeout");
    assert_eq!(event.deadline_ms, 42);
    api.reset();
    assert!(api.extensions.is_empty());
    assert_eq!(api.registration, Registration::Closed);
}

fn managed_facts() -> Facts {
    let mut facts = facts(InitRecordOrder::Lambda);
    facts.initialization_type = InitializationType::ManagedInstances;
    facts
}

#[test]
fn managed_instances_refuse_invoke_and_internal_subscriptions_as_lambda_does() {
    let mut api = ApiState::new(managed_facts());
    api.begin_init("init", names(&["coldmark", "other"]));
    let refusal = register(&mut api, "coldmark", &[INVOKE, SHUTDOWN]).unwrap_err();
    assert_eq!(refusal.status, StatusCode::FORBIDDEN);
    assert_eq!(refusal.error_type, "Extension.InvalidEventType");
    assert!(refusal.message.starts_with("INVOKE"), "{}", refusal.message);
    // Refused, it may register again for SHUTDOWN alone (its name is still expected).
    register(&mut api, "coldmark", &[SHUTDOWN]).unwrap();
    register(&mut api, "other", &[]).unwrap();
    api.begin_runtime_init();
    let internal = register(&mut api, "in-process", &[INVOKE]).unwrap_err();
    assert_eq!(internal.error_type, "Extension.InvalidEventType");
    // Elsewhere INVOKE is taken.
    let mut classic = in_init(InitRecordOrder::Lambda, &["coldmark"]);
    register(&mut classic, "coldmark", &[INVOKE, SHUTDOWN]).unwrap();
}

#[test]
fn concurrent_invocations_are_answered_each_once_and_forgotten_when_finished() {
    let mut api = ApiState::new(managed_facts());
    let response = RuntimeOutcome::Response(Bytes::from_static(b"{}"));
    for id in ["r1", "r2", "r3"] {
        api.dispatch_invoke(invocation(id), "1");
        api.runtime_took(id);
    }
    // Answers in any order, each once.
    api.runtime_answer("r2", response.clone()).unwrap();
    api.runtime_answer("r1", response.clone()).unwrap();
    assert_eq!(api.answer_for("r2"), Some(response.clone()));
    assert_eq!(api.answer_for("r3"), None);
    let twice = api.runtime_answer("r2", response.clone()).unwrap_err();
    assert_eq!(twice.error_type, "InvalidStateTransition");
    // A finished invocation takes no late answer.
    api.finish_invocation("r3");
    let late = api.runtime_answer("r3", response.clone()).unwrap_err();
    assert_eq!(late.error_type, "InvalidRequestID");
    assert_eq!(api.answer_for("r1"), Some(response));
}

#[test]
fn managed_instances_give_the_runtime_600_ms_after_sigterm() {
    let mut api = ApiState::new(managed_facts());
    api.begin_init("init", names(&["coldmark"]));
    register(&mut api, "coldmark", &[SHUTDOWN]).unwrap();
    assert_eq!(
        api.runtime_stop(Duration::from_secs(2)),
        RuntimeStop::Term {
            grace: Duration::from_millis(600)
        }
    );
}
