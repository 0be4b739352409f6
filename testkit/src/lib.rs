//! coldmark's test kit (dev-only, never shipped): what the tests stand up around the real
//! binaries, written once.
//!
//! - [`fake_lambda`]: a scriptable Extensions + Telemetry API on 127.0.0.1 that sends what
//!   Lambda sends (events, registration, records from `lambda-wire`) and starts the extension.
//! - [`runtime_api`]: a scriptable Runtime API for the function's tests.
//! - [`http_collector`]: an HTTP collector with scripted faults, for the HTTP sink.
//! - [`clickhouse`]: a real ClickHouse server per test, the store the HTTP sink is tested
//!   against.

pub mod clickhouse;
pub mod fake_lambda;
pub mod http_collector;
pub mod runtime_api;
