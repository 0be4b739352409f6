//! The marker's wire form as serde reads it, borrowed from the input where it can be, with the
//! lenient scalars (a number where a bool is expected, a number as text) that stores produce.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use super::record::{InitFields, Kind, Marker, Parsed, Source, SCHEMA};

/// A string borrowed from the input when it has no escapes (serde's `borrow` does not reach
/// through `Option<Cow>`), owned otherwise.
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

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
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
    pub(super) fn owned(self) -> String {
        self.0.into_owned()
    }
}

/// The wire form, borrowed from the input where it can be (no escapes in the text).
#[derive(Deserialize, Default)]
pub(super) struct Wire<'a> {
    #[serde(borrow, default)]
    pub(super) coldmark: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(super) schema: Option<u64>,
    #[serde(borrow, default)]
    pub(super) timestamp: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) function_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) function_version: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) env_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) init_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) init_phase: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub(super) init_duration_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub(super) runtime_init_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub(super) extensions_init_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub(super) coldmark_init_ms: Option<f64>,
    #[serde(borrow, default)]
    pub(super) source: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(super) proactive: Option<bool>,
    #[serde(borrow, default)]
    pub(super) config_fingerprint: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(super) function_memory_size: Option<u64>,
    #[serde(borrow, default)]
    pub(super) function_request_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) reason: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) tenant_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) init_status: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) init_error_type: Option<Text<'a>>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(super) invocations: Option<u64>,
}

impl Wire<'_> {
    /// Inlined: a `Wire` is some 300 bytes, and handing it to a call by value copied it, once
    /// per marker (a measurable share of a run).
    #[inline(always)]
    pub(super) fn into_parsed(self) -> Parsed {
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
                init_status: self.init_status.map(Text::owned),
                init_error_type: self.init_error_type.map(Text::owned),
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
            // An empty tenant (a store's default for a missing column) is no tenant.
            tenant_id: self
                .tenant_id
                .filter(|t| !t.as_str().is_empty())
                .map(Text::owned),
            invocations: if kind == Kind::Shutdown {
                self.invocations
            } else {
                None
            },
        })
    }
}

/// A JSON scalar as the lenient readers see it: whatever type a store chose. Read with a
/// visitor rather than an untagged enum, which would buffer every value first.
pub(super) enum Scalar {
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
    pub(super) fn into_bool(self) -> Option<bool> {
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

    pub(super) fn into_f64(self) -> Option<f64> {
        match self {
            Scalar::Int(n) => Some(n as f64),
            Scalar::Float(f) => Some(f),
            Scalar::Text(t) => t.parse().ok(),
            _ => None,
        }
    }

    pub(super) fn into_u64(self) -> Option<u64> {
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
