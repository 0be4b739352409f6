//! Gets code ready to run: layer directories laid out like `/opt`, layer zips unpacked with
//! their executable bits, and executables built from a Cargo workspace.
//!
//! Cargo is asked for JSON messages and the executables' paths are read from them, rather than
//! guessed from `target/<profile>/`, because `CARGO_TARGET_DIR`, `--target` or a custom profile
//! move them.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde::Deserialize;

/// The workspace this binary was built from, else the first ancestor of the current directory
/// whose `Cargo.toml` declares a `[workspace]`.
pub fn workspace_root() -> Option<PathBuf> {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = compiled.ancestors().map(Path::to_path_buf).chain(
        std::env::current_dir()
            .ok()
            .into_iter()
            .flat_map(|d| d.ancestors().map(Path::to_path_buf).collect::<Vec<_>>()),
    );
    for dir in candidates {
        let manifest = dir.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            if text.lines().any(|l| l.trim() == "[workspace]") {
                return Some(dir);
            }
        }
    }
    None
}

/// The parts of cargo's `--message-format=json` lines used here.
#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    #[serde(default)]
    target: Option<CargoTarget>,
    #[serde(default)]
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
}

/// `cargo build --bins` for `packages`; returns executable name → path.
pub fn cargo_build(
    root: &Path,
    profile: &str,
    packages: &[&str],
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    cargo_build_with(root, profile, packages, &[])
}

/// [`cargo_build`] with more arguments for cargo (`--no-default-features`).
pub fn cargo_build_with(
    root: &Path,
    profile: &str,
    packages: &[&str],
    extra: &[&str],
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--bins",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--profile", profile])
        .args(extra);
    for package in packages {
        command.args(["-p", package]);
    }
    // Under `cargo run` or `cargo test` this process carries the variables cargo sets for a
    // crate (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ...). Build scripts such as ring's and cc's
    // list them in `rerun-if-env-changed`, so passing them on would make every nested build
    // and every later plain build rebuild those crates.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if is_crate_variable(key) {
            command.env_remove(key);
        }
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running cargo (is it on PATH?)")?;
    let stderr = child.stderr.take().context("cargo's stderr")?;
    // Read stderr on a thread so that neither pipe can fill up and stall cargo.
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut executables = BTreeMap::new();
    let stdout = child.stdout.take().context("cargo's stdout")?;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(message) = serde_json::from_str::<CargoMessage>(&line) else {
            continue;
        };
        if message.reason != "compiler-artifact" {
            continue;
        }
        if let (Some(target), Some(exe)) = (message.target, message.executable) {
            executables.insert(target.name, exe);
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "cargo build -p {} failed ({status}):\n{}",
            packages.join(" -p "),
            tail.join("\n")
        );
    }
    Ok(executables)
}

/// Variables cargo sets for the crate it runs or tests, not for cargo itself.
fn is_crate_variable(key: &str) -> bool {
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_BIN_", "CARGO_CFG_", "CARGO_MANIFEST_"];
    const EXACT: &[&str] = &[
        "CARGO_CRATE_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p)) || EXACT.contains(&key)
}

/// A temporary layer directory laid out like `/opt`: `extensions/<name>`, a copy of each
/// executable given.
pub fn layer(extensions: &[(&str, &Path)]) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("lambda-layer-")
        .tempdir()
        .context("creating the layer directory")?;
    let directory = dir.path().join("extensions");
    std::fs::create_dir_all(&directory).context("creating extensions/")?;
    for (name, exe) in extensions {
        std::fs::copy(exe, directory.join(name))
            .with_context(|| format!("copying {} into the layer", exe.display()))?;
    }
    Ok(dir)
}

/// Unpacks a layer zip, keeping the executable bits Lambda keeps.
pub fn unpack_zip(zip: &Path, into: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(zip).with_context(|| format!("opening the layer {}", zip.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("reading the layer {} as a zip", zip.display()))?;
    archive
        .extract(into)
        .with_context(|| format!("unpacking the layer {}", zip.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_crate_variables_are_dropped_from_nested_builds() {
        assert!(is_crate_variable("CARGO_MANIFEST_DIR"));
        assert!(is_crate_variable("CARGO_PKG_NAME"));
        assert!(!is_crate_variable("CARGO_HOME"));
        assert!(!is_crate_variable("CARGO_TARGET_DIR"));
    }

    #[test]
    fn the_workspace_root_is_found() {
        let root = workspace_root().expect("workspace root");
        assert!(root.join("emulator").join("Cargo.toml").is_file());
    }

    #[test]
    fn zipped_layers_keep_their_executables() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("layer.zip");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        writer.start_file("extensions/example", options).unwrap();
        writer.write_all(b"#!/bin/sh\n").unwrap();
        writer.finish().unwrap();
        let out = dir.path().join("out");
        unpack_zip(&zip_path, &out).unwrap();
        let mode = std::fs::metadata(out.join("extensions/example"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
    }
}
