//! A reader's view of the marker contract (schema 1, `docs/markers.md`): the fields attribution
//! needs, and the init figures the sandbox's experiment prints, every one optional on the wire.
//! It is the one marker reader: `coldmark-explain` and the sandbox's front-ends read with it.
//!
//! The reader is lenient on purpose: a field it does not know is ignored (schema 1 may grow),
//! a number where a bool is expected is read as one (ClickHouse stores `proactive` as 0/1), and
//! only a marker without its identity (kind, timestamp, function, environment) is refused.
//! A marker of another `schema` is recognised and refused so that it is counted, never guessed.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};

mod scan;

/// The schema this reader understands.
pub const SCHEMA: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Init,
    Invoke,
    Shutdown,
}

/// One marker, owned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    pub kind: Kind,
    /// Epoch milliseconds of the marker's `timestamp` (for `init`: when the init began).
    pub timestamp_ms: i64,
    pub function_name: String,
    pub function_version: String,
    pub env_id: String,
    /// Only on `init` markers.
    pub init: Option<Box<InitFields>>,
    /// Only on `shutdown` markers: `spindown`, `timeout`, `failure`.
    pub reason: Option<String>,
}

/// The figures of an `init` marker.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct InitFields {
    pub init_type: String,
    pub init_phase: String,
    pub init_duration_ms: Option<f64>,
    pub runtime_init_ms: Option<f64>,
    pub extensions_init_ms: Option<f64>,
    /// coldmark's own start (its process start to its first `/event/next`).
    pub coldmark_init_ms: Option<f64>,
    /// Where the figures came from.
    pub source: Source,
    pub proactive: bool,
    pub config_fingerprint: String,
    pub function_memory_size: Option<u64>,
    pub function_request_id: Option<String>,
}

/// Where an init marker's figures came from (`source`). Only `telemetry` promises a measured
/// split; a marker without `source` (or with one this reader does not know) is read as
/// `extension`, as the contract says, so it is never taken for a measured split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Lambda's Telemetry API records.
    Telemetry,
    /// The Extensions API alone.
    #[default]
    Extension,
}

/// What a JSON object turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Marker(Marker),
    /// A `coldmark` object of a schema or kind this reader does not know.
    UnknownSchema,
    /// A `coldmark` object without a usable timestamp, function or environment.
    Malformed,
    /// Valid JSON, but not a marker.
    NotMarker,
}

/// A string borrowed from the input when it has no escapes (serde's `borrow` does not reach
/// through `Option<Cow>`), owned otherwise.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
    fn owned(self) -> String {
        self.0.into_owned()
    }
}

/// The wire form, borrowed from the input where it can be (no escapes in the text).
#[derive(Deserialize, Default)]
struct Wire<'a> {
    #[serde(borrow, default)]
    coldmark: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_u64")]
    schema: Option<u64>,
    #[serde(borrow, default)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow, default)]
    function_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    function_version: Option<Text<'a>>,
    #[serde(borrow, default)]
    env_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    init_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    init_phase: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_f64")]
    init_duration_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    runtime_init_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    extensions_init_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    coldmark_init_ms: Option<f64>,
    #[serde(borrow, default)]
    source: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    proactive: Option<bool>,
    #[serde(borrow, default)]
    config_fingerprint: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_u64")]
    function_memory_size: Option<u64>,
    #[serde(borrow, default)]
    function_request_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    reason: Option<Text<'a>>,
}

