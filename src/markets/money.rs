//! A USD amount shown in another currency (SPEC section 12): decimal
//! arithmetic from the reference rates, rounded half away from zero to the
//! currency's ISO 4217 minor unit, so `0.1 + 0.2` never shows.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

/// How USD amounts are shown in one currency on one day's rates.
#[derive(Clone, Debug, PartialEq)]
pub struct Display {
    /// Upper-case ISO 4217 code.
    currency: String,
    /// Units of the currency per euro, and US dollars per euro.
    per_eur: Decimal,
    usd_per_eur: Decimal,
    /// Decimal places of the currency's minor unit (JPY 0, EUR 2).
    places: u32,
    /// `None` for USD itself (no conversion).
    rate_date: Option<String>,
}

impl Display {
    /// USD shown as USD: exact, no rates needed.
    pub fn usd() -> Self {
        Self {
            currency: "USD".to_owned(),
            per_eur: Decimal::ONE,
            usd_per_eur: Decimal::ONE,
            places: 2,
            rate_date: None,
        }
    }

    /// USD converted at `per_eur / usd_per_eur`; `None` for a code ISO 4217
    /// does not define.
    pub(super) fn converted(
        code: &str,
        per_eur: Decimal,
        usd_per_eur: Decimal,
        date: &str,
    ) -> Option<Self> {
        let places = minor_unit(code)?;
        Some(Self {
            currency: code.to_owned(),
            per_eur,
            usd_per_eur,
            places,
            rate_date: Some(date.to_owned()),
        })
    }

    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The reference date of the rates used (`None` for USD).
    pub fn rate_date(&self) -> Option<&str> {
        self.rate_date.as_deref()
    }

    pub fn is_approximate(&self) -> bool {
        self.rate_date.is_some()
    }

    /// `usd` in this currency, rounded to its minor unit.
    pub fn amount(&self, usd: f64) -> Decimal {
        let usd = decimal(usd);
        let value = if self.rate_date.is_none() {
            usd
        } else {
            // Multiply first: the division's rounding then falls 20+ digits
            // below the minor unit.
            usd.checked_mul(self.per_eur)
                .and_then(|v| v.checked_div(self.usd_per_eur))
                .unwrap_or(Decimal::ZERO)
        };
        value
            .round_dp_with_strategy(self.places, RoundingStrategy::MidpointAwayFromZero)
            .normalize()
    }

    /// The displayed price per GB: the displayed price over `data_gb`, to 4
    /// places; `None` for unlimited plans (0 GB).
    pub fn per_gb(&self, shown: Decimal, data_gb: f64) -> Option<Decimal> {
        let gb = decimal(data_gb);
        if gb.is_zero() {
            return None;
        }
        shown.checked_div(gb).map(|v| {
            v.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
                .normalize()
        })
    }

    /// Appends `,"display":{…}` for a plan of `price` USD and `data_gb` GB.
    pub fn write_plan(&self, out: &mut Vec<u8>, price: f64, data_gb: f64) {
        let shown = self.amount(price);
        let per_gb = self.per_gb(shown, data_gb);
        self.write(out, &[("retailPrice", Some(shown)), ("pricePerGb", per_gb)]);
    }

