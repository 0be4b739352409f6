//! A sink's background sender: takes batches off the queue and delivers each, with the retries
//! [`super::retry`] allows and within any flush deadline.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use tokio::time::Instant;

use super::encoder::{Answer, Body, Encoder, Target};
use super::queue::{Outcome, Shared};
use super::retry::{self, Attempt, Verdict};

/// The background task: on each wake-up, sends batches until the queue is empty.
pub(super) async fn sender<E: Encoder>(
    shared: Arc<Shared<E::Item>>,
    client: reqwest::Client,
    target: Target,
    encoder: E,
) {
    loop {
        shared.wake.notified().await;
        loop {
            let batch = shared.take_batch();
            if batch.is_empty() {
                break;
            }
            let outcome = deliver(&shared, &client, &target, &encoder, &batch).await;
            shared.settle(outcome);
        }
        shared.idle.notify_waiters();
    }
}

/// One batch: attempts with retries as [`retry`] decides, within any flush deadline.
async fn deliver<E: Encoder>(
    shared: &Shared<E::Item>,
    client: &reqwest::Client,
    target: &Target,
    encoder: &E,
    batch: &[E::Item],
) -> Outcome {
    let items = shared.labels.items;
    let body = match encoder.encode(batch) {
        Ok(body) => body,
        Err(e) => {
            shared.report_drop(format_args!(
                "cannot encode a batch ({e}); {} {items} dropped",
                batch.len()
            ));
            return Outcome::Failed;
        }
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut timeout = target.timeout;
        if let Some(deadline) = shared.deadline() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Outcome::Failed;
            }
            timeout = timeout.min(left);
        }
        let (outcome, answer) = send_once(client, target, &body, timeout).await;
        let verdict = retry::judge(
            outcome,
            attempt,
            target.backoff,
            retry::jitter(),
            target.retry_on,
        );
        let wait = match verdict {
            Verdict::Delivered => {
                let rejected = answer.as_ref().map_or(0, |a| encoder.rejected(a));
                if rejected > 0 {
                    shared.report_drop(format_args!(
                        "collector accepted a batch in part (partial success): {rejected} of {} \
                         {items} rejected, dropped",
                        batch.len()
                    ));
                }
                return Outcome::Delivered { rejected };
            }
            Verdict::Rejected if matches!(outcome, Attempt::Status(s, _) if s.is_redirection()) => {
                let Attempt::Status(status, _) = outcome else {
                    unreachable!("matched above")
                };
                let location = answer.and_then(|a| a.location);
                shared.report_drop(format_args!(
                    "collector answered {status} pointing to {} (redirects are never followed); \
                     {} {items} dropped, not retried",
                    location.as_deref().unwrap_or("no Location"),
                    batch.len()
                ));
                return Outcome::Failed;
            }
            Verdict::Rejected => {
                shared.report_drop(format_args!(
                    "collector refused a batch ({outcome:?}); {} {items} dropped, not retried",
                    batch.len()
                ));
                return Outcome::Failed;
            }
            Verdict::Transient(wait) => wait,
        };
        let within_deadline = shared
            .deadline()
            .is_none_or(|deadline| Instant::now() + wait < deadline);
        if attempt > target.retries
            || wait > retry::MAX_WAIT
            || !within_deadline
            || !backoff(shared, wait).await
        {
            shared.report_drop(format_args!(
                "giving up on a batch after {attempt} attempt(s) ({outcome:?}); {} {items} dropped",
                batch.len()
            ));
            return Outcome::Failed;
        }
    }
}

/// Waits `wait` before a retry. Returns false at once if a flush sets a deadline the wait
/// would overrun: the batch is then given up, so the flush can use its budget for the rest of
/// the queue instead of waiting out a long `Retry-After`.
async fn backoff<T>(shared: &Shared<T>, wait: Duration) -> bool {
    tracing::debug!("{}: retrying in {wait:?}", shared.labels.sink);
    let until = Instant::now() + wait;
    loop {
        let mut flushing = pin!(shared.flushing.notified());
        flushing.as_mut().enable();
        if shared.deadline().is_some_and(|deadline| until >= deadline) {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return true,
            _ = &mut flushing => {}
        }
    }
}

/// The host (and port) a redirect points to, resolved against the endpoint; never its path or
/// query, which may carry credentials.
fn location_host(endpoint: &reqwest::Url, location: Option<&HeaderValue>) -> Option<String> {
    let target = endpoint.join(location?.to_str().ok()?).ok()?;
    let host: String = target
        .host_str()?
        .chars()
        .take(255)
        .filter(|c| !c.is_control())
        .collect();
    Some(match target.port() {
        Some(port) => format!("host {host}:{port}"),
        None => format!("host {host}"),
    })
}

/// Most bytes of an answer kept for [`Encoder::rejected`]: an OTLP export response is a few
/// dozen bytes; a collector answering more is not read further.
const ANSWER_LIMIT: usize = 64 * 1024;

/// One attempt: its outcome, and what the collector answered (for a redirect where it points,
/// see [`location_host`]; for a 2xx its body).
async fn send_once(
    client: &reqwest::Client,
    target: &Target,
    body: &Body,
    timeout: Duration,
) -> (Attempt, Option<Answer>) {
    let mut request = client
        .post(target.endpoint.clone())
        .timeout(timeout)
        .header(CONTENT_TYPE, HeaderValue::from_static(body.content_type));
    if body.gzip {
        request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // User headers last: they replace ours of the same name (e.g. a content type).
    let response = request
        .headers(target.headers.clone())
        .body(body.bytes.clone())
        .send()
        .await;
    match response {
        Ok(mut response) => {
            let status = response.status();
            let retry_after = retry::parse_retry_after(response.headers().get(RETRY_AFTER));
            let location = status
                .is_redirection()
                .then(|| location_host(&target.endpoint, response.headers().get(LOCATION)))
                .flatten();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase);
            // Read the (small) answer so the connection can be reused; its content is never
            // logged (collectors echo request data in error messages).
            let mut bytes = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) if bytes.len() + chunk.len() <= ANSWER_LIMIT => {
                        bytes.extend_from_slice(&chunk);
                    }
                    Ok(Some(_)) => {
                        bytes.clear();
                        break;
                    }
                    Ok(None) => break,
                    Err(_) => {
                        if status.is_success() {
                            tracing::debug!("answer body cut short after {status}");
                        }
                        bytes.clear();
                        break;
                    }
                }
            }
            let answer = Answer {
                content_type,
                body: bytes,
                location,
            };
            (Attempt::Status(status, retry_after), Some(answer))
        }
        Err(e) => {
            tracing::debug!("request failed: {}", e.without_url());
            (Attempt::Transport, None)
        }
    }
}
