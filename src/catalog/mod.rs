//! The catalog: validated plans plus everything a request needs prepared in
//! advance (indexes, sort orders, pre-rendered JSON), built once per sync and
//! never mutated. [`CatalogStore`] holds the current one behind an atomic pointer,
//! so readers never wait on a sync.

mod plan;
mod render;
pub mod snapshot;
pub mod store;
pub mod sync;
pub mod synthetic;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::SystemTime;

pub use plan::{CountryCode, DropCounts, DropReason, Plan};
pub use store::{CatalogStore, RefreshRecord, SyncStatus};

use crate::upstream::wire::WireFeed;

/// Why a feed body could not become a catalog at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("feed is not valid JSON: {0}")]
    Malformed(String),
    #[error("feed says success: false")]
    NotSuccessful,
    #[error("feed has no plans array")]
    NoPlans,
}

/// Sort orders of `/plans`; each has a precomputed permutation in the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SortKey {
    #[default]
    Price,
    PriceDesc,
    PricePerGb,
    Data,
    DataDesc,
    Duration,
    DurationDesc,
    Name,
}

impl SortKey {
    pub const ALL: [SortKey; 8] = [
        Self::Price,
        Self::PriceDesc,
        Self::PricePerGb,
        Self::Data,
        Self::DataDesc,
        Self::Duration,
        Self::DurationDesc,
        Self::Name,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Price => "price",
            Self::PriceDesc => "-price",
            Self::PricePerGb => "price_per_gb",
            Self::Data => "data",
            Self::DataDesc => "-data",
            Self::Duration => "duration",
            Self::DurationDesc => "-duration",
            Self::Name => "name",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Lower-cased text prepared for the `operator`, `speed` and `q` filters.
#[derive(Debug)]
pub struct SearchText {
    pub operator: String,
    /// `name`, `operator` and location names, lower-cased, separated by `\n`.
    pub text: String,
    /// Upper-cased generation tokens of `speed` (`"4G/5G"` -> `["4G", "5G"]`).
    pub speeds: Vec<String>,
    /// The plan's valid country codes, deduplicated.
    pub countries: Vec<CountryCode>,
}

/// One row of `/countries`.
#[derive(Clone, Debug, PartialEq)]
pub struct CountrySummary {
    pub code: CountryCode,
    pub name: String,
    pub plan_count: usize,
    pub min_price: f64,
}

/// An immutable, indexed catalog.
#[derive(Debug)]
pub struct Catalog {
    /// Content hash: equal feeds give equal versions (also across replicas), so
    /// ETags survive restarts and load balancing.
    version: u64,
    aggregator: String,
    updated_at: SystemTime,
    /// `updated_at` formatted once, for every response's catalog block.
    updated_at_rfc3339: String,
    plans: Vec<Plan>,
    search: Vec<SearchText>,
    rendered: render::Rendered,
    by_code: HashMap<String, u32>,
    by_country: HashMap<CountryCode, Vec<u32>>,
    countries: Vec<CountrySummary>,
    /// `orders[k]` lists plan indexes in sort order `k`.
    orders: Vec<Vec<u32>>,
    /// `ranks[k][i]` is plan `i`'s position in `orders[k]`.
    ranks: Vec<Vec<u32>>,
    dropped: DropCounts,
}

impl Catalog {
    /// Parses and validates a feed body. Bad plans are dropped and counted;
    /// only a broken envelope fails the whole feed.
    pub fn from_feed(body: &[u8], updated_at: SystemTime) -> Result<Self, FeedError> {
        let feed = WireFeed::parse(body).map_err(|e| FeedError::Malformed(e.to_string()))?;
        if feed.success != Some(true) {
            return Err(FeedError::NotSuccessful);
        }
        let raw_plans = feed.plans.ok_or(FeedError::NoPlans)?;
        let mut dropped = DropCounts::default();
        let mut plans = Vec::with_capacity(raw_plans.len());
        let mut seen = HashMap::with_capacity(raw_plans.len());
        for raw in raw_plans {
            match plan::validate(raw) {
                Ok(plan) => {
                    if seen.contains_key(&plan.package_code) {
                        dropped.add(DropReason::DuplicatePackageCode);
                    } else {
                        seen.insert(plan.package_code.clone(), plans.len() as u32);
                        plans.push(plan);
                    }
                }
                Err(reason) => dropped.add(reason),
            }
        }
        let aggregator = feed
            .aggregator
            .unwrap_or_else(|| "ConnectMeGuru".to_owned());
        Ok(Self::build(aggregator, plans, seen, dropped, updated_at))
    }

    /// Builds a catalog from plans that are already valid (demo data, benches).
    pub fn from_plans(aggregator: &str, plans: Vec<Plan>, updated_at: SystemTime) -> Self {
        let mut dropped = DropCounts::default();
        let mut kept = Vec::with_capacity(plans.len());
        let mut seen = HashMap::with_capacity(plans.len());
        for plan in plans {
            if seen.contains_key(&plan.package_code) {
                dropped.add(DropReason::DuplicatePackageCode);
            } else {
                seen.insert(plan.package_code.clone(), kept.len() as u32);
                kept.push(plan);
            }
        }
        Self::build(aggregator.to_owned(), kept, seen, dropped, updated_at)
    }

    fn build(
        aggregator: String,
        plans: Vec<Plan>,
        by_code: HashMap<String, u32>,
        dropped: DropCounts,
        updated_at: SystemTime,
    ) -> Self {
        let search: Vec<SearchText> = plans.iter().map(search_text).collect();

        let mut by_country: HashMap<CountryCode, Vec<u32>> = HashMap::new();
        for (i, s) in search.iter().enumerate() {
            for &c in &s.countries {
                by_country.entry(c).or_default().push(i as u32);
            }
        }
        let countries = country_summaries(&plans, &by_country);

        let name_keys: Vec<String> = plans.iter().map(|p| p.name.to_lowercase()).collect();
        let mut orders = Vec::with_capacity(SortKey::ALL.len());
        let mut ranks = Vec::with_capacity(SortKey::ALL.len());
        for key in SortKey::ALL {
            let mut order: Vec<u32> = (0..plans.len() as u32).collect();
            order.sort_by(|&a, &b| compare(key, &plans, &name_keys, a as usize, b as usize));
            let mut rank = vec![0u32; plans.len()];
            for (pos, &i) in order.iter().enumerate() {
                rank[i as usize] = pos as u32;
            }
            orders.push(order);
            ranks.push(rank);
        }

        let rendered = render::Rendered::new(&plans);
        let mut hasher = std::hash::DefaultHasher::new();
        aggregator.hash(&mut hasher);
        rendered.hash(&mut hasher);
        Self {
            version: hasher.finish(),
            aggregator,
            updated_at,
            updated_at_rfc3339: humantime::format_rfc3339_seconds(updated_at).to_string(),
            plans,
            search,
            rendered,
            by_code,
            by_country,
            countries,
            orders,
            ranks,
            dropped,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn aggregator(&self) -> &str {
        &self.aggregator
    }

    pub fn updated_at(&self) -> SystemTime {
        self.updated_at
    }

    pub fn updated_at_rfc3339(&self) -> &str {
        &self.updated_at_rfc3339
    }

    pub fn len(&self) -> usize {
        self.plans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub fn plan(&self, index: u32) -> &Plan {
        &self.plans[index as usize]
    }

    pub fn search_text(&self, index: u32) -> &SearchText {
        &self.search[index as usize]
    }

    pub fn index_of(&self, package_code: &str) -> Option<u32> {
        self.by_code.get(package_code).copied()
    }

    /// Plans covering `country`, in catalog order.
    pub fn plans_in(&self, country: CountryCode) -> &[u32] {
        self.by_country.get(&country).map_or(&[], Vec::as_slice)
    }

    pub fn countries(&self) -> &[CountrySummary] {
        &self.countries
    }

    pub fn order(&self, key: SortKey) -> &[u32] {
        &self.orders[key as usize]
    }

    pub fn rank(&self, key: SortKey, index: u32) -> u32 {
        self.ranks[key as usize][index as usize]
    }

    pub fn dropped(&self) -> &DropCounts {
        &self.dropped
    }

    /// Appends plan `index` as JSON (with `pricePerGb`, or upstream fields only
    /// when `mirror`), with `ref_code` spliced into `productUrl`.
    pub fn write_plan(
        &self,
        out: &mut Vec<u8>,
        index: u32,
        ref_code: Option<&crate::referral::RefCode>,
        mirror: bool,
    ) {
        self.rendered.write(out, index as usize, ref_code, mirror);
    }

    /// The upstream-shaped document (`{"success":true,"aggregator","plans"}`),
    /// optionally with extra top-level fields rendered before `plans`.
    pub fn write_feed(
        &self,
        out: &mut Vec<u8>,
        ref_code: Option<&crate::referral::RefCode>,
        extra: &[(&str, &str)],
    ) {
        out.extend_from_slice(b"{\"success\":true,\"aggregator\":");
        serde_json::to_writer(&mut *out, &self.aggregator).expect("writing to a Vec");
        for (key, value) in extra {
            out.push(b',');
            serde_json::to_writer(&mut *out, key).expect("writing to a Vec");
            out.push(b':');
            serde_json::to_writer(&mut *out, value).expect("writing to a Vec");
        }
        out.extend_from_slice(b",\"plans\":[");
        for i in 0..self.plans.len() as u32 {
            if i > 0 {
                out.push(b',');
            }
            self.write_plan(out, i, ref_code, true);
        }
        out.extend_from_slice(b"]}");
    }
}

fn search_text(plan: &Plan) -> SearchText {
    let mut countries: Vec<CountryCode> = plan
        .location_codes
        .iter()
        .filter_map(|c| CountryCode::parse(c))
        .collect();
    countries.sort_unstable();
    countries.dedup();
    let mut text = plan.name.to_lowercase();
    let operator = plan.operator.to_lowercase();
    text.push('\n');
    text.push_str(&operator);
    for name in &plan.location_names {
        text.push('\n');
        text.push_str(&name.to_lowercase());
    }
    SearchText {
        operator,
        text,
        speeds: speed_tokens(&plan.speed),
        countries,
    }
}

/// Splits a speed list such as `"4G/5G"`, `"LTE, 5G"` into upper-cased tokens.
pub fn speed_tokens(speed: &str) -> Vec<String> {
    speed
        .split(|c: char| c == '/' || c == ',' || c == '|' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}

fn compare(
    key: SortKey,
    plans: &[Plan],
    names: &[String],
    a: usize,
    b: usize,
) -> std::cmp::Ordering {
    let (pa, pb) = (&plans[a], &plans[b]);
    let primary = match key {
        SortKey::Price => pa.retail_price.total_cmp(&pb.retail_price),
        SortKey::PriceDesc => pb.retail_price.total_cmp(&pa.retail_price),
        // Unlimited plans (no price per GB) go last.
        SortKey::PricePerGb => match (pa.price_per_gb(), pb.price_per_gb()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        },
        SortKey::Data => pa.data_amount.total_cmp(&pb.data_amount),
        SortKey::DataDesc => pb.data_amount.total_cmp(&pa.data_amount),
        SortKey::Duration => pa.duration.cmp(&pb.duration),
        SortKey::DurationDesc => pb.duration.cmp(&pa.duration),
        SortKey::Name => names[a].cmp(&names[b]).then_with(|| pa.name.cmp(&pb.name)),
    };
    primary.then_with(|| pa.package_code.cmp(&pb.package_code))
}

fn country_summaries(
    plans: &[Plan],
    by_country: &HashMap<CountryCode, Vec<u32>>,
) -> Vec<CountrySummary> {
    // A country's name comes from a single-country plan if there is one, else
    // from any plan whose codes and names line up one to one.
    let mut names: HashMap<CountryCode, (bool, &str)> = HashMap::new();
    for plan in plans {
        if plan.location_codes.len() != plan.location_names.len() {
            continue;
        }
        let single = plan.location_codes.len() == 1;
        for (code, name) in plan.location_codes.iter().zip(&plan.location_names) {
            let (Some(code), false) = (CountryCode::parse(code), name.trim().is_empty()) else {
                continue;
            };
            let slot = names.entry(code).or_insert((single, name.trim()));
            if single && !slot.0 {
                *slot = (true, name.trim());
            }
        }
    }
    let mut out: Vec<CountrySummary> = by_country
        .iter()
        .map(|(&code, members)| CountrySummary {
            code,
            name: names
                .get(&code)
                .map_or_else(|| code.to_string(), |(_, n)| (*n).to_owned()),
            plan_count: members.len(),
            min_price: members
                .iter()
                .map(|&i| plans[i as usize].retail_price)
                .fold(f64::INFINITY, f64::min),
        })
        .collect();
    out.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then_with(|| a.code.cmp(&b.code))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn feed(plans: &str) -> Vec<u8> {
        format!(r#"{{"success":true,"aggregator":"test","plans":[{plans}]}}"#).into_bytes()
    }

    fn plan(code: &str, countries: &str, gb: f64, price: f64) -> String {
        format!(
            r#"{{"name":"{code}","packageCode":"{code}","productUrl":"https://x.example/{code}","dataAmount":{gb},"duration":30,"locationCodes":[{countries}],"locationNames":[],"operator":"Op","speed":"4G","retailPrice":{price}}}"#
        )
    }

    #[test]
    fn bad_plans_are_dropped_and_duplicates_keep_the_first() {
        let body = feed(
            &[
                plan("A", r#""de""#, 1.0, 5.0),
                plan("A", r#""fr""#, 1.0, 6.0),
                r#"{"packageCode":"B"}"#.to_owned(),
                "42".to_owned(),
                plan("C", r#""fr","DE""#, 2.0, 3.0),
            ]
            .join(","),
        );
        let catalog = Catalog::from_feed(&body, SystemTime::now()).unwrap();
        assert_eq!(catalog.len(), 2);
        assert_eq!(
            catalog.plan(catalog.index_of("A").unwrap()).location_codes,
            ["DE"]
        );
        assert_eq!(catalog.dropped().get(DropReason::DuplicatePackageCode), 1);
        assert_eq!(catalog.dropped().get(DropReason::InvalidNumber), 1);
        assert_eq!(catalog.dropped().get(DropReason::Malformed), 1);
        let de = CountryCode::parse("de").unwrap();
        assert_eq!(catalog.plans_in(de).len(), 2);
    }

    #[test]
    fn broken_envelopes_fail_the_feed() {
        let now = SystemTime::now();
        assert!(matches!(
            Catalog::from_feed(br#"{"success":false,"plans":[]}"#, now),
            Err(FeedError::NotSuccessful)
        ));
        assert!(matches!(
            Catalog::from_feed(br#"{"success":true,"plans":[{"a":1}"#, now),
            Err(FeedError::Malformed(_))
        ));
        assert!(matches!(
            Catalog::from_feed(br#"{"success":true}"#, now),
            Err(FeedError::NoPlans)
        ));
        assert!(matches!(
            Catalog::from_feed(b"<html>", now),
            Err(FeedError::Malformed(_))
        ));
    }

    #[test]
    fn sort_orders_break_ties_by_package_code_in_both_directions() {
        let body = feed(
            &[
                plan("b", r#""DE""#, 1.0, 5.0),
                plan("a", r#""DE""#, 2.0, 5.0),
                plan("c", r#""DE""#, 0.0, 1.0),
            ]
            .join(","),
        );
        let catalog = Catalog::from_feed(&body, SystemTime::now()).unwrap();
        let codes = |key| -> Vec<&str> {
            catalog
                .order(key)
                .iter()
                .map(|&i| catalog.plan(i).package_code.as_str())
                .collect()
        };
        assert_eq!(codes(SortKey::Price), ["c", "a", "b"]);
        assert_eq!(codes(SortKey::PriceDesc), ["a", "b", "c"]);
        assert_eq!(codes(SortKey::PricePerGb), ["a", "b", "c"]);
        assert_eq!(codes(SortKey::DataDesc), ["a", "b", "c"]);
        assert_eq!(codes(SortKey::Duration), ["a", "b", "c"]);
    }

    #[test]
    fn equal_feeds_have_equal_versions() {
        let body = feed(&plan("a", r#""DE""#, 1.0, 5.0));
        let one = Catalog::from_feed(&body, SystemTime::UNIX_EPOCH).unwrap();
        let two = Catalog::from_feed(&body, SystemTime::now()).unwrap();
        assert_eq!(one.version(), two.version());
        let other = Catalog::from_feed(&feed(&plan("a", r#""DE""#, 1.0, 6.0)), SystemTime::now());
        assert_ne!(one.version(), other.unwrap().version());
    }

    #[test]
    fn countries_are_summarised_by_name() {
        let mut de = plan("x", r#""DE""#, 1.0, 4.0);
        de = de.replace(r#""locationNames":[]"#, r#""locationNames":["Germany"]"#);
        let mut eu = plan("y", r#""DE","AT""#, 1.0, 2.0);
        eu = eu.replace(
            r#""locationNames":[]"#,
            r#""locationNames":["Deutschland","Austria"]"#,
        );
        let catalog = Catalog::from_feed(&feed(&[de, eu].join(",")), SystemTime::now()).unwrap();
        let rows: Vec<(&str, &str, usize, f64)> = catalog
            .countries()
            .iter()
            .map(|c| (c.code.as_str(), c.name.as_str(), c.plan_count, c.min_price))
            .collect();
        assert_eq!(rows, [("AT", "Austria", 1, 2.0), ("DE", "Germany", 2, 2.0)]);
    }
}
