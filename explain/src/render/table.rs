//! The table: one row per init with the cause and its evidence in words, then a summary per
//! function.

use std::io::Write;

use crate::attribute::Attribution;
use crate::cause::short;
use crate::render::Render;
use crate::summary::{CauseTotals, FunctionSummary};
use crate::time::format_ms;

pub struct Table<W: Write> {
    out: W,
    header_written: bool,
}

impl<W: Write> Table<W> {
    pub fn new(out: W) -> Table<W> {
        Table {
            out,
            header_written: false,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

const HEADER: [&str; 7] = [
    "TIME",
    "FUNCTION",
    "ENV",
    "INIT TYPE",
    "INIT ms (runtime+ext)",
    "CAUSE",
    "EVIDENCE",
];

fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        format!("{text:<width$}")
    } else {
        let cut: String = text.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}

/// One decimal, through integers: `{:.1}` formats floats exactly, which costs more than the
/// rest of a row.
fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v.abs() < 1e15 => {
            let tenths = (v * 10.0).round() as i64;
            let sign = if tenths < 0 { "-" } else { "" };
            format!("{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10)
        }
        Some(v) => format!("{v}"),
        None => "?".to_owned(),
    }
}

/// "39.0 (30.0+9.0)", "39.0", or "?" when Lambda reported no duration.
pub fn init_split(a: &Attribution) -> String {
    match (a.runtime_init_ms, a.extensions_init_ms) {
        (None, None) => ms(a.init_duration_ms),
        (r, e) => format!("{} ({}+{})", ms(a.init_duration_ms), ms(r), ms(e)),
    }
}

/// Seconds for the summary: "1.9 s", "52 s", "0.04 s".
fn seconds(ms: f64) -> String {
    let s = ms / 1000.0;
    if s >= 100.0 {
        format!("{s:.0} s")
    } else if s >= 1.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.2} s")
    }
}

fn money(cost: Option<f64>) -> String {
    cost.map_or_else(String::new, |c| format!("  ${c:.6}"))
}

fn totals_line(t: &CauseTotals) -> String {
    let mut line = format!(
        "{} cold start{}, {} of init, {:.3} GB-s billed{}",
        t.cold_starts,
        if t.cold_starts == 1 { "" } else { "s" },
        seconds(t.init_ms),
        t.gb_seconds,
        money(t.cost)
    );
    if t.unknown_duration > 0 {
        line.push_str(&format!(
            " ({} without a known duration or memory size)",
            t.unknown_duration
        ));
    }
    line
}

impl<W: Write> Render for Table<W> {
    fn init(&mut self, a: &Attribution) -> std::io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            writeln!(
                self.out,
                "{} {} {} {} {} {} {}",
                fit(HEADER[0], 24),
                fit(HEADER[1], 20),
                fit(HEADER[2], 8),
                fit(HEADER[3], 23),
                fit(HEADER[4], 22),
                fit(HEADER[5], 20),
                HEADER[6]
            )?;
        }
        let init_type = if a.init_phase == "invoke" {
            format!("{} (invoke)", a.init_type)
        } else {
            a.init_type.clone()
        };
        writeln!(
            self.out,
            "{} {} {} {} {} {} {}",
            fit(&format_ms(a.timestamp_ms), 24),
            fit(&a.function_name, 20),
            fit(short(&a.env_id), 8),
            fit(&init_type, 23),
            fit(&init_split(a), 22),
            fit(a.cause.as_str(), 20),
            a.evidence.words()
        )
    }

    fn finish(&mut self, summary: &[FunctionSummary]) -> std::io::Result<()> {
        for f in summary {
            writeln!(self.out)?;
            writeln!(self.out, "{}: {}", f.function_name, totals_line(&f.total))?;
            for (cause, t) in &f.causes {
                writeln!(
                    self.out,
                    "  {} {} cost {} cold start{} and {} of init, {:.3} GB-s{}",
                    t.cold_starts,
                    if t.cold_starts == 1 {
                        cause.singular()
                    } else {
                        cause.plural()
                    },
                    t.cold_starts,
                    if t.cold_starts == 1 { "" } else { "s" },
                    seconds(t.init_ms),
                    t.gb_seconds,
                    money(t.cost)
                )?;
            }
        }
        self.out.flush()
    }
}
