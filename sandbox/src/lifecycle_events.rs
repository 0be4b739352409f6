//! The sandbox's own account of its environments' lives, as printed records: why each one was
//! started (`environment_start`) and how each one ended or was reset (`environment_stop`). This is
//! the ground truth a cause attribution built from coldmark's markers is checked against, so it
//! is printed next to the markers (`--json`) with the same `env_id` (the Telemetry API's
//! `instanceId`) and `function_version`.

use serde::{Deserialize, Serialize};

use lambda_emulator::control_plane::start_reason::StartReason;
use lambda_emulator::control_plane::ControlPlaneEvent;

use crate::output::{short, Record};

/// `{"type":"environment_start", ...}`: one per environment the sandbox started (its init
/// succeeded or not), and one per re-init of an environment after a crash, a timeout or a
/// failed init (`after-failure`, same `env_id`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EnvironmentStartRecord {
    /// When init began (RFC 3339, milliseconds, UTC).
    pub timestamp: String,
    pub function_name: String,
    /// `$LATEST` or the published version's number.
    pub function_version: String,
    pub env_id: String,
    /// In the vocabulary of the cause attribution: `first-seen`, `new-tenant`, `scale-out`,
    /// `replacement`, `configuration-change`, `new-version`, `after-failure` (and `provisioned`,
    /// `snap-start` in those modes of `serve`).
    pub reason: StartReason,
    /// The evidence, in words.
    pub detail: String,
    /// The request that waited for this init.
    pub request_id: String,
    /// How long the start took, timed by the sandbox from outside: from spawning the processes
    /// to the end of init (for an init re-run inside an invocation, that init's own duration).
    /// It includes process creation, so it is longer than the `init_duration_ms` the Telemetry
    /// API's records give coldmark (initStart → initReport).
    pub init_ms: f64,
    /// Tenant isolation: the tenant the environment is dedicated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// How this init ended, as `platform.initReport`'s `status` says: `success`, `error` or
    /// `timeout` (a failed init is retried inside the request: the next start of the same
    /// `env_id`, `after-failure`).
    pub init_status: String,
    /// `platform.initReport`'s `errorType`, when the init did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_error_type: Option<String>,
}

/// `{"type":"environment_stop", ...}`: an environment's processes were shut down.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EnvironmentStopRecord {
    pub timestamp: String,
    pub env_id: String,
    /// The Extensions API's `shutdownReason`: `spindown`, `failure` or `timeout`.
    pub reason: String,
    /// True when the environment stays and runs init again on its next request (a crash or a
    /// timeout); false when it is gone for good (spun down).
    pub reset: bool,
    /// For a reset: the request that crashed or timed out (or waited for the init that failed).
    pub request_id: Option<String>,
    /// Tenant isolation: the tenant the environment was dedicated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Invocations the environment completed (for a reset: so far). 0 when it is gone for good:
    /// an init nobody used.
    pub invocations: u64,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl EnvironmentStartRecord {
    pub fn from_event(event: &ControlPlaneEvent) -> Option<Self> {
        match event {
            ControlPlaneEvent::EnvironmentStarted {
                env_id,
                start_ms,
                function_name,
                version,
                started_at,
                reason,
                detail,
                request_id,
                tenant_id,
                init_status,
                init_error_type,
                ..
            } => Some(Self {
                timestamp: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                function_name: function_name.clone(),
                function_version: version.clone(),
                env_id: env_id.clone(),
                reason: *reason,
                detail: detail.clone(),
                request_id: request_id.clone(),
                init_ms: (start_ms * 1000.0).round() / 1000.0,
                tenant_id: tenant_id.clone(),
                init_status: init_status.clone(),
                init_error_type: init_error_type.clone(),
            }),
            _ => None,
        }
    }
}

impl Record for EnvironmentStartRecord {
    const TYPE: &'static str = "environment_start";

    fn text(&self) -> String {
        let tenant = self
            .tenant_id
            .as_ref()
            .map(|t| format!(" tenant {t}"))
            .unwrap_or_default();
        let failed = match &self.init_error_type {
            Some(error) => format!("; init {} ({error})", self.init_status),
            None if self.init_status != "success" => format!("; init {}", self.init_status),
            None => String::new(),
        };
        format!(
            "     [environment start] {} version {}{tenant}: {} ({}; started in {:.1} ms, spawn to ready{failed})",
            short(&self.env_id),
            self.function_version,
            self.reason,
            self.detail,
            self.init_ms
        )
    }
}

impl EnvironmentStopRecord {
    pub fn from_event(event: &ControlPlaneEvent) -> Option<Self> {
        match event {
            ControlPlaneEvent::EnvironmentStopped {
                env_id,
                reason,
                tenant_id,
                invocations,
                ..
            } => Some(Self {
                timestamp: now(),
                env_id: env_id.clone(),
                reason: reason.as_str().to_owned(),
                reset: false,
                request_id: None,
                tenant_id: tenant_id.clone(),
                invocations: *invocations,
            }),
            ControlPlaneEvent::EnvironmentReset {
                env_id,
                reason,
                request_id,
                tenant_id,
                invocations,
            } => Some(Self {
                timestamp: now(),
                env_id: env_id.clone(),
                reason: reason.as_str().to_owned(),
                reset: true,
                request_id: Some(request_id.clone()),
                tenant_id: tenant_id.clone(),
                invocations: *invocations,
            }),
            _ => None,
        }
    }
}

