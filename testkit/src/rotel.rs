//! A real OpenTelemetry collector for the OTLP sink's tests: rotel (PyPI's `rotel` package
//! ships its `rotel-agent` binary; it needs Debian's `libpython3.11`), started per test on free
//! loopback ports with its OTLP/HTTP receiver, the blackhole exporter and its debug log of
//! logs, metrics and traces on stdout — the collector's own reading of what arrived, which the
//! tests assert on. Stopped (killed) when dropped.
//!
//! `.ci/run` installs it, pinned, into the project's virtualenv (`target/venv`).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Rotel {
    child: Child,
    _dir: tempfile::TempDir,
    pub http_port: u16,
    output: Arc<Mutex<String>>,
}

/// A free port now (rotel refuses port 0 for its receivers, so one is picked and handed over;
/// another process may take it in between, hence [`Rotel::start`]'s retries).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `rotel-agent` inside the project's virtualenv (`COLDMARK_VENV`, else `target/venv`).
pub fn binary() -> Option<PathBuf> {
    let venv = std::env::var_os("COLDMARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the repository root")
                .join("target/venv")
        });
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|python| python.path().join("site-packages/rotel/rotel-agent"))
        .find(|p| p.is_file())
}

impl Rotel {
    /// Starts a collector; fails the test with install instructions when rotel is missing.
    pub fn start() -> Rotel {
        let binary = binary().unwrap_or_else(|| {
            panic!(
                "{}",
                crate::venv::install_hint("rotel (an OpenTelemetry collector)", &["rotel"])
            )
        });
        let mut last_error = String::new();
        for _ in 0..3 {
            match Rotel::try_start(&binary) {
                Ok(rotel) => return rotel,
                Err(why) => last_error = why,
            }
        }
        panic!("rotel did not start: {last_error}");
    }

    fn try_start(binary: &std::path::Path) -> Result<Rotel, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (http_port, grpc_port) = (free_port(), free_port());
        let mut child = Command::new(binary)
            .arg("start")
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args(["--exporter", "blackhole"])
            .args(["--debug-log", "logs", "--debug-log", "metrics"])
            .args(["--debug-log", "traces"])
            .args(["--debug-log-verbosity", "detailed"])
            .args(["--batch-timeout", "10ms"])
            .arg("--pid-file")
            .arg(dir.path().join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.path().join("rotel.log"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || collect(stream, output));
        }
        let mut rotel = Rotel {
            child,
            _dir: dir,
            http_port,
            output,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = rotel.child.try_wait() {
                return Err(format!("exited {status}: {}", rotel.output()));
            }
            if TcpStream::connect(("127.0.0.1", http_port)).is_ok() {
                return Ok(rotel);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "no OTLP/HTTP receiver after 10 s: {}",
            rotel.output()
        ))
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Everything rotel printed so far, colour codes removed.
    pub fn output(&self) -> String {
        strip_ansi(&self.output.lock().unwrap())
    }

    /// Waits until `done` holds for rotel's output (at most `limit`); returns the output.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let output = self.output();
            if done(&output) || Instant::now() >= deadline {
                return output;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(mut stream: Box<dyn Read + Send>, output: Arc<Mutex<String>>) {
    let mut chunk = [0u8; 8192];
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            return;
        }
        output
            .lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
