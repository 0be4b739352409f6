//! Renderers: what the user sees, from the same attributions whichever source fed them.

pub mod json;
pub mod svg;
pub mod table;

use crate::attribute::{Attribution, Ended};
use crate::summary::FunctionSummary;

/// Receives the attribution's output as it streams, and the summary at the end.
pub trait Render {
    fn init(&mut self, attribution: &Attribution) -> std::io::Result<()>;
    /// Whether it wants [`Render::ended`] (building those events costs time per environment).
    fn wants_ended(&self) -> bool {
        false
    }
    fn ended(&mut self, _ended: &Ended) -> std::io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, summary: &[FunctionSummary]) -> std::io::Result<()>;
}