impl Record for EnvironmentStopRecord {
    const TYPE: &'static str = "environment_stop";

    fn text(&self) -> String {
        if self.reset {
            format!(
                "     [environment reset] {}: {} (its processes were shut down: init runs again on its next request, or on Managed Instances another environment takes over)",
                short(&self.env_id),
                self.reason
            )
        } else {
            format!(
                "     [environment stop] {}: {} after {} invocation(s){}",
                short(&self.env_id),
                self.reason,
                self.invocations,
                if self.invocations == 0 {
                    " (an init nobody used)"
                } else {
                    ""
                }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tagged;
    use lambda_emulator::environment::ShutdownReason;

    #[test]
    fn a_start_event_prints_as_one_typed_json_line() {
        let event = ControlPlaneEvent::EnvironmentStarted {
            env_id: "0f6ed9b4-e935-4de3-92e9-c9814bec9f63".into(),
            revision: 2,
            start_ms: 12.34567,
            function_name: "clock".into(),
            version: "1".into(),
            started_at: chrono::DateTime::parse_from_rfc3339("2026-11-30T18:32:43.465Z")
                .unwrap()
                .into(),
            reason: StartReason::NewVersion,
            detail: "the first environment of version 1".into(),
            request_id: "r-1".into(),
            tenant_id: None,
            init_status: "success".into(),
            init_error_type: None,
        };
        let record = EnvironmentStartRecord::from_event(&event).unwrap();
        let json = serde_json::to_value(tagged(&record)).unwrap();
        assert_eq!(json["type"], "environment_start");
        assert_eq!(json["timestamp"], "2026-11-30T18:32:43.465Z");
        assert_eq!(json["env_id"], "0f6ed9b4-e935-4de3-92e9-c9814bec9f63");
        assert_eq!(json["function_version"], "1");
        assert_eq!(json["reason"], "new-version");
        assert_eq!(json["request_id"], "r-1");
        assert_eq!(json["init_ms"], 12.346);
        assert_eq!(json["init_status"], "success");
        assert!(
            json.get("init_error_type").is_none(),
            "only on a failed init"
        );
        assert!(
            json.get("tenant_id").is_none(),
            "only with tenant isolation"
        );
        let back: EnvironmentStartRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
        assert!(record.text().contains("0f6ed9b4 version 1: new-version"));
    }

    #[test]
    fn a_failed_init_of_a_tenant_says_so() {
        let event = ControlPlaneEvent::EnvironmentStarted {
            env_id: "0f6ed9b4-e935-4de3-92e9-c9814bec9f63".into(),
            revision: 1,
            start_ms: 5.0,
            function_name: "clock-tenants".into(),
            version: "$LATEST".into(),
            started_at: chrono::Utc::now(),
            reason: StartReason::NewTenant,
            detail: "the first environment of tenant blue".into(),
            request_id: "r-1".into(),
            tenant_id: Some("blue".into()),
            init_status: "error".into(),
            init_error_type: Some("Runtime.InitError".into()),
        };
        let record = EnvironmentStartRecord::from_event(&event).unwrap();
        let json = serde_json::to_value(tagged(&record)).unwrap();
        assert_eq!(json["reason"], "new-tenant");
        assert_eq!(json["tenant_id"], "blue");
        assert_eq!(json["init_status"], "error");
        assert_eq!(json["init_error_type"], "Runtime.InitError");
        let text = record.text();
        assert!(
            text.contains("tenant blue: new-tenant")
                && text.contains("init error (Runtime.InitError)"),
            "{text}"
        );
    }

    #[test]
    fn resets_and_spindowns_are_stop_events() {
        let reset = EnvironmentStopRecord::from_event(&ControlPlaneEvent::EnvironmentReset {
            env_id: "e".into(),
            reason: ShutdownReason::Timeout,
            request_id: "r".into(),
            tenant_id: Some("blue".into()),
            invocations: 3,
        })
        .unwrap();
        assert!(reset.reset);
        assert_eq!(reset.reason, "timeout");
        assert_eq!(reset.tenant_id.as_deref(), Some("blue"));
        assert_eq!(reset.invocations, 3);
        let gone = EnvironmentStopRecord::from_event(&ControlPlaneEvent::EnvironmentStopped {
            env_id: "e".into(),
            reason: ShutdownReason::Spindown,
            killed: Vec::new(),
            tenant_id: None,
            invocations: 0,
        })
        .unwrap();
        assert!(!gone.reset);
        assert_eq!(gone.reason, "spindown");
        assert!(
            gone.text().contains("an init nobody used"),
            "{}",
            gone.text()
        );
        let json = serde_json::to_value(tagged(&gone)).unwrap();
        assert_eq!(json["type"], "environment_stop");
        assert_eq!(json["invocations"], 0);
        assert!(json.get("tenant_id").is_none());
        assert!(
            EnvironmentStopRecord::from_event(&ControlPlaneEvent::ConfigurationUpdated {
                revision: 2
            })
            .is_none()
        );
    }
}
