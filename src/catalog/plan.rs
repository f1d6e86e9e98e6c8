//! A validated plan and the rules that turn upstream data into one.

use std::fmt;

use serde_json::value::RawValue;

use crate::referral::ProductUrl;
use crate::upstream::wire::WirePlan;

/// An ISO 3166-1 alpha-2 code, upper case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Accepts two ASCII letters in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // Two ASCII letters are always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plan that passed validation. Field names follow the upstream feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub name: String,
    pub package_code: String,
    pub product_url: ProductUrl,
    /// GB; 0 for unlimited plans.
    pub data_amount: f64,
    /// Days.
    pub duration: u32,
    /// Upper-cased, trimmed.
    pub location_codes: Vec<String>,
    pub location_names: Vec<String>,
    pub operator: String,
    pub speed: String,
    /// USD.
    pub retail_price: f64,
}

impl Plan {
    /// `retailPrice / dataAmount`, or `None` for unlimited (0 GB) plans.
    pub fn price_per_gb(&self) -> Option<f64> {
        price_per_gb(self.retail_price, self.data_amount)
    }
}

/// `price / gb` rounded to 4 places (SPEC "Numbers"), or `None` for
/// unlimited (0 GB) plans. Sorting uses the same rounded value the client
/// sees, so equal shown values are ordered by packageCode.
pub fn price_per_gb(price: f64, gb: f64) -> Option<f64> {
    (gb > 0.0).then(|| crate::numbers::round_to(price / gb, 4))
}

/// Why a plan was dropped; each is a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a JSON object of the expected field types.
    Malformed,
    MissingPackageCode,
    /// Missing, negative or non-finite `dataAmount`, `duration` or `retailPrice`.
    InvalidNumber,
    /// Not an absolute http(s) URL.
    InvalidProductUrl,
    /// A later plan with an already-seen `packageCode` (the first one is kept).
    DuplicatePackageCode,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        Self::Malformed,
        Self::MissingPackageCode,
        Self::InvalidNumber,
        Self::InvalidProductUrl,
        Self::DuplicatePackageCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::MissingPackageCode => "missing_package_code",
            Self::InvalidNumber => "invalid_number",
            Self::InvalidProductUrl => "invalid_product_url",
            Self::DuplicatePackageCode => "duplicate_package_code",
        }
    }
}

/// Counts of dropped plans by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounts([u64; 5]);

impl DropCounts {
    pub fn add(&mut self, reason: DropReason) {
        self.0[reason as usize] += 1;
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Validates one raw plan from the feed.
pub fn validate(raw: &RawValue) -> Result<Plan, DropReason> {
    let wire: WirePlan = serde_json::from_str(raw.get()).map_err(|_| DropReason::Malformed)?;
    let package_code = wire
        .package_code
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or(DropReason::MissingPackageCode)?;
    let data_amount = non_negative(wire.data_amount)?;
    let retail_price = non_negative(wire.retail_price)?;
    let duration = non_negative(wire.duration)?;
    if duration.fract() != 0.0 || duration > f64::from(u32::MAX) {
        return Err(DropReason::InvalidNumber);
    }
    let product_url = wire
        .product_url
        .as_deref()
        .ok_or(DropReason::InvalidProductUrl)
        .and_then(|u| ProductUrl::parse(u).map_err(|_| DropReason::InvalidProductUrl))?;
    let location_codes = wire
        .location_codes
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.trim().to_ascii_uppercase())
        .collect();
    Ok(Plan {
        name: wire.name.unwrap_or_default(),
        package_code,
        product_url,
        data_amount,
        duration: duration as u32,
        location_codes,
        location_names: wire.location_names.unwrap_or_default(),
        operator: wire.operator.unwrap_or_default(),
        speed: wire.speed.unwrap_or_default(),
        retail_price,
    })
}

fn non_negative(value: Option<f64>) -> Result<f64, DropReason> {
    match value {
        Some(v) if v.is_finite() && v >= 0.0 => Ok(crate::numbers::clean(v)),
        _ => Err(DropReason::InvalidNumber),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    const GOOD: &str = r#"{"name":"Germany 5GB","packageCode":"DE-5","productUrl":"https://x.example/de?ref=up",
        "dataAmount":5,"duration":30,"locationCodes":["de"," at "],"locationNames":["Germany","Austria"],
        "operator":"Telekom","speed":"4G/5G","retailPrice":9.5}"#;

    #[test]
    fn a_good_plan_is_normalised() {
        let plan = validate(&raw(GOOD)).unwrap();
        assert_eq!(plan.package_code, "DE-5");
        assert_eq!(plan.location_codes, ["DE", "AT"]);
        assert_eq!(plan.product_url.with_ref(None), "https://x.example/de");
        assert_eq!(plan.duration, 30);
        assert_eq!(plan.price_per_gb(), Some(1.9));
    }

    #[test]
    fn bad_plans_are_dropped_with_a_reason() {
        let cases = [
            (
                GOOD.replace(r#""packageCode":"DE-5","#, ""),
                DropReason::MissingPackageCode,
            ),
            (
                GOOD.replace(r#""DE-5""#, r#""  ""#),
                DropReason::MissingPackageCode,
            ),
            (
                GOOD.replace(r#""dataAmount":5"#, r#""dataAmount":-1"#),
                DropReason::InvalidNumber,
            ),
            (
                GOOD.replace(r#""retailPrice":9.5"#, r#""retailPrice":null"#),
                DropReason::InvalidNumber,
            ),
            (
                GOOD.replace(r#""duration":30"#, r#""duration":1.5"#),
                DropReason::InvalidNumber,
            ),
            (
                GOOD.replace(r#""dataAmount":5,"#, ""),
                DropReason::InvalidNumber,
            ),
            (
                GOOD.replace("https://x.example/de?ref=up", "/de"),
                DropReason::InvalidProductUrl,
            ),
            (
                GOOD.replace("https://x.example/de?ref=up", "ftp://x/de"),
                DropReason::InvalidProductUrl,
            ),
            (
                GOOD.replace(r#""dataAmount":5"#, r#""dataAmount":"5""#),
                DropReason::Malformed,
            ),
            ("[1,2]".to_owned(), DropReason::Malformed),
        ];
        for (json, reason) in cases {
            assert_eq!(validate(&raw(&json)).unwrap_err(), reason, "{json}");
        }
    }

    #[test]
    fn unlimited_plans_have_no_price_per_gb() {
        let plan = validate(&raw(&GOOD.replace(r#""dataAmount":5"#, r#""dataAmount":0"#))).unwrap();
        assert_eq!(plan.price_per_gb(), None);
    }

    #[test]
    fn country_codes_parse_in_any_case() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        assert_eq!(CountryCode::parse("Fr").unwrap().to_string(), "FR");
        for bad in ["", "D", "DEU", "D1", "ü1", "  "] {
            assert!(CountryCode::parse(bad).is_none(), "{bad}");
        }
    }
}
