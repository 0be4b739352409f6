//! Why a call to Lambda's Extensions or Telemetry API gave nothing coldmark can use, typed so
//! the caller can tell a refusal (ask differently) from silence (nobody there).

use std::fmt;

use hyper::StatusCode;
use serde::Deserialize;

use super::budget::INIT_BUDGET;

/// Which call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Register,
    Subscribe,
    Next,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Call::Register => "register",
            Call::Subscribe => "subscribe",
            Call::Next => "event/next",
        })
    }
}

/// Why a call to Lambda's APIs gave nothing coldmark can use. Never carries a request or answer
/// body: only statuses and Lambda's own `errorType`, cut to 64 printable characters.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// `AWS_LAMBDA_RUNTIME_API` is not set: not running in Lambda.
    NoRuntimeApi,
    /// `AWS_LAMBDA_RUNTIME_API` is set but names no `host:port`.
    BadRuntimeApi,
    /// The request could not be built (an identifier Lambda gave that is no header value).
    InvalidRequest { call: Call },
    /// No connection, or the connection broke before the whole answer came: nobody is there.
    Unreachable {
        call: Call,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Lambda answered, with a status that is not what the call needs.
    Refused {
        call: Call,
        status: StatusCode,
        /// The answer's `errorType` (e.g. `Telemetry.NotSupported`), when it has one.
        error_type: Option<String>,
    },
    /// A successful answer coldmark cannot read.
    BadAnswer { call: Call, what: &'static str },
    /// No answer within coldmark's init budget ([`INIT_BUDGET`]).
    Timeout { call: Call },
}

impl ApiError {
    /// Lambda is there and said no to this request (a 4xx): asking differently may work.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, ApiError::Refused { status, .. } if status.is_client_error())
    }

    /// Nobody answered at all (as opposed to an answer coldmark cannot use).
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(self, ApiError::Unreachable { .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::NoRuntimeApi => f.write_str(
                "AWS_LAMBDA_RUNTIME_API is not set (not running in Lambda; \
                     `coldmark --help` lists the settings)",
            ),
            ApiError::BadRuntimeApi => f.write_str("AWS_LAMBDA_RUNTIME_API is not a host:port"),
            ApiError::InvalidRequest { call } => write!(f, "{call}: cannot build the request"),
            ApiError::Unreachable { call, source } => {
                write!(f, "{call}: connection failed: {source}")
            }
            ApiError::Refused {
                call,
                status,
                error_type,
            } => {
                write!(f, "{call}: answered {status}")?;
                match error_type {
                    Some(t) => write!(f, " {t}"),
                    None => Ok(()),
                }
            }
            ApiError::BadAnswer { call, what } => write!(f, "{call}: {what}"),
            ApiError::Timeout { call } => write!(
                f,
                "{call}: no answer within coldmark's init budget of {} ms for registration and \
                 subscription together",
                INIT_BUDGET.as_millis()
            ),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Unreachable { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Lambda's `errorType` from an error answer, cut to 64 printable characters.
pub(super) fn error_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorAnswer {
        #[serde(rename = "errorType")]
        error_type: Option<String>,
    }
    let answer: ErrorAnswer = serde_json::from_slice(body).ok()?;
    let shown: String = answer
        .error_type?
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    Some(shown).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_4xx_is_a_refusal_and_errors_name_lambdas_error_type() {
        let refused = |code: u16, body: &[u8]| ApiError::Refused {
            call: Call::Register,
            status: StatusCode::from_u16(code).unwrap(),
            error_type: error_type(body),
        };
        let lambda =
            br#"{"errorMessage":"INVOKE: not allowed","errorType":"Extension.InvalidEventType"}"#;
        for code in [400, 403] {
            let e = refused(code, lambda);
            assert!(e.is_refusal(), "{e}");
            assert!(!e.is_unreachable());
            assert_eq!(
                e.to_string(),
                format!(
                    "register: answered {} Extension.InvalidEventType",
                    StatusCode::from_u16(code).unwrap()
                )
            );
            assert!(!e.to_string().contains("not allowed"), "never the message");
        }
        for code in [202, 500, 503] {
            assert!(!refused(code, b"").is_refusal(), "{code}");
        }
        assert_eq!(
            refused(500, b"oops").to_string(),
            "register: answered 500 Internal Server Error"
        );
        let long = format!(r#"{{"errorType":"{}\n"}}"#, "x".repeat(100));
        let shown = refused(400, long.as_bytes()).to_string();
        assert!(shown.ends_with(&"x".repeat(64)), "{shown}");
        let timeout = ApiError::Timeout {
            call: Call::Subscribe,
        };
        assert!(timeout.to_string().contains("init budget of 2000 ms"));
        assert!(!timeout.is_refusal());
    }
}