    /// Appends `,"display":{"currency":…, <amounts>, "approximate":…, "rateDate":…}`.
    pub fn write(&self, out: &mut Vec<u8>, amounts: &[(&str, Option<Decimal>)]) {
        out.extend_from_slice(b",\"display\":{\"currency\":\"");
        out.extend_from_slice(self.currency.as_bytes());
        out.push(b'"');
        for (name, value) in amounts {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            match value {
                Some(v) => {
                    use std::io::Write;
                    write!(out, "{v}").expect("writing to a Vec");
                }
                None => out.extend_from_slice(b"null"),
            }
        }
        out.extend_from_slice(b",\"approximate\":");
        out.extend_from_slice(if self.is_approximate() {
            b"true"
        } else {
            b"false"
        });
        out.extend_from_slice(b",\"rateDate\":");
        match &self.rate_date {
            Some(date) => {
                out.push(b'"');
                out.extend_from_slice(date.as_bytes());
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
}

/// A price as the decimal it was written as (the shortest form of the f64).
fn decimal(value: f64) -> Decimal {
    use std::io::Write;
    if !value.is_finite() {
        return Decimal::ZERO;
    }
    // Written on the stack: this runs for every plan of a page with a
    // display currency. The shortest form of an f64 fits in 32 bytes
    // unless it is huge or tiny, and then the heap form is used.
    let mut buffer = [0u8; 32];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    if write!(cursor, "{value}").is_ok() {
        let len = cursor.position() as usize;
        if let Ok(text) = std::str::from_utf8(&buffer[..len]) {
            return Decimal::from_str(text).unwrap_or(Decimal::ZERO);
        }
    }
    Decimal::from_str(&value.to_string()).unwrap_or(Decimal::ZERO)
}

/// ISO 4217 minor-unit places of `code`, if it is a currency (funds and
/// metals without a minor unit count as 0).
pub fn minor_unit(code: &str) -> Option<u32> {
    let currency = iso_currency::Currency::from_code(code)?;
    Some(currency.exponent().map_or(0, u32::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markets::Rates;

    fn rates() -> Rates {
        Rates::parse_ecb(super::super::rates::tests::ECB.as_bytes()).unwrap()
    }

    #[test]
    fn conversions_match_hand_computed_values() {
        let rates = rates();
        let eur = rates.display("EUR").unwrap();
        // 19.81 / 1.1590 = 17.0923…
        assert_eq!(eur.amount(19.81).to_string(), "17.09");
        // 1.159 USD is exactly 1 EUR; 0.58 USD = 0.50043… EUR.
        assert_eq!(eur.amount(1.159).to_string(), "1");
        assert_eq!(eur.amount(0.58).to_string(), "0.5");
        let gbp = rates.display("GBP").unwrap();
        // 10 * 0.87713 / 1.1590 = 7.5680…
        assert_eq!(gbp.amount(10.0).to_string(), "7.57");
        let jpy = rates.display("JPY").unwrap();
        // 4.5 * 180.07 / 1.159 = 699.149… -> 699 (no minor unit)
        assert_eq!(jpy.amount(4.5).to_string(), "699");
        assert_eq!(jpy.per_gb(jpy.amount(4.5), 3.0).unwrap().to_string(), "233");
        assert_eq!(
            eur.per_gb(Decimal::new(1709, 2), 10.0).unwrap().to_string(),
            "1.709"
        );
        assert_eq!(eur.per_gb(Decimal::new(1709, 2), 0.0), None);
        assert!(rates.display("ARS").is_none(), "not in the rates");
    }

    #[test]
    fn prices_read_as_their_shortest_decimal_form_on_the_stack_or_not() {
        for value in [
            0.1 + 0.2,
            2.675,
            19.81,
            123_456.789,
            1e25,
            1e40,
            f64::MIN_POSITIVE,
            5e-324,
            -0.0,
        ] {
            let expected = Decimal::from_str(&value.to_string()).unwrap_or(Decimal::ZERO);
            assert_eq!(decimal(value), expected, "{value}");
        }
        assert_eq!(decimal(f64::NAN), Decimal::ZERO);
        assert_eq!(decimal(0.1 + 0.2).to_string(), "0.30000000000000004");
    }

    #[test]
    fn rounding_is_half_away_from_zero_in_decimal() {
        let usd = Display::usd();
        assert_eq!(usd.amount(0.1 + 0.2).to_string(), "0.3");
        assert_eq!(
            usd.amount(2.675).to_string(),
            "2.68",
            "binary 2.67499… is not used"
        );
        assert_eq!(usd.amount(5.0).to_string(), "5");
        let mut out = Vec::new();
        usd.write_plan(&mut out, 9.99, 0.0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#","display":{"currency":"USD","retailPrice":9.99,"pricePerGb":null,"approximate":false,"rateDate":null}"#
        );
        assert_eq!(minor_unit("JPY"), Some(0));
        assert_eq!(minor_unit("KWD"), Some(3));
        assert_eq!(minor_unit("EUR"), Some(2));
        assert_eq!(minor_unit("XYZ"), None);
    }
}
