//! Unit tests of the state machine, by topic; the helpers here build machines, records and
//! INVOKEs at times relative to one instant.

mod hostile_records;
mod init_figures;
mod init_status;
mod invoke_markers;
mod late_records;
mod shutdown_only;
mod tenants;

use super::*;
use crate::telemetry::record::{Outcome, ReportMetrics};
use chrono::TimeZone;
use serde_json::Value;

const T0: i64 = 1_795_000_000_000;

fn t(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(T0 + ms).unwrap()
}

fn machine(markers: InvokeMarkers, init_type: &str) -> Lifecycle {
    Lifecycle::new(
        Settings {
            invoke_markers: markers,
            proactive_threshold_ms: 1000,
            namespace: "coldmark".into(),
        },
        Identity {
            function_name: "clock".into(),
            function_version: "$LATEST".into(),
            memory_size: Some(128),
            config_fingerprint: "0123456789ab".into(),
            env_id: "generated".into(),
            init_type: Some(init_type.into()),
            max_concurrency: None,
            started_at: t(-5),
        },
    )
}

fn subscribed(markers: InvokeMarkers, init_type: &str) -> Lifecycle {
    let mut m = machine(markers, init_type);
    m.telemetry_subscribed();
    m.ready(t(2), 7.0);
    m
}

fn json(markers: &[Marker]) -> Vec<Value> {
    markers
        .iter()
        .map(|m| serde_json::from_str(&m.to_line()).unwrap())
        .collect()
}

fn invoke(id: &str, at: i64) -> Invoke {
    Invoke {
        request_id: id.into(),
        at: t(at),
        xray_trace_id: Some(format!("Root=1-{id}")),
    }
}

fn init_start(at: i64, kind: &str, phase: &str) -> Record {
    Record::InitStart {
        time: t(at),
        initialization_type: Some(kind.into()),
        phase: Some(phase.into()),
        runtime_version: Some("provided:al2023.v1".into()),
        function_name: Some("clock".into()),
        function_version: Some("$LATEST".into()),
        instance_id: Some("instance-1".into()),
        instance_max_memory_mb: Some(128),
    }
}

/// `platform.restoreStart` at 0 ms (SnapStart), with the runtime and instance it may name.
fn restore_start(runtime_version: Option<&str>, instance_id: Option<&str>) -> Record {
    Record::RestoreStart {
        time: t(0),
        runtime_version: runtime_version.map(Into::into),
        function_name: None,
        function_version: None,
        instance_id: instance_id.map(Into::into),
        instance_max_memory_mb: None,
    }
}

/// `status` and `errorType` as an init record carries them.
fn outcome(status: &str, error_type: Option<&str>) -> Outcome {
    Outcome {
        status: Some(status.into()),
        error_type: error_type.map(Into::into),
    }
}

fn success() -> Outcome {
    outcome("success", None)
}

fn runtime_done(at: i64) -> Record {
    Record::InitRuntimeDone {
        time: t(at),
        phase: Some("init".into()),
        outcome: success(),
    }
}

fn init_report(at: i64, ms: f64) -> Record {
    Record::InitReport {
        time: t(at),
        phase: Some("init".into()),
        duration_ms: Some(ms),
        outcome: success(),
    }
}

/// `platform.start` of request `id`, naming `tenant` (tenant isolation) or none.
fn platform_start(id: &str, at: i64, tenant: Option<&str>) -> Record {
    Record::Start {
        time: t(at),
        request_id: id.into(),
        tenant_id: tenant.map(Into::into),
    }
}

fn report(id: &str, at: i64, init_ms: Option<f64>) -> Record {
    Record::Report {
        time: t(at),
        request_id: id.into(),
        metrics: ReportMetrics {
            duration_ms: Some(2.25),
            billed_duration_ms: Some(3),
            max_memory_used_mb: Some(20),
            init_duration_ms: init_ms,
            restore_duration_ms: None,
        },
        tenant_id: None,
    }
}

fn feed(m: &mut Lifecycle, records: Vec<Record>) -> Vec<Marker> {
    records.into_iter().flat_map(|r| m.on_record(r)).collect()
}

fn extension_record() -> Record {
    Record::Extension {
        name: "coldmark".into(),
        state: Some("Ready".into()),
        events: vec!["INVOKE".into(), "SHUTDOWN".into()],
    }
}

/// The first init marker after feeding `records` and one invocation.
fn init_marker_of(records: Vec<Record>) -> Value {
    let mut m = subscribed(InvokeMarkers::First, "on-demand");
    let mut out = feed(&mut m, records);
    out.extend(m.on_invoke(invoke("r1", 200)));
    out.extend(m.finish());
    json(&out)
        .into_iter()
        .find(|v| v["coldmark"] == "init")
        .expect("an init marker")
}
