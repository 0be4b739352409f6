//! Readers: every input form a user has markers in, turned into [`Observation`]s.
//!
//! Per line, the reader looks for a JSON object (from the first `{`), so the same code reads
//! the extension's own lines, lines behind a Lambda log prefix (`TIME\tREQUEST_ID\tLEVEL\t`,
//! `[LEVEL]\tTIME\tREQUEST_ID\t`), CloudWatch export lines (`TIME MESSAGE`), Lambda's JSON log
//! format (the marker in `message`) and the sandbox's `--json` records (`"type":"marker"`).
//! Whole documents are recognised from their start: gzip (CloudWatch exports) by its magic
//! bytes, and the JSON that `aws logs filter-log-events` prints (`{"events": [...]}`), which is
//! read event by event rather than loaded whole. Nothing here is fatal: what cannot be read is
//! counted and skipped.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::attribute::Observation;
use crate::marker::{Marker, Parsed};

/// What the readers saw, for the closing line on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReadCounts {
    /// Non-blank lines (or log events) read.
    pub lines: u64,
    pub markers: u64,
    /// Lines that are not markers (other log lines, the sandbox's other records).
    pub skipped: u64,
    /// Markers missing their identity, or JSON that broke off.
    pub malformed: u64,
    /// Markers of a schema this reader does not know.
    pub unknown_schema: u64,
    /// Inputs that ended early (a truncated gzip, a read error); what came before is used.
    pub truncated: u64,
}

impl ReadCounts {
    pub fn add(&mut self, other: &ReadCounts) {
        self.lines += other.lines;
        self.markers += other.markers;
        self.skipped += other.skipped;
        self.malformed += other.malformed;
        self.unknown_schema += other.unknown_schema;
        self.truncated += other.truncated;
    }
}

/// Where a line came from, when the input says.
#[derive(Debug, Clone, Default)]
pub struct LineContext {
    /// The log stream (one per environment on Lambda).
    pub stream: Option<String>,
    /// The log event's own time, when the source gives it apart from the line.
    pub at_ms: Option<i64>,
}

/// Reads one line (a log event's message) and hands on what it holds.
pub fn read_line(
    line: &[u8],
    context: &LineContext,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) {
    let line = trim(line);
    if line.is_empty() {
        return;
    }
    counts.lines += 1;
    let (leading_time, rest) = leading_timestamp(line);
    let at_ms = context.at_ms.or(leading_time);
    let found = match rest.iter().position(|&b| b == b'{') {
        Some(start) => read_object(&rest[start..], context.stream.clone(), counts, sink),
        None => false,
    };
    if !found {
        counts.skipped += 1;
        if let (Some(stream), Some(at_ms)) = (&context.stream, at_ms) {
            sink(Observation::Activity {
                stream: stream.clone(),
                at_ms,
            });
        }
    }
}

/// A JSON object: a marker, or something that carries one. True when it was a marker (or a
/// marker-shaped object that was counted as malformed or of unknown schema).
fn read_object(
    object: &[u8],
    stream: Option<String>,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) -> bool {
    // The extension writes `coldmark` first: the common case needs one typed parse.
    if object.starts_with(br#"{"coldmark""#) {
        return take(Marker::parse(object), stream, counts, sink);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(object) else {
        if object.windows(11).any(|w| w == br#""coldmark":"#) {
            counts.malformed += 1;
            return true;
        }
        return false;
    };
    read_value(&value, stream, counts, sink)
}

fn read_value(
    value: &serde_json::Value,
    stream: Option<String>,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) -> bool {
    if value.get("coldmark").is_some() {
        return take(Marker::from_value(value), stream, counts, sink);
    }
    // The sandbox's `--json` output: markers wrapped with the environment that logged them;
    // its other records (responses, configuration updates, environment starts...) are not
    // markers and are skipped like any other line.
    if value.get("type").and_then(|t| t.as_str()) == Some("marker") {
        if let Some(marker) = value.get("marker") {
            let env = value
                .get("env_id")
                .and_then(|e| e.as_str())
                .map(str::to_owned);
            return take(Marker::from_value(marker), env.or(stream), counts, sink);
        }
    }
    // Lambda's JSON log format: the line as `message` (text, or an object when it was JSON).
    match value.get("message") {
        Some(serde_json::Value::String(text)) => {
            let text = text.as_bytes();
            match text.iter().position(|&b| b == b'{') {
                Some(start) => read_object(&text[start..], stream, counts, sink),
                None => false,
            }
        }
        Some(inner @ serde_json::Value::Object(_)) => read_value(inner, stream, counts, sink),
        _ => false,
    }
}

fn take(
    parsed: Parsed,
    stream: Option<String>,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) -> bool {
    match parsed {
        Parsed::Marker(marker) => {
            counts.markers += 1;
            sink(Observation::Marker { marker, stream });
            true
        }
        Parsed::UnknownSchema => {
            counts.unknown_schema += 1;
            true
        }
        Parsed::Malformed => {
            counts.malformed += 1;
            true
        }
        Parsed::NotMarker => false,
    }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// A CloudWatch export line starts with the event's time: `2026-11-25T19:10:18.123Z MESSAGE`.
fn leading_timestamp(line: &[u8]) -> (Option<i64>, &[u8]) {
    if line.first().is_some_and(u8::is_ascii_digit) {
        let end = line
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(line.len());
        if let Some(ms) = std::str::from_utf8(&line[..end])
            .ok()
            .and_then(crate::time::parse_ms)
        {
            return (Some(ms), &line[end..]);
        }
    }
    (None, line)
}

/// Reads one input (a file's bytes or stdin) whatever its form.
pub fn read_input(
    input: impl Read,
    stream: Option<String>,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) {
    let mut reader = BufReader::with_capacity(1 << 18, input);
    let gzip = match reader.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(_) => {
            counts.truncated += 1;
            return;
        }
    };
    if gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(reader);
        read_text(
            BufReader::with_capacity(1 << 18, decoder),
            stream,
            counts,
            sink,
        );
    } else {
        read_text(reader, stream, counts, sink);
    }
}

