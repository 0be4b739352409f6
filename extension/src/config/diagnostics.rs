//! `COLDMARK_LOG`: the level of coldmark's own diagnostics on stderr.

use tracing::Level;

use super::vars::Vars;

/// `off`/`none` turn diagnostics off; the default is `warn`.
pub(super) fn log_level(vars: &mut Vars) -> Option<Level> {
    let Some(v) = vars.get("COLDMARK_LOG") else {
        return Some(Level::WARN);
    };
    match v.to_ascii_lowercase().as_str() {
        "off" | "none" => None,
        "error" => Some(Level::ERROR),
        "warn" | "warning" => Some(Level::WARN),
        "info" => Some(Level::INFO),
        "debug" => Some(Level::DEBUG),
        "trace" => Some(Level::TRACE),
        _ => {
            vars.bad("COLDMARK_LOG", "off, error, warn, info, debug or trace");
            Some(Level::WARN)
        }
    }
}
