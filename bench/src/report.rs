//! Markdown tables for BENCHMARKS.md, printed as the measurements finish.

use std::fmt::Write as _;

/// A markdown table built row by row.
pub struct Table {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

impl Table {
    pub fn new(title: &str, headers: &[&str]) -> Self {
        Self {
            title: title.to_string(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.title);
        let _ = writeln!(out, "| {} |", self.headers.join(" | "));
        let _ = writeln!(
            out,
            "|{}|",
            self.headers
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        out
    }

    /// Prints the table now (results appear as each measurement ends, not at the very end).
    pub fn print(&self) {
        println!("{}", self.render());
    }
}

/// Milliseconds with three decimals.
pub fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".to_string()
    } else {
        format!("{v:.3}")
    }
}

/// A ratio to a baseline, e.g. "2.41×".
pub fn ratio(v: f64, base: f64) -> String {
    if base > 0.0 && v.is_finite() {
        format!("{:.2}×", v / base)
    } else {
        "–".to_string()
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// "met" / "NOT met".
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_renders_as_markdown() {
        let mut t = Table::new("Init", &["extension", "median ms"]);
        t.row(vec!["coldmark".into(), ms(1.23456)]);
        let text = t.render();
        assert!(text.contains("| extension | median ms |"));
        assert!(text.contains("|---|---|"));
        assert!(text.contains("| coldmark | 1.235 |"));
    }

    #[test]
    fn ratios_guard_against_zero_baselines() {
        assert_eq!(ratio(2.0, 1.0), "2.00×");
        assert_eq!(ratio(2.0, 0.0), "–");
    }
}
