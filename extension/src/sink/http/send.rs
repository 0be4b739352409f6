//! The HTTP sink's background sender: takes batches off the queue and delivers each, with the
//! retries [`super::retry`] allows and within any flush deadline.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use tokio::time::Instant;

use super::body;
use super::retry::{self, Attempt, Verdict};
use super::shared::Shared;
use crate::config::HttpSettings;

/// The background task: on each wake-up, sends batches until the queue is empty.
pub(super) async fn sender(shared: Arc<Shared>, client: reqwest::Client, config: HttpSettings) {
    loop {
        shared.wake.notified().await;
        loop {
            let batch = shared.take_batch();
            if batch.is_empty() {
                break;
            }
            let delivered = deliver(&shared, &client, &config, &batch).await;
            shared.settle(delivered);
        }
        shared.idle.notify_waiters();
    }
}

/// One batch: attempts with retries as [`retry`] decides, within any flush deadline.
async fn deliver(
    shared: &Shared,
    client: &reqwest::Client,
    config: &HttpSettings,
    batch: &[String],
) -> bool {
    let body = match body::encode(batch, config.format, config.gzip) {
        Ok(body) => body,
        Err(e) => {
            shared.report_drop(format_args!(
                "cannot encode a batch ({e}); {} marker(s) dropped",
                batch.len()
            ));
            return false;
        }
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut timeout = config.timeout;
        if let Some(deadline) = shared.deadline() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            timeout = timeout.min(left);
        }
        let (outcome, location) = send_once(client, config, &body, timeout).await;
        let verdict = retry::judge(outcome, attempt, config.backoff, retry::jitter());
        let wait = match verdict {
            Verdict::Delivered => return true,
            Verdict::Rejected if matches!(outcome, Attempt::Status(s, _) if s.is_redirection()) => {
                let Attempt::Status(status, _) = outcome else {
                    unreachable!("matched above")
                };
                shared.report_drop(format_args!(
                    "collector answered {status} pointing to {} (redirects are never followed); \
                     {} marker(s) dropped, not retried",
                    location.as_deref().unwrap_or("no Location"),
                    batch.len()
                ));
                return false;
            }
            Verdict::Rejected => {
                shared.report_drop(format_args!(
                    "collector refused a batch ({outcome:?}); {} marker(s) dropped, not retried",
                    batch.len()
                ));
                return false;
            }
            Verdict::Transient(wait) => wait,
        };
        let within_deadline = shared
            .deadline()
            .is_none_or(|deadline| Instant::now() + wait < deadline);
        if attempt > config.retries
            || wait > retry::MAX_WAIT
            || !within_deadline
            || !backoff(shared, wait).await
        {
            shared.report_drop(format_args!(
                "giving up on a batch after {attempt} attempt(s) ({outcome:?}); {} marker(s) dropped",
                batch.len()
            ));
            return false;
        }
    }
}

/// Waits `wait` before a retry. Returns false at once if a flush sets a deadline the wait
/// would overrun: the batch is then given up, so the flush can use its budget for the rest of
/// the queue instead of waiting out a long `Retry-After`.
async fn backoff(shared: &Shared, wait: Duration) -> bool {
    tracing::debug!("http sink: retrying in {wait:?}");
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

/// One attempt: its outcome, and for a redirect where it points (see [`location_host`]).
async fn send_once(
    client: &reqwest::Client,
    config: &HttpSettings,
    body: &body::Body,
    timeout: Duration,
) -> (Attempt, Option<String>) {
    let mut request = client
        .post(config.endpoint.clone())
        .timeout(timeout)
        .header(CONTENT_TYPE, HeaderValue::from_static(body.content_type));
    if body.gzip {
        request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // User headers last: they replace ours of the same name (e.g. a content type).
    let response = request
        .headers(config.headers.clone())
        .body(body.bytes.clone())
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status();
            let retry_after = retry::parse_retry_after(response.headers().get(RETRY_AFTER));
            let location = status
                .is_redirection()
                .then(|| location_host(&config.endpoint, response.headers().get(LOCATION)))
                .flatten();
            // Read the (small) answer so the connection can be reused; its content is not
            // logged (collectors echo request data in error messages).
            if response.bytes().await.is_err() && status.is_success() {
                tracing::debug!("http sink: answer body cut short after {status}");
            }
            (Attempt::Status(status, retry_after), location)
        }
        Err(e) => {
            tracing::debug!("http sink: request failed: {}", e.without_url());
            (Attempt::Transport, None)
        }
    }
}
