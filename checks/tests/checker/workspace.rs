//! The workspace's crates and each crate's targets, read from the manifests (no `cargo
//! metadata`: the member list, `[lib]`/`[[bin]]` paths and Cargo's default target files).

use std::fs;
use std::path::{Path, PathBuf};

use super::CheckError;

pub struct Workspace {
    pub root: PathBuf,
    pub crates: Vec<Crate>,
}

pub struct Crate {
    /// The package name, as `cargo test -p` takes it.
    pub name: String,
    pub dir: PathBuf,
    /// The root file of each target (lib, bins): each is its own module tree.
    pub roots: Vec<PathBuf>,
}

/// The nearest directory from `start` upwards whose `Cargo.toml` has a `[workspace]` table.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let text = fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        let has_workspace = sections(&text).any(|(section, _)| section == "workspace");
        has_workspace.then(|| dir.to_path_buf())
    })
}

pub fn load(root: &Path) -> Result<Workspace, CheckError> {
    let manifest = root.join("Cargo.toml");
    let text = read(&manifest)?;
    let members = string_array(&text, "workspace", "members").ok_or(CheckError::Manifest {
        path: manifest.clone(),
        problem: "no `members = [...]` in `[workspace]`",
    })?;
    let mut crates = Vec::new();
    for member in members {
        for dir in expand_member(root, &member)? {
            crates.push(load_crate(&dir)?);
        }
    }
    crates.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(Workspace {
        root: root.to_path_buf(),
        crates,
    })
}

/// A member entry is a directory or `dir/*` (the one glob form a flat workspace needs).
fn expand_member(root: &Path, member: &str) -> Result<Vec<PathBuf>, CheckError> {
    let Some(parent) = member.strip_suffix("/*") else {
        return Ok(vec![root.join(member)]);
    };
    let dir = root.join(parent);
    let entries = fs::read_dir(&dir).map_err(|source| CheckError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn load_crate(dir: &Path) -> Result<Crate, CheckError> {
    let manifest = dir.join("Cargo.toml");
    let text = read(&manifest)?;
    let name = string_value(&text, "package", "name").ok_or(CheckError::Manifest {
        path: manifest.clone(),
        problem: "no `name` in `[package]`",
    })?;
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut add = |path: PathBuf| {
        if path.is_file() && !roots.contains(&path) {
            roots.push(path);
        }
    };
    for (section, body) in sections(&text) {
        if section == "lib" || section == "bin" {
            if let Some(path) = key_value(body, "path").and_then(|v| quoted(&v).into_iter().next())
            {
                add(dir.join(path));
            }
        }
    }
    // Cargo's automatic targets.
    add(dir.join("src/lib.rs"));
    add(dir.join("src/main.rs"));
    if let Ok(entries) = fs::read_dir(dir.join("src/bin")) {
        let mut bins: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .map(|path| {
                if path.is_dir() {
                    path.join("main.rs")
                } else {
                    path
                }
            })
            .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
            .collect();
        bins.sort();
        bins.into_iter().for_each(&mut add);
    }
    Ok(Crate {
        name,
        dir: dir.to_path_buf(),
        roots,
    })
}

fn read(path: &Path) -> Result<String, CheckError> {
    fs::read_to_string(path).map_err(|source| CheckError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The manifest's tables in order, as (name, body) with `[[bin]]` named `bin`.
fn sections(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut starts: Vec<(usize, &str)> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let name = trimmed.trim_start_matches('[');
            let name = name.split(']').next().unwrap_or("").trim();
            starts.push((offset, name));
        }
        offset += line.len();
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|(start, _)| *start)
        .chain(std::iter::once(text.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .map(move |((start, name), end)| (name, &text[start..end]))
}

/// The raw value of `key = …` in a table body, up to the closing `]` for arrays.
fn key_value(body: &str, key: &str) -> Option<String> {
    let mut lines = body.lines().skip(1).map(strip_comment);
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.trim() != key {
            continue;
        }
        let mut value = value.trim().to_string();
        if value.starts_with('[') {
            while !value.contains(']') {
                match lines.next() {
                    Some(more) => value.push_str(more),
                    None => break,
                }
            }
        }
        return Some(value);
    }
    None
}

fn string_value(text: &str, section: &str, key: &str) -> Option<String> {
    sections(text)
        .filter(|(name, _)| *name == section)
        .find_map(|(_, body)| key_value(body, key))
        .and_then(|value| quoted(&value).into_iter().next())
}

fn string_array(text: &str, section: &str, key: &str) -> Option<Vec<String>> {
    sections(text)
        .filter(|(name, _)| *name == section)
        .find_map(|(_, body)| key_value(body, key))
        .map(|value| quoted(&value))
}

/// The quoted strings in a TOML value (`"…"` or `'…'`, no escapes: member names and paths).
fn quoted(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(['"', '\'']) {
        let quote = rest.as_bytes()[start] as char;
        let after = &rest[start + 1..];
        let Some(len) = after.find(quote) else { break };
        out.push(after[..len].to_string());
        rest = &after[len + 1..];
    }
    out
}

/// A line without its `#` comment (a `#` inside a quoted string is kept).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}
