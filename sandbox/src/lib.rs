//! coldmark-sandbox: coldmark's own front-ends on the local Lambda of `lambda-emulator`: the
//! experiment, the `causes` script, `serve` for the AWS CLI, the `probe` of a real Function URL,
//! and what they print (markers read with `coldmark-explain`'s reader, the emulator's events,
//! verdicts), as text or JSON lines.

pub mod artifacts;
pub mod causes;
pub mod collector;
pub mod experiment;
pub mod front_end;
pub mod lambda_client;
pub mod lifecycle_events;
pub mod output;
pub mod probe;
pub mod serve;
