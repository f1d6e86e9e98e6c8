//! A deterministic generator of realistic plans: the built-in demo catalog
//! (`--demo`), and large synthetic feeds for tests and benchmarks.

use std::time::SystemTime;

use super::{Catalog, Plan};
use crate::referral::ProductUrl;

/// (code, name, operators)
const COUNTRIES: &[(&str, &str, &[&str])] = &[
    ("AE", "United Arab Emirates", &["Etisalat", "du"]),
    ("AR", "Argentina", &["Claro", "Personal"]),
    ("AT", "Austria", &["A1", "Magenta", "Drei"]),
    ("AU", "Australia", &["Telstra", "Optus"]),
    ("BE", "Belgium", &["Proximus", "Orange"]),
    ("BR", "Brazil", &["Vivo", "Claro", "TIM"]),
    ("CA", "Canada", &["Rogers", "Bell", "Telus"]),
    ("CH", "Switzerland", &["Swisscom", "Sunrise", "Salt"]),
    ("CL", "Chile", &["Entel", "Movistar"]),
    ("CN", "China", &["China Unicom", "China Mobile"]),
    ("CO", "Colombia", &["Claro", "Movistar"]),
    ("CZ", "Czechia", &["O2", "T-Mobile", "Vodafone"]),
    ("DE", "Germany", &["Telekom", "Vodafone", "O2"]),
    ("DK", "Denmark", &["TDC", "Telenor", "3"]),
    ("EG", "Egypt", &["Vodafone", "Orange"]),
    ("ES", "Spain", &["Movistar", "Orange", "Vodafone"]),
    ("FI", "Finland", &["Elisa", "DNA", "Telia"]),
    ("FR", "France", &["Orange", "SFR", "Bouygues"]),
    ("GB", "United Kingdom", &["EE", "Vodafone", "Three"]),
    ("GR", "Greece", &["Cosmote", "Vodafone"]),
    ("HR", "Croatia", &["Hrvatski Telekom", "A1"]),
    ("HU", "Hungary", &["Telekom", "Yettel"]),
    ("ID", "Indonesia", &["Telkomsel", "XL Axiata"]),
    ("IE", "Ireland", &["Vodafone", "Three", "Eir"]),
    ("IL", "Israel", &["Partner", "Cellcom"]),
    ("IN", "India", &["Airtel", "Jio"]),
    ("IS", "Iceland", &["Síminn", "Nova"]),
    ("IT", "Italy", &["TIM", "Vodafone", "WindTre"]),
    ("JP", "Japan", &["NTT Docomo", "SoftBank", "KDDI"]),
    ("KE", "Kenya", &["Safaricom", "Airtel"]),
    ("KR", "South Korea", &["SK Telecom", "KT", "LG U+"]),
    ("MA", "Morocco", &["Maroc Telecom", "Orange"]),
    ("MX", "Mexico", &["Telcel", "AT&T"]),
    ("MY", "Malaysia", &["Maxis", "CelcomDigi"]),
    ("NL", "Netherlands", &["KPN", "Vodafone", "Odido"]),
    ("NO", "Norway", &["Telenor", "Telia"]),
    ("NZ", "New Zealand", &["Spark", "One NZ"]),
    ("PE", "Peru", &["Claro", "Movistar"]),
    ("PH", "Philippines", &["Globe", "Smart"]),
    ("PL", "Poland", &["Orange", "Play", "Plus"]),
    ("PT", "Portugal", &["MEO", "NOS", "Vodafone"]),
    ("RO", "Romania", &["Orange", "Vodafone"]),
    ("SA", "Saudi Arabia", &["STC", "Mobily"]),
    ("SE", "Sweden", &["Telia", "Tele2", "Telenor"]),
    ("SG", "Singapore", &["Singtel", "StarHub"]),
    ("TH", "Thailand", &["AIS", "True", "dtac"]),
    ("TR", "Türkiye", &["Turkcell", "Vodafone"]),
    ("US", "United States", &["T-Mobile", "AT&T", "Verizon"]),
    ("VN", "Vietnam", &["Viettel", "Vinaphone"]),
    ("ZA", "South Africa", &["Vodacom", "MTN"]),
];

