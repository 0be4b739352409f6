//! `coldmark-bench --version` names the release the figures came from.

#[test]
fn version_names_the_release() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coldmark-bench"))
        .arg("--version")
        .output()
        .expect("run coldmark-bench");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("coldmark-bench {}\n", env!("CARGO_PKG_VERSION"))
    );
}
