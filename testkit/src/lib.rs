//! coldmark's test kit (dev-only, never shipped): what the tests stand up around the real
//! binaries, written once.
//!
//! - [`server`]: the one scriptable Extensions + Telemetry API server (server-side clocks,
//!   `Telemetry.NotSupported` and hanging modes), with [`telemetry_feed`] delivering records
//!   the way Lambda buffers them; the benchmarks drive it directly.
//! - [`fake_lambda`]: the binary tests' driver of that server: queued INVOKE/SHUTDOWN events,
//!   what Lambda sends (records from `lambda-wire`), and the extension's process.
//! - [`runtime_api`]: a scriptable Runtime API for the function's tests.
//! - [`http_collector`]: an HTTP collector with scripted faults, for the HTTP sink (and the
//!   benchmarks' receiver, scripted to answer 200).
//! - [`procfs`]: memory, CPU time and parent of a process, from `/proc`.
//! - [`broadcast_log`]: everything sent on a broadcast channel (an emulator's log sink), kept
//!   by a background reader for the test to read after the fact.
//! - [`median`]: the median the timing tests bound.
//! - [`json_process`]: a child process printing JSON lines (`coldmark-sandbox --json`), read
//!   as they come.
//! - [`aws_cli`]: the real AWS CLI pointed at a local endpoint, isolated from the user's setup.
//! - [`clickhouse`]: a real ClickHouse server per test, the store the HTTP sink is tested
//!   against.
//! - [`rotel`]: a real OpenTelemetry collector per test (PyPI's rotel), the OTLP sink's
//!   receiver, printing what arrived.
//! - [`venv`]: what a test says when a Python tool it needs is missing (the project's
//!   virtualenv, at `.ci/run`'s pins).

pub mod aws_cli;
pub mod broadcast_log;
pub mod clickhouse;
pub mod fake_lambda;
pub mod http_collector;
pub mod json_process;
pub mod median;
pub mod procfs;
pub mod rotel;
pub mod runtime_api;
pub mod server;
pub mod telemetry_feed;
pub mod timed_io;
pub mod venv;