/// (name, slug, member codes; empty = every country)
const REGIONS: &[(&str, &str, &[&str])] = &[
    (
        "Europe",
        "europe",
        &[
            "AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB", "GR", "HR", "HU", "IE",
            "IS", "IT", "NL", "NO", "PL", "PT", "RO", "SE", "TR",
        ],
    ),
    (
        "Asia",
        "asia",
        &["CN", "ID", "IN", "JP", "KR", "MY", "PH", "SG", "TH", "VN"],
    ),
    (
        "Americas",
        "americas",
        &["AR", "BR", "CA", "CL", "CO", "MX", "PE", "US"],
    ),
    (
        "Middle East & Africa",
        "mea",
        &["AE", "EG", "IL", "KE", "MA", "SA", "ZA"],
    ),
    ("North America", "north-america", &["CA", "MX", "US"]),
    ("Scandinavia", "nordics", &["DK", "FI", "IS", "NO", "SE"]),
    ("Global", "global", &[]),
];

/// (GB, days); GB 0 is unlimited.
const PACKAGES: &[(f64, u32)] = &[
    (1.0, 7),
    (3.0, 15),
    (5.0, 30),
    (10.0, 30),
    (20.0, 30),
    (50.0, 90),
    (0.0, 7),
];

/// `n` plans, deterministic for a given `seed`: single-country, regional and
/// global plans with 4G/5G mixes and unlimited (0 GB) plans.
pub fn plans(n: usize, seed: u64) -> Vec<Plan> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::with_capacity(n);
    let mut round = 0usize;
    while out.len() < n {
        for (ci, &(code, name, operators)) in COUNTRIES.iter().enumerate() {
            for (pi, &(gb, days)) in PACKAGES.iter().enumerate() {
                if out.len() >= n {
                    return out;
                }
                // Not every country sells every package.
                if pi > 3 && (ci + pi + round) % 3 == 0 {
                    continue;
                }
                let operator = operators[(pi + round) % operators.len()];
                let base =
                    [0.9, 2.4, 3.6, 6.5, 11.0, 24.0, 9.5][pi] * (1.0 + (ci % 7) as f64 * 0.08);
                out.push(make_plan(
                    &mut rng,
                    round,
                    &format!("{code}-{}", label(gb, days)),
                    name,
                    code.to_lowercase().as_str(),
                    &[code],
                    &[name],
                    operator,
                    gb,
                    days,
                    base,
                ));
            }
        }
        for (ri, &(region, slug, members)) in REGIONS.iter().enumerate() {
            let members: Vec<&str> = if members.is_empty() {
                COUNTRIES.iter().map(|c| c.0).collect()
            } else {
                members.to_vec()
            };
            let names: Vec<&str> = members
                .iter()
                .filter_map(|m| COUNTRIES.iter().find(|c| c.0 == *m).map(|c| c.1))
                .collect();
            for (pi, &(gb, days)) in PACKAGES.iter().enumerate() {
                if out.len() >= n {
                    return out;
                }
                let base = [2.0, 5.0, 8.5, 14.0, 24.0, 49.0, 19.0][pi] * (1.0 + ri as f64 * 0.15);
                out.push(make_plan(
                    &mut rng,
                    round,
                    &format!("{}-{}", slug.to_uppercase(), label(gb, days)),
                    region,
                    slug,
                    &members,
                    &names,
                    "Orange, Movistar, Vodafone",
                    gb,
                    days,
                    base,
                ));
            }
        }
        round += 1;
    }
    out
}

fn label(gb: f64, days: u32) -> String {
    if gb == 0.0 {
        format!("UNL-{days}D")
    } else {
        format!("{gb}GB-{days}D")
    }
}

