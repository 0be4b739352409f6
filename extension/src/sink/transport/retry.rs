//! What to do after an attempt: the retry policy, kept free of I/O so it is unit-tested.
//!
//! - 2xx: delivered.
//! - 429, connection errors, timeouts, and the server errors the sink's [`RetryOn`] names (any
//!   5xx for the HTTP sink; 502, 503, 504 for OTLP, as its specification says): transient;
//!   retried with exponential backoff (jittered, so many environments recovering from one
//!   collector outage do not retry in step). A `Retry-After` (seconds) is honoured as a lower
//!   bound on the wait.
//! - any other status (4xx, 3xx — redirects are never followed —, 1xx, and for OTLP 500 or
//!   501): the collector refused this batch and will refuse it again; not retried, the records
//!   are counted as dropped.
//! - no retry whose wait would end past the flush deadline: at SHUTDOWN the remaining records
//!   are counted as dropped instead of holding the environment past its deadline.

use std::time::Duration;

use reqwest::StatusCode;

/// Longest wait between two attempts, `Retry-After` included: a collector asking for more is
/// treated as down for this batch (its records are counted as dropped).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(5);

/// The result of one attempt, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    Status(StatusCode, Option<Duration>),
    /// Connection refused/reset, DNS failure, timeout, broken body.
    Transport,
}

/// Which server errors are worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryOn {
    /// Any 5xx (the HTTP sink: a collector that failed may succeed next time).
    ServerErrors,
    /// 502, 503 and 504 only: the statuses the OTLP specification calls retryable (with 429).
    OtlpRetryable,
}

impl RetryOn {
    fn retries(self, status: StatusCode) -> bool {
        match self {
            RetryOn::ServerErrors => status.is_server_error(),
            RetryOn::OtlpRetryable => matches!(status.as_u16(), 502..=504),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    /// Not retried: counted as dropped.
    Rejected,
    /// Transient: may be retried after at least this long.
    Transient(Duration),
}

/// Classifies attempt number `attempt` (1-based); `backoff` is the first retry's wait. A
/// `Retry-After` is honoured on 429 and on any retried server error (OTLP's 503 carries one).
pub(crate) fn judge(
    outcome: Attempt,
    attempt: u32,
    backoff: Duration,
    jitter: f64,
    retry_on: RetryOn,
) -> Verdict {
    let base = backoff_for(attempt, backoff, jitter);
    match outcome {
        Attempt::Status(status, _) if status.is_success() => Verdict::Delivered,
        Attempt::Status(status, retry_after)
            if status == StatusCode::TOO_MANY_REQUESTS || retry_on.retries(status) =>
        {
            Verdict::Transient(retry_after.map_or(base, |after| after.max(base)))
        }
        Attempt::Status(_, _) => Verdict::Rejected,
        Attempt::Transport => Verdict::Transient(base),
    }
}

/// `backoff * 2^(attempt-1)`, scaled by `jitter` in [0.5, 1.0], capped at [`MAX_WAIT`].
pub(crate) fn backoff_for(attempt: u32, backoff: Duration, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    let wait = backoff.saturating_mul(1u32 << exp);
    wait.mul_f64(jitter.clamp(0.5, 1.0)).min(MAX_WAIT)
}

/// `Retry-After: <seconds>`; the HTTP-date form is ignored (the backoff applies instead).
pub(crate) fn parse_retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let secs = value?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs))
}

/// A factor in [0.5, 1.0] that differs between processes and calls; no RNG dependency needed
/// for spreading retries.
pub(crate) fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    0.5 + (hasher.finish() % 1_000) as f64 / 2_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Duration = Duration::from_millis(100);

    /// The HTTP sink's policy.
    fn judge(outcome: Attempt, attempt: u32, backoff: Duration, jitter: f64) -> Verdict {
        super::judge(outcome, attempt, backoff, jitter, RetryOn::ServerErrors)
    }

    #[test]
    fn otlp_retries_only_what_its_specification_calls_retryable() {
        let otlp = |code: u16| {
            let status = StatusCode::from_u16(code).unwrap();
            super::judge(
                Attempt::Status(status, Some(Duration::from_secs(1))),
                1,
                B,
                1.0,
                RetryOn::OtlpRetryable,
            )
        };
        for code in [429, 502, 503, 504] {
            assert_eq!(
                otlp(code),
                Verdict::Transient(Duration::from_secs(1)),
                "{code}"
            );
        }
        for code in [400, 401, 404, 413, 500, 501, 505] {
            assert_eq!(otlp(code), Verdict::Rejected, "{code}");
        }
        assert_eq!(otlp(200), Verdict::Delivered);
    }

    #[test]
    fn success_is_delivered() {
        for code in [200, 201, 204] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                judge(Attempt::Status(status, None), 1, B, 1.0),
                Verdict::Delivered
            );
        }
    }

    #[test]
    fn client_errors_other_than_429_are_not_retried() {
        for code in [400, 401, 403, 404, 408, 413, 422] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                judge(Attempt::Status(status, None), 1, B, 1.0),
                Verdict::Rejected,
                "{code}"
            );
        }
    }

    #[test]
    fn server_errors_and_transport_back_off_exponentially() {
        let e500 = Attempt::Status(StatusCode::INTERNAL_SERVER_ERROR, None);
        assert_eq!(judge(e500, 1, B, 1.0), Verdict::Transient(B));
        assert_eq!(judge(e500, 2, B, 1.0), Verdict::Transient(B * 2));
        assert_eq!(
            judge(Attempt::Transport, 3, B, 1.0),
            Verdict::Transient(B * 4)
        );
        assert_eq!(
            judge(Attempt::Transport, 30, B, 1.0),
            Verdict::Transient(MAX_WAIT)
        );
        assert_eq!(judge(e500, 1, B, 0.5), Verdict::Transient(B / 2));
    }

    #[test]
    fn retry_after_is_a_lower_bound() {
        let status = StatusCode::TOO_MANY_REQUESTS;
        let after = Some(Duration::from_secs(2));
        assert_eq!(
            judge(Attempt::Status(status, after), 1, B, 1.0),
            Verdict::Transient(Duration::from_secs(2))
        );
        assert_eq!(
            judge(Attempt::Status(status, None), 1, B, 1.0),
            Verdict::Transient(B)
        );
    }

    #[test]
    fn retry_after_parsing() {
        use reqwest::header::HeaderValue;
        assert_eq!(
            parse_retry_after(Some(&HeaderValue::from_static(" 3 "))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after(Some(&HeaderValue::from_static(
                "Wed, 21 Oct 2015 07:28:00 GMT"
            ))),
            None
        );
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.5..=1.0).contains(&j));
        }
    }
}
