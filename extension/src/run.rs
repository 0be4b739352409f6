//! The extension's life: register, listen for telemetry, subscribe, then answer events until
//! SHUTDOWN. Decisions are the lifecycle's; this module only moves data between the APIs, the
//! state machine and the sinks.
//!
//! The invocation path (INVOKE received → next `/event/next` sent) does no network I/O and
//! never waits for telemetry: it updates the state machine, queues any marker, wakes the HTTP
//! sink and asks for the next event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use tokio::time::Instant;

use crate::api::{schema_versions, Api, ApiError, Event, Events, Registration, MANAGED_INSTANCES};
use crate::clock::StartClock;
use crate::config::{Config, InvokeMarkers};
use crate::fingerprint::fingerprint;
use crate::lifecycle::{Identity, Invoke, Lifecycle, Settings};
use crate::sink::{SinkSettings, Sinks};
use crate::telemetry::listener;
use crate::telemetry::record::{Parser, Record};

/// Name coldmark registers under (Lambda's name for the extension in its records).
const EXTENSION_NAME: &str = "coldmark";

/// What the state machine and the sinks share between the event loop and the listener.
struct Shared {
    lifecycle: Mutex<Lifecycle>,
    parser: Mutex<Parser>,
    sinks: Sinks,
    logs_dropped_warned: AtomicBool,
    /// Registered for SHUTDOWN only: no INVOKE will start the network sinks' sending, so every
    /// marker does.
    kick_on_emit: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Applies one batch; runs on the listener's telemetry thread, never on the runtime.
    fn telemetry_batch(&self, body: Bytes) {
        let parsed = lock(&self.parser).parse_batch(&body);
        for w in &parsed.warnings {
            tracing::warn!("{w}");
        }
        let mut markers = Vec::new();
        for record in parsed.records {
            if let Record::LogsDropped { dropped_records } = &record {
                // Once per environment as a warning; it would repeat under the same load.
                if !self.logs_dropped_warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!("Lambda dropped {dropped_records} telemetry records");
                } else {
                    tracing::debug!("Lambda dropped {dropped_records} telemetry records");
                }
            }
            // The lock is taken per record: the event loop needs it at every INVOKE, and a
            // large batch must not keep it waiting.
            markers.extend(lock(&self.lifecycle).on_record(record));
        }
        self.emit(&markers);
    }

    /// Queues markers outside an invocation.
    fn emit(&self, markers: &[crate::marker::Marker]) {
        self.sinks.emit(markers);
        if self.kick_on_emit && !markers.is_empty() {
            self.sinks.kick();
        }
    }
}

