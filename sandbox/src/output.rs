//! What the commands print: one typed record per event, as a human line or (`--json`) as one
//! JSON object per line with a `type` field, so that scripts and tests read the same facts a
//! person reads.
//!
//! The printer knows no record: each module that produces one implements [`Record`] next to
//! its type, so dependencies point one way (producers → output), never back.

use std::io::Write;

use serde::Serialize;

/// A line the sandbox prints.
pub trait Record: Serialize {
    /// The JSON form's `type` field (`marker`, `verdict`, ...).
    const TYPE: &'static str;
    /// The human form.
    fn text(&self) -> String;
}

/// A record with its `type` field first, as the JSON form prints it.
#[derive(Serialize)]
pub struct Tagged<'a, R> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub record: &'a R,
}

/// The JSON form of `record`: its fields behind `"type": R::TYPE`.
pub fn tagged<R: Record>(record: &R) -> Tagged<'_, R> {
    Tagged {
        kind: R::TYPE,
        record,
    }
}

/// The first 8 characters of an id: enough to tell environments apart on screen.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Prints records in the chosen form; each line is flushed at once so a pipe sees it live.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub json: bool,
}

impl Printer {
    pub fn print<R: Record>(&self, record: &R) {
        let line = if self.json {
            match serde_json::to_string(&tagged(record)) {
                Ok(line) => line,
                Err(e) => {
                    tracing::error!("serialising output: {e}");
                    return;
                }
            }
        } else {
            record.text()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}
