//! A created function's code on disk: its deployment package unpacked into a directory of its
//! own (Lambda's `/var/task`), kept for as long as the function runs. Lambda runs the
//! package's `bootstrap` for the `provided` runtimes; a package without one (or with one that is
//! not executable) is accepted, as on Lambda, and fails its init.

use std::io::Cursor;
use std::path::PathBuf;

use anyhow::Context;
use tempfile::TempDir;

/// Unpacks `zip` (keeping the executable bits Lambda keeps) into a new directory; returns it
/// and the path of its `bootstrap`.
pub(crate) fn unpack(zip: &[u8]) -> anyhow::Result<(TempDir, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("lambda-task-")
        .tempdir()
        .context("creating the function's code directory")?;
    let mut archive =
        zip::ZipArchive::new(Cursor::new(zip)).context("reading Code.ZipFile as a zip")?;
    archive
        .extract(dir.path())
        .context("unpacking the deployment package")?;
    let bootstrap = dir.path().join("bootstrap");
    Ok((dir, bootstrap))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_package_is_unpacked_with_its_executable_bootstrap() {
        let mut bytes = Vec::new();
        {
            let mut writer = zip::ZipWriter::new(Cursor::new(&mut bytes));
            let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
            writer.start_file("bootstrap", options).unwrap();
            writer.write_all(b"#!/bin/sh\n").unwrap();
            writer.finish().unwrap();
        }
        let (dir, bootstrap) = unpack(&bytes).unwrap();
        assert_eq!(bootstrap, dir.path().join("bootstrap"));
        let mode = std::fs::metadata(&bootstrap).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "executable: {mode:o}");
        assert!(unpack(b"not a zip").is_err());
    }
}
