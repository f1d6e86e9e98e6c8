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
    /// A location code that is not two letters.
    InvalidLocationCode,
    /// `name` over 200, `packageCode` over 64 or `productUrl` over 2,048 characters.
    TooLong,
    /// A field carries the upstream key.
    CarriesSecret,
}

impl DropReason {
    pub const ALL: [DropReason; 8] = [
        Self::Malformed,
        Self::MissingPackageCode,
        Self::InvalidNumber,
        Self::InvalidProductUrl,
        Self::DuplicatePackageCode,
        Self::InvalidLocationCode,
        Self::TooLong,
        Self::CarriesSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::MissingPackageCode => "missing_package_code",
            Self::InvalidNumber => "invalid_number",
            Self::InvalidProductUrl => "invalid_product_url",
            Self::DuplicatePackageCode => "duplicate_package_code",
            Self::InvalidLocationCode => "invalid_location_code",
            Self::TooLong => "too_long",
            Self::CarriesSecret => "carries_secret",
        }
    }
}

/// Counts of dropped plans by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::ALL.len()]);

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

pub const MAX_NAME: usize = 200;
pub const MAX_PACKAGE_CODE: usize = 64;
pub const MAX_PRODUCT_URL: usize = 2048;

/// Validates one raw plan from the feed. `secret` is the upstream key: a
/// plan that carries it anywhere (raw, escaped or percent-encoded) is dropped
/// so it is never served, snapshotted or stored.
pub fn validate(raw: &RawValue, secret: Option<&str>) -> Result<Plan, DropReason> {
    let wire: WirePlan = serde_json::from_str(raw.get()).map_err(|_| DropReason::Malformed)?;
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        if carries(raw.get(), &wire, secret) {
            return Err(DropReason::CarriesSecret);
        }
    }
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
    let location_codes: Vec<String> = wire
        .location_codes
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.trim().to_ascii_uppercase())
        .collect();
    if location_codes
        .iter()
        .any(|c| CountryCode::parse(c).is_none())
    {
        return Err(DropReason::InvalidLocationCode);
    }
    let name = wire.name.unwrap_or_default();
    let raw_url_len = wire.product_url.as_deref().map_or(0, |u| u.chars().count());
    if name.chars().count() > MAX_NAME
        || package_code.chars().count() > MAX_PACKAGE_CODE
        || raw_url_len > MAX_PRODUCT_URL
    {
        return Err(DropReason::TooLong);
    }
    Ok(Plan {
        name,
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

/// Whether the raw plan or any of its strings carries the secret (see
/// [`carries_secret`]).
fn carries(raw: &str, wire: &WirePlan, secret: &str) -> bool {
    let hit = |text: &str| carries_secret(text, secret);
    hit(raw)
        || [
            &wire.name,
            &wire.package_code,
            &wire.product_url,
            &wire.operator,
            &wire.speed,
        ]
        .into_iter()
        .flatten()
        .any(|s| hit(s))
        || wire
            .location_codes
            .iter()
            .chain(&wire.location_names)
            .flatten()
            .any(|s| hit(s))
}

/// Whether `text` holds `secret` in any letter case, as it is or
/// percent-decoded (`+` as a space too). JSON escapes are undone by the
/// caller passing decoded strings as well as raw JSON.
pub fn carries_secret(text: &str, secret: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let holds = |candidate: &str| contains_ignoring_case(candidate, secret);
    holds(text)
        || (text.contains('%') || text.contains('+'))
            && (holds(&percent_encoding::percent_decode_str(text).decode_utf8_lossy())
                || holds(
                    &percent_encoding::percent_decode_str(&text.replace('+', " "))
                        .decode_utf8_lossy(),
                ))
}

/// Case-insensitive substring test without allocating for ASCII needles
/// (keys are ASCII); other needles compare lower-cased copies.
fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    if !needle.is_ascii() {
        return haystack.to_lowercase().contains(&needle.to_lowercase());
    }
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
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
        let plan = validate(&raw(GOOD), None).unwrap();
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
            (
                GOOD.replace("https://x.example/de?ref=up", "https://u:p@x.example/de"),
                DropReason::InvalidProductUrl,
            ),
            (
                GOOD.replace(
                    "https://x.example/de?ref=up",
                    "https://x.example/de?key=sk_SECRET_1",
                ),
                DropReason::CarriesSecret,
            ),
            (
                GOOD.replace("Germany 5GB", "Germany sk%5FSECRET%5F1"),
                DropReason::CarriesSecret,
            ),
            (
                GOOD.replace("Telekom", "sk_SECRET_1"),
                DropReason::CarriesSecret,
            ),
            (
                GOOD.replace("Telekom", "SK_SECRET_1 upper-cased"),
                DropReason::CarriesSecret,
            ),
            (
                GOOD.replace("Telekom", "sk_\\u0053ECRET_1 escaped"),
                DropReason::CarriesSecret,
            ),
            (
                GOOD.replace("Germany 5GB", "Germany sk%5fsecret%5f1"),
                DropReason::CarriesSecret,
            ),
            (
                GOOD.replace(r#""de""#, r#""DEU""#),
                DropReason::InvalidLocationCode,
            ),
            (
                GOOD.replace(r#""de""#, r#""""#),
                DropReason::InvalidLocationCode,
            ),
            (
                GOOD.replace(r#""de""#, r#""<S>""#),
                DropReason::InvalidLocationCode,
            ),
            (
                GOOD.replace("Germany 5GB", &"n".repeat(201)),
                DropReason::TooLong,
            ),
            (
                GOOD.replace(
                    r#""packageCode":"DE-5""#,
                    &format!(r#""packageCode":"{}""#, "C".repeat(65)),
                ),
                DropReason::TooLong,
            ),
            (
                GOOD.replace(
                    "https://x.example/de?ref=up",
                    &format!("https://x.example/{}", "p".repeat(2040)),
                ),
                DropReason::TooLong,
            ),
        ];
        for (json, reason) in cases {
            assert_eq!(
                validate(&raw(&json), Some("sk_SECRET_1")).unwrap_err(),
                reason,
                "{json}"
            );
        }
    }

    #[test]
    fn negative_zero_is_served_as_zero_and_limits_are_inclusive() {
        let plan = validate(
            &raw(&GOOD.replace(r#""retailPrice":9.5"#, r#""retailPrice":-0.0"#)),
            None,
        )
        .unwrap();
        assert!(plan.retail_price.is_sign_positive());
        let long = GOOD.replace("Germany 5GB", &"n".repeat(200));
        assert!(validate(&raw(&long), None).is_ok());
    }

    #[test]
    fn unlimited_plans_have_no_price_per_gb() {
        let plan = validate(
            &raw(&GOOD.replace(r#""dataAmount":5"#, r#""dataAmount":0"#)),
            None,
        )
        .unwrap();
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

    #[test]
    fn the_secret_is_found_in_any_letter_case_and_encoding() {
        let key = "sk_SECRET_1";
        for text in [
            "sk_SECRET_1",
            "CMG sk_secret_1",
            "x SK_SECRET_1 y",
            "sk%5FSECRET%5F1",
            "a+sk_Secret_1",
            "ünïcode sk_SECRET_1",
        ] {
            assert!(carries_secret(text, key), "{text}");
        }
        for text in ["", "sk_SECRET", "sk SECRET 1", "ConnectMeGuru"] {
            assert!(!carries_secret(text, key), "{text}");
        }
        assert!(!carries_secret("anything", ""));
    }
}
