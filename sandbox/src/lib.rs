//! coldmark-sandbox: a local AWS Lambda execution environment (Runtime, Extensions and Telemetry
//! APIs, real child processes, init / invoke / shutdown) and the experiment built on it.

pub mod environment;
pub mod extensions_api;
pub mod runtime_api;
pub mod telemetry_api;
pub mod control_plane;
pub mod experiment;
pub mod probe;
pub mod artifacts;
pub mod output;
pub mod serve;
