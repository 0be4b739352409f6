//! What the markers say: `COLDMARK_NAMESPACE` (the EMF metrics' namespace),
//! `COLDMARK_INVOKE_MARKERS` (which invocations get one), `COLDMARK_PROACTIVE_THRESHOLD_MS`
//! (when an init counts as proactive) and `COLDMARK_FINGERPRINT_EXCLUDE`.

use super::vars::Vars;

pub(super) const DEFAULT_NAMESPACE: &str = "coldmark";

/// Default `COLDMARK_PROACTIVE_THRESHOLD_MS`. After an on-demand init Lambda hands the waiting
/// request over within milliseconds; a gap of a whole second between the end of init and the
/// first INVOKE means no request was waiting (Lambda initialised the environment ahead of
/// demand). 1 s is two orders of magnitude above the dispatch delay, so scheduler hiccups never
/// turn a real cold start into a "proactive" one, and short enough to catch proactive inits,
/// whose gaps are seconds to minutes.
pub(crate) const DEFAULT_PROACTIVE_THRESHOLD_MS: u64 = 1000;

/// Largest `COLDMARK_PROACTIVE_THRESHOLD_MS` taken as given (a day); larger values are clamped
/// with a warning. Gaps of proactive inits are seconds to minutes, and the threshold is added
/// to other spans, which must not overflow.
pub(crate) const MAX_PROACTIVE_THRESHOLD_MS: u64 = 86_400_000;

/// Which invocations get an `invoke` marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeMarkers {
    /// The first invocation after each init (the one a cold start may have delayed).
    First,
    All,
    None,
}

pub(super) fn namespace(vars: &mut Vars) -> String {
    let Some(v) = vars.get("COLDMARK_NAMESPACE") else {
        return DEFAULT_NAMESPACE.to_string();
    };
    // CloudWatch namespaces: 1..=255 printable ASCII, not starting with ':'.
    let valid = !v.is_empty()
        && v.len() <= 255
        && !v.starts_with(':')
        && v.bytes().all(|b| (0x20..0x7f).contains(&b));
    if valid {
        v
    } else {
        vars.bad("COLDMARK_NAMESPACE", "a CloudWatch namespace");
        DEFAULT_NAMESPACE.to_string()
    }
}

pub(super) fn invoke_markers(vars: &mut Vars) -> InvokeMarkers {
    let Some(v) = vars.get("COLDMARK_INVOKE_MARKERS") else {
        return InvokeMarkers::First;
    };
    match v.to_ascii_lowercase().as_str() {
        "first" => InvokeMarkers::First,
        "all" => InvokeMarkers::All,
        "none" => InvokeMarkers::None,
        _ => {
            vars.bad("COLDMARK_INVOKE_MARKERS", "first, all or none");
            InvokeMarkers::First
        }
    }
}

pub(super) fn proactive_threshold_ms(vars: &mut Vars) -> u64 {
    let Some(v) = vars.get("COLDMARK_PROACTIVE_THRESHOLD_MS") else {
        return DEFAULT_PROACTIVE_THRESHOLD_MS;
    };
    let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    match v.parse::<u64>() {
        Ok(ms) if ms <= MAX_PROACTIVE_THRESHOLD_MS => ms,
        // Too large for u64 is still a number of milliseconds: clamp it too.
        Ok(_) | Err(_) if digits => {
            vars.clamped(format!(
                "COLDMARK_PROACTIVE_THRESHOLD_MS is above {MAX_PROACTIVE_THRESHOLD_MS} (a day); \
                 using {MAX_PROACTIVE_THRESHOLD_MS}"
            ));
            MAX_PROACTIVE_THRESHOLD_MS
        }
        Ok(_) | Err(_) => {
            vars.bad(
                "COLDMARK_PROACTIVE_THRESHOLD_MS",
                "a whole number of milliseconds",
            );
            DEFAULT_PROACTIVE_THRESHOLD_MS
        }
    }
}

/// Comma-separated names, blanks ignored.
pub(super) fn fingerprint_exclude(vars: &mut Vars) -> Vec<String> {
    let Some(v) = vars.get("COLDMARK_FINGERPRINT_EXCLUDE") else {
        return Vec::new();
    };
    v.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}
