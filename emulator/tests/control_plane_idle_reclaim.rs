//! Idle reclaim: an environment idle for `idle_reclaim` is spun down (SHUTDOWN `spindown`, in
//! coldmark's shutdown marker too); a busy one is not, however long its invocation runs; the next
//! request starts a `replacement`. Real function, real coldmark extension.

mod support;

use std::time::Duration;
use support::cp_build;

use cp_build::{config, layer, test_plane, text};
use lambda_emulator::control_plane::start_reason::StartReason;
use lambda_emulator::control_plane::{Caller, ControlPlaneEvent, ControlPlaneOptions, InvokeError};
use lambda_emulator::environment::ShutdownReason;
use tokio::sync::broadcast;

/// The next event satisfying `pred`, within `limit`.
async fn next_event(
    rx: &mut broadcast::Receiver<ControlPlaneEvent>,
    limit: Duration,
    pred: impl Fn(&ControlPlaneEvent) -> bool,
) -> Option<ControlPlaneEvent> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(event)) if pred(&event) => return Some(event),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            _ => return None,
        }
    }
}

fn reason_of(event: &ControlPlaneEvent) -> Option<StartReason> {
    match event {
        ControlPlaneEvent::EnvironmentStarted { reason, .. } => Some(*reason),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_environments_are_reclaimed_and_replaced() {
    let layer = layer(true, &[]);
    let (plane, logs, mut rx) = test_plane(
        config(&[]),
        &[layer.path()],
        ControlPlaneOptions {
            idle_reclaim: Some(Duration::from_millis(400)),
            ..ControlPlaneOptions::default()
        },
    );

    // A busy environment is not reclaimed: the invocation runs 3x the idle limit.
    let first = plane
        .invoke(r#"{"clock_sleep_ms": 1200}"#.into(), false)
        .await
        .expect("first invocation");
    assert!(first.cold_start);
    let mut so_far = Vec::new();
    while let Ok(event) = rx.try_recv() {
        so_far.push(event);
    }
    let reasons: Vec<StartReason> = so_far.iter().filter_map(reason_of).collect();
    assert_eq!(reasons, [StartReason::FirstSeen]);
    assert!(
        !so_far
            .iter()
            .any(|e| matches!(e, ControlPlaneEvent::EnvironmentStopped { .. })),
        "not reclaimed while invoking: {so_far:?}"
    );

    // Idle now: reclaimed after the limit (generous margin for a loaded machine).
    let stopped = next_event(&mut rx, Duration::from_secs(15), |e| {
        matches!(e, ControlPlaneEvent::EnvironmentStopped { .. })
    })
    .await
    .expect("the idle environment was reclaimed");
    let ControlPlaneEvent::EnvironmentStopped { env_id, reason, .. } = stopped else {
        unreachable!()
    };
    assert_eq!(env_id, first.env_id);
    assert_eq!(reason, ShutdownReason::Spindown);
    assert_eq!(plane.idle_environments(), 0);
    let shutdown = logs
        .wait_for(1, Duration::from_secs(10), |m| m.kind() == "shutdown")
        .await;
    assert_eq!(shutdown.len(), 1, "{}", logs.dump());
    assert_eq!(text(&shutdown[0], "reason"), Some("spindown"));
    assert_eq!(text(&shutdown[0], "env_id"), Some(first.env_id.as_str()));

    // The next request pays for a replacement.
    let second = plane.invoke("{}".into(), false).await.expect("second");
    assert!(second.cold_start);
    assert_ne!(second.env_id, first.env_id);
    let started = next_event(&mut rx, Duration::from_secs(1), |e| {
        matches!(e, ControlPlaneEvent::EnvironmentStarted { .. })
    })
    .await
    .expect("a start event");
    assert_eq!(reason_of(&started), Some(StartReason::Replacement));

    // A version that was never published is refused, not started.
    let unknown = plane
        .invoke_as(Some("3".into()), "{}".into(), false, Caller::default())
        .await;
    assert!(matches!(unknown, Err(InvokeError::UnknownVersion(ref q)) if q == "3"));

    plane.close(Duration::from_secs(5)).await;
}
