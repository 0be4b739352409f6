//! The checker shared by the integration tests: workspace discovery, each crate's module tree,
//! the references between modules, their cycles, and the size of each source file.
//!
//! Each test binary uses part of it (`module_cycles` the graph, `file_sizes` the line counts), so
//! the parts the other binary uses would read as dead code here.
#![allow(dead_code)]

pub mod attrs;
pub mod cycles;
pub mod fixture;
pub mod refs;
pub mod resolve;
pub mod sizes;
pub mod source;
pub mod tree;
pub mod workspace;

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a check could not read the tree at all (as opposed to a finding in it).
#[derive(Debug)]
pub enum CheckError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    Manifest {
        path: PathBuf,
        problem: &'static str,
    },
    MissingModule {
        declared_in: PathBuf,
        line: usize,
        name: String,
        tried: Vec<PathBuf>,
    },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            CheckError::Parse {
                path,
                line,
                message,
            } => write!(
                f,
                "{}:{line}: not parsed as Rust: {message}",
                path.display()
            ),
            CheckError::Manifest { path, problem } => {
                write!(f, "{}: {problem}", path.display())
            }
            CheckError::MissingModule {
                declared_in,
                line,
                name,
                tried,
            } => {
                let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "{}:{line}: `mod {name};` has no file (tried {})",
                    declared_in.display(),
                    tried.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for CheckError {}

/// `path` relative to `root` when it is inside it, for messages a developer can click.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
