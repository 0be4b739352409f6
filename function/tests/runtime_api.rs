//! Drives the real `bootstrap` binary through the test kit's Runtime API on 127.0.0.1, the way
//! Lambda does: `/next` hands out events, `/response` collects the answers.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use coldmark_testkit::runtime_api::RuntimeApi;
use serde_json::{json, Value};

/// Kills the function when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_function(api: &RuntimeApi, extra_env: &[(&str, &str)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "clock")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    Running(command.spawn().expect("start bootstrap"))
}

fn body_of(answer: &Value) -> Value {
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["headers"]["content-type"], "application/json");
    serde_json::from_str(answer["body"].as_str().expect("body is a string")).unwrap()
}

fn parse_time(value: &Value) -> NaiveDateTime {
    let text = value.as_str().expect("timestamp is a string");
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.6f")
        .unwrap_or_else(|e| panic!("{text:?} is not YYYY-MM-DD HH:MM:SS.ffffff: {e}"))
}

#[test]
fn one_environment_keeps_its_init_time_and_counts_calls() {
    let function_url_event = json!({
        "version": "2.0", "rawPath": "/", "requestContext": {"http": {"method": "GET"}}
    });
    let api = RuntimeApi::start(vec![function_url_event, json!("any event at all")]);
    let _function = start_function(&api, &[("USER", "user2")]);

    let first = body_of(&api.receive().response);
    let second = body_of(&api.receive().response);

    assert_eq!(first["env_user"], "user2");
    assert_eq!(first["invocation_count"], 1);
    assert_eq!(second["invocation_count"], 2);
    assert_eq!(first["time_out_of_handler"], second["time_out_of_handler"]);
    let init = parse_time(&first["time_out_of_handler"]);
    assert!(parse_time(&first["time_in_handler"]) >= init);
    assert!(parse_time(&second["time_in_handler"]) >= parse_time(&first["time_in_handler"]));
}

#[test]
fn unset_user_is_null_and_init_sleep_delays_the_init_record() {
    let api = RuntimeApi::start(vec![json!({})]);
    let spawned_at = Utc::now().naive_utc();
    let _function = start_function(&api, &[("CLOCK_INIT_SLEEP_MS", "200")]);

    let body = body_of(&api.receive().response);

    assert!(body["env_user"].is_null(), "{body}");
    let init = parse_time(&body["time_out_of_handler"]);
    assert!(
        init - spawned_at >= chrono::Duration::milliseconds(200),
        "init recorded at {init}, spawned at {spawned_at}: the sleep must come first"
    );
}

#[test]
fn handler_sleep_holds_every_answer_back() {
    let api = RuntimeApi::start(vec![json!({}), json!({})]);
    let _function = start_function(&api, &[("CLOCK_HANDLER_SLEEP_MS", "250")]);

    for expected_count in 1..=2 {
        let answer = api.receive();
        assert_eq!(
            body_of(&answer.response)["invocation_count"],
            expected_count
        );
        assert!(
            answer.took >= Duration::from_millis(250),
            "answer {expected_count} came {:?} after its event: the handler must sleep first",
            answer.took
        );
    }
}

#[test]
fn version_and_help_answer_without_a_lambda() {
    let run = |arg: &str| {
        Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .arg(arg)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .output()
            .expect("run bootstrap")
    };
    let version = run("--version");
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("coldmark-clock {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help = run("--help");
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("CLOCK_INIT_SLEEP_MS"), "{text}");
    let unknown = run("--nope");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--nope"));
}

/// A log stream of its own for one test's "environment" (what `-once` keys its mark on).
fn unique_stream(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("2026/12/03/[$LATEST]{test}{}{nanos}", std::process::id())
}

/// The mark `-once` leaves for `stream`, removed when the test ends.
struct Mark(std::path::PathBuf);

