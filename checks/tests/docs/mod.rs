//! What the doc checks share: the workspace's Markdown files, where a Markdown parser renders
//! tables and code blocks in them, and the figures (numbers) in a piece of text.
//!
//! Each test binary uses part of it (`markdown_tables` the layout, `bench_figures` the blocks
//! and numbers), so the parts the other binary uses would read as dead code here.
#![allow(dead_code)]

use std::ops::Range;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag};

/// The workspace root (this crate's parent folder).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("checks/ sits in the workspace")
        .to_path_buf()
}

/// Every `*.md` file of the repository, as paths relative to the root, sorted. Build output,
/// dependencies and hidden folders (`target/`, `dist/`, `.git/`) are not the repository's docs.
pub fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !(name.starts_with('.') || matches!(name, "target" | "dist" | "node_modules")) {
                    dirs.push(path);
                }
            } else if name.ends_with(".md") {
                found.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    found.sort();
    found
}

pub fn read(root: &Path, relative: &str) -> String {
    let path = root.join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A table as the parser rendered it: its lines (0-based, inclusive) and its header's columns.
#[derive(Debug, PartialEq)]
pub struct RenderedTable {
    pub first_line: usize,
    pub last_line: usize,
    pub columns: usize,
}

/// Where the parser put tables and code (fenced or indented code blocks, HTML blocks).
#[derive(Debug, Default)]
pub struct Layout {
    pub tables: Vec<RenderedTable>,
    /// Lines inside code or HTML blocks: a `|` there is not a table row.
    pub code_lines: Vec<Range<usize>>,
}

impl Layout {
    /// Parses `text` as GitHub does (CommonMark with GFM tables).
    pub fn of(text: &str) -> Self {
        let line_of = LineIndex::new(text);
        let mut layout = Layout::default();
        let parser = Parser::new_ext(text, Options::ENABLE_TABLES).into_offset_iter();
        for (event, range) in parser {
            let lines = line_of.line(range.start)..line_of.line(range.end.saturating_sub(1)) + 1;
            match event {
                Event::Start(Tag::Table(alignments)) => layout.tables.push(RenderedTable {
                    first_line: lines.start,
                    last_line: lines.end - 1,
                    columns: alignments.len(),
                }),
                Event::Start(Tag::CodeBlock(_)) | Event::Start(Tag::HtmlBlock) => {
                    layout.code_lines.push(lines)
                }
                _ => {}
            }
        }
        layout
    }

    pub fn table_at(&self, line: usize) -> Option<&RenderedTable> {
        self.tables
            .iter()
            .find(|t| (t.first_line..=t.last_line).contains(&line))
    }

    pub fn is_code(&self, line: usize) -> bool {
        self.code_lines.iter().any(|r| r.contains(&line))
    }
}

/// Byte offset → 0-based line.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex(starts)
    }

    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset) - 1
    }
}

/// The cells of a table row as GFM splits it: on every `|` not escaped by a backslash (inside a
/// code span too), leading and trailing pipes optional.
pub fn cells(row: &str) -> Vec<String> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let mut cells = vec![String::new()];
    let mut chars = row.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let cell = cells.last_mut().expect("one cell at least");
                cell.push(c);
                cell.extend(chars.next());
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().expect("one cell at least").push(c),
        }
    }
    // A trailing pipe closes the last cell rather than opening a new one.
    if cells.len() > 1 && cells.last().is_some_and(|c| c.trim().is_empty()) {
        cells.pop();
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The text of `block` in BENCHMARKS.md: between `<!-- block:start -->` and
/// `<!-- block:end -->` when it has such markers, else under the heading `## block` up to the
/// next heading of that level.
pub fn block<'a>(text: &'a str, block: &str) -> Option<&'a str> {
    let (start, end) = (
        format!("<!-- {block}:start -->"),
        format!("<!-- {block}:end -->"),
    );
    if let (Some(s), Some(e)) = (text.find(&start), text.find(&end)) {
        return Some(&text[s + start.len()..e]);
    }
    let heading = format!("\n## {block}\n");
    let s = text.find(&heading)? + heading.len();
    let e = text[s..].find("\n## ").map_or(text.len(), |e| s + e);
    Some(&text[s..e])
}

/// Whitespace runs (line breaks included) as one space: a phrase may wrap anywhere.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A number in text, as written and as a value (`2,788,016` → 2788016.0).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub written: String,
    pub value: f64,
    /// Byte offset in the text it was read from.
    pub at: usize,
}

/// Every number in `text`: digits with `,` thousands separators and a decimal point. Numbers
/// inside a longer token of letters or digits (`v1`, `2026-12-02`, `GLIBC_2.17`) count too, so
/// callers decide what a figure is.
pub fn figures(text: &str) -> Vec<Figure> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() {
            let c = bytes[i];
            let joins_digits =
                (c == b',' || c == b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if c.is_ascii_digit() || joins_digits {
                i += 1;
            } else {
                break;
            }
        }
        let written = &text[start..i];
        if let Ok(value) = written.replace(',', "").parse::<f64>() {
            found.push(Figure {
                written: written.to_owned(),
                value,
                at: start,
            });
        }
    }
    found
}

/// The blocks of prose of a Markdown text, each as its source text: paragraphs, list items
/// (a tight list's items hold no paragraph) and table rows.
pub fn prose_blocks(text: &str) -> Vec<&str> {
    Parser::new_ext(text, Options::ENABLE_TABLES)
        .into_offset_iter()
        .filter(|(event, _)| {
            matches!(
                event,
                Event::Start(Tag::Paragraph | Tag::Item | Tag::TableRow | Tag::TableHead)
            )
        })
        .map(|(_, range)| &text[range])
        .collect()
}
