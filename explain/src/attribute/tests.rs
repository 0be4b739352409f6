//! The attribution's rules, one case at a time, without a reader or a renderer.

use super::*;
use crate::cause::Evidence;
use crate::marker::InitFields;

fn init(env: &str, at_ms: i64, fp: &str) -> Observation {
    Observation::Marker {
        marker: Marker {
            kind: Kind::Init,
            timestamp_ms: at_ms,
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            env_id: env.into(),
            init: Some(Box::new(InitFields {
                init_type: "on-demand".into(),
                init_phase: "init".into(),
                init_duration_ms: Some(100.0),
                config_fingerprint: fp.into(),
                function_memory_size: Some(512),
                ..InitFields::default()
            })),
            reason: None,
            tenant_id: None,
            invocations: None,
        },
        stream: Some(format!("stream-{env}")),
    }
}

fn other(kind: Kind, env: &str, at_ms: i64, reason: Option<&str>) -> Observation {
    Observation::marker(Marker {
        kind,
        timestamp_ms: at_ms,
        function_name: "f".into(),
        function_version: "$LATEST".into(),
        env_id: env.into(),
        init: None,
        reason: reason.map(str::to_owned),
        tenant_id: None,
        invocations: None,
    })
}

fn run(settings: Settings, input: Vec<Observation>) -> Vec<Attribution> {
    attribute_all(input, settings)
}

const GRACE: Settings = Settings {
    alive_grace_ms: 60_000,
    report_ended: true,
};

#[test]
fn without_a_shutdown_marker_an_environment_is_presumed_gone_after_the_grace() {
    let out = run(GRACE, vec![init("a", 0, "x"), init("b", 600_000, "x")]);
    assert_eq!(out[1].cause, Cause::FirstSeen);
    assert_eq!(
        out[1].evidence,
        Evidence::FirstSeen {
            last_seen_env: Some("a".into()),
            last_seen_gap_ms: Some(600_000)
        }
    );
    // Within the grace it is still alive: scale-out.
    let out = run(GRACE, vec![init("a", 0, "x"), init("b", 30_000, "x")]);
    assert_eq!(out[1].cause, Cause::ScaleOut);
}

#[test]
fn a_line_in_its_log_stream_keeps_an_environment_alive() {
    let mut input = vec![init("a", 0, "x")];
    for t in (50_000..600_000).step_by(50_000) {
        input.push(Observation::Activity {
            stream: "stream-a".into(),
            at_ms: t,
        });
    }
    input.push(init("b", 600_000, "x"));
    let out = run(GRACE, input);
    assert_eq!(
        out[1].evidence,
        Evidence::ScaleOut {
            alive: 1,
            unknown_configuration: 0
        }
    );
}

#[test]
fn environments_from_before_the_input_count_for_scale_out() {
    let out = run(
        GRACE,
        vec![other(Kind::Invoke, "old", 0, None), init("b", 1000, "x")],
    );
    assert_eq!(
        out[0].evidence,
        Evidence::ScaleOut {
            alive: 1,
            unknown_configuration: 1
        }
    );
}

/// An init on Lambda Managed Instances, marked proactive by the extension (no request
/// waits for one there).
fn managed_init(env: &str, at_ms: i64, fp: &str) -> Observation {
    let mut o = init(env, at_ms, fp);
    if let Observation::Marker { marker, .. } = &mut o {
        let fields = marker.init.as_mut().expect("init fields");
        fields.init_type = MANAGED_INSTANCES.into();
        fields.proactive = true;
    }
    o
}

#[test]
fn managed_instances_inits_follow_the_rules_and_are_never_proactive_or_billed() {
    // Lambda starts a version's environments ahead of traffic, several at once: those
    // before the configuration's first invocation share the first one's cause; one after
    // it is a scale-out.
    let out = run(
        GRACE,
        vec![
            managed_init("a", 0, "x"),
            managed_init("a2", 40, "x"),
            other(Kind::Invoke, "a", 100, None),
            managed_init("a3", 150, "x"),
            managed_init("b", 10_000, "x"),
            managed_init("c", 20_000, "y"),
            managed_init("c2", 20_030, "y"),
        ],
    );
    let causes: Vec<Cause> = out.iter().map(|a| a.cause).collect();
    assert_eq!(
        causes,
        vec![
            Cause::FirstSeen,
            Cause::FirstSeen,
            Cause::ScaleOut,
            Cause::ScaleOut,
            Cause::ConfigurationChange,
            Cause::ConfigurationChange
        ]
    );
    assert_eq!(out[5].evidence, out[4].evidence);
    assert!(out.iter().all(|a| a.gb_seconds().is_none()));
    let mut summary = crate::summary::Summary::default();
    out.iter().for_each(|a| summary.add(a));
    let records = summary.records(Some(0.0000166667));
    let total = &records[0].total;
    assert_eq!(total.cold_starts, 6);
    assert_eq!(total.managed_instances, 6);
    assert_eq!(total.unknown_duration, 0);
    assert_eq!(total.init_ms, 600.0);
    assert_eq!(total.gb_seconds, 0.0);
}

