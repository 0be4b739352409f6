//! `COLDMARK_TELEMETRY_PORT`: where the Telemetry API listener listens.

use super::vars::Vars;

/// Default `COLDMARK_TELEMETRY_PORT`: a fixed port so the subscription URI is predictable on
/// Lambda, where only one environment lives in the sandbox; 4243 avoids `lambda-extension`'s
/// 9002/9003 defaults so coldmark can sit beside extensions built with it.
pub(crate) const DEFAULT_TELEMETRY_PORT: u16 = 4243;

/// 0 = any free port.
pub(super) fn port(vars: &mut Vars) -> u16 {
    let Some(v) = vars.get("COLDMARK_TELEMETRY_PORT") else {
        return DEFAULT_TELEMETRY_PORT;
    };
    match v.parse::<u16>() {
        Ok(port) => port,
        Err(_) => {
            vars.bad("COLDMARK_TELEMETRY_PORT", "a port number, or 0 for any");
            DEFAULT_TELEMETRY_PORT
        }
    }
}
