//! The OTLP sink's settings: the standard `OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` variables (so a function already set up for an OpenTelemetry SDK
//! or collector needs nothing new), and the few `COLDMARK_OTLP_*` ones the specification has no
//! word for.
//!
//! The rules are the OpenTelemetry specification's ("OTLP Exporter Configuration"):
//! - endpoint: a signal's own `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` is used as it is; else
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` with `v1/logs`, `v1/metrics` or `v1/traces` appended to its
//!   path; else `http://localhost:4318/v1/<signal>`;
//! - headers, protocol, compression, timeout: the signal's own variable, else the generic one,
//!   else the default (`http/protobuf`, none, 10 000 ms). Headers merge: the signal's own list
//!   replaces generic entries of the same name;
//! - `grpc` is a valid protocol coldmark does not speak: the sink is off with one warning.
//!
//! Reading never fails and never shows a value (endpoints and headers carry credentials): what
//! cannot be used gives one warning naming the variable, and either the default or, where
//! sending would go wrong (an unusable endpoint, headers, the plaintext rule, the proxy), a
//! sink that is off. The HTTP sink's rules for headers over plain `http://` and for the proxy
//! apply unchanged (`super::net`).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;

use super::net::{
    http_url, not_an_http_url, parse_bool, parse_headers, percent_decode, plaintext_headers, proxy,
    HeaderVars,
};

/// One of the three OTLP signals coldmark sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Logs,
    Metrics,
    Traces,
}

impl Signal {
    pub(crate) const ALL: [Signal; 3] = [Signal::Logs, Signal::Metrics, Signal::Traces];

    /// `logs`, `metrics`, `traces`: the word in paths, warnings and `COLDMARK_OTLP_SIGNALS`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }

    /// The signal's part of its variables' names (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`).
    fn var(self, setting: &str) -> String {
        format!(
            "OTEL_EXPORTER_OTLP_{}_{setting}",
            self.name().to_ascii_uppercase()
        )
    }
}

/// How a request body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `http/protobuf`: binary protobuf, `application/x-protobuf` (the specification's default).
    Protobuf,
    /// `http/json`: OTLP/JSON, `application/json`.
    Json,
}

/// Where and how one signal is sent.
#[derive(Clone, Debug)]
pub(crate) struct SignalSettings {
    pub(crate) endpoint: Url,
    /// All marked sensitive: never in a warning or a `Debug` output.
    pub(crate) headers: HeaderMap,
    pub(crate) protocol: Protocol,
    pub(crate) gzip: bool,
    /// Per request (connect + send + answer). Cut to what is left at SHUTDOWN.
    pub(crate) timeout: Duration,
}

/// Everything the OTLP sink needs, validated.
#[derive(Clone, Debug)]
pub(crate) struct OtlpSettings {
    /// The signals sent, each with its settings (`COLDMARK_OTLP_SIGNALS` chooses).
    pub(crate) signals: Vec<(Signal, SignalSettings)>,
    /// `OTEL_SERVICE_NAME`; without it `service.name` of `OTEL_RESOURCE_ATTRIBUTES`, else the
    /// function's name.
    pub(crate) service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded, in order.
    pub(crate) resource_attributes: Vec<(String, String)>,
    /// `AWS_REGION`, for `cloud.region`.
    pub(crate) region: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB, for `faas.max_memory`.
    pub(crate) memory_mb: Option<u64>,
    /// Retries after the first attempt, for 429, 502, 503, 504, connection errors, timeouts.
    pub(crate) retries: u32,
    pub(crate) backoff: Duration,
    /// Per signal: items (log records, data points, spans) held at most, and bytes.
    pub(crate) queue_records: usize,
    pub(crate) queue_bytes: usize,
    /// Per request, at most.
    pub(crate) batch_records: usize,
    pub(crate) batch_bytes: usize,
    /// `COLDMARK_HTTP_PROXY`: the only proxy coldmark's sinks use.
    pub(crate) proxy: Option<Url>,
}

pub(crate) const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// The specification's default (`OTEL_EXPORTER_OTLP_TIMEOUT`).
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub(crate) const DEFAULT_RETRIES: u32 = 3;
pub(crate) const DEFAULT_BACKOFF_MS: u64 = 100;
pub(crate) const DEFAULT_QUEUE_RECORDS: usize = 1_000;
pub(crate) const DEFAULT_QUEUE_BYTES: usize = 1024 * 1024;
pub(crate) const DEFAULT_BATCH_RECORDS: usize = 100;
pub(crate) const DEFAULT_BATCH_BYTES: usize = 256 * 1024;

