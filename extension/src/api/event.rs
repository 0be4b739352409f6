//! Events from `/event/next` (INVOKE, SHUTDOWN), read with `lambda_extension::NextEvent` and,
//! where an emulator leaves out a field coldmark does not need, leniently.

use serde::Deserialize;

use super::error::{ApiError, Call};

/// An event from `/event/next`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Invoke {
        request_id: String,
        xray_trace_id: Option<String>,
    },
    Shutdown {
        reason: String,
        /// Epoch milliseconds; 0 when not given.
        deadline_ms: u64,
    },
}

/// Lenient fallback for events `NextEvent` rejects (an emulator leaving out a field coldmark
/// does not need, such as `invokedFunctionArn`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LooseEvent {
    event_type: String,
    request_id: Option<String>,
    shutdown_reason: Option<String>,
    deadline_ms: Option<u64>,
    tracing: Option<LooseTracing>,
}

#[derive(Deserialize)]
struct LooseTracing {
    value: Option<String>,
}

pub(crate) fn parse_event(bytes: &[u8]) -> Result<Event, ApiError> {
    use lambda_extension::NextEvent;
    if let Ok(event) = serde_json::from_slice::<NextEvent>(bytes) {
        return Ok(match event {
            NextEvent::Invoke(i) => Event::Invoke {
                request_id: i.request_id,
                xray_trace_id: Some(i.tracing.value).filter(|v| !v.is_empty()),
            },
            NextEvent::Shutdown(s) => Event::Shutdown {
                reason: s.shutdown_reason,
                deadline_ms: s.deadline_ms,
            },
        });
    }
    let loose: LooseEvent = serde_json::from_slice(bytes).map_err(|_| ApiError::BadAnswer {
        call: Call::Next,
        what: "unreadable event",
    })?;
    match loose.event_type.to_ascii_uppercase().as_str() {
        "INVOKE" => Ok(Event::Invoke {
            request_id: loose.request_id.unwrap_or_default(),
            xray_trace_id: loose
                .tracing
                .and_then(|t| t.value)
                .filter(|v| !v.is_empty()),
        }),
        "SHUTDOWN" => Ok(Event::Shutdown {
            reason: loose.shutdown_reason.unwrap_or_default(),
            deadline_ms: loose.deadline_ms.unwrap_or(0),
        }),
        _ => Err(ApiError::BadAnswer {
            call: Call::Next,
            what: "unknown event type",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lambda_events_and_loose_ones() {
        let invoke = br#"{"eventType":"INVOKE","deadlineMs":1,"requestId":"r1","invokedFunctionArn":"arn","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-a"}}"#;
        assert_eq!(
            parse_event(invoke).unwrap(),
            Event::Invoke {
                request_id: "r1".into(),
                xray_trace_id: Some("Root=1-a".into())
            }
        );
        let loose = br#"{"eventType":"INVOKE","requestId":"r2"}"#;
        assert_eq!(
            parse_event(loose).unwrap(),
            Event::Invoke {
                request_id: "r2".into(),
                xray_trace_id: None
            }
        );
        let shutdown = br#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42}"#;
        assert_eq!(
            parse_event(shutdown).unwrap(),
            Event::Shutdown {
                reason: "spindown".into(),
                deadline_ms: 42
            }
        );
        assert!(parse_event(b"{}").is_err());
    }
}
