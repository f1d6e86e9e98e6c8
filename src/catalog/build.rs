//! Building a catalog: plans are streamed into the compact form (interned
//! strings, pre-rendered JSON, fixed-size rows), then indexes, sort orders and
//! country summaries are computed once.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use super::{Catalog, CountryCode, CountrySummary, DropCounts, DropReason, Plan, Row, SortKey};
use super::{RegionSummary, plan, render, speed_tokens};
use crate::markets::{Continent, cldr, fold, regions::Reach};

/// Interns strings: equal strings get equal ids.
#[derive(Default)]
struct Interner<T> {
    ids: HashMap<String, u32>,
    values: Vec<T>,
}

impl<T> Interner<T> {
    fn id(&mut self, key: &str, make: impl FnOnce(&str) -> T) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(make(key));
        self.ids.insert(key.to_owned(), id);
        id
    }
}

/// Streams validated plans into the compact catalog form; each [`Plan`] is
/// rendered and dropped as soon as it is pushed.
pub(super) struct Builder {
    rows: Vec<Row>,
    codes: String,
    seen: HashSet<Box<str>>,
    countries: Vec<CountryCode>,
    names_lc: String,
    plan_places: Vec<u32>,
    places: Interner<Box<str>>,
    operators: Interner<Box<str>>,
    speeds: Interner<Box<[Box<str>]>>,
    rendered: render::Rendered,
    /// Best display name per country: (from a single-country plan?, name).
    country_names: HashMap<CountryCode, (bool, String)>,
    pub(super) dropped: DropCounts,
}

impl Builder {
    pub(super) fn with_capacity(plans: usize, json_bytes: usize) -> Self {
        Self {
            rows: Vec::with_capacity(plans),
            codes: String::with_capacity(plans * 16),
            seen: HashSet::with_capacity(plans),
            countries: Vec::with_capacity(plans * 2),
            names_lc: String::with_capacity(plans * 24),
            plan_places: Vec::with_capacity(plans * 2),
            places: Interner::default(),
            operators: Interner::default(),
            speeds: Interner::default(),
            rendered: render::Rendered::with_capacity(plans, json_bytes),
            country_names: HashMap::new(),
            dropped: DropCounts::default(),
        }
    }

    /// Adds a plan, unless its packageCode was seen before (the first wins).
    pub(super) fn push(&mut self, plan: Plan) {
        if !self.seen.insert(plan.package_code.as_str().into()) {
            self.dropped.add(DropReason::DuplicatePackageCode);
            return;
        }
        let span = |start: usize, end: usize| (start as u32, end as u32);

        let start = self.codes.len();
        self.codes.push_str(&plan.package_code);
        let code = span(start, self.codes.len());

        let start = self.names_lc.len();
        self.names_lc.push_str(&fold(&plan.name));
        let name = span(start, self.names_lc.len());

        let start = self.countries.len();
        let mut codes: Vec<CountryCode> = plan
            .location_codes
            .iter()
            .filter_map(|c| CountryCode::parse(c))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        self.countries.extend_from_slice(&codes);
        let countries = span(start, self.countries.len());
        let reach = Reach::of(codes.iter().map(CountryCode::as_str));

        let start = self.plan_places.len();
        for place in &plan.location_names {
            let id = self.places.id(&fold(place), |p| p.into());
            self.plan_places.push(id);
        }
        let places = span(start, self.plan_places.len());
        self.note_country_names(&plan);

        let operator = self.operators.id(&fold(&plan.operator), |o| o.into());
        let speed = self.speeds.id(&plan.speed, |s| {
            speed_tokens(s)
                .into_iter()
                .map(String::into_boxed_str)
                .collect()
        });

        self.rendered.push(&plan, reach.scope);
        self.rows.push(Row {
            retail_price: plan.retail_price,
            data_amount: plan.data_amount,
            duration: plan.duration,
            code,
            name,
            countries,
            places,
            operator,
            speed,
            reach,
        });
    }

    /// A country's name comes from a single-country plan if there is one,
    /// else from any plan whose codes and names line up one to one.
    fn note_country_names(&mut self, plan: &Plan) {
        if plan.location_codes.len() != plan.location_names.len() {
            return;
        }
        let single = plan.location_codes.len() == 1;
        for (code, name) in plan.location_codes.iter().zip(&plan.location_names) {
            let (Some(code), name) = (CountryCode::parse(code), name.trim()) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            match self.country_names.get_mut(&code) {
                Some(slot) if single && !slot.0 => *slot = (true, name.to_owned()),
                Some(_) => {}
                None => {
                    self.country_names.insert(code, (single, name.to_owned()));
                }
            }
        }
    }

