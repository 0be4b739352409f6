//! `coldmark-sandbox probe --url`: the experiment's client loop as a user would point it at a
//! real Function URL, here pointed at the sandbox's. It has only the answers to go by and must
//! still see the cold start the configuration change causes.

mod support;

use std::time::Duration;
use support::cp_build;

use cp_build::{config, test_plane};
use lambda_emulator::control_plane::{ConfigUpdate, ControlPlaneOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_detects_the_new_environment_from_the_answers() {
    let (plane, _, _) = test_plane(config(&[]), &[], ControlPlaneOptions::default());
    let (served, _, url) = cp_build::serve(&plane).await;

    let probe_url = url.clone();
    let mut probe = tokio::task::spawn_blocking(move || {
        support::sandbox(&[
            "probe",
            "--json",
            "--url",
            &probe_url,
            "--interval-ms",
            "600",
            "--requests",
            "4",
        ])
    })
    .await
    .unwrap();
    // After the second answer, change the configuration (as the experiment does).
    let (probe, second) = tokio::task::spawn_blocking(move || {
        let mut count = 0;
        let second = probe.wait_for(Duration::from_secs(30), |l| {
            if l["type"] == "response" {
                count += 1;
            }
            count == 2
        });
        (probe, second)
    })
    .await
    .unwrap();
    assert!(second.is_some(), "two answers: {:?}", probe.seen);
    plane.update(ConfigUpdate {
        environment: Some([("USER".to_owned(), "user2".to_owned())].into()),
        ..ConfigUpdate::default()
    });
    let lines = tokio::task::spawn_blocking(move || {
        let mut probe = probe;
        probe.wait_for(Duration::from_secs(30), |l| l["type"] == "probe_summary");
        std::mem::take(&mut probe.seen)
    })
    .await
    .unwrap();

    let responses: Vec<_> = lines.iter().filter(|l| l["type"] == "response").collect();
    assert_eq!(responses.len(), 4, "{lines:#?}");
    let new: Vec<bool> = responses
        .iter()
        .map(|r| r["new_environment"].as_bool().unwrap())
        .collect();
    assert_eq!(new, vec![true, false, true, false]);
    assert_eq!(responses[3]["env_user"], "user2");
    let summary = lines.iter().find(|l| l["type"] == "probe_summary").unwrap();
    assert_eq!(summary["cold_starts_at"], serde_json::json!([3]));
    assert_eq!(summary["environments"].as_array().unwrap().len(), 2);

    served.stop();
    plane.close(Duration::from_secs(10)).await;
}
