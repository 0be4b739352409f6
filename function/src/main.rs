//! The clock function: the experiment behind coldmark, as a `provided.al2023` binary.
//!
//! Init code records `time_out_of_handler` and reads `USER` once; every call records
//! `time_in_handler`. A client that sees `time_out_of_handler` change has met a new execution
//! environment — a cold start — whatever the platform says.
//!
//! Three test knobs (read once at init, ignored when unset or not understood):
//! - `CLOCK_INIT_SLEEP_MS`: sleep this long in init before recording, to make a slow init.
//! - `CLOCK_HANDLER_SLEEP_MS`: sleep this long in every call, to provoke timeouts.
//! - `CLOCK_INIT_FAIL`: fail init on demand: `error` (report `/runtime/init/error` and exit),
//!   `timeout` (hang until the init timeout), each also as `error-once` / `timeout-once` (only
//!   the first init of an execution environment fails; Lambda's retry inside the first
//!   invocation then succeeds). See `init_failure.rs`.
//!
//! On a function with tenant isolation every answer also says which tenant it served
//! (`tenant_id`, from the runtime's `Lambda-Runtime-Aws-Tenant-Id`).
//!
//! And two per request, as fields of a directly invoked event (so one environment can be made to
//! fail on demand; any other event, e.g. a Function URL's, is answered as usual):
//! - `"clock_sleep_ms": N`: sleep N ms in this call (a burst of concurrent requests, a timeout);
//! - `"clock_crash": true`: exit the process (status 1) without answering, as a crashing runtime
//!   does (Lambda then resets the environment and re-runs init on the next request).

mod clock;
mod init_failure;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

use clock::{format_timestamp, log_line, Body, Response};

/// What the init code captured; shared by every call in this environment.
struct Environment {
    time_out_of_handler: String,
    env_user: Option<String>,
    handler_sleep: Option<Duration>,
    invocations: AtomicU64,
}

/// Reads a millisecond duration knob; a value that is not a number is reported, not fatal.
fn sleep_knob(name: &str) -> Option<Duration> {
    let raw = std::env::var(name).ok()?;
    match raw.trim().parse::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => {
            eprintln!("clock: ignoring {name}: not a whole number of milliseconds");
            None
        }
    }
}

/// `CLOCK_INIT_FAIL`; a value it does not know is reported, not fatal.
fn init_failure_knob() -> Option<init_failure::Knob> {
    let raw = std::env::var("CLOCK_INIT_FAIL").ok()?;
    let knob = init_failure::Knob::parse(&raw);
    if knob.is_none() && !raw.trim().is_empty() {
        eprintln!(
            "clock: ignoring CLOCK_INIT_FAIL={raw:?}: not error, error-once, timeout or timeout-once"
        );
    }
    knob
}

/// The per-request test knobs of an event (absent fields: no effect).
#[derive(Debug, Default, Deserialize)]
struct Knobs {
    clock_sleep_ms: Option<u64>,
    #[serde(default)]
    clock_crash: bool,
}

impl Knobs {
    /// Reads the knobs of an event; an event that is not an object, or has knobs of the wrong
    /// type, has none.
    fn of(event: &Value) -> Self {
        Knobs::deserialize(event).unwrap_or_default()
    }
}

async fn handle(env: &Environment, event: LambdaEvent<Value>) -> Result<Response, Error> {
    let time_in_handler = format_timestamp(Utc::now());
    let invocation_count = env.invocations.fetch_add(1, Ordering::Relaxed) + 1;
    let knobs = Knobs::of(&event.payload);
    if knobs.clock_crash {
        eprintln!("clock: crashing on request (clock_crash)");
        std::process::exit(1);
    }
    if let Some(sleep) = env.handler_sleep {
        tokio::time::sleep(sleep).await;
    }
    if let Some(ms) = knobs.clock_sleep_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let body = Body {
        time_out_of_handler: env.time_out_of_handler.clone(),
        time_in_handler,
        env_user: env.env_user.clone(),
        invocation_count,
        tenant_id: event.context.tenant_id.clone(),
    };
    println!("{}", log_line(&body));
    Ok(Response::ok(&body)?)
}

/// `bootstrap --help` / `--version`, for a person who runs it by hand: Lambda starts it without
/// arguments. Any other argument is refused (exit 2) rather than ignored.
fn command_line() -> Option<std::process::ExitCode> {
    let arg = std::env::args_os().nth(1)?;
    let code = match arg.to_str() {
        Some("-V" | "--version") => {
            println!("coldmark-clock {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("-h" | "--help") => {
            println!(
                "coldmark-clock {}: the clock function, a provided.al2023 `bootstrap`\n\n\
                 Lambda starts it without arguments, with AWS_LAMBDA_RUNTIME_API set; it answers\n\
                 time_out_of_handler (when this environment's init ran), time_in_handler,\n\
                 env_user (USER) and invocation_count.\n\n\
                 Test knobs (environment): CLOCK_INIT_SLEEP_MS (ms, sleep in init),\n\
                 CLOCK_HANDLER_SLEEP_MS (ms, sleep in every call), CLOCK_INIT_FAIL (error,\n\
                 error-once, timeout, timeout-once: fail init). Per request (event fields):\n\
                 clock_sleep_ms, clock_crash.",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
        _ => {
            eprintln!("bootstrap: unknown argument {arg:?} (--help says how it is run)");
            2
        }
    };
    Some(std::process::ExitCode::from(code))
}

fn main() -> Result<std::process::ExitCode, Error> {
    if let Some(code) = command_line() {
        return Ok(code);
    }
    if let Some(knob) = init_failure_knob() {
        let stream = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default();
        if knob.fails_now(&init_failure::mark_path(&stream)) {
            let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
            init_failure::fail(knob.failure, &api);
        }
    }
    if let Some(sleep) = sleep_knob("CLOCK_INIT_SLEEP_MS") {
        std::thread::sleep(sleep);
    }
    // Leaked on purpose: the environment lives as long as the process, and a `'static`
    // reference lets the handler closure stay `Copy`-cheap without an `Arc`.
    let env: &'static Environment = Box::leak(Box::new(Environment {
        time_out_of_handler: format_timestamp(Utc::now()),
        env_user: std::env::var("USER").ok(),
        handler_sleep: sleep_knob("CLOCK_HANDLER_SLEEP_MS"),
        invocations: AtomicU64::new(0),
    }));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(lambda_runtime::run_concurrent(service_fn(move |event| {
            handle(env, event)
        })))?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_come_from_the_event_and_default_to_none() {
        let knobs = Knobs::of(&serde_json::json!({"clock_sleep_ms": 250, "clock_crash": true}));
        assert_eq!(knobs.clock_sleep_ms, Some(250));
        assert!(knobs.clock_crash);
        let none = Knobs::of(&serde_json::json!({"rawPath": "/", "body": null}));
        assert_eq!(none.clock_sleep_ms, None);
        assert!(!none.clock_crash);
        // Wrong types and non-objects are no knobs, never an error.
        assert!(!Knobs::of(&serde_json::json!({"clock_crash": "yes"})).clock_crash);
        assert!(!Knobs::of(&serde_json::json!([1, 2])).clock_crash);
    }
}
