//! What the tests and the benchmarks read about a process from `/proc`: resident memory, CPU
//! time, its parent.

use std::time::Duration;

use anyhow::{Context, Result};

/// Resident memory of a process, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

impl Memory {
    /// `VmRSS` and `VmHWM` from `/proc/PID/status`.
    pub fn of(pid: u32) -> Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(Self {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        })
    }
}

/// The fields of `/proc/PID/stat` after the command name (which may contain spaces and
/// parentheses): index 0 is the state, 1 the parent pid, 11 utime, 12 stime.
pub fn stat_fields(pid: u32) -> Result<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("stat format")?;
    Ok(rest.split_whitespace().map(str::to_string).collect())
}

/// utime + stime. USER_HZ is 100 on every Linux ABI Lambda runs.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let fields = stat_fields(pid)?;
    let ticks = |i: usize| -> u64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
}

/// The parent's pid, if the process still exists.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat_fields(pid).ok()?.get(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_cpu_and_a_parent() {
        let me = std::process::id();
        let memory = Memory::of(me).unwrap();
        assert!(memory.rss_kib > 0 && memory.peak_kib >= memory.rss_kib);
        assert!(cpu_time(me).is_ok());
        assert_eq!(parent_pid(me), Some(std::os::unix::process::parent_id()));
    }
}
