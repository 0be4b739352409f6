//! Environment → [`Config`], read once, before registration: every `COLDMARK_*` setting typed
//! (the HTTP sink's included), every warning collected so it is printed before init ends.
//! Never fails: a bad value gives one warning that names the variable (never its value, which
//! could be a secret pasted into the wrong variable) and the default.
//!
//! One file per setting family: `diagnostics` (`COLDMARK_LOG`), `markers` (what the
//! markers say), `telemetry` (the listener), `sinks` (`COLDMARK_SINK`), `http`
//! (`COLDMARK_HTTP_*`), `otlp` (the standard `OTEL_EXPORTER_OTLP_*` and `COLDMARK_OTLP_*`), and
//! `net`, what the two network sinks share; `help` lists them all for `coldmark --help`.

mod diagnostics;
pub mod help;
pub(crate) mod http;
mod markers;
pub(crate) mod net;
pub(crate) mod otlp;
mod sinks;
mod telemetry;
#[cfg(test)]
mod tests;
mod vars;

use tracing::Level;

pub(crate) use http::HttpSettings;
pub use markers::InvokeMarkers;
use markers::DEFAULT_PROACTIVE_THRESHOLD_MS;
pub(crate) use otlp::OtlpSettings;
pub(crate) use sinks::SinkChoice;
use telemetry::DEFAULT_TELEMETRY_PORT;
use vars::Vars;

/// Every setting, typed.
#[derive(Debug, Clone)]
pub struct Config {
    /// `COLDMARK_LOG`: level of coldmark's own diagnostics on stderr; `None` = off.
    pub log_level: Option<Level>,
    /// `COLDMARK_NAMESPACE`: the CloudWatch metrics namespace of the EMF block.
    pub(crate) namespace: String,
    pub(crate) invoke_markers: InvokeMarkers,
    pub(crate) proactive_threshold_ms: u64,
    /// `COLDMARK_FINGERPRINT_EXCLUDE`: more variable names to leave out of the fingerprint.
    pub(crate) fingerprint_exclude: Vec<String>,
    /// `COLDMARK_TELEMETRY_PORT`: 0 = any free port.
    pub(crate) telemetry_port: u16,
    /// `COLDMARK_SINK`: the sinks the user asked for.
    pub(crate) sinks: SinkChoice,
    /// The HTTP sink's settings: `Some` when `COLDMARK_SINK` chose it and they are usable.
    pub(crate) http: Option<HttpSettings>,
    /// The OTLP sink's settings: `Some` when `COLDMARK_SINK` chose it and they are usable.
    pub(crate) otlp: Option<OtlpSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            log_level: Some(Level::WARN),
            namespace: markers::DEFAULT_NAMESPACE.to_string(),
            invoke_markers: InvokeMarkers::First,
            proactive_threshold_ms: DEFAULT_PROACTIVE_THRESHOLD_MS,
            fingerprint_exclude: Vec::new(),
            telemetry_port: DEFAULT_TELEMETRY_PORT,
            sinks: SinkChoice::DEFAULT,
            http: None,
            otlp: None,
        }
    }
}

impl Config {
    /// Reads every `COLDMARK_*` setting through `env` (a lookup, so tests need no process
    /// environment). Returns the config and the warnings to log once logging is set up.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> (Config, Vec<String>) {
        let mut vars = Vars::new(env);
        // In the order the warnings are to come.
        let mut config = Config {
            log_level: diagnostics::log_level(&mut vars),
            namespace: markers::namespace(&mut vars),
            invoke_markers: markers::invoke_markers(&mut vars),
            proactive_threshold_ms: markers::proactive_threshold_ms(&mut vars),
            fingerprint_exclude: markers::fingerprint_exclude(&mut vars),
            telemetry_port: telemetry::port(&mut vars),
            sinks: sinks::choice(&mut vars),
            http: None,
            otlp: None,
        };
        let mut warnings = vars.into_warnings();
        let (http, http_warnings) = HttpSettings::read(env, config.sinks.http);
        warnings.extend(http_warnings);
        let (otlp, otlp_warnings) = OtlpSettings::read(env, config.sinks.otlp);
        warnings.extend(otlp_warnings);
        if http.is_none() && otlp.is_none() && !config.sinks.stdout {
            warnings.push("COLDMARK_SINK: no working sink left; writing markers to stdout".into());
        }
        config.http = http;
        config.otlp = otlp;
        (config, warnings)
    }
}
