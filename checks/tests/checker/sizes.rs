//! Lines of non-test code per source file: a file's lines outside its `#[cfg(test)]` items and
//! test functions; a file that is itself a test module (`#[cfg(test)] mod tests;`) has none.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::Item;

use super::attrs;
use super::source::{Source, Sources};
use super::tree::ModuleTree;
use super::workspace::{self, Workspace};
use super::{relative, CheckError};

pub struct Oversize {
    pub file: PathBuf,
    pub lines: usize,
    pub non_test: usize,
}

pub struct Report {
    pub root: PathBuf,
    pub limit: usize,
    /// Largest first.
    pub oversize: Vec<Oversize>,
}

pub fn check_workspace(root: &Path, limit: usize) -> Result<Report, CheckError> {
    let ws = workspace::load(root)?;
    check(&ws, limit)
}

pub fn check(ws: &Workspace, limit: usize) -> Result<Report, CheckError> {
    let mut sources = Sources::default();
    let mut oversize = Vec::new();
    for krate in &ws.crates {
        let test_files = test_files(&krate.roots, &mut sources)?;
        let mut files = Vec::new();
        rust_files(&krate.dir.join("src"), &mut files)?;
        for file in files {
            if test_files.contains(&file) {
                continue;
            }
            let source = sources.get(&file)?;
            let lines = source.text.lines().count();
            let non_test = non_test_lines(&source);
            if non_test > limit {
                oversize.push(Oversize {
                    file,
                    lines,
                    non_test,
                });
            }
        }
    }
    oversize.sort_by(|a, b| b.non_test.cmp(&a.non_test).then(a.file.cmp(&b.file)));
    Ok(Report {
        root: ws.root.clone(),
        limit,
        oversize,
    })
}

/// Files whose every module is test code, in every target that reaches them.
fn test_files(roots: &[PathBuf], sources: &mut Sources) -> Result<BTreeSet<PathBuf>, CheckError> {
    let mut test = BTreeSet::new();
    let mut code = BTreeSet::new();
    for root in roots {
        for module in ModuleTree::load(root, sources)?.modules {
            if module.is_test {
                test.insert(module.file);
            } else {
                code.insert(module.file);
            }
        }
    }
    Ok(test.difference(&code).cloned().collect())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CheckError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(()); // a crate without `src/` has nothing to count
    };
    for entry in entries {
        let path = entry
            .map_err(|source| CheckError::Read {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The file's lines outside test items (a test item's attributes and doc comments are its own).
pub fn non_test_lines(source: &Source) -> usize {
    let lines = source.text.lines().count();
    if attrs::is_test_only(&source.ast.attrs) {
        return 0;
    }
    let mut test = BTreeSet::new();
    collect_items(&source.ast.items, &mut test);
    lines.saturating_sub(test.len())
}

fn collect_items(items: &[Item], lines: &mut BTreeSet<usize>) {
    for item in items {
        if attrs::is_test_only(attrs::item_attrs(item)) {
            add_span(item.span(), lines);
            continue;
        }
        match item {
            Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    collect_items(items, lines);
                }
            }
            Item::Impl(i) => {
                for item in &i.items {
                    if attrs::is_test_only(attrs::impl_item_attrs(item)) {
                        add_span(item.span(), lines);
                    }
                }
            }
            Item::Trait(t) => {
                for item in &t.items {
                    if attrs::is_test_only(attrs::trait_item_attrs(item)) {
                        add_span(item.span(), lines);
                    }
                }
            }
            _ => {}
        }
    }
}

fn add_span(span: proc_macro2::Span, lines: &mut BTreeSet<usize>) {
    lines.extend(span.start().line..=span.end().line);
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.oversize.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.oversize.is_empty() {
            return writeln!(
                f,
                "no source file over {} lines of non-test code",
                self.limit
            );
        }
        writeln!(
            f,
            "{} source file(s) over {} lines of non-test code (split each into modules with one \
             job; tests can move to a `tests.rs` beside it):",
            self.oversize.len(),
            self.limit
        )?;
        for o in &self.oversize {
            writeln!(
                f,
                "  {}: {} lines of non-test code ({} lines in all)",
                relative(&self.root, &o.file),
                o.non_test,
                o.lines
            )?;
        }
        Ok(())
    }
}
