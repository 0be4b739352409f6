//! The environment with the real binaries: the clock function (`bootstrap`, lambda_runtime) and
//! coldmark's extension, built once with cargo. What AWS's Rust runtime client and coldmark
//! need from the Runtime, Extensions and Telemetry APIs works end to end.

mod support;

use support::{cp_build, env_support};

use cp_build::{artifacts, built, config};
use env_support::{options, request, Logs};
use lambda_emulator::environment::{
    Environment, EnvironmentOptions, InvokeStatus, LogSource, ShutdownReason,
};
use serde_json::{json, Value};

/// Starts the clock function with coldmark in a layer under `options` (a failed init panics with
/// the logs); the layer must outlive the environment. coldmark is a symlink to the built binary:
/// a copy made while another test thread forks could still be open for writing in that child,
/// and exec would fail with ETXTBSY.
async fn start_clock_with_coldmark(
    options: EnvironmentOptions,
    vars: &[(&str, &str)],
    logs: &Logs,
) -> (tempfile::TempDir, Environment) {
    let layer = tempfile::Builder::new()
        .prefix("env-real-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(layer.path().join("extensions")).unwrap();
    std::os::unix::fs::symlink(
        &built().coldmark,
        layer.path().join("extensions").join("coldmark"),
    )
    .unwrap();
    let env = Environment::start(
        config(vars),
        artifacts(&[layer.path()]),
        options,
        logs.sink.clone(),
    )
    .await
    .unwrap_or_else(|e| panic!("init: {e:#}\n{}", logs.dump()));
    (layer, env)
}

#[tokio::test]
async fn the_clock_function_and_coldmark_run_in_the_environment() {
    let logs = Logs::new();
    let (_layer, env) = start_clock_with_coldmark(options(), &[], &logs).await;

    let answer = env.invoke(request(json!({}))).await.unwrap();
    assert!(
        matches!(answer.status, InvokeStatus::Success),
        "{:?}\n{}",
        answer.status,
        logs.dump()
    );
    let response: Value = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(response["statusCode"], 200);
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["env_user"], "user");
    assert!(answer.report.init_duration_ms.unwrap() > 0.0);
    assert!(answer.report.max_memory_used_mb > 0);

    // coldmark registered by its file name and reached its first /event/next.
    let timing = &env.extension_timings()[0];
    assert_eq!(timing.name, "coldmark");
    assert!(timing.first_next_at.is_some());

    // Its init marker names this environment (the Telemetry API's instanceId). The
    // environment is frozen between invocations, so coldmark may only write it once thawed:
    // at the latest during shutdown.
    let env_id = env.id().to_string();
    let outcome = env.shutdown(ShutdownReason::Spindown).await;
    assert!(outcome.killed.is_empty(), "{outcome:?}\n{}", logs.dump());
    let coldmark = LogSource::Extension("coldmark".into());
    let marker_of_this_env = |line: &str| {
        serde_json::from_str::<Value>(line)
            .is_ok_and(|m| m["coldmark"] == "init" && m["env_id"] == env_id.as_str())
    };
    assert!(
        logs.wait_line(&coldmark, marker_of_this_env).await,
        "{}",
        logs.dump()
    );
}

/// The init marker of environment `env_id` whose figures came over the Telemetry API.
fn telemetry_init_marker(env_id: &str) -> impl Fn(&str) -> bool + '_ {
    move |line: &str| {
        serde_json::from_str::<Value>(line).is_ok_and(|m| {
            m["coldmark"] == "init" && m["env_id"] == env_id && m["source"] == "telemetry"
        })
    }
}

/// True when something on this host holds `port` on every interface.
fn held(port: u16) -> bool {
    std::net::TcpListener::bind(("0.0.0.0", port)).is_err()
}

