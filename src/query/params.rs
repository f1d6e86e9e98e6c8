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
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
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
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok(pairs)
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
    value
        .parse::<usize>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| {
            QueryError::invalid(
                name,
                format!("{name} must be an integer from {min} to {max}"),
            )
        })
}

pub(crate) fn parse_number(name: &str, value: &str) -> Result<f64, QueryError> {
    match value.trim().parse::<f64>() {
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
    value.trim().parse::<u32>().map(f64::from).map_err(|_| {
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
    Ok(trimmed.to_lowercase())
}
