//! coldmark-sandbox: a local AWS Lambda execution environment (Runtime, Extensions and Telemetry
//! APIs, real child processes, init / invoke / shutdown) and the experiment built on it.

pub mod artifacts;
pub mod causes;
pub mod collector;
pub mod control_plane;
pub mod environment;
pub mod experiment;
pub mod front_end;
pub mod lifecycle_events;
pub mod output;
pub mod probe;
pub mod serve;
