//! The planner: the cheapest ways to cover an itinerary with one to three
//! eSIMs (SPEC section 7).

use std::cmp::Ordering;

use super::{Leg, MAX_ESIMS, TripOption, TripPlan, TripQuery};
use crate::catalog::Catalog;
use crate::numbers::cents;

impl TripQuery {
    /// Plans the trip on `catalog`.
    pub fn run(&self, catalog: &Catalog) -> TripPlan {
        let n = self.stops.len();
        let mut uncovered = Vec::new();
        for stop in &self.stops {
            if catalog.plans_in(stop.country).is_empty() && !uncovered.contains(&stop.country) {
                uncovered.push(stop.country);
            }
        }
        if !uncovered.is_empty() || n == 0 {
            return TripPlan {
                options: Vec::new(),
                uncovered,
            };
        }
        let filters = catalog.prepare_filters(None, &self.speed, None);
        // best[start][end]: the leg over stops start..end with its cheapest
        // plan (None when no plan qualifies), found once, on first use.
        let mut best: Vec<Vec<Option<Option<Leg>>>> = vec![vec![None; n + 1]; n];
        let mut leg = |start: usize, end: usize| -> Option<Leg> {
            *best[start][end].get_or_insert_with(|| {
                let countries = self.leg_countries(start, end);
                let days: u32 = self.stops[start..end].iter().map(|s| s.days).sum();
                let need = self.gb_per_day * f64::from(days);
                let shortest = countries
                    .iter()
                    .map(|&c| catalog.plans_in(c))
                    .min_by_key(|list| list.len())
                    .unwrap_or(&[]);
                // Posting lists are in price order (ties by packageCode):
                // the first plan that qualifies is the leg's plan.
                let plan = shortest.iter().copied().find(|&i| {
                    let have = catalog.countries_of(i);
                    catalog.duration(i) >= days
                        && (catalog.data_amount(i) == 0.0 || catalog.data_amount(i) >= need)
                        && countries.iter().all(|c| have.binary_search(c).is_ok())
                        && filters.matches(i)
                })?;
                Some(Leg {
                    start,
                    end,
                    days,
                    plan,
                })
            })
        };

        let mut options: Vec<TripOption> = Vec::new();
        for esims in 1..=self.max_esims.min(n) {
            for cuts in cut_points(n, esims) {
                let mut legs = Vec::with_capacity(esims);
                let mut start = 0;
                for &end in cuts.iter().chain(std::iter::once(&n)) {
                    match leg(start, end) {
                        Some(l) => legs.push(l),
                        None => break,
                    }
                    start = end;
                }
                if legs.len() == esims {
                    let total_cents = legs
                        .iter()
                        .map(|l| cents(catalog.retail_price(l.plan)))
                        .sum();
                    options.push(TripOption { total_cents, legs });
                }
            }
        }
        // Splits are enumerated fewest legs first, earliest cuts first; the
        // stable sort keeps that order among options that tie on everything.
        options.sort_by(|a, b| compare_options(catalog, a, b));
        let mut cheapest_with_fewer = [i64::MAX; MAX_ESIMS + 2];
        for option in &options {
            let e = option.legs.len();
            cheapest_with_fewer[e + 1] = cheapest_with_fewer[e + 1].min(option.total_cents);
        }
        for e in 1..cheapest_with_fewer.len() {
            cheapest_with_fewer[e] = cheapest_with_fewer[e].min(cheapest_with_fewer[e - 1]);
        }
        let mut kept: Vec<TripOption> = Vec::with_capacity(self.limit);
        for option in options {
            if kept.len() == self.limit {
                break;
            }
            if option.total_cents >= cheapest_with_fewer[option.legs.len()] {
                continue;
            }
            let same_plans = |k: &TripOption| {
                k.legs.len() == option.legs.len()
                    && k.legs
                        .iter()
                        .zip(&option.legs)
                        .all(|(a, b)| a.plan == b.plan)
            };
            if kept.iter().any(same_plans) {
                continue;
            }
            kept.push(option);
        }
        TripPlan {
            options: kept,
            uncovered,
        }
    }
}

/// Total price, then fewer eSIMs, then packageCodes leg by leg.
fn compare_options(catalog: &Catalog, a: &TripOption, b: &TripOption) -> Ordering {
    a.total_cents
        .cmp(&b.total_cents)
        .then(a.legs.len().cmp(&b.legs.len()))
        .then_with(|| {
            let codes = |o: &TripOption| {
                o.legs
                    .iter()
                    .map(|l| catalog.package_code(l.plan))
                    .collect::<Vec<_>>()
            };
            codes(a).cmp(&codes(b))
        })
}

