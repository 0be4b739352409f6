//! An invocation as the control plane's callers see it: who calls ([`Caller`], with the tenant
//! on a function with tenant isolation), the answer ([`Invocation`]) and why there is none
//! ([`InvokeError`]).

use super::pool::Refusal;
use super::tenancy::TenancyError;
use crate::environment::{CognitoIdentity, InvokeResponse, LogLine};

/// Who is calling, when the invoke says so (the Invoke API's `X-Amz-Client-Context`).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The client context, decoded from base64: JSON text.
    pub client_context: Option<String>,
    pub cognito_identity: Option<CognitoIdentity>,
    /// The invoke's tenant (`X-Amz-Tenant-Id`): required on a function with tenant isolation,
    /// refused on any other.
    pub tenant_id: Option<String>,
}

/// One answered invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub env_id: String,
    /// The environment was started for this request.
    pub cold_start: bool,
    /// How long the request waited for an environment, in ms: its init on a cold start, a
    /// slot on Managed Instances (`None`: served at once).
    pub waited_ms: Option<f64>,
    pub response: InvokeResponse,
    /// The invocation's log lines, when asked for (`LogType: Tail`).
    pub log: Vec<LogLine>,
}

/// Why an invocation got no answer from the function.
#[derive(Debug)]
pub enum InvokeError {
    /// Every allowed environment is busy (Lambda: 429 `TooManyRequestsException`).
    TooManyRequests { limit: usize },
    /// The init that request `request_id` waited for failed: a new environment that could not
    /// be set up, or an init retried inside the invocation that failed again (Lambda answers
    /// `Runtime.InitError` then).
    InitFailed {
        request_id: String,
        error: anyhow::Error,
    },
    /// The environment failed while invoking (not a function error: those are responses).
    Environment(anyhow::Error),
    /// The sandbox is shutting down.
    Closed,
    /// The qualifier names no version of the function.
    UnknownVersion(String),
    /// The invoke's tenant does not fit the function's tenant isolation (Lambda: 400
    /// `InvalidParameterValueException`).
    Tenancy(TenancyError),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::TooManyRequests { limit } => {
                write!(f, "rate exceeded: all {limit} environments are busy")
            }
            InvokeError::InitFailed { error, .. } => write!(f, "init failed: {error:#}"),
            InvokeError::Environment(e) => write!(f, "environment failed: {e:#}"),
            InvokeError::Closed => write!(f, "the sandbox is shutting down"),
            InvokeError::UnknownVersion(q) => write!(f, "no version `{q}` of the function"),
            InvokeError::Tenancy(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InvokeError {}

impl From<Refusal> for InvokeError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Closed => InvokeError::Closed,
            Refusal::UnknownVersion(q) => InvokeError::UnknownVersion(q),
            Refusal::TooManyRequests { limit } => InvokeError::TooManyRequests { limit },
        }
    }
}
