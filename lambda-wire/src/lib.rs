//! Lambda's wire format, written down once.
//!
//! The sandbox, the benchmarks and every test fake speak to coldmark in Lambda's words; when
//! each wrote its own copy they drifted (one sent `instanceMaxMemory` in MB, Lambda sends
//! bytes). This crate is the one model they share: serde types that serialise exactly as
//! Lambda does and parse what Lambda sends, checked against AWS's documented examples.
//!
//! The extension itself does not depend on it: its parser stays lenient record by record, so
//! that a record shape Lambda adds tomorrow costs one record, not the batch. Its tests feed it
//! records made here.

pub mod env;
pub mod extensions;
pub mod runtime;
pub mod telemetry;