impl Marker {
    /// Reads one JSON object (the whole text must be it).
    pub fn parse(json: &[u8]) -> Parsed {
        // Checking the whole line's UTF-8 once (simdutf8: 32 bytes a step where the CPU has
        // AVX2) is cheaper than serde_json checking each of its ~40 keys and strings one by
        // one; a line that is not UTF-8 is read from bytes, where only the strings are checked.
        let wire = match simdutf8::basic::from_utf8(json) {
            // The line as the extension writes it is read by the fast scan; whatever it is
            // not sure of, serde_json reads, as it always did.
            Ok(text) => match scan::scan(text) {
                Some(parsed) => return parsed,
                None => serde_json::from_str::<Wire>(text),
            },
            Err(_) => serde_json::from_slice::<Wire>(json),
        };
        match wire {
            Ok(wire) => wire.into_parsed(),
            // A line that names itself a marker but breaks off (or has a mistyped field).
            Err(_) if json.windows(11).any(|w| w == br#""coldmark":"#) => Parsed::Malformed,
            Err(_) => Parsed::NotMarker,
        }
    }

    /// Reads a marker already parsed as a JSON value (as the sandbox keeps them).
    pub fn from_value(value: &serde_json::Value) -> Parsed {
        match Wire::deserialize(value) {
            Ok(wire) => wire.into_parsed(),
            Err(_) => Parsed::NotMarker,
        }
    }

    /// The init figures, when this is an init marker.
    pub fn init(&self) -> Option<&InitFields> {
        self.init.as_deref()
    }
}

impl Wire<'_> {
    /// Inlined: a `Wire` is some 300 bytes, and handing it to a call by value copied it, once
    /// per marker (a measurable share of a run).
    #[inline(always)]
    fn into_parsed(self) -> Parsed {
        let Some(kind) = self.coldmark else {
            return Parsed::NotMarker;
        };
        let kind = match kind.as_str() {
            "init" => Kind::Init,
            "invoke" => Kind::Invoke,
            "shutdown" => Kind::Shutdown,
            _ => return Parsed::UnknownSchema,
        };
        if self.schema != Some(SCHEMA) {
            return Parsed::UnknownSchema;
        }
        let (Some(timestamp), Some(function_name), Some(env_id)) =
            (self.timestamp, self.function_name, self.env_id)
        else {
            return Parsed::Malformed;
        };
        let Some(timestamp_ms) = crate::time::parse_ms(timestamp.as_str()) else {
            return Parsed::Malformed;
        };
        if function_name.as_str().is_empty() || env_id.as_str().is_empty() {
            return Parsed::Malformed;
        }
        let init = (kind == Kind::Init).then(|| {
            Box::new(InitFields {
                init_type: self
                    .init_type
                    .map_or_else(|| "unknown".to_owned(), Text::owned),
                init_phase: self
                    .init_phase
                    .map_or_else(|| "init".to_owned(), Text::owned),
                init_duration_ms: self.init_duration_ms,
                runtime_init_ms: self.runtime_init_ms,
                extensions_init_ms: self.extensions_init_ms,
                coldmark_init_ms: self.coldmark_init_ms,
                source: match self.source.as_ref().map(Text::as_str) {
                    Some("telemetry") => Source::Telemetry,
                    _ => Source::Extension,
                },
                proactive: self.proactive.unwrap_or(false),
                config_fingerprint: self.config_fingerprint.map(Text::owned).unwrap_or_default(),
                function_memory_size: self.function_memory_size,
                function_request_id: self.function_request_id.map(Text::owned),
            })
        });
        Parsed::Marker(Marker {
            kind,
            timestamp_ms,
            function_name: function_name.owned(),
            function_version: self.function_version.map(Text::owned).unwrap_or_default(),
            env_id: env_id.owned(),
            init,
            reason: if kind == Kind::Shutdown {
                self.reason.map(Text::owned)
            } else {
                None
            },
        })
    }
}

