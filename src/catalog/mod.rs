//! The catalog: validated plans plus everything a request needs prepared in
//! advance (indexes, sort orders, pre-rendered JSON), built once per sync and
//! never mutated. [`CatalogStore`] holds the current one behind an atomic pointer,
//! so readers never wait on a sync.
//!
//! Memory is kept close to the feed's own size: each plan lives once, as its
//! pre-rendered JSON, plus a small fixed-size `Row` of the numbers and ranges
//! the filters need. Strings that repeat across plans (operators, speeds,
//! location names) are interned; no per-plan `String`s survive the build.

mod build;
mod filter;
mod plan;
mod render;
pub mod snapshot;
pub mod store;
pub mod synthetic;

use std::collections::HashMap;
use std::time::SystemTime;

pub use filter::{TextFilters, speed_tokens};
pub use plan::{CountryCode, DropCounts, DropReason, Plan, price_per_gb};
pub use render::{Links, PlanForm};

use build::Builder;
use filter::TextHits;
pub use store::{CatalogStore, Outcome, Published, RefreshRecord, SyncStatus};

use crate::markets::{Continent, Scope, regions::Reach};
use crate::upstream::wire::WireFeed;

/// The mirror's `aggregator` when the feed gives none (or one that cannot be served).
const DEFAULT_AGGREGATOR: &str = "ConnectMeGuru";

/// Why a feed body could not become a catalog at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("feed is {0}")]
    Malformed(String),
    #[error("feed says success: false")]
    NotSuccessful,
    #[error("feed has no plans array")]
    NoPlans,
}

/// A JSON error as the kind of problem and where, without the text serde
/// quotes (which is upstream content and may echo anything, the key included).
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let kind = match error.classify() {
        Category::Io => "unreadable",
        Category::Syntax => "not valid JSON",
        Category::Data => "not the expected shape",
        Category::Eof => "truncated",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
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

/// One row of `/countries`.
#[derive(Clone, Debug, PartialEq)]
pub struct CountrySummary {
    pub code: CountryCode,
    pub name: String,
    pub plan_count: usize,
    pub min_price: f64,
}

/// The fixed-size part of a plan that filters and sorts read.
#[derive(Clone, Copy, Debug)]
struct Row {
    retail_price: f64,
    data_amount: f64,
    duration: u32,
    /// Range in `Catalog::codes`.
    code: (u32, u32),
    /// Range in `Catalog::names_lc` (the lower-cased plan name).
    name: (u32, u32),
    /// Range in `Catalog::countries`.
    countries: (u32, u32),
    /// Range in `Catalog::plan_places`.
    places: (u32, u32),
    /// Index in `Catalog::operators`.
    operator: u32,
    /// Index in `Catalog::speeds`.
    speed: u32,
    /// Scope, and the continent all its countries lie in.
    reach: Reach,
}

/// One row of `/regions`: a continent and the plans all of whose countries
/// lie in it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSummary {
    pub continent: Continent,
    /// Distinct countries those plans cover.
    pub countries: usize,
    pub plan_count: usize,
    pub min_price: f64,
}

/// An immutable, indexed catalog.
#[derive(Debug)]
pub struct Catalog {
    /// Content hash (xxh3 of the rendered plans, stable across releases and
    /// machines): equal feeds give equal hashes, also across replicas, so
    /// ETags survive restarts and load balancing.
    content_hash: u64,
    /// The catalog version number (SPEC section 8): assigned by the history
    /// store after the catalog is built, possibly after it is already served
    /// (a request never waits on the database); 0 until known.
    number: std::sync::atomic::AtomicU64,
    /// Whether `number` was recorded for this catalog (else provisional).
    recorded: std::sync::atomic::AtomicBool,
    aggregator: String,
    updated_at: SystemTime,
    /// `updated_at` formatted once, for every response's catalog block.
    updated_at_rfc3339: String,
    rows: Vec<Row>,
    /// Every packageCode, back to back.
    codes: String,
    /// Plan indexes sorted by packageCode, for `/plans/{packageCode}`.
    by_code: Vec<u32>,
    /// Every plan's valid country codes (sorted, deduplicated), back to back.
    countries: Vec<CountryCode>,
    /// Every plan's lower-cased name, back to back.
    names_lc: String,
    /// Interned lower-cased location names, and each plan's list of them.
    places: Vec<Box<str>>,
    plan_places: Vec<u32>,
    /// Interned lower-cased operators.
    operators: Vec<Box<str>>,
    /// Interned speed strings as upper-cased generation tokens.
    speeds: Vec<Box<[Box<str>]>>,
    rendered: render::Rendered,
    by_country: HashMap<CountryCode, Vec<u32>>,
    country_summaries: Vec<CountrySummary>,
    /// Each covered country's folded names in every served language (CLDR),
    /// which `q` also matches.
    country_text: Vec<(CountryCode, &'static str)>,
    region_summaries: Vec<RegionSummary>,
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
        Self::from_feed_guarded(body, updated_at, None)
    }

