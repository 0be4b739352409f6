//! "Diagnostics never block": on Lambda stderr is a log pipe like stdout, and a pipe nobody
//! reads must not stop coldmark in a `write`. The real `coldmark` binary runs with every
//! diagnostic on (a line per marker) and its stderr a one-page pipe that is never read, so
//! stderr is full after a few dozen lines; its stdout is read. Every marker must still reach
//! stdout, invocations must not wait, and the process must exit inside Lambda's SHUTDOWN
//! deadline (the diagnostics get at most 100 ms to drain).

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coldmark_testkit::fake_lambda::{FakeLambda, Telemetry};

/// The real binary under test.
const COLDMARK: &str = env!("CARGO_BIN_EXE_coldmark");
/// Lambda's shutdown phase for external extensions.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);
/// The median INVOKE → next `/event/next` docs/security.md promises.
const GAP_BOUND: Duration = Duration::from_millis(50);
/// A page: what the stalled pipe holds before a `write` to it blocks.
const PIPE_BYTES: usize = 4096;

/// A pipe of one page whose read end is kept open and never read until the end.
fn unread_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: plain syscalls on descriptors this function creates and hands out owned.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        assert!(libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_BYTES as libc::c_int) > 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stderr_nobody_reads_holds_neither_markers_nor_invocations_nor_the_exit() {
    let lambda = FakeLambda::start(Telemetry::NotSupported).await;
    let (stderr_read, stderr_write) = unread_pipe();
    let env = lambda.lambda_env(&[
        ("COLDMARK_INVOKE_MARKERS", "all"),
        // A `marker <kind>` debug line for every marker written: far more than a page.
        ("COLDMARK_LOG", "debug"),
    ]);
    let mut child = Command::new(COLDMARK)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr_write))
        .spawn()
        .expect("spawn coldmark");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        stdout.read_to_string(&mut all).unwrap();
        all
    });
    lambda.wait_next(1).await;

    let invocations = 1000;
    let mut gaps = Vec::with_capacity(invocations);
    for i in 1..=invocations {
        let sent = Instant::now();
        lambda.invoke(&format!("req-{i}"));
        lambda.wait_next(i + 1).await;
        gaps.push(lambda.next_times()[i] - sent);
    }
    lambda.shutdown("spindown");
    let shutdown_sent = Instant::now();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let exit_after = shutdown_sent.elapsed();
    let stdout = reader.join().unwrap();
    let mut stderr = String::new();
    std::fs::File::from(stderr_read)
        .read_to_string(&mut stderr)
        .unwrap();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    eprintln!(
        "SHUTDOWN → exit {exit_after:?}; INVOKE → /next median {median:?}; {} stderr bytes \
         ({} lines) of the diagnostics got out",
        stderr.len(),
        stderr.lines().count()
    );

    // stderr really was stalled: it holds a page at most, far fewer lines than were logged.
    assert!(
        stderr.len() <= PIPE_BYTES,
        "stderr was read: {} bytes",
        stderr.len()
    );
    assert!(
        stderr
            .lines()
            .filter(|l| l.contains("marker invoke"))
            .count()
            < invocations / 10,
        "the diagnostics were not stalled"
    );
    // Nothing else was.
    assert!(status.success(), "{status:?}");
    assert!(exit_after < SHUTDOWN_DEADLINE, "exit took {exit_after:?}");
    assert!(
        median < GAP_BOUND,
        "invocations were held: median {median:?}"
    );
    let kinds: Vec<String> = stdout
        .lines()
        .map(|l| {
            let marker: serde_json::Value = serde_json::from_str(l).expect("a JSON marker");
            marker["coldmark"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds.len(), invocations + 2, "init, every invoke, shutdown");
    assert_eq!(kinds.first().map(String::as_str), Some("init"));
    assert_eq!(kinds.last().map(String::as_str), Some("shutdown"));
    assert_eq!(kinds.iter().filter(|k| *k == "invoke").count(), invocations);
    let shutdown: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(shutdown["dropped"], 0, "a stalled stderr cost a marker");
}
