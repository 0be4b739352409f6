//! The real `coldmark` binary's Telemetry API subscription: the schema version it asks for
//! (`2025-01-29` on Lambda Managed Instances, `2022-12-13` elsewhere) and its fallback to the
//! other when Lambda refuses the first (400 `ValidationError`), inside the same init, with one
//! warning, markers written all the same.

use std::time::Duration;

use chrono::Utc;
use coldmark_testkit::fake_lambda;
use fake_lambda::{init_records, FakeLambda};

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");

const EXIT_LIMIT: Duration = Duration::from_secs(10);

const LMI: (&str, &str) = ("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances");

/// Runs coldmark against a Lambda that accepts only `accepted`, with `extra`; returns the
/// version it subscribed with and its stderr, after checking the init marker came from
/// telemetry.
async fn subscribe_against(accepted: &str, extra: &[(&str, &str)]) -> (String, String) {
    let lambda = FakeLambda::start_only_schema(accepted, false).await;
    let coldmark = lambda.spawn_ready(COLDMARK, extra).await;
    let subscription = lambda.subscription().expect("subscribed");
    let version = subscription["schemaVersion"].as_str().unwrap().to_string();
    lambda.deliver(&init_records(Utc::now(), 40, 55)).await;
    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
    assert!(out.status.success(), "{:?}", out.status);
    let init = &out.of_kind("init")[0];
    assert_eq!(init["source"], "telemetry", "{}", out.stdout);
    assert_eq!(init["init_duration_ms"], 55.0);
    (version, out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_environment_gets_its_schema_without_a_warning() {
    let (version, stderr) = subscribe_against("2022-12-13", &[]).await;
    assert_eq!(version, "2022-12-13");
    assert_eq!(stderr, "", "no warning");
    let (version, stderr) = subscribe_against("2025-01-29", &[LMI]).await;
    assert_eq!(version, "2025-01-29");
    assert_eq!(stderr, "", "no warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_schema_falls_back_to_the_other_with_one_warning() {
    for (accepted, refused, extra) in [
        ("2025-01-29", "2022-12-13", &[][..]),
        ("2022-12-13", "2025-01-29", &[LMI][..]),
    ] {
        let (version, stderr) = subscribe_against(accepted, extra).await;
        assert_eq!(version, accepted);
        let warnings: Vec<&str> = stderr.lines().collect();
        assert_eq!(warnings.len(), 1, "exactly one warning: {stderr}");
        assert!(warnings[0].starts_with("coldmark warn: "), "{stderr}");
        assert!(warnings[0].contains(refused), "{stderr}");
        assert!(warnings[0].contains("ValidationError"), "{stderr}");
        assert!(
            warnings[0].contains(&format!("with {accepted}")),
            "{stderr}"
        );
    }
}
