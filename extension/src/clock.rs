//! coldmark's own start-up clock (`coldmark_init_ms`).
//!
//! The process start is not known precisely from inside: `/proc/self/stat`'s start time ticks
//! in 10 ms, and the moment `main` runs misses exec and dynamic loading. What is known exactly:
//! the CPU time the process has used when `main` begins (`CLOCK_PROCESS_CPUTIME_ID`, which
//! survives `execve`). Everything between fork and `main` — exec, the loader mapping and
//! relocating, libc and Rust start-up — is CPU-bound, so that CPU time is the wall time of
//! that stretch (minus any time the CPU was taken away, or page faults waiting on disk).
//! From `main` on, a monotonic clock measures the rest until the first `/event/next`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Taken first thing in `main`.
#[derive(Debug, Clone, Copy)]
pub struct StartClock {
    /// CPU time of the process at `main`.
    pub(crate) cpu_before_main: Duration,
    pub(crate) at_main: Instant,
    /// Wall-clock estimate of the process start.
    pub(crate) started_at: DateTime<Utc>,
}

impl StartClock {
    pub fn now() -> StartClock {
        let cpu_before_main = process_cpu_time().unwrap_or_default();
        let at_main = Instant::now();
        let started_at = Utc::now()
            - chrono::Duration::from_std(cpu_before_main)
                .unwrap_or_else(|_| chrono::Duration::zero());
        StartClock {
            cpu_before_main,
            at_main,
            started_at,
        }
    }

    /// Milliseconds from process start until now.
    pub(crate) fn elapsed_ms(&self) -> f64 {
        (self.cpu_before_main + self.at_main.elapsed()).as_secs_f64() * 1000.0
    }
}

/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`.
pub(crate) fn process_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_readable_and_elapsed_grows() {
        assert!(process_cpu_time().is_some());
        let c = StartClock::now();
        let a = c.elapsed_ms();
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.elapsed_ms() > a);
        assert!(c.started_at <= Utc::now());
    }
}
