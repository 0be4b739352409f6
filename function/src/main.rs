//! The clock function: the experiment behind coldmark, as a `provided.al2023` binary.
//!
//! Init code records `time_out_of_handler` and reads `USER` once; every call records
//! `time_in_handler`. A client that sees `time_out_of_handler` change has met a new execution
//! environment — a cold start — whatever the platform says.
//!
//! Two test knobs (read once at init, ignored when unset or not a number):
//! - `CLOCK_INIT_SLEEP_MS`: sleep this long in init before recording, to make a slow init.
//! - `CLOCK_HANDLER_SLEEP_MS`: sleep this long in every call, to provoke timeouts.

mod clock;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use lambda_runtime::{service_fn, Error, LambdaEvent};
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

async fn handle(env: &Environment, _event: LambdaEvent<Value>) -> Result<Response, Error> {
    let time_in_handler = format_timestamp(Utc::now());
    let invocation_count = env.invocations.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(sleep) = env.handler_sleep {
        tokio::time::sleep(sleep).await;
    }
    let body = Body {
        time_out_of_handler: env.time_out_of_handler.clone(),
        time_in_handler,
        env_user: env.env_user.clone(),
        invocation_count,
    };
    println!("{}", log_line(&body));
    Ok(Response::ok(&body)?)
}

fn main() -> Result<(), Error> {
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
        .block_on(lambda_runtime::run(service_fn(move |event| {
            handle(env, event)
        })))
}
