//! coldmark: an external AWS Lambda extension that writes one JSON marker per cold start (and
//! optionally per invocation), with CloudWatch Embedded Metric Format, so every cold start is
//! visible, explained (init type, proactive or not, configuration fingerprint) and split into
//! the function's, the extensions' and coldmark's own share.
//!
//! Data flows one way: [`config`] (read once, typed) and the Lambda APIs (`api`, [`telemetry`])
//! → [`lifecycle`] (pure state machine) → [`marker`] (the public contract) → [`sink`]. [`run`]
//! wires them.
//!
//! What is public is what the crate's users need: the binary (`main.rs`: [`clock`],
//! [`config`], [`diag`], [`run`]), the marker contract (the sandbox reads markers with it), and
//! for tests and benchmarks the record parser, the state machine and the HTTP sink. Everything
//! else is the crate's own.

pub(crate) mod api;
pub mod clock;
pub mod config;
pub mod diag;
pub(crate) mod fingerprint;
pub mod lifecycle;
pub mod marker;
pub(crate) mod random;
pub mod run;
pub mod sink;
pub mod telemetry;