/// Runs the extension until SHUTDOWN (or until the API goes away). Never panics on bad input;
/// every failure ends in one warning.
///
/// An extension that exits during init fails the function's init, so the only `return` before
/// SHUTDOWN is before any registration succeeded. Once registered, whatever else fails (the
/// Telemetry API, a sink, a setting) coldmark goes on asking for events.
pub async fn run(config: Config, clock: StartClock, vars: Vec<(String, String)>) {
    let env = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let api = match Api::new(env("AWS_LAMBDA_RUNTIME_API").as_deref()) {
        Ok(api) => api,
        Err(why) => {
            tracing::warn!("{why}; coldmark is off");
            return;
        }
    };
    // Registration and subscription share one budget, well inside Lambda's init limit.
    let init_deadline = Instant::now() + crate::api::INIT_BUDGET;
    let managed_instances =
        env("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref() == Some(MANAGED_INSTANCES);
    let registration = match register(&api, managed_instances, init_deadline).await {
        Ok(r) => r,
        Err(why) => {
            tracing::warn!("Extensions API registration failed ({why}); coldmark is off");
            return;
        }
    };
    let (sinks, warnings) = Sinks::start(SinkSettings {
        choice: config.sinks,
        http: config.http.clone(),
        otlp: config.otlp.clone(),
        invoke_markers: config.invoke_markers != InvokeMarkers::None,
    });
    for w in warnings {
        tracing::warn!("{w}");
    }
    let mut lifecycle = Lifecycle::new(
        Settings {
            invoke_markers: config.invoke_markers,
            proactive_threshold_ms: config.proactive_threshold_ms,
            namespace: config.namespace.clone(),
        },
        identity(&registration, &vars, &config, &clock),
    );
    if registration.events == Events::ShutdownOnly {
        lifecycle.registered_without_invoke();
    }
    let shared = Arc::new(Shared {
        lifecycle: Mutex::new(lifecycle),
        parser: Mutex::new(Parser::default()),
        sinks,
        logs_dropped_warned: AtomicBool::new(false),
        kick_on_emit: registration.events == Events::ShutdownOnly,
    });

    start_telemetry(
        &api,
        &registration.extension_id,
        &config,
        &shared,
        schema_versions(managed_instances),
        init_deadline,
    )
    .await;
    event_loop(&api, &registration.extension_id, &clock, &shared).await;
}

/// Registers for INVOKE and SHUTDOWN; for SHUTDOWN alone on Lambda Managed Instances, and when
/// Lambda refuses INVOKE (a 4xx) anywhere else, with one warning, inside the same budget.
async fn register(
    api: &Api,
    managed_instances: bool,
    deadline: Instant,
) -> Result<Registration, ApiError> {
    if managed_instances {
        return api
            .register(EXTENSION_NAME, Events::ShutdownOnly, deadline)
            .await;
    }
    match api
        .register(EXTENSION_NAME, Events::InvokeAndShutdown, deadline)
        .await
    {
        Err(why) if why.is_refusal() => {
            let registration = api
                .register(EXTENSION_NAME, Events::ShutdownOnly, deadline)
                .await?;
            tracing::warn!(
                "Extensions API refused INVOKE ({why}); registered for SHUTDOWN only: markers \
                 from telemetry alone, no invoke markers"
            );
            Ok(registration)
        }
        other => other,
    }
}

fn identity(
    registration: &Registration,
    vars: &[(String, String)],
    config: &Config,
    clock: &StartClock,
) -> Identity {
    let env = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let function_version = registration
        .function_version
        .clone()
        .or_else(|| env("AWS_LAMBDA_FUNCTION_VERSION"))
        .unwrap_or_default();
    let memory_size = env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|m| m.trim().parse().ok());
    Identity {
        function_name: registration
            .function_name
            .clone()
            .or_else(|| env("AWS_LAMBDA_FUNCTION_NAME"))
            .unwrap_or_default(),
        config_fingerprint: fingerprint(
            vars,
            &function_version,
            memory_size,
            &config.fingerprint_exclude,
        ),
        function_version,
        memory_size,
        env_id: generated_env_id(),
        init_type: env("AWS_LAMBDA_INITIALIZATION_TYPE"),
        max_concurrency: env("AWS_LAMBDA_MAX_CONCURRENCY").and_then(|c| c.trim().parse().ok()),
        started_at: clock.started_at,
    }
}

/// Starts the listener (on a path only Lambda learns) and subscribes. Any failure leaves
/// coldmark in Extensions-API-only mode with one warning.
async fn start_telemetry(
    api: &Api,
    extension_id: &str,
    config: &Config,
    shared: &Arc<Shared>,
    schemas: [&str; 2],
    deadline: Instant,
) {
    let (listener, port) = match listener::bind(config.telemetry_port).await {
        Ok(bound) => bound,
        Err(e) => {
            tracing::warn!(
                "cannot listen for telemetry ({}); markers from the Extensions API only",
                e.kind()
            );
            return;
        }
    };
    let path = listener::secret_path();
    let batch_core = shared.clone();
    let handler: listener::Handler = Arc::new(move |body| batch_core.telemetry_batch(body));
    if !listener::start(listener, path.clone(), handler) {
        return;
    }
    match subscribe(api, extension_id, schemas, port, &path, deadline).await {
        Ok(schema) => {
            tracing::debug!("subscribed to the Telemetry API (schema {schema}) on port {port}");
            lock(&shared.lifecycle).telemetry_subscribed();
        }
        Err(why) => tracing::warn!(
            "Telemetry API not available ({why}); markers from the Extensions API only"
        ),
    }
}

/// Subscribes with `schemas[0]`; when Lambda refuses it (a 4xx: the version is not one it
/// accepts here), with `schemas[1]` inside the same budget, with one warning. Returns the
/// version Lambda accepted.
async fn subscribe<'a>(
    api: &Api,
    extension_id: &str,
    schemas: [&'a str; 2],
    port: u16,
    path: &str,
    deadline: Instant,
) -> Result<&'a str, ApiError> {
    let [first, other] = schemas;
    match api
        .subscribe(extension_id, first, port, path, deadline)
        .await
    {
        Ok(()) => Ok(first),
        Err(why) if why.is_refusal() => {
            api.subscribe(extension_id, other, port, path, deadline)
                .await?;
            tracing::warn!("Telemetry API refused schema {first} ({why}); subscribed with {other}");
            Ok(other)
        }
        Err(why) => Err(why),
    }
}