impl Drop for Mark {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn mark_of(stream: &str) -> Mark {
    let name: String = stream
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Mark(std::env::temp_dir().join(format!("coldmark-clock-init-failed-{name}")))
}

/// Waits (up to `limit`) for the process to exit; its status, if it did.
fn exit_within(function: &mut Running, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = function.0.try_wait().expect("the process's status") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn init_fail_error_reports_an_init_error_and_exits_every_time() {
    let stream = unique_stream("error");
    let _mark = mark_of(&stream);
    for attempt in 1..=2 {
        let api = RuntimeApi::start(vec![json!({})]);
        let mut function = start_function(
            &api,
            &[
                ("CLOCK_INIT_FAIL", "error"),
                ("AWS_LAMBDA_LOG_STREAM_NAME", &stream),
            ],
        );
        let error = api
            .init_error(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("init {attempt} reported an init error"));
        assert_eq!(error.error_type.as_deref(), Some("Clock.InitError"));
        assert_eq!(error.body["errorType"], "Clock.InitError");
        let status = exit_within(&mut function, Duration::from_secs(10)).expect("it exits");
        assert_eq!(status.code(), Some(1), "init {attempt}");
    }
}

#[test]
fn init_fail_error_once_fails_the_first_init_of_an_environment_and_not_its_retry() {
    let stream = unique_stream("once");
    let _mark = mark_of(&stream);
    let vars = [
        ("CLOCK_INIT_FAIL", "error-once"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream.as_str()),
    ];
    let api = RuntimeApi::start(vec![json!({})]);
    let mut first = start_function(&api, &vars);
    assert!(api.init_error(Duration::from_secs(20)).is_some());
    assert_eq!(
        exit_within(&mut first, Duration::from_secs(10)).and_then(|s| s.code()),
        Some(1)
    );
    // The retry, in the same environment (same log stream): init succeeds and it answers.
    let api = RuntimeApi::start(vec![json!({})]);
    let _retry = start_function(&api, &vars);
    assert_eq!(body_of(&api.receive().response)["invocation_count"], 1);
    assert!(api.init_error(Duration::from_millis(100)).is_none());
    // Another environment fails its own first init.
    let other = unique_stream("other");
    let _other_mark = mark_of(&other);
    let api = RuntimeApi::start(vec![json!({})]);
    let _third = start_function(
        &api,
        &[
            ("CLOCK_INIT_FAIL", "error-once"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", &other),
        ],
    );
    assert!(api.init_error(Duration::from_secs(20)).is_some());
}

#[test]
fn init_fail_timeout_hangs_in_init_without_asking_for_an_event() {
    let stream = unique_stream("timeout");
    let _mark = mark_of(&stream);
    let api = RuntimeApi::start(vec![json!({})]);
    let mut function = start_function(
        &api,
        &[
            ("CLOCK_INIT_FAIL", "timeout-once"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", &stream),
        ],
    );
    // Nothing comes: no answer, no init error, and the process lives on (until the platform's
    // init timeout, here the test, ends it).
    assert!(api.init_error(Duration::from_millis(800)).is_none());
    assert!(exit_within(&mut function, Duration::from_millis(10)).is_none());
    drop(function);
    let api = RuntimeApi::start(vec![json!({})]);
    let _retry = start_function(
        &api,
        &[
            ("CLOCK_INIT_FAIL", "timeout-once"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", &stream),
        ],
    );
    assert_eq!(body_of(&api.receive().response)["invocation_count"], 1);
}

#[test]
fn with_tenant_isolation_the_answer_names_the_tenant() {
    let api = RuntimeApi::start_for_tenant(vec![json!({})], Some("BlueTenant"));
    let _function = start_function(&api, &[]);
    assert_eq!(body_of(&api.receive().response)["tenant_id"], "BlueTenant");
    let api = RuntimeApi::start(vec![json!({})]);
    let _function = start_function(&api, &[]);
    let body = body_of(&api.receive().response);
    assert!(body.get("tenant_id").is_none(), "{body}");
}
