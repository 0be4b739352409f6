//! The fast path for a marker line as the extension writes it: one pass over the bytes that
//! reads the fields attribution needs and checks the rest without building anything.
//!
//! Most of a marker is never read: the init marker is ~950 bytes, mostly its EMF block and
//! extension list, and serde_json tokenises every key and string of it to skip it, which was
//! the largest share of reading a marker. This scan checks the same JSON grammar, finds a
//! string's end a word at a time, and skips a container it has seen before, byte for byte,
//! with one comparison (see [`Known`]).
//!
//! It answers only when it is sure to agree with serde_json: anything unusual (an escape in
//! any string, a field read twice, a field of an unexpected type, deep nesting) makes it give
//! up with `None`, and the caller parses the line with serde_json as before; a lenient field's
//! value of an unusual shape is converted by serde_json alone. So serde_json stays the
//! definition of what a marker is; this is a shortcut for the common shape only.

use std::borrow::Cow;

use serde::Deserialize;

use super::record::Parsed;
use super::wire::{Scalar, Text, Wire};

/// Deeper nesting than this is left to serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 64;

/// Reads one JSON object, or `None` when serde_json must decide.
pub(super) fn scan(text: &str) -> Option<Parsed> {
    KNOWN.with_borrow_mut(|known| scan_with(text, known))
}

fn scan_with(text: &str, known: &mut Known) -> Option<Parsed> {
    let mut s = Scan {
        text,
        bytes: text.as_bytes(),
        at: 0,
        known,
    };
    let mut wire = Wire::default();
    let mut seen = 0u32;
    s.space();
    s.expect(b'{')?;
    s.space();
    if s.eat(b'}') {
        return s.end().then(|| wire.into_parsed());
    }
    loop {
        s.expect(b'"')?;
        let key = s.string()?;
        s.space();
        s.expect(b':')?;
        s.space();
        match field(key) {
            Some(f) => {
                // A field given twice is an error for serde's derive: left to it.
                if seen & (1 << f as u32) != 0 {
                    return None;
                }
                seen |= 1 << f as u32;
                s.read_field(f, &mut wire)?;
            }
            None => s.skip_member(key, 0)?,
        }
        s.space();
        match s.next()? {
            b',' => s.space(),
            b'}' => break,
            _ => return None,
        }
    }
    s.end().then(|| wire.into_parsed())
}

/// A number (checked already) with a fraction, no exponent and at most 15 digits, such as
/// `150.0`, as its value. serde_json reads it as its digits as an integer divided by a power of
/// ten, both exact in an `f64`: one rounding, the correct one, which is what `str::parse` gives
/// too. Done here in the one pass that checks the shape (the init marker has four such figures).
fn short_decimal(number: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match number.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, number),
    };
    let mut mantissa = 0u64;
    let mut count = 0;
    let mut point = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' if count < 15 => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                count += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    let fraction = digits.len() - point? - 1;
    let value = mantissa as f64 / POW10[fraction];
    Some(if negative { -value } else { value })
}

/// The fields of [`Wire`], by the key that names them.
#[derive(Clone, Copy)]
enum Field {
    Coldmark,
    Schema,
    Timestamp,
    FunctionName,
    FunctionVersion,
    EnvId,
    InitType,
    InitPhase,
    InitDurationMs,
    RuntimeInitMs,
    ExtensionsInitMs,
    ColdmarkInitMs,
    Source,
    Proactive,
    ConfigFingerprint,
    FunctionMemorySize,
    FunctionRequestId,
    Reason,
    TenantId,
    InitStatus,
    InitErrorType,
    Invocations,
}

fn field(key: &[u8]) -> Option<Field> {
    Some(match key {
        b"coldmark" => Field::Coldmark,
        b"schema" => Field::Schema,
        b"timestamp" => Field::Timestamp,
        b"function_name" => Field::FunctionName,
        b"function_version" => Field::FunctionVersion,
        b"env_id" => Field::EnvId,
        b"init_type" => Field::InitType,
        b"init_phase" => Field::InitPhase,
        b"init_duration_ms" => Field::InitDurationMs,
        b"runtime_init_ms" => Field::RuntimeInitMs,
        b"extensions_init_ms" => Field::ExtensionsInitMs,
        b"coldmark_init_ms" => Field::ColdmarkInitMs,
        b"source" => Field::Source,
        b"proactive" => Field::Proactive,
        b"config_fingerprint" => Field::ConfigFingerprint,
        b"function_memory_size" => Field::FunctionMemorySize,
        b"function_request_id" => Field::FunctionRequestId,
        b"reason" => Field::Reason,
        b"tenant_id" => Field::TenantId,
        b"init_status" => Field::InitStatus,
        b"init_error_type" => Field::InitErrorType,
        b"invocations" => Field::Invocations,
        _ => return None,
    })
}

