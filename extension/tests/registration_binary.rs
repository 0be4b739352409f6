//! The real `coldmark` binary's init around registration: where Lambda will not hand it INVOKE
//! events (on Lambda Managed Instances, `AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`,
//! and wherever Lambda refuses a registration for INVOKE), with everything else broken, and
//! what it says before registering. An extension that exits during init fails the function's
//! init, so once registered coldmark must keep asking for events until SHUTDOWN, whatever else
//! is broken. docs/security.md names the claim these tests prove.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use coldmark_testkit::{fake_lambda, http_collector};
use fake_lambda::{init_records, FakeLambda, RegisterAttempt, Running, Telemetry};
use http_collector::{Act, Collector};
use serde_json::Value;

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");

const EXIT_LIMIT: Duration = Duration::from_secs(10);

fn attempt(events: &[&str], refused: bool) -> RegisterAttempt {
    RegisterAttempt {
        events: events.iter().map(|e| e.to_string()).collect(),
        refused,
    }
}

/// Starts coldmark with `extra` and the HTTP sink on `collector`, and waits for its first
/// `/event/next`.
async fn spawn_with_collector(
    lambda: &FakeLambda,
    collector: &Collector,
    extra: &[(&str, &str)],
) -> Running {
    let url = collector.url();
    let mut vars = vec![
        ("COLDMARK_SINK", "stdout,http"),
        ("COLDMARK_HTTP_ENDPOINT", url.as_str()),
    ];
    vars.extend_from_slice(extra);
    lambda.spawn_ready(COLDMARK, &vars).await
}

