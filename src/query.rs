//! `/plans` query parameters parsed into a typed, validated [`PlanQuery`], and its
//! evaluation against a [`Catalog`]. Pure: no HTTP here, only the names of the
//! parameters at fault.
//!
//! Evaluation never scans the whole catalog for a country query: it starts from
//! the shortest per-country posting list, filters it, and orders the hits by
//! their precomputed rank in the requested sort.

use std::fmt::Write as _;

use crate::catalog::{Catalog, CountryCode, SortKey, speed_tokens};
use crate::referral::RefCode;

/// Every parameter `/plans` accepts (`key` is accepted and ignored everywhere).
pub const PLAN_PARAMETERS: &[&str] = &[
    "country",
    "min_gb",
    "max_gb",
    "min_days",
    "max_days",
    "min_price",
    "max_price",
    "speed",
    "operator",
    "q",
    "sort",
    "limit",
    "offset",
    "ref",
];

/// A client sends its own `key` now and then (copying the upstream URL): it is
/// ignored, never forwarded and never an error.
const IGNORED: &str = "key";

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

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
pub fn parse_ref(value: &str) -> Result<RefCode, QueryError> {
    RefCode::parse(value).map_err(|e| QueryError::invalid("ref", format!("ref {e}")))
}

/// Inclusive bounds on a number.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bounds {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Bounds {
    fn contains(&self, value: f64) -> bool {
        self.min.is_none_or(|m| value >= m) && self.max.is_none_or(|m| value <= m)
    }

    fn is_open(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }
}

/// A validated `/plans` query.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanQuery {
    /// Plans must cover all of these.
    pub countries: Vec<CountryCode>,
    pub gb: Bounds,
    pub days: Bounds,
    pub price: Bounds,
    /// Upper-cased generation tokens that must all be listed in `speed`.
    pub speed: Vec<String>,
    /// Lower-cased substring of `operator`.
    pub operator: Option<String>,
    /// A lower-cased phrase (white space collapsed) that must occur in the
    /// name, the operator or one of the location names.
    pub text: Option<String>,
    pub sort: SortKey,
    pub limit: usize,
    pub offset: usize,
    pub ref_code: Option<RefCode>,
}

impl Default for PlanQuery {
    fn default() -> Self {
        Self {
            countries: Vec::new(),
            gb: Bounds::default(),
            days: Bounds::default(),
            price: Bounds::default(),
            speed: Vec::new(),
            operator: None,
            text: None,
            sort: SortKey::default(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            ref_code: None,
        }
    }
}

/// The result of a query: the true total and one page of plan indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub total: usize,
    pub page: Vec<u32>,
}

