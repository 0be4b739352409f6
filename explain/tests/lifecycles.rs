//! The binary on lives the scripted day does not have: tenants, failed inits, environments that
//! served nothing, and one that serves quietly for an hour and then crashes. Each is read as a
//! user gives it (NDJSON on stdin) and checked in the table, `--by tenant` and `--json`.

mod support;

use serde_json::{json, Value};
use support::*;

fn init(env: &str, at_s: f64, fingerprint: &str) -> Value {
    init_marker(&InitSpec {
        t0: T0,
        function: "saas",
        version: "$LATEST",
        env,
        at_s,
        init_type: "on-demand",
        phase: "init",
        fingerprint,
        proactive: false,
        duration_ms: 200.0,
        memory: 1024,
    })
}

fn with(mut marker: Value, fields: Value) -> Value {
    for (k, v) in fields.as_object().unwrap() {
        marker[k] = v.clone();
    }
    marker
}

fn tenant(marker: Value, tenant: &str) -> Value {
    with(marker, json!({ "tenant_id": tenant }))
}

fn shutdown(env: &str, at_s: f64, reason: &str, invocations: u64) -> Value {
    with(
        shutdown_marker("saas", "$LATEST", env, at_s, reason),
        json!({ "invocations": invocations }),
    )
}

fn ndjson(markers: &[Value]) -> String {
    markers.iter().map(|m| format!("{m}\n")).collect()
}

/// Two tenants, a failed init and its retry, an environment that served nothing.
fn tenants_day() -> Vec<Value> {
    vec![
        tenant(init("env-blue-1", 0.0, "aaaaaaaaaaaa"), "blue"),
        tenant(invoke_marker("saas", "$LATEST", "env-blue-1", 0.3), "blue"),
        tenant(init("env-green-1", 10.0, "aaaaaaaaaaaa"), "green"),
        tenant(
            invoke_marker("saas", "$LATEST", "env-green-1", 10.3),
            "green",
        ),
        tenant(init("env-blue-2", 20.0, "aaaaaaaaaaaa"), "blue"),
        // Red's first init fails; Lambda runs it again inside the first invocation.
        tenant(
            with(
                init("env-red-1", 30.0, "aaaaaaaaaaaa"),
                json!({"init_status": "error", "init_error_type": "Runtime.ExitError"}),
            ),
            "red",
        ),
        tenant(
            with(
                init("env-red-1", 31.0, "aaaaaaaaaaaa"),
                json!({"init_phase": "invoke", "init_status": "success",
                       "function_request_id": "req-red"}),
            ),
            "red",
        ),
        // Blue's second environment ends without serving anything.
        tenant(shutdown("env-blue-2", 600.0, "spindown", 0), "blue"),
    ]
}

