//! The HTTP sink against a real ClickHouse: markers (the contract's own types) arrive intact,
//! gzip and plain, and every query of `layer/clickhouse/queries.sql` gives the expected answer
//! on a known set of environments.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use clickhouse::{assert_json_eq, assert_stored_intact, shipped_queries, ClickHouse};
use coldmark::marker::{
    Common, Emf, ExtensionInfo, InitMarker, InvokeMarker, Marker, ShutdownMarker, Source, SCHEMA,
    VERSION,
};
use coldmark::sink::http::HttpSink;
use coldmark_testkit::clickhouse;
use serde_json::{json, Value};

fn at(minute: u32, second: u32, ms: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, minute, second)
        .unwrap()
        + chrono::Duration::milliseconds(ms.into())
}

fn common(t: DateTime<Utc>, version: &str, env: &str) -> Common {
    Common {
        schema: SCHEMA,
        timestamp: t,
        function_name: "clock".into(),
        function_version: version.into(),
        env_id: env.into(),
        // e3 serves a tenant (tenant isolation): every marker of it says which.
        tenant_id: (env == "e3").then(|| "BlueTenant".into()),
        coldmark_version: VERSION.into(),
    }
}

struct Init {
    t: DateTime<Utc>,
    version: &'static str,
    env: &'static str,
    fingerprint: &'static str,
    duration: f64,
    proactive: bool,
    /// Lambda's `errorType` of an init that failed (`init_status` `error`); `None`: it
    /// succeeded.
    error_type: Option<&'static str>,
}

fn init(i: Init) -> Marker {
    let emf = Emf::for_init(i.t, "coldmark", Some(i.duration), None, None);
    Marker::Init(Box::new(InitMarker {
        common: common(i.t, i.version, i.env),
        init_type: "on-demand".into(),
        init_phase: "init".into(),
        init_status: if i.error_type.is_some() {
            "error"
        } else {
            "success"
        }
        .into(),
        init_error_type: i.error_type.map(Into::into),
        init_duration_ms: Some(i.duration),
        proactive: i.proactive,
        config_fingerprint: i.fingerprint.into(),
        function_memory_size: Some(128),
        runtime_version: None,
        source: Source::Telemetry,
        runtime_init_ms: Some(i.duration / 2.0),
        extensions_init_ms: Some(12.25),
        coldmark_init_ms: Some(3.5),
        extensions: Some(vec![ExtensionInfo {
            name: "coldmark".into(),
            state: Some("Ready".into()),
            events: vec!["INVOKE".into(), "SHUTDOWN".into()],
        }]),
        function_request_id: None,
        max_concurrency: None,
        aws: if i.error_type.is_some() {
            emf.with_init_error()
        } else {
            emf
        },
        cold_start_metric: 1,
        init_duration_metric: Some(i.duration),
        runtime_init_metric: None,
        extensions_init_metric: None,
        init_error_metric: i.error_type.map(|_| 1),
    }))
}

fn invoke(t: DateTime<Utc>, env: &str, cold: bool) -> Marker {
    Marker::Invoke(Box::new(InvokeMarker {
        common: common(t, "1", env),
        function_request_id: format!("req-{env}"),
        cold_start: cold,
        seq: 1,
        since_init_ms: Some(5.5),
        duration_ms: Some(1.25),
        billed_duration_ms: Some(2),
        max_memory_used_mb: Some(31),
        init_duration_ms: None,
        xray_trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into()),
    }))
}

fn shutdown(t: DateTime<Utc>, env: &str, reason: &str, invocations: u64, dropped: u64) -> Marker {
    Marker::Shutdown(ShutdownMarker {
        common: common(t, "1", env),
        reason: reason.into(),
        invocations,
        lifetime_ms: Some(invocations as f64 * 60_000.0),
        dropped,
        peak_concurrency: None,
    })
}

/// Three environments: e1 (user-facing, config A), e2 (proactive, config A, its init failed),
/// e3 (version 2, config B: a configuration-change cold start; tenant `BlueTenant`).
fn dataset() -> Vec<Marker> {
    vec![
        init(Init {
            t: at(1, 0, 100),
            version: "1",
            env: "e1",
            fingerprint: "A",
            duration: 100.0,
            proactive: false,
            error_type: None,
        }),
        invoke(at(1, 0, 200), "e1", true),
        init(Init {
            t: at(3, 0, 0),
            version: "1",
            env: "e2",
            fingerprint: "A",
            duration: 200.0,
            proactive: true,
            error_type: Some("Runtime.ExitError"),
        }),
        invoke(at(4, 0, 0), "e2", false),
        init(Init {
            t: at(7, 0, 0),
            version: "2",
            env: "e3",
            fingerprint: "B",
            duration: 300.0,
            proactive: false,
            error_type: None,
        }),
        invoke(at(7, 0, 300), "e3", true),
        shutdown(at(20, 0, 0), "e1", "spindown", 3, 0),
        shutdown(at(20, 0, 1), "e2", "spindown", 1, 0),
        shutdown(at(21, 0, 0), "e3", "timeout", 4, 2),
    ]
}