#[allow(clippy::too_many_arguments)]
fn make_plan(
    rng: &mut fastrand::Rng,
    round: usize,
    code: &str,
    place: &str,
    slug: &str,
    codes: &[&str],
    names: &[&str],
    operator: &str,
    gb: f64,
    days: u32,
    base_price: f64,
) -> Plan {
    let suffix = if round == 0 {
        String::new()
    } else {
        format!("-R{round}")
    };
    let package_code = format!("{code}{suffix}");
    let speed = match rng.u8(0..10) {
        0..=3 => "4G/5G",
        4..=7 => "4G",
        8 => "5G",
        _ => "3G/4G",
    };
    let data = if gb == 0.0 {
        "Unlimited".to_owned()
    } else {
        format!("{gb}GB")
    };
    let cents = (base_price * (0.9 + rng.f64() * 0.2) * 100.0).round();
    let price = (cents - 1.0).max(49.0) / 100.0;
    let url = format!(
        "https://www.connectmeguru.com/esim/{slug}/{}",
        package_code.to_lowercase()
    );
    Plan {
        name: format!("{place} {data} {days} Days"),
        package_code,
        product_url: ProductUrl::parse(&url).expect("generated URLs are valid"),
        data_amount: gb,
        duration: days,
        location_codes: codes.iter().map(|c| (*c).to_owned()).collect(),
        location_names: names.iter().map(|c| (*c).to_owned()).collect(),
        operator: operator.to_owned(),
        speed: speed.to_owned(),
        retail_price: price,
    }
}

/// A feed body in the upstream shape with `n` plans.
pub fn feed_json(n: usize, seed: u64) -> Vec<u8> {
    let catalog = Catalog::from_plans("ConnectMeGuru", plans(n, seed), SystemTime::now());
    let mut out = Vec::with_capacity(n * 420);
    catalog.write_feed(&mut out, None, &[]);
    out
}

/// Number of plans in the demo catalog.
pub const DEMO_PLANS: usize = 360;

/// The built-in demo catalog.
/// The demo catalog's previous version: three prices differ, the last demo
/// plan had not been added yet and one retired plan was still sold.
pub fn demo_previous_catalog() -> Catalog {
    let mut plans = plans(DEMO_PLANS, 2026);
    let mut retired = plans.pop().expect("the demo has plans");
    for (_, plan) in plans.iter_mut().enumerate().filter(|(i, _)| i % 97 == 3) {
        // Prices were cut since: the older price was higher.
        plan.retail_price += 1.0;
    }
    retired.package_code = "DEMO-RETIRED-1".into();
    retired.name = format!("{} (retired)", retired.name);
    retired.product_url = ProductUrl::parse("https://www.connectmeguru.com/esim/demo-retired-1")
        .expect("a valid URL");
    plans.push(retired);
    Catalog::from_plans(
        "ConnectMeGuru (demo)",
        plans,
        SystemTime::now() - std::time::Duration::from_secs(2 * 86_400),
    )
}

pub fn demo_catalog() -> Catalog {
    Catalog::from_plans(
        "ConnectMeGuru (demo)",
        plans(DEMO_PLANS, 2026),
        SystemTime::now(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_sized() {
        assert_eq!(plans(1000, 1), plans(1000, 1));
        assert_eq!(plans(1000, 1).len(), 1000);
    }

    #[test]
    fn demo_catalog_is_realistic() {
        let catalog = demo_catalog();
        assert_eq!(catalog.len(), DEMO_PLANS, "no duplicate codes");
        assert!(catalog.countries().len() >= 40);
        let plans = plans(DEMO_PLANS, 2026);
        assert!(
            plans.iter().any(|p| p.data_amount == 0.0),
            "unlimited plans"
        );
        assert!(
            plans.iter().any(|p| p.location_codes.len() > 20),
            "global plans"
        );
        assert!(
            plans
                .iter()
                .any(|p| (2..20).contains(&p.location_codes.len()))
        );
        assert!(plans.iter().any(|p| p.speed == "4G/5G"));
        assert!(plans.iter().any(|p| p.speed == "4G"));
    }

    #[test]
    fn a_generated_feed_parses_back() {
        let body = feed_json(500, 3);
        let catalog = Catalog::from_feed(&body, SystemTime::now()).unwrap();
        assert_eq!(catalog.len(), 500);
        assert_eq!(catalog.dropped().total(), 0);
    }
}
