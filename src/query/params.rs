//! The query-string grammar shared by every route, and the value parsers
//! several routes share. A parser's error names the parameter at fault.

use crate::catalog::{CountryCode, speed_tokens};
use crate::referral::RefCode;

/// A client sends its own `key` now and then (copying the upstream URL): it is
/// ignored, never forwarded and never an error.
const IGNORED: &str = "key";

/// A rejected parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// 400 `invalid_parameter`.
    Invalid { parameter: String, message: String },
    /// 400 `unknown_parameter`.
    Unknown { parameter: String, message: String },
}

impl QueryError {
    pub(crate) fn invalid(parameter: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }
}

/// Splits a raw query string into pairs, rejecting unknown and repeated
/// parameters. `key` is dropped here, so it goes no further.
pub fn parse_pairs(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, QueryError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name =
            decode(name).unwrap_or_else(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        if name == IGNORED {
            continue;
        }
        if !allowed.contains(&name.as_ref()) {
            let shown: String = name.chars().take(64).collect();
            let accepted = if allowed.is_empty() {
                "this route takes no parameters".to_owned()
            } else {
                format!("accepted parameters: {}", allowed.join(", "))
            };
            return Err(QueryError::Unknown {
                message: format!("unknown parameter {shown:?}; {accepted}"),
                parameter: shown,
            });
        }
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(QueryError::invalid(
                &name,
                format!("{name} is given more than once"),
            ));
        }
        let value = decode(value).map_err(|_| {
            QueryError::invalid(
                &name,
                format!("{name} must be valid UTF-8 once percent-decoded"),
            )
        })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// One form-encoded component (`+` is a space), or its bytes when they are
/// not UTF-8 once percent-decoded.
pub(crate) fn decode(component: &str) -> Result<String, Vec<u8>> {
    if !component.contains(['%', '+']) {
        return Ok(component.to_owned());
    }
    let spaced = component.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).map_err(|e| e.into_bytes())
}

/// SPEC's number grammar: plain digits, or digits with one decimal point;
/// no sign, space, exponent, hex, `inf` or `NaN`.
fn is_plain_number(value: &str, decimals: bool) -> bool {
    let (whole, fraction) = match value.split_once('.') {
        Some((w, f)) if decimals => (w, f),
        Some(_) => return false,
        None => (value, ""),
    };
    (!whole.is_empty() || !fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Parses an optional `ref`.
pub(crate) fn parse_ref(value: &str) -> Result<RefCode, QueryError> {
    RefCode::parse(value).map_err(|e| QueryError::invalid("ref", format!("ref {e}")))
}

pub(crate) fn parse_countries(value: &str) -> Result<Vec<CountryCode>, QueryError> {
    let mut out = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        let code = CountryCode::parse(item).ok_or_else(|| {
            let shown: String = item.chars().take(16).collect();
            QueryError::invalid(
                "country",
                format!(
                    "country must be ISO 3166-1 alpha-2 codes separated by commas; got {shown:?}"
                ),
            )
        })?;
        if !out.contains(&code) {
            out.push(code);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A whole number from `min` to `max`.
pub(crate) fn parse_int(
    name: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<usize, QueryError> {
    Some(value)
        .filter(|v| is_plain_number(v, false))
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| {
            QueryError::invalid(
                name,
                format!("{name} must be an integer from {min} to {max}"),
            )
        })
}

pub(crate) fn parse_number(name: &str, value: &str) -> Result<f64, QueryError> {
    if value.starts_with('-') && is_plain_number(&value[1..], true) {
        return Err(QueryError::invalid(
            name,
            format!("{name} must not be negative"),
        ));
    }
    if !is_plain_number(value, true) {
        return Err(QueryError::invalid(
            name,
            format!("{name} must be a plain non-negative number such as 5 or 2.5"),
        ));
    }
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) if v.is_finite() => Err(QueryError::invalid(
            name,
            format!("{name} must not be negative"),
        )),
        _ => Err(QueryError::invalid(
            name,
            format!("{name} must be a finite, non-negative number"),
        )),
    }
}

/// Days are whole: `1.5` or `7.0` is `invalid_parameter`.
pub(crate) fn parse_days(name: &str, value: &str) -> Result<f64, QueryError> {
    let digits = Some(value).filter(|v| is_plain_number(v, false));
    digits
        .and_then(|v| v.parse::<u32>().ok())
        .map(f64::from)
        .ok_or_else(|| {
            QueryError::invalid(
                name,
                format!("{name} must be a whole number of days (an integer >= 0)"),
            )
        })
}

pub(crate) fn parse_speed(value: &str) -> Result<Vec<String>, QueryError> {
    let tokens = speed_tokens(value);
    // Exactly what the OpenAPI pattern allows.
    let valid = !tokens.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+. \t/,|".contains(c))
        && value.len() <= 32
        && tokens.iter().all(|t| {
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '.')
        });
    if valid {
        Ok(tokens)
    } else {
        Err(QueryError::invalid(
            "speed",
            "speed must be a network generation such as 4G or 5G",
        ))
    }
}

pub(crate) fn parse_text(name: &str, value: &str, max_chars: usize) -> Result<String, QueryError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(QueryError::invalid(
            name,
            format!("{name} must not be empty"),
        ));
    }
    if value.chars().count() > max_chars {
        return Err(QueryError::invalid(
            name,
            format!("{name} must be at most {max_chars} characters"),
        ));
    }
    Ok(crate::markets::fold(trimmed))
}

/// `true` or `false`, as JSON and OpenAPI write booleans.
pub(crate) fn parse_bool(name: &str, value: &str) -> Result<bool, QueryError> {
    if value == "true" {
        Ok(true)
    } else if value == "false" {
        Ok(false)
    } else {
        Err(QueryError::invalid(
            name,
            format!("{name} must be true or false"),
        ))
    }
}

/// An ISO 4217 code (any case), upper-cased; whether rates list it is the
/// caller's business.
pub(crate) fn parse_currency(value: &str) -> Result<String, QueryError> {
    let code = value.to_ascii_uppercase();
    if crate::markets::money::minor_unit(&code).is_some() {
        Ok(code)
    } else {
        Err(QueryError::invalid(
            "currency",
            "currency must be an ISO 4217 code such as EUR, GBP or JPY",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_digits_with_at_most_one_decimal_point() {
        for good in ["0", "5", "12", "2.5", "0.25", "5.", ".5", "007"] {
            assert!(is_plain_number(good, true), "{good}");
        }
        for bad in [
            "", ".", "+1", "-1", " 1", "1 ", "1e3", "0x10", "inf", "NaN", "1.2.3", "1,5", "١",
        ] {
            assert!(!is_plain_number(bad, true), "{bad}");
        }
        assert!(!is_plain_number("2.5", false));
        assert!(parse_int("limit", "+5", 1, 10).is_err());
    }

    #[test]
    fn text_must_be_utf8_once_decoded() {
        let error = parse_pairs(Some("q=%ff"), &["q"]).unwrap_err();
        assert!(matches!(error, QueryError::Invalid { ref parameter, .. } if parameter == "q"));
        let pairs = parse_pairs(Some("q=T%C3%BCrkiye+x&key=k"), &["q"]).unwrap();
        assert_eq!(pairs, [("q".to_owned(), "Türkiye x".to_owned())]);
    }
}
