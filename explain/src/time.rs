//! Marker timestamps: RFC 3339 UTC text in, epoch milliseconds out.
//!
//! Every marker carries one, and parsing it is a large share of the work per marker, so the
//! shape the extension writes ("2026-11-25T19:10:18.123Z") is read by hand; any other RFC 3339
//! form (offsets, other precisions) goes through chrono.

use chrono::{DateTime, SecondsFormat, Utc};

/// Epoch milliseconds of an RFC 3339 timestamp, or `None` if it is not one.
pub fn parse_ms(text: &str) -> Option<i64> {
    fast(text.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` with 0 to 9 fraction digits.
fn fast(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[range] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let rest = &b[19..b.len() - 1];
    let millis = match rest {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            let mut v = 0i64;
            for i in 0..3 {
                let c = *digits.get(i).unwrap_or(&b'0');
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + i64::from(c - b'0');
            }
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            v
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339, UTC, milliseconds, `Z` — the markers' own form. Written by hand for years
/// 0..=9999 (every output record carries one), through chrono otherwise.
pub fn format_ms(ms: i64) -> String {
    ms_text(ms).as_str().to_owned()
}

/// [`format_ms`]'s text without an allocation for years 0..=9999, for writers that only
/// borrow it (every `--json` record carries one).
#[derive(Debug, Clone)]
pub enum MsText {
    Short([u8; 24]),
    Long(String),
}

impl MsText {
    pub fn as_str(&self) -> &str {
        match self {
            MsText::Short(b) => std::str::from_utf8(b).expect("ASCII digits"),
            MsText::Long(text) => text,
        }
    }
}

impl serde::Serialize for MsText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The text of [`format_ms`].
pub fn ms_text(ms: i64) -> MsText {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return MsText::Long(
            DateTime::<Utc>::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
                .unwrap_or_else(|| ms.to_string()),
        );
    }
    // Digit by digit into a fixed buffer: `format!` was a visible share of writing a record.
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, rem / 3_600_000);
    put(14, 2, rem / 60_000 % 60);
    put(17, 2, rem / 1000 % 60);
    put(20, 3, rem % 1000);
    MsText::Short(b)
}

/// The proleptic Gregorian date of a day number since 1970-01-01 (the inverse of
/// `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A duration in words for evidence: "850 ms", "4.2 s", "12 min", "3.5 h".
pub fn duration_words(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{:.1} min", ms as f64 / 60_000.0)
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_agrees_with_chrono() {
        for text in [
            "2026-11-25T19:10:18.123Z",
            "1970-01-01T00:00:00.000Z",
            "2000-02-29T23:59:59.999Z",
            "2026-03-01T00:00:00Z",
            "2026-11-25T19:10:18.123456Z",
        ] {
            let want = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_millis();
            assert_eq!(fast(text.as_bytes()), Some(want), "{text}");
        }
    }

    #[test]
    fn other_forms_and_garbage() {
        assert_eq!(
            parse_ms("2026-11-25T20:10:18.123+01:00"),
            parse_ms("2026-11-25T19:10:18.123Z")
        );
        assert_eq!(parse_ms("yesterday"), None);
        assert_eq!(parse_ms("2026-13-25T19:10:18.123Z"), None);
        assert_eq!(format_ms(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        for ms in [
            0,
            951_782_399_999,
            1_795_000_000_123,
            -1,
            253_402_300_799_999,
        ] {
            let chrono = DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(format_ms(ms), chrono, "{ms}");
        }
    }
}
