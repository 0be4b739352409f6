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
    let places = places_kept(value, places);
    by_scaling(value, places).unwrap_or_else(|| by_text(value, places))
}

/// `places`, or fewer where 15 significant digits end first.
fn places_kept(value: f64, places: u32) -> u32 {
    // Under 10^(14 - places) a value has at most 15 - places whole digits even where `log10`
    // rounds up to the next power of ten: every place is kept, without a `log10` per figure.
    let bound = 14u32
        .checked_sub(places)
        .and_then(|k| POW10.get(k as usize));
    if bound.is_some_and(|&bound| value.abs() < bound) {
        return places;
    }
    let whole_digits = if value.abs() >= 1.0 {
        value.abs().log10().floor() as u32 + 1
    } else {
        0
    };
    places.min(15u32.saturating_sub(whole_digits))
}

/// Powers of ten up to 10^15: each an exact `f64` (every power up to 10^22 is).
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The `f64` nearest `value` rounded to `places` decimals, by arithmetic: the answer of
/// [`by_text`] wherever this gives one. `--json` rounds several figures of every record, and
/// formatting a float to a fixed number of places falls back to big-number arithmetic for most
/// of them (several thousand instructions each, a fifth of a `--json` run), where this is a
/// multiplication and a division.
///
/// `value × 10^places` computed in `f64` is within `|scaled| × 2^-53` of the exact product.
/// Unless a half-integer lies that close, the exact product and the computed one round to the
/// same whole number `n` (and never to a tie); `n` and `10^places` are exact `f64`s, so the
/// correctly rounded division gives the float nearest the decimal `n / 10^places`, which is
/// what parsing that decimal's text gives. Near a half-integer, or from 2^51 on, where the
/// product keeps too little of its fraction to judge, `None`: the text decides.
fn by_scaling(value: f64, places: u32) -> Option<f64> {
    let scale = *POW10.get(places as usize)?;
    let scaled = value * scale;
    // A finite value times a power of ten is never NaN; infinity fails here too.
    if scaled.abs() >= (1u64 << 51) as f64 {
        return None;
    }
    // The fraction is exact (a float less its `trunc`: within a factor of two of each other,
    // or `trunc` zero), and so is its distance from 0.5 wherever that distance is under 0.25.
    let from_half = ((scaled - scaled.trunc()).abs() - 0.5).abs();
    if from_half <= scaled.abs() * f64::EPSILON {
        return None;
    }
    // `round` keeps the sign of a negative value that rounds to zero, as the text does
    // ("-0.000" parses to -0.0).
    Some(scaled.round() / scale)
}

/// The reference: formatting rounds the float's exact value correctly (ties to even); parsing
/// gives the nearest float.
fn by_text(value: f64, places: u32) -> f64 {
    let places = places as usize;
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

    /// A small deterministic generator (xorshift64*): the same values on every run.
    struct Values(u64);

    impl Values {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Every answer of the arithmetic is the text's, bit for bit (sign of zero included), with
    /// the places the text kept before the arithmetic and its shortcuts; whether it answered.
    fn assert_same(value: f64, places: u32) -> bool {
        let whole_digits = if value.abs() >= 1.0 {
            value.abs().log10().floor() as u32 + 1
        } else {
            0
        };
        let kept = places.min(15u32.saturating_sub(whole_digits));
        let text = by_text(value, kept);
        assert_eq!(
            decimals(value, places).to_bits(),
            text.to_bits(),
            "{value:e}"
        );
        match by_scaling(value, kept) {
            Some(fast) => {
                assert_eq!(
                    fast.to_bits(),
                    text.to_bits(),
                    "{value:e} to {kept} places: {fast:e} by arithmetic, {text:e} by text"
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn arithmetic_rounds_measured_figures_as_the_text_does() {
        let mut v = Values(0x9e37_79b9_7f4a_7c15);
        let (mut answered, mut tried) = (0, 0);
        for _ in 0..200_000 {
            // A sum of a few markers' milliseconds (whole microseconds), as the summary adds.
            let sum: f64 = (0..1 + v.below(8))
                .map(|_| v.below(30_000_000) as f64 / 1000.0)
                .sum();
            let memory = [128.0, 512.0, 1024.0, 1769.0, 10240.0][v.below(5) as usize];
            let gbs = sum / 1000.0 * memory / 1024.0;
            for (value, places) in [
                (sum, MS_DECIMALS),
                (-sum, MS_DECIMALS),
                (gbs, GB_SECONDS_DECIMALS),
                (gbs * 0.0000166667, MONEY_DECIMALS),
            ] {
                tried += 1;
                answered += usize::from(assert_same(value, places));
            }
        }
        // The text is the rare way: otherwise this module is as slow as before.
        assert!(answered * 1000 >= tried * 999, "{answered} of {tried}");
    }

    #[test]
    fn arithmetic_never_answers_differently_near_ties_or_anywhere() {
        let mut v = Values(0x0123_4567_89ab_cdef);
        for _ in 0..200_000 {
            let places = v.below(16) as u32;
            // Exactly halfway in decimal, and the floats on either side of it.
            let half = (v.below(1 << 40) as f64 + 0.5) / 10f64.powi(places as i32);
            for value in [half, half.next_up(), half.next_down(), -half] {
                assert_same(value, places);
            }
            // Any finite float at all, from its bits.
            let any = f64::from_bits(v.next());
            if any.is_finite() && any != 0.0 {
                assert_same(any, places);
            }
        }
        // Where the whole digits change, which decides the places kept.
        for power in POW10.iter().chain(&[1e16, 1e17, 1e20]) {
            for places in [MS_DECIMALS, GB_SECONDS_DECIMALS, MONEY_DECIMALS, 15] {
                for value in [
                    *power,
                    power.next_down(),
                    power.next_up(),
                    power * 0.999_999_9,
                ] {
                    assert_same(value, places);
                    assert_same(-value, places);
                }
            }
        }
        assert_eq!(
            decimals(-0.0004, MS_DECIMALS).to_bits(),
            (-0.0f64).to_bits()
        );
        assert_eq!(
            decimals(0.0625, 3),
            0.062,
            "a tie rounds to even, as the text does"
        );
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