/// Reads a file by path. An export file (`<stream>/000000.gz`) names its log stream by its
/// directory, as CloudWatch's export lays them out.
pub fn read_path(path: &Path, counts: &mut ReadCounts, sink: &mut dyn FnMut(Observation)) {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("coldmark-explain: cannot read {}: {e}", path.display());
            counts.truncated += 1;
            return;
        }
    };
    let is_export_chunk = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".gz"))
        .is_some_and(|stem| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()));
    let stream = if is_export_chunk {
        path.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .map(str::to_owned)
    } else {
        None
    };
    let before = counts.truncated;
    read_input(file, stream, counts, sink);
    if counts.truncated > before {
        eprintln!(
            "coldmark-explain: {} ended early (truncated or unreadable); used what came before",
            path.display()
        );
    }
}

fn read_text(
    mut reader: impl BufRead,
    stream: Option<String>,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) {
    let context = LineContext { stream, at_ms: None };
    let mut line = Vec::with_capacity(4096);
    // The first line decides between lines and one JSON document.
    match reader.read_until(b'\n', &mut line) {
        Ok(0) => return,
        Ok(_) => {}
        Err(_) => {
            counts.truncated += 1;
            return;
        }
    }
    let first = trim(&line);
    let is_document = (first.starts_with(b"{") || first.starts_with(b"["))
        && serde_json::from_slice::<IgnoredAny>(first).is_err();
    if is_document {
        let chained = Cursor::new(std::mem::take(&mut line)).chain(reader);
        read_document(chained, context.stream, counts, sink);
        return;
    }
    read_line(&line, &context, counts, sink);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => read_line(&line, &context, counts, sink),
            Err(_) => {
                // A truncated gzip ends here; a last partial line is still worth reading.
                read_line(&line, &context, counts, sink);
                counts.truncated += 1;
                break;
            }
        }
    }
}

/// One event of `aws logs filter-log-events` (and of the CloudWatch Logs API).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent {
    #[serde(default)]
    log_stream_name: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    message: String,
}

/// The JSON document `aws logs filter-log-events` prints, read one event at a time: a
/// `{"events": [...], ...}` object, or the bare array (`--query events`).
fn read_document(
    reader: impl Read,
    stream: Option<String>,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let seed = DocumentSeed {
        stream,
        counts,
        sink,
    };
    if seed.deserialize(&mut de).is_err() {
        counts.truncated += 1;
    }
}

struct DocumentSeed<'a> {
    stream: Option<String>,
    counts: &'a mut ReadCounts,
    sink: &'a mut dyn FnMut(Observation),
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a filter-log-events document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let DocumentSeed {
            stream,
            counts,
            sink,
        } = self;
        while let Some(key) = map.next_key::<String>()? {
            if key == "events" {
                map.next_value_seed(DocumentSeed {
                    stream: stream.clone(),
                    counts: &mut *counts,
                    sink: &mut *sink,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(event) = seq.next_element::<LogEvent>()? {
            let context = LineContext {
                stream: event.log_stream_name.or_else(|| self.stream.clone()),
                at_ms: event.timestamp,
            };
            read_line(event.message.as_bytes(), &context, self.counts, self.sink);
        }
        Ok(())
    }
}

/// Reads every path (`-` is stdin; none at all is stdin too).
pub fn read_paths(paths: &[std::path::PathBuf], sink: &mut dyn FnMut(Observation)) -> ReadCounts {
    let mut counts = ReadCounts::default();
    if paths.is_empty() {
        read_input(std::io::stdin().lock(), None, &mut counts, sink);
    }
    for path in paths {
        if path.as_os_str() == "-" {
            read_input(std::io::stdin().lock(), None, &mut counts, sink);
        } else {
            read_path(path, &mut counts, sink);
        }
    }
    counts
}
