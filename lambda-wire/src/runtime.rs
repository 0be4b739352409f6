//! The Runtime API (`/2018-06-01/runtime/...`): paths and the headers of the next invocation.

pub const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// `/2018-06-01/runtime/invocation/{id}/response`.
pub fn response_path(request_id: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{request_id}/response")
}

/// `/2018-06-01/runtime/invocation/{id}/error`.
pub fn error_path(request_id: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{request_id}/error")
}

pub const REQUEST_ID: &str = "Lambda-Runtime-Aws-Request-Id";
/// Milliseconds since the Unix epoch.
pub const DEADLINE_MS: &str = "Lambda-Runtime-Deadline-Ms";
pub const INVOKED_FUNCTION_ARN: &str = "Lambda-Runtime-Invoked-Function-Arn";
pub const TRACE_ID: &str = "Lambda-Runtime-Trace-Id";
pub const CLIENT_CONTEXT: &str = "Lambda-Runtime-Client-Context";
pub const COGNITO_IDENTITY: &str = "Lambda-Runtime-Cognito-Identity";
/// The invocation's tenant, on a function with tenant isolation only (the runtime's
/// `context.tenant_id`).
pub const TENANT_ID: &str = "Lambda-Runtime-Aws-Tenant-Id";
/// On an error report: the error's type, e.g. `Runtime.ExitError`.
pub const FUNCTION_ERROR_TYPE: &str = "Lambda-Runtime-Function-Error-Type";

/// The body of Lambda's 202 answer to a posted response or error: `{"status":"OK"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusResponse {
    pub status: String,
}

impl StatusResponse {
    pub fn ok() -> Self {
        StatusResponse {
            status: "OK".into(),
        }
    }
}

/// The headers of an answer to `GET /invocation/next` (its body is the event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvocationHeaders {
    pub request_id: String,
    pub deadline_ms: i64,
    pub invoked_function_arn: String,
    pub trace_id: Option<String>,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
}

impl InvocationHeaders {
    /// (name, value) pairs to put on the answer, in the order Lambda sends them.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (REQUEST_ID, self.request_id.clone()),
            (DEADLINE_MS, self.deadline_ms.to_string()),
            (INVOKED_FUNCTION_ARN, self.invoked_function_arn.clone()),
        ];
        let optional = [
            (TRACE_ID, &self.trace_id),
            (CLIENT_CONTEXT, &self.client_context),
            (COGNITO_IDENTITY, &self.cognito_identity),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                out.push((name, v.clone()));
            }
        }
        out
    }

    /// Reads the headers back through `get` (a case-insensitive lookup by name); `None` when a
    /// required one is missing or the deadline is not a number.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        Some(InvocationHeaders {
            request_id: get(REQUEST_ID)?,
            deadline_ms: get(DEADLINE_MS)?.trim().parse().ok()?,
            invoked_function_arn: get(INVOKED_FUNCTION_ARN)?,
            trace_id: get(TRACE_ID),
            client_context: get(CLIENT_CONTEXT),
            cognito_identity: get(COGNITO_IDENTITY),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_pairs() {
        let h = InvocationHeaders {
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
            deadline_ms: 1_542_409_706_888,
            invoked_function_arn: "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime"
                .into(),
            trace_id: Some(
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into(),
            ),
            client_context: None,
            cognito_identity: None,
        };
        let pairs = h.pairs();
        assert_eq!(pairs[0].0, "Lambda-Runtime-Aws-Request-Id");
        assert_eq!(
            pairs[1],
            ("Lambda-Runtime-Deadline-Ms", "1542409706888".into())
        );
        assert_eq!(pairs.len(), 4);
        let back = InvocationHeaders::parse(|name| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        });
        assert_eq!(back, Some(h));
    }

    #[test]
    fn a_missing_deadline_is_no_invocation() {
        assert_eq!(
            InvocationHeaders::parse(|name| (name == REQUEST_ID).then(|| "id".to_string())),
            None
        );
    }

    #[test]
    fn status_response_is_status_ok() {
        assert_eq!(
            serde_json::to_value(StatusResponse::ok()).unwrap(),
            serde_json::json!({"status": "OK"})
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            response_path("abc"),
            "/2018-06-01/runtime/invocation/abc/response"
        );
        assert_eq!(
            error_path("abc"),
            "/2018-06-01/runtime/invocation/abc/error"
        );
    }
}
