//! Cross-check against a third party: the real `coldmark` binary under the `lambda-simulator`
//! crate (0.2.0), whose Extensions and Telemetry APIs were written by someone else from AWS's
//! documentation. What it proves: coldmark registers, subscribes, receives that simulator's
//! schema-2022-12-13 records and turns them into an init marker with `source: "telemetry"` and
//! the first invocation's marker with the simulator's report figures.
//!
//! Simulator quirks this test works with (docs/emulators.md has the full list):
//! - It does not spawn extensions: the test starts coldmark with the simulator's environment
//!   and waits for its first `/event/next` before starting the runtime (registration is refused
//!   once the runtime has polled).
//! - It emits `platform.initStart` when the simulator is built, before any extension can
//!   subscribe, so coldmark never sees it: `runtime_init_ms` and `extensions_init_ms` must then
//!   be null (never invented), and `env_id` stays coldmark's generated one (the instanceId is
//!   only in initStart). `platform.initRuntimeDone` and `platform.initReport` do arrive.
//! - It flushes telemetry before SHUTDOWN and stops its server right after delivering it, so
//!   nothing can arrive during shutdown; coldmark must not need anything then.

use std::time::Duration;

use coldmark_testkit::fake_lambda;
use fake_lambda::FakeLambda;
use lambda_simulator::{InvocationStatus, ShutdownReason, Simulator};
use serde_json::json;

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");

/// A minimal runtime: answers every invocation with `{}` until the simulator goes away.
async fn runtime(api: String) {
    let client = reqwest::Client::new();
    loop {
        let Ok(next) = client
            .get(format!("http://{api}/2018-06-01/runtime/invocation/next"))
            .send()
            .await
        else {
            return;
        };
        let Some(id) = next
            .headers()
            .get("Lambda-Runtime-Aws-Request-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            return;
        };
        let _ = next.bytes().await;
        let posted = client
            .post(format!(
                "http://{api}/2018-06-01/runtime/invocation/{id}/response"
            ))
            .body("{}")
            .send()
            .await;
        if posted.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coldmark_under_lambda_simulator_writes_telemetry_sourced_markers() {
    lambda_simulator::ensure_default_crypto_provider();
    let sim = Simulator::builder()
        .function_name("clock")
        .memory_size_mb(256)
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("simulator starts");
    let mut env: Vec<(String, String)> = sim.lambda_env_vars().into_iter().collect();
    env.push(("COLDMARK_TELEMETRY_PORT".into(), "0".into()));
    let coldmark = FakeLambda::spawn(COLDMARK, &env);

    // Registered and waiting for its first event: only now may the runtime start.
    sim.wait_for(
        || async {
            match sim.get_registered_extensions().await.first() {
                Some(ext) => sim.first_next_poll_at(&ext.id).await.is_some(),
                None => false,
            }
        },
        Duration::from_secs(10),
    )
    .await
    .expect("coldmark registers and polls /event/next");
    let extensions = sim.get_registered_extensions().await;
    assert_eq!(extensions.len(), 1);
    assert_eq!(extensions[0].name, "coldmark");

    let api = sim.runtime_api_url().replace("http://", "");
    let runtime = tokio::spawn(runtime(api));
    let request_id = sim.enqueue_payload(json!({"hello": "world"})).await;
    let state = sim
        .wait_for_invocation_complete(&request_id, Duration::from_secs(10))
        .await
        .expect("invocation completes");
    assert_eq!(state.status, InvocationStatus::Success);
    sim.wait_for_extensions_ready(&request_id, Duration::from_secs(10))
        .await
        .expect("coldmark asks for its next event after INVOKE");
    // The simulator emits platform.report once every extension is ready; let its 25 ms
    // delivery timer run once before shutting down (graceful_shutdown flushes too).
    tokio::time::sleep(Duration::from_millis(100)).await;

    sim.graceful_shutdown(ShutdownReason::Spindown).await;
    runtime.abort();
    let out = coldmark.finish(Duration::from_secs(10)).await;

    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "no warnings under the simulator: {}",
        out.stderr
    );
    let markers = out.markers();
    let kinds = out.kinds();
    assert_eq!(kinds, ["init", "invoke", "shutdown"], "{}", out.stdout);

    let init = &markers[0];
    assert_eq!(init["source"], "telemetry");
    assert_eq!(init["function_name"], "clock");
    assert_eq!(init["function_memory_size"], 256);
    assert_eq!(init["init_type"], "on-demand");
    assert_eq!(init["init_phase"], "init");
    assert!(init["init_duration_ms"].as_f64().is_some(), "{init}");
    assert_eq!(init["InitDuration"], init["init_duration_ms"]);
    // No initStart reached coldmark (see the module doc): the split is unknown, not guessed.
    assert!(init["runtime_init_ms"].is_null());
    assert!(init["extensions_init_ms"].is_null());
    assert!(init["coldmark_init_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(init["proactive"], false);

    let invoke = &markers[1];
    assert_eq!(invoke["function_request_id"], request_id.as_str());
    assert_eq!(invoke["cold_start"], true);
    assert_eq!(invoke["seq"], 1);
    assert!(
        invoke["duration_ms"].as_f64().is_some(),
        "the simulator's platform.report reached coldmark: {invoke}"
    );

    let shutdown = &markers[2];
    assert_eq!(shutdown["reason"], "spindown");
    assert_eq!(shutdown["invocations"], 1);
    assert_eq!(shutdown["dropped"], 0);
    for m in &markers {
        assert_eq!(m["env_id"], init["env_id"]);
    }
}
