//! The environment's child processes: how they are started (environment, launcher, no orphans),
//! how their output becomes log lines, and the signals and procfs reads the lifecycle needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// A started process. The `Child` handle itself lives in the task that waits for it.
#[derive(Clone, Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: u32,
    /// Right before the fork.
    pub(crate) spawning_at: Instant,
    /// Right after the exec succeeded.
    pub(crate) spawned_at: Instant,
}

/// Executables in the layers' `extensions/` directories, sorted by file name as Lambda does
/// (layers are merged into one `/opt/extensions`; a later layer's file of the same name wins).
pub(crate) fn discover_extensions(layers: &[PathBuf]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = BTreeMap::new();
    for layer in layers {
        let dir = layer.join("extensions");
        if !dir.is_dir() {
            continue;
        }
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = entry.path();
            let meta =
                std::fs::metadata(&path).with_context(|| format!("stat {}", path.display()))?;
            if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            found.insert(name, path);
        }
    }
    Ok(found.into_iter().collect())
}

/// Starts `program` (through `launcher` when given) with exactly `env`, in its own process group
/// (so signals reach whatever it forks) and with `PR_SET_PDEATHSIG` so it dies with the sandbox.
pub(crate) fn spawn(
    launcher: &[String],
    program: &Path,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> anyhow::Result<(Child, Spawned)> {
    let mut cmd = match launcher.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
        None => Command::new(program),
    };
    cmd.env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            // The sandbox may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let spawning_at = Instant::now();
    let child = spawn_retrying_busy_text(&mut cmd)
        .with_context(|| format!("starting {}", program.display()))?;
    let spawned_at = Instant::now();
    let pid = child.id().context("child has no pid")?;
    Ok((
        child,
        Spawned {
            pid,
            spawning_at,
            spawned_at,
        },
    ))
}

/// How often a spawn refused with `ETXTBSY` is tried again, and the pause before each retry.
const BUSY_TEXT_RETRIES: u32 = 10;
const BUSY_TEXT_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// `cmd.spawn()`, tried again while the kernel answers `ETXTBSY` ("Text file busy").
///
/// A layer's executables are written by this process (unzipped, copied) shortly before they
/// run. A child forked meanwhile by another thread holds a copy of the file's write descriptor
/// until its own exec closes it (`O_CLOEXEC` closes it only then), and for that moment the
/// kernel refuses to execute the file. The window is a fork's length, so a few short retries
/// end it; Lambda itself never sees it, as its layers are written before anything runs.
fn spawn_retrying_busy_text(cmd: &mut Command) -> std::io::Result<Child> {
    let mut retries = 0;
    loop {
        match cmd.spawn() {
            Err(err)
                if err.raw_os_error() == Some(libc::ETXTBSY) && retries < BUSY_TEXT_RETRIES =>
            {
                retries += 1;
                std::thread::sleep(BUSY_TEXT_PAUSE);
            }
            other => return other,
        }
    }
}

/// Forwards every line of `stream` to `sink` until the stream closes.
pub(crate) async fn pump_lines<R, F>(stream: R, mut sink: F)
where
    R: AsyncRead + Unpin,
    F: FnMut(String),
{
    let mut lines = BufReader::new(stream).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => sink(line),
            Ok(None) => break,
            Err(err) => {
                tracing::debug!(%err, "reading process output");
                break;
            }
        }
    }
}

/// Sends `signal` to the process group led by `pid` (each child is its own group leader).
pub(crate) fn signal_group(pid: u32, signal: libc::c_int) {
    // SAFETY: plain syscall; a stale pid only yields ESRCH.
    let rc = unsafe { libc::kill(-(pid as libc::pid_t), signal) };
    if rc != 0 {
        // The group may be gone already; fall back to the process itself.
        // SAFETY: as above.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
    }
}

/// Peak resident set size of a process in KiB (`VmHWM`), which is what Lambda's "Max Memory
/// Used" reports: the high-water mark, not the current use.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix("VmHWM:")?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The one-letter scheduler state of a process (`T` when stopped), from `/proc/PID/stat`.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: the state follows the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of `true` in a fresh directory, and a handle that keeps it open for writing (as a
    /// child forked mid-copy would): the kernel refuses to execute it while the handle lives.
    fn busy_executable() -> (tempfile::TempDir, std::path::PathBuf, std::fs::File) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("true");
        std::fs::copy("/bin/true", &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        (dir, path, writer)
    }

    #[tokio::test]
    async fn a_spawn_refused_while_the_file_is_open_for_writing_succeeds_once_it_is_closed() {
        let (_dir, path, writer) = busy_executable();
        let mut refused = Command::new(&path);
        let err = refused.spawn().expect_err("busy text file");
        assert_eq!(err.raw_os_error(), Some(libc::ETXTBSY), "{err}");
        // Closed within the retries' window, as a forked child's exec closes it.
        let closer = std::thread::spawn(move || {
            std::thread::sleep(BUSY_TEXT_PAUSE * 2);
            drop(writer);
        });
        let mut child = spawn_retrying_busy_text(&mut Command::new(&path)).expect("spawned");
        assert!(child.wait().await.unwrap().success());
        closer.join().unwrap();
    }

    #[tokio::test]
    async fn a_file_that_stays_busy_is_an_error_after_the_retries() {
        let (_dir, path, _writer) = busy_executable();
        let began = std::time::Instant::now();
        let err = spawn_retrying_busy_text(&mut Command::new(&path)).expect_err("still busy");
        assert_eq!(err.raw_os_error(), Some(libc::ETXTBSY), "{err}");
        assert!(began.elapsed() >= BUSY_TEXT_PAUSE * BUSY_TEXT_RETRIES);
    }
}
