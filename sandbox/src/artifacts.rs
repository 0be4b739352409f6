//! The code the coldmark front-ends run: the function's `bootstrap` and the layers, built from
//! this workspace when the user did not name them (the clock function, and coldmark's extension
//! in a layer of its own), so that `cargo run -p coldmark-sandbox -- experiment` works on a fresh
//! clone with nothing else done first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use lambda_emulator::artifacts::{cargo_build, layer, unpack_zip, workspace_root};
use lambda_emulator::environment::Artifacts;

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
        match cargo_build(&root, &options.cargo_profile, &with_sandbox(&packages)) {
            Ok(bins) => built = bins,
            Err(e) if want_function && want_extension => {
                // The function alone still shows the experiment; the markers come when the
                // extension builds.
                notes.push(format!(
                    "the coldmark extension did not build, running the function alone: {e:#}"
                ));
                // The clock alone: asking for the sandbox too would build the extension again.
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

/// `packages` with this sandbox's own package first. Cargo resolves the features of shared
/// crates over the packages it is asked for; the sandbox depends on the extension and on the
/// clock's runtime, so asking for it too resolves them exactly as `cargo run -p
/// coldmark-sandbox` did, and everything that run compiled is reused instead of built again
/// with other features (the sandbox itself is up to date: nothing is rebuilt for it).
fn with_sandbox<'a>(packages: &[&'a str]) -> Vec<&'a str> {
    std::iter::once(env!("CARGO_PKG_NAME"))
        .chain(packages.iter().copied())
        .collect()
}

/// A [`layer`] with coldmark's extension alone: `extensions/coldmark`.
pub fn layer_with_extension(exe: &Path) -> anyhow::Result<tempfile::TempDir> {
    layer(&[(EXTENSION_NAME, exe)])
}