/// A JSON scalar as the lenient readers see it: whatever type a store chose. Read with a
/// visitor rather than an untagged enum, which would buffer every value first.
enum Scalar {
    Bool(bool),
    Int(u64),
    Float(f64),
    Text(String),
    Other,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar {
    fn into_bool(self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(b),
            Scalar::Int(n) => Some(n != 0),
            Scalar::Float(f) => Some(f != 0.0),
            Scalar::Text(t) => match t.as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    fn into_f64(self) -> Option<f64> {
        match self {
            Scalar::Int(n) => Some(n as f64),
            Scalar::Float(f) => Some(f),
            Scalar::Text(t) => t.parse().ok(),
            _ => None,
        }
    }

    fn into_u64(self) -> Option<u64> {
        match self {
            Scalar::Int(n) => Some(n),
            Scalar::Float(f) if f >= 0.0 && f.fract() == 0.0 => Some(f as u64),
            Scalar::Text(t) => t.parse().ok(),
            _ => None,
        }
    }
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Scalar::deserialize(d)?.into_bool())
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Scalar::deserialize(d)?.into_f64())
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Scalar::deserialize(d)?.into_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &str = r#"{"coldmark":"init","schema":1,"timestamp":"2026-11-25T19:32:46.868Z","function_name":"clock","function_version":"$LATEST","env_id":"instance-0001","init_type":"on-demand","init_phase":"init","init_duration_ms":39.0,"proactive":false,"config_fingerprint":"c65dd9a06e46","function_memory_size":128,"runtime_version":"provided:al2023.v100","source":"telemetry","runtime_init_ms":30.0,"extensions_init_ms":9.0,"coldmark_init_ms":5.439,"extensions":[{"name":"coldmark","state":"Ready","events":["INVOKE","SHUTDOWN"]}],"_aws":{"Timestamp":1795635166868,"CloudWatchMetrics":[]},"ColdStart":1,"InitDuration":39.0}"#;

    #[test]
    fn reads_the_documented_init_marker() {
        let Parsed::Marker(m) = Marker::parse(INIT.as_bytes()) else {
            panic!("not a marker")
        };
        assert_eq!(m.kind, Kind::Init);
        assert_eq!(m.env_id, "instance-0001");
        let init = m.init.unwrap();
        assert_eq!(init.config_fingerprint, "c65dd9a06e46");
        assert_eq!(init.init_duration_ms, Some(39.0));
        assert_eq!(init.function_memory_size, Some(128));
        assert!(!init.proactive);
        assert_eq!(init.coldmark_init_ms, Some(5.439));
        assert_eq!(init.source, Source::Telemetry);
    }

    #[test]
    fn a_marker_without_a_known_source_is_not_a_measured_split() {
        for source in [
            "",
            r#""source":"extension","#,
            r#""source":"future","#,
            r#""source":null,"#,
        ] {
            let line = format!(
                r#"{{"coldmark":"init","schema":1,"timestamp":"2026-11-25T19:32:46.868Z","function_name":"f","env_id":"e",{source}"coldmark_init_ms":null}}"#
            );
            let Parsed::Marker(m) = Marker::parse(line.as_bytes()) else {
                panic!("{line}")
            };
            let init = m.init.unwrap();
            assert_eq!(init.source, Source::Extension, "{line}");
            assert_eq!(init.coldmark_init_ms, None, "{line}");
        }
    }

    #[test]
    fn lenient_where_stores_differ_strict_on_identity() {
        let ch = r#"{"coldmark":"init","schema":1,"timestamp":"2026-11-25T19:32:46.868Z","function_name":"f","function_version":"1","env_id":"e","proactive":1,"function_memory_size":"512","new_field":{"x":[1]}}"#;
        let Parsed::Marker(m) = Marker::parse(ch.as_bytes()) else {
            panic!()
        };
        assert!(m.init.as_ref().unwrap().proactive);
        assert_eq!(m.init.unwrap().function_memory_size, Some(512));
        let v2 = r#"{"coldmark":"init","schema":2,"timestamp":"2026-11-25T19:32:46.868Z","function_name":"f","env_id":"e"}"#;
        assert_eq!(Marker::parse(v2.as_bytes()), Parsed::UnknownSchema);
        let kind = r#"{"coldmark":"restore","schema":1}"#;
        assert_eq!(Marker::parse(kind.as_bytes()), Parsed::UnknownSchema);
        let no_time = r#"{"coldmark":"init","schema":1,"function_name":"f","env_id":"e"}"#;
        assert_eq!(Marker::parse(no_time.as_bytes()), Parsed::Malformed);
        assert_eq!(Marker::parse(br#"{"level":"INFO"}"#), Parsed::NotMarker);
        assert_eq!(Marker::parse(b"{not json"), Parsed::NotMarker);
        assert_eq!(
            Marker::parse(br#"{"coldmark":"init","schema":1,"timest"#),
            Parsed::Malformed
        );
    }
}
