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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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
    let found = match memchr::memchr(b'{', rest) {
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

/// One input opened for reading: either lines, pulled one observation at a time (so that
/// several inputs can be merged in time order), or a JSON document, read whole by push.
pub enum Opened {
    Lines(LineInput),
    Document(Box<dyn Read>, Option<String>),
}

/// A line-oriented input, pulled: [`LineInput::peek_ms`] shows the time of the next
/// observation, [`LineInput::next_observation`] takes it.
pub struct LineInput {
    reader: Box<dyn BufRead>,
    context: LineContext,
    line: Vec<u8>,
    pending: VecDeque<Observation>,
    pub counts: ReadCounts,
    done: bool,
}

/// Where [`LineInput::step`] hands what it reads.
enum Target<'s> {
    /// The look-ahead queue, for merging.
    Queue,
    Sink(&'s mut dyn FnMut(Observation)),
}

impl LineInput {
    fn fill(&mut self) {
        while self.pending.is_empty() && !self.done {
            self.step(Target::Queue);
        }
    }

    /// Reads the input to its end, handing each observation straight on. With one input there
    /// is nothing to merge, and the look-ahead queue only copied every observation in and out.
    fn read_all(mut self, sink: &mut dyn FnMut(Observation)) -> ReadCounts {
        for o in self.pending.drain(..) {
            sink(o);
        }
        while !self.done {
            self.step(Target::Sink(sink));
        }
        self.counts
    }

    /// Reads one line (or what the buffer holds of a long one).
    fn step(&mut self, target: Target) {
        let LineInput {
            reader,
            context,
            line,
            pending,
            counts,
            done,
        } = self;
        let mut to_queue = |o: Observation| pending.push_back(o);
        let push: &mut dyn FnMut(Observation) = match target {
            Target::Queue => &mut to_queue,
            Target::Sink(sink) => sink,
        };
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(_) => {
                // A truncated gzip ends here; a last partial line is still worth reading.
                read_line(line, context, counts, push);
                line.clear();
                counts.truncated += 1;
                *done = true;
                return;
            }
        };
        if buf.is_empty() {
            read_line(line, context, counts, push);
            line.clear();
            *done = true;
            return;
        }
        // The common case reads the line where it lies in the buffer, without a copy.
        match memchr::memchr(b'\n', buf) {
            Some(end) if line.is_empty() => {
                read_line(&buf[..end], context, counts, push);
                reader.consume(end + 1);
            }
            Some(end) => {
                line.extend_from_slice(&buf[..end]);
                reader.consume(end + 1);
                read_line(line, context, counts, push);
                line.clear();
            }
            None => {
                let n = buf.len();
                line.extend_from_slice(buf);
                reader.consume(n);
            }
        }
    }

    pub fn peek_ms(&mut self) -> Option<i64> {
        self.fill();
        self.pending.front().map(Observation::at_ms)
    }

    pub fn next_observation(&mut self) -> Option<Observation> {
        self.fill();
        self.pending.pop_front()
    }
}

