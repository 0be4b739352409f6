//! How a test that needs a Python tool (the AWS CLI, moto, boto3) tells the user to get it: into
//! the project's virtualenv, the way `.ci/run` does, never `pip install` into the system's Python
//! (Debian 12 and Ubuntu 23.04+ refuse that: PEP 668). The pins are read from `.ci/run`, so the
//! advice names the versions CI uses and cannot drift from them.

use std::path::PathBuf;

/// The repository root (this crate's parent folder).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The name of a pip requirement (`moto[server]==5.2.1` → `moto`).
fn name_of(spec: &str) -> &str {
    let end = spec.find(['=', '[', '<', '>']).unwrap_or(spec.len());
    &spec[..end]
}

/// The pinned requirements in `.ci/run`'s `PIP_PACKAGES=(…)` and `PIP_PACKAGES+=(…)` lines.
fn pins(ci_run: &str) -> Vec<String> {
    ci_run
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("PIP_PACKAGES")?;
            let rest = rest
                .strip_prefix("+=(")
                .or_else(|| rest.strip_prefix("=("))?;
            Some(rest.split(')').next().unwrap_or(rest).to_owned())
        })
        .flat_map(|list| {
            list.split_whitespace()
                .map(|s| s.trim_matches(['"', '\'']).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `packages` (pip names) as `.ci/run` pins them, quoted for a shell; a name it does not pin
/// stays as given.
fn pinned(packages: &[&str], ci_run: &str) -> Vec<String> {
    let pins = pins(ci_run);
    packages
        .iter()
        .map(|p| {
            let spec = pins
                .iter()
                .find(|s| name_of(s) == name_of(p))
                .map_or(*p, String::as_str);
            if spec.contains('[') {
                format!("'{spec}'")
            } else {
                spec.to_owned()
            }
        })
        .collect()
}

/// The sentence a test prints when `what` (e.g. "the AWS CLI") is missing: `bash .ci/run`
/// installs it and runs every test; or, for this shell only, the project's virtualenv with
/// `packages` at `.ci/run`'s pins.
pub fn install_hint(what: &str, packages: &[&str]) -> String {
    let ci_run = std::fs::read_to_string(root().join(".ci/run")).unwrap_or_default();
    format!(
        "{what} is not installed. `bash .ci/run` installs it (into the project's virtualenv, \
         target/venv) and runs every test; or, from the repository root, \
         `. .ci/venv.sh && coldmark_venv {}` creates that virtualenv and puts its bin/ first on \
         PATH in this shell (Debian's and Ubuntu's own Python refuse `pip install` outside one; \
         on those, `apt-get install python3-venv` first)",
        pinned(packages, &ci_run).join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_names_the_versions_ci_pins() {
        let ci_run = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
        let pins = pins(&ci_run);
        assert!(pins.iter().any(|p| p.starts_with("awscli==")), "{pins:?}");
        let spec = pinned(&["moto[server]", "boto3"], &ci_run);
        assert!(spec[0].starts_with("'moto[server]=="), "{spec:?}");
        assert!(spec[1].starts_with("boto3=="), "{spec:?}");
        let hint = install_hint("the AWS CLI", &["awscli"]);
        assert!(hint.contains("coldmark_venv awscli=="), "{hint}");
        assert!(!hint.contains("python3 -m pip install"), "{hint}");
    }
}
