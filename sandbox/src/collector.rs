//! The front-ends' reader of the environments' logs and the control plane's events: markers
//! (and, if asked, every log line) are printed as they arrive and kept for the verdict.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use coldmark_explain::{Marker, Parsed};
use lambda_emulator::control_plane::ControlPlaneEvent;
use lambda_emulator::environment::{LogLine, LogSource};

use crate::lifecycle_events::{EnvironmentStartRecord, EnvironmentStopRecord};
use crate::output::{short, Printer, Record};

/// A log line of an environment (the sandbox's CloudWatch), printed with `--show-logs`/`serve`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogRecord {
    pub env_id: String,
    /// `function`, `platform` or the extension's name.
    pub source: String,
    pub time: String,
    pub line: String,
}

impl Record for LogRecord {
    const TYPE: &'static str = "log";

    fn text(&self) -> String {
        format!(
            "     [{} {}] {}",
            short(&self.env_id),
            self.source,
            self.line
        )
    }
}

/// A coldmark marker as it reached the log sink.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MarkerRecord {
    /// The environment whose log carried the line (the sandbox's id for it).
    pub env_id: String,
    /// The extension that printed it.
    pub source: String,
    pub received_at: String,
    /// The marker, untouched.
    pub marker: serde_json::Value,
    /// The line as printed (for the human form).
    #[serde(skip)]
    pub line: String,
}

impl Record for MarkerRecord {
    const TYPE: &'static str = "marker";

    fn text(&self) -> String {
        format!("     [{} marker] {}", self.kind(), self.line)
    }
}

impl MarkerRecord {
    /// Reads a log line as a marker: a JSON object with a `coldmark` field.
    pub fn from_log(line: &LogLine) -> Option<Self> {
        let trimmed = line.line.trim();
        if !trimmed.starts_with('{') {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
        value.get("coldmark")?.as_str()?;
        Some(Self {
            env_id: line.env_id.clone(),
            source: source_name(&line.source),
            received_at: rfc3339_ms(&line.time),
            marker: value,
            line: trimmed.to_owned(),
        })
    }

    /// `init`, `invoke` or `shutdown`.
    pub fn kind(&self) -> &str {
        self.marker
            .get("coldmark")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
    }

    /// The marker as `coldmark-explain` reads it, the one marker reader: a marker it refuses
    /// (no identity, another schema) is left out of any verdict, as the tool would skip it.
    pub fn read(&self) -> Option<Marker> {
        match Marker::from_value(&self.marker) {
            Parsed::Marker(marker) => Some(marker),
            _ => None,
        }
    }
}

fn source_name(source: &LogSource) -> String {
    match source {
        LogSource::Function => "function".into(),
        LogSource::Platform => "platform".into(),
        LogSource::Extension(name) => name.clone(),
    }
}

fn rfc3339_ms(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What the log/event collector gathered.
pub struct Collected {
    pub markers: Vec<MarkerRecord>,
    pub events: Vec<ControlPlaneEvent>,
}

/// Prints markers (and, if asked, every log line) as they arrive and keeps them for the
/// verdict. After `stop` it keeps reading until the log has been quiet for a moment, so lines
/// written during the final shutdowns are not lost.
pub async fn collect(
    mut logs: broadcast::Receiver<LogLine>,
    mut events: broadcast::Receiver<ControlPlaneEvent>,
    mut stop: watch::Receiver<bool>,
    printer: Printer,
    show_logs: bool,
) -> Collected {
    let mut collected = Collected {
        markers: Vec::new(),
        events: Vec::new(),
    };
    let quiet = Duration::from_millis(300);
    let mut stopping = false;
    loop {
        let line = if stopping {
            match tokio::time::timeout(quiet, logs.recv()).await {
                Ok(line) => line,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                line = logs.recv() => line,
                event = events.recv() => {
                    if let Ok(event) = event {
                        print_event(&printer, &event);
                        collected.events.push(event);
                    }
                    continue;
                }
                _ = stop.changed() => {
                    stopping = true;
                    continue;
                }
            }
        };
        match line {
            Ok(line) => {
                if let Some(marker) = MarkerRecord::from_log(&line) {
                    printer.print(&marker);
                    collected.markers.push(marker);
                } else if show_logs {
                    printer.print(&LogRecord {
                        env_id: line.env_id.clone(),
                        source: source_name(&line.source),
                        time: rfc3339_ms(&line.time),
                        line: line.line.clone(),
                    });
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("the experiment missed {n} log lines");
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    while let Ok(event) = events.try_recv() {
        print_event(&printer, &event);
        collected.events.push(event);
    }
    collected
}

/// Prints what the sandbox knows of an environment's life (why it started, how it ended).
fn print_event(printer: &Printer, event: &ControlPlaneEvent) {
    if let Some(start) = EnvironmentStartRecord::from_event(event) {
        printer.print(&start);
    } else if let Some(stop) = EnvironmentStopRecord::from_event(event) {
        printer.print(&stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_lines_are_recognised() {
        let line = LogLine {
            env_id: "e".into(),
            source: LogSource::Extension("coldmark".into()),
            time: chrono::Utc::now(),
            line: r#"{"coldmark":"init","schema":1}"#.into(),
        };
        assert_eq!(MarkerRecord::from_log(&line).unwrap().kind(), "init");
        let other = LogLine {
            line: r#"{"level":"info"}"#.into(),
            ..line
        };
        assert!(MarkerRecord::from_log(&other).is_none());
    }
}