async fn event_loop(api: &Api, extension_id: &str, clock: &StartClock, shared: &Arc<Shared>) {
    let markers = lock(&shared.lifecycle).ready(Utc::now(), clock.elapsed_ms());
    shared.emit(&markers);
    // Failures in a row (for the backoff), and how many of them found nobody there.
    let mut failures = 0u32;
    let mut unreachable = 0u32;
    loop {
        match api.next(extension_id).await {
            Ok(Event::Invoke {
                request_id,
                xray_trace_id,
            }) => {
                (failures, unreachable) = (0, 0);
                let markers = lock(&shared.lifecycle).on_invoke(Invoke {
                    request_id,
                    at: Utc::now(),
                    xray_trace_id,
                });
                shared.sinks.emit(&markers);
                shared.sinks.kick();
            }
            Ok(Event::Shutdown {
                reason,
                deadline_ms,
            }) => {
                shutdown(shared, &reason, deadline_ms).await;
                return;
            }
            Err(why) => {
                failures += 1;
                // Only when nobody answers at all is Lambda gone, and with it the init that
                // exiting could fail. An answer coldmark cannot use (a status, an unreadable
                // event) comes from a Lambda that is still there: keep asking.
                if why.is_unreachable() {
                    unreachable += 1;
                } else {
                    unreachable = 0;
                }
                if unreachable >= 10 {
                    tracing::warn!("Extensions API unreachable ({why}); writing what is left");
                    shutdown(shared, "api-unreachable", 0).await;
                    return;
                }
                if failures == 10 && unreachable == 0 {
                    tracing::warn!("Extensions API answers no usable event ({why}); still asking");
                } else {
                    tracing::debug!("event/next failed ({why}); retrying");
                }
                tokio::time::sleep(Duration::from_millis(10 << failures.min(6))).await;
            }
        }
    }
}

/// Longest coldmark waits at SHUTDOWN for `platform.report`s still on their way.
const REPORT_WAIT: Duration = Duration::from_millis(300);
/// Kept free before Lambda's shutdown deadline (process exit, scheduling).
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);
/// Budget when Lambda gives no usable deadline (its external-extension limit is 2 s).
const DEFAULT_SHUTDOWN_BUDGET: Duration = Duration::from_millis(1500);

async fn shutdown(shared: &Arc<Shared>, reason: &str, deadline_ms: u64) {
    let at = Utc::now();
    let now_ms = at.timestamp_millis().max(0) as u64;
    let budget = if deadline_ms > now_ms {
        Duration::from_millis(deadline_ms - now_ms)
            .saturating_sub(DEADLINE_MARGIN)
            .min(DEFAULT_SHUTDOWN_BUDGET)
    } else {
        DEFAULT_SHUTDOWN_BUDGET
    };
    let end = Instant::now() + budget;

    // Late platform.report records complete the held invoke markers; give them a moment.
    let wait_until = Instant::now() + REPORT_WAIT.min(budget / 4);
    while lock(&shared.lifecycle).awaiting_reports() && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let markers = lock(&shared.lifecycle).finish();
    shared.sinks.emit(&markers);

    // Deliver everything first, so `dropped` in the last marker is final, keeping a little
    // of the budget for the last marker itself.
    let last_share = Duration::from_millis(250).min(budget / 4);
    shared
        .sinks
        .flush(
            end.saturating_duration_since(Instant::now())
                .saturating_sub(last_share),
        )
        .await;
    let dropped = shared.sinks.dropped();
    let last = lock(&shared.lifecycle).shutdown_marker(reason, at, dropped);
    shared
        .sinks
        .emit_last(&last, end.saturating_duration_since(Instant::now()))
        .await;
    if shared.sinks.stdout_dead() {
        // The shutdown marker's `dropped` may itself be lost: say it where it can be read.
        tracing::warn!(
            "stdout is closed or not being read: {} marker line(s) could not be written there, \
             the shutdown marker included",
            shared.sinks.stdout_dropped()
        );
    }
    tracing::debug!("shutdown complete ({reason})");
}

/// An id for this environment until the Telemetry API names it: 128 random bits.
fn generated_env_id() -> String {
    crate::random::hex128()
}