struct Scan<'a, 'k> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    known: &'k mut Known,
}

/// At most this many containers are remembered.
const KNOWN_MAX: usize = 8;
/// Shorter containers are checked rather than remembered.
const KNOWN_MIN_LEN: usize = 32;

/// Arrays and objects already checked, byte for byte, under the key (and at the depth) they
/// came with. Most of an init marker is the same in every line: its EMF metric definitions and
/// its extension list. Bytes equal to a value that was checked are that value again (the
/// grammar reads the same bytes the same way, and a container ends at its own closing
/// bracket), so they are skipped with one comparison instead of forty tokens.
#[derive(Default)]
struct Known {
    entries: Vec<KnownValue>,
}

struct KnownValue {
    depth: usize,
    key: Box<[u8]>,
    value: Box<[u8]>,
    /// Lines since this value last matched: one that keeps changing (the EMF block, which
    /// holds a timestamp) is replaced only now and then.
    misses: u32,
}

thread_local! {
    static KNOWN: std::cell::RefCell<Known> = std::cell::RefCell::default();
}

/// Where a string's text stops: the first quote, backslash or control character. Marker
/// strings are short (ten bytes or so), too short for `memchr`'s set-up to pay: sixteen bytes
/// are tested at a time in a (two-register) word instead, so that most strings end in the
/// first round and the loop's exit is easy to predict.
fn stop(b: &[u8]) -> Option<usize> {
    const ONES: u128 = u128::from_le_bytes([1; 16]);
    const HIGH: u128 = u128::from_le_bytes([0x80; 16]);
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 16) {
        let w = u128::from_le_bytes(chunk.try_into().expect("sixteen bytes"));
        let quote = w ^ (ONES * u128::from(b'"'));
        let backslash = w ^ (ONES * u128::from(b'\\'));
        // A byte is flagged when it is zero after the xor, or below 0x20. Only bytes after
        // the first flagged one can be flagged wrongly (by a borrow), so the first is exact.
        let hits = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let hits = hits & HIGH;
        if hits != 0 {
            return Some(i + hits.trailing_zeros() as usize / 8);
        }
        i += 16;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

impl<'a> Scan<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    /// JSON's whitespace (serde_json's: no form feed).
    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    /// Nothing but whitespace is left.
    fn end(&mut self) -> bool {
        self.space();
        self.at == self.bytes.len()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let rest = self.bytes.get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    /// The rest of a string whose opening quote was read; `None` on an escape (serde_json
    /// decodes those) or a control character (which it refuses).
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        let end = start + stop(&self.bytes[start..])?;
        if self.bytes[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        Some(&self.bytes[start..end])
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as serde_json reads numbers.
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.') {
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        // serde_json refuses a digit after a leading zero ("01").
        (!matches!(self.peek(), Some(b'0'..=b'9'))).then_some(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// Checks one value of any type and moves past it.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.string().map(drop)
            }
            b'{' => {
                self.at += 1;
                self.nested(depth)?;
                self.space();
                if self.eat(b'}') {
                    return Some(());
                }
                loop {
                    self.expect(b'"')?;
                    let key = self.string()?;
                    self.space();
                    self.expect(b':')?;
                    self.space();
                    self.skip_member(key, depth + 1)?;
                    self.space();
                    match self.next()? {
                        b',' => self.space(),
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.at += 1;
                self.nested(depth)?;
                self.space();
                if self.eat(b']') {
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.space();
                    match self.next()? {
                        b',' => self.space(),
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// A member's value under `key`: skipped whole when it is a container seen before.
    fn skip_member(&mut self, key: &[u8], depth: usize) -> Option<()> {
        if !matches!(self.peek(), Some(b'[' | b'{')) {
            return self.skip_value(depth);
        }
        let rest = &self.bytes[self.at..];
        let mut slot = None;
        for (i, known) in self.known.entries.iter_mut().enumerate() {
            if known.depth == depth && *known.key == *key {
                if rest.starts_with(&known.value) {
                    known.misses = 0;
                    self.at += known.value.len();
                    return Some(());
                }
                known.misses += 1;
                slot = Some(i);
                break;
            }
        }
        let start = self.at;
        self.skip_value(depth)?;
        let value = &self.bytes[start..self.at];
        if value.len() < KNOWN_MIN_LEN {
            return Some(());
        }
        let fresh = || KnownValue {
            depth,
            key: key.into(),
            value: value.into(),
            misses: 0,
        };
        match slot {
            Some(i) if self.known.entries[i].misses >= 16 => self.known.entries[i] = fresh(),
            Some(_) => {}
            None if self.known.entries.len() < KNOWN_MAX => self.known.entries.push(fresh()),
            None => {}
        }
        Some(())
    }

    fn nested(&self, depth: usize) -> Option<()> {
        (depth < MAX_DEPTH).then_some(())
    }

    /// A text field: a string without escapes, or `null` (serde's `Option` reads it as none).
    fn text_field(&mut self) -> Option<Option<Text<'a>>> {
        if self.eat(b'"') {
            let start = self.at;
            let len = self.string()?.len();
            // Both ends are next to an ASCII quote: char boundaries.
            let text = self.text.get(start..start + len)?;
            return Some(Some(Text(Cow::Borrowed(text))));
        }
        self.literal(b"null")?;
        Some(None)
    }

    /// A field the lenient readers take: its value checked, then given to serde_json alone,
    /// so that numbers are converted exactly as before. The shapes every marker has (`false`,
    /// a small integer, a short decimal) are read directly.
    fn scalar_field(&mut self) -> Option<Scalar> {
        let start = self.at;
        self.skip_value(0)?;
        let value = self.text.get(start..self.at)?;
        match value.as_bytes() {
            b"true" => Some(Scalar::Bool(true)),
            b"false" => Some(Scalar::Bool(false)),
            b"null" => Some(Scalar::Other),
            digits if digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) => {
                value.parse().ok().map(Scalar::Int)
            }
            number => match short_decimal(number) {
                Some(v) => Some(Scalar::Float(v)),
                None => Scalar::deserialize(&mut serde_json::Deserializer::from_str(value)).ok(),
            },
        }
    }

    fn read_field(&mut self, f: Field, wire: &mut Wire<'a>) -> Option<()> {
        match f {
            Field::Coldmark => wire.coldmark = self.text_field()?,
            Field::Timestamp => wire.timestamp = self.text_field()?,
            Field::FunctionName => wire.function_name = self.text_field()?,
            Field::FunctionVersion => wire.function_version = self.text_field()?,
            Field::EnvId => wire.env_id = self.text_field()?,
            Field::InitType => wire.init_type = self.text_field()?,
            Field::InitPhase => wire.init_phase = self.text_field()?,
            Field::ConfigFingerprint => wire.config_fingerprint = self.text_field()?,
            Field::FunctionRequestId => wire.function_request_id = self.text_field()?,
            Field::Reason => wire.reason = self.text_field()?,
            Field::TenantId => wire.tenant_id = self.text_field()?,
            Field::InitStatus => wire.init_status = self.text_field()?,
            Field::InitErrorType => wire.init_error_type = self.text_field()?,
            Field::Invocations => wire.invocations = self.scalar_field()?.into_u64(),
            Field::Source => wire.source = self.text_field()?,
            Field::Schema => wire.schema = self.scalar_field()?.into_u64(),
            Field::FunctionMemorySize => {
                wire.function_memory_size = self.scalar_field()?.into_u64()
            }
            Field::InitDurationMs => wire.init_duration_ms = self.scalar_field()?.into_f64(),
            Field::RuntimeInitMs => wire.runtime_init_ms = self.scalar_field()?.into_f64(),
            Field::ExtensionsInitMs => wire.extensions_init_ms = self.scalar_field()?.into_f64(),
            Field::ColdmarkInitMs => wire.coldmark_init_ms = self.scalar_field()?.into_f64(),
            Field::Proactive => wire.proactive = self.scalar_field()?.into_bool(),
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marker::Marker;

    /// The scan and serde_json agree on `text`, or the scan gave up.
    fn agrees(text: &str) -> bool {
        let by_serde = serde_json::from_str::<Wire>(text)
            .map(Wire::into_parsed)
            .ok();
        match scan(text) {
            None => true,
            Some(parsed) => by_serde == Some(parsed),
        }
    }

    #[test]
    fn a_string_stops_at_its_first_quote_backslash_or_control_character() {
        for len in 0..40 {
            for end in [b'"', b'\\', 0x00, 0x1f] {
                for fill in [b'a', b' ', 0x21, 0x23, 0x5d, 0x7f, 0xc3] {
                    let mut b = vec![fill; len];
                    b.push(end);
                    // After the end, bytes that a borrow could make look special.
                    b.extend([0x20, 0x23, 0x5d, b'"', 0x01]);
                    assert_eq!(stop(&b), Some(len), "{len} {end:#x} {fill:#x}");
                }
            }
        }
        assert_eq!(stop(b"no end in sight"), None);
    }

    #[test]
    fn short_decimals_are_read_as_serde_json_reads_them() {
        // Up to 16 digits with the point anywhere before the last one, both signs; bit for bit.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut checked = 0;
        for digits in 1..=16usize {
            for _ in 0..400 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let all: String = (0..digits)
                    .map(|i| char::from(b'0' + ((seed >> (i * 4)) % 10) as u8))
                    .collect();
                let (int, frac) = all.split_at((seed >> 58) as usize % digits);
                let int = match int.trim_start_matches('0') {
                    "" => "0",
                    int => int,
                };
                for sign in ["", "-"] {
                    let number = format!("{sign}{int}.{frac}");
                    let digits = number.bytes().filter(u8::is_ascii_digit).count();
                    let read = short_decimal(number.as_bytes());
                    if digits > 15 {
                        assert_eq!(read, None, "{number}");
                        continue;
                    }
                    let by_serde: f64 = serde_json::from_str(&number).unwrap();
                    let by_std: f64 = number.parse().unwrap();
                    assert_eq!(read.map(f64::to_bits), Some(by_serde.to_bits()), "{number}");
                    assert_eq!(by_serde.to_bits(), by_std.to_bits(), "{number}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
        for other in [
            "1",
            "-7",
            "1e5",
            "1.5e3",
            "1234567890.1234567",
            "0.30000000000000004",
        ] {
            assert_eq!(short_decimal(other.as_bytes()), None, "{other}");
        }
        assert_eq!(
            short_decimal(b"-0.0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
    }

    #[test]
    fn remembered_containers_change_nothing() {
        // A container seen before, the same bytes in another line; other bytes under the same
        // key; the remembered bytes followed by more, or broken off: each line read as
        // serde_json reads it, in every order.
        let lines = [
            r#"{"coldmark":"invoke","schema":1,"timestamp":"2026-11-25T19:32:46.868Z","function_name":"f","env_id":"e","list":[{"name":"coldmark","events":["INVOKE","SHUTDOWN"]}]}"#,
            r#"{"coldmark":"invoke","schema":1,"timestamp":"2026-11-25T19:32:47.868Z","function_name":"g","env_id":"e2","list":[{"name":"coldmark","events":["INVOKE","SHUTDOWN"]}]}"#,
            r#"{"coldmark":"invoke","schema":1,"timestamp":"2026-11-25T19:32:48.868Z","function_name":"h","env_id":"e3","list":[{"name":"coldmark","events":["INVOKE","SHUTDOWN"]},1]}"#,
            r#"{"coldmark":"invoke","schema":1,"timestamp":"2026-11-25T19:32:49.868Z","function_name":"f","env_id":"e","list":[{"name":"coldmark","events":["INVOKE","SHUTDOWN"]}}"#,
            r#"{"coldmark":"invoke","schema":1,"timestamp":"2026-11-25T19:32:50.868Z","function_name":"f","env_id":"e","list":[{"name":"coldmark","events":["INVOKE","SHUTDOWN"]}]x}"#,
            r#"{"coldmark":"invoke","schema":1,"timestamp":"2026-11-25T19:32:51.868Z","function_name":"f","env_id":"e","x":{"list":[{"name":"coldmark","events":["INVOKE","SHUTDOWN"]}]}}"#,
            r#"{"coldmark":"invoke","schema":1,"timestamp":"2026-11-25T19:32:52.868Z","function_name":"f","env_id":"e","list":[{"name":"coldmark","events":["INVOKE","SHUTDOWN"]}],"schema":2}"#,
        ];
        for round in 0..3 {
            for i in 0..lines.len() {
                let text = lines[(i * (round + 1)) % lines.len()];
                let by_serde = match serde_json::from_str::<Wire>(text) {
                    Ok(wire) => wire.into_parsed(),
                    Err(_) => Parsed::Malformed,
                };
                assert_eq!(Marker::parse(text.as_bytes()), by_serde, "{text}");
                assert!(agrees(text), "{text}");
            }
        }
    }

    #[test]
    fn reads_what_serde_reads_and_gives_up_where_unsure() {
        let init = r#"{"coldmark":"init","schema":1,"timestamp":"2026-11-25T19:32:46.868Z","function_name":"clock","function_version":"$LATEST","env_id":"e1","init_type":"on-demand","init_phase":"init","init_duration_ms":39.5,"proactive":false,"config_fingerprint":"c6","function_memory_size":128,"runtime_init_ms":3e1,"extensions":[{"name":"coldmark","events":["INVOKE"]}],"_aws":{"Timestamp":1795635166868,"CloudWatchMetrics":[],"x":[true,null,-0.5e-3,{}]},"ColdStart":1}"#;
        let parsed = scan(init).expect("the common shape is read");
        let Parsed::Marker(m) = parsed else {
            panic!("not a marker")
        };
        assert_eq!(m.env_id, "e1");
        assert_eq!(m.init().unwrap().init_duration_ms, Some(39.5));
        assert_eq!(m.init().unwrap().runtime_init_ms, Some(30.0));
        assert_eq!(
            m,
            match Marker::parse(init.as_bytes()) {
                Parsed::Marker(m) => m,
                other => panic!("{other:?}"),
            }
        );
        assert!(agrees(init));
        // Numbers as serde_json converts them (the fast shapes and the others).
        for figures in [
            r#""init_duration_ms":0.1,"runtime_init_ms":-2.675,"extensions_init_ms":123456789.012345"#,
            r#""init_duration_ms":9007199254740.993,"runtime_init_ms":0.30000000000000004"#,
            r#""init_duration_ms":1e2,"runtime_init_ms":-0.0,"function_memory_size":18446744073709551615"#,
            r#""init_duration_ms":"7.5","proactive":1,"function_memory_size":2.0"#,
            r#""coldmark_init_ms":2.515,"source":"telemetry""#,
            r#""coldmark_init_ms":"3","source":"extension""#,
            r#""coldmark_init_ms":null,"source":null"#,
        ] {
            let text = format!(
                r#"{{"coldmark":"init","schema":1,"timestamp":"2026-11-25T19:32:46.868Z","function_name":"f","env_id":"e",{figures}}}"#
            );
            assert!(matches!(scan(&text), Some(Parsed::Marker(_))), "{text}");
            assert!(agrees(&text), "{text}");
        }
        for text in [
            r#"{"coldmark":"init","env_id":"a\"b"}"#,
            r#"{"coldmark":"init","coldmark":"init"}"#,
            r#"{"coldmark":"invoke","x":01}"#,
            r#"{"coldmark":"invoke","x":[1,]}"#,
            r#"{"coldmark":"invoke","x":1,}"#,
            r#"{"coldmark":"invoke","x":"tab	here"}"#,
            r#"{"coldmark":"invoke","schema":"1","proactive":"true"}"#,
            r#"{"coldmark":"invoke","schema":1} x"#,
            r#"{"coldmark":"invoke","schema":1.0,"function_memory_size":-1}"#,
            r#"{"coldmark":"invoke","reason":null,"timestamp":5}"#,
            r#"{"coldmark":"invoke","init_duration_ms":1e999}"#,
            r#"{"coldmark":"invoke","x":-}"#,
            r#"{"coldmark":"invoke","x":tru}"#,
            r#"{"coldmark":"invoke""#,
            r#"{}"#,
        ] {
            assert!(agrees(text), "{text}");
        }
        for text in [
            r#"{"coldmark":"init","env_id":"a\"b"}"#,
            r#"{"coldmark":"invoke","x":01}"#,
            r#"{"coldmark":"invoke","x":1,}"#,
            "{\"coldmark\":\"invoke\",\"env_id\":\"0123456789abcdef\u{1}\"}",
        ] {
            assert!(scan(text).is_none(), "{text}");
            assert!(agrees(text), "{text}");
        }
    }
}
