//! The arm64 (Graviton) artifacts, verified by running them: the experiment with the arm64
//! clock function and the arm64 coldmark layer under `qemu-aarch64-static`, compared with the
//! same experiment on the x86_64 artifacts. Both must reach the same verdict and write the same
//! markers (kinds, and the fields of each kind).
//!
//! Needs `bash layer/build.sh` first with the aarch64 Rust target (dist/*-arm64.zip), plus
//! qemu-user-static and libc6-arm64-cross. It is `#[ignore]`d for a plain `cargo test`, so it is
//! never counted as passed where it did not run; `bash .ci/run` runs it where rustup could add
//! the target, and otherwise says in its summary that it was not run and why. Once run, anything
//! missing fails it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const QEMU: &str = "qemu-aarch64-static";
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// ELF `e_machine` values.
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
/// Generous: under qemu every process start is several times slower.
const EXPERIMENT_DEADLINE: Duration = Duration::from_secs(300);

fn dist() -> PathBuf {
    std::env::var_os("COLDMARK_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist"))
}

/// The test was asked to run (`--include-ignored`, or by name) but cannot: that is a failure,
/// never a pass.
fn cannot_run(reason: &str) -> ! {
    panic!("the arm64 experiment cannot run: {reason}");
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Takes `bootstrap` out of a function zip into `dir`, executable.
fn unpack_bootstrap(zip_path: &Path, dir: &Path) -> PathBuf {
    let file = std::fs::File::open(zip_path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut entry = archive
        .by_name("bootstrap")
        .expect("function zip holds bootstrap");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    let path = dir.join("bootstrap");
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    u16::from_le_bytes([bytes[18], bytes[19]])
}

/// What one experiment printed with `--json`.
struct Run {
    verdict: Value,
    /// Marker kind → how many arrived.
    kinds: BTreeMap<String, usize>,
    /// Marker kind → every field name seen on markers of that kind.
    fields: BTreeMap<String, BTreeSet<String>>,
    /// The markers as printed, for failure messages.
    markers: Vec<String>,
}

fn experiment(label: &str, function: &Path, layer: &Path, launcher: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coldmark-sandbox"));
    command.args(["experiment", "--json", "--interval-ms", "500"]);
    command.args(["--requests", "6", "--change-after", "3"]);
    command
        .arg("--function")
        .arg(function)
        .arg("--layer")
        .arg(layer);
    if let Some(launcher) = launcher {
        command.args(["--launcher", launcher]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start coldmark-sandbox");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > EXPERIMENT_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{label}: the experiment did not finish in {EXPERIMENT_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        status.success(),
        "{label}: experiment failed ({status}):\n{stdout}\n{stderr}"
    );

    let mut verdict = None;
    let mut kinds = BTreeMap::new();
    let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut markers = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{label}: --json printed a non-JSON line {line:?}: {e}"));
        match record["type"].as_str() {
            Some("verdict") => verdict = Some(record),
            Some("marker") => {
                let marker = &record["marker"];
                let kind = marker["coldmark"].as_str().unwrap_or("?").to_owned();
                *kinds.entry(kind.clone()).or_insert(0) += 1;
                let keys = marker
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys().cloned());
                fields.entry(kind).or_default().extend(keys);
                markers.push(marker.to_string());
            }
            _ => {}
        }
    }
    let verdict = verdict.unwrap_or_else(|| panic!("{label}: no verdict in:\n{stdout}"));
    // The contract: one init marker per environment. Checked per run so a failure says which
    // architecture broke it rather than only that the two differ.
    assert_eq!(
        verdict["init_markers"],
        verdict["inits"],
        "{label}: init markers vs environments seen:\n{}",
        markers.join("\n")
    );
    Run {
        verdict,
        kinds,
        fields,
        markers,
    }
}

/// The verdict's facts that must not depend on the architecture.
fn verdict_facts(verdict: &Value) -> Value {
    let keys = [
        "new_init_after_change",
        "init_between",
        "change_after",
        "env_user_before",
        "env_user_after",
        "inits",
        "init_markers",
        "fingerprints_differ",
        "markers_present",
        // coldmark-explain's cause for the new environment.
        "cause",
    ];
    keys.iter()
        .map(|k| (k.to_string(), verdict[*k].clone()))
        .collect()
}

#[test]
#[ignore = "needs the aarch64 target and qemu-user-static; bash .ci/run runs it where rustup can add the target"]
fn arm64_layer_and_function_under_qemu_match_x86_64() {
    let dist = dist();
    let arm64_layer = dist.join("coldmark-layer-arm64.zip");
    let arm64_function = dist.join("coldmark-clock-arm64.zip");
    let x86_layer = dist.join("coldmark-layer-x86_64.zip");
    let x86_function = dist.join("coldmark-clock.zip");
    for zip in [&arm64_layer, &arm64_function, &x86_layer, &x86_function] {
        if !zip.is_file() {
            cannot_run(&format!(
                "{} not built (run bash layer/build.sh; arm64 needs the aarch64 Rust target)",
                zip.display()
            ));
        }
    }
    if !on_path(QEMU) {
        cannot_run(&format!(
            "{QEMU} not installed (apt-get install qemu-user-static)"
        ));
    }
    if !Path::new(ARM64_SYSROOT).join("lib").is_dir() {
        cannot_run(&format!(
            "{ARM64_SYSROOT} missing (apt-get install libc6-arm64-cross)"
        ));
    }

    let work = tempfile::tempdir().unwrap();
    let (arm64_dir, x86_dir) = (work.path().join("arm64"), work.path().join("x86_64"));
    std::fs::create_dir_all(&arm64_dir).unwrap();
    std::fs::create_dir_all(&x86_dir).unwrap();
    let arm64_bootstrap = unpack_bootstrap(&arm64_function, &arm64_dir);
    let x86_bootstrap = unpack_bootstrap(&x86_function, &x86_dir);
    assert_eq!(
        elf_machine(&arm64_bootstrap),
        EM_AARCH64,
        "arm64 zip holds an arm64 binary"
    );
    assert_eq!(
        elf_machine(&x86_bootstrap),
        EM_X86_64,
        "x86_64 zip holds an x86_64 binary"
    );

    let launcher = format!("{QEMU} -L {ARM64_SYSROOT}");
    let (arm64, x86) = std::thread::scope(|scope| {
        let arm64 = scope.spawn(|| {
            experiment(
                "arm64",
                &arm64_bootstrap,
                &arm64_layer,
                Some(launcher.as_str()),
            )
        });
        let x86 = scope.spawn(|| experiment("x86_64", &x86_bootstrap, &x86_layer, None));
        (arm64.join().unwrap(), x86.join().unwrap())
    });

    // The experiment's own claim holds on arm64 ...
    assert_eq!(
        arm64.verdict["new_init_after_change"], true,
        "{}",
        arm64.verdict
    );
    assert_eq!(arm64.verdict["markers_present"], true, "{}", arm64.verdict);
    assert_eq!(
        arm64.verdict["fingerprints_differ"], true,
        "{}",
        arm64.verdict
    );
    // ... and says the same as on x86_64, with the same markers.
    assert_eq!(verdict_facts(&arm64.verdict), verdict_facts(&x86.verdict));
    assert_eq!(
        arm64.kinds,
        x86.kinds,
        "marker kinds and counts\narm64:\n{}\nx86_64:\n{}",
        arm64.markers.join("\n"),
        x86.markers.join("\n")
    );
    assert_eq!(arm64.fields, x86.fields, "marker fields per kind");
    assert!(
        arm64.kinds.get("init").copied().unwrap_or(0) >= 2,
        "{:?}",
        arm64.kinds
    );
}
