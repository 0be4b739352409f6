//! coldmark-bench: what the coldmark extension costs a function, measured against real
//! processes over loopback sockets.
//!
//! The harness plays Lambda's part with a purpose-built Extensions + Telemetry API server
//! ([`server`]) whose clocks are taken on the server side, spawns each extension as Lambda
//! does ([`process`]), drives it through init, invocations and shutdown ([`session`]), and
//! feeds it telemetry the way Lambda batches it ([`telemetry_feed`]). [`scenarios`] holds the
//! measurements that BENCHMARKS.md reports; [`managed`] the one on Lambda Managed Instances.

pub mod managed;
pub mod null_extension;
pub mod process;
pub mod records;
pub mod report;
pub mod sandbox_init;
pub mod scenarios;
pub mod session;
pub mod stats;
pub mod tables;

/// The scriptable Lambda API server and Lambda-style telemetry feed live in the test kit,
/// shared with the binary tests.
pub use coldmark_testkit::{server, telemetry_feed, timed_io};
