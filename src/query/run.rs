//! Evaluation of a [`PlanQuery`]: never a scan of the whole catalog for a
//! country query. It starts from the smallest prepared source, filters it, and
//! orders the hits by their precomputed rank in the requested sort.

use super::{PlanQuery, Selection};
use crate::catalog::{Catalog, SortKey};

impl PlanQuery {
    /// Whether plan `index` is within every numeric bound.
    fn in_bounds(&self, catalog: &Catalog, index: u32) -> bool {
        self.gb.contains(catalog.data_amount(index))
            && self.days.contains(f64::from(catalog.duration(index)))
            && self.price.contains(catalog.retail_price(index))
    }

    /// Whether plan `index` is of the scope, region and kind asked for.
    fn in_market(&self, catalog: &Catalog, index: u32) -> bool {
        self.scope.is_none_or(|s| catalog.scope(index) == s)
            && self.region.is_none_or(|r| catalog.region(index) == Some(r))
            && self
                .unlimited
                .is_none_or(|u| (catalog.data_amount(index) == 0.0) == u)
    }

    fn has_market_filters(&self) -> bool {
        self.scope.is_some() || self.region.is_some() || self.unlimited.is_some()
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

        if self.countries.is_empty()
            && filters.is_empty()
            && !self.has_market_filters()
            && !self.has_bounds_besides(narrowed)
        {
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
            self.in_bounds(catalog, i)
                && self.covers_countries(catalog, i)
                && self.in_market(catalog, i)
                && filters.matches(i)
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

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::SystemTime;

    use proptest::prelude::*;

    use super::*;
    use crate::catalog::{Plan, speed_tokens, synthetic};
    use crate::query::{Bounds, MAX_LIMIT, params::parse_countries};

    /// The generated plans (no duplicate codes: catalog index = plan index)
    /// and their catalog, built once for every test and proptest case.
    fn fixture() -> &'static (Vec<Plan>, Catalog) {
        static FIXTURE: OnceLock<(Vec<Plan>, Catalog)> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let plans = synthetic::plans(2000, 11);
            let catalog = Catalog::from_plans("test", plans.clone(), SystemTime::now());
            assert_eq!(catalog.len(), plans.len());
            (plans, catalog)
        })
    }

    fn parse(raw: &str) -> PlanQuery {
        PlanQuery::parse(Some(raw)).unwrap()
    }

    /// The oracle, written from the SPEC over the source plans and sharing
    /// nothing with the code under test but `Plan::price_per_gb` (the rounding
    /// SPEC "Numbers" fixes), the folding of text and CLDR's data (names,
    /// continents): filter everything, then sort with a comparator.
    fn oracle(plans: &[Plan], q: &PlanQuery) -> Vec<u32> {
        use crate::markets::{Continent, Lang, Scope, cldr};
        let within =
            |b: Bounds, v: f64| b.min.is_none_or(|m| v >= m) && b.max.is_none_or(|m| v <= m);
        let lower = |s: &str| crate::markets::fold(s);
        let codes = |p: &Plan| -> Vec<String> {
            let mut codes = p.location_codes.clone();
            codes.sort();
            codes.dedup();
            codes
        };
        let continents = |p: &Plan| -> Vec<Option<Continent>> {
            codes(p).iter().map(|c| Continent::of(c)).collect()
        };
        let scope = |p: &Plan| {
            let mut placed: Vec<Continent> = continents(p).into_iter().flatten().collect();
            placed.sort();
            placed.dedup();
            match (codes(p).len(), placed.len()) {
                (0 | 1, _) => Scope::Local,
                (_, n) if n >= 3 => Scope::Global,
                _ => Scope::Regional,
            }
        };
        let in_region = |p: &Plan, r: Continent| {
            !p.location_codes.is_empty() && continents(p).iter().all(|c| *c == Some(r))
        };
        let named = |p: &Plan, t: &str| {
            p.location_codes.iter().any(|code| {
                Lang::ALL.iter().any(|&l| {
                    cldr::data()
                        .country_name(l, code)
                        .is_some_and(|n| lower(n).contains(t))
                })
            })
        };
        let generations = |speed: &str| -> Vec<String> {
            speed
                .to_uppercase()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '.'))
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let keep = |p: &Plan| {
            q.countries
                .iter()
                .all(|c| p.location_codes.iter().any(|l| l == c.as_str()))
                && within(q.gb, p.data_amount)
                && within(q.days, f64::from(p.duration))
                && within(q.price, p.retail_price)
                && q.operator
                    .as_deref()
                    .is_none_or(|o| lower(&p.operator).contains(o))
                && q.speed.iter().all(|t| generations(&p.speed).contains(t))
                && q.text.as_deref().is_none_or(|t| {
                    lower(&p.name).contains(t)
                        || lower(&p.operator).contains(t)
                        || p.location_names.iter().any(|n| lower(n).contains(t))
                        || named(p, t)
                })
                && q.scope.is_none_or(|s| scope(p) == s)
                && q.region.is_none_or(|r| in_region(p, r))
                && q.unlimited.is_none_or(|u| (p.data_amount == 0.0) == u)
        };
        let mut hits: Vec<u32> = (0..plans.len() as u32)
            .filter(|&i| keep(&plans[i as usize]))
            .collect();
        hits.sort_by(|&a, &b| {
            let (a, b) = (&plans[a as usize], &plans[b as usize]);
            let primary = match q.sort {
                SortKey::Price => a.retail_price.total_cmp(&b.retail_price),
                SortKey::PriceDesc => b.retail_price.total_cmp(&a.retail_price),
                SortKey::Data => a.data_amount.total_cmp(&b.data_amount),
                SortKey::DataDesc => b.data_amount.total_cmp(&a.data_amount),
                SortKey::Duration => a.duration.cmp(&b.duration),
                SortKey::DurationDesc => b.duration.cmp(&a.duration),
                SortKey::Name => lower(&a.name).cmp(&lower(&b.name)),
                // Unlimited plans (no price per GB) last.
                SortKey::PricePerGb => {
                    let key = |p: &Plan| p.price_per_gb().unwrap_or(f64::INFINITY);
                    key(a).total_cmp(&key(b))
                }
            };
            primary.then_with(|| a.package_code.cmp(&b.package_code))
        });
        hits
    }

    #[test]
    fn filters_match_the_oracle() {
        let (plans, catalog) = fixture();
        for raw in [
            "country=DE",
            "country=de,fr&min_gb=5",
            "speed=5G&sort=-data",
            "operator=voda&sort=name",
            "q=europe%20%20unlimited",
            "q=T%C3%BCRKIYE",
            "q=turkiye",
            "q=vodafone",
            "q=Deutschland",
            "q=Allemagne",
            "q=%E3%83%89%E3%82%A4%E3%83%84",
            "q=%EB%8F%85%EC%9D%BC",
            "q=ALEMANHA",
            "scope=local",
            "scope=regional&sort=name",
            "scope=global&sort=-price",
            "region=europe",
            "region=asia&scope=local",
            "region=americas&unlimited=false",
            "unlimited=true&sort=duration",
            "unlimited=false&country=DE&sort=price_per_gb",
            "min_price=5&max_price=10&sort=price_per_gb",
            "min_days=30&max_days=30&sort=-duration",
            "min_price=5&max_price=10",
            "min_price=5&max_price=10&sort=-price&speed=5G",
            "min_gb=5&sort=-data",
            "max_gb=5&sort=data",
            "max_days=15&sort=duration",
            "min_days=15&sort=-duration&operator=o",
            "sort=price_per_gb",
        ] {
            let mut q = parse(raw);
            q.limit = MAX_LIMIT;
            let expected = oracle(plans, &q);
            let got = q.run(catalog);
            assert!(got.total > 0, "{raw} matches something");
            assert_eq!(got.total, expected.len(), "{raw}");
            assert_eq!(got.page, expected[..expected.len().min(MAX_LIMIT)], "{raw}");
        }
    }

    #[test]
    fn speed_matches_whole_generations() {
        let (plans, catalog) = fixture();
        let speeds = |raw: &str| -> Vec<&str> {
            parse(raw)
                .run(catalog)
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

    /// Query strings made of real parameter names with short values: most
    /// parse, so the assertions below run (random text is almost always an
    /// unknown parameter).
    fn query_strings() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            "[0-9]{1,3}",
            "[0-9]{1,2}\\.[0-9]{1,2}",
            prop::sample::select(vec![
                "DE", "fr,de", "US", "5G", "price", "-data", "name", "orange", "local", "europe",
                "true", "EUR"
            ])
            .prop_map(str::to_owned),
            "[a-zA-Z0-9.,%+-]{0,6}",
        ];
        prop::collection::vec(
            (
                prop::sample::select(crate::query::PLAN_PARAMETERS.to_vec()),
                value,
            ),
            0..5,
        )
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    #[test]
    fn the_query_generator_mostly_yields_valid_queries() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = query_strings();
        let valid = (0..1000)
            .filter(|_| {
                let raw = strategy.new_tree(&mut runner).unwrap().current();
                PlanQuery::parse(Some(&raw)).is_ok()
            })
            .count();
        assert!(valid >= 250, "only {valid} of 1000 generated queries parse");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_query_string_parses_or_is_rejected_without_panicking(raw in "[a-z_=&%0-9A-F.,+-]{0,80}") {
            if let Ok(q) = PlanQuery::parse(Some(&raw)) {
                let selection = q.run(&fixture().1);
                prop_assert!(selection.page.len() <= q.limit);
            }
        }

        #[test]
        fn any_valid_query_runs_within_its_page(raw in query_strings()) {
            let (_, catalog) = fixture();
            if let Ok(q) = PlanQuery::parse(Some(&raw)) {
                let selection = q.run(catalog);
                prop_assert!(selection.page.len() <= q.limit);
                prop_assert!(selection.total >= selection.page.len());
                prop_assert!(selection.page.iter().all(|&i| (i as usize) < catalog.len()));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_page_is_the_slice_of_the_oracle_result(
            country in prop::sample::select(vec!["", "DE", "FR,DE", "US", "JP", "ZZ"]),
            min_gb in prop::option::of(0u32..30),
            max_gb in prop::option::of(0u32..60),
            min_days in prop::option::of(0u32..40),
            min_price in prop::option::of(0u32..20),
            max_price in prop::option::of(1u32..60),
            sort in prop::sample::select(SortKey::ALL.to_vec()),
            speed in prop::sample::select(vec!["", "5G", "4G"]),
            operator in prop::sample::select(vec!["", "voda", "o"]),
            text in prop::sample::select(vec!["", "europe", "germany", "unlimited 7", "deutschland", "日本"]),
            scope in prop::sample::select(vec![None, Some(crate::markets::Scope::Local), Some(crate::markets::Scope::Regional), Some(crate::markets::Scope::Global)]),
            region in prop::sample::select(vec![None, Some(crate::markets::Continent::Europe), Some(crate::markets::Continent::Asia)]),
            unlimited in prop::option::of(any::<bool>()),
            limit in 1usize..60,
            offset in 0usize..400,
        ) {
            let (plans, catalog) = fixture();
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
            q.scope = scope;
            q.region = region;
            q.unlimited = unlimited;
            let full = oracle(plans, &q);
            let got = q.run(catalog);
            prop_assert_eq!(got.total, full.len());
            let expected: Vec<u32> = full.iter().skip(offset).take(limit).copied().collect();
            prop_assert_eq!(got.page, expected);
        }
    }
}
