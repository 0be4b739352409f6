//! The marker contract, version 1: the serde types of every line coldmark writes.
//!
//! Field names are a public interface (queries and dashboards depend on them), so they live in
//! one place, are typed, and are never built by hand. Where the contract says "null if unknown"
//! the field is an `Option` that serialises as `null`; where it says "only when ..." the field is
//! skipped instead. See `docs/markers.md`.
//!
//! The same types also read markers back (the extension's own tests do), leniently: a field
//! absent from the line takes its default (`None`, empty, zero). Readers outside the extension
//! (`coldmark-explain` and the sandbox's front-ends) use `coldmark-explain`'s reader instead.
//! The EMF directive is the writer's alone and is not read back.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

/// The contract version written in every marker's `schema` field.
pub const SCHEMA: u32 = 1;

/// The coldmark release written in every marker's `coldmark_version` field: which build wrote a
/// line, when a fleet runs several layer versions (the contract is `schema`, not this).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One line of output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "coldmark", rename_all = "lowercase")]
pub enum Marker {
    Init(Box<InitMarker>),
    Invoke(Box<InvokeMarker>),
    Shutdown(ShutdownMarker),
}

impl Marker {
    /// The marker as one JSON line (without the newline).
    pub fn to_line(&self) -> String {
        // Serialising these types cannot fail: no maps with non-string keys, no custom errors.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Marker::Init(_) => "init",
            Marker::Invoke(_) => "invoke",
            Marker::Shutdown(_) => "shutdown",
        }
    }
}

/// Fields every marker carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Common {
    pub schema: u32,
    #[serde(serialize_with = "rfc3339_ms")]
    pub timestamp: DateTime<Utc>,
    pub function_name: String,
    pub function_version: String,
    pub env_id: String,
    /// The tenant the environment serves (Lambda tenant isolation), from the Telemetry API's
    /// `tenantId`; absent without tenant isolation. Shared, not copied, by an environment's
    /// markers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Arc<str>>,
    /// [`VERSION`] of the coldmark that wrote the marker; empty when read from a line that
    /// predates the field.
    pub coldmark_version: String,
}

/// One per execution environment (and one more per re-init inside an invocation).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InitMarker {
    #[serde(flatten)]
    pub common: Common,
    pub init_type: String,
    pub init_phase: String,
    /// How the init went: Lambda's `status` (`success`, `error`, `failure`, `timeout`);
    /// `success` when Lambda gave none and a request followed; `unknown` when neither tells.
    pub init_status: String,
    /// Lambda's `errorType`, only for an init that did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_error_type: Option<String>,
    pub init_duration_ms: Option<f64>,
    pub proactive: bool,
    pub config_fingerprint: String,
    pub function_memory_size: Option<u64>,
    pub runtime_version: Option<String>,
    pub source: Source,
    pub runtime_init_ms: Option<f64>,
    pub extensions_init_ms: Option<f64>,
    pub coldmark_init_ms: Option<f64>,
    pub extensions: Option<Vec<ExtensionInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_request_id: Option<String>,
    /// `AWS_LAMBDA_MAX_CONCURRENCY` (Lambda Managed Instances), when coldmark can see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u64>,
    #[serde(rename = "_aws", skip_deserializing)]
    pub aws: Emf,
    #[serde(rename = "ColdStart")]
    pub cold_start_metric: u32,
    #[serde(rename = "InitDuration", skip_serializing_if = "Option::is_none")]
    pub init_duration_metric: Option<f64>,
    #[serde(
        rename = "RuntimeInitDuration",
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_init_metric: Option<f64>,
    #[serde(
        rename = "ExtensionsInitDuration",
        skip_serializing_if = "Option::is_none"
    )]
    pub extensions_init_metric: Option<f64>,
    /// 1 on an init that did not succeed, absent otherwise.
    #[serde(rename = "InitError", skip_serializing_if = "Option::is_none")]
    pub init_error_metric: Option<u32>,
}

/// Where the init marker's figures came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Lambda's Telemetry API records.
    Telemetry,
    /// The Extensions API alone (no Telemetry API, or none of its init records arrived); a
    /// reader takes a marker without `source` for one, never for a measured split.
    #[default]
    Extension,
}

/// An extension registered in the environment, from a `platform.extension` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtensionInfo {
    pub name: String,
    pub state: Option<String>,
    pub events: Vec<String>,
}

/// By default one per environment (its first invocation); see `COLDMARK_INVOKE_MARKERS`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InvokeMarker {
    #[serde(flatten)]
    pub common: Common,
    pub function_request_id: String,
    pub cold_start: bool,
    pub seq: u64,
    pub since_init_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billed_duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_used_mb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xray_trace_id: Option<String>,
}

