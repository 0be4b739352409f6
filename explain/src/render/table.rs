//! The table: one row per init with the cause and its evidence in words, then a summary per
//! function.

use std::fmt::Write as _;
use std::io::Write;

use crate::attribute::Attribution;
use crate::cause::{short, Cause};
use crate::render::Render;
use crate::summary::{CauseTotals, FunctionSummary};
use crate::time::ms_text;

pub struct Table<W: Write> {
    out: W,
    header_written: bool,
    /// Every column, whole ids and unwrapped evidence (`--wide`); else [`COMPACT`] columns.
    wide: bool,
    /// The UTC day of the last row (compact rows show the time; a line shows each new day).
    day: Option<i64>,
    /// The row being written, and a cell being built: reused, so that a row costs no
    /// allocation of its own (a busy day's table has hundreds of thousands of rows).
    row: String,
    cell: String,
    /// Summaries by tenant: at most this many tenants per function.
    top_tenants: usize,
}

impl<W: Write> Table<W> {
    pub fn new(out: W) -> Table<W> {
        Table {
            out,
            header_written: false,
            wide: false,
            day: None,
            row: String::with_capacity(256),
            cell: String::with_capacity(32),
            top_tenants: usize::MAX,
        }
    }

    /// Shows at most `n` tenants per function when the summary is by tenant (the records come
    /// most cold starts first); the rest are added up in one line.
    pub fn top_tenants(mut self, n: usize) -> Table<W> {
        self.top_tenants = n.max(1);
        self
    }