const HEADER_VARS: HeaderVars = HeaderVars {
    headers: "OTEL_EXPORTER_OTLP_HEADERS",
    endpoint: "OTEL_EXPORTER_OTLP_ENDPOINT",
    allow_plaintext: "COLDMARK_OTLP_ALLOW_PLAINTEXT_HEADERS",
    sink: "OTLP sink",
};

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A variable's value, trimmed; `None` when unset or blank (the specification treats an empty
/// value as unset).
fn get(env: Env, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The signal's own variable, else the generic one: (the variable that was used, its value).
fn layered(env: Env, signal: Signal, setting: &str) -> Option<(String, String)> {
    let own = signal.var(setting);
    if let Some(value) = get(env, &own) {
        return Some((own, value));
    }
    let generic = format!("OTEL_EXPORTER_OTLP_{setting}");
    get(env, &generic).map(|value| (generic, value))
}

impl OtlpSettings {
    /// Reads the settings; `selected` is whether `COLDMARK_SINK` chose `otlp`. `None` when it
    /// is not selected or cannot work; the warnings say why. Unselected, nothing is read and
    /// nothing is said: the `OTEL_*` variables are usually there for the function's own SDK.
    pub(crate) fn read(env: Env, selected: bool) -> (Option<OtlpSettings>, Vec<String>) {
        let mut warnings = Vec::new();
        if !selected {
            return (None, warnings);
        }
        let settings = Self::read_selected(env, &mut warnings);
        (settings, warnings)
    }

    fn read_selected(env: Env, warnings: &mut Vec<String>) -> Option<OtlpSettings> {
        let mut signals = Vec::new();
        for signal in chosen_signals(env, warnings) {
            signals.push((signal, signal_settings(env, signal, warnings)?));
        }
        let opted_in = get(env, "COLDMARK_OTLP_ALLOW_PLAINTEXT_HEADERS")
            .as_deref()
            .and_then(parse_bool)
            == Some(true);
        for (_, settings) in &signals {
            if settings.headers.is_empty() {
                continue;
            }
            match plaintext_headers(&settings.endpoint, opted_in, &HEADER_VARS) {
                Ok(Some(warning)) if !warnings.contains(&warning) => warnings.push(warning),
                Ok(_) => {}
                Err(warning) => {
                    warnings.push(warning);
                    return None;
                }
            }
        }
        let proxy = match proxy(env, "OTLP sink") {
            Ok(proxy) => proxy,
            Err(warning) => {
                warnings.push(warning);
                return None;
            }
        };
        let mut number = |name: &str, min: u64, max: u64, default: u64| -> u64 {
            match get(env, name) {
                None => default,
                Some(raw) => match raw.parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => n,
                    _ => {
                        warnings.push(format!(
                            "{name} is not a whole number in {min}..={max}: using {default}"
                        ));
                        default
                    }
                },
            }
        };
        let retries = number("COLDMARK_OTLP_RETRIES", 0, 10, DEFAULT_RETRIES.into()) as u32;
        let backoff = Duration::from_millis(number(
            "COLDMARK_OTLP_BACKOFF_MS",
            1,
            10_000,
            DEFAULT_BACKOFF_MS,
        ));
        let queue_records = number(
            "COLDMARK_OTLP_QUEUE_RECORDS",
            1,
            100_000,
            DEFAULT_QUEUE_RECORDS as u64,
        ) as usize;
        let batch_records = number(
            "COLDMARK_OTLP_BATCH_RECORDS",
            1,
            10_000,
            DEFAULT_BATCH_RECORDS as u64,
        ) as usize;
        let resource_attributes = match get(env, "OTEL_RESOURCE_ATTRIBUTES") {
            None => Vec::new(),
            Some(raw) => parse_resource_attributes(&raw).unwrap_or_else(|| {
                // The specification: discard the whole value, report the error.
                warnings.push(
                    "OTEL_RESOURCE_ATTRIBUTES is not a list of key=value pairs with \
                     percent-encoded values: ignored"
                        .to_string(),
                );
                Vec::new()
            }),
        };
        Some(OtlpSettings {
            signals,
            service_name: get(env, "OTEL_SERVICE_NAME"),
            resource_attributes,
            region: get(env, "AWS_REGION"),
            memory_mb: get(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|m| m.parse().ok()),
            retries,
            backoff,
            queue_records,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            batch_records,
            batch_bytes: DEFAULT_BATCH_BYTES,
            proxy,
        })
    }

    /// The settings of `signal`, when it is sent.
    pub(crate) fn signal(&self, signal: Signal) -> Option<&SignalSettings> {
        self.signals
            .iter()
            .find(|(s, _)| *s == signal)
            .map(|(_, settings)| settings)
    }
}

/// `COLDMARK_OTLP_SIGNALS`: `all` (the default) or a comma-separated subset of
/// `logs,metrics,traces`.
fn chosen_signals(env: Env, warnings: &mut Vec<String>) -> Vec<Signal> {
    let Some(raw) = get(env, "COLDMARK_OTLP_SIGNALS").filter(|v| !v.eq_ignore_ascii_case("all"))
    else {
        return Signal::ALL.to_vec();
    };
    let mut chosen = Vec::new();
    for part in raw.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        match Signal::ALL.iter().find(|s| s.name() == part) {
            Some(signal) if !chosen.contains(signal) => chosen.push(*signal),
            Some(_) => {}
            None => {
                warnings.push(
                    "COLDMARK_OTLP_SIGNALS is not a list of logs, metrics, traces: sending all \
                     three"
                        .to_string(),
                );
                return Signal::ALL.to_vec();
            }
        }
    }
    chosen
}