/// The last line of an environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ShutdownMarker {
    #[serde(flatten)]
    pub common: Common,
    pub reason: String,
    pub invocations: u64,
    pub lifetime_ms: Option<f64>,
    pub dropped: u64,
    /// The most invocations in flight at once, counted from `platform.start`/`platform.report`
    /// where those are the only source (registered for SHUTDOWN only, Lambda Managed Instances).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_concurrency: Option<u64>,
}

/// CloudWatch Embedded Metric Format directive: turns the init marker's top-level metric
/// values into CloudWatch metrics without any API call.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Emf {
    #[serde(rename = "Timestamp")]
    pub timestamp: i64,
    #[serde(rename = "CloudWatchMetrics")]
    pub cloudwatch_metrics: Vec<MetricDirective>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricDirective {
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "Dimensions")]
    pub dimensions: Vec<Vec<&'static str>>,
    #[serde(rename = "Metrics")]
    pub metrics: Vec<MetricDefinition>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricDefinition {
    #[serde(rename = "Name")]
    pub name: &'static str,
    #[serde(rename = "Unit")]
    pub unit: &'static str,
}

impl Emf {
    /// The directive for an init marker: `ColdStart` always, each duration only when known
    /// (EMF would otherwise declare a metric without a value).
    pub fn for_init(
        timestamp: DateTime<Utc>,
        namespace: &str,
        init: Option<f64>,
        runtime: Option<f64>,
        extensions: Option<f64>,
    ) -> Emf {
        let mut metrics = vec![MetricDefinition {
            name: "ColdStart",
            unit: "Count",
        }];
        for (name, value) in [
            ("InitDuration", init),
            ("RuntimeInitDuration", runtime),
            ("ExtensionsInitDuration", extensions),
        ] {
            if value.is_some() {
                metrics.push(MetricDefinition {
                    name,
                    unit: "Milliseconds",
                });
            }
        }
        Emf {
            timestamp: timestamp.timestamp_millis(),
            cloudwatch_metrics: vec![MetricDirective {
                namespace: namespace.to_string(),
                dimensions: vec![vec!["function_name"]],
                metrics,
            }],
        }
    }
}

impl Emf {
    /// Adds the `InitError` metric (Count) to the directive: for a failed init only, so that
    /// its sum counts failed inits.
    pub fn with_init_error(mut self) -> Emf {
        for directive in &mut self.cloudwatch_metrics {
            directive.metrics.push(MetricDefinition {
                name: "InitError",
                unit: "Count",
            });
        }
        self
    }
}

/// RFC 3339, UTC, milliseconds, `Z` suffix: "2026-11-25T19:10:18.123Z".
fn rfc3339_ms<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Milliseconds between two instants, rounded to microseconds (the precision Lambda reports).
pub fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let micros = (to - from).num_microseconds().unwrap_or(i64::MAX);
    round_ms(micros as f64 / 1000.0)
}

