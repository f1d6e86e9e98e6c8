//! `/plans` parameters into a [`PlanQuery`].

use std::fmt::Write as _;

use super::params::{
    QueryError, parse_bool, parse_countries, parse_days, parse_int, parse_number, parse_pairs,
    parse_speed, parse_text,
};
use super::{EXPORT_PARAMETERS, MAX_LIMIT, PLAN_PARAMETERS, PlanQuery};
use crate::catalog::SortKey;
use crate::markets::{Continent, Scope};

impl PlanQuery {
    /// Parses the raw query string of `/plans`.
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        Self::parse_with(raw, PLAN_PARAMETERS)
    }

    /// Parses the raw query string of an export: every match, no page.
    pub fn parse_export(raw: Option<&str>) -> Result<Self, QueryError> {
        let mut query = Self::parse_with(raw, &EXPORT_PARAMETERS)?;
        query.limit = u32::MAX as usize;
        Ok(query)
    }

    fn parse_with(raw: Option<&str>, allowed: &[&str]) -> Result<Self, QueryError> {
        let mut query = Self::default();
        for (name, value) in parse_pairs(raw, allowed)? {
            let v = value.as_str();
            match name.as_str() {
                "country" => query.countries = parse_countries(v)?,
                "min_gb" => query.gb.min = Some(parse_number(&name, v)?),
                "max_gb" => query.gb.max = Some(parse_number(&name, v)?),
                "min_days" => query.days.min = Some(parse_days(&name, v)?),
                "max_days" => query.days.max = Some(parse_days(&name, v)?),
                "min_price" => query.price.min = Some(parse_number(&name, v)?),
                "max_price" => query.price.max = Some(parse_number(&name, v)?),
                "speed" => query.speed = parse_speed(v)?,
                "operator" => query.operator = Some(parse_text(&name, v, 100)?),
                "q" => {
                    let phrase = parse_text(&name, v, 200)?;
                    query.text = Some(phrase.split_whitespace().collect::<Vec<_>>().join(" "));
                }
                "sort" => {
                    query.sort = SortKey::parse(v).ok_or_else(|| {
                        let keys: Vec<&str> = SortKey::ALL.iter().map(|k| k.as_str()).collect();
                        QueryError::invalid(
                            "sort",
                            format!("sort must be one of {}", keys.join(", ")),
                        )
                    })?;
                }
                "limit" => query.limit = parse_int(&name, v, 1, MAX_LIMIT)?,
                "offset" => {
                    query.offset = parse_int(&name, v, 0, u32::MAX as usize)?;
                }
                "scope" => {
                    query.scope = Some(Scope::parse(v).ok_or_else(|| {
                        QueryError::invalid("scope", "scope must be local, regional or global")
                    })?);
                }
                "region" => {
                    query.region = Some(Continent::parse(v).ok_or_else(|| {
                        QueryError::invalid(
                            "region",
                            "region must be africa, americas, asia, europe or oceania",
                        )
                    })?);
                }
                "unlimited" => query.unlimited = Some(parse_bool(&name, v)?),
                // The ref is the partner's business (`http::extract::Partner`
                // parses and resolves it), the currency the market's
                // (`http::extract::Market`); nothing here depends on them.
                "ref" | "currency" | "lang" => {}
                _ => unreachable!("parse_pairs only lets accepted names through"),
            }
        }
        for (bounds, min, max) in [
            (query.gb, "min_gb", "max_gb"),
            (query.days, "min_days", "max_days"),
            (query.price, "min_price", "max_price"),
        ] {
            if let (Some(lo), Some(hi)) = (bounds.min, bounds.max) {
                if lo > hi {
                    return Err(QueryError::invalid(
                        min,
                        format!("{min} must not exceed {max}"),
                    ));
                }
            }
        }
        Ok(query)
    }

    /// A canonical form of everything that shapes the response except the ref:
    /// equal queries written differently share cache entries and ETags.
    pub fn canonical(&self) -> String {
        let mut key = String::with_capacity(64);
        for c in &self.countries {
            key.push_str(c.as_str());
        }
        let num = |b: Option<f64>| b.map(|v| v.to_string()).unwrap_or_default();
        let _ = write!(
            key,
            "|{}-{}|{}-{}|{}-{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            num(self.gb.min),
            num(self.gb.max),
            num(self.days.min),
            num(self.days.max),
            num(self.price.min),
            num(self.price.max),
            self.speed.join("/"),
            self.operator.as_deref().unwrap_or(""),
            self.text.as_deref().unwrap_or(""),
            self.scope.map_or("", Scope::as_str),
            self.region.map_or("", Continent::as_str),
            self.unlimited.map_or("", |u| if u { "1" } else { "0" }),
            self.sort.as_str(),
            self.limit,
            self.offset,
        );
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Bounds;

    fn parse(raw: &str) -> Result<PlanQuery, QueryError> {
        PlanQuery::parse(Some(raw))
    }

    fn invalid_parameter(raw: &str) -> String {
        match parse(raw) {
            Err(QueryError::Invalid { parameter, .. }) => parameter,
            other => panic!("{raw}: expected invalid_parameter, got {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_without_parameters() {
        let q = PlanQuery::parse(None).unwrap();
        assert_eq!(q, PlanQuery::default());
        assert_eq!(q.limit, 50);
        assert_eq!(q.sort, SortKey::Price);
    }

    #[test]
    fn every_parameter_parses() {
        let q = parse(
            "country=de,Fr&min_gb=1&max_gb=10.5&min_days=7&max_days=30&min_price=0&max_price=20\
             &speed=5g&operator=Orange&q=T%C3%9CRKIYE%20unlimited&sort=-price&limit=500&offset=3&ref=acme-1&key=ignored",
        )
        .unwrap();
        assert_eq!(
            q.countries.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            ["DE", "FR"]
        );
        assert_eq!(
            q.gb,
            Bounds {
                min: Some(1.0),
                max: Some(10.5)
            }
        );
        assert_eq!(q.speed, ["5G"]);
        assert_eq!(q.operator.as_deref(), Some("orange"));
        assert_eq!(q.text.as_deref(), Some("turkiye unlimited"), "folded");
        assert_eq!((q.sort, q.limit, q.offset), (SortKey::PriceDesc, 500, 3));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let cases = [
            ("min_gb=abc", "min_gb"),
            ("max_gb=", "max_gb"),
            ("min_days=-1", "min_days"),
            ("max_price=NaN", "max_price"),
            ("min_price=inf", "min_price"),
            ("max_gb=1e999", "max_gb"),
            ("min_gb=5&max_gb=1", "min_gb"),
            ("min_days=31&max_days=30", "min_days"),
            ("min_price=2&max_price=1", "min_price"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=-1", "limit"),
            ("limit=2.5", "limit"),
            ("offset=-1", "offset"),
            ("offset=x", "offset"),
            ("country=DEU", "country"),
            ("country=DE,", "country"),
            ("country=", "country"),
            ("country=D1", "country"),
            ("sort=cheapest", "sort"),
            ("speed=", "speed"),
            ("speed=%3Cscript%3E", "speed"),
            ("q=%20", "q"),
            ("operator=", "operator"),
            ("country=DE&country=FR", "country"),
            ("scope=continental", "scope"),
            ("region=antarctica", "region"),
            ("region=", "region"),
            ("unlimited=yes", "unlimited"),
            ("unlimited=1", "unlimited"),
            ("unlimited=TRUE", "unlimited"),
            ("scope=Local", "scope"),
            ("region=Europe", "region"),
        ];
        for (raw, parameter) in cases {
            assert_eq!(invalid_parameter(raw), parameter, "{raw}");
        }
    }

    #[test]
    fn unknown_parameters_are_listed() {
        let err = parse("contry=DE").unwrap_err();
        let QueryError::Unknown { parameter, message } = err else {
            panic!("{err:?}")
        };
        assert_eq!(parameter, "contry");
        assert!(
            message.contains("country") && message.contains("max_price"),
            "{message}"
        );
    }

    #[test]
    fn equal_queries_share_a_canonical_form() {
        let a = parse("country=fr,de&min_gb=5.0").unwrap();
        let b = parse("min_gb=5&country=DE,FR,de").unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(a.canonical(), parse("country=DE").unwrap().canonical());
    }
}