impl PlanQuery {
    /// Parses the raw query string of `/plans`.
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        let mut query = Self::default();
        for (name, value) in parse_pairs(raw, PLAN_PARAMETERS)? {
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
                "limit" => {
                    query.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|l| (1..=MAX_LIMIT).contains(l))
                        .ok_or_else(|| {
                            QueryError::invalid(
                                "limit",
                                format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                            )
                        })?;
                }
                "offset" => {
                    query.offset = v
                        .parse::<usize>()
                        .ok()
                        .filter(|o| *o <= u32::MAX as usize)
                        .ok_or_else(|| {
                            QueryError::invalid("offset", "offset must be a non-negative integer")
                        })?;
                }
                "ref" => query.ref_code = Some(parse_ref(v)?),
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
            "|{}-{}|{}-{}|{}-{}|{}|{}|{}|{}|{}|{}",
            num(self.gb.min),
            num(self.gb.max),
            num(self.days.min),
            num(self.days.max),
            num(self.price.min),
            num(self.price.max),
            self.speed.join("/"),
            self.operator.as_deref().unwrap_or(""),
            self.text.as_deref().unwrap_or(""),
            self.sort.as_str(),
            self.limit,
            self.offset,
        );
        key
    }

    /// Whether plan `index` is within every numeric bound.
    fn in_bounds(&self, catalog: &Catalog, index: u32) -> bool {
        self.gb.contains(catalog.data_amount(index))
            && self.days.contains(f64::from(catalog.duration(index)))
            && self.price.contains(catalog.retail_price(index))
    }

    fn covers_countries(&self, catalog: &Catalog, index: u32) -> bool {
        let have = catalog.countries_of(index);
        self.countries.iter().all(|c| have.binary_search(c).is_ok())
    }

    /// Runs the query: the true total and the requested page.
    ///
    /// The candidates come from the smallest prepared source: the requested
    /// sort order (cut by binary search when the query bounds the sorted
    /// field), a country's posting list, or the range of another bounded
    /// field in its own sorted order. Only the candidates are checked, and
    /// only hits that are not already in order get sorted (by precomputed
    /// rank, and only as far as the page needs).
    pub fn run(&self, catalog: &Catalog) -> Selection {
        let filters =
            catalog.prepare_filters(self.operator.as_deref(), &self.speed, self.text.as_deref());
        let end = self.offset.saturating_add(self.limit);
        let (ordered, narrowed) = self.narrow(catalog, self.sort);

        if self.countries.is_empty() && filters.is_empty() && !self.has_bounds_besides(narrowed) {
            let page = ordered
                .get(self.offset.min(ordered.len())..end.min(ordered.len()))
                .unwrap_or(&[]);
            return Selection {
                total: ordered.len(),
                page: page.to_vec(),
            };
        }

        let mut source: &[u32] = ordered;
        let mut in_order = true;
        let others = self.countries.iter().map(|&c| catalog.plans_in(c)).chain(
            [SortKey::Price, SortKey::Data, SortKey::Duration]
                .into_iter()
                .map(|key| self.narrow(catalog, key))
                .filter(|(_, n)| *n != Narrowed::Nothing)
                .map(|(range, _)| range),
        );
        for candidates in others {
            if candidates.len() < source.len() {
                source = candidates;
                in_order = false;
            }
        }
        let keep = |i: u32| {
            self.in_bounds(catalog, i) && self.covers_countries(catalog, i) && filters.matches(i)
        };

        if in_order {
            let mut total = 0;
            let mut page = Vec::with_capacity(self.limit.min(source.len()));
            for &i in source {
                if keep(i) {
                    if total >= self.offset && total < end {
                        page.push(i);
                    }
                    total += 1;
                }
            }
            return Selection { total, page };
        }

        let mut hits: Vec<u32> = source.iter().copied().filter(|&i| keep(i)).collect();
        let total = hits.len();
        if self.offset >= total {
            return Selection {
                total,
                page: Vec::new(),
            };
        }
        let rank = |i: &u32| catalog.rank(self.sort, *i);
        let end = end.min(total);
        // Only the first `end` hits need ordering.
        if end < total {
            hits.select_nth_unstable_by_key(end - 1, rank);
            hits.truncate(end);
        }
        hits.sort_unstable_by_key(rank);
        Selection {
            total,
            page: hits[self.offset..].to_vec(),
        }
    }

    /// The order of `key`, cut down to the plans within the query's bounds on
    /// that key's field (price, GB or days), and which bound that applied.
    fn narrow<'c>(&self, catalog: &'c Catalog, key: SortKey) -> (&'c [u32], Narrowed) {
        let order = catalog.order(key);
        type Field = fn(&Catalog, u32) -> f64;
        let price: Field = |c, i| c.retail_price(i);
        let gb: Field = |c, i| c.data_amount(i);
        let days: Field = |c, i| f64::from(c.duration(i));
        let (bounds, value, descending, narrowed) = match key {
            SortKey::Price => (self.price, price, false, Narrowed::Price),
            SortKey::PriceDesc => (self.price, price, true, Narrowed::Price),
            SortKey::Data => (self.gb, gb, false, Narrowed::Gb),
            SortKey::DataDesc => (self.gb, gb, true, Narrowed::Gb),
            SortKey::Duration => (self.days, days, false, Narrowed::Days),
            SortKey::DurationDesc => (self.days, days, true, Narrowed::Days),
            SortKey::PricePerGb | SortKey::Name => return (order, Narrowed::Nothing),
        };
        if bounds.is_open() {
            return (order, Narrowed::Nothing);
        }
        let v = |i: &u32| value(catalog, *i);
        let (lo, hi) = (
            bounds.min.unwrap_or(0.0),
            bounds.max.unwrap_or(f64::INFINITY),
        );
        let (start, end) = if descending {
            (
                order.partition_point(|i| v(i) > hi),
                order.partition_point(|i| v(i) >= lo),
            )
        } else {
            (
                order.partition_point(|i| v(i) < lo),
                order.partition_point(|i| v(i) <= hi),
            )
        };
        (&order[start..end.max(start)], narrowed)
    }

    /// Whether a numeric bound other than the one `narrowed` applied is set.
    fn has_bounds_besides(&self, narrowed: Narrowed) -> bool {
        !((self.gb.is_open() || narrowed == Narrowed::Gb)
            && (self.days.is_open() || narrowed == Narrowed::Days)
            && (self.price.is_open() || narrowed == Narrowed::Price))
    }
}

