//! An invocation's own log: its lines collected from the log sink up to its `REPORT` line, and
//! the last 4 KB of them that `LogType: Tail` returns.

use std::time::Duration;

use tokio::sync::broadcast;

use crate::environment::{LogLine, LogSource};

/// How much of an invocation's log `LogType: Tail` returns, as on Lambda.
pub(crate) const LOG_TAIL_BYTES: usize = 4096;

/// After the `REPORT` line, how long the function's and extensions' earlier lines may still
/// arrive: their pipes are read by tasks of their own, which a loaded machine can run after the
/// platform has written its lines.
const LATE_LINES: Duration = Duration::from_millis(50);

/// The lines of one invocation: everything its environment logged since the request was taken,
/// up to and including the platform's `REPORT` line for it, and the processes' lines that reach
/// the sink within [`LATE_LINES`] after it. Lines reach the sink asynchronously, so this waits
/// briefly for the `REPORT` line.
pub(crate) async fn collect_log(
    mut rx: broadcast::Receiver<LogLine>,
    env_id: &str,
    request_id: &str,
) -> Vec<LogLine> {
    let mut lines = Vec::new();
    let mut deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    let mut reported = false;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(line)) => {
                if line.env_id != env_id || (reported && line.source == LogSource::Platform) {
                    continue;
                }
                let is_report = line.source == LogSource::Platform
                    && line.line.starts_with("REPORT")
                    && line.line.contains(request_id);
                lines.push(line);
                if is_report {
                    reported = true;
                    deadline = deadline.min(tokio::time::Instant::now() + LATE_LINES);
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                tracing::warn!("log tail missed {n} lines");
            }
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
        }
    }
    lines
}

/// The last [`LOG_TAIL_BYTES`] of an invocation's log, as `X-Amz-Log-Result` carries it (before
/// base64): whole lines where possible.
pub(crate) fn log_tail(lines: &[LogLine]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line.line);
        text.push('\n');
    }
    if text.len() <= LOG_TAIL_BYTES {
        return text;
    }
    let mut start = text.len() - LOG_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> LogLine {
        LogLine {
            env_id: "e".into(),
            source: LogSource::Function,
            time: chrono::Utc::now(),
            line: text.into(),
        }
    }

    #[test]
    fn log_tail_keeps_the_last_4_kb() {
        let lines: Vec<LogLine> = (0..200)
            .map(|i| line(&format!("line {i:04} {}", "x".repeat(40))))
            .collect();
        let tail = log_tail(&lines);
        assert_eq!(tail.len(), LOG_TAIL_BYTES);
        assert!(tail.ends_with(&format!("line 0199 {}\n", "x".repeat(40))));
    }

    #[test]
    fn short_logs_are_returned_whole() {
        let tail = log_tail(&[line("START"), line("END")]);
        assert_eq!(tail, "START\nEND\n");
    }
}