#[test]
fn timeout_then_replacement_and_duplicates() {
    let out = run(
        GRACE,
        vec![
            init("a", 0, "x"),
            init("a", 0, "x"),
            other(Kind::Shutdown, "a", 5_000, Some("timeout")),
            init("b", 6_000, "x"),
            other(Kind::Shutdown, "b", 7_000, Some("spindown")),
            init("c", 9_000, "x"),
        ],
    );
    let causes: Vec<Cause> = out.iter().map(|a| a.cause).collect();
    assert_eq!(
        causes,
        vec![Cause::FirstSeen, Cause::AfterFailure, Cause::Replacement]
    );
    assert_eq!(
        out[2].evidence,
        Evidence::Replacement {
            env_id: "b".into(),
            gap_ms: 2_000
        }
    );
    assert_eq!(out[0].gb_seconds(), Some(0.05));
}

/// `observation` moved to another version (its marker's `function_version`).
fn of_version(mut observation: Observation, version: &str) -> Observation {
    if let Observation::Marker { marker, .. } = &mut observation {
        marker.function_version = version.into();
    }
    observation
}

#[test]
fn returning_to_a_version_after_its_environments_were_reclaimed_is_a_replacement() {
    // $LATEST serves and is reclaimed, version 1 serves, then $LATEST again: its own
    // configuration was seen and spun down, so a replacement (as the sandbox says), not a
    // new version; and version 1's reclaim says nothing about $LATEST.
    let out = run(
        GRACE,
        vec![
            init("a", 0, "x"),
            other(Kind::Shutdown, "a", 5_000, Some("spindown")),
            of_version(init("v1", 6_000, "y"), "1"),
            of_version(other(Kind::Shutdown, "v1", 8_000, Some("spindown")), "1"),
            init("b", 9_000, "x"),
        ],
    );
    let causes: Vec<Cause> = out.iter().map(|a| a.cause).collect();
    assert_eq!(
        causes,
        vec![Cause::FirstSeen, Cause::NewVersion, Cause::Replacement]
    );
    assert_eq!(
        out[2].evidence,
        Evidence::Replacement {
            env_id: "a".into(),
            gap_ms: 4_000
        }
    );
}

#[test]
fn memory_follows_the_environments_alive_not_the_input() {
    let mut attributor = Attributor::new(GRACE);
    let mut out = Vec::new();
    for i in 0..10_000i64 {
        let env = format!("e{i}");
        attributor.push(init(&env, i * 1000, "x"), &mut out);
        attributor.push(
            other(Kind::Shutdown, &env, i * 1000 + 500, Some("spindown")),
            &mut out,
        );
        assert!(attributor.alive() <= 1);
    }
    assert!(attributor.streams.is_empty());
}

/// `observation` for `tenant` (tenant isolation).
fn of_tenant(mut observation: Observation, tenant: &str) -> Observation {
    if let Observation::Marker { marker, .. } = &mut observation {
        marker.tenant_id = Some(tenant.into());
    }
    observation
}

/// A shutdown marker that also says how many requests the environment served.
fn shutdown(env: &str, at_ms: i64, reason: &str, invocations: u64) -> Observation {
    let mut o = other(Kind::Shutdown, env, at_ms, Some(reason));
    if let Observation::Marker { marker, .. } = &mut o {
        marker.invocations = Some(invocations);
    }
    o
}

/// Everything the attributor yields, ends and unused inits included.
fn explain(settings: Settings, input: Vec<Observation>) -> Vec<Explained> {
    let mut attributor = Attributor::new(settings);
    let mut out = Vec::new();
    for o in input {
        attributor.push(o, &mut out);
    }
    attributor.finish(&mut out);
    out
}