    /// Every column, whole ids and unwrapped evidence: rows as wide as they need.
    pub fn wide(mut self, wide: bool) -> Table<W> {
        self.wide = wide;
        self
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
    "INIT ms",
    "CAUSE",
    "EVIDENCE",
];

/// `--wide`: the widths of the columns before the evidence (which ends the row).
const WIDTHS: [usize; 6] = [24, 20, 36, 23, 22, 20];

/// The default table fits a terminal of this many columns.
pub const COLUMNS: usize = 120;

/// The default table's columns before the evidence: the time of day (a line gives the date),
/// function, environment (ids shortened so that they stay apart, [`short`]), init duration,
/// cause. The evidence wraps in what is left of [`COLUMNS`].
const COMPACT: [(&str, usize); 5] = [
    ("TIME (UTC)", 12),
    ("FUNCTION", 14),
    ("ENV", crate::cause::SHORT_ID),
    ("INIT ms", 8),
    ("CAUSE", 20),
];

/// Where the compact evidence starts, and how wide it may be.
const EVIDENCE_AT: usize = 12 + 1 + 14 + 1 + crate::cause::SHORT_ID + 1 + 8 + 1 + 20 + 1;
const EVIDENCE_WIDTH: usize = COLUMNS - EVIDENCE_AT;

/// Appends `text` in lines of at most `width` characters, broken at spaces (a longer word is
/// cut), every line after the first indented by `indent` spaces.
fn push_wrapped(row: &mut String, text: &str, indent: usize, width: usize) {
    let mut used = 0;
    for word in text.split(' ') {
        let mut word = word;
        loop {
            let len = word.chars().count();
            let gap = usize::from(used > 0);
            if used + gap + len <= width {
                if gap == 1 {
                    row.push(' ');
                }
                row.push_str(word);
                used += gap + len;
                break;
            }
            if used > 0 {
                row.push('\n');
                row.extend(std::iter::repeat_n(' ', indent));
                used = 0;
                continue;
            }
            // A word longer than a whole line: cut it.
            let cut = word
                .char_indices()
                .nth(width)
                .map_or(word.len(), |(i, _)| i);
            row.push_str(&word[..cut]);
            used = width;
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
}

/// `text` left-aligned in `width` characters, cut with "…" when longer, then a space.
fn push_cell(row: &mut String, text: &str, width: usize) {
    match text.char_indices().nth(width) {
        None => {
            row.push_str(text);
            let len = text.chars().count();
            row.extend(std::iter::repeat_n(' ', width - len));
        }
        Some(_) => {
            let cut = text
                .char_indices()
                .nth(width - 1)
                .map_or(text.len(), |(i, _)| i);
            row.push_str(&text[..cut]);
            row.push('…');
        }
    }
    row.push(' ');
}

/// One decimal, through integers: `{:.1}` formats floats exactly, which costs more than the
/// rest of a row.
fn push_ms(out: &mut String, v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() && v.abs() < 1e15 => {
            let tenths = (v * 10.0).round() as i64;
            let sign = if tenths < 0 { "-" } else { "" };
            let _ = write!(out, "{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10);
        }
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push('?'),
    }
}

/// The init duration and its split: "39.0 (30.0+9.0)", "39.0", or "?" when Lambda reported
/// no duration.
fn push_init_split(out: &mut String, a: &Attribution) {
    push_ms(out, a.init_duration_ms);
    if a.runtime_init_ms.is_some() || a.extensions_init_ms.is_some() {
        out.push_str(" (");
        push_ms(out, a.runtime_init_ms);
        out.push('+');
        push_ms(out, a.extensions_init_ms);
        out.push(')');
    }
}

/// A failed init's outcome, before why it happened: it bought nothing.
fn push_outcome(out: &mut String, a: &Attribution) {
    if a.failed() {
        out.push_str("INIT FAILED (");
        out.push_str(a.init_status.as_deref().unwrap_or("?"));
        if let Some(kind) = &a.init_error_type {
            out.push(' ');
            out.push_str(kind);
        }
        out.push_str("); ");
    }
}

/// Durations for the summary: "1.9 s", "52 s", "13.8 ms" (markers measure microseconds, so a
/// short init keeps its tenth of a millisecond instead of becoming "0.01 s").
fn seconds(ms: f64) -> String {
    let s = ms / 1000.0;
    if s >= 100.0 {
        format!("{s:.0} s")
    } else if s >= 1.0 {
        format!("{s:.1} s")
    } else {
        format!("{ms:.1} ms")
    }
}

/// `value` with `digits` significant digits (whole numbers are never cut): `0.0000733`,
/// `4.40`, `1234`.
fn significant(value: f64, digits: i32) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).clamp(0, 15) as usize;
    format!("{value:.decimals$}")
}

/// Money with three significant digits below a dollar (a day of inits costs fractions of a
/// cent), cents above.
fn money(cost: Option<f64>) -> String {
    cost.map_or_else(String::new, |c| {
        if c.abs() >= 1.0 {
            format!("  ${c:.2}")
        } else {
            format!("  ${}", significant(c, 3))
        }
    })
}

/// GB-seconds with three significant digits (a 128 MB function's 10 ms init is 0.00125 GB-s).
fn gb_s(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        significant(value, 3)
    }
}

fn totals_line(t: &CauseTotals) -> String {
    let mut line = format!(
        "{} cold start{}, {} of init",
        t.cold_starts,
        if t.cold_starts == 1 { "" } else { "s" },
        seconds(t.init_ms),
    );
    // All on Managed Instances: no GB-s figure at all, the note says why.
    if t.managed_instances < t.cold_starts {
        line.push_str(&format!(
            ", {} GB-s billed{}",
            gb_s(t.gb_seconds),
            money(t.cost)
        ));
    }
    if t.unknown_duration > 0 {
        line.push_str(&format!(
            " ({} without a known duration or memory size)",
            t.unknown_duration
        ));
    }
    line.push_str(&managed_instances_note(t));
    line
}

/// What bought nothing: failed inits and environments that never served a request.
fn waste_line(t: &CauseTotals) -> Option<String> {
    let mut parts = Vec::new();
    if t.failed_inits > 0 {
        parts.push(format!(
            "{} failed init{} ({} GB-s{})",
            t.failed_inits,
            if t.failed_inits == 1 { "" } else { "s" },
            gb_s(t.failed_gb_seconds),
            money(t.failed_cost)
        ));
    }
    if t.unused_inits > 0 {
        parts.push(format!(
            "{} environment{} that served no request ({} GB-s of init{})",
            t.unused_inits,
            if t.unused_inits == 1 { "" } else { "s" },
            gb_s(t.unused_gb_seconds),
            money(t.unused_cost)
        ));
    }
    (!parts.is_empty()).then(|| format!("paid for nothing: {}", parts.join("; ")))
}

