//! The Telemetry API side: receiving record batches (`listener`), typing them ([`record`])
//! and recognising a record delivered twice (`identity`). Subscribing is an
//! Extensions-API-style call and lives in `api`.

pub(crate) mod identity;
pub(crate) mod listener;
pub mod record;
