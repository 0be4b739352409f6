//! Failed and timed-out inits on demand (`CLOCK_INIT_FAIL`), so the sandbox can produce what
//! Lambda does with them: a failed init is retried inside the first invocation (phase
//! `invoke`), in the same execution environment.
//!
//! - `error`: every init reports `/runtime/init/error` (`Clock.InitError`) and exits;
//! - `error-once`: only the first init of an execution environment does; the retry succeeds;
//! - `timeout`: every init hangs until the platform's init timeout ends it;
//! - `timeout-once`: only the first init of an environment hangs.
//!
//! "Once" needs something that outlives the failed init's process but not the environment.
//! On Lambda that is the environment's own `/tmp`; processes and memory are gone when init is
//! retried. The sandbox's environments share the host's temporary directory, so the mark is a
//! file named after the environment's log stream (`AWS_LAMBDA_LOG_STREAM_NAME`, one per
//! environment on Lambda and in the sandbox alike), which works in both.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// What `CLOCK_INIT_FAIL` asks of this init.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitFailure {
    /// Report an init error and exit.
    Error,
    /// Hang until the init timeout.
    Timeout,
}

/// The knob's value: which failure, and whether only the environment's first init fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knob {
    pub failure: InitFailure,
    pub first_init_only: bool,
}

impl Knob {
    /// Reads `CLOCK_INIT_FAIL`'s value; `None` for an unset, empty or unknown one.
    pub fn parse(value: &str) -> Option<Knob> {
        let (failure, first_init_only) = match value.trim() {
            "error" => (InitFailure::Error, false),
            "error-once" => (InitFailure::Error, true),
            "timeout" => (InitFailure::Timeout, false),
            "timeout-once" => (InitFailure::Timeout, true),
            _ => return None,
        };
        Some(Knob {
            failure,
            first_init_only,
        })
    }

    /// Whether this init fails: always, or (`-once`) when `mark` did not exist yet, which this
    /// call then creates.
    pub fn fails_now(&self, mark: &std::path::Path) -> bool {
        if !self.first_init_only {
            return true;
        }
        // `create_new` fails when the mark exists: an earlier init of this environment failed.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(mark)
            .is_ok()
    }
}

/// Where an environment marks that its first init failed (see the module's documentation).
pub fn mark_path(log_stream: &str) -> PathBuf {
    let name: String = log_stream
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!("coldmark-clock-init-failed-{name}"))
}

/// Fails this init as `failure` asks: reports `Clock.InitError` to the Runtime API at
/// `runtime_api` and exits 1, or hangs until the platform kills the process.
pub fn fail(failure: InitFailure, runtime_api: &str) -> ! {
    match failure {
        InitFailure::Error => {
            if let Err(e) = report_init_error(runtime_api) {
                eprintln!("clock: could not report the init error: {e}");
            }
            eprintln!("clock: failing init on request (CLOCK_INIT_FAIL)");
            std::process::exit(1);
        }
        InitFailure::Timeout => {
            eprintln!("clock: hanging in init on request (CLOCK_INIT_FAIL)");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}

/// `POST /2018-06-01/runtime/init/error` with Lambda's error document, over plain HTTP/1.1
/// (the Runtime API is always local and unencrypted); returns the answer's status line.
fn report_init_error(runtime_api: &str) -> std::io::Result<String> {
    let body = r#"{"errorType":"Clock.InitError","errorMessage":"init failed on request (CLOCK_INIT_FAIL)"}"#;
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {runtime_api}\r\n\
         Lambda-Runtime-Function-Error-Type: Clock.InitError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(runtime_api)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knob_names_a_failure_and_whether_it_is_once() {
        assert_eq!(
            Knob::parse("error"),
            Some(Knob {
                failure: InitFailure::Error,
                first_init_only: false
            })
        );
        assert_eq!(
            Knob::parse(" timeout-once "),
            Some(Knob {
                failure: InitFailure::Timeout,
                first_init_only: true
            })
        );
        assert_eq!(Knob::parse(""), None);
        assert_eq!(Knob::parse("sometimes"), None);
    }

    #[test]
    fn once_fails_the_first_init_of_an_environment_only() {
        let dir = tempfile_dir();
        let mark = dir.join("mark");
        let once = Knob::parse("error-once").unwrap();
        assert!(once.fails_now(&mark), "the first init fails");
        assert!(!once.fails_now(&mark), "its retry does not");
        let always = Knob::parse("error").unwrap();
        assert!(always.fails_now(&mark));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn each_environment_has_its_own_mark() {
        let a = mark_path("2026/12/03/[$LATEST]0f6ed9b4e9354de392e9c9814bec9f63");
        let b = mark_path("2026/12/03/[$LATEST]1a2b3c4d");
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
            "{name}"
        );
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "clock-init-failure-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
