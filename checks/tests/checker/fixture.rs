//! Synthetic workspaces for the checker's own tests: one crate, `demo`, with the given files.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

/// A workspace whose one member `demo` holds `files` (paths relative to `demo/`).
pub fn demo_crate(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(
        dir.path(),
        "Cargo.toml",
        "[workspace]\nmembers = [\n  \"demo\", # the one crate\n]\n",
    );
    write(
        dir.path(),
        "demo/Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n",
    );
    for (path, text) in files {
        write(&dir.path().join("demo"), path, text);
    }
    dir
}

fn write(base: &Path, path: &str, text: &str) {
    let path = base.join(path);
    fs::create_dir_all(path.parent().expect("a file in a directory")).expect("create directory");
    fs::write(&path, text).expect("write fixture file");
}
