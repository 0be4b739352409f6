//! The README's first command, end to end: the `coldmark-sandbox experiment` binary builds the
//! function and the extension itself (dev profile here, to spare the test a release build),
//! probes the Function URL, changes USER through UpdateFunctionConfiguration and prints a
//! verdict. The assertions are what a user reads off that verdict.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs the experiment with `extra` arguments; returns its JSON lines.
fn run_experiment(extra: &[&str]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coldmark-sandbox"))
        .args([
            "experiment",
            "--json",
            "--interval-ms",
            "100",
            "--requests",
            "6",
            "--change-after",
            "3",
            "--cargo-profile",
            "dev",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start coldmark-sandbox");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).ok();
        s
    });
    // Generous: the first run may have to build the extension.
    let deadline = Instant::now() + Duration::from_secs(900);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("the experiment did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap();
    let stderr = err.join().unwrap();
    assert!(
        status.success(),
        "experiment failed: {status}\n{stderr}\n{stdout}"
    );
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\nstderr:\n{stderr}"))
        })
        .collect()
}

fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

#[test]
fn the_experiment_sees_the_update_cause_a_new_init() {
    the_experiment_under(&[], false);
}

/// The sandbox's earlier record order (`initRuntimeDone` at the runtime's first `/next`): the
/// only one whose records separate the function's share from the extensions'.
#[test]
fn with_the_runtime_next_record_order_the_split_is_known() {
    the_experiment_under(&["--init-records", "runtime-next"], true);
}

