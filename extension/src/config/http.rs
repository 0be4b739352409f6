//! The HTTP sink's settings (`COLDMARK_HTTP_*`), read from the environment.
//!
//! Reading never fails: a bad value becomes one warning that names the variable (never its
//! value — endpoints and headers carry credentials) and either a default or a disabled sink.
//! Without a usable endpoint or with unusable headers the sink is off: sending without the
//! user's auth header would only be rejected and counted as dropped, so "off, with a warning"
//! is the clearer degradation. Everything else falls back to its default.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;

use super::net::{
    http_url, not_an_http_url, parse_bool, parse_headers, plaintext_headers, proxy, HeaderVars,
};

/// The variables the HTTP sink's header rule names.
const HEADER_VARS: HeaderVars = HeaderVars {
    headers: "COLDMARK_HTTP_HEADERS",
    endpoint: "COLDMARK_HTTP_ENDPOINT",
    allow_plaintext: "COLDMARK_HTTP_ALLOW_PLAINTEXT_HEADERS",
    sink: "HTTP sink",
};

/// How a batch is framed in the request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON object per line (`application/x-ndjson`): what ClickHouse's `JSONEachRow`,
    /// Loki-style and most log collectors ingest.
    Ndjson,
    /// One JSON array of objects (`application/json`), for collectors that want a document.
    JsonArray,
}

/// Everything the sink needs, validated.
#[derive(Clone, Debug)]
pub(crate) struct HttpSettings {
    pub(crate) endpoint: Url,
    /// User headers, all marked sensitive so that no debug output shows them.
    pub(crate) headers: HeaderMap,
    pub(crate) format: Format,
    pub(crate) gzip: bool,
    /// Per request (connect + send + response). Also the connect timeout.
    pub(crate) timeout: Duration,
    /// Retries after the first attempt, for 5xx, 429, connection errors and timeouts.
    pub(crate) retries: u32,
    /// The first retry waits this long; each further one twice as long (with jitter).
    pub(crate) backoff: Duration,
    /// Queue bounds: records beyond either are dropped (and counted) at enqueue.
    pub(crate) queue_records: usize,
    pub(crate) queue_bytes: usize,
    /// Batch bounds: one request carries at most this many records / bytes (a single larger
    /// record still goes alone).
    pub(crate) batch_records: usize,
    pub(crate) batch_bytes: usize,
    /// `COLDMARK_HTTP_PROXY`: the only proxy ever used. The function's `HTTP_PROXY`,
    /// `HTTPS_PROXY`, `ALL_PROXY` are not read: a proxy sees the sink's headers, so it must be
    /// chosen for coldmark on purpose.
    pub(crate) proxy: Option<Url>,
}

pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 1_000;
pub(crate) const DEFAULT_RETRIES: u32 = 3;
pub(crate) const DEFAULT_BACKOFF_MS: u64 = 100;
pub(crate) const DEFAULT_QUEUE_RECORDS: usize = 1_000;
pub(crate) const DEFAULT_QUEUE_BYTES: usize = 1024 * 1024;
pub(crate) const DEFAULT_BATCH_RECORDS: usize = 100;
pub(crate) const DEFAULT_BATCH_BYTES: usize = 256 * 1024;

impl HttpSettings {
    /// Settings with defaults for everything but the endpoint.
    pub(crate) fn new(endpoint: Url) -> Self {
        HttpSettings {
            endpoint,
            headers: HeaderMap::new(),
            format: Format::Ndjson,
            gzip: false,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            retries: DEFAULT_RETRIES,
            backoff: Duration::from_millis(DEFAULT_BACKOFF_MS),
            queue_records: DEFAULT_QUEUE_RECORDS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            batch_records: DEFAULT_BATCH_RECORDS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            proxy: None,
        }
    }