/// One signal's endpoint, headers, protocol, compression and timeout; `None` (with a warning)
/// when the sink cannot send it as configured.
fn signal_settings(env: Env, signal: Signal, warnings: &mut Vec<String>) -> Option<SignalSettings> {
    let endpoint = endpoint(env, signal, warnings)?;
    let mut headers = HeaderMap::new();
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS".to_string(),
        signal.var("HEADERS"),
    ] {
        let Some(raw) = get(env, &var) else { continue };
        match parse_headers(&raw) {
            // The signal's own entries replace the generic ones of the same name.
            Ok(parsed) => {
                for name in parsed.keys() {
                    headers.remove(name);
                }
                for (name, value) in parsed.iter() {
                    headers.append(name.clone(), value.clone());
                }
            }
            Err(why) => {
                warnings.push(format!("{var}: {why}: OTLP sink off"));
                return None;
            }
        }
    }
    let protocol = match layered(env, signal, "PROTOCOL") {
        None => Protocol::Protobuf,
        Some((var, value)) => match value.to_ascii_lowercase().as_str() {
            "http/protobuf" => Protocol::Protobuf,
            "http/json" => Protocol::Json,
            "grpc" => {
                warnings.push(format!(
                    "{var} is grpc: coldmark sends OTLP over HTTP only (http/protobuf or \
                     http/json, to the collector's HTTP port, usually 4318): OTLP sink off"
                ));
                return None;
            }
            _ => {
                push_once(
                    warnings,
                    format!("{var} is neither http/protobuf nor http/json: using http/protobuf"),
                );
                Protocol::Protobuf
            }
        },
    };
    let gzip = match layered(env, signal, "COMPRESSION") {
        None => false,
        Some((var, value)) => match value.to_ascii_lowercase().as_str() {
            "gzip" => true,
            "none" => false,
            _ => {
                push_once(
                    warnings,
                    format!("{var} is neither gzip nor none: not compressing"),
                );
                false
            }
        },
    };
    let timeout_ms = match layered(env, signal, "TIMEOUT") {
        None => DEFAULT_TIMEOUT_MS,
        Some((var, value)) => match value.parse::<u64>() {
            Ok(ms) if (1..=600_000).contains(&ms) => ms,
            _ => {
                push_once(
                    warnings,
                    format!(
                        "{var} is not a whole number of milliseconds in 1..=600000: using \
                         {DEFAULT_TIMEOUT_MS}"
                    ),
                );
                DEFAULT_TIMEOUT_MS
            }
        },
    };
    Some(SignalSettings {
        endpoint,
        headers,
        protocol,
        gzip,
        timeout: Duration::from_millis(timeout_ms),
    })
}

fn push_once(warnings: &mut Vec<String>, warning: String) {
    if !warnings.contains(&warning) {
        warnings.push(warning);
    }
}

/// The signal's URL: its own variable as it is, else the generic one (or the default) with
/// `v1/<signal>` appended to the path.
fn endpoint(env: Env, signal: Signal, warnings: &mut Vec<String>) -> Option<Url> {
    let own = signal.var("ENDPOINT");
    if let Some(raw) = get(env, &own) {
        return url_or_warn(&raw, &own, warnings);
    }
    let var = "OTEL_EXPORTER_OTLP_ENDPOINT";
    let base = get(env, var).unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let mut url = url_or_warn(&base, var, warnings)?;
    let path = format!("{}/v1/{}", url.path().trim_end_matches('/'), signal.name());
    url.set_path(&path);
    Some(url)
}

fn url_or_warn(raw: &str, var: &str, warnings: &mut Vec<String>) -> Option<Url> {
    let url = http_url(raw);
    if url.is_none() {
        push_once(
            warnings,
            format!("{}: OTLP sink off", not_an_http_url(var, raw)),
        );
    }
    url
}

/// `key1=value1,key2=value2` with percent-encoded values (the W3C baggage form the
/// specification names); `None` when any entry is malformed (the specification discards the
/// whole value then).
pub(crate) fn parse_resource_attributes(raw: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in raw.split(',').filter(|e| !e.trim().is_empty()) {
        let (key, value) = entry.split_once('=')?;
        let key = key.trim();
        if key.is_empty() {
            return None;
        }
        let value = String::from_utf8(percent_decode(value.trim())?).ok()?;
        out.retain(|(k, _): &(String, String)| k != key);
        out.push((key.to_string(), value));
    }
    Some(out)
}

#[cfg(test)]
mod tests;
