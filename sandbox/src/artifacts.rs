//! Gets the code to run: the function's `bootstrap` and the layers, built from this workspace when
//! the user did not name them, so that `cargo run -p coldmark-sandbox -- experiment` works on a
//! fresh clone with nothing else done first.
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

use crate::environment::Artifacts;

/// The extension's file name in the layer, which is also the name it registers with.
pub const EXTENSION_NAME: &str = "coldmark";

/// What the user asked for on the command line.
#[derive(Clone, Debug, Default)]
pub struct ArtifactOptions {
    /// The function's `bootstrap`; built from `function/` when absent.
    pub function: Option<PathBuf>,
    /// Layer directories or zips; the coldmark layer is built when empty (unless `no_layer`).
    pub layers: Vec<PathBuf>,
    pub no_layer: bool,
    /// Command prefix for every process (`qemu-aarch64-static -L /usr/aarch64-linux-gnu`).
    pub launcher: Option<String>,
    /// Cargo profile for what is built (`release` unless told).
    pub cargo_profile: String,
}

/// The artifacts plus the temporary directories they live in (removed on drop).
pub struct Prepared {
    pub artifacts: Artifacts,
    /// Whether a coldmark extension is in the layers (built or given).
    pub has_layer: bool,
    /// Things the user should know (e.g. the extension did not build).
    pub notes: Vec<String>,
    _temp: Vec<tempfile::TempDir>,
}

/// Builds or unpacks what is missing. Prints one line to stderr while cargo builds.
pub fn prepare(options: &ArtifactOptions) -> anyhow::Result<Prepared> {
    let mut temp = Vec::new();
    let mut notes = Vec::new();
    let want_function = options.function.is_none();
    let want_extension = options.layers.is_empty() && !options.no_layer;
    let mut built = BTreeMap::new();
    if want_function || want_extension {
        let root = workspace_root().context(
            "cannot find the coldmark workspace to build the function and the extension; pass \
             --function PATH and --layer DIR (or --no-layer)",
        )?;
        let mut packages = Vec::new();
        if want_function {
            packages.push("coldmark-clock");
        }
        if want_extension {
            packages.push("coldmark-extension");
        }
        eprintln!(
            "building {} (cargo build --profile {}; the first build takes a few minutes) ...",
            packages.join(" and "),
            options.cargo_profile
        );
        match cargo_build(&root, &options.cargo_profile, &packages) {
            Ok(bins) => built = bins,
            Err(e) if want_function && want_extension => {
                // The function alone still shows the experiment; the markers come when the
                // extension builds.
                notes.push(format!(
                    "the coldmark extension did not build, running the function alone: {e:#}"
                ));
                built = cargo_build(&root, &options.cargo_profile, &["coldmark-clock"])?;
            }
            Err(e) => return Err(e),
        }
    }
    let bootstrap = match &options.function {
        Some(path) => path.clone(),
        None => built
            .get("bootstrap")
            .cloned()
            .context("cargo built no `bootstrap` executable for coldmark-clock")?,
    };
    if !bootstrap.is_file() {
        bail!("the function {} does not exist", bootstrap.display());
    }
    let mut layers = Vec::new();
    let mut has_layer = false;
    for layer in &options.layers {
        let dir = if layer
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        {
            let dir = tempfile::Builder::new()
                .prefix("coldmark-layer-")
                .tempdir()
                .context("creating a directory for the layer")?;
            unpack_zip(layer, dir.path())?;
            let path = dir.path().to_owned();
            temp.push(dir);
            path
        } else if layer.is_dir() {
            layer.clone()
        } else {
            bail!(
                "the layer {} is neither a directory nor a .zip",
                layer.display()
            );
        };
        has_layer |= dir.join("extensions").join(EXTENSION_NAME).is_file();
        layers.push(dir);
    }
    if want_extension {
        if let Some(exe) = built.get(EXTENSION_NAME) {
            let dir = layer_with_extension(exe)?;
            layers.push(dir.path().to_owned());
            temp.push(dir);
            has_layer = true;
        }
    }
    let launcher = options
        .launcher
        .as_deref()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Prepared {
        artifacts: Artifacts {
            bootstrap,
            layers,
            launcher,
        },
        has_layer,
        notes,
        _temp: temp,
    })
}

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
        .prefix("coldmark-layer-")
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

/// A [`layer`] with coldmark's extension alone: `extensions/coldmark`.
pub fn layer_with_extension(exe: &Path) -> anyhow::Result<tempfile::TempDir> {
    layer(&[(EXTENSION_NAME, exe)])
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
        assert!(root.join("sandbox").join("Cargo.toml").is_file());
    }

    #[test]
    fn zipped_layers_keep_their_executables() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("layer.zip");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        writer.start_file("extensions/coldmark", options).unwrap();
        writer.write_all(b"#!/bin/sh\n").unwrap();
        writer.finish().unwrap();
        let out = dir.path().join("out");
        unpack_zip(&zip_path, &out).unwrap();
        let mode = std::fs::metadata(out.join("extensions/coldmark"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
    }
}
