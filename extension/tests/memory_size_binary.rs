//! `function_memory_size` feeds the billed GB-seconds, so where it comes from matters:
//! docs/markers.md says `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MB) first, else `platform.initStart`'s
//! `instanceMaxMemory` (bytes, as Lambda sends it) in MB. The real `coldmark` binary gets an
//! init whose `instanceMaxMemory` differs from the variable, with the variable set, unusable
//! and absent, and the `init` marker must carry the figure the doc names.

use std::time::Duration;

use chrono::Utc;
use coldmark_testkit::fake_lambda::{self, FakeLambda, Finished, Telemetry};
use fake_lambda::{init_records, invoke_records};
use serde_json::json;

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");
const EXIT_LIMIT: Duration = Duration::from_secs(10);
const VARIABLE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
/// What the init's record says: 1,769 MB (one vCPU), in bytes.
const INSTANCE_MB: u64 = 1769;

/// One environment with `memory` as the variable (`None`: not set); init, one invocation,
/// SHUTDOWN.
async fn run(memory: Option<&str>) -> Finished {
    let lambda = FakeLambda::start(Telemetry::Supported).await;
    let mut env = lambda.lambda_env(&[("COLDMARK_INVOKE_MARKERS", "all")]);
    env.retain(|(name, _)| name != VARIABLE);
    if let Some(memory) = memory {
        env.push((VARIABLE.into(), memory.into()));
    }
    let coldmark = FakeLambda::spawn(COLDMARK, &env);
    lambda.wait_next(1).await;
    let start = Utc::now();
    let mut init = init_records(start, 40, 55);
    assert_eq!(init[0]["type"], "platform.initStart");
    init[0]["record"]["instanceMaxMemory"] = json!(INSTANCE_MB * 1024 * 1024);
    lambda.deliver(&init).await;
    lambda.invoke("req-1");
    lambda.wait_next(2).await;
    lambda
        .deliver(&invoke_records(
            "req-1",
            start + chrono::Duration::milliseconds(56),
            Some(55.0),
        ))
        .await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.kinds(),
        ["init", "invoke", "shutdown"],
        "{}",
        out.stdout
    );
    assert_eq!(out.of_kind("init")[0]["source"], "telemetry");
    out
}

/// `function_memory_size` of the `init` marker (the one marker that carries it).
fn memory_size(out: &Finished) -> serde_json::Value {
    out.of_kind("init")[0]["function_memory_size"].clone()
}

#[tokio::test]
async fn the_variable_wins_over_instance_max_memory() {
    let out = run(Some("512")).await;
    assert_eq!(memory_size(&out), json!(512));
}

#[tokio::test]
async fn without_the_variable_instance_max_memory_is_taken_in_mb() {
    let out = run(None).await;
    assert_eq!(memory_size(&out), json!(INSTANCE_MB), "bytes → MB");
}

#[tokio::test]
async fn an_unusable_variable_gives_way_to_instance_max_memory() {
    let out = run(Some("lots")).await;
    assert_eq!(memory_size(&out), json!(INSTANCE_MB));
}
