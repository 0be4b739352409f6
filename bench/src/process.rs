//! Starting an extension as Lambda does (a child process with Lambda's environment variables),
//! draining its output, and reading its memory and CPU figures from procfs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;

use tokio::process::{Child, Command};

/// The function every benchmark environment pretends to belong to.
pub const FUNCTION_NAME: &str = "coldmark-bench-fn";

/// Where the extension's stdout goes. Lambda reads it through a pipe into CloudWatch, so
/// `Pipe` is the honest default; `Null` shows what writing markers costs the extension alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdoutMode {
    Pipe,
    Null,
}

/// What to start and how.
#[derive(Clone, Debug)]
pub struct SpawnOptions {
    pub program: PathBuf,
    pub stdout: StdoutMode,
    /// Extra variables (e.g. `COLDMARK_INVOKE_MARKERS`), set after Lambda's own.
    pub env: Vec<(String, String)>,
}

impl SpawnOptions {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            stdout: StdoutMode::Pipe,
            env: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

/// What the harness kept of an extension's output: every `coldmark` marker except the bulk of
/// per-invoke ones (a long run would otherwise hold hundreds of MB), and the first lines of
/// anything else.
#[derive(Debug, Default)]
pub struct Output {
    pub lines: u64,
    pub bytes: u64,
    pub markers: Vec<Value>,
    pub invoke_markers: u64,
    /// Invoke markers without `duration_ms`: written before their invocation's report came
    /// (pushed out by the bound on what coldmark holds), so without the invocation's figures.
    pub incomplete_invoke_markers: u64,
    /// When the drain read the last invoke marker so far (stamped as the line was read, before
    /// it was parsed): the end of a throughput measurement counted in markers.
    pub last_invoke_marker_at: Option<Instant>,
    pub other: Vec<String>,
}

impl Output {
    pub fn markers_of(&self, kind: &str) -> impl Iterator<Item = &Value> {
        let kind = kind.to_string();
        self.markers
            .iter()
            .filter(move |m| m.get("coldmark").and_then(Value::as_str) == Some(kind.as_str()))
    }
}

const KEPT_OTHER_LINES: usize = 40;
const KEPT_INVOKE_MARKERS: u64 = 5;

/// A running extension process.
pub struct ExtensionProcess {
    pub pid: u32,
    pub spawned_at: Instant,
    child: Child,
    output: Arc<Mutex<Output>>,
    drains: Vec<std::thread::JoinHandle<()>>,
}

impl ExtensionProcess {
    /// Starts `options.program` against the API server at `runtime_api`.
    pub fn spawn(options: &SpawnOptions, runtime_api: SocketAddr, instance: u32) -> Result<Self> {
        let mut command = Command::new(&options.program);
        command
            .env_clear()
            .envs(lambda_environment(runtime_api, instance))
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(match options.stdout {
                StdoutMode::Pipe => Stdio::piped(),
                StdoutMode::Null => Stdio::null(),
            })
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", options.program.display()))?;
        let pid = child.id().context("the child has a pid")?;
        let output = Arc::new(Mutex::new(Output::default()));
        let mut drains = Vec::new();
        // Pipes are drained on threads of their own, with blocking reads: on the harness's
        // single async thread, reading 10,000 marker lines would delay the server's answers
        // and be billed to the extension.
        if let Some(stdout) = child.stdout.take() {
            drains.push(drain(stdout.into_owned_fd()?, output.clone())?);
        }
        if let Some(stderr) = child.stderr.take() {
            drains.push(drain(stderr.into_owned_fd()?, output.clone())?);
        }
        Ok(Self {
            pid,
            spawned_at,
            child,
            output,
            drains,
        })
    }

    /// Current and peak resident memory, from `/proc/PID/status`.
    pub fn memory(&self) -> Result<Memory> {
        Memory::of(self.pid)
    }

    /// Invoke markers read from the process's output so far, and when the last was read.
    pub fn invoke_markers(&self) -> (u64, Option<Instant>) {
        let out = self.output.lock().expect("output lock");
        (out.invoke_markers, out.last_invoke_marker_at)
    }

    /// CPU time (user + system) the process has used so far.
    pub fn cpu_time(&self) -> Result<Duration> {
        cpu_time(self.pid)
    }

    /// Waits up to `limit` for the process to exit; kills it if it does not.
    /// Returns whether it exited by itself.
    pub async fn wait_or_kill(&mut self, limit: Duration) -> bool {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(_) => true,
            Err(_) => {
                self.kill().await;
                false
            }
        }
    }

    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Everything the process wrote, once its pipes have closed.
    pub async fn output(mut self) -> Output {
        let drains = std::mem::take(&mut self.drains);
        let joined = tokio::task::spawn_blocking(move || {
            for drain in drains {
                let _ = drain.join();
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(5), joined).await;
        std::mem::take(&mut *self.output.lock().expect("output lock"))
    }
}

fn drain(pipe: OwnedFd, output: Arc<Mutex<Output>>) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("drain".to_string())
        .spawn(move || {
            let reader = BufReader::with_capacity(64 * 1024, std::fs::File::from(pipe));
            for line in reader.lines() {
                let Ok(line) = line else { break };
                keep(&line, Instant::now(), &output);
            }
        })
        .context("starting a pipe-draining thread")
}

fn keep(line: &str, read_at: Instant, output: &Mutex<Output>) {
    let marker = if line.contains("\"coldmark\"") {
        serde_json::from_str::<Value>(line).ok()
    } else {
        None
    };
    let mut out = output.lock().expect("output lock");
    out.lines += 1;
    out.bytes += line.len() as u64 + 1;
    if let Some(value) = marker {
        if value.get("coldmark").and_then(Value::as_str) == Some("invoke") {
            out.invoke_markers += 1;
            out.last_invoke_marker_at = Some(read_at);
            if value.get("duration_ms").is_none() {
                out.incomplete_invoke_markers += 1;
            }
            if out.invoke_markers > KEPT_INVOKE_MARKERS {
                return;
            }
        }
        out.markers.push(value);
    } else if out.other.len() < KEPT_OTHER_LINES {
        out.other.push(line.to_string());
    }
}

/// The variables Lambda gives every process of an environment (fake credentials included),
/// from the shared wire model's builder.
pub fn lambda_environment(runtime_api: SocketAddr, instance: u32) -> Vec<(String, String)> {
    let mut lambda = lambda_wire::env::LambdaEnv::new(runtime_api.to_string(), FUNCTION_NAME);
    lambda.log_stream_name = format!("2026/11/25/[$LATEST]{instance:032x}");
    lambda.access_key_id = "ASIABENCHFAKEKEY0000".into();
    lambda.secret_access_key = "bench-fake-secret".into();
    lambda.session_token = "bench-fake-token".into();
    lambda.path =
        std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string());
    let mut env: Vec<(String, String)> = lambda.for_runtime().into_iter().collect();
    // coldmark listens on a free port (as the sandbox asks it to).
    env.push(("COLDMARK_TELEMETRY_PORT".into(), "0".into()));
    env
}

pub use coldmark_testkit::procfs::{cpu_time, Memory};

/// The binary `name` next to the running executable (all of a workspace's binaries share
/// `target/<profile>/`).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    let mut dir = exe.parent().context("executable directory")?.to_path_buf();
    // Test and bench executables live one level down, in `deps/`.
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir.join(name))
}

pub fn exists(path: &Path) -> bool {
    path.is_file()
}
