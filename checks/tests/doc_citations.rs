//! docs/security.md proves each claim by naming a test: the "proved by" column of its claim
//! tables names files (`path/to/file.rs`, or a tail of one, such as `hostile_binary.rs` or
//! `lifecycle/tests/shutdown_only.rs`) and, after each, backticked test functions in it. A
//! citation that names a file that is gone, or a function that is not there or is not a test,
//! proves nothing; this test finds every one, so a rename cannot quietly leave a claim unproved.

mod checker;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use syn::{Item, ItemFn};

/// Documents whose claim tables cite tests.
const DOCS: &[&str] = &["docs/security.md"];
/// Fewer cited tests than this means the tables were not read (a format change), not that all
/// is well.
const AT_LEAST: usize = 30;

/// One backticked test name cited after a file in a "proved by" cell.
#[derive(Debug)]
struct Citation {
    doc: &'static str,
    line: usize,
    file: String,
    test: Option<String>,
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test {
            Some(test) => write!(f, "{}:{}: `{}` `{test}`", self.doc, self.line, self.file),
            None => write!(f, "{}:{}: `{}`", self.doc, self.line, self.file),
        }
    }
}

/// The backticked spans of `text`, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn is_file(span: &str) -> bool {
    span.ends_with(".rs")
}

/// A Rust function name as tests are named: lower snake case with at least one `_`.
fn is_test_name(span: &str) -> bool {
    span.contains('_')
        && span.starts_with(|c: char| c.is_ascii_lowercase())
        && span
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The last cell of every table row but the header and its rule: the "proved by" column.
fn citations(doc: &'static str, text: &str) -> Vec<Citation> {
    let mut found = Vec::new();
    let mut header = true;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('|') {
            header = true;
            continue;
        }
        // The header row, then its `|---|` rule: neither cites anything.
        if line.starts_with("|---") {
            header = false;
            continue;
        }
        if header {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        let Some(proof) = cells.last() else { continue };
        let mut file: Option<String> = None;
        for span in backticked(proof) {
            if is_file(span) {
                file = Some(span.to_owned());
                found.push(Citation {
                    doc,
                    line: i + 1,
                    file: span.to_owned(),
                    test: None,
                });
            } else if let (Some(file), true) = (&file, is_test_name(span)) {
                found.push(Citation {
                    doc,
                    line: i + 1,
                    file: file.clone(),
                    test: Some(span.to_owned()),
                });
            }
        }
    }
    found
}

/// Every `.rs` file of the workspace (outside `target/` and hidden directories).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The one file `cited` names: the path from the root, else the only file whose path ends
/// with it.
fn resolve(root: &Path, files: &[PathBuf], cited: &str) -> Result<PathBuf, String> {
    let direct = root.join(cited);
    if direct.is_file() {
        return Ok(direct);
    }
    let tail = format!("/{cited}");
    let matches: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(&tail))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err("no such file".into()),
        many => Err(format!(
            "names {} files: {}",
            many.len(),
            many.iter()
                .map(|p| checker::relative(root, p))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Every function of `items`, inline modules included.
fn functions<'a>(items: &'a [Item], out: &mut Vec<&'a ItemFn>) {
    for item in items {
        match item {
            Item::Fn(f) => out.push(f),
            Item::Mod(m) => {
                if let Some((_, inner)) = &m.content {
                    functions(inner, out);
                }
            }
            _ => {}
        }
    }
}

/// `#[test]`, `#[tokio::test]`, or any attribute whose last segment is `test`.
fn is_test(f: &ItemFn) -> bool {
    f.attrs.iter().any(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "test")
    })
}

fn check(root: &Path, files: &[PathBuf], citation: &Citation) -> Result<(), String> {
    let path = resolve(root, files, &citation.file)?;
    let Some(test) = &citation.test else {
        return Ok(());
    };
    let source = fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let parsed = syn::parse_file(&source).map_err(|e| format!("not parsed: {e}"))?;
    let mut all = Vec::new();
    functions(&parsed.items, &mut all);
    match all.iter().find(|f| f.sig.ident == test.as_str()) {
        None => Err(format!(
            "no `fn {test}` in {}",
            checker::relative(root, &path)
        )),
        Some(f) if !is_test(f) => Err(format!(
            "`fn {test}` in {} is not a test (#[test] or #[tokio::test])",
            checker::relative(root, &path)
        )),
        Some(_) => Ok(()),
    }
}

#[test]
fn every_test_docs_security_cites_exists_and_is_a_test() {
    let root = checker::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("the workspace root above this crate");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut cited = Vec::new();
    for doc in DOCS {
        let text = fs::read_to_string(root.join(doc)).expect("the doc");
        cited.extend(citations(doc, &text));
    }
    let tests = cited.iter().filter(|c| c.test.is_some()).count();
    assert!(
        tests >= AT_LEAST,
        "only {tests} cited tests found (at least {AT_LEAST} expected): {cited:#?}"
    );
    let broken: Vec<String> = cited
        .iter()
        .filter_map(|c| {
            check(&root, &files, c)
                .err()
                .map(|why| format!("{c}: {why}"))
        })
        .collect();
    assert!(
        broken.is_empty(),
        "broken citations:\n{}",
        broken.join("\n")
    );
}

#[test]
fn citations_are_read_from_the_proof_column_after_their_file() {
    let doc = "\
| claim | proved by |
|---|---|
| a `not_a_test` claim | `a/tests/one.rs` `first_test`, `second_test`; `two.rs` `third_test` (measured: `413`) |

| other | columns |
|---|---|
| `x.rs` | `b/tests/three.rs` `fourth_test` |
";
    let found: Vec<(String, Option<String>)> = citations("doc.md", doc)
        .into_iter()
        .map(|c| (c.file, c.test))
        .collect();
    let name = |s: &str| Some(s.to_owned());
    assert_eq!(
        found,
        [
            ("a/tests/one.rs".into(), None),
            ("a/tests/one.rs".into(), name("first_test")),
            ("a/tests/one.rs".into(), name("second_test")),
            ("two.rs".into(), None),
            ("two.rs".into(), name("third_test")),
            ("b/tests/three.rs".into(), None),
            ("b/tests/three.rs".into(), name("fourth_test")),
        ]
    );
}
