//! coldmark: an external AWS Lambda extension that writes one JSON marker per cold start (and
//! optionally per invocation), with CloudWatch Embedded Metric Format, so every cold start is
//! visible, explained (init type, proactive or not, configuration fingerprint) and split into
//! the function's, the extensions' and coldmark's own share.
//!
//! Data flows one way: Lambda APIs ([`api`], [`telemetry`]) → [`lifecycle`] (pure state
//! machine) → [`marker`] (the public contract) → [`sink`]. [`run`] wires them.

pub mod api;
pub mod clock;
pub mod config;
pub mod diag;
pub mod fingerprint;
pub mod lifecycle;
pub mod marker;
pub mod random;
pub mod run;
pub mod sink;
pub mod telemetry;
