//! The Extensions API (`/2020-01-01/extension/...`): registration and the `/event/next` events.

use serde::{Deserialize, Serialize};

pub const REGISTER_PATH: &str = "/2020-01-01/extension/register";
pub const EVENT_NEXT_PATH: &str = "/2020-01-01/extension/event/next";
pub const INIT_ERROR_PATH: &str = "/2020-01-01/extension/init/error";
pub const EXIT_ERROR_PATH: &str = "/2020-01-01/extension/exit/error";

/// Request header: the extension's name (its file name under `/opt/extensions`).
pub const NAME_HEADER: &str = "Lambda-Extension-Name";
/// Response header of registration; every later call carries it back.
pub const IDENTIFIER_HEADER: &str = "Lambda-Extension-Identifier";
/// Request header of registration: extra fields to include in the answer (`accountId`).
pub const ACCEPT_FEATURE_HEADER: &str = "Lambda-Extension-Accept-Feature";
/// Response header of `/event/next`: names the event handed out.
pub const EVENT_IDENTIFIER_HEADER: &str = "Lambda-Extension-Event-Identifier";
/// Request header of the error endpoints: the error's type, e.g. `Extension.Crash`.
pub const FUNCTION_ERROR_TYPE_HEADER: &str = "Lambda-Extension-Function-Error-Type";

/// The events an extension can register for.
pub const INVOKE: &str = "INVOKE";
pub const SHUTDOWN: &str = "SHUTDOWN";

/// Body of `POST /register`. A body without `events` registers for none (as AWS's emulator
/// reads it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    #[serde(default)]
    pub events: Vec<String>,
}

/// Body of the answer to `POST /register`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub function_name: String,
    pub function_version: String,
    pub handler: String,
    /// Only when asked for with `Lambda-Extension-Accept-Feature: accountId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// The body of an answer to `GET /event/next`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "eventType", rename_all = "UPPERCASE")]
pub enum NextEvent {
    Invoke(Invoke),
    Shutdown(Shutdown),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoke {
    /// When the invocation times out, in milliseconds since the Unix epoch.
    pub deadline_ms: i64,
    pub request_id: String,
    pub invoked_function_arn: String,
    pub tracing: Tracing,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracing {
    /// Always `X-Amzn-Trace-Id`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Tracing {
    pub fn x_ray(value: impl Into<String>) -> Self {
        Tracing {
            kind: "X-Amzn-Trace-Id".into(),
            value: value.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shutdown {
    /// `spindown`, `timeout` or `failure`.
    pub shutdown_reason: String,
    /// When the extension must have exited, in milliseconds since the Unix epoch.
    pub deadline_ms: i64,
}

/// The body of an Extensions or Telemetry API error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub error_message: String,
    pub error_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn round_trip<T>(value: &T, documented: Value)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        assert_eq!(serde_json::to_value(value).unwrap(), documented);
        let back: T = serde_json::from_value(documented).unwrap();
        assert_eq!(&back, value);
    }

    #[test]
    fn invoke_event_has_the_documented_fields() {
        round_trip(
            &NextEvent::Invoke(Invoke {
                deadline_ms: 1_676_051_208_672,
                request_id: "3da1f2dc-3222-475e-9205-e2e6c6318895".into(),
                invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
                tracing: Tracing::x_ray("Root=1-5f35ae12-0c0fec141ab77a00bc047aa2"),
            }),
            json!({
                "eventType": "INVOKE",
                "deadlineMs": 1_676_051_208_672_i64,
                "requestId": "3da1f2dc-3222-475e-9205-e2e6c6318895",
                "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-5f35ae12-0c0fec141ab77a00bc047aa2"}
            }),
        );
    }

    #[test]
    fn shutdown_event_has_the_documented_fields() {
        round_trip(
            &NextEvent::Shutdown(Shutdown {
                shutdown_reason: "spindown".into(),
                deadline_ms: 1_676_051_208_672,
            }),
            json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 1_676_051_208_672_i64}),
        );
    }

    #[test]
    fn registration_bodies_have_the_documented_fields() {
        round_trip(
            &RegisterRequest {
                events: vec![INVOKE.into(), SHUTDOWN.into()],
            },
            json!({"events": ["INVOKE", "SHUTDOWN"]}),
        );
        round_trip(
            &RegisterResponse {
                function_name: "helloWorld".into(),
                function_version: "$LATEST".into(),
                handler: "lambda_function.lambda_handler".into(),
                account_id: None,
            },
            json!({"functionName": "helloWorld", "functionVersion": "$LATEST", "handler": "lambda_function.lambda_handler"}),
        );
        let with_account: RegisterResponse = serde_json::from_value(json!({
            "functionName": "f", "functionVersion": "1", "handler": "h", "accountId": "123456789012"
        }))
        .unwrap();
        assert_eq!(with_account.account_id.as_deref(), Some("123456789012"));
        let bare: RegisterRequest = serde_json::from_value(json!({})).unwrap();
        assert!(bare.events.is_empty());
    }

    #[test]
    fn error_body_has_the_documented_fields() {
        round_trip(
            &ErrorResponse {
                error_message: "Telemetry API is not supported".into(),
                error_type: "Telemetry.NotSupported".into(),
            },
            json!({"errorMessage": "Telemetry API is not supported", "errorType": "Telemetry.NotSupported"}),
        );
    }
}
