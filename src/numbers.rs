//! How computed numbers are written (SPEC "Numbers"): money the service
//! computes is rounded (per-GB prices to 4 places, sums to cents) so that
//! float noise such as `1.8379999999999999` never reaches a client, and `-0`
//! is written `0`. serde_json then writes the shortest form that reads back.

/// `value` with `-0.0` turned into `0.0`.
pub fn clean(value: f64) -> f64 {
    if value == 0.0 { 0.0 } else { value }
}

/// `value` rounded to `places` decimal places, so `1.8379999999999999`
/// becomes `1.838`. Dividing the rounded integer by a power of ten is
/// correctly rounded, so the result is the double nearest the decimal and
/// prints in its short form.
pub fn round_to(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    let scaled = (value * scale).round();
    if !scaled.is_finite() || scaled.abs() > 9.0e15 {
        return clean(value);
    }
    clean(scaled / scale)
}

/// A price in whole cents (what trip totals are summed in).
pub fn cents(price: f64) -> i64 {
    (price * 100.0).round() as i64
}

/// Whole cents as dollars.
pub fn from_cents(cents: i64) -> f64 {
    round_to(cents as f64 / 100.0, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_rounded_away() {
        assert_eq!(round_to(9.19 / 5.0, 4).to_string(), "1.838");
        assert_eq!(round_to(1.8379999999999999, 4).to_string(), "1.838");
        assert_eq!(round_to(0.9490000000000001, 4).to_string(), "0.949");
        assert_eq!(round_to(2.0 / 3.0, 4).to_string(), "0.6667");
        assert_eq!(serde_json::to_string(&round_to(-0.0, 4)).unwrap(), "0.0");
        assert_eq!(serde_json::to_string(&clean(-0.0)).unwrap(), "0.0");
        assert_eq!(from_cents(2350).to_string(), "23.5");
        assert_eq!(from_cents(1999 + 1).to_string(), "20");
        assert_eq!(from_cents(30).to_string(), "0.3");
    }
}
