//! From the paths each module names to the edges "module A uses an item of module B": each path
//! goes to the deepest module it names, following `use` re-exports to where the item is defined.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::tree::ModuleTree;

/// How many re-exports one path may go through (a glob importing itself must not loop forever).
const MAX_HOPS: u8 = 16;

/// `from` uses something of `to`: the first place it does so, and how many places do.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
    pub count: usize,
}

/// The edges between the target's non-test modules. Edges to the crate root are left out: the
/// root declares every module and re-exports the crate's API, which is no dependency back.
pub fn edges(tree: &ModuleTree) -> Vec<Edge> {
    let mut edges: BTreeMap<(usize, usize), Edge> = BTreeMap::new();
    for (from, module) in tree.modules.iter().enumerate() {
        if module.is_test {
            continue;
        }
        for r in &module.refs {
            let Some(to) = resolve(tree, from, &r.segments, 0) else {
                continue;
            };
            if to == from || to == 0 || tree.modules[to].is_test {
                continue;
            }
            let edge = edges.entry((from, to)).or_insert_with(|| Edge {
                from,
                to,
                file: module.file.clone(),
                line: r.line,
                text: r.text.clone(),
                count: 0,
            });
            edge.count += 1;
            if r.line < edge.line {
                edge.line = r.line;
                edge.text = r.text.clone();
            }
        }
    }
    edges.into_values().collect()
}

/// The module a path written in module `from` refers into, or `None` when it leaves the crate
/// (std, a dependency) or names something local to `from` (`Self::x`, `Enum::Variant`).
pub fn resolve(tree: &ModuleTree, from: usize, segments: &[String], hops: u8) -> Option<usize> {
    if hops > MAX_HOPS {
        return None;
    }
    let (first, rest) = segments.split_first()?;
    let module = &tree.modules[from];
    match first.as_str() {
        "crate" => walk(tree, 0, rest, hops),
        "self" => walk(tree, from, rest, hops),
        "super" => {
            let mut at = module.parent?;
            let mut rest = rest;
            while let Some(("super", tail)) = rest.split_first().map(|(s, t)| (s.as_str(), t)) {
                at = tree.modules[at].parent?;
                rest = tail;
            }
            walk(tree, at, rest, hops)
        }
        name => {
            if let Some(&child) = module.children.get(name) {
                walk(tree, child, rest, hops)
            } else if let Some(imported) = module.imports.get(name) {
                if imported.len() == 1 && imported[0] == name {
                    return None; // `use serde;`: an extern crate brought into scope
                }
                let path: Vec<String> = imported.iter().chain(rest).cloned().collect();
                resolve(tree, from, &path, hops + 1)
            } else {
                None
            }
        }
    }
}

/// Down from module `at` through `rest`: child modules are followed, an item defined in `at`
/// stops there, a name `at` imports is followed to where it comes from.
fn walk(tree: &ModuleTree, at: usize, rest: &[String], hops: u8) -> Option<usize> {
    let Some((name, tail)) = rest.split_first() else {
        return Some(at);
    };
    let module = &tree.modules[at];
    if let Some(&child) = module.children.get(name) {
        return walk(tree, child, tail, hops);
    }
    if module.defined.contains(name) {
        return Some(at);
    }
    if let Some(imported) = module.imports.get(name) {
        let path: Vec<String> = imported.iter().chain(tail).cloned().collect();
        // A re-export of something outside the crate stays with the module that re-exports it.
        return resolve(tree, at, &path, hops + 1).or(Some(at));
    }
    for glob in &module.globs {
        let Some(source) = resolve(tree, at, glob, hops + 1) else {
            continue;
        };
        let from_glob = &tree.modules[source];
        let found = from_glob.children.contains_key(name)
            || from_glob.defined.contains(name)
            || from_glob.imports.contains_key(name);
        if source != at && found {
            return walk(tree, source, rest, hops + 1);
        }
    }
    Some(at)
}