/// Rounds a millisecond figure to 3 decimals so lines stay short and stable.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn common() -> Common {
        Common {
            schema: SCHEMA,
            timestamp: Utc.timestamp_millis_opt(1_795_000_000_123).unwrap(),
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            env_id: "e1".into(),
            tenant_id: None,
            coldmark_version: VERSION.into(),
        }
    }

    #[test]
    fn init_marker_has_tag_first_nulls_and_emf() {
        let t = common().timestamp;
        let m = Marker::Init(Box::new(InitMarker {
            common: common(),
            init_type: "on-demand".into(),
            init_phase: "init".into(),
            init_status: "success".into(),
            init_error_type: None,
            init_duration_ms: Some(12.5),
            proactive: false,
            config_fingerprint: "abc".into(),
            function_memory_size: Some(128),
            runtime_version: None,
            source: Source::Telemetry,
            runtime_init_ms: None,
            extensions_init_ms: None,
            coldmark_init_ms: Some(1.2),
            extensions: None,
            function_request_id: None,
            max_concurrency: None,
            aws: Emf::for_init(t, "coldmark", Some(12.5), None, None),
            cold_start_metric: 1,
            init_duration_metric: Some(12.5),
            runtime_init_metric: None,
            extensions_init_metric: None,
            init_error_metric: None,
        }));
        let line = m.to_line();
        assert!(line.starts_with(r#"{"coldmark":"init","schema":1,"timestamp":"20"#));
        assert!(
            line.contains(r#"2026-11-18T11:06:40.123Z","function_name":"f""#),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v["runtime_version"].is_null());
        assert!(v["runtime_init_ms"].is_null());
        assert!(v["extensions"].is_null());
        assert!(v.get("function_request_id").is_none());
        assert_eq!(v["ColdStart"], 1);
        assert_eq!(v["InitDuration"], 12.5);
        assert!(v.get("RuntimeInitDuration").is_none());
        let metrics = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Namespace"], "coldmark");
        assert_eq!(
            metrics["Dimensions"],
            serde_json::json!([["function_name"]])
        );
        assert_eq!(metrics["Metrics"].as_array().unwrap().len(), 2);
        assert_eq!(v["_aws"]["Timestamp"], 1_795_000_000_123i64);
    }

    #[test]
    fn tenant_id_is_skipped_without_a_tenant_and_read_back_with_one() {
        let shutdown = |tenant_id: Option<Arc<str>>| {
            Marker::Shutdown(ShutdownMarker {
                common: Common {
                    tenant_id,
                    ..common()
                },
                reason: "spindown".into(),
                ..ShutdownMarker::default()
            })
            .to_line()
        };
        assert!(!shutdown(None).contains("tenant"), "{}", shutdown(None));
        let line = shutdown(Some("BlueTenant".into()));
        assert!(
            line.contains(r#""env_id":"e1","tenant_id":"BlueTenant","coldmark_version""#),
            "{line}"
        );
        let Ok(Marker::Shutdown(read)) = serde_json::from_str(&line) else {
            panic!("{line}");
        };
        assert_eq!(read.common.tenant_id.as_deref(), Some("BlueTenant"));
    }

    #[test]
    fn init_error_is_declared_only_when_added() {
        let t = common().timestamp;
        let names = |emf: &Emf| -> Vec<&str> {
            emf.cloudwatch_metrics[0]
                .metrics
                .iter()
                .map(|m| m.name)
                .collect()
        };
        let plain = Emf::for_init(t, "coldmark", Some(1.0), None, None);
        assert_eq!(names(&plain), ["ColdStart", "InitDuration"]);
        let failed = plain.with_init_error();
        assert_eq!(names(&failed), ["ColdStart", "InitDuration", "InitError"]);
        assert_eq!(failed.cloudwatch_metrics[0].metrics[2].unit, "Count");
    }

    #[test]
    fn markers_read_back_leniently() {
        let shutdown = Marker::Shutdown(ShutdownMarker {
            common: common(),
            reason: "spindown".into(),
            invocations: 3,
            lifetime_ms: Some(10.0),
            dropped: 0,
            peak_concurrency: None,
        });
        let Ok(Marker::Shutdown(read)) = serde_json::from_str(&shutdown.to_line()) else {
            panic!("the written shutdown marker does not read back");
        };
        assert_eq!(read.common.timestamp, common().timestamp);
        assert_eq!((read.reason.as_str(), read.invocations), ("spindown", 3));
        // A line with a few fields: the rest take their defaults.
        let bare = r#"{"coldmark":"init","init_duration_ms":30.0,"runtime_init_ms":null,"coldmark_init_ms":2.0}"#;
        let Ok(Marker::Init(init)) = serde_json::from_str(bare) else {
            panic!("a bare init marker is not read");
        };
        assert_eq!(init.init_duration_ms, Some(30.0));
        assert_eq!(init.runtime_init_ms, None);
        assert_eq!(init.coldmark_init_ms, Some(2.0));
        assert_eq!(init.source, Source::Extension);
        assert!(init.config_fingerprint.is_empty());
    }

    #[test]
    fn invoke_marker_skips_report_fields_until_known() {
        let m = Marker::Invoke(Box::new(InvokeMarker {
            common: common(),
            function_request_id: "r1".into(),
            cold_start: true,
            seq: 1,
            since_init_ms: None,
            duration_ms: None,
            billed_duration_ms: None,
            max_memory_used_mb: None,
            init_duration_ms: None,
            xray_trace_id: None,
        }));
        let v: serde_json::Value = serde_json::from_str(&m.to_line()).unwrap();
        assert_eq!(v["coldmark"], "invoke");
        assert!(v.get("duration_ms").is_none());
        assert!(v.get("xray_trace_id").is_none());
        assert!(v["since_init_ms"].is_null());
    }

    #[test]
    fn ms_between_keeps_microseconds() {
        let a = Utc.timestamp_micros(1_000_000).unwrap();
        let b = Utc.timestamp_micros(1_012_345).unwrap();
        assert_eq!(ms_between(a, b), 12.345);
    }
}
