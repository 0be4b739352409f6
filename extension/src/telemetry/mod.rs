//! The Telemetry API side: receiving record batches ([`listener`]) and typing them
//! ([`record`]). Subscribing is an Extensions-API-style call and lives in `api`.

pub mod listener;
pub mod record;
