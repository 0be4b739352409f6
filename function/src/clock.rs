//! What the clock function answers: the typed response and body records, and the timestamp
//! format of the original experiment (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The original experiment's timestamp format (Python's `datetime.utcnow()` printed with
/// `%Y-%m-%d %H:%M:%S.%f`), kept so its logs and ours compare line by line.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// Formats a UTC instant the way the original experiment did.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.format(TIMESTAMP_FORMAT).to_string()
}

/// The JSON document carried (as a string) in the response's `body`.
///
/// `time_out_of_handler` changes only when a new execution environment runs the init code, so a
/// client that sees it change has seen a cold start; `invocation_count` says how many requests
/// this environment has served, counting this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub time_out_of_handler: String,
    pub time_in_handler: String,
    /// `USER` as the init code read it; `null` when unset.
    pub env_user: Option<String>,
    pub invocation_count: u64,
    /// Tenant isolation: the tenant this invocation (and this environment) serves; absent on
    /// a function without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// The response shape that Function URLs and API Gateway (payload 1.0 and 2.0) turn into an HTTP
/// response; a direct invoke returns it as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    /// The serialised [`Body`]: proxy integrations expect a string here, not an object.
    pub body: String,
}

impl Response {
    /// A 200 JSON response carrying `body`.
    pub fn ok(body: &Body) -> Result<Self, serde_json::Error> {
        let headers = BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]);
        Ok(Self {
            status_code: 200,
            headers,
            body: serde_json::to_string(body)?,
        })
    }
}

/// The one log line per call: the three values of the original experiment.
pub fn log_line(body: &Body) -> String {
    format!(
        "time_out_of_handler: {} | time_in_handler: {} | env_user: {}",
        body.time_out_of_handler,
        body.time_in_handler,
        body.env_user.as_deref().unwrap_or("<unset>")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn example() -> Body {
        Body {
            time_out_of_handler: "2026-11-25 19:10:18.123456".into(),
            time_in_handler: "2026-11-25 19:10:18.200001".into(),
            env_user: Some("user".into()),
            invocation_count: 1,
            tenant_id: None,
        }
    }

    #[test]
    fn timestamps_have_microseconds_and_no_zone() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 19, 10, 18).unwrap()
            + chrono::Duration::microseconds(42);
        assert_eq!(format_timestamp(at), "2026-11-25 19:10:18.000042");
    }

    #[test]
    fn response_has_the_original_shape() {
        let response = Response::ok(&example()).unwrap();
        let json: serde_json::Value = serde_json::to_value(&response).unwrap();
        assert_eq!(json["statusCode"], 200);
        assert_eq!(json["headers"]["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_str(json["body"].as_str().unwrap()).unwrap();
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "env_user",
                "invocation_count",
                "time_in_handler",
                "time_out_of_handler"
            ]
        );
        assert_eq!(body["env_user"], "user");
        assert_eq!(body["invocation_count"], 1);
    }

    #[test]
    fn the_tenant_is_there_only_with_tenant_isolation() {
        let tenant = Body {
            tenant_id: Some("blue".into()),
            ..example()
        };
        let json = serde_json::to_value(&tenant).unwrap();
        assert_eq!(json["tenant_id"], "blue");
        let json = serde_json::to_value(example()).unwrap();
        assert!(json.get("tenant_id").is_none(), "{json}");
    }

    #[test]
    fn unset_user_is_null() {
        let body = Body {
            env_user: None,
            ..example()
        };
        let json: serde_json::Value = serde_json::to_value(&body).unwrap();
        assert!(json["env_user"].is_null());
        assert!(log_line(&body).ends_with("env_user: <unset>"));
    }

    #[test]
    fn log_line_names_the_three_values() {
        assert_eq!(
            log_line(&example()),
            "time_out_of_handler: 2026-11-25 19:10:18.123456 | \
             time_in_handler: 2026-11-25 19:10:18.200001 | env_user: user"
        );
    }
}
