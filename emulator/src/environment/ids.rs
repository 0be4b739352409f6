//! Identifiers the platform makes up (request, extension and instance ids, trace headers) and
//! the one rounding rule for the milliseconds it reports.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A random identifier in UUID v4 form (request ids, extension ids, instance ids).
pub(crate) fn new_uuid() -> String {
    let a = random_u64();
    let b = random_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

/// An X-Ray trace header like Lambda passes to the runtime and in INVOKE events.
pub(crate) fn new_trace_id(now: DateTime<Utc>) -> String {
    format!(
        "Root=1-{:08x}-{:016x}{:08x};Parent={:016x};Sampled=0",
        now.timestamp(),
        random_u64(),
        random_u64() as u32,
        random_u64()
    )
}

pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
