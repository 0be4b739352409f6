//! The median the timing tests bound (never a best-of-N): one function for every test.

/// The middle of `values` once sorted (the upper middle for an even count); `T::default()` for
/// none. Values that do not compare (NaN) count as equal.
pub fn median<T: Copy + PartialOrd + Default>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::median;
    use std::time::Duration;

    #[test]
    fn the_middle_or_the_upper_middle() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4, 1, 3, 2]), 3);
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(50), ms(1), ms(9)]), ms(9));
        assert_eq!(median::<Duration>(&[]), Duration::ZERO);
    }
}