    /// As [`from_feed`](Self::from_feed), dropping plans that carry `secret`
    /// (the upstream key). Parse errors name the position and the kind of
    /// problem only, never the upstream text.
    pub fn from_feed_guarded(
        body: &[u8],
        updated_at: SystemTime,
        secret: Option<&str>,
    ) -> Result<Self, FeedError> {
        let feed =
            WireFeed::parse(body).map_err(|e| FeedError::Malformed(describe_json_error(&e)))?;
        Self::build(feed, body.len(), updated_at, secret)
    }

    /// Builds from an already parsed envelope (`json_bytes` sizes the arena).
    pub fn from_wire(
        feed: WireFeed<'_>,
        json_bytes: usize,
        updated_at: SystemTime,
    ) -> Result<Self, FeedError> {
        Self::build(feed, json_bytes, updated_at, None)
    }

    fn build(
        feed: WireFeed<'_>,
        json_bytes: usize,
        updated_at: SystemTime,
        secret: Option<&str>,
    ) -> Result<Self, FeedError> {
        if feed.success != Some(true) {
            return Err(FeedError::NotSuccessful);
        }
        let raw_plans = feed.plans.ok_or(FeedError::NoPlans)?;
        let mut builder = Builder::with_capacity(raw_plans.len(), json_bytes);
        for raw in raw_plans {
            match plan::validate(raw, secret) {
                Ok(plan) => builder.push(plan),
                Err(reason) => builder.dropped.add(reason),
            }
        }
        let aggregator = match feed.aggregator {
            // The envelope is upstream text like any plan field: one carrying
            // the key is never served (the mirror) or stored (the snapshot).
            Some(name) if secret.is_some_and(|s| plan::carries_secret(&name, s)) => {
                tracing::warn!("the feed's aggregator name carries the key; replaced");
                DEFAULT_AGGREGATOR.to_owned()
            }
            Some(name) => name,
            None => DEFAULT_AGGREGATOR.to_owned(),
        };
        Ok(builder.finish(aggregator, updated_at))
    }

    /// Builds a catalog from plans that are already valid (demo data, benches).
    pub fn from_plans(aggregator: &str, plans: Vec<Plan>, updated_at: SystemTime) -> Self {
        let mut builder = Builder::with_capacity(plans.len(), plans.len() * 400);
        for plan in plans {
            builder.push(plan);
        }
        builder.finish(aggregator.to_owned(), updated_at)
    }

    pub fn content_hash(&self) -> u64 {
        self.content_hash
    }

