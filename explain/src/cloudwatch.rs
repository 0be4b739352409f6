//! CloudWatch Logs, directly: `FilterLogEvents` over each log group, page by page, through the
//! official AWS SDK for Rust with the standard credential chain.
//!
//! The server-side filter pattern keeps the pull to marker lines (`coldmark` by default; an
//! empty pattern brings every line, whose log streams then also tell which environments were
//! still alive). Throttling is retried by the SDK's standard retry strategy with exponential
//! backoff; when it persists the error names the log group. Nothing is sent anywhere but the
//! CloudWatch Logs endpoint (or `--endpoint-url`).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use aws_smithy_http_client::tls;

use crate::attribute::Observation;
use crate::read::{read_line, LineContext, ReadCounts};

/// What to pull.
#[derive(Debug, Clone)]
pub struct Request {
    pub log_groups: Vec<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Sent as the `filterPattern`; empty sends none.
    pub filter_pattern: String,
    /// Events per page (the API's `limit`); `None` lets the service choose (up to 10,000).
    pub page_size: Option<i32>,
    /// Attempts per request, throttling included.
    pub max_attempts: u32,
    /// First backoff between attempts; it grows exponentially (with jitter).
    pub initial_backoff: Duration,
}

/// Why a pull failed, in one line the user can act on.
#[derive(Debug)]
pub struct PullError(pub String);

impl std::fmt::Display for PullError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const CREDENTIAL_CHAIN: &str = "the standard AWS credential chain: environment \
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), the shared config and credentials files \
(~/.aws/config, ~/.aws/credentials; --profile or AWS_PROFILE), web identity token, \
ECS/EKS container credentials, EC2 instance metadata";

/// Pulls every log group in turn; a group that fails is reported and the others still read.
/// Returns the errors (empty when all went well).
pub async fn pull(
    request: &Request,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) -> Vec<PullError> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(request.max_attempts.max(1))
                .with_initial_backoff(request.initial_backoff),
        );
    if let Some(region) = &request.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &request.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &request.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return vec![PullError(
            "no AWS region: pass --region, set AWS_REGION, or give the profile a region".into(),
        )];
    }
    match config.credentials_provider() {
        None => {
            return vec![PullError(format!(
                "no AWS credentials: none configured in {CREDENTIAL_CHAIN}"
            ))]
        }
        Some(provider) => {
            if let Err(e) = provider.provide_credentials().await {
                return vec![PullError(format!(
                    "no AWS credentials found in {CREDENTIAL_CHAIN} ({e})"
                ))];
            }
        }
    }
    let client = aws_sdk_cloudwatchlogs::Client::new(&config);
    let mut groups: Vec<Group> = request
        .log_groups
        .iter()
        .map(|name| Group::new(&client, name, request))
        .collect();
    let mut errors = Vec::new();
    // Merge the groups by event time, one page held per group: memory stays one page per
    // group, and the attribution sees one time-ordered input, as from a single file.
    loop {
        for group in groups.iter_mut() {
            if let Err(e) = group.fill().await {
                errors.push(e);
            }
        }
        let next = groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.events.front().map(|e| (e.timestamp().unwrap_or(0), i)))
            .min();
        let Some((_, i)) = next else { break };
        let group = &mut groups[i];
        if let Some(event) = group.events.pop_front() {
            let context = LineContext {
                stream: event.log_stream_name().map(str::to_owned),
                at_ms: event.timestamp(),
            };
            read_line(
                event.message().unwrap_or_default().as_bytes(),
                &context,
                counts,
                sink,
            );
            group.progress.events += 1;
        }
    }
    for group in groups.iter_mut() {
        group.progress.tick(true);
    }
    errors
}

type Pages = aws_smithy_async::future::pagination_stream::PaginationStream<
    Result<
        aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput,
        SdkError<
            aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError,
            aws_sdk_cloudwatchlogs::config::http::HttpResponse,
        >,
    >,
>;

/// One log group being read: its pages, the events of the current one, its progress.
struct Group {
    name: String,
    pages: Pages,
    events: VecDeque<FilteredLogEvent>,
    done: bool,
    progress: Progress,
    request: Request,
}

impl Group {
    fn new(client: &aws_sdk_cloudwatchlogs::Client, name: &str, request: &Request) -> Group {
        let mut call = client
            .filter_log_events()
            .log_group_name(name)
            .start_time(request.start_ms)
            .end_time(request.end_ms)
            .set_limit(request.page_size);
        // AWS always interleaves the streams of a group (by time) and ignores this flag;
        // emulators such as moto still read it, so it is sent to get the same order everywhere.
        #[allow(deprecated)]
        {
            call = call.interleaved(true);
        }
        if !request.filter_pattern.is_empty() {
            call = call.filter_pattern(&request.filter_pattern);
        }
        Group {
            name: name.to_owned(),
            pages: call.into_paginator().send(),
            events: VecDeque::new(),
            done: false,
            progress: Progress::new(name),
            request: request.clone(),
        }
    }

    /// Fetches pages until there is an event to read or the group is done.
    async fn fill(&mut self) -> Result<(), PullError> {
        while self.events.is_empty() && !self.done {
            match self.pages.next().await {
                None => self.done = true,
                Some(Err(e)) => {
                    self.done = true;
                    return Err(explain_error(&self.name, &self.request, e));
                }
                Some(Ok(page)) => {
                    self.events.extend(page.events.unwrap_or_default());
                    self.progress.pages += 1;
                    self.progress.tick(false);
                }
            }
        }
        Ok(())
    }
}

fn explain_error<E, R>(group: &str, request: &Request, e: SdkError<E, R>) -> PullError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or_default().to_owned();
    let message = e.message().unwrap_or_default().to_owned();
    let text = match code.as_str() {
        "ThrottlingException" | "Throttling" | "TooManyRequestsException"
        | "LimitExceededException" => format!(
            "CloudWatch Logs kept throttling FilterLogEvents on log group {group} after {} attempts with backoff: {message}; try again later or narrow the time range",
            request.max_attempts
        ),
        "ResourceNotFoundException" => {
            format!("log group {group} not found (CloudWatch Logs: {message})")
        }
        "" => match &e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
                "cannot reach CloudWatch Logs{} for log group {group}: {}",
                request
                    .endpoint_url
                    .as_ref()
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default(),
                DisplayErrorContext(&e)
            ),
            _ => format!(
                "reading log group {group} failed: {}",
                DisplayErrorContext(&e)
            ),
        },
        _ => format!("CloudWatch Logs refused FilterLogEvents on log group {group}: {code}: {message}"),
    };
    PullError(text)
}

/// A progress line on stderr for long pulls: rewritten in place on a terminal, one line every
/// ten seconds otherwise.
struct Progress {
    group: String,
    events: u64,
    pages: u64,
    started: Instant,
    last: Instant,
    terminal: bool,
    shown: bool,
}

impl Progress {
    fn new(group: &str) -> Progress {
        let now = Instant::now();
        Progress {
            group: group.to_owned(),
            events: 0,
            pages: 0,
            started: now,
            last: now,
            terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn tick(&mut self, done: bool) {
        let every = if self.terminal {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(10)
        };
        if !done && self.last.elapsed() < every {
            return;
        }
        if done && !self.shown {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let line = format!(
            "coldmark-explain: {}: {} events in {} pages, {:.0} s{}",
            self.group,
            self.events,
            self.pages,
            self.started.elapsed().as_secs_f64(),
            if done { ", done" } else { "" }
        );
        if self.terminal {
            eprint!("\r{line}{}", if done { "\n" } else { "" });
        } else {
            eprintln!("{line}");
        }
    }
}
