//! Every Markdown table of the repository renders as a table, whole: each line that starts with
//! `|` (outside code blocks) is a row of a table the Markdown parser rendered, with as many cells
//! as that table's header, and no line of a rendered table is anything but such a row.
//!
//! What this catches, each seen in these docs before: a paragraph between two rows (the rows
//! after it render as a paragraph of pipes), an unescaped `|` in a cell (one more column, the
//! row's last cells dropped or shifted), and a line of prose that a table swallowed as a row.

mod docs;

use docs::{cells, Layout};

/// What is wrong with the tables of one Markdown text, one line per finding (`name:line: ...`).
fn table_problems(name: &str, text: &str) -> Vec<String> {
    let layout = Layout::of(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let number = i + 1;
        let is_row = line.trim_start().starts_with('|') && !line.starts_with("    ");
        if layout.is_code(i) {
            continue;
        }
        let delimiter_below = lines.get(i + 1).filter(|l| is_delimiter_row(l));
        match (layout.table_at(i), is_row) {
            (None, true)
                if delimiter_below.is_some_and(|d| cells(d).len() != cells(line).len()) =>
            {
                problems.push(format!(
                    "{name}:{number}: a table header of {} cells over a delimiter row of {}: an \
                     unescaped `|` in a header cell (write `\\|`), so no table renders",
                    cells(line).len(),
                    delimiter_below.map_or(0, |d| cells(d).len())
                ))
            }
            (None, true) => problems.push(format!(
                "{name}:{number}: looks like a table row but renders as text: a paragraph or a \
                 blank line above it ended its table, or it has no header and delimiter row"
            )),
            (Some(table), true) => {
                let found = cells(line).len();
                if found != table.columns {
                    problems.push(format!(
                        "{name}:{number}: {found} cells in a table whose header (line {}) has {}: \
                         an unescaped `|` in a cell (write `\\|`), or a cell missing",
                        table.first_line + 1,
                        table.columns
                    ));
                }
            }
            (Some(table), false) if !line.trim().is_empty() => problems.push(format!(
                "{name}:{number}: inside the table that starts on line {} but not a row (it does \
                 not start with `|`): prose swallowed as a row; leave a blank line before it",
                table.first_line + 1
            )),
            _ => {}
        }
    }
    problems
}

/// `|---|:---:|`: the line under a table's header.
fn is_delimiter_row(line: &str) -> bool {
    let cells = cells(line);
    line.trim_start().starts_with('|')
        && cells.iter().all(|c| {
            let c = c.trim_matches(':');
            !c.is_empty() && c.chars().all(|ch| ch == '-')
        })
}

#[test]
fn every_table_row_of_the_repositorys_markdown_renders_in_its_table() {
    let root = docs::root();
    let files = docs::markdown_files(&root);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    for expected in ["README.md", "BENCHMARKS.md", "docs/markers.md"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not found among {names:?}"
        );
    }
    let mut problems = Vec::new();
    let mut tables = 0;
    for name in &names {
        let text = docs::read(&root, name);
        tables += Layout::of(&text).tables.len();
        problems.extend(table_problems(name, &text));
    }
    assert!(
        tables > 30,
        "only {tables} tables rendered in {names:?}: is the parser's table extension on?"
    );
    assert!(
        problems.is_empty(),
        "tables that do not render as written:\n{}",
        problems.join("\n")
    );
}

const GOOD: &str = "Text.\n\n| a | b |\n|---|---|\n| 1 | `x \\| y` |\n| 2 | 3 |\n\nMore text.\n";

#[test]
fn a_whole_table_with_an_escaped_pipe_passes() {
    assert_eq!(table_problems("t.md", GOOD), Vec::<String>::new());
    assert_eq!(Layout::of(GOOD).tables.len(), 1);
}

#[test]
fn a_paragraph_inside_a_table_is_caught_on_the_rows_after_it() {
    let text = "| a | b |\n|---|---|\n| 1 | 2 |\n\nA paragraph.\n\n| 3 | 4 |\n| 5 | 6 |\n";
    let problems = table_problems("t.md", text);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("t.md:7: looks like a table row but renders as text"),
        "{problems:#?}"
    );
    assert!(problems[1].starts_with("t.md:8: "), "{problems:#?}");
}

#[test]
fn an_unescaped_pipe_in_a_cell_is_caught() {
    let text = "| a | \\|x\\| p99 |\n|---|---|\n| 1 | 2 |\n| 1 | |x| |\n";
    let problems = table_problems("t.md", text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("t.md:4: 4 cells in a table whose header (line 1) has 2"),
        "{problems:#?}"
    );
    // In the header, the delimiter row no longer matches: no table renders at all.
    let text = "| a | |x| p99 |\n|---|---|\n| 1 | 2 |\n";
    let problems = table_problems("t.md", text);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("t.md:1: a table header of 4 cells over a delimiter row of 2"),
        "{problems:#?}"
    );
}

#[test]
fn prose_swallowed_by_a_table_is_caught() {
    let text = "| a | b |\n|---|---|\n| 1 | 2 |\nA sentence meant as a paragraph.\n";
    let problems = table_problems("t.md", text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("t.md:4: inside the table that starts on line 1"),
        "{problems:#?}"
    );
}

#[test]
fn pipes_in_code_blocks_are_not_rows() {
    let text = "```text\n| not | a table |\n```\n\n    | indented | code |\n";
    assert_eq!(table_problems("t.md", text), Vec::<String>::new());
}

#[test]
fn cells_split_as_gfm_does() {
    assert_eq!(cells("| a | b |"), ["a", "b"]);
    assert_eq!(cells("a | b"), ["a", "b"]);
    assert_eq!(cells("| `x \\| y` | z |"), ["`x \\| y`", "z"]);
    assert_eq!(
        cells("| `x | y` | z |").len(),
        3,
        "a code span does not protect a pipe"
    );
    assert_eq!(cells("| | |"), ["", ""]);
}
