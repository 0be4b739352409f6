//! coldmark-explain: every init in coldmark's markers attributed to its cause.
//!
//! Readers (files, stdin, CloudWatch Logs, ClickHouse) turn input into [`Observation`]s; one
//! pure, streaming [`Attributor`] explains them; renderers (table, JSON, SVG) show the result.
//! The library is what the sandbox uses for its own verdict, so there is one implementation of
//! the rules (`docs/explain.md`).

pub mod attribute;
pub mod cause;
pub mod marker;
pub mod order;
pub mod pipeline;
pub mod read;
pub mod render;
pub mod round;
pub mod summary;
pub mod time;

pub use attribute::{
    attribute_all, Attribution, Attributor, Ended, Explained, Observation, Settings, UnusedInit,
};
pub use cause::{Cause, Evidence};
pub use marker::{Kind, Marker, Parsed};

#[cfg(feature = "cloud")]
pub mod clickhouse;
#[cfg(feature = "cloud")]
pub mod cloudwatch;
