//! A child process that prints one JSON object per line (`coldmark-sandbox --json`), its
//! stdout read as it comes so a test can wait for a line while the process runs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct JsonProcess {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// Every line received so far.
    pub seen: Vec<Value>,
}

impl JsonProcess {
    /// Starts `program` with `args` (which must ask it for JSON lines); its stderr is the
    /// test's.
    pub fn start(program: &Path, args: &[&str]) -> Self {
        let mut command = Command::new(program);
        command.args(args).stderr(Stdio::inherit());
        Self::spawn(command)
    }

    /// Spawns `command` with its stdout piped to the reader.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", command.get_program()));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(value) => {
                        if tx.send(value).is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("not a JSON line ({e}): {line}"),
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line satisfying `pred` (lines before it are kept in `seen`).
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(value) => {
                    self.seen.push(value.clone());
                    if pred(&value) {
                        return Some(value);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// The process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit by itself; true when it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        self.exit_status(timeout).is_some()
    }

    /// Waits up to `timeout` for the process to exit by itself; its status when it did.
    pub fn exit_status(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Every line, once the process has ended (its stdout is read to the end).
    pub fn finish(mut self) -> Vec<Value> {
        while let Ok(value) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(value);
        }
        std::mem::take(&mut self.seen)
    }

    /// SIGTERM (the sandbox spins its environments down), then waits for the exit and returns
    /// the remaining lines.
    pub fn stop(mut self) -> Vec<Value> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        while let Ok(value) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(value);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for JsonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
