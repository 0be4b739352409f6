//! The execution environment's lifecycle with real processes (fixture runtime and extensions in
//! Python): init waits for every extension, the Runtime and Extensions APIs, invocation
//! completion, freeze, timeouts and crashes (re-init in the invoke phase), SHUTDOWN deadlines.

mod support;

use std::time::{Duration, Instant};
use support::env_support;

use bytes::Bytes;
use env_support::{assert_gone, assert_success, options, request, request_as, Logs, Scratch};
use lambda_emulator::environment::{
    process_state, Environment, InvokeRequest, InvokeStatus, LogSource, ShutdownReason,
};
use serde_json::{json, Value};

fn body(payload: &Bytes) -> Value {
    serde_json::from_slice(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload:?}"))
}

/// Starts `scratch`'s environment with the default options.
async fn start(
    scratch: &Scratch,
    timeout: Duration,
    vars: &[(&str, &str)],
    logs: &Logs,
) -> Environment {
    scratch.start(timeout, vars, options(), logs).await
}

#[tokio::test]
async fn apis_init_invoke_and_spindown() {
    let scratch = Scratch::new(&["plain", "slow-next"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[("USER", "user")], &logs).await;

    // Init ended only once every extension asked for its next event: slow-next waited 300 ms
    // after registering, long after the runtime was ready.
    let init = env.last_init().expect("init figures");
    assert_eq!(init.phase, "init");
    assert!(init.duration_ms >= 300.0, "{init:?}");
    assert!(init.runtime_done_ms < init.duration_ms, "{init:?}");
    let timings = env.extension_timings();
    let names: Vec<&str> = timings.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["plain", "slow-next"]);
    let slow = &timings[1];
    let waited = slow.first_next_at.unwrap() - slow.registered_at.unwrap();
    assert!(waited >= Duration::from_millis(300), "{slow:?}");
    assert!(
        init.duration_ms >= (slow.first_next_at.unwrap() - slow.spawned_at).as_secs_f64() * 1e3
    );
    for t in &timings {
        let (registered, first_next) = (t.registered_at.unwrap(), t.first_next_at.unwrap());
        assert!(
            t.spawned_at <= registered && registered <= first_next,
            "{t:?}"
        );
    }

    // Extensions API: register answers with the identifier and the function's metadata.
    let registered = &scratch.recorded("register", "plain")[0];
    assert_eq!(registered["status"], 200);
    assert!(registered["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(
        registered["body"],
        json!({"functionName": "fixture", "functionVersion": "$LATEST",
               "handler": "fixture.handler", "accountId": "123456789012"})
    );

    // Runtime API: the invocation with Lambda's headers; INVOKE to every extension.
    let before = chrono::Utc::now().timestamp_millis();
    let answer = env
        .invoke(request(json!({"hello": "world"})))
        .await
        .unwrap();
    assert_success(&answer);
    let answer_body = body(&answer.payload);
    assert_eq!(answer_body["event"], json!({"hello": "world"}));
    assert_eq!(answer_body["requestId"], answer.report.request_id.as_str());
    let deadline: i64 = answer_body["deadlineMs"].as_str().unwrap().parse().unwrap();
    assert!(
        deadline >= before + 2_900 && deadline <= before + 4_000,
        "{deadline} vs {before}"
    );
    assert_eq!(
        answer_body["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:fixture"
    );
    assert!(answer_body["traceId"]
        .as_str()
        .unwrap()
        .starts_with("Root=1-"));
    assert_eq!(answer.report.init_duration_ms, Some(init.duration_ms));
    assert!(answer.report.duration_ms > 0.0);
    assert!(answer.report.max_memory_used_mb > 0);
    for name in ["plain", "slow-next"] {
        let events = scratch.recorded("events", name);
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        assert_eq!(events[0]["eventType"], "INVOKE");
        assert_eq!(events[0]["requestId"], answer.report.request_id.as_str());
        assert_eq!(events[0]["deadlineMs"].as_i64(), Some(deadline));
        assert_eq!(events[0]["invokedFunctionArn"], answer_body["functionArn"]);
        assert_eq!(events[0]["tracing"]["type"], "X-Amzn-Trace-Id");
        assert_eq!(events[0]["tracing"]["value"], answer_body["traceId"]);
    }

    // The processes' environment, as on Lambda.
    let answer = env.invoke(request(json!({"env": true}))).await.unwrap();
    assert_eq!(
        answer.report.init_duration_ms, None,
        "only the first invocation pays init"
    );
    let vars = &body(&answer.payload)["env"];
    assert_eq!(vars["AWS_LAMBDA_RUNTIME_API"], env.api_addr().to_string());
    for (key, value) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "fixture"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fixture"),
        ("_HANDLER", "fixture.handler"),
        ("TZ", ":UTC"),
        ("COLDMARK_TELEMETRY_PORT", "0"),
        ("USER", "user"),
    ] {
        assert_eq!(vars[key], value, "{key}");
    }
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "LAMBDA_TASK_ROOT",
        "PATH",
    ] {
        assert!(
            vars[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} missing"
        );
    }

    // A function error is the function's answer, not the platform's.
    let answer = env.invoke(request(json!({"error": true}))).await.unwrap();
    match &answer.status {
        InvokeStatus::FunctionError { error_type } => assert_eq!(error_type, "Fixture.Error"),
        other => panic!("expected a function error, got {other:?}"),
    }
    assert_eq!(body(&answer.payload)["errorType"], "Fixture.Error");
    assert_eq!(env.invocations(), 3);

    let pids = env.pids();
    assert_eq!(pids.len(), 3);
    let outcome = env.shutdown(ShutdownReason::Spindown).await;
    assert!(outcome.killed.is_empty(), "{outcome:?}");
    for name in ["plain", "slow-next"] {
        let last = scratch.recorded("events", name).pop().unwrap();
        assert_eq!(last["eventType"], "SHUTDOWN");
        assert_eq!(last["shutdownReason"], "spindown");
        assert!(last["deadlineMs"].as_i64().unwrap() > before);
    }
    assert_gone(pids).await;

    // Log lines by source, as CloudWatch would get them.
    assert!(
        logs.wait_line(&LogSource::Extension("plain".into()), |l| l
            == "plain got SHUTDOWN")
            .await
    );
    let platform = logs.from(&LogSource::Platform);
    assert!(
        platform[0].starts_with("INIT_START Runtime Version: "),
        "{platform:?}"
    );
    assert!(platform.iter().any(|l| l.starts_with("START RequestId: ")));
    assert!(platform.iter().any(|l| l.starts_with("END RequestId: ")));
    assert!(platform
        .iter()
        .any(|l| l.starts_with("REPORT RequestId: ") && l.contains("Init Duration: ")));
    assert!(logs
        .from(&LogSource::Function)
        .iter()
        .any(|l| l.starts_with("handling ")));
    assert!(logs
        .from(&LogSource::Extension("plain".into()))
        .contains(&"plain got INVOKE".to_string()));
    assert!(logs.lines().iter().all(|l| l.env_id == env_id_of(&logs)));
}