fn the_experiment_under(extra: &[&str], split_known: bool) {
    let lines = run_experiment(extra);
    let all = serde_json::to_string_pretty(&lines).unwrap();

    let responses = of_type(&lines, "response");
    assert_eq!(responses.len(), 6, "{all}");
    for r in &responses {
        assert_eq!(r["status"], 200, "{r}");
    }
    let updates = of_type(&lines, "config_update");
    assert_eq!(updates.len(), 1);
    // As on Lambda: the update answers InProgress, and is Successful once applied.
    assert_eq!(
        updates[0]["last_update_status"], "InProgress",
        "{}",
        updates[0]
    );
    assert_eq!(updates[0]["applied_status"], "Successful", "{}", updates[0]);

    let verdicts = of_type(&lines, "verdict");
    assert_eq!(verdicts.len(), 1);
    let verdict = verdicts[0];
    assert_eq!(lines.last(), Some(verdict), "the verdict comes last");
    assert_eq!(verdict["new_init_after_change"], true, "{verdict:#}");
    assert_eq!(verdict["init_between"], serde_json::json!([3, 4]));
    assert_eq!(verdict["inits"], 2);
    assert_eq!(verdict["init_markers"], 2, "{all}");
    assert_eq!(verdict["env_user_before"], "user");
    assert_eq!(verdict["env_user_after"], "user2");
    assert_eq!(verdict["fingerprints_differ"], true, "{verdict:#}");
    assert!(verdict["init_duration_ms"].as_f64().unwrap() > 0.0);

    let envs = verdict["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 2);
    // Why, in coldmark-explain's words: the new environment is a configuration change from the
    // first environment's fingerprint to its own, and the verdict says so.
    assert_eq!(verdict["cause"], "configuration-change", "{verdict:#}");
    let evidence = verdict["evidence"]
        .as_str()
        .expect("the attribution's evidence");
    let (before, after) = (
        envs[0]["config_fingerprint"].as_str().unwrap(),
        envs[1]["config_fingerprint"].as_str().unwrap(),
    );
    assert!(
        evidence.contains(&format!("{before} → {after}")),
        "{evidence}"
    );
    assert!(
        verdict["summary"]
            .as_str()
            .unwrap()
            .contains("configuration-change"),
        "{verdict:#}"
    );
    assert_eq!(envs[0]["cause"], "first-seen");
    assert_eq!(envs[1]["cause"], "configuration-change");
    let kinds = |env: &Value| -> Vec<String> {
        env["markers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    };
    let first = kinds(&envs[0]);
    for kind in ["init", "invoke", "shutdown"] {
        assert!(
            first.iter().any(|k| k == kind),
            "env 1 lacks {kind}: {first:?}"
        );
    }
    assert_eq!(envs[0]["shutdown_reason"], "spindown");
    assert_eq!(envs[0]["first_request"], 1);
    assert_eq!(envs[0]["last_request"], 3);
    assert_eq!(envs[1]["first_request"], 4);
    assert!(kinds(&envs[1]).iter().any(|k| k == "init"));
    for env in envs {
        // coldmark's own start is known either way; the split only when the records tell it
        // (Lambda's order sends initRuntimeDone after the extensions: null, never a false 0).
        assert!(env["coldmark_init_ms"].is_number(), "{env:#}");
        for field in ["runtime_init_ms", "extensions_init_ms"] {
            assert_eq!(env[field].is_number(), split_known, "{field} of {env:#}");
            assert!(split_known || env[field].is_null(), "{field} of {env:#}");
        }
        if split_known {
            let total = env["init_duration_ms"].as_f64().unwrap();
            let runtime = env["runtime_init_ms"].as_f64().unwrap();
            let extensions = env["extensions_init_ms"].as_f64().unwrap();
            assert!(
                runtime <= total && extensions <= total,
                "no part larger than the whole: {env:#}"
            );
        }
    }

    // The markers were printed as they arrived, from both environments.
    let markers = of_type(&lines, "marker");
    let envs_with_markers: std::collections::BTreeSet<&str> = markers
        .iter()
        .map(|m| m["env_id"].as_str().unwrap())
        .collect();
    assert_eq!(envs_with_markers.len(), 2);
}

#[test]
fn without_the_layer_the_answers_alone_decide() {
    let lines = run_experiment(&["--no-layer"]);
    let verdict = *of_type(&lines, "verdict").first().expect("a verdict");
    assert_eq!(verdict["new_init_after_change"], true, "{verdict:#}");
    assert_eq!(verdict["init_between"], serde_json::json!([3, 4]));
    assert_eq!(verdict["inits"], 2);
    assert_eq!(verdict["markers_present"], false);
    assert_eq!(verdict["init_markers"], 0);
    assert!(verdict["fingerprints_differ"].is_null());
    assert!(verdict["cause"].is_null(), "no markers, no attribution");
    assert!(of_type(&lines, "marker").is_empty());
    // The platform's own report still gives the new environment's init duration.
    assert!(verdict["init_duration_ms"].as_f64().unwrap() > 0.0);
}

/// The experiment on Lambda Managed Instances: environments start ahead of traffic, three per
/// configuration; changing USER starts three more, and the first request after the change is
/// answered by one of them. The verdict says both parts of the question, in `--json` too.
#[test]
fn on_managed_instances_the_change_starts_new_environments_ahead_of_traffic() {
    let lines = run_experiment(&["--managed-instances", "--max-concurrency", "4"]);
    let all = serde_json::to_string_pretty(&lines).unwrap();
    let verdict = *of_type(&lines, "verdict").first().expect("a verdict");
    assert_eq!(verdict["new_init_after_change"], true, "{verdict:#}");
    assert_eq!(
        verdict["init_between"],
        serde_json::json!([3, 4]),
        "{verdict:#}"
    );
    assert_eq!(verdict["cause"], "configuration-change", "{verdict:#}");
    let managed = &verdict["managed_instances"];
    assert_eq!(managed["max_concurrency"], 4, "{verdict:#}");
    assert_eq!(managed["environments_before_change"], 3, "{verdict:#}");
    assert_eq!(managed["environments_after_change"], 3, "{verdict:#}");
    // Whether a request waited depends on whether the new environments' inits were over when
    // the next request came; the verdict counts it either way, and says so in words.
    let waited = managed["requests_waited"].as_u64().expect("a count");
    let summary = verdict["summary"].as_str().unwrap();
    assert!(summary.starts_with("YES"), "{summary}");
    if waited == 0 {
        assert!(summary.contains("no request waited"), "{summary}");
    } else {
        assert!(
            summary.contains("waited for an environment (longest"),
            "{summary}"
        );
    }
    let inits = of_type(&lines, "marker")
        .into_iter()
        .filter(|m| m["marker"]["coldmark"] == "init")
        .collect::<Vec<_>>();
    assert_eq!(inits.len(), 6, "{all}");
    assert!(
        inits
            .iter()
            .all(|m| m["marker"]["init_type"] == "lambda-managed-instances"),
        "{all}"
    );
}

/// The README's OpenTelemetry commands: a real collector (rotel) on 127.0.0.1, and the
/// experiment with the function's `COLDMARK_SINK=stdout,otlp` pointing at it. Every
/// environment's init reaches the collector as a log record, a `faas.coldstarts` point and an
/// init span, while the verdict is the usual one.
#[test]
#[ignore = "needs rotel (PyPI) and libpython3.11; `bash .ci/run` installs them and runs this test"]
fn the_experiment_sends_its_cold_starts_to_an_opentelemetry_collector() {
    let rotel = coldmark_testkit::rotel::Rotel::start();
    let sink = "COLDMARK_SINK=stdout,otlp".to_owned();
    let endpoint = format!("OTEL_EXPORTER_OTLP_ENDPOINT={}", rotel.endpoint());
    let lines = run_experiment(&["--env", &sink, "--env", &endpoint]);
    let verdict = of_type(&lines, "verdict");
    assert_eq!(verdict.len(), 1);
    assert_eq!(verdict[0]["new_init_after_change"], true, "{}", verdict[0]);
    let inits: Vec<String> = of_type(&lines, "marker")
        .into_iter()
        .filter(|m| m["marker"]["coldmark"] == "init")
        .map(|m| m["marker"]["env_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(inits.len(), 2, "one init marker per environment: {inits:?}");
    // Each environment's coldmark exported at its SHUTDOWN, before the experiment ended.
    let printed = rotel.wait_for(Duration::from_secs(10), |out| {
        inits.iter().all(|id| out.contains(id.as_str()))
            && out.matches("Name: faas.coldstarts").count() >= 2
    });
    for id in &inits {
        assert!(
            printed.contains(id.as_str()),
            "{id} never reached the collector:\n{printed}"
        );
    }
    assert!(
        printed.matches("Name: faas.coldstarts").count() >= 2,
        "{printed}"
    );
    assert!(
        printed.contains("Lambda init"),
        "the init spans:\n{printed}"
    );
}
