//! What the environment's phases and its API handlers share ([`Shared`]): the function's
//! configuration, the state behind its lock, the telemetry hub and the log sink; and the
//! process-side helpers every phase uses (spawn, freeze, thaw, kill, wait for a change).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use lambda_wire::telemetry::RecordBody;
use tokio::sync::watch;

use super::contract::{
    Artifacts, EnvironmentOptions, FunctionConfig, InitializationType, LogLine, LogSink, LogSource,
};
use super::process;
use super::rules::{Effect, Role};
use super::state::{ProcSlot, State};
use super::telemetry::Hub;

/// Everything the environment's phases and the HTTP handlers share.
pub(crate) struct Shared {
    pub(crate) config: FunctionConfig,
    pub(crate) env_id: String,
    pub(crate) api_addr: SocketAddr,
    pub(crate) function_arn: String,
    pub(crate) account_id: String,
    pub(crate) options: EnvironmentOptions,
    pub(crate) artifacts: Artifacts,
    pub(crate) extension_paths: Vec<(String, PathBuf)>,
    /// The runtime's variables; extensions get `extension_env` (without the runtime-only ones).
    pub(crate) process_env: BTreeMap<String, String>,
    pub(crate) extension_env: BTreeMap<String, String>,
    pub(crate) state: Mutex<State>,
    /// Bumped on every state change; waiters re-check their condition.
    pub(crate) changed: watch::Sender<u64>,
    pub(crate) frozen: watch::Sender<bool>,
    pub(crate) telemetry: Hub,
    pub(crate) logs: LogSink,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes everyone waiting in [`Shared::wait_until`].
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn emit(&self, record: RecordBody) {
        self.telemetry.emit(Utc::now(), record);
    }

    /// Carries out what a rule decided, in its order: records are emitted, invocations and
    /// events queued (under the lock); then the waiters wake.
    pub(crate) fn apply(&self, effects: Vec<Effect>) {
        for effect in effects {
            let record = self.lock().queue(effect);
            if let Some(record) = record {
                self.emit(record);
            }
        }
        self.bump();
    }

    pub(crate) fn extension_name(&self, id: &str) -> Option<String> {
        self.lock().api.extension_name(id).map(str::to_string)
    }

    /// Whether this environment belongs to a SnapStart function (the snapshot or a restore).
    pub(crate) fn snap_start(&self) -> bool {
        self.options.initialization_type == InitializationType::SnapStart
    }

    pub(crate) fn log(&self, source: LogSource, line: String) {
        let _ = self.logs.send(LogLine {
            env_id: self.env_id.clone(),
            source,
            time: Utc::now(),
            line,
        });
    }

    /// Waits until `check` yields something or `deadline` passes (`None`).
    pub(crate) async fn wait_until<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let mut changed = self.changed.subscribe();
        loop {
            if let Some(found) = check(&mut self.lock()) {
                return Some(found);
            }
            let deadline = tokio::time::Instant::from_std(deadline);
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    pub(crate) fn live_pids(&self) -> Vec<u32> {
        self.lock().live_pids()
    }

    /// SIGSTOP every process and wait (briefly) until the kernel reports them stopped: a
    /// stop is delivered asynchronously, and Lambda's freeze is complete when it returns.
    pub(crate) async fn freeze(&self) {
        let pids = self.live_pids();
        for pid in &pids {
            process::signal_group(*pid, libc::SIGSTOP);
        }
        self.frozen.send_replace(true);
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline
            && pids
                .iter()
                .any(|pid| matches!(process::process_state(*pid), Some(s) if s != 'T' && s != 't' && s != 'Z'))
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub(crate) fn thaw(&self) {
        for pid in self.live_pids() {
            process::signal_group(pid, libc::SIGCONT);
        }
        self.frozen.send_replace(false);
    }

    pub(crate) fn kill_all(&self) {
        for pid in self.live_pids() {
            process::signal_group(pid, libc::SIGCONT);
            process::signal_group(pid, libc::SIGKILL);
        }
        self.frozen.send_replace(false);
    }

    /// The sum of the processes' peak RSS, in MB (rounded up).
    pub(crate) fn max_memory_used_mb(&self) -> u64 {
        let kib: u64 = self
            .live_pids()
            .into_iter()
            .filter_map(process::peak_rss_kib)
            .sum();
        kib.div_ceil(1024)
    }

    /// Starts one process of the current generation and wires its output and exit.
    pub(crate) fn spawn_process(
        self: &Arc<Self>,
        role: Role,
        program: &std::path::Path,
    ) -> anyhow::Result<()> {
        let cwd = self
            .artifacts
            .bootstrap
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("."));
        let env = match role {
            Role::Runtime => &self.process_env,
            Role::Extension(_) => &self.extension_env,
        };
        let (mut child, spawned) = process::spawn(&self.artifacts.launcher, program, env, &cwd)?;
        let open_streams = u8::from(child.stdout.is_some()) + u8::from(child.stderr.is_some());
        let generation = {
            let mut state = self.lock();
            state.procs.push(ProcSlot {
                role: role.clone(),
                pid: spawned.pid,
                spawning_at: spawned.spawning_at,
                spawned_at: spawned.spawned_at,
                exited: None,
                open_streams,
            });
            state.generation
        };
        let pid = spawned.pid;
        let source = match &role {
            Role::Runtime => LogSource::Function,
            Role::Extension(name) => LogSource::Extension(name.clone()),
        };
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let weak = Arc::downgrade(self);
            let source = source.clone();
            tokio::spawn(async move {
                let lines = weak.clone();
                process::pump_lines(stream, move |line| {
                    if let Some(shared) = lines.upgrade() {
                        shared.process_line(&source, line);
                    }
                })
                .await;
                let Some(shared) = weak.upgrade() else { return };
                {
                    let mut state = shared.lock();
                    if state.generation == generation {
                        if let Some(slot) = state.procs.iter_mut().find(|p| p.pid == pid) {
                            slot.open_streams = slot.open_streams.saturating_sub(1);
                        }
                    }
                }
                shared.bump();
            });
        }
        let weak: Weak<Shared> = Arc::downgrade(self);
        tokio::spawn(async move {
            let status = child.wait().await;
            let Some(shared) = weak.upgrade() else { return };
            let described = match status {
                // Lambda's wording: "exit status 3", "signal: killed".
                Ok(status) => match (
                    status.code(),
                    std::os::unix::process::ExitStatusExt::signal(&status),
                ) {
                    (Some(code), _) => format!("exit status {code}"),
                    (None, Some(signal)) => format!("signal {signal}"),
                    (None, None) => status.to_string(),
                },
                Err(err) => format!("wait failed: {err}"),
            };
            tracing::debug!(pid, ?role, status = %described, "process exited");
            {
                let mut state = shared.lock();
                if state.generation == generation {
                    if let Some(slot) = state.procs.iter_mut().find(|p| p.pid == pid) {
                        slot.exited = Some(described);
                    }
                }
            }
            shared.bump();
        });
        Ok(())
    }

    /// A line a process wrote: to the log sink and to `function` / `extension` subscribers.
    fn process_line(&self, source: &LogSource, line: String) {
        let text = serde_json::Value::String(line.clone());
        let record = match source {
            LogSource::Function => RecordBody::Function(text),
            _ => RecordBody::ExtensionLog(text),
        };
        self.emit(record);
        self.log(source.clone(), line);
    }
}