/// The marker lines the collector accepted before SHUTDOWN: what was written from telemetry
/// alone, without any INVOKE to trigger it.
async fn written_before_shutdown(collector: &Collector) -> Vec<Value> {
    let seen = collector.wait_requests(1, Duration::from_secs(5)).await;
    assert!(seen >= 1, "nothing was sent before SHUTDOWN");
    collector
        .accepted_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_invoke_registration_falls_back_to_shutdown_only() {
    // Lambda's own answer is a 4xx with an `Extension.*` errorType; either status is a refusal.
    for status in [400u16, 403] {
        let collector = Collector::start(vec![Act::ok()]).await;
        let lambda = FakeLambda::start_refusing_invoke(Telemetry::Supported, status).await;
        let coldmark = spawn_with_collector(&lambda, &collector, &[]).await;
        assert_eq!(
            lambda.register_attempts(),
            [
                attempt(&["INVOKE", "SHUTDOWN"], true),
                attempt(&["SHUTDOWN"], false)
            ],
            "{status}"
        );
        assert_eq!(lambda.registered_name().as_deref(), Some("coldmark"));
        assert!(lambda.subscription().is_some(), "subscribed all the same");

        // The init marker comes from telemetry alone, as soon as the init's report is in.
        lambda.deliver(&init_records(Utc::now(), 40, 55)).await;
        let before_shutdown = written_before_shutdown(&collector).await;
        assert_eq!(before_shutdown.len(), 1, "{before_shutdown:?}");
        let init = &before_shutdown[0];
        assert_eq!(init["coldmark"], "init");
        assert_eq!(init["source"], "telemetry");
        assert_eq!(init["init_duration_ms"], 55.0);
        assert_eq!(init["runtime_init_ms"], 40.0);
        assert_eq!(init["env_id"], "instance-0001");
        assert!(init["coldmark_init_ms"].as_f64().unwrap() > 0.0);

        let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
        assert!(out.status.success(), "{status}: {:?}", out.status);
        assert_eq!(out.kinds(), ["init", "shutdown"], "{status}");
        assert_eq!(out.of_kind("shutdown")[0]["dropped"], 0);
        let warnings: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(warnings.len(), 1, "exactly one warning: {}", out.stderr);
        assert!(
            warnings[0].starts_with("coldmark warn: "),
            "{}",
            warnings[0]
        );
        assert!(warnings[0].contains("SHUTDOWN only"), "{}", warnings[0]);
        assert!(warnings[0].contains(&status.to_string()), "{}", warnings[0]);
        assert!(
            warnings[0].contains("Extension.InvalidEventType"),
            "{}",
            warnings[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_managed_instances_it_registers_for_shutdown_only_from_the_start() {
    let collector = Collector::start(vec![Act::ok()]).await;
    let lambda = FakeLambda::start_refusing_invoke(Telemetry::Supported, 400).await;
    let coldmark = spawn_with_collector(
        &lambda,
        &collector,
        &[("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances")],
    )
    .await;
    assert_eq!(
        lambda.register_attempts(),
        [attempt(&["SHUTDOWN"], false)],
        "the first registration names SHUTDOWN alone"
    );
    lambda.deliver(&init_records(Utc::now(), 40, 55)).await;
    let before_shutdown = written_before_shutdown(&collector).await;
    assert_eq!(before_shutdown.len(), 1, "{before_shutdown:?}");
    assert_eq!(before_shutdown[0]["coldmark"], "init");
    assert_eq!(before_shutdown[0]["init_duration_ms"], 55.0);

    let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "nothing to warn about: {}",
        out.stderr
    );
    assert_eq!(out.kinds(), ["init", "shutdown"]);
}

/// A pipe whose read end is closed: every write to stdout fails (EPIPE).
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: plain syscalls on descriptors this function creates; the read end is closed at
    // once and the write end handed out owned.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        drop(OwnedFd::from_raw_fd(fds[0]));
        OwnedFd::from_raw_fd(fds[1])
    }
}

/// Waits for the first `/event/next`; fails at once if the process exits before it.
async fn first_next_or_exit(lambda: &FakeLambda, coldmark: &mut Running, limit: Duration) {
    let end = Instant::now() + limit;
    while lambda.next_times().is_empty() {
        if let Some(status) = coldmark.exited() {
            panic!("coldmark exited during init ({status}) after registering");
        }
        assert!(Instant::now() < end, "no /event/next within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn once_registered_it_never_exits_during_init_whatever_else_is_broken() {
    // Every setting wrong, the HTTP sink chosen without an endpoint, stdout closed; and the
    // Telemetry API not supported, or never answering.
    let broken: &[(&str, &str)] = &[
        ("COLDMARK_SINK", "http"),
        ("COLDMARK_LOG", "nonsense"),
        ("COLDMARK_INVOKE_MARKERS", "nonsense"),
        ("COLDMARK_PROACTIVE_THRESHOLD_MS", "nonsense"),
        ("COLDMARK_NAMESPACE", ":nonsense"),
        ("COLDMARK_TELEMETRY_PORT", "nonsense"),
    ];
    for (telemetry, refuse_invoke) in [
        (Telemetry::NotSupported, None),
        (Telemetry::NotSupported, Some(400)),
        (Telemetry::Hangs, Some(403)),
    ] {
        let lambda = match refuse_invoke {
            Some(status) => FakeLambda::start_refusing_invoke(telemetry, status).await,
            None => FakeLambda::start(telemetry).await,
        };
        let env = lambda.lambda_env(broken);
        let mut coldmark =
            FakeLambda::spawn_with_stdout(COLDMARK, &env, Stdio::from(closed_pipe()));
        // Registration and subscription share the 2 s init budget.
        first_next_or_exit(&lambda, &mut coldmark, Duration::from_secs(4)).await;
        assert_eq!(lambda.registered_name().as_deref(), Some("coldmark"));
        // Still there, still waiting for its next event.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(coldmark.exited().is_none(), "coldmark exited after init");
        if refuse_invoke.is_none() {
            lambda.invoke("req-1");
            lambda.wait_next(2).await;
        }
        let out = lambda.spindown(coldmark, EXIT_LIMIT).await;
        assert!(out.status.success(), "{:?}", out.status);
        assert!(
            out.exit_after < Duration::from_secs(2),
            "{:?}",
            out.exit_after
        );
        let fallback = out.stderr_lines_with("SHUTDOWN only").len();
        assert_eq!(
            fallback,
            usize::from(refuse_invoke.is_some()),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("stdout is closed or not being read"),
            "{}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn every_setting_is_warned_about_before_registration() {
    // Registration never answers: whatever is on stderr was written before it.
    let lambda = FakeLambda::start_with(Telemetry::Supported, true).await;
    let env = lambda.lambda_env(&[
        ("COLDMARK_SINK", "http"),
        ("COLDMARK_HTTP_ENDPOINT", "ftp://collector.example/"),
    ]);
    let out = FakeLambda::spawn(COLDMARK, &env).finish(EXIT_LIMIT).await;
    assert!(out.status.success());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert!(
        lines[0].contains("COLDMARK_HTTP_ENDPOINT is not an http:// or https:// URL"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("no working sink left"), "{}", lines[1]);
    assert!(lines[2].contains("coldmark is off"), "{}", lines[2]);
    assert!(!out.stderr.contains("collector.example"));
}
