//! What the two network sinks' settings share (the HTTP sink's `COLDMARK_HTTP_*`, the OTLP
//! sink's `OTEL_EXPORTER_OTLP_*`): the header list format, the rule for credentials over plain
//! `http://`, the one proxy coldmark uses, and booleans. One rule, so that both sinks keep
//! the promises `docs/security.md` makes in the same words.

use std::fmt;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;

/// An `http://` or `https://` URL with a host; `None` for anything else.
pub(crate) fn http_url(raw: &str) -> Option<Url> {
    Url::parse(raw.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// Why `raw`, the value of `var`, is not what [`http_url`] takes, as the start of a warning. A
/// host name that is not ASCII gets words of its own: such a URL looks right to a person, and
/// coldmark is built without Unicode host names (the `idna_adapter` pin in its Cargo.toml keeps
/// their tables out of the layer), so the name must be written in its `xn--` form.
pub(crate) fn not_an_http_url(var: &str, raw: &str) -> String {
    let after_scheme = raw.trim().split_once("://").map_or("", |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    // The host is what follows the credentials, if any (theirs are percent-encoded).
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_ascii() {
        format!("{var} is not an http:// or https:// URL")
    } else {
        format!(
            "{var}'s host name is not ASCII: write an internationalised name in its xn-- form \
             (`idn2 NAME` prints it)"
        )
    }
}

/// `COLDMARK_HTTP_PROXY`, the only proxy either network sink uses (the function's
/// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are never read: a proxy sees the headers, so it must
/// be chosen for coldmark on purpose). `Err(warning)` when it is set but not a URL: sending
/// around the proxy the user asked for could break a network rule, so `sink` is then off.
pub(crate) fn proxy(
    env: &dyn Fn(&str) -> Option<String>,
    sink: &str,
) -> Result<Option<Url>, String> {
    let Some(raw) = env("COLDMARK_HTTP_PROXY").filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    http_url(&raw).map(Some).ok_or_else(|| {
        format!(
            "{}: {sink} off",
            not_an_http_url("COLDMARK_HTTP_PROXY", &raw)
        )
    })
}

/// The variables one sink's header rule names in its warnings.
pub(crate) struct HeaderVars {
    pub(crate) headers: &'static str,
    pub(crate) endpoint: &'static str,
    pub(crate) allow_plaintext: &'static str,
    /// The sink, as the warning calls it ("HTTP sink", "OTLP sink").
    pub(crate) sink: &'static str,
}

/// Whether headers may go to `endpoint`: `Ok(None)` send quietly, `Ok(Some(warning))` send
/// with that warning, `Err(warning)` the sink is off. Headers over plain `http://` go quietly
/// only to loopback; to a private address with a warning; elsewhere (host names included) only
/// with the opt-in, and a warning.
pub(crate) fn plaintext_headers(
    endpoint: &Url,
    opted_in: bool,
    vars: &HeaderVars,
) -> Result<Option<String>, String> {
    if endpoint.scheme() != "http" {
        return Ok(None);
    }
    let HeaderVars {
        headers,
        endpoint: endpoint_var,
        allow_plaintext,
        sink,
    } = vars;
    match reach(endpoint) {
        Reach::Loopback => Ok(None),
        Reach::Private => Ok(Some(format!(
            "{headers} are sent over plain http:// ({endpoint_var} is a private address): \
             anyone on that network can read them; use https://"
        ))),
        Reach::Other if opted_in => Ok(Some(format!(
            "{headers} are sent over plain http:// ({allow_plaintext}): anyone on the way can \
             read them; use https://"
        ))),
        Reach::Other => Err(format!(
            "{headers} would be sent over plain http:// to an address that is neither loopback \
             nor private ({endpoint_var}): {sink} off; use https://, or set {allow_plaintext}=true"
        )),
    }
}

/// Who can read a plain-http request on its way to the endpoint.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// This machine only.
    Loopback,
    /// A private network (RFC 1918, link-local, IPv6 unique-local or link-local).
    Private,
    /// Anything else, host names included: telling a private name from a public one would
    /// need a DNS lookup during init.
    Other,
}

pub(crate) fn reach(endpoint: &Url) -> Reach {
    use std::net::IpAddr;
    let Some(host) = endpoint.host_str() else {
        return Reach::Other;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = bare.parse::<IpAddr>() else {
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        return if name == "localhost" || name.ends_with(".localhost") {
            Reach::Loopback
        } else {
            Reach::Other
        };
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Reach::Loopback,
        IpAddr::V4(v4) if v4.is_private() || v4.is_link_local() => Reach::Private,
        IpAddr::V6(v6) if v6.is_loopback() => Reach::Loopback,
        IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 => Reach::Private,
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Reach::Private,
        _ => Reach::Other,
    }
}

pub(crate) fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// Why `COLDMARK_HTTP_HEADERS` cannot be used. Names an entry's position or a header's name,
/// never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    NotNameValue { position: usize },
    InvalidName { position: usize },
    BadPercentEncoding { name: HeaderName },
    InvalidValue { name: HeaderName },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::NotNameValue { position } => {
                write!(f, "entry {position} is not name=value")
            }
            HeaderError::InvalidName { position } => {
                write!(f, "entry {position} has an invalid header name")
            }
            HeaderError::BadPercentEncoding { name } => {
                write!(f, "the value of {name} is not valid percent-encoding")
            }
            HeaderError::InvalidValue { name } => {
                write!(f, "the value of {name} is not a valid header value")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// `name=value,name2=value2`, as `OTEL_EXPORTER_OTLP_HEADERS` (the W3C baggage form the
/// OpenTelemetry specification names): entries split on `,`, name and value split on the first
/// `=`, both trimmed, values percent-decoded (so a value may contain `,` as `%2C`).
pub(crate) fn parse_headers(raw: &str) -> Result<HeaderMap, HeaderError> {
    let mut headers = HeaderMap::new();
    for (index, entry) in raw.split(',').enumerate() {
        let position = index + 1;
        if entry.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = entry.split_once('=') else {
            return Err(HeaderError::NotNameValue { position });
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| HeaderError::InvalidName { position })?;
        let Some(decoded) = percent_decode(value.trim()) else {
            return Err(HeaderError::BadPercentEncoding { name });
        };
        let mut value = match HeaderValue::from_bytes(&decoded) {
            Ok(value) => value,
            Err(_) => return Err(HeaderError::InvalidValue { name }),
        };
        value.set_sensitive(true);
        headers.append(name, value);
    }
    Ok(headers)
}

/// `%XX` → byte; a `%` not followed by two hex digits is an error (a truncated copy-paste of a
/// token is better reported than sent).
pub(crate) fn percent_decode(raw: &str) -> Option<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}