fn sink_to(server: &ClickHouse, extra: &[(&str, &str)]) -> HttpSink {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("COLDMARK_SINK".into(), "stdout,http".into()),
        ("COLDMARK_HTTP_ENDPOINT".into(), server.insert_endpoint()),
        ("COLDMARK_HTTP_TIMEOUT_MS".into(), "5000".into()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let (sink, warnings) = HttpSink::from_env(&move |name| vars.get(name).cloned());
    assert!(warnings.is_empty(), "{warnings:?}");
    sink.expect("sink configured")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs clickhouse-server; `bash .ci/run` installs it and runs this test"]
async fn markers_arrive_intact_plain_and_gzip() {
    let server = ClickHouse::start();
    let lines: Vec<String> = dataset().iter().map(Marker::to_line).collect();
    // Half plain NDJSON, half gzipped: ClickHouse takes both, and the table gets every marker.
    let (first, second) = lines.split_at(4);
    for (part, gzip) in [(first, "false"), (second, "true")] {
        let sink = sink_to(&server, &[("COLDMARK_HTTP_GZIP", gzip)]);
        for line in part {
            sink.enqueue(line);
        }
        let report = sink.flush(Duration::from_secs(10)).await;
        assert!(report.complete, "{report:?}\n{}", server.logs());
        assert_eq!(
            (report.delivered, report.dropped),
            (part.len() as u64, 0),
            "{report:?}"
        );
    }
    assert_stored_intact(&server, &lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs clickhouse-server; `bash .ci/run` installs it and runs this test"]
async fn a_rejected_batch_is_counted_not_retried() {
    let server = ClickHouse::start();
    // ClickHouse answers 400 to a record it cannot parse: not retried (it would fail again),
    // counted as dropped, and nothing half-inserted.
    let sink = sink_to(&server, &[]);
    sink.enqueue("{\"coldmark\": ");
    let report = sink.flush(Duration::from_secs(10)).await;
    assert_eq!((report.delivered, report.dropped), (0, 1), "{report:?}");
    assert_eq!(server.rows("SELECT count() AS n FROM markers")[0]["n"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs clickhouse-server; `bash .ci/run` installs it and runs this test"]
async fn shipped_queries_answer_the_questions() {
    let server = ClickHouse::start();
    let sink = sink_to(&server, &[]);
    for marker in dataset() {
        sink.enqueue(&marker.to_line());
    }
    let report = sink.flush(Duration::from_secs(10)).await;
    assert_eq!(report.delivered, dataset().len() as u64, "{report:?}");

    let expected: HashMap<&str, Value> = HashMap::from([
        (
            "cold_starts_per_5min",
            json!([
                {"bin": "2026-11-25 10:00:00", "function_name": "clock", "cold_starts": 2},
                {"bin": "2026-11-25 10:05:00", "function_name": "clock", "cold_starts": 1},
            ]),
        ),
        (
            "init_duration_by_version",
            json!([
                {"function_name": "clock", "function_version": "1", "inits": 2,
                 "p50_ms": 200, "p90_ms": 200, "p99_ms": 200, "max_ms": 200},
                {"function_name": "clock", "function_version": "2", "inits": 1,
                 "p50_ms": 300, "p90_ms": 300, "p99_ms": 300, "max_ms": 300},
            ]),
        ),
        (
            "config_change_cold_starts",
            json!([
                {"function_name": "clock", "at": "2026-11-25 10:07:00", "env_id": "e3",
                 "config_fingerprint": "B", "previous_fingerprint": "A", "proactive": 0},
            ]),
        ),
        (
            "proactive_vs_user_facing",
            json!([
                {"function_name": "clock", "init_type": "on-demand", "proactive": 0, "inits": 2,
                 "avg_init_ms": 200, "p90_init_ms": 300},
                {"function_name": "clock", "init_type": "on-demand", "proactive": 1, "inits": 1,
                 "avg_init_ms": 200, "p90_init_ms": 200},
            ]),
        ),
        (
            "environment_lifetime_by_reason",
            json!([
                {"function_name": "clock", "reason": "spindown", "environments": 2,
                 "p50_lifetime_min": 3, "max_lifetime_min": 3, "avg_invocations": 2,
                 "p50_invocations": 3, "max_invocations": 3, "dropped_markers": 0},
                {"function_name": "clock", "reason": "timeout", "environments": 1,
                 "p50_lifetime_min": 4, "max_lifetime_min": 4, "avg_invocations": 4,
                 "p50_invocations": 4, "max_invocations": 4, "dropped_markers": 2},
            ]),
        ),
        (
            "cold_invocation_share",
            json!([
                {"function_name": "clock", "invocations": 8, "cold": 2, "cold_pct": 25},
            ]),
        ),
    ]);
    let queries = shipped_queries();
    let names: Vec<&str> = queries.iter().map(|(n, _)| n.as_str()).collect();
    let mut want: Vec<&str> = expected.keys().copied().collect();
    want.sort();
    let mut have = names.clone();
    have.sort();
    assert_eq!(have, want, "every shipped query is tested");
    for (name, sql) in &queries {
        let rows = server.rows(sql);
        assert_json_eq(name, &Value::Array(rows), &expected[name.as_str()]);
    }
}