/// Every way to choose `legs - 1` cut points in `1..n`, ascending, in
/// lexicographic order.
fn cut_points(n: usize, legs: usize) -> Vec<Vec<usize>> {
    fn extend(
        from: usize,
        n: usize,
        left: usize,
        current: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if left == 0 {
            out.push(current.clone());
            return;
        }
        for cut in from..n {
            current.push(cut);
            extend(cut + 1, n, left - 1, current, out);
            current.pop();
        }
    }
    let mut out = Vec::new();
    extend(1, n, legs - 1, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use proptest::prelude::*;

    use super::*;
    use crate::catalog::{Plan, speed_tokens};
    use crate::referral::ProductUrl;
    use crate::trips::Stop;

    fn plan(code: &str, countries: &[&str], gb: f64, days: u32, price: f64, speed: &str) -> Plan {
        Plan {
            name: code.to_owned(),
            package_code: code.to_owned(),
            product_url: ProductUrl::parse(&format!("https://x.example/{code}")).unwrap(),
            data_amount: gb,
            duration: days,
            location_codes: countries.iter().map(|c| (*c).to_owned()).collect(),
            location_names: Vec::new(),
            operator: "Op".into(),
            speed: speed.into(),
            retail_price: price,
        }
    }

    fn catalog(plans: Vec<Plan>) -> Catalog {
        Catalog::from_plans("t", plans, SystemTime::UNIX_EPOCH)
    }

    fn quote(catalog: &Catalog, raw: &str) -> Vec<(i64, Vec<String>)> {
        let query = TripQuery::parse(Some(raw)).unwrap();
        query
            .run(catalog)
            .options
            .iter()
            .map(|o| {
                (
                    o.total_cents,
                    o.legs
                        .iter()
                        .map(|l| catalog.package_code(l.plan).to_owned())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn two_local_plans_can_beat_one_regional_plan_and_vice_versa() {
        let c = catalog(vec![
            plan("FR-7", &["FR"], 5.0, 7, 4.0, "4G"),
            plan("DE-7", &["DE"], 5.0, 7, 4.5, "4G"),
            plan("EU-15", &["FR", "DE", "IT"], 10.0, 15, 12.0, "4G/5G"),
        ]);
        assert_eq!(
            quote(&c, "stops=FR:3,DE:4"),
            [
                (850, vec!["FR-7".to_owned(), "DE-7".to_owned()]),
                (1200, vec!["EU-15".to_owned()]),
            ]
        );
        // One eSIM cheaper than two: the two-eSIM option is left out.
        let c = catalog(vec![
            plan("FR-7", &["FR"], 5.0, 7, 7.0, "4G"),
            plan("DE-7", &["DE"], 5.0, 7, 6.0, "4G"),
            plan("EU-15", &["FR", "DE", "IT"], 10.0, 15, 12.0, "4G"),
        ]);
        assert_eq!(
            quote(&c, "stops=FR:3,DE:4"),
            [(1200, vec!["EU-15".to_owned()])]
        );
        // Speed, data and duration all qualify a plan.
        assert_eq!(quote(&c, "stops=FR:3,DE:4&speed=5G"), []);
        // 14 GB in all is too much for one plan; two legs of the same regional
        // plan (6 and 8 GB) qualify.
        assert_eq!(
            quote(&c, "stops=FR:3,DE:4&gb_per_day=2"),
            [(2400, vec!["EU-15".to_owned(), "EU-15".to_owned()])]
        );
        assert_eq!(quote(&c, "stops=FR:3,DE:4&gb_per_day=3"), []);
        assert_eq!(
            quote(&c, "stops=FR:3,DE:4&max_esims=1&gb_per_day=1"),
            [(1200, vec!["EU-15".to_owned()])]
        );
    }

    #[test]
    fn uncovered_countries_are_listed_once_in_order() {
        let c = catalog(vec![plan("FR-7", &["FR"], 5.0, 7, 4.0, "4G")]);
        let q = TripQuery::parse(Some("stops=XK:2,FR:1,QQ:1,XK:1")).unwrap();
        let plan = q.run(&c);
        assert!(plan.options.is_empty());
        let codes: Vec<&str> = plan.uncovered.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, ["XK", "QQ"]);
    }

    /// Written apart from the planner: every split into 1..=max legs, every
    /// plan for every leg, the cheapest by (cents, code) per leg, then the
    /// ordering and pruning rules of SPEC section 7 read literally.
    fn oracle(plans: &[Plan], q: &TripQuery) -> Vec<(i64, Vec<String>)> {
        let n = q.stops.len();
        let qualifies = |p: &Plan, legs: &[Stop]| {
            let days: u32 = legs.iter().map(|s| s.days).sum();
            let covers = legs
                .iter()
                .all(|s| p.location_codes.iter().any(|c| c == s.country.as_str()));
            let speeds = speed_tokens(&p.speed);
            covers
                && p.duration >= days
                && (p.data_amount == 0.0 || p.data_amount >= q.gb_per_day * f64::from(days))
                && q.speed.iter().all(|t| speeds.contains(t))
        };
        let cheapest = |legs: &[Stop]| -> Option<&Plan> {
            plans.iter().filter(|p| qualifies(p, legs)).min_by(|a, b| {
                a.retail_price
                    .total_cmp(&b.retail_price)
                    .then(a.package_code.cmp(&b.package_code))
            })
        };
        let mut all: Vec<(i64, Vec<String>)> = Vec::new();
        for mask in 0u32..(1 << (n - 1)) {
            let legs = mask.count_ones() as usize + 1;
            if legs > q.max_esims {
                continue;
            }
            let mut bounds = vec![0];
            bounds.extend((1..n).filter(|i| mask & (1 << (i - 1)) != 0));
            bounds.push(n);
            let chosen: Option<Vec<&Plan>> = bounds
                .windows(2)
                .map(|w| cheapest(&q.stops[w[0]..w[1]]))
                .collect();
            if let Some(chosen) = chosen {
                let total = chosen
                    .iter()
                    .map(|p| (p.retail_price * 100.0).round() as i64)
                    .sum();
                all.push((
                    total,
                    chosen.iter().map(|p| p.package_code.clone()).collect(),
                ));
            }
        }
        all.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.len().cmp(&b.1.len()))
                .then(a.1.cmp(&b.1))
        });
        let mut out: Vec<(i64, Vec<String>)> = Vec::new();
        for option in &all {
            let beaten = all
                .iter()
                .any(|o| o.1.len() < option.1.len() && o.0 <= option.0);
            if beaten || out.iter().any(|o| o.1 == option.1) {
                continue;
            }
            out.push(option.clone());
        }
        out.truncate(q.limit);
        out
    }

    const COUNTRIES: [&str; 5] = ["DE", "FR", "IT", "ES", "XK"];

    fn arb_plan() -> impl Strategy<Value = (Vec<usize>, u8, u32, u32, bool)> {
        (
            prop::collection::vec(0usize..4, 1..4),
            0u8..6,
            1u32..30,
            100u32..3000,
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn planner_agrees_with_brute_force(
            raw_plans in prop::collection::vec(arb_plan(), 1..25),
            stops in prop::collection::vec((0usize..5, 1u32..12), 1..7),
            gb_per_day in prop::sample::select(vec![0.0, 0.1, 0.5, 1.0]),
            max_esims in 1usize..=3,
            five_g in any::<bool>(),
            limit in 1usize..=20,
        ) {
            let plans: Vec<Plan> = raw_plans
                .iter()
                .enumerate()
                .map(|(i, (countries, gb, days, price, fast))| {
                    let codes: Vec<&str> = countries.iter().map(|&c| COUNTRIES[c]).collect();
                    // Few distinct prices, so ties happen.
                    let price = f64::from(price / 500 * 5) / 10.0 + 0.99;
                    plan(&format!("P{:02}", 24 - i), &codes, f64::from(*gb) * 2.0, *days, price,
                         if *fast { "4G/5G" } else { "4G" })
                })
                .collect();
            let catalog = catalog(plans.clone());
            let stops_raw: Vec<String> =
                stops.iter().map(|(c, d)| format!("{}:{d}", COUNTRIES[*c])).collect();
            let raw = format!(
                "stops={}&gb_per_day={gb_per_day}&max_esims={max_esims}&limit={limit}{}",
                stops_raw.join(","),
                if five_g { "&speed=5G" } else { "" }
            );
            let query = TripQuery::parse(Some(&raw)).unwrap();
            let result = query.run(&catalog);
            let got: Vec<(i64, Vec<String>)> = result
                .options
                .iter()
                .map(|o| (o.total_cents, o.legs.iter().map(|l| catalog.package_code(l.plan).to_owned()).collect()))
                .collect();
            let expected = if result.uncovered.is_empty() { oracle(&plans, &query) } else { Vec::new() };
            prop_assert_eq!(got, expected, "{}", raw);
        }
    }
}
