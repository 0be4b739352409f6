//! Which environment answers: scale-out on concurrent requests, the concurrency limit (429), and
//! an update that spins environments down so the next request pays for a new init. Real clock
//! function, real coldmark extension, real sockets; the markers are read from the log sink as
//! CloudWatch would hold them.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;
use support::cp_build;

use cp_build::{answer, config, header, layer, test_plane, text};
use lambda_emulator::control_plane::ControlPlaneEvent;
use lambda_emulator::environment::ShutdownReason;
use serde_json::Value;
use tokio::sync::broadcast;

/// Moves the events sent so far into `events`; the environments started, among all of them.
fn started_so_far(
    rx: &mut broadcast::Receiver<ControlPlaneEvent>,
    events: &mut Vec<ControlPlaneEvent>,
) -> Vec<String> {
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
        .iter()
        .filter_map(|e| match e {
            ControlPlaneEvent::EnvironmentStarted { env_id, .. } => Some(env_id.clone()),
            _ => None,
        })
        .collect()
}

/// GET on the Function URL; the clock body.
async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// `n` GETs on the Function URL at once, each in its own task.
fn concurrent_gets(
    client: &reqwest::Client,
    url: &str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<(u16, Value)>> {
    (0..n)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_owned());
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_scale_out_one_environment_each() {
    let layer = layer(true, &[]);
    let (plane, logs, mut rx) = test_plane(
        config(&[("CLOCK_HANDLER_SLEEP_MS", "800")]),
        &[layer.path()],
        cp_build::plane_options(),
    );
    let (served, _, url) = cp_build::serve(&plane).await;
    let client = reqwest::Client::new();

    const N: usize = 3;
    let tasks = concurrent_gets(&client, &url, N);
    let mut inits = BTreeSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["invocation_count"], 1,
            "each request met a fresh environment"
        );
        inits.insert(body["time_out_of_handler"].as_str().unwrap().to_owned());
    }
    assert_eq!(inits.len(), N, "one environment per concurrent request");

    // A later request reuses one of them: no new init.
    let (status, body) = get(&client, &url).await;
    assert_eq!(status, 200);
    assert!(inits.contains(body["time_out_of_handler"].as_str().unwrap()));

    let mut events = Vec::new();
    assert_eq!(started_so_far(&mut rx, &mut events).len(), N);

    served.stop();
    plane.close(Duration::from_secs(10)).await;
    // Frozen environments print nothing until they are thawed (as on Lambda), so the markers
    // are read once every environment has been spun down.
    let shutdowns = logs
        .wait_for(N, Duration::from_secs(5), |m| m.kind() == "shutdown")
        .await;
    assert_eq!(shutdowns.len(), N, "{}", logs.dump());
    let markers = logs.markers();
    let init_envs: Vec<&str> = markers
        .iter()
        .filter(|m| m.kind() == "init")
        .map(|m| m.env_id.as_str())
        .collect();
    let distinct: BTreeSet<&str> = init_envs.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        N,
        "init markers from every environment:\n{}",
        logs.dump()
    );
    assert_eq!(
        init_envs.len(),
        N,
        "one init marker per environment:\n{}",
        logs.dump()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_beyond_the_limit_get_429() {
    let (plane, _, mut rx) = test_plane(
        config(&[("CLOCK_HANDLER_SLEEP_MS", "1500")]),
        &[],
        lambda_emulator::control_plane::ControlPlaneOptions {
            max_environments: 2,
            ..cp_build::plane_options()
        },
    );
    let (served, api, url) = cp_build::serve(&plane).await;
    let api = format!("{api}/2015-03-31/functions/clock/invocations");
    let client = reqwest::Client::new();
    let busy = concurrent_gets(&client, &url, 2);
    // Both are taken as soon as they arrive; each then runs for 1.5 s once its environment's
    // init is over, which the plane reports: wait for both reports (generously), not a time.
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while started_so_far(&mut rx, &mut events).len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "two environments within 30 s: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let refused = client.post(&api).body("{}").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        header(&refused, "x-amzn-ErrorType"),
        Some("TooManyRequestsException")
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["Reason"], "ConcurrentInvocationLimitExceeded");
    let (status, _) = get(&client, &url).await;
    assert_eq!(status, 429, "the Function URL refuses too");

    for task in busy {
        assert_eq!(task.await.unwrap().0, 200);
    }
    // Once they are free, requests are served again, by the same two environments.
    let (status, body) = get(&client, &url).await;
    assert_eq!(status, 200);
    assert_eq!(body["invocation_count"], 2);
    assert_eq!(started_so_far(&mut rx, &mut events).len(), 2);

    served.stop();
    plane.close(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_update_spins_the_environment_down_and_the_next_request_inits_a_new_one() {
    let layer = layer(true, &[]);
    let (plane, logs, mut rx) = test_plane(config(&[]), &[layer.path()], cp_build::plane_options());
    let (served, api, url) = cp_build::serve(&plane).await;
    let configuration = format!("{api}/2015-03-31/functions/clock/configuration");
    let client = reqwest::Client::new();

    let (_, first) = get(&client, &url).await;
    let (_, second) = get(&client, &url).await;
    assert_eq!(first["time_out_of_handler"], second["time_out_of_handler"]);
    assert_eq!(second["env_user"], "user");
    let mut events = Vec::new();
    let old_env = started_so_far(&mut rx, &mut events)
        .pop()
        .expect("an environment started");

    let updated: Value = answer(
        client
            .put(&configuration)
            .json(&serde_json::json!({"Environment": {"Variables": {"USER": "user2"}}})),
    )
    .await;
    assert_eq!(updated["Environment"]["Variables"]["USER"], "user2");
    assert_eq!(updated["LastUpdateStatus"], "InProgress");

    // The idle environment is spun down without waiting for a request.
    let shutdown = logs
        .wait_for(1, Duration::from_secs(5), |m| {
            m.kind() == "shutdown" && m.env_id == old_env
        })
        .await;
    assert_eq!(
        shutdown.len(),
        1,
        "shutdown marker of the old environment:\n{}",
        logs.dump()
    );
    assert_eq!(text(&shutdown[0], "reason"), Some("spindown"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        started_so_far(&mut rx, &mut events);
        let stopped = events.iter().any(|e| {
            matches!(e, ControlPlaneEvent::EnvironmentStopped { env_id, reason: ShutdownReason::Spindown, .. } if *env_id == old_env)
        });
        if stopped {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no spindown event");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (_, third) = get(&client, &url).await;
    assert_ne!(third["time_out_of_handler"], first["time_out_of_handler"]);
    assert_eq!(third["env_user"], "user2");
    assert_eq!(third["invocation_count"], 1);
    let envs = started_so_far(&mut rx, &mut events);
    assert_eq!(envs.len(), 2);
    let new_env = envs[1].clone();

    served.stop();
    plane.close(Duration::from_secs(10)).await;
    logs.wait_for(2, Duration::from_secs(5), |m| m.kind() == "shutdown")
        .await;
    let inits: Vec<_> = logs
        .markers()
        .into_iter()
        .filter(|m| m.kind() == "init")
        .collect();
    let fingerprint = |env: &str| {
        inits
            .iter()
            .find(|m| m.env_id == env)
            .and_then(|m| text(m, "config_fingerprint"))
            .map(str::to_owned)
    };
    let (old_fp, new_fp) = (fingerprint(&old_env), fingerprint(&new_env));
    assert!(old_fp.is_some() && new_fp.is_some(), "{}", logs.dump());
    assert_ne!(
        old_fp, new_fp,
        "the configuration changed, so does its fingerprint"
    );
}