/// Lambda Managed Instances' inits are not billed per GB-second: say so instead of a figure.
fn managed_instances_note(t: &CauseTotals) -> String {
    match t.managed_instances {
        0 => String::new(),
        n if n == t.cold_starts => {
            " (Managed Instances: no GB-s, capacity is priced per EC2 instance)".to_string()
        }
        n => format!(
            " ({n} on Managed Instances: not in the GB-s, capacity is priced per EC2 instance)"
        ),
    }
}

impl<W: Write> Render for Table<W> {
    fn init(&mut self, a: &Attribution) -> std::io::Result<()> {
        if self.wide {
            self.wide_row(a)
        } else {
            self.compact_row(a)
        }
    }

    fn finish(&mut self, summary: &[FunctionSummary]) -> std::io::Result<()> {
        let mut shown: Option<(&str, usize)> = None;
        let mut rest = CauseTotals::default();
        let mut rest_tenants = 0usize;
        for (i, f) in summary.iter().enumerate() {
            let count = match shown {
                Some((name, n)) if name == f.function_name => n + 1,
                _ => 1,
            };
            shown = Some((&f.function_name, count));
            if f.tenant_id.is_some() && count > self.top_tenants {
                rest.cold_starts += f.total.cold_starts;
                rest.gb_seconds += f.total.gb_seconds;
                rest_tenants += 1;
            } else {
                self.group(f)?;
            }
            let last_of_function = summary
                .get(i + 1)
                .is_none_or(|next| next.function_name != f.function_name);
            if last_of_function && rest_tenants > 0 {
                writeln!(
                    self.out,
                    "\n{} · {rest_tenants} more tenant{}: {} cold start{}, {} GB-s billed",
                    f.function_name,
                    if rest_tenants == 1 { "" } else { "s" },
                    rest.cold_starts,
                    if rest.cold_starts == 1 { "" } else { "s" },
                    gb_s(rest.gb_seconds)
                )?;
                rest = CauseTotals::default();
                rest_tenants = 0;
            }
        }
        self.out.flush()
    }
}

impl<W: Write> Table<W> {
    /// `--wide`: every column, whole ids, the evidence unwrapped.
    fn wide_row(&mut self, a: &Attribution) -> std::io::Result<()> {
        let Table { row, cell, .. } = self;
        row.clear();
        if !self.header_written {
            self.header_written = true;
            for (title, width) in HEADER.iter().zip(WIDTHS) {
                push_cell(row, title, width);
            }
            row.push_str(HEADER[6]);
            row.push('\n');
        }
        push_cell(row, ms_text(a.timestamp_ms).as_str(), WIDTHS[0]);
        push_cell(row, &a.function_name, WIDTHS[1]);
        push_cell(row, &a.env_id, WIDTHS[2]);
        cell.clear();
        cell.push_str(&a.init_type);
        if a.init_phase == "invoke" {
            cell.push_str(" (invoke)");
        }
        push_cell(row, cell, WIDTHS[3]);
        cell.clear();
        push_init_split(cell, a);
        push_cell(row, cell, WIDTHS[4]);
        push_cell(row, a.cause.as_str(), WIDTHS[5]);
        push_outcome(row, a);
        row.push_str(&a.evidence.words_full());
        row.push('\n');
        self.out.write_all(row.as_bytes())
    }

