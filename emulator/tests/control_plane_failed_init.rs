//! Failed and timed-out inits through the control plane, with the real clock function's
//! `CLOCK_INIT_FAIL` knob: the environment's start says how its init ended, Lambda's reset
//! follows (SHUTDOWN `failure` / `timeout`), the init is retried inside the request in the same
//! environment (a start of its own, `after-failure`), and a retry that fails too is the
//! request's `Runtime.InitError`; that environment never served an invocation.

mod support;

use std::time::Duration;
use support::cp_build;

use cp_build::{config, header, plane_options, test_plane};
use lambda_emulator::control_plane::start_reason::StartReason;
use lambda_emulator::control_plane::{ControlPlaneEvent, ControlPlaneOptions};
use lambda_emulator::environment::{EnvironmentOptions, ShutdownReason};
use serde_json::Value;
use tokio::sync::broadcast;

/// What happened to environments, in order: starts as (reason, init status, error type),
/// resets and stops as (reason, invocations).
#[derive(Debug, PartialEq)]
enum Seen {
    Start(StartReason, String, Option<String>),
    Reset(ShutdownReason, u64),
    Stop(ShutdownReason, u64),
}

fn seen(rx: &mut broadcast::Receiver<ControlPlaneEvent>) -> Vec<Seen> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        match event {
            ControlPlaneEvent::EnvironmentStarted {
                reason,
                init_status,
                init_error_type,
                ..
            } => out.push(Seen::Start(reason, init_status, init_error_type)),
            ControlPlaneEvent::EnvironmentReset {
                reason,
                invocations,
                ..
            } => out.push(Seen::Reset(reason, invocations)),
            ControlPlaneEvent::EnvironmentStopped {
                reason,
                invocations,
                ..
            } => out.push(Seen::Stop(reason, invocations)),
            _ => {}
        }
    }
    out
}

/// One invoke: status, `X-Amz-Function-Error`, whether it named its request, and the body.
async fn invoke(api: &str) -> (u16, Option<String>, bool, Value) {
    let response = reqwest::Client::new()
        .post(format!("{api}/2015-03-31/functions/clock/invocations"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let error = header(&response, "X-Amz-Function-Error").map(str::to_owned);
    let named = header(&response, "x-amzn-RequestId").is_some();
    (status, error, named, response.json().await.unwrap())
}

fn start(reason: StartReason, status: &str, error: Option<&str>) -> Seen {
    Seen::Start(reason, status.to_owned(), error.map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_init_is_reset_and_retried_inside_the_request() {
    let (plane, _logs, mut rx) = test_plane(
        config(&[("CLOCK_INIT_FAIL", "error-once")]),
        &[],
        plane_options(),
    );
    let (served, api, _) = cp_build::serve(&plane).await;
    let (status, error, named, body) = invoke(&api).await;
    assert_eq!((status, error, named), (200, None, true), "{body}");
    assert_eq!(body["statusCode"], 200, "the retry answered");
    assert_eq!(
        seen(&mut rx),
        [
            start(StartReason::FirstSeen, "error", Some("Runtime.InitError")),
            Seen::Reset(ShutdownReason::Failure, 0),
            start(StartReason::AfterFailure, "success", None),
        ]
    );
    served.stop();
    plane.close(Duration::from_secs(10)).await;
    assert_eq!(seen(&mut rx), [Seen::Stop(ShutdownReason::Spindown, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_fails_too_is_the_requests_init_error_and_the_environment_served_nothing() {
    let (plane, _logs, mut rx) = test_plane(
        config(&[("CLOCK_INIT_FAIL", "error")]),
        &[],
        plane_options(),
    );
    let (served, api, _) = cp_build::serve(&plane).await;
    let (status, error, named, body) = invoke(&api).await;
    assert_eq!(
        (status, error.as_deref(), named),
        (200, Some("Unhandled"), true),
        "{body}"
    );
    assert_eq!(body["errorType"], "Runtime.InitError", "{body}");
    let failed = || start(StartReason::FirstSeen, "error", Some("Runtime.InitError"));
    let retried = start(
        StartReason::AfterFailure,
        "error",
        Some("Runtime.InitError"),
    );
    assert_eq!(
        seen(&mut rx),
        [
            failed(),
            Seen::Reset(ShutdownReason::Failure, 0),
            retried,
            Seen::Reset(ShutdownReason::Failure, 0),
        ]
    );
    served.stop();
    plane.close(Duration::from_secs(10)).await;
    assert_eq!(
        seen(&mut rx),
        [Seen::Stop(ShutdownReason::Spindown, 0)],
        "an init nobody used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_that_times_out_is_reset_with_reason_timeout_and_retried() {
    let options = ControlPlaneOptions {
        environment: EnvironmentOptions {
            init_timeout: Duration::from_millis(1500),
            ..plane_options().environment
        },
        ..plane_options()
    };
    let (plane, _logs, mut rx) =
        test_plane(config(&[("CLOCK_INIT_FAIL", "timeout-once")]), &[], options);
    let (served, api, _) = cp_build::serve(&plane).await;
    let (status, error, _, body) = invoke(&api).await;
    assert_eq!((status, error), (200, None), "{body}");
    assert_eq!(
        seen(&mut rx),
        [
            start(StartReason::FirstSeen, "timeout", Some("Runtime.Timeout")),
            Seen::Reset(ShutdownReason::Timeout, 0),
            start(StartReason::AfterFailure, "success", None),
        ]
    );
    served.stop();
    plane.close(Duration::from_secs(10)).await;
}