#[test]
fn each_tenant_has_its_own_pool() {
    let out = run(
        GRACE,
        vec![
            of_tenant(init("a", 0, "x"), "blue"),
            of_tenant(init("b", 1_000, "x"), "green"),
            // Blue's environment is alive: blue's second is a scale-out of blue's pool.
            of_tenant(init("a2", 2_000, "x"), "blue"),
            of_tenant(shutdown("b", 3_000, "spindown", 4), "green"),
            // Green's only environment was spun down: a replacement, although blue's are alive.
            of_tenant(init("b2", 4_000, "x"), "green"),
            of_tenant(shutdown("a", 5_000, "failure", 2), "blue"),
            of_tenant(init("a3", 6_000, "x"), "blue"),
            // A configuration change: the first environment after it is the change; another
            // tenant's first of the new configuration is that tenant's, and says what it ran.
            of_tenant(init("c", 10_000, "y"), "green"),
            of_tenant(init("d", 11_000, "y"), "blue"),
        ],
    );
    let causes: Vec<Cause> = out.iter().map(|a| a.cause).collect();
    assert_eq!(
        causes,
        vec![
            Cause::NewTenant,
            Cause::NewTenant,
            Cause::ScaleOut,
            Cause::Replacement,
            Cause::AfterFailure,
            Cause::ConfigurationChange,
            Cause::NewTenant,
        ]
    );
    assert_eq!(
        out[1].evidence,
        Evidence::NewTenant {
            tenant_id: "green".into(),
            previous_fingerprint: None,
            other_tenants_alive: 1,
        }
    );
    assert_eq!(
        out[2].evidence,
        Evidence::ScaleOut {
            alive: 1,
            unknown_configuration: 0
        }
    );
    assert_eq!(
        out[6].evidence,
        Evidence::NewTenant {
            tenant_id: "blue".into(),
            previous_fingerprint: Some("x".into()),
            other_tenants_alive: 1,
        }
    );
    assert_eq!(out[6].tenant_id.as_deref(), Some("blue"));
}

#[test]
fn a_quiet_hour_then_a_crash_is_a_failure_whenever_its_marker_comes() {
    // One environment serves steadily for an hour with the default invoke markers (`first`):
    // nothing between its first invocation and its crash. The 30-minute grace presumes it
    // ended; its `failure` shutdown marker corrects that, and the next one replaces a failure.
    const HOUR: i64 = 3_600_000;
    let out = explain(
        Settings::default(),
        vec![
            init("a", 0, "x"),
            other(Kind::Invoke, "a", 200, None),
            // Another function keeps the input going (and the sweep running) meanwhile.
            of_function(init("o", 1_000, "z"), "other"),
            of_function(other(Kind::Invoke, "o", HOUR - 1_000, None), "other"),
            shutdown("a", HOUR, "failure", 41_000),
            init("b", HOUR + 800, "x"),
        ],
    );
    let inits: Vec<&Attribution> = out
        .iter()
        .filter_map(|e| match e {
            Explained::Init(a) => Some(a),
            _ => None,
        })
        .collect();
    let b = inits.iter().find(|a| a.env_id == "b").unwrap();
    assert_eq!(b.cause, Cause::AfterFailure);
    assert_eq!(
        b.evidence,
        Evidence::ReplacesFailed {
            env_id: "a".into(),
            reason: "failure".into(),
            gap_ms: 800
        }
    );
    // It was alive until its marker: one end, at the crash, with its reason.
    let ends: Vec<&Ended> = out
        .iter()
        .filter_map(|e| match e {
            Explained::Ended(e) if e.env_id == "a" => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].at_ms, HOUR);
    assert_eq!(ends[0].reason.as_deref(), Some("failure"));
    assert_eq!(ends[0].invocations, Some(41_000));
    assert!(!ends[0].unused);
}

/// `observation` moved to another function.
fn of_function(mut observation: Observation, function: &str) -> Observation {
    if let Observation::Marker { marker, .. } = &mut observation {
        marker.function_name = function.into();
    }
    observation
}

#[test]
fn a_marker_after_the_presumption_revives_the_environment() {
    // Presumed ended after the grace, then an invoke marker: alive after all, so a new
    // environment beside it is a scale-out, not a first-seen.
    let out = run(
        GRACE,
        vec![
            init("a", 0, "x"),
            of_function(init("o", 100_000, "z"), "other"),
            other(Kind::Invoke, "a", 200_000, None),
            init("b", 201_000, "x"),
        ],
    );
    let b = out.iter().find(|a| a.env_id == "b").unwrap();
    assert_eq!(b.cause, Cause::ScaleOut);
}