/// A port free on this host a moment ago (the kernel's pick, released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The sandbox's environment adds no variable of its own (the coldmark front-ends'
/// `COLDMARK_TELEMETRY_PORT=0` is not used here): coldmark listens where the function's own
/// `COLDMARK_TELEMETRY_PORT` says, a port this test found free, and Lambda's records reach it
/// there.
#[tokio::test]
async fn coldmark_listens_on_the_telemetry_port_it_is_given() {
    let mut plain = options();
    plain.platform_variables.clear();
    let port = free_port();
    let logs = Logs::new();
    let (_layer, env) = start_clock_with_coldmark(
        plain,
        &[("COLDMARK_TELEMETRY_PORT", &port.to_string())],
        &logs,
    )
    .await;
    assert!(
        held(port),
        "coldmark should listen on {port}\n{}",
        logs.dump()
    );
    env.invoke(request(json!({}))).await.unwrap();
    let env_id = env.id().to_string();
    env.shutdown(ShutdownReason::Spindown).await;
    let coldmark = LogSource::Extension("coldmark".into());
    assert!(
        logs.wait_line(&coldmark, telemetry_init_marker(&env_id))
            .await,
        "{}",
        logs.dump()
    );
    let warnings: Vec<String> = logs
        .from(&coldmark)
        .into_iter()
        .filter(|l| l.starts_with("coldmark warn"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// coldmark's default telemetry port (4243) as on Lambda, with no variable at all. On Lambda
/// each environment has its own network; on this host another program may hold 4243, and then
/// coldmark must say so, naming the port, and take a free one. Either way the test proves the
/// default: coldmark holds 4243 without a word, or warns that 4243 cannot be bound; and the
/// records reach it.
#[tokio::test]
async fn coldmark_listens_on_its_default_telemetry_port_or_says_why_not() {
    let mut plain = options();
    plain.platform_variables.clear();
    let logs = Logs::new();
    let (_layer, env) = start_clock_with_coldmark(plain, &[], &logs).await;
    let holds_default = held(4243);
    env.invoke(request(json!({}))).await.unwrap();
    let env_id = env.id().to_string();
    env.shutdown(ShutdownReason::Spindown).await;
    let coldmark = LogSource::Extension("coldmark".into());
    assert!(
        logs.wait_line(&coldmark, telemetry_init_marker(&env_id))
            .await,
        "{}",
        logs.dump()
    );
    let warnings: Vec<String> = logs
        .from(&coldmark)
        .into_iter()
        .filter(|l| l.starts_with("coldmark warn"))
        .collect();
    match warnings.as_slice() {
        [] => assert!(
            holds_default,
            "no warning, yet 4243 is free\n{}",
            logs.dump()
        ),
        [one] => {
            eprintln!("4243 was taken on this host: {one}");
            assert!(
                one.contains("COLDMARK_TELEMETRY_PORT 4243 cannot be bound"),
                "{one}"
            );
        }
        more => panic!("one warning at most: {more:?}"),
    }
}

/// Telemetry lost on the way (Lambda retries, then gives up): the next batch opens with
/// `platform.logsDropped`, and the real coldmark reads it and says so, once, on its stderr,
/// while its markers still come.
#[tokio::test]
async fn telemetry_lost_in_transit_reaches_coldmark_as_logs_dropped() {
    let mut lossy = options();
    lossy.lost_telemetry_batches = 1;
    // Not frozen between invocations, so the next batch is delivered while coldmark runs
    // instead of racing its exit at shutdown.
    lossy.freeze = false;
    let logs = Logs::new();
    let (_layer, env) = start_clock_with_coldmark(lossy, &[], &logs).await;
    // The first batch is lost; the next one, after the next invocation, opens with
    // platform.logsDropped. Invoke until coldmark's warning is there (each time waiting for it
    // up to 2 s), at most five times, instead of guessing when a batch went out.
    let coldmark = LogSource::Extension("coldmark".into());
    let warned = |line: &str| line.contains("Lambda dropped") && line.contains("telemetry records");
    let mut invocations = 0;
    loop {
        env.invoke(request(json!({}))).await.unwrap();
        invocations += 1;
        if logs.wait_line(&coldmark, warned).await {
            break;
        }
        assert!(
            invocations < 5,
            "coldmark's warning about the dropped records\n{}",
            logs.dump()
        );
    }
    env.shutdown(ShutdownReason::Spindown).await;
    let warnings = logs
        .dump()
        .lines()
        .filter(|l| l.contains("Lambda dropped"))
        .count();
    assert_eq!(warnings, 1, "one warning per environment\n{}", logs.dump());
    // The lost batch held the init records: the init marker comes all the same, from what
    // coldmark knows itself.
    let init_marker =
        |line: &str| serde_json::from_str::<Value>(line).is_ok_and(|m| m["coldmark"] == "init");
    assert!(
        logs.wait_line(&coldmark, init_marker).await,
        "the init marker still comes\n{}",
        logs.dump()
    );
}
