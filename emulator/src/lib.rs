//! lambda-emulator: a local AWS Lambda that knows nothing of what it runs. An execution
//! environment ([`environment`]: the Runtime, Extensions and Telemetry APIs, real child
//! processes, init / invoke / shutdown, freeze), the control plane in front of it
//! ([`control_plane`]: Invoke, the function's configuration and versions, the Function URL,
//! scale-out and idle reclaim, the reason of each start), and what gets code ready to run
//! ([`artifacts`]: layer directories and zips, binaries built with cargo).

pub mod artifacts;
pub mod control_plane;
pub mod environment;
