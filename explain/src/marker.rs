//! A reader's view of the marker contract (schema 1, `docs/markers.md`): the fields attribution
//! needs, and the init figures the sandbox's experiment prints, every one optional on the wire.
//! It is the one marker reader: `coldmark-explain` and the sandbox's front-ends read with it.
//!
//! The reader is lenient on purpose: a field it does not know is ignored (schema 1 may grow),
//! a number where a bool is expected is read as one (ClickHouse stores `proactive` as 0/1), and
//! only a marker without its identity (kind, timestamp, function, environment) is refused.
//! A marker of another `schema` is recognised and refused so that it is counted, never guessed.
//!
//! The contract's types are in `record`, the wire form serde reads (and its lenient scalars) in
//! `wire`, and the fast path for the extension's own lines in `scan`; this module reads a line
//! with them.

use serde::Deserialize;

mod record;
mod scan;
mod wire;

pub use record::{InitFields, Kind, Marker, Parsed, Source, SCHEMA};
use wire::Wire;

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
    fn coldmark_version_is_read_past_on_both_paths() {
        // The extension writes `coldmark_version` after `env_id` on every marker; lines before
        // the field existed do not have it. Both read the same, by the fast scan and by serde.
        let with = INIT.replace(
            r#""env_id":"instance-0001","#,
            r#""env_id":"instance-0001","coldmark_version":"0.1.0","#,
        );
        assert_ne!(with, INIT);
        let without = Marker::parse(INIT.as_bytes());
        assert!(matches!(without, Parsed::Marker(_)));
        assert_eq!(scan::scan(&with), Some(without.clone()), "the fast scan");
        let value: serde_json::Value = serde_json::from_str(&with).unwrap();
        assert_eq!(Marker::from_value(&value), without, "serde");
        for kind in ["invoke", "shutdown"] {
            let line = format!(
                r#"{{"coldmark":"{kind}","schema":1,"timestamp":"2026-11-25T19:32:46.868Z","function_name":"f","env_id":"e","coldmark_version":"9.9.9-dev"}}"#
            );
            assert!(
                matches!(Marker::parse(line.as_bytes()), Parsed::Marker(_)),
                "{line}"
            );
        }
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