#[test]
fn environments_that_served_nothing_are_reported_with_their_init_cost() {
    let provisioned = |env: &str, at: i64| {
        let mut o = init(env, at, "x");
        if let Observation::Marker { marker, .. } = &mut o {
            marker.init.as_mut().unwrap().init_type = "provisioned-concurrency".into();
        }
        o
    };
    let out = explain(
        GRACE,
        vec![
            // Said by its shutdown marker.
            init("a", 0, "x"),
            shutdown("a", 5_000, "spindown", 0),
            // Provisioned, no invoke marker, no shutdown marker: presumed ended, unused.
            provisioned("p", 6_000),
            // Provisioned and used.
            provisioned("q", 6_000),
            other(Kind::Invoke, "q", 7_000, None),
            // On demand, served (its shutdown marker says so).
            init("c", 8_000, "x"),
            shutdown("c", 9_000, "spindown", 3),
            of_function(init("o", 500_000, "z"), "other"),
        ],
    );
    let unused: Vec<&UnusedInit> = out
        .iter()
        .filter_map(|e| match e {
            Explained::Unused(u) => Some(u),
            _ => None,
        })
        .collect();
    let ids: Vec<&str> = unused.iter().map(|u| u.env_id.as_str()).collect();
    assert_eq!(ids, vec!["a", "p"]);
    assert_eq!(unused[0].cause, Cause::FirstSeen);
    assert_eq!(unused[1].cause, Cause::Provisioned);
    // 100 ms at 512 MB.
    assert_eq!(unused[0].gb_seconds, Some(0.05));
    let mut summary = crate::summary::Summary::default();
    for e in &out {
        match e {
            Explained::Init(a) => summary.add(a),
            Explained::Unused(u) => summary.add_unused(u),
            Explained::Ended(_) => {}
        }
    }
    let f = summary
        .records(None)
        .into_iter()
        .find(|r| r.function_name == "f")
        .unwrap();
    assert_eq!(f.total.unused_inits, 2);
    assert!((f.total.unused_gb_seconds - 0.1).abs() < 1e-12);
    assert_eq!(f.causes[&Cause::Provisioned].unused_inits, 1);
    assert_eq!(f.causes[&Cause::FirstSeen].unused_inits, 1);
}

#[test]
fn failed_inits_are_counted_and_their_retry_is_after_failure() {
    let failed = |mut o: Observation, phase: &str, status: &str| {
        if let Observation::Marker { marker, .. } = &mut o {
            let init = marker.init.as_mut().unwrap();
            init.init_phase = phase.into();
            init.init_status = Some(status.into());
            init.init_error_type = (status != "success").then(|| "Runtime.ExitError".into());
        }
        o
    };
    let out = run(
        GRACE,
        vec![
            failed(init("a", 0, "x"), "init", "error"),
            failed(init("a", 2_000, "x"), "invoke", "success"),
        ],
    );
    assert_eq!(out.len(), 2);
    assert!(out[0].failed());
    assert_eq!(out[0].init_error_type.as_deref(), Some("Runtime.ExitError"));
    assert!(!out[1].failed());
    assert_eq!(out[1].cause, Cause::AfterFailure);
    let mut summary = crate::summary::Summary::default();
    out.iter().for_each(|a| summary.add(a));
    let total = &summary.records(None)[0].total;
    assert_eq!(total.cold_starts, 2);
    assert_eq!(total.failed_inits, 1);
    assert!((total.failed_gb_seconds - 0.05).abs() < 1e-12);
}

#[test]
fn an_environment_whose_init_failed_is_counted_once_as_failed_not_as_unused() {
    let failed = |mut o: Observation| {
        if let Observation::Marker { marker, .. } = &mut o {
            marker.init.as_mut().unwrap().init_status = Some("error".into());
        }
        o
    };
    let out = explain(
        GRACE,
        vec![
            failed(init("a", 0, "x")),
            // Lambda resets it: SHUTDOWN before any request was served.
            shutdown("a", 1_000, "failure", 0),
            init("b", 2_000, "x"),
            shutdown("b", 3_000, "spindown", 0),
        ],
    );
    let unused: Vec<&str> = out
        .iter()
        .filter_map(|e| match e {
            Explained::Unused(u) => Some(u.env_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(unused, vec!["b"]);
}