/// Opens one input (a file's bytes or stdin) and tells its form from its first bytes.
pub fn open_input(
    input: Box<dyn Read>,
    stream: Option<String>,
    counts: &mut ReadCounts,
) -> Option<Opened> {
    // 256 KiB: a quarter of the read calls of 64 KiB, and fewer lines cut by a buffer's end
    // (those are copied to be read whole).
    let mut reader = BufReader::with_capacity(1 << 18, input);
    let gzip = match reader.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(_) => {
            counts.truncated += 1;
            return None;
        }
    };
    let mut text: Box<dyn BufRead> = if gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(reader);
        Box::new(BufReader::with_capacity(1 << 16, decoder))
    } else {
        Box::new(reader)
    };
    // The first line decides between lines and one JSON document.
    let mut line = Vec::with_capacity(4096);
    let truncated = text.read_until(b'\n', &mut line).is_err();
    let first = trim(&line);
    // The AWS CLI pretty-prints: a lone `{` (or `[` for `--query events`) on the first line;
    // a broken marker line is not a document.
    let opens_document = first == b"{"
        || first == b"["
        || first.starts_with(br#"{"events""#)
        || first.starts_with(br#"{ "events""#);
    let is_document = opens_document && serde_json::from_slice::<IgnoredAny>(first).is_err();
    if is_document && !truncated {
        let chained: Box<dyn Read> = Box::new(Cursor::new(line).chain(text));
        return Some(Opened::Document(chained, stream));
    }
    let mut input = LineInput {
        reader: text,
        context: LineContext {
            stream,
            at_ms: None,
        },
        line: Vec::with_capacity(4096),
        pending: VecDeque::new(),
        counts: ReadCounts::default(),
        done: truncated,
    };
    let LineInput {
        context,
        pending,
        counts: own,
        ..
    } = &mut input;
    read_line(&line, context, own, &mut |o| pending.push_back(o));
    if truncated {
        own.truncated += 1;
    }
    Some(Opened::Lines(input))
}

/// Reads one input whatever its form.
pub fn read_input(
    input: impl Read + 'static,
    stream: Option<String>,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) {
    match open_input(Box::new(input), stream, counts) {
        None => {}
        Some(Opened::Document(reader, stream)) => read_document(reader, stream, counts, sink),
        Some(Opened::Lines(lines)) => merge(vec![lines], counts, sink),
    }
}

/// Merges line inputs by time: each is read one observation ahead, and the earliest goes
/// first. Export files hold one log stream each, so this is what puts a day of them back in
/// order while holding one line per file.
pub fn merge(
    mut inputs: Vec<LineInput>,
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) {
    if inputs.len() == 1 {
        let input = inputs.pop().expect("one input");
        counts.add(&input.read_all(sink));
        return;
    }
    let mut heap = BinaryHeap::new();
    for (i, input) in inputs.iter_mut().enumerate() {
        if let Some(at) = input.peek_ms() {
            heap.push(Reverse((at, i)));
        }
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        if let Some(o) = inputs[i].next_observation() {
            sink(o);
        }
        if let Some(at) = inputs[i].peek_ms() {
            heap.push(Reverse((at, i)));
        }
    }
    for input in &inputs {
        counts.add(&input.counts);
    }
}

/// Opens a file by path. An export file (`<stream>/000000.gz`) names its log stream by its
/// directory, as CloudWatch's export lays them out. A file that cannot be opened is an error
/// (the user named it); one that breaks off is not.
pub fn open_path(path: &Path, counts: &mut ReadCounts) -> Result<Option<Opened>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
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
    Ok(open_input(Box::new(file), stream, counts))
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

/// Reads every path (`-` is stdin; none at all is stdin too): JSON documents one by one, line
/// inputs merged by time. Returns the files that could not be opened.
pub fn read_paths(
    paths: &[std::path::PathBuf],
    counts: &mut ReadCounts,
    sink: &mut dyn FnMut(Observation),
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    let stdin_only = [std::path::PathBuf::from("-")];
    let paths = if paths.is_empty() {
        &stdin_only[..]
    } else {
        paths
    };
    for path in paths {
        let opened = if path.as_os_str() == "-" {
            Ok(open_input(Box::new(std::io::stdin()), None, counts))
        } else {
            open_path(path, counts)
        };
        match opened {
            Err(e) => errors.push(e),
            Ok(None) => eprintln!(
                "coldmark-explain: {} could not be read; skipped",
                path.display()
            ),
            Ok(Some(Opened::Document(reader, stream))) => {
                read_document(reader, stream, counts, sink)
            }
            Ok(Some(Opened::Lines(input))) => lines.push(input),
        }
    }
    let before = counts.truncated;
    merge(lines, counts, sink);
    if counts.truncated > before {
        eprintln!("coldmark-explain: an input ended early (truncated gzip or read error); used what came before");
    }
    errors
}