/// Fails unless the platform logged an `INIT_REPORT` with `Status: <status>`.
async fn assert_init_report(logs: &Logs, status: &str) {
    let wanted = format!("Status: {status}");
    assert!(
        logs.wait_line(&LogSource::Platform, |l| l.starts_with("INIT_REPORT")
            && l.contains(&wanted))
            .await,
        "{}",
        logs.dump()
    );
}

fn env_id_of(logs: &Logs) -> String {
    logs.lines()[0].env_id.clone()
}

#[tokio::test]
async fn the_runtime_starts_after_every_extension_registered() {
    // As in Lambda's own init (extensions register, then the runtime boots): an extension
    // that takes 300 ms to register delays the runtime's start, not just the end of init.
    let scratch = Scratch::new(&["slow-register"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[], &logs).await;
    let init = env.last_init().unwrap();
    assert!(init.runtime_done_ms >= 300.0, "{init:?}");
    let timing = &env.extension_timings()[0];
    assert!(timing.registered_at.unwrap() - timing.spawned_at >= Duration::from_millis(300));
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test]
async fn late_registration_fails_init() {
    let scratch = Scratch::new(&["late-register"]);
    let logs = Logs::new();
    let message = scratch.start_failing(&[], options(), &logs).await;
    // (The 403 itself is not asserted from the fixture's side: init fails, and its processes
    // are killed, as soon as the refusal is sent.)
    assert!(
        message.contains("late-internal") && message.contains("Extension.RegistrationClosed"),
        "{message}"
    );
    assert_eq!(
        scratch.recorded("register", "late-register")[0]["status"],
        200
    );
    assert_init_report(&logs, "error").await;
}

#[tokio::test]
async fn init_errors_fail_start_with_their_reason() {
    let runtime = async {
        let scratch = Scratch::new(&["plain"]);
        let logs = Logs::new();
        let vars = [("FIXTURE_RUNTIME", "init-error")];
        scratch.start_failing(&vars, options(), &logs).await
    };
    let extension = async {
        let scratch = Scratch::new(&["init-error"]);
        let logs = Logs::new();
        scratch.start_failing(&[], options(), &logs).await
    };
    let (runtime, extension) = tokio::join!(runtime, extension);
    assert!(
        runtime.contains("Fixture.InitFailed") && runtime.contains("Runtime.InitError"),
        "{runtime}"
    );
    assert!(
        extension.contains("Fixture.ExtensionInitFailed"),
        "{extension}"
    );
}

#[tokio::test]
async fn an_extension_still_working_delays_completion() {
    let scratch = Scratch::new(&["lingers"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[], &logs).await;
    let started = Instant::now();
    let answer = env.invoke(request(json!({}))).await.unwrap();
    assert_success(&answer);
    // The runtime answered at once; the invocation lasted until `lingers` asked again.
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(answer.report.duration_ms >= 400.0, "{:?}", answer.report);
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test]
async fn an_extension_that_never_asks_again_holds_the_invocation_until_the_timeout() {
    let scratch = Scratch::new(&["never-next"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_millis(800), &[], &logs).await;
    let started = Instant::now();
    let first = env.invoke(request(json!({}))).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(800));
    // The runtime's answer stands; the environment is reset and the next request pays init.
    assert_success(&first);
    let second = env.invoke(request(json!({}))).await.unwrap();
    assert!(second.report.init_duration_ms.is_some());
    assert_eq!(env.last_init().unwrap().phase, "invoke");
    drop(env);
}

#[tokio::test]
async fn shutdown_deadline_is_enforced() {
    let scratch = Scratch::new(&["plain", "ignore-shutdown"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[], &logs).await;
    let pids = env.pids();
    let started = Instant::now();
    let outcome = env.shutdown(ShutdownReason::Spindown).await;
    let elapsed = started.elapsed();
    assert_eq!(outcome.killed, ["ignore-shutdown"]);
    assert!(elapsed >= Duration::from_millis(1_900), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2_500), "{elapsed:?}");
    assert_eq!(
        scratch.recorded("events", "ignore-shutdown")[0]["eventType"],
        "SHUTDOWN"
    );
    assert_gone(pids).await;
}

#[tokio::test]
async fn processes_are_frozen_between_invocations() {
    let scratch = Scratch::new(&["plain"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[], &logs).await;
    let stopped = |env: &Environment| {
        env.pids()
            .iter()
            .map(|p| process_state(*p))
            .collect::<Vec<_>>()
    };
    assert_eq!(stopped(&env), [Some('T'), Some('T')], "frozen after init");
    env.invoke(request(json!({}))).await.unwrap();
    assert_eq!(
        stopped(&env),
        [Some('T'), Some('T')],
        "frozen after an invocation"
    );
    env.shutdown(ShutdownReason::Spindown).await;

    let scratch = Scratch::new(&["plain"]);
    let mut no_freeze = options();
    no_freeze.freeze = false;
    let env = scratch
        .start(Duration::from_secs(3), &[], no_freeze, &logs)
        .await;
    env.invoke(request(json!({}))).await.unwrap();
    assert!(
        stopped(&env).iter().all(|s| *s != Some('T')),
        "{:?}",
        stopped(&env)
    );
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test]
async fn a_timeout_resets_the_environment_and_the_next_request_pays_init() {
    let scratch = Scratch::new(&["telemetry"]);
    let logs = Logs::new();
    let env = start(
        &scratch,
        Duration::from_millis(700),
        &[("FIXTURE_TYPES", r#"["platform"]"#)],
        &logs,
    )
    .await;
    let old_runtime = env.runtime_pid().unwrap();
    let timed_out = env
        .invoke(request(json!({"sleep_ms": 5000})))
        .await
        .unwrap();
    assert!(
        matches!(timed_out.status, InvokeStatus::Timeout),
        "{:?}",
        timed_out.status
    );
    assert!(body(&timed_out.payload)["errorMessage"]
        .as_str()
        .unwrap()
        .contains("Task timed out after 0.70 seconds"));

    let paying = env.invoke(request_as("paying-request")).await.unwrap();
    assert_success(&paying);
    let reinit = env.last_init().unwrap();
    assert_eq!(reinit.phase, "invoke");
    assert_eq!(reinit.request_id.as_deref(), Some("paying-request"));
    assert_eq!(paying.report.init_duration_ms, Some(reinit.duration_ms));
    assert_ne!(
        env.runtime_pid().unwrap(),
        old_runtime,
        "the runtime was restarted"
    );

    // The first extension process saw the timeout's report, then SHUTDOWN(timeout); the
    // restarted one saw an init in the invoke phase.
    let events = scratch.recorded("events", "telemetry");
    let shutdown = events
        .iter()
        .find(|e| e["eventType"] == "SHUTDOWN")
        .expect("SHUTDOWN");
    assert_eq!(shutdown["shutdownReason"], "timeout");
    let env_id = env.id().to_string();
    env.shutdown(ShutdownReason::Spindown).await;
    let records = scratch.telemetry("telemetry");
    let report = records
        .iter()
        .find(|r| {
            r["type"] == "platform.report"
                && r["record"]["requestId"] == timed_out.report.request_id.as_str()
        })
        .expect("the timed-out invocation's report");
    assert_eq!(report["record"]["status"], "timeout");
    let starts: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "platform.initStart")
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(starts[1]["record"]["phase"], "invoke");
    assert_eq!(starts[1]["record"]["instanceId"], env_id.as_str());
    let paid = records
        .iter()
        .find(|r| r["type"] == "platform.report" && r["record"]["requestId"] == "paying-request")
        .expect("the paying request's report");
    assert!(
        paid["record"]["metrics"]["initDurationMs"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[tokio::test]
async fn a_crash_resets_the_environment_with_reason_failure() {
    let scratch = Scratch::new(&["plain"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[], &logs).await;
    let crashed = env.invoke(request(json!({"crash": true}))).await.unwrap();
    assert!(
        matches!(crashed.status, InvokeStatus::Crashed),
        "{:?}",
        crashed.status
    );
    let error = body(&crashed.payload);
    assert_eq!(error["errorType"], "Runtime.ExitError");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: exit status 3"),
        "{error}"
    );
    let next = env.invoke(request(json!({}))).await.unwrap();
    assert_success(&next);
    assert!(next.report.init_duration_ms.is_some());
    let events = scratch.recorded("events", "plain");
    assert!(
        events
            .iter()
            .any(|e| e["eventType"] == "SHUTDOWN" && e["shutdownReason"] == "failure"),
        "{events:?}"
    );
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test]
async fn an_init_that_takes_too_long_fails() {
    let scratch = Scratch::new(&["plain"]);
    let logs = Logs::new();
    let mut short = options();
    short.init_timeout = Duration::from_millis(800);
    let started = Instant::now();
    let vars = [("FIXTURE_INIT_SLEEP_MS", "5000")];
    let message = scratch.start_failing(&vars, short, &logs).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        message.contains("timed out") && message.contains("runtime"),
        "{message}"
    );
    assert_init_report(&logs, "timeout").await;
}

#[tokio::test]
async fn an_extension_that_died_while_idle_makes_the_next_request_pay_a_reinit() {
    let scratch = Scratch::new(&["plain"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[], &logs).await;
    env.invoke(request(json!({}))).await.unwrap();
    let extension = env.extension_timings()[0].pid.unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &extension.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Dead, and known dead to the environment (its own list of live processes, kept by the task
    // that waits for the process), before the next request, whatever the machine's load: a
    // zombie alone is not enough, the environment may not have reaped it yet. Up to 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    while env.pids().contains(&extension) {
        assert!(
            Instant::now() < deadline,
            "the environment still counts the extension alive 5 s after SIGKILL (state {:?})",
            process_state(extension)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let next = env.invoke(request(json!({}))).await.unwrap();
    assert_success(&next);
    assert!(next.report.init_duration_ms.is_some());
    assert_eq!(env.last_init().unwrap().phase, "invoke");
    assert_ne!(env.extension_timings()[0].pid.unwrap(), extension);
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test]
async fn processes_start_through_the_launcher() {
    // The launcher prefix is how an arm64 layer runs under qemu; `env` stands in for it here.
    let scratch = Scratch::new(&["plain"]);
    let logs = Logs::new();
    let mut artifacts = scratch.artifacts();
    artifacts.launcher = vec!["env".into(), "FIXTURE_LAUNCHED=yes".into()];
    let env = Environment::start(
        scratch.config(Duration::from_secs(3), &[]),
        artifacts,
        options(),
        logs.sink.clone(),
    )
    .await
    .unwrap_or_else(|e| panic!("init through the launcher: {e:#}\n{}", logs.dump()));
    let answer = env.invoke(request(json!({"env": true}))).await.unwrap();
    assert_eq!(body(&answer.payload)["env"]["FIXTURE_LAUNCHED"], "yes");
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test]
async fn shutdown_stops_the_runtime_first_and_deadline_ms_is_the_kill_time() {
    // AWS: "First, Lambda shuts down the runtime, then it sends a Shutdown event"; deadlineMs is
    // when the extension is killed, fixed when the shutdown starts.
    let scratch = Scratch::new(&["plain", "ignore-shutdown"]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[], &logs).await;
    env.invoke(request(json!({}))).await.unwrap();
    let began_ms = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    let outcome = env.shutdown(ShutdownReason::Spindown).await;
    let killed_after_ms = began_ms + started.elapsed().as_millis() as i64;
    assert_eq!(outcome.killed, ["ignore-shutdown"]);
    for name in ["plain", "ignore-shutdown"] {
        let events = scratch.recorded("events", name);
        let shutdown = events
            .iter()
            .find(|e| e["eventType"] == "SHUTDOWN")
            .unwrap_or_else(|| panic!("{name} got no SHUTDOWN: {events:?}"));
        assert_eq!(shutdown["runtimeGone"], true, "{name}: {shutdown}");
        let deadline = shutdown["deadlineMs"].as_i64().unwrap();
        // The deadline is 2 s after the shutdown began, not after the telemetry drain.
        let planned = deadline - began_ms;
        assert!(
            (1_900..=2_100).contains(&planned),
            "{name}: deadlineMs is {planned} ms after the shutdown began"
        );
        // And it is when the straggler was killed (generous margin: shared cores).
        assert!(
            (killed_after_ms - deadline).abs() <= 300,
            "{name}: killed {} ms away from deadlineMs",
            killed_after_ms - deadline
        );
    }
}

#[tokio::test]
async fn extensions_do_not_get_runtime_only_variables_and_user_locale_wins() {
    let scratch = Scratch::new(&["plain"]);
    let logs = Logs::new();
    let vars = [
        ("TZ", "Europe/Paris"),
        ("LANG", "C.UTF-8"),
        ("PATH", "/usr/bin:/bin"),
    ];
    let mut plain = options();
    plain.platform_variables.clear();
    let env = scratch
        .start(Duration::from_secs(3), &vars, plain, &logs)
        .await;
    let answer = body(
        &env.invoke(request(json!({"env": true})))
            .await
            .unwrap()
            .payload,
    );
    let runtime = &answer["env"];
    let extension = &scratch.recorded("environ", "plain")[0];
    for key in [
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "_HANDLER",
    ] {
        assert!(runtime[key].is_string(), "the runtime gets {key}");
        assert!(
            extension.get(key).is_none(),
            "an extension must not get {key}"
        );
    }
    assert!(extension.get("AWS_EXECUTION_ENV").is_none());
    for (key, value) in vars {
        assert_eq!(runtime[key], value, "runtime {key}");
        assert_eq!(extension[key], value, "extension {key}");
    }
    assert_eq!(
        extension["AWS_LAMBDA_RUNTIME_API"],
        runtime["AWS_LAMBDA_RUNTIME_API"]
    );
    // The sandbox knows no extension's settings.
    assert!(runtime.get("COLDMARK_TELEMETRY_PORT").is_none());
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test]
async fn client_context_and_cognito_identity_reach_the_runtime_only_when_sent() {
    let scratch = Scratch::new(&[]);
    let logs = Logs::new();
    let env = start(&scratch, Duration::from_secs(3), &[], &logs).await;
    let plain = body(&env.invoke(request(json!({}))).await.unwrap().payload);
    assert!(plain["clientContext"].is_null(), "{plain}");
    assert!(plain["cognitoIdentity"].is_null(), "{plain}");
    let context = r#"{"client":{"app_title":"t"},"custom":{"k":"v"},"env":{}}"#;
    let with = body(
        &env.invoke(InvokeRequest {
            payload: Bytes::from_static(b"{}"),
            client_context: Some(context.into()),
            cognito_identity: Some(lambda_emulator::environment::CognitoIdentity {
                identity_id: "us-east-1:id".into(),
                identity_pool_id: "us-east-1:pool".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .payload,
    );
    assert_eq!(with["clientContext"], context);
    let identity: Value = serde_json::from_str(with["cognitoIdentity"].as_str().unwrap()).unwrap();
    assert_eq!(
        identity,
        json!({"cognitoIdentityId": "us-east-1:id", "cognitoIdentityPoolId": "us-east-1:pool"})
    );
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test]
async fn a_failed_init_is_retried_by_the_first_invocation_in_the_same_environment() {
    // Lambda: when init fails or times out, it runs again during the first invocation
    // (phase `invoke`), in the same execution environment.
    let scratch = Scratch::new(&["telemetry"]);
    let logs = Logs::new();
    let (env, failure) = Environment::start_suppressing(
        scratch.config(
            Duration::from_secs(3),
            &[("FIXTURE_RUNTIME", "init-error-once")],
        ),
        scratch.artifacts(),
        options(),
        logs.sink.clone(),
    )
    .await
    .unwrap();
    let failure = failure.expect("the first init fails");
    assert!(
        format!("{failure:#}").contains("Runtime.InitError"),
        "{failure:#}"
    );
    let failed_id = env.id().to_string();
    let paying = "paying-0000-0000-0000-000000000001".to_string();
    let answer = env.invoke(request_as(&paying)).await.unwrap();
    assert_success(&answer);
    assert!(
        answer.report.init_duration_ms.is_some(),
        "the request paid for the init"
    );
    assert_eq!(env.id(), failed_id, "same environment");
    let init = env.last_init().unwrap();
    assert_eq!(init.phase, "invoke");
    assert_eq!(init.request_id.as_deref(), Some(paying.as_str()));
    let platform = logs.from(&LogSource::Platform);
    assert!(
        platform.iter().any(|l| l.contains("INIT_REPORT")
            && l.contains("Phase: init")
            && l.contains("Status: error")),
        "{platform:?}"
    );
    // The re-init's records name the same instance, in the invoke phase (read after the
    // shutdown: a frozen environment delivers nothing).
    env.shutdown(ShutdownReason::Spindown).await;
    let records = scratch.telemetry("telemetry");
    let start = records
        .iter()
        .find(|r| r["type"] == "platform.initStart" && r["record"]["phase"] == "invoke")
        .unwrap_or_else(|| panic!("no invoke-phase initStart: {records:#?}"));
    assert_eq!(start["record"]["instanceId"], failed_id.as_str());
    // Lambda resets the environment after the failed init, as after a crash: the extension got
    // the failed init's report, then SHUTDOWN (reason failure), before the retry began.
    let failed_report = records
        .iter()
        .position(|r| {
            r["type"] == "platform.initReport"
                && r["record"]["phase"] == "init"
                && r["record"]["status"] == "error"
        })
        .unwrap_or_else(|| panic!("the failed init's report was delivered: {records:#?}"));
    let retry = records
        .iter()
        .position(|r| r["type"] == "platform.initStart" && r["record"]["phase"] == "invoke")
        .unwrap();
    assert!(failed_report < retry, "{records:#?}");
    let shutdowns: Vec<Value> = scratch
        .recorded("events", "telemetry")
        .into_iter()
        .filter(|e| e["eventType"] == "SHUTDOWN")
        .collect();
    assert_eq!(
        shutdowns.first().map(|e| e["shutdownReason"].clone()),
        Some(json!("failure")),
        "{shutdowns:#?}"
    );
}
