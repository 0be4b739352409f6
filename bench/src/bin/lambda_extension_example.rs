//! The `lambda-extension` crate's own telemetry example (examples/extension-telemetry-basic in
//! aws-lambda-rust-runtime), as published: a telemetry processor that logs a line per record of
//! interest. Built here only to be measured beside coldmark.
//!
//! Two changes, both forced by running it locally: the telemetry port comes from
//! `BENCH_TELEMETRY_PORT` (the crate listens on a fixed 9003 otherwise, and parallel runs would
//! collide), and the log lines go through `tracing_subscriber::fmt` directly because the
//! workspace builds `lambda-extension` without its `tracing` feature (which only re-exports the
//! same subscriber setup).

use lambda_extension::{
    service_fn, Error, Extension, LambdaTelemetry, LambdaTelemetryRecord, SharedService,
};

async fn handler(events: Vec<LambdaTelemetry>) -> Result<(), Error> {
    for event in events {
        match event.record {
            LambdaTelemetryRecord::Function(record) => {
                tracing::info!("[logs] [function] {}", record);
            }
            LambdaTelemetryRecord::PlatformInitStart { .. } => {
                tracing::info!("[platform] Initialization started");
            }
            LambdaTelemetryRecord::PlatformInitRuntimeDone { .. } => {
                tracing::info!("[platform] Initialization finished");
            }
            LambdaTelemetryRecord::PlatformStart { request_id, .. } => {
                tracing::info!("[platform] Handling of request {} started", request_id);
            }
            LambdaTelemetryRecord::PlatformRuntimeDone { request_id, .. } => {
                tracing::info!("[platform] Handling of request {} finished", request_id);
            }
            _ => (),
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .without_time()
        .init();

    let port = std::env::var("BENCH_TELEMETRY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9003);
    let telemetry_processor = SharedService::new(service_fn(handler));

    Extension::new()
        .with_telemetry_processor(telemetry_processor)
        .with_telemetry_port_number(port)
        .run()
        .await?;

    Ok(())
}