    /// The catalog version number shown as `version` (0 until assigned).
    pub fn version(&self) -> u64 {
        self.number.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The version as recorded in the history database.
    pub fn set_version(&self, number: u64) {
        self.number
            .store(number, std::sync::atomic::Ordering::Relaxed);
        self.recorded
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A number to show until this catalog's own version is recorded: the
    /// last recorded one, never a guess above it (a number that is shown
    /// must not go backwards when the guess is lost in a restart).
    pub fn set_provisional(&self, number: u64) {
        self.number
            .store(number, std::sync::atomic::Ordering::Relaxed);
        self.recorded
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`version`](Self::version) is this catalog's own, recorded
    /// with its changes (`/changes` and price history answer only then).
    pub fn is_recorded(&self) -> bool {
        self.recorded.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn updated_at(&self) -> SystemTime {
        self.updated_at
    }

    pub fn updated_at_rfc3339(&self) -> &str {
        &self.updated_at_rfc3339
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn row(&self, index: u32) -> &Row {
        &self.rows[index as usize]
    }

    pub fn package_code(&self, index: u32) -> &str {
        let (start, end) = self.row(index).code;
        &self.codes[start as usize..end as usize]
    }

    pub fn retail_price(&self, index: u32) -> f64 {
        self.row(index).retail_price
    }

    pub fn data_amount(&self, index: u32) -> f64 {
        self.row(index).data_amount
    }

    pub fn duration(&self, index: u32) -> u32 {
        self.row(index).duration
    }

    pub fn scope(&self, index: u32) -> Scope {
        self.row(index).reach.scope
    }

    /// The continent all of the plan's countries lie in, if one.
    pub fn region(&self, index: u32) -> Option<Continent> {
        self.row(index).reach.region
    }

    /// The plan's valid country codes, sorted.
    pub fn countries_of(&self, index: u32) -> &[CountryCode] {
        let (start, end) = self.row(index).countries;
        &self.countries[start as usize..end as usize]
    }

    /// Prepares the text filters of one query: each is evaluated once per
    /// distinct interned operator, speed or location name, so checking a plan
    /// is a few array lookups plus one substring search in its name.
    pub fn prepare_filters(
        &self,
        operator: Option<&str>,
        speed: &[String],
        phrase: Option<&str>,
    ) -> TextFilters<'_> {
        let operator =
            operator.map(|needle| self.operators.iter().map(|o| o.contains(needle)).collect());
        let speed = (!speed.is_empty()).then(|| {
            self.speeds
                .iter()
                .map(|listed| speed.iter().all(|t| listed.iter().any(|l| **l == **t)))
                .collect()
        });
        let text = phrase.map(|phrase| {
            let mut countries: Vec<CountryCode> = self
                .country_text
                .iter()
                // A phrase holding the separator would match across two
                // names of one country: it names none.
                .filter(|(_, names)| {
                    !phrase.contains(crate::markets::cldr::SEPARATOR) && names.contains(phrase)
                })
                .map(|(code, _)| *code)
                .collect();
            countries.sort_unstable();
            TextHits {
                phrase: phrase.to_owned(),
                operators: self.operators.iter().map(|o| o.contains(phrase)).collect(),
                places: self.places.iter().map(|p| p.contains(phrase)).collect(),
                countries,
            }
        });
        TextFilters {
            catalog: self,
            operator,
            speed,
            text,
        }
    }

    pub fn index_of(&self, package_code: &str) -> Option<u32> {
        self.by_code
            .binary_search_by(|&i| self.package_code(i).cmp(package_code))
            .ok()
            .map(|pos| self.by_code[pos])
    }

    /// Plans covering `country`, cheapest first (ties by packageCode).
    pub fn plans_in(&self, country: CountryCode) -> &[u32] {
        self.by_country.get(&country).map_or(&[], Vec::as_slice)
    }

    pub fn countries(&self) -> &[CountrySummary] {
        &self.country_summaries
    }

    /// Continents with at least one plan wholly inside, in `Continent` order.
    pub fn regions(&self) -> &[RegionSummary] {
        &self.region_summaries
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
    /// in the upstream `form`), with `ref_code` spliced into `productUrl`.
    pub fn write_plan(&self, out: &mut Vec<u8>, index: u32, links: Links<'_>, form: PlanForm) {
        let code = self.package_code(index);
        let row = self.row(index);
        let money = (row.retail_price, row.data_amount);
        self.rendered
            .write(out, index as usize, code, money, links, form);
    }

    /// Plan `index`'s `productUrl` carrying `ref_code` (what `/go` redirects to).
    pub fn product_url(&self, index: u32, ref_code: Option<&crate::referral::RefCode>) -> String {
        #[derive(serde::Deserialize)]
        struct Url {
            #[serde(rename = "productUrl")]
            product_url: String,
        }
        let mut json = Vec::with_capacity(512);
        self.write_plan(
            &mut json,
            index,
            Links::new(ref_code, None),
            PlanForm::Upstream,
        );
        serde_json::from_slice::<Url>(&json)
            .map(|u| u.product_url)
            .expect("a rendered plan has a productUrl")
    }

    /// `{"success":true,"aggregator":..,"plans":[`: the mirror up to its
    /// first plan.
    pub fn write_feed_head(&self, out: &mut Vec<u8>) {
        self.write_feed_envelope(out, &[]);
    }

    /// The envelope and `extra` top-level fields (values already JSON), up
    /// to the opening of `plans`.
    fn write_feed_envelope(&self, out: &mut Vec<u8>, extra: &[(&str, &str)]) {
        out.extend_from_slice(b"{\"success\":true,\"aggregator\":");
        serde_json::to_writer(&mut *out, &self.aggregator).expect("writing to a Vec");
        for (key, value) in extra {
            out.push(b',');
            serde_json::to_writer(&mut *out, key).expect("writing to a Vec");
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(b",\"plans\":[");
    }

    /// The upstream-shaped document (`{"success":true,"aggregator","plans"}`),
    /// optionally with extra top-level fields (values already JSON) rendered
    /// before `plans`.
    pub fn write_feed(
        &self,
        out: &mut Vec<u8>,
        ref_code: Option<&crate::referral::RefCode>,
        extra: &[(&str, &str)],
    ) {
        self.write_feed_envelope(out, extra);
        for i in 0..self.len() as u32 {
            if i > 0 {
                out.push(b',');
            }
            self.write_plan(out, i, Links::new(ref_code, None), PlanForm::Upstream);
        }
        out.extend_from_slice(b"]}");
    }
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
    fn a_phrase_never_spans_two_names_of_a_country() {
        let body = feed(&plan("A", r#""DE""#, 1.0, 5.0));
        let catalog = Catalog::from_feed(&body, SystemTime::now()).unwrap();
        let hits = |phrase: &str| {
            let filters = catalog.prepare_filters(None, &[], Some(phrase));
            filters.text.map(|t| t.countries).unwrap_or_default()
        };
        assert_eq!(hits("deutschland").len(), 1);
        let text = crate::markets::cldr::data().search_text("DE");
        let across = text
            .split(crate::markets::cldr::SEPARATOR)
            .take(2)
            .collect::<Vec<_>>()
            .join(&crate::markets::cldr::SEPARATOR.to_string());
        assert!(text.contains(&across), "two adjacent names: {across:?}");
        assert!(hits(&across).is_empty());
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
        let a = catalog.index_of("A").unwrap();
        assert_eq!(catalog.countries_of(a), [CountryCode::parse("DE").unwrap()]);
        assert_eq!(catalog.package_code(a), "A");
        assert!(catalog.index_of("B").is_none());
        assert_eq!(catalog.dropped().get(DropReason::DuplicatePackageCode), 1);
        assert_eq!(catalog.dropped().get(DropReason::InvalidNumber), 1);
        assert_eq!(catalog.dropped().get(DropReason::Malformed), 1);
        let de = CountryCode::parse("de").unwrap();
        assert_eq!(catalog.plans_in(de).len(), 2);
    }

    #[test]
    fn out_of_range_numbers_drop_only_their_plan() {
        let huge =
            plan("H", r#""DE""#, 1.0, 5.0).replace(r#""retailPrice":5"#, r#""retailPrice":1e999"#);
        let body = feed(&[huge, plan("OK", r#""DE""#, 1.0, 5.0)].join(","));
        let catalog = Catalog::from_feed(&body, SystemTime::now()).unwrap();
        assert_eq!(catalog.len(), 1);
        assert_eq!(catalog.package_code(0), "OK");
        assert_eq!(catalog.dropped().total(), 1);
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
                .map(|&i| catalog.package_code(i))
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
        assert_eq!(one.content_hash(), two.content_hash());
        let other = Catalog::from_feed(&feed(&plan("a", r#""DE""#, 1.0, 6.0)), SystemTime::now());
        assert_ne!(one.content_hash(), other.unwrap().content_hash());
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
