//! The sandbox's own account of its environments' lives, as printed records: why each one was
//! started (`environment_start`) and how each one ended or was reset (`environment_stop`). This is
//! the ground truth a cause attribution built from coldmark's markers is checked against, so it
//! is printed next to the markers (`--json`) with the same `env_id` (the Telemetry API's
//! `instanceId`) and `function_version`.

use serde::{Deserialize, Serialize};

use lambda_emulator::control_plane::start_reason::StartReason;
use lambda_emulator::control_plane::ControlPlaneEvent;

use crate::output::{short, Record};

/// `{"type":"environment_start", ...}`: one per environment the sandbox started, and one per
/// re-init of an environment after a crash or timeout (`after-failure`, same `env_id`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EnvironmentStartRecord {
    /// When init began (RFC 3339, milliseconds, UTC).
    pub timestamp: String,
    pub function_name: String,
    /// `$LATEST` or the published version's number.
    pub function_version: String,
    pub env_id: String,
    /// In the vocabulary of the cause attribution: `first-seen`, `scale-out`, `replacement`,
    /// `configuration-change`, `new-version`, `after-failure`.
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
    /// For a reset: the request that crashed or timed out.
    pub request_id: Option<String>,
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
            }),
            _ => None,
        }
    }
}

impl Record for EnvironmentStartRecord {
    const TYPE: &'static str = "environment_start";

    fn text(&self) -> String {
        format!(
            "     [environment start] {} version {}: {} ({}; started in {:.1} ms, spawn to ready)",
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
            ControlPlaneEvent::EnvironmentStopped { env_id, reason, .. } => Some(Self {
                timestamp: now(),
                env_id: env_id.clone(),
                reason: reason.as_str().to_owned(),
                reset: false,
                request_id: None,
            }),
            ControlPlaneEvent::EnvironmentReset {
                env_id,
                reason,
                request_id,
            } => Some(Self {
                timestamp: now(),
                env_id: env_id.clone(),
                reason: reason.as_str().to_owned(),
                reset: true,
                request_id: Some(request_id.clone()),
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
                "     [environment stop] {}: {}",
                short(&self.env_id),
                self.reason
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
        let back: EnvironmentStartRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
        assert!(record.text().contains("0f6ed9b4 version 1: new-version"));
    }

    #[test]
    fn resets_and_spindowns_are_stop_events() {
        let reset = EnvironmentStopRecord::from_event(&ControlPlaneEvent::EnvironmentReset {
            env_id: "e".into(),
            reason: ShutdownReason::Timeout,
            request_id: "r".into(),
        })
        .unwrap();
        assert!(reset.reset);
        assert_eq!(reset.reason, "timeout");
        let gone = EnvironmentStopRecord::from_event(&ControlPlaneEvent::EnvironmentStopped {
            env_id: "e".into(),
            reason: ShutdownReason::Spindown,
            killed: Vec::new(),
        })
        .unwrap();
        assert!(!gone.reset);
        assert_eq!(gone.reason, "spindown");
        let json = serde_json::to_value(tagged(&gone)).unwrap();
        assert_eq!(json["type"], "environment_stop");
        assert!(
            EnvironmentStopRecord::from_event(&ControlPlaneEvent::ConfigurationUpdated {
                revision: 2
            })
            .is_none()
        );
    }
}
