//! The README's first command compiles each crate once. `cargo run -p coldmark-sandbox --
//! experiment` builds the sandbox, then the experiment builds the clock function and the
//! extension with a second cargo build (src/artifacts.rs). Cargo reuses what the first build
//! compiled only where the second resolves a crate with the same features; a crate resolved
//! with other features (tokio, serde, rustls, ring...) is compiled again, and everything that
//! depends on it. The sandbox lists the extension and the clock's runtime among its own
//! dependencies, and the experiment asks cargo for the sandbox too, so both builds resolve the
//! same: this test reads both resolutions with `cargo tree` and fails on any crate whose
//! features differ.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// `cargo tree` of `packages` as one set of `name version features` lines (normal and build
/// dependencies, as `cargo build` compiles them).
fn resolved(packages: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = Command::new(cargo);
    command.current_dir(&root).args([
        "tree",
        "--edges",
        "normal,build",
        "--prefix",
        "none",
        "--format",
        "{p} [{f}]",
    ]);
    for package in packages {
        command.args(["-p", package]);
    }
    let output = command.output().expect("running cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim_end_matches(" (*)").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_experiments_build_resolves_every_crate_as_the_sandboxs_own_build() {
    let sandbox = resolved(&["coldmark-sandbox"]);
    let experiment = resolved(&["coldmark-sandbox", "coldmark-clock", "coldmark-extension"]);
    let extension =
        |set: &BTreeSet<String>| set.iter().any(|l| l.starts_with("coldmark-extension "));
    assert!(
        extension(&sandbox),
        "the sandbox's own build no longer includes coldmark-extension: the experiment would \
         build it and its dependencies a second time"
    );
    let differ: Vec<&String> = experiment
        .symmetric_difference(&sandbox)
        .filter(|l| !l.starts_with("coldmark-clock "))
        .collect();
    assert!(
        differ.is_empty(),
        "the experiment's build resolves these crates otherwise than `cargo run -p \
         coldmark-sandbox` (so it compiles them again): give the sandbox's Cargo.toml the \
         dependency or feature the function or the extension brings\n{differ:#?}"
    );
}