    pub(super) fn finish(self, aggregator: String, updated_at: SystemTime) -> Catalog {
        let Builder {
            rows,
            codes,
            seen,
            countries,
            names_lc,
            plan_places,
            places,
            operators,
            speeds,
            rendered,
            country_names,
            dropped,
        } = self;
        drop(seen);
        let n = rows.len() as u32;

        let mut by_country: HashMap<CountryCode, Vec<u32>> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            for &c in &countries[row.countries.0 as usize..row.countries.1 as usize] {
                by_country.entry(c).or_default().push(i as u32);
            }
        }
        let mut country_summaries: Vec<CountrySummary> = by_country
            .iter()
            .map(|(&code, members)| CountrySummary {
                code,
                name: country_names
                    .get(&code)
                    .map_or_else(|| code.to_string(), |(_, n)| n.clone()),
                plan_count: members.len(),
                min_price: members
                    .iter()
                    .map(|&i| rows[i as usize].retail_price)
                    .fold(f64::INFINITY, f64::min),
            })
            .collect();
        country_summaries.sort_by_cached_key(|c| (c.name.to_lowercase(), c.code));
        let region_summaries = summarise_regions(&rows, &countries);
        let cldr = cldr::data();
        let country_text = country_summaries
            .iter()
            .map(|c| (c.code, cldr.search_text(c.code.as_str())))
            .filter(|(_, text)| !text.is_empty())
            .collect();

        let code_of = |i: u32| {
            let (s, e) = rows[i as usize].code;
            &codes[s as usize..e as usize]
        };
        let name_of = |i: u32| {
            let (s, e) = rows[i as usize].name;
            &names_lc[s as usize..e as usize]
        };
        let mut by_code: Vec<u32> = (0..n).collect();
        by_code.sort_unstable_by(|&a, &b| code_of(a).cmp(code_of(b)));

        let mut orders = Vec::with_capacity(SortKey::ALL.len());
        let mut ranks = Vec::with_capacity(SortKey::ALL.len());
        for key in SortKey::ALL {
            let mut order: Vec<u32> = (0..n).collect();
            order.sort_unstable_by(|&a, &b| {
                let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
                compare(key, ra, rb, || name_of(a).cmp(name_of(b)))
                    .then_with(|| code_of(a).cmp(code_of(b)))
            });
            let mut rank = vec![0u32; n as usize];
            for (pos, &i) in order.iter().enumerate() {
                rank[i as usize] = pos as u32;
            }
            orders.push(order);
            ranks.push(rank);
        }

        // Posting lists in price order (ties by packageCode): a trip leg's
        // cheapest qualifying plan is the first that qualifies.
        let price_rank = &ranks[SortKey::Price as usize];
        for members in by_country.values_mut() {
            members.sort_unstable_by_key(|&i| price_rank[i as usize]);
        }
        Catalog {
            content_hash: rendered.content_hash(&aggregator),
            number: std::sync::atomic::AtomicU64::new(0),
            recorded: std::sync::atomic::AtomicBool::new(false),
            aggregator,
            updated_at,
            updated_at_rfc3339: humantime::format_rfc3339_seconds(updated_at).to_string(),
            rows,
            codes,
            by_code,
            countries,
            names_lc,
            places: places.values,
            plan_places,
            operators: operators.values,
            speeds: speeds.values,
            rendered: rendered.shrink(),
            by_country,
            country_summaries,
            country_text,
            region_summaries,
            orders,
            ranks,
            dropped,
        }
    }
}

/// `/regions`: per continent, the plans all of whose countries lie in it.
fn summarise_regions(rows: &[Row], countries: &[CountryCode]) -> Vec<RegionSummary> {
    Continent::ALL
        .into_iter()
        .filter_map(|continent| {
            let members = rows.iter().filter(|r| r.reach.region == Some(continent));
            let mut covered: Vec<CountryCode> = Vec::new();
            let (mut plan_count, mut min_price) = (0, f64::INFINITY);
            for row in members {
                plan_count += 1;
                min_price = min_price.min(row.retail_price);
                covered.extend_from_slice(
                    &countries[row.countries.0 as usize..row.countries.1 as usize],
                );
            }
            covered.sort_unstable();
            covered.dedup();
            (plan_count > 0).then_some(RegionSummary {
                continent,
                countries: covered.len(),
                plan_count,
                min_price,
            })
        })
        .collect()
}

/// The primary order of `key`; ties are broken by packageCode by the caller.
fn compare(
    key: SortKey,
    a: &Row,
    b: &Row,
    names: impl FnOnce() -> std::cmp::Ordering,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match key {
        SortKey::Price => a.retail_price.total_cmp(&b.retail_price),
        SortKey::PriceDesc => b.retail_price.total_cmp(&a.retail_price),
        // Unlimited plans (no price per GB) go last.
        SortKey::PricePerGb => match (
            plan::price_per_gb(a.retail_price, a.data_amount),
            plan::price_per_gb(b.retail_price, b.data_amount),
        ) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
        SortKey::Data => a.data_amount.total_cmp(&b.data_amount),
        SortKey::DataDesc => b.data_amount.total_cmp(&a.data_amount),
        SortKey::Duration => a.duration.cmp(&b.duration),
        SortKey::DurationDesc => b.duration.cmp(&a.duration),
        SortKey::Name => names(),
    }
}