    /// Reads `COLDMARK_SINK` and the `COLDMARK_HTTP_*` variables on their own (the HTTP sink
    /// without the rest of the configuration: tests and embedders). See [`HttpSettings::read`].
    pub(crate) fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
    ) -> (Option<HttpSettings>, Vec<String>) {
        let selected = env("COLDMARK_SINK")
            .and_then(|v| super::sinks::parse(&v))
            .is_some_and(|choice| choice.http);
        Self::read(env, selected)
    }

    /// Reads the `COLDMARK_HTTP_*` variables; `selected` is whether `COLDMARK_SINK` chose the
    /// HTTP sink. `None` when it is not selected or cannot work; the warnings say why.
    pub(crate) fn read(
        env: &dyn Fn(&str) -> Option<String>,
        selected: bool,
    ) -> (Option<HttpSettings>, Vec<String>) {
        let mut warnings = Vec::new();
        let endpoint = env("COLDMARK_HTTP_ENDPOINT").filter(|v| !v.trim().is_empty());
        if !selected {
            if endpoint.is_some() {
                warnings.push(
                    "COLDMARK_HTTP_ENDPOINT is set but COLDMARK_SINK does not include \"http\": \
                     HTTP sink off"
                        .to_string(),
                );
            }
            return (None, warnings);
        }
        let Some(endpoint) = endpoint else {
            warnings.push(
                "COLDMARK_SINK includes \"http\" but COLDMARK_HTTP_ENDPOINT is not set: HTTP sink off"
                    .to_string(),
            );
            return (None, warnings);
        };
        let Some(endpoint) = http_url(&endpoint) else {
            warnings.push(format!(
                "{}: HTTP sink off",
                not_an_http_url("COLDMARK_HTTP_ENDPOINT", &endpoint)
            ));
            return (None, warnings);
        };
        let mut config = HttpSettings::new(endpoint);
        if let Some(raw) = env("COLDMARK_HTTP_HEADERS") {
            match parse_headers(&raw) {
                Ok(headers) => config.headers = headers,
                Err(why) => {
                    warnings.push(format!("COLDMARK_HTTP_HEADERS: {why}: HTTP sink off"));
                    return (None, warnings);
                }
            }
        }
        if !config.headers.is_empty() {
            let opted_in = env("COLDMARK_HTTP_ALLOW_PLAINTEXT_HEADERS")
                .as_deref()
                .and_then(parse_bool)
                == Some(true);
            match plaintext_headers(&config.endpoint, opted_in, &HEADER_VARS) {
                Ok(warning) => warnings.extend(warning),
                Err(warning) => {
                    warnings.push(warning);
                    return (None, warnings);
                }
            }
        }
        match proxy(env, "HTTP sink") {
            Ok(proxy) => config.proxy = proxy,
            Err(warning) => {
                warnings.push(warning);
                return (None, warnings);
            }
        }
        if let Some(raw) = env("COLDMARK_HTTP_FORMAT") {
            match raw.trim().to_ascii_lowercase().as_str() {
                "" | "ndjson" | "jsonl" | "json-lines" => config.format = Format::Ndjson,
                "json-array" | "json_array" | "array" => config.format = Format::JsonArray,
                _ => warnings.push(
                    "COLDMARK_HTTP_FORMAT is neither \"ndjson\" nor \"json-array\": using ndjson"
                        .to_string(),
                ),
            }
        }
        if let Some(raw) = env("COLDMARK_HTTP_GZIP") {
            match parse_bool(&raw) {
                Some(on) => config.gzip = on,
                None => warnings
                    .push("COLDMARK_HTTP_GZIP is not a boolean (true/false): gzip off".to_string()),
            }
        }
        let mut number = |name: &str, min: u64, max: u64, default: u64| -> u64 {
            match env(name) {
                None => default,
                Some(raw) => match raw.trim().parse::<u64>() {
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
        config.timeout = Duration::from_millis(number(
            "COLDMARK_HTTP_TIMEOUT_MS",
            1,
            60_000,
            DEFAULT_TIMEOUT_MS,
        ));
        config.retries = number("COLDMARK_HTTP_RETRIES", 0, 10, DEFAULT_RETRIES.into()) as u32;
        config.backoff = Duration::from_millis(number(
            "COLDMARK_HTTP_BACKOFF_MS",
            1,
            10_000,
            DEFAULT_BACKOFF_MS,
        ));
        config.queue_records = number(
            "COLDMARK_HTTP_QUEUE_RECORDS",
            1,
            100_000,
            DEFAULT_QUEUE_RECORDS as u64,
        ) as usize;
        config.queue_bytes = number(
            "COLDMARK_HTTP_QUEUE_BYTES",
            1024,
            64 * 1024 * 1024,
            DEFAULT_QUEUE_BYTES as u64,
        ) as usize;
        config.batch_records = number(
            "COLDMARK_HTTP_BATCH_RECORDS",
            1,
            10_000,
            DEFAULT_BATCH_RECORDS as u64,
        ) as usize;
        (Some(config), warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> (Option<HttpSettings>, Vec<String>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HttpSettings::from_env(&move |name| map.get(name).cloned())
    }

    const SECRET: &str = "s3cr3t-T0KEN";

    fn assert_no_secret(warnings: &[String]) {
        for w in warnings {
            assert!(!w.contains(SECRET), "warning reveals a value: {w}");
            assert!(
                !w.contains("example.invalid"),
                "warning reveals the endpoint: {w}"
            );
        }
    }

    #[test]
    fn off_unless_selected() {
        let (config, warnings) = read(&[]);
        assert!(config.is_none());
        assert!(warnings.is_empty());
        let (config, warnings) = read(&[("COLDMARK_SINK", "stdout")]);
        assert!(config.is_none() && warnings.is_empty());
    }

    #[test]
    fn endpoint_without_selection_warns() {
        let (config, warnings) = read(&[
            ("COLDMARK_SINK", "stdout"),
            ("COLDMARK_HTTP_ENDPOINT", "http://example.invalid/"),
        ]);
        assert!(config.is_none());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("COLDMARK_SINK"));
        assert_no_secret(&warnings);
    }

    #[test]
    fn selected_without_endpoint_warns() {
        let (config, warnings) = read(&[("COLDMARK_SINK", "stdout, HTTP")]);
        assert!(config.is_none());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("COLDMARK_HTTP_ENDPOINT"));
    }

    #[test]
    fn bad_endpoint_disables_without_printing_it() {
        for bad in [
            "example.invalid/s3cr3t-T0KEN",
            "ftp://example.invalid/",
            "http://",
        ] {
            let (config, warnings) =
                read(&[("COLDMARK_SINK", "http"), ("COLDMARK_HTTP_ENDPOINT", bad)]);
            assert!(config.is_none(), "{bad}");
            assert_eq!(warnings.len(), 1);
            assert!(warnings[0].contains("COLDMARK_HTTP_ENDPOINT"));
            assert_no_secret(&warnings);
        }
    }

    /// The layer is built without Unicode host names (`idna_adapter` pinned to its stub): such
    /// a name is refused with words that say what to write instead, and the same host in its
    /// `xn--` form is taken. Fails if the pin goes (the name is then taken) or the words do.
    #[test]
    fn a_host_name_that_is_not_ascii_is_refused_with_its_xn_form_named() {
        let (config, warnings) = read(&[
            ("COLDMARK_SINK", "http"),
            (
                "COLDMARK_HTTP_ENDPOINT",
                "https://bücher.example.invalid/ingest",
            ),
        ]);
        assert!(config.is_none());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("COLDMARK_HTTP_ENDPOINT's host name is not ASCII")
                && warnings[0].contains("xn--")
                && warnings[0].ends_with("HTTP sink off"),
            "{warnings:?}"
        );
        assert_no_secret(&warnings);
        // A path that is not ASCII is no host name: percent-encoded, taken.
        for taken in [
            "https://xn--bcher-kva.example.invalid/ingest",
            "https://example.invalid/bücher",
        ] {
            let (config, warnings) =
                read(&[("COLDMARK_SINK", "http"), ("COLDMARK_HTTP_ENDPOINT", taken)]);
            assert!(warnings.is_empty(), "{taken}: {warnings:?}");
            assert!(config.is_some(), "{taken}");
        }
    }

    #[test]
    fn defaults() {
        let (config, warnings) = read(&[
            ("COLDMARK_SINK", "stdout,http"),
            (
                "COLDMARK_HTTP_ENDPOINT",
                "https://example.invalid/ingest?x=1",
            ),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let config = config.unwrap();
        assert_eq!(config.format, Format::Ndjson);
        assert!(!config.gzip);
        assert_eq!(config.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert_eq!(config.retries, DEFAULT_RETRIES);
        assert!(config.headers.is_empty());
    }

    #[test]
    fn all_settings() {
        let (config, warnings) = read(&[
            ("COLDMARK_SINK", "http"),
            ("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1:8123/"),
            (
                "COLDMARK_HTTP_HEADERS",
                "Authorization=Bearer%20s3cr3t-T0KEN, X-Scope = a%2Cb ,",
            ),
            ("COLDMARK_HTTP_FORMAT", "json-array"),
            ("COLDMARK_HTTP_GZIP", "TRUE"),
            ("COLDMARK_HTTP_TIMEOUT_MS", "250"),
            ("COLDMARK_HTTP_RETRIES", "0"),
            ("COLDMARK_HTTP_QUEUE_RECORDS", "5"),
            ("COLDMARK_HTTP_BATCH_RECORDS", "2"),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let config = config.unwrap();
        assert_eq!(
            config.headers["authorization"].as_bytes(),
            b"Bearer s3cr3t-T0KEN"
        );
        assert!(config.headers["authorization"].is_sensitive());
        assert_eq!(config.headers["x-scope"].as_bytes(), b"a,b");
        assert_eq!(config.format, Format::JsonArray);
        assert!(config.gzip);
        assert_eq!(config.timeout, Duration::from_millis(250));
        assert_eq!(config.retries, 0);
        assert_eq!(config.queue_records, 5);
        assert_eq!(config.batch_records, 2);
        assert!(
            !format!("{config:?}").contains(SECRET),
            "Debug shows a header value"
        );
    }

    #[test]
    fn bad_headers_disable_and_never_show_values() {
        for bad in [
            "s3cr3t-T0KEN",
            "Authorization=Bearer%2s3cr3t-T0KEN",
            "Bad Name=s3cr3t-T0KEN",
            "Authorization=s3cr3t-T0KEN%0A",
        ] {
            let (config, warnings) = read(&[
                ("COLDMARK_SINK", "http"),
                ("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1:1/"),
                ("COLDMARK_HTTP_HEADERS", bad),
            ]);
            assert!(config.is_none(), "{bad}");
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].starts_with("COLDMARK_HTTP_HEADERS"));
            assert_no_secret(&warnings);
        }
    }

    #[test]
    fn credentials_over_plain_http_only_to_this_machine_or_a_private_network() {
        let with = |endpoint: &str, extra: &[(&'static str, &'static str)]| {
            let mut vars = vec![
                ("COLDMARK_SINK", "http"),
                (
                    "COLDMARK_HTTP_HEADERS",
                    "Authorization=Bearer%20s3cr3t-T0KEN",
                ),
                ("COLDMARK_HTTP_ENDPOINT", endpoint),
            ];
            vars.extend_from_slice(extra);
            let (config, warnings) = read(&vars);
            assert_no_secret(&warnings);
            (config.is_some(), warnings)
        };
        for quiet in [
            "http://127.0.0.1:8123/",
            "http://localhost/",
            "http://[::1]/",
            "https://example.invalid/",
        ] {
            let (on, warnings) = with(quiet, &[]);
            assert!(on && warnings.is_empty(), "{quiet}: {warnings:?}");
        }
        for private in [
            "http://10.1.2.3/",
            "http://192.168.0.9:80/",
            "http://172.16.0.1/",
            "http://[fd00::1]/",
        ] {
            let (on, warnings) = with(private, &[]);
            assert!(on, "{private}");
            assert_eq!(warnings.len(), 1, "{private}: {warnings:?}");
            assert!(warnings[0].starts_with("COLDMARK_HTTP_HEADERS"));
        }
        for public in [
            "http://203.0.113.7/",
            "http://example.invalid/",
            "http://8.8.8.8/",
        ] {
            let (on, warnings) = with(public, &[]);
            assert!(!on, "{public}");
            assert_eq!(warnings.len(), 1);
            assert!(warnings[0].contains("COLDMARK_HTTP_ALLOW_PLAINTEXT_HEADERS"));
            let (on, warnings) = with(public, &[("COLDMARK_HTTP_ALLOW_PLAINTEXT_HEADERS", "true")]);
            assert!(on, "{public} with the opt-in");
            assert_eq!(warnings.len(), 1, "still warned: {warnings:?}");
        }
        // Without headers, plain http is nobody's secret.
        let (config, warnings) = read(&[
            ("COLDMARK_SINK", "http"),
            ("COLDMARK_HTTP_ENDPOINT", "http://203.0.113.7/"),
        ]);
        assert!(config.is_some() && warnings.is_empty());
    }

    #[test]
    fn a_proxy_only_when_coldmark_is_told() {
        let base = [
            ("COLDMARK_SINK", "http"),
            ("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1:1/"),
            ("HTTP_PROXY", "http://127.0.0.1:3128"),
            ("HTTPS_PROXY", "http://127.0.0.1:3128"),
            ("ALL_PROXY", "http://127.0.0.1:3128"),
        ];
        let (config, _) = read(&base);
        assert!(config.unwrap().proxy.is_none());
        let mut vars = base.to_vec();
        vars.push(("COLDMARK_HTTP_PROXY", "http://127.0.0.1:3129"));
        let (config, warnings) = read(&vars);
        assert!(warnings.is_empty());
        assert_eq!(config.unwrap().proxy.unwrap().port(), Some(3129));
        vars.pop();
        vars.push(("COLDMARK_HTTP_PROXY", "s3cr3t-T0KEN"));
        let (config, warnings) = read(&vars);
        assert!(config.is_none());
        assert!(warnings[0].starts_with("COLDMARK_HTTP_PROXY"));
        assert_no_secret(&warnings);
    }

    #[test]
    fn bad_values_fall_back_with_one_warning_each() {
        let (config, warnings) = read(&[
            ("COLDMARK_SINK", "http"),
            ("COLDMARK_HTTP_ENDPOINT", "http://127.0.0.1:1/"),
            ("COLDMARK_HTTP_FORMAT", "xml"),
            ("COLDMARK_HTTP_GZIP", "maybe"),
            ("COLDMARK_HTTP_TIMEOUT_MS", "-5"),
            ("COLDMARK_HTTP_RETRIES", "many"),
            ("COLDMARK_HTTP_QUEUE_BYTES", "1"),
        ]);
        let config = config.expect("sink stays on");
        assert_eq!(warnings.len(), 5, "{warnings:?}");
        for (warning, var) in warnings.iter().zip([
            "COLDMARK_HTTP_FORMAT",
            "COLDMARK_HTTP_GZIP",
            "COLDMARK_HTTP_TIMEOUT_MS",
            "COLDMARK_HTTP_RETRIES",
            "COLDMARK_HTTP_QUEUE_BYTES",
        ]) {
            assert!(warning.starts_with(var), "{warning}");
        }
        assert_eq!(config.format, Format::Ndjson);
        assert!(!config.gzip);
        assert_eq!(config.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert_eq!(config.retries, DEFAULT_RETRIES);
        assert_eq!(config.queue_bytes, DEFAULT_QUEUE_BYTES);
    }
}