#[test]
fn tenants_failed_and_unused_inits_in_json() {
    let out = run(
        &["--json", "--price-per-gb-second", "0.0000166667"],
        ndjson(&tenants_day()).as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (inits, summaries) = parse_json(&out);
    let causes: Vec<(&str, &str)> = inits
        .iter()
        .map(|i| (i["env_id"].as_str().unwrap(), i["cause"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        vec![
            ("env-blue-1", "new-tenant"),
            ("env-green-1", "new-tenant"),
            ("env-blue-2", "scale-out"),
            ("env-red-1", "new-tenant"),
            ("env-red-1", "after-failure"),
        ]
    );
    assert_eq!(inits[1]["tenant_id"], "green");
    assert_eq!(inits[3]["init_status"], "error");
    assert_eq!(inits[3]["init_error_type"], "Runtime.ExitError");
    assert_eq!(inits[4]["init_status"], "success");
    assert!(inits[4].get("init_error_type").is_none());
    assert_eq!(summaries.len(), 1);
    let s = &summaries[0];
    assert_eq!(s["cold_starts"], 5);
    assert_eq!(s["failed_inits"], 1);
    // 200 ms at 1024 MB = 0.2 GB-s.
    assert_eq!(s["failed_gb_seconds"], 0.2);
    assert_eq!(s["unused_inits"], 1);
    assert_eq!(s["unused_gb_seconds"], 0.2);
    assert_eq!(s["causes"]["scale-out"]["unused_inits"], 1);
    assert_eq!(s["unused_cost"], 0.00000333334);
}

#[test]
fn by_tenant_ranks_tenants_by_cold_starts() {
    let out = run(&["--by", "tenant"], ndjson(&tenants_day()).as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert_eq!(out.status.code(), Some(0));
    let groups: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("saas · tenant "))
        .collect();
    assert_eq!(groups.len(), 3, "{stdout}");
    // Blue and red have two cold starts each (ties by cost, then name), green one.
    assert!(
        groups[0].starts_with("saas · tenant blue: 2 cold starts"),
        "{}",
        groups[0]
    );
    assert!(
        groups[1].starts_with("saas · tenant red: 2 cold starts"),
        "{}",
        groups[1]
    );
    assert!(
        groups[2].starts_with("saas · tenant green: 1 cold start,"),
        "{}",
        groups[2]
    );
    assert!(stdout.contains("paid for nothing: 1 failed init (0.200 GB-s)"));
    assert!(stdout.contains("paid for nothing: 1 environment that served no request"));
    // The table row of the failed init says so before its cause's evidence.
    let failed_row = stdout
        .lines()
        .find(|l| l.contains("env-red-1") && l.contains("new-tenant"))
        .unwrap();
    assert!(
        failed_row.contains("new-tenant           INIT FAILED (error Runtime.ExitError); tenant"),
        "{failed_row}"
    );

    // The top tenants only: the rest added up.
    let out = run(
        &["--by", "tenant", "--top", "1"],
        ndjson(&tenants_day()).as_bytes(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("saas · tenant ").count(), 1, "{stdout}");
    assert!(
        stdout.contains("saas · 2 more tenants: 3 cold starts, 0.600 GB-s billed"),
        "{stdout}"
    );

    let out = run(
        &["--by", "tenant", "--json"],
        ndjson(&tenants_day()).as_bytes(),
    );
    let (_, summaries) = parse_json(&out);
    let tenants: Vec<&str> = summaries
        .iter()
        .map(|s| s["tenant_id"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, vec!["blue", "red", "green"]);
}

#[test]
fn a_crash_after_an_hour_of_quiet_service_is_named_after_failure() {
    // Default invoke markers (`first`): the environment writes its first invoke marker, then
    // nothing for an hour of steady service, then crashes. Another function's markers keep
    // the input going past the 30-minute grace meanwhile.
    let other = |env: &str, at_s: f64| {
        with(
            init(env, at_s, "bbbbbbbbbbbb"),
            json!({"function_name": "other"}),
        )
    };
    let markers = vec![
        init("env-long", 0.0, "aaaaaaaaaaaa"),
        invoke_marker("saas", "$LATEST", "env-long", 0.3),
        other("env-other-1", 60.0),
        other("env-other-2", 2400.0),
        other("env-other-3", 3500.0),
        shutdown("env-long", 3600.0, "failure", 52_000),
        init("env-next", 3600.5, "aaaaaaaaaaaa"),
    ];
    let svg = tempfile::NamedTempFile::new().unwrap();
    let out = run(
        &["--json", "--svg", svg.path().to_str().unwrap()],
        ndjson(&markers).as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0));
    let (inits, _) = parse_json(&out);
    let next = inits.iter().find(|i| i["env_id"] == "env-next").unwrap();
    assert_eq!(next["cause"], "after-failure", "{next}");
    assert_eq!(next["details"]["env_id"], "env-long");
    assert_eq!(next["details"]["reason"], "failure");
    // The timeline draws its life to the crash, ended by `failure`.
    let text = std::fs::read_to_string(svg.path()).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let lane = doc
        .descendants()
        .find(|n| n.attribute("data-env-id") == Some("env-long"))
        .unwrap();
    assert_eq!(lane.attribute("data-ended"), Some("failure"));
}

#[test]
fn the_timeline_marks_failed_inits_and_environments_that_served_nothing() {
    let svg = tempfile::NamedTempFile::new().unwrap();
    let out = run(
        &["--svg", svg.path().to_str().unwrap()],
        ndjson(&tenants_day()).as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(svg.path()).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let lane = |env: &str| {
        doc.descendants()
            .find(|n| n.attribute("data-env-id") == Some(env))
            .unwrap_or_else(|| panic!("no lane {env}"))
    };
    let marks: Vec<&str> = lane("env-red-1")
        .descendants()
        .filter(|n| n.attribute("class") == Some("failed-init"))
        .filter_map(|n| n.attribute("data-failure"))
        .collect();
    assert_eq!(marks, vec!["error Runtime.ExitError"]);
    for env in ["env-blue-1", "env-green-1"] {
        assert!(
            !lane(env)
                .descendants()
                .any(|n| n.attribute("class") == Some("failed-init")),
            "{env}"
        );
        assert_eq!(lane(env).attribute("data-unused"), Some("false"));
    }
    assert_eq!(lane("env-blue-2").attribute("data-unused"), Some("true"));
    assert_eq!(
        lane("env-blue-2").attribute("data-ended"),
        Some("spindown, served nothing")
    );
}

/// The field names docs/explain.md lists for `--json`: (init record's, summary's).
fn documented_json_fields() -> (Vec<String>, Vec<String>) {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/explain.md"),
    )
    .unwrap();
    let section = doc
        .split("### `--json`")
        .nth(1)
        .and_then(|s| s.split("`--svg FILE`").next())
        .expect("docs/explain.md has a --json section");
    let (init, summary) = section
        .split_once(r#"`type: "summary"`"#)
        .expect("the section lists the summary's fields after the init's");
    let names = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| t.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .filter(|t| !["null", "json"].contains(t))
            .map(str::to_owned)
            .collect()
    };
    (names(init), names(summary))
}

#[test]
fn json_records_have_every_documented_field() {
    let (init_fields, summary_fields) = documented_json_fields();
    assert!(init_fields.len() >= 18, "{init_fields:?}");
    assert!(summary_fields.len() >= 14, "{summary_fields:?}");
    // Fields written only sometimes, and when.
    let conditional = ["tenant_id", "init_error_type"];
    for by in ["function", "tenant"] {
        let out = run(
            &[
                "--json",
                "--price-per-gb-second",
                "0.0000166667",
                "--by",
                by,
            ],
            ndjson(&tenants_day()).as_bytes(),
        );
        let (inits, summaries) = parse_json(&out);
        for field in &init_fields {
            let carried = inits
                .iter()
                .filter(|i| i.get(field.as_str()).is_some())
                .count();
            if conditional.contains(&field.as_str()) {
                assert!(carried > 0, "no init record has {field}");
            } else {
                assert_eq!(
                    carried,
                    inits.len(),
                    "{field} missing from some init records"
                );
            }
        }
        assert!(inits.iter().all(|i| i["type"] == "init"));
        for s in &summaries {
            for field in &summary_fields {
                if field == "tenant_id" && by == "function" {
                    assert!(s.get("tenant_id").is_none(), "{s}");
                    continue;
                }
                assert!(
                    s.get(field.as_str()).is_some(),
                    "summary without {field}: {s}"
                );
                if !["tenant_id", "causes"].contains(&field.as_str()) {
                    // The same per cause.
                    for (cause, totals) in s["causes"].as_object().unwrap() {
                        assert!(
                            totals.get(field.as_str()).is_some(),
                            "{cause} without {field}"
                        );
                    }
                }
            }
        }
    }
}
