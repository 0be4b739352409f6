//! Figures as precise as they were measured, and no more, for `--json`: a sum of markers'
//! milliseconds prints as `4.233`, not as the binary float's `4.2330000000000005`.
//!
//! Milliseconds keep 3 decimals (markers carry whole microseconds); GB-seconds keep 10 (a
//! microsecond at 1 MB is about 1e-9 GB-s, so every measured microsecond shows); money keeps 12
//! (a microsecond of a 128 MB function at the list price of $0.0000166667 per GB-s is 2e-12 USD).
//! An `f64` holds 15 significant decimal digits: a large value keeps fewer decimals, so rounding
//! never prints digits the float does not have.

use serde::Serializer;

/// Decimals of milliseconds.
pub const MS_DECIMALS: u32 = 3;
/// Decimals of GB-seconds.
pub const GB_SECONDS_DECIMALS: u32 = 10;
/// Decimals of money.
pub const MONEY_DECIMALS: u32 = 12;

/// `value` rounded to `places` decimals (fewer where 15 significant digits end first), as the
/// `f64` nearest that decimal, which serde_json prints in its shortest form: the decimal.
pub fn decimals(value: f64, places: u32) -> f64 {
    if !value.is_finite() || value == 0.0 {
        return value;
    }
    let whole_digits = if value.abs() >= 1.0 {
        value.abs().log10().floor() as u32 + 1
    } else {
        0
    };
    let places = places.min(15u32.saturating_sub(whole_digits)) as usize;
    // Formatting rounds the float's exact value correctly; parsing gives the nearest float.
    format!("{value:.places$}").parse().unwrap_or(value)
}

pub fn ms<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(decimals(*value, MS_DECIMALS))
}

pub fn ms_opt<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    option(value.map(|v| decimals(v, MS_DECIMALS)), s)
}

pub fn gb_seconds<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(decimals(*value, GB_SECONDS_DECIMALS))
}

pub fn gb_seconds_opt<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    option(value.map(|v| decimals(v, GB_SECONDS_DECIMALS)), s)
}

pub fn money_opt<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    option(value.map(|v| decimals(v, MONEY_DECIMALS)), s)
}

fn option<S: Serializer>(value: Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_some(&v),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_measured_milliseconds_print_as_measured() {
        // Three markers' init times added up: the float noise this module exists for.
        let sum = 1.0 + 1.137 + 2.096;
        assert_eq!(serde_json::json!(sum).to_string(), "4.2330000000000005");
        assert_eq!(
            serde_json::json!(decimals(sum, MS_DECIMALS)).to_string(),
            "4.233"
        );
        assert_eq!(decimals(4.1325, MS_DECIMALS).to_string(), "4.133");
        assert_eq!(decimals(-0.0004, MS_DECIMALS), 0.0);
    }

    #[test]
    fn every_measured_microsecond_shows_in_gb_seconds_and_money() {
        // 1 µs more init at 128 MB is a different figure, and so is its price.
        let gbs = |ms: f64| ms / 1000.0 * 128.0 / 1024.0;
        let (a, b) = (gbs(13.801), gbs(13.802));
        assert_ne!(
            decimals(a, GB_SECONDS_DECIMALS),
            decimals(b, GB_SECONDS_DECIMALS)
        );
        let price = 0.0000166667;
        assert_ne!(
            decimals(a * price, MONEY_DECIMALS),
            decimals(b * price, MONEY_DECIMALS)
        );
        assert_eq!(decimals(a, GB_SECONDS_DECIMALS).to_string(), "0.001725125");
    }

    #[test]
    fn large_values_keep_only_the_digits_a_float_has() {
        let day = 86_400_000.123_456_7_f64 * 3.0;
        let rounded = decimals(day, MS_DECIMALS);
        assert_eq!(rounded.to_string(), "259200000.37");
        let huge = decimals(1.0e20 / 3.0, GB_SECONDS_DECIMALS);
        assert!(huge.to_string().len() <= 22, "{huge}");
        assert!(decimals(f64::NAN, 3).is_nan());
    }
}