/// Which numeric bounds [`PlanQuery::narrow`] applied by binary search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Narrowed {
    Nothing,
    Price,
    Gb,
    Days,
}

fn parse_countries(value: &str) -> Result<Vec<CountryCode>, QueryError> {
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
fn parse_days(name: &str, value: &str) -> Result<f64, QueryError> {
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

fn parse_text(name: &str, value: &str, max_chars: usize) -> Result<String, QueryError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::synthetic;
    use proptest::prelude::*;
    use std::time::SystemTime;

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
        assert_eq!(q.text.as_deref(), Some("türkiye unlimited"));
        assert_eq!((q.sort, q.limit, q.offset), (SortKey::PriceDesc, 500, 3));
        assert_eq!(q.ref_code.unwrap().as_str(), "acme-1");
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
            ("ref=-bad", "ref"),
            ("ref=", "ref"),
            ("ref=a%26b", "ref"),
            ("speed=", "speed"),
            ("speed=%3Cscript%3E", "speed"),
            ("q=%20", "q"),
            ("operator=", "operator"),
            ("country=DE&country=FR", "country"),
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

    fn catalog() -> Catalog {
        Catalog::from_plans("test", synthetic::plans(2000, 11), SystemTime::now())
    }

    /// The reference implementation: filter everything, then sort by comparator.
    fn brute_force(catalog: &Catalog, q: &PlanQuery) -> Vec<u32> {
        // The source plans of `catalog()` (no duplicates: index = position).
        let plans = synthetic::plans(catalog.len(), 11);
        let mut all: Vec<u32> = (0..catalog.len() as u32)
            .filter(|&i| {
                let p = &plans[i as usize];
                let lower = |s: &str| s.to_lowercase();
                q.covers_countries(catalog, i)
                    && q.in_bounds(catalog, i)
                    && q.operator
                        .as_deref()
                        .is_none_or(|o| lower(&p.operator).contains(o))
                    && q.speed
                        .iter()
                        .all(|t| crate::catalog::speed_tokens(&p.speed).contains(t))
                    && q.text.as_deref().is_none_or(|t| {
                        lower(&p.name).contains(t)
                            || lower(&p.operator).contains(t)
                            || p.location_names.iter().any(|n| lower(n).contains(t))
                    })
            })
            .collect();
        all.sort_by_key(|&i| catalog.rank(q.sort, i));
        all
    }

    #[test]
    fn filters_match_a_brute_force_scan() {
        let catalog = catalog();
        for raw in [
            "country=DE",
            "country=de,fr&min_gb=5",
            "speed=5G&sort=-data",
            "operator=voda&sort=name",
            "q=europe%20%20unlimited",
            "q=T%C3%BCRKIYE",
            "q=vodafone",
            "min_price=5&max_price=10&sort=price_per_gb",
            "min_days=30&max_days=30&sort=-duration",
            "min_price=5&max_price=10",
            "min_price=5&max_price=10&sort=-price&speed=5G",
            "min_gb=5&sort=-data",
            "max_gb=5&sort=data",
            "max_days=15&sort=duration",
            "min_days=15&sort=-duration&operator=o",
        ] {
            let mut q = parse(raw).unwrap();
            q.limit = MAX_LIMIT;
            let expected = brute_force(&catalog, &q);
            let got = q.run(&catalog);
            assert!(got.total > 0, "{raw} matches something");
            assert_eq!(got.total, expected.len(), "{raw}");
            assert_eq!(got.page, expected[..expected.len().min(MAX_LIMIT)], "{raw}");
        }
    }

    #[test]
    fn speed_matches_whole_generations() {
        let catalog = catalog();
        // No duplicates in the generated plans: catalog index = plan index.
        let plans = synthetic::plans(2000, 11);
        let speeds = |raw: &str| -> Vec<&str> {
            parse(raw)
                .unwrap()
                .run(&catalog)
                .page
                .iter()
                .map(|&i| plans[i as usize].speed.as_str())
                .collect()
        };
        let five = speeds("speed=5G&limit=500");
        assert!(
            !five.is_empty() && five.iter().all(|s| s.split('/').any(|t| t == "5G")),
            "{five:?}"
        );
        let four = speeds("speed=4g&limit=500");
        assert!(
            !four.is_empty() && four.iter().all(|s| s.split('/').any(|t| t == "4G")),
            "{four:?}"
        );
        assert!(four.contains(&"3G/4G") && !four.contains(&"5G"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_query_string_parses_or_is_rejected_without_panicking(raw in "[a-z_=&%0-9A-F.,+-]{0,80}") {
            let catalog = catalog_small();
            if let Ok(q) = PlanQuery::parse(Some(&raw)) {
                let selection = q.run(catalog);
                prop_assert!(selection.page.len() <= q.limit);
                prop_assert!(selection.total >= selection.page.len());
            }
        }
    }

    fn catalog_small() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG
            .get_or_init(|| Catalog::from_plans("t", synthetic::plans(300, 5), SystemTime::now()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn any_page_is_the_slice_of_the_full_result(
            country in prop::sample::select(vec!["", "DE", "FR,DE", "US", "JP", "ZZ"]),
            min_gb in prop::option::of(0u32..30),
            max_gb in prop::option::of(0u32..60),
            min_days in prop::option::of(0u32..40),
            min_price in prop::option::of(0u32..20),
            max_price in prop::option::of(1u32..60),
            sort in prop::sample::select(SortKey::ALL.to_vec()),
            speed in prop::sample::select(vec!["", "5G", "4G"]),
            operator in prop::sample::select(vec!["", "voda", "o"]),
            text in prop::sample::select(vec!["", "europe", "germany", "unlimited 7"]),
            limit in 1usize..60,
            offset in 0usize..400,
        ) {
            let catalog = catalog();
            let mut q = PlanQuery { sort, limit, offset, ..PlanQuery::default() };
            if !country.is_empty() {
                q.countries = parse_countries(country).unwrap();
            }
            q.gb.min = min_gb.map(f64::from);
            q.gb.max = max_gb.map(f64::from);
            q.days.min = min_days.map(f64::from);
            q.price.min = min_price.map(|p| f64::from(p) + 0.49);
            q.price.max = max_price.map(f64::from);
            q.speed = speed_tokens(speed);
            q.operator = (!operator.is_empty()).then(|| operator.to_owned());
            q.text = (!text.is_empty()).then(|| text.to_owned());
            let full = brute_force(&catalog, &q);
            let got = q.run(&catalog);
            prop_assert_eq!(got.total, full.len());
            let expected: Vec<u32> = full.iter().skip(offset).take(limit).copied().collect();
            prop_assert_eq!(got.page, expected);
        }
    }
}