    /// The default row: at most [`COLUMNS`] wide, the evidence wrapped under its column.
    fn compact_row(&mut self, a: &Attribution) -> std::io::Result<()> {
        let Table { row, cell, .. } = self;
        row.clear();
        if !self.header_written {
            self.header_written = true;
            for (title, width) in COMPACT {
                push_cell(row, title, width);
            }
            row.push_str(HEADER[6]);
            row.push('\n');
        }
        let time = ms_text(a.timestamp_ms);
        let day = a.timestamp_ms.div_euclid(86_400_000);
        if self.day != Some(day) {
            self.day = Some(day);
            row.push_str("── ");
            row.push_str(time.as_str().get(..10).unwrap_or(time.as_str()));
            row.push_str(" ──\n");
        }
        push_cell(
            row,
            time.as_str().get(11..23).unwrap_or(time.as_str()),
            COMPACT[0].1,
        );
        push_cell(row, &a.function_name, COMPACT[1].1);
        push_cell(row, &short(&a.env_id), COMPACT[2].1);
        cell.clear();
        push_ms(cell, a.init_duration_ms);
        push_cell(row, cell, COMPACT[3].1);
        push_cell(row, a.cause.as_str(), COMPACT[4].1);
        cell.clear();
        push_outcome(cell, a);
        // The init type where the cause does not say it already.
        let said = matches!(a.cause, Cause::Provisioned | Cause::SnapStart);
        if a.init_type != "on-demand" && !said {
            cell.push('[');
            cell.push_str(&a.init_type);
            cell.push_str("] ");
        }
        cell.push_str(&a.evidence.words());
        push_wrapped(row, cell, EVIDENCE_AT, EVIDENCE_WIDTH);
        row.push('\n');
        self.out.write_all(row.as_bytes())
    }

    /// One summary group: its totals, what bought nothing, and each cause's share.
    fn group(&mut self, f: &FunctionSummary) -> std::io::Result<()> {
        writeln!(self.out)?;
        match &f.tenant_id {
            None => writeln!(self.out, "{}: {}", f.function_name, totals_line(&f.total))?,
            Some(tenant) => writeln!(
                self.out,
                "{} · tenant {}: {}",
                f.function_name,
                tenant.as_deref().unwrap_or("(none)"),
                totals_line(&f.total)
            )?,
        }
        if let Some(line) = waste_line(&f.total) {
            writeln!(self.out, "  {line}")?;
        }
        for (cause, t) in &f.causes {
            let unused = match t.unused_inits {
                0 => String::new(),
                n => format!(
                    " ({n} served no request: {} GB-s)",
                    gb_s(t.unused_gb_seconds)
                ),
            };
            writeln!(
                self.out,
                "  {} {}: {} of init, {} GB-s{}{}{unused}",
                t.cold_starts,
                if t.cold_starts == 1 {
                    cause.singular()
                } else {
                    cause.plural()
                },
                seconds(t.init_ms),
                gb_s(t.gb_seconds),
                money(t.cost),
                managed_instances_note(t)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(text: &str, width: usize) -> String {
        let mut row = String::new();
        push_cell(&mut row, text, width);
        row
    }

    #[test]
    fn cells_are_padded_or_cut_by_characters() {
        for (text, width) in [("abc", 5), ("abcde", 5), ("", 3), ("ééé", 3), ("é", 4)] {
            assert_eq!(
                cell(text, width),
                format!("{text:<width$} "),
                "{text} {width}"
            );
        }
        assert_eq!(cell("abcdef", 5), "abcd… ");
        assert_eq!(cell("éééééé", 3), "éé… ");
        assert_eq!(cell("configuration-change", 8), "configu… ");
    }

    #[test]
    fn durations_have_one_decimal() {
        let mut text = String::new();
        for v in [Some(39.0), Some(0.04), Some(-2.25), Some(1e16), None] {
            push_ms(&mut text, v);
            text.push('|');
        }
        assert_eq!(text, "39.0|0.0|-2.3|10000000000000000|?|");
    }

    #[test]
    fn managed_instances_say_why_they_have_no_gb_seconds() {
        let all = CauseTotals {
            cold_starts: 2,
            init_ms: 3_000.0,
            managed_instances: 2,
            ..CauseTotals::default()
        };
        assert_eq!(
            totals_line(&all),
            "2 cold starts, 3.0 s of init \
             (Managed Instances: no GB-s, capacity is priced per EC2 instance)"
        );
        let some = CauseTotals {
            cold_starts: 3,
            managed_instances: 1,
            ..all
        };
        assert!(totals_line(&some).ends_with(
            "(1 on Managed Instances: not in the GB-s, capacity is priced per EC2 instance)"
        ));
        let none = CauseTotals {
            managed_instances: 0,
            ..some
        };
        assert!(!totals_line(&none).contains("Managed"));
    }
}
