//! The small parameter sets of routes besides `/plans`, `/trips` and
//! `/changes`: which names each accepts (anything else is
//! `unknown_parameter`) and the values they parse to. What a `ref`,
//! `currency` or `lang` means is the HTTP layer's business (the partner and
//! the market); here they are only allowed.

use super::params::{QueryError, parse_pairs};

/// Routes that take only `ref` (the mirror).
#[derive(Debug, PartialEq, Eq)]
pub struct RefOnly;

impl RefOnly {
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        parse_pairs(raw, &["ref"]).map(|_| Self)
    }
}

/// Routes that take no parameters (a `key` is still ignored).
#[derive(Debug, PartialEq, Eq)]
pub struct NoParameters;

impl NoParameters {
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        parse_pairs(raw, &[]).map(|_| Self)
    }
}

/// `/plans/{packageCode}`: `ref` and `currency`.
#[derive(Debug, PartialEq, Eq)]
pub struct PlanParameters;

impl PlanParameters {
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        parse_pairs(raw, &["ref", "currency"]).map(|_| Self)
    }
}

/// `/countries` and `/regions`: `lang` and `currency`.
#[derive(Debug, PartialEq, Eq)]
pub struct PlaceParameters;

impl PlaceParameters {
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        parse_pairs(raw, &["lang", "currency"]).map(|_| Self)
    }
}

/// `POST /admin/refresh?accept_shrink=true|false`: exactly the boolean the
/// OpenAPI document declares (a client that writes anything else learns it
/// at once).
#[derive(Debug, PartialEq, Eq)]
pub struct RefreshQuery {
    pub accept_shrink: bool,
}

impl RefreshQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        let mut accept_shrink = false;
        for (_, value) in parse_pairs(raw, &["accept_shrink"])? {
            accept_shrink = match value.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(QueryError::invalid(
                        "accept_shrink",
                        "accept_shrink must be true or false",
                    ));
                }
            };
        }
        Ok(Self { accept_shrink })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_shrink_is_a_strict_boolean() {
        let parse = |raw: &str| RefreshQuery::parse(Some(raw)).map(|q| q.accept_shrink);
        assert_eq!(parse(""), Ok(false));
        assert_eq!(parse("accept_shrink=true"), Ok(true));
        assert_eq!(parse("accept_shrink=false"), Ok(false));
        for bad in [
            "accept_shrink=",
            "accept_shrink",
            "accept_shrink=yes",
            "accept_shrink=TRUE",
        ] {
            assert!(
                matches!(parse(bad), Err(QueryError::Invalid { ref parameter, .. }) if parameter == "accept_shrink"),
                "{bad}"
            );
        }
        assert!(matches!(parse("force=1"), Err(QueryError::Unknown { .. })));
    }

    #[test]
    fn each_set_accepts_its_names_only() {
        assert!(RefOnly::parse(Some("ref=a&key=k")).is_ok());
        assert!(RefOnly::parse(Some("currency=EUR")).is_err());
        assert!(NoParameters::parse(Some("key=k")).is_ok());
        assert!(NoParameters::parse(Some("ref=a")).is_err());
        assert!(PlanParameters::parse(Some("ref=a&currency=EUR")).is_ok());
        assert!(PlanParameters::parse(Some("lang=de")).is_err());
        assert!(PlaceParameters::parse(Some("lang=de&currency=EUR")).is_ok());
        assert!(PlaceParameters::parse(Some("ref=a")).is_err());
    }
}
