//! The JSON shapes of the routes, in one place: the `/plans` page, the
//! `catalog` block every catalog response ends with, `/countries`, the trip
//! quote, the change feed, price history and readiness. Plans themselves are
//! pre-rendered by the catalog (`catalog::render`); errors are shaped by
//! `error.rs`. The snapshot tests in `tests/api/shapes.rs` pin each route's
//! bytes.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::catalog::{Catalog, Links, SyncStatus};
use crate::history::{Change, PriceInterval};
use crate::http::extract::Market;
use crate::query::{PlanQuery, Selection};
use crate::trips::{TripPlan, TripQuery};

/// The `/plans` body up to and including `"catalog":`'s key position: the
/// page of plans, `total`, `limit`, `offset`; [`catalog_block`] closes it.
pub(in crate::http) fn plan_page(
    catalog: &Catalog,
    selection: &Selection,
    query: &PlanQuery,
    links: Links<'_>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + selection.page.len() * 420);
    out.extend_from_slice(b"{\"plans\":[");
    for (n, &i) in selection.page.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        catalog.write_plan(&mut out, i, links, crate::catalog::PlanForm::Served);
    }
    let tail = format!(
        "],\"total\":{},\"limit\":{},\"offset\":{},",
        selection.total, query.limit, query.offset
    );
    out.extend_from_slice(tail.as_bytes());
    out
}

/// `{"countries":[{"code", "name", "planCount", "minPrice", "display"?}],`:
/// names from the feed, or CLDR's in `lang` (sorted by that name).
pub(in crate::http) fn countries(catalog: &Catalog, market: &Market) -> Vec<u8> {
    let cldr = crate::markets::cldr::data();
    let mut rows: Vec<(&str, &str, usize, f64)> = catalog
        .countries()
        .iter()
        .map(|c| {
            let code = c.code.as_str();
            let name = market
                .lang
                .and_then(|lang| cldr.country_name(lang, code))
                .unwrap_or(&c.name);
            (code, name, c.plan_count, c.min_price)
        })
        .collect();
    if market.lang.is_some() {
        rows.sort_by_cached_key(|(code, name, ..)| (crate::markets::fold(name), *code));
    }
    let mut out = b"{\"countries\":[".to_vec();
    for (n, (code, name, plan_count, min_price)) in rows.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        place_row(
            &mut out,
            ("code", code),
            name,
            plan_count,
            None,
            min_price,
            market,
        );
    }
    out.extend_from_slice(b"],");
    out
}

/// `{"regions":[{"code", "name", "countries", "planCount", "minPrice", "display"?}],`:
/// continents with a plan wholly inside, names in `lang` (English without).
pub(in crate::http) fn regions(catalog: &Catalog, market: &Market) -> Vec<u8> {
    let cldr = crate::markets::cldr::data();
    let lang = market.lang.unwrap_or(crate::markets::Lang::En);
    let mut out = b"{\"regions\":[".to_vec();
    for (n, region) in catalog.regions().iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let name = cldr.continent_name(lang, region.continent);
        let code = region.continent.as_str();
        let countries = Some(region.countries);
        place_row(
            &mut out,
            ("code", code),
            name,
            region.plan_count,
            countries,
            region.min_price,
            market,
        );
    }
    out.extend_from_slice(b"],");
    out
}

/// One row of `/countries` or `/regions`.
fn place_row(
    out: &mut Vec<u8>,
    code: (&str, &str),
    name: &str,
    plan_count: usize,
    countries: Option<usize>,
    min_price: f64,
    market: &Market,
) {
    out.extend_from_slice(b"{\"code\":");
    write_json(out, code.1);
    out.extend_from_slice(b",\"name\":");
    write_json(out, name);
    if let Some(countries) = countries {
        out.extend_from_slice(format!(",\"countries\":{countries}").as_bytes());
    }
    out.extend_from_slice(format!(",\"planCount\":{plan_count},\"minPrice\":").as_bytes());
    write_json(out, &crate::numbers::clean(min_price));
    if let Some(display) = &market.display {
        display.write(out, &[("minPrice", Some(display.amount(min_price)))]);
    }
    out.push(b'}');
}

/// `"catalog":{updatedAt, stale, planCount, version}}`: the end of a catalog
/// page. Nothing in it follows the clock (SPEC section 3): a client computes
/// the age from `updatedAt`. Its version, staleness and `updatedAt` are part
/// of the page's cache key: they can change while the content does not.
pub(in crate::http) fn catalog_block(catalog: &Catalog, status: &SyncStatus) -> String {
    format!(
        "\"catalog\":{{\"updatedAt\":\"{}\",\"stale\":{},\"planCount\":{},\"version\":{}}}}}",
        catalog.updated_at_rfc3339(),
        status.stale,
        catalog.len(),
        catalog.version()
    )
}

#[derive(Serialize)]
struct StopOut<'a> {
    country: &'a str,
    days: u32,
}

/// The body up to and including `"catalog":`; the catalog block follows.
pub(in crate::http) fn trip_quote(
    catalog: &Catalog,
    query: &TripQuery,
    plan: &TripPlan,
    links: Links<'_>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + plan.options.len() * 1200);
    let stops: Vec<StopOut> = query
        .stops
        .iter()
        .map(|s| StopOut {
            country: s.country.as_str(),
            days: s.days,
        })
        .collect();
    out.extend_from_slice(b"{\"stops\":");
    write_json(&mut out, &stops);
    out.extend_from_slice(format!(",\"days\":{},\"gbPerDay\":", query.days()).as_bytes());
    write_json(&mut out, &crate::numbers::clean(query.gb_per_day));
    out.extend_from_slice(b",\"options\":[");
    for (n, option) in plan.options.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"totalPrice\":");
        write_json(&mut out, &crate::numbers::from_cents(option.total_cents));
        if let Some(display) = links.display {
            // The sum of the legs' displayed prices, as SPEC defines it.
            let total = option
                .legs
                .iter()
                .map(|leg| display.amount(catalog.retail_price(leg.plan)))
                .sum();
            display.write(&mut out, &[("totalPrice", Some(total))]);
        }
        out.extend_from_slice(format!(",\"esims\":{},\"legs\":[", option.legs.len()).as_bytes());
        for (m, leg) in option.legs.iter().enumerate() {
            if m > 0 {
                out.push(b',');
            }
            let codes = query.leg_countries(leg.start, leg.end);
            let countries: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            out.extend_from_slice(b"{\"countries\":");
            write_json(&mut out, &countries);
            out.extend_from_slice(format!(",\"days\":{},\"plan\":", leg.days).as_bytes());
            catalog.write_plan(&mut out, leg.plan, links, crate::catalog::PlanForm::Served);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"],\"uncovered\":");
    let uncovered: Vec<&str> = plan.uncovered.iter().map(|c| c.as_str()).collect();
    write_json(&mut out, &uncovered);
    out.push(b',');
    out
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeOut<'a> {
    version: u64,
    at: String,
    package_code: &'a str,
    kind: &'a str,
    fields: &'a [String],
    before: Option<&'a RawValue>,
    after: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct ChangesOut<'a> {
    since: u64,
    version: u64,
    changes: Vec<ChangeOut<'a>>,
    next: Option<String>,
}

/// Stored plan JSON as it was written (it is the upstream's fields, as served
/// without a ref).
fn raw_json(text: &Option<String>) -> Option<&RawValue> {
    text.as_deref()
        .and_then(|t| serde_json::from_str::<&RawValue>(t).ok())
}

/// `/changes`: `{since, version, changes, next}`.
pub(in crate::http) fn changes_page(
    since: u64,
    version: u64,
    changes: &[Change],
    next: Option<String>,
) -> Vec<u8> {
    let body = ChangesOut {
        since,
        version,
        changes: changes
            .iter()
            .map(|c| ChangeOut {
                version: c.version,
                at: rfc3339(c.at),
                package_code: &c.package_code,
                kind: c.kind.as_str(),
                fields: &c.fields,
                before: raw_json(&c.before),
                after: raw_json(&c.after),
            })
            .collect(),
        next,
    };
    serde_json::to_vec(&body).expect("plain data serialises")
}

#[derive(Serialize)]
struct PriceOut {
    price: f64,
    from: String,
    to: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryOut<'a> {
    package_code: &'a str,
    prices: Vec<PriceOut>,
    lowest_price30d: Option<f64>,
}

/// `/plans/{packageCode}/history`: `{packageCode, prices, lowestPrice30d}`.
pub(in crate::http) fn price_history(
    code: &str,
    prices: &[PriceInterval],
    lowest: Option<f64>,
) -> Vec<u8> {
    let body = HistoryOut {
        package_code: code,
        lowest_price30d: lowest,
        prices: prices
            .iter()
            .map(|p| PriceOut {
                price: crate::numbers::clean(p.price),
                from: rfc3339(p.from),
                to: p.to.map(rfc3339),
            })
            .collect(),
    };
    serde_json::to_vec(&body).expect("plain data serialises")
}

#[derive(Serialize)]
struct RefreshOut {
    at: String,
    outcome: &'static str,
}

/// The error `/readyz` carries while starting: `catalog_unavailable`, as
/// every catalog route would answer.
#[derive(Serialize)]
struct ErrorOut {
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReadinessOut {
    status: &'static str,
    /// `leader`, `follower` or `single` (SPEC section 13).
    role: &'static str,
    plan_count: usize,
    // Absent values are `null`, all of them, never left out.
    version: Option<u64>,
    updated_at: Option<String>,
    stale: Option<bool>,
    last_refresh: Option<RefreshOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorOut>,
}

/// `/readyz`: ready with the catalog's figures, or starting (no catalog yet)
/// with the `catalog_unavailable` error.
pub(in crate::http) fn readiness(
    catalog: Option<&Catalog>,
    status: &SyncStatus,
    role: crate::sync::Role,
) -> Vec<u8> {
    let last_refresh = status.last_refresh.map(|r| RefreshOut {
        at: rfc3339(r.at),
        outcome: r.outcome.as_str(),
    });
    let body = match catalog {
        Some(catalog) => ReadinessOut {
            status: "ready",
            role: role.as_str(),
            plan_count: catalog.len(),
            version: Some(catalog.version()),
            updated_at: Some(rfc3339(catalog.updated_at())),
            stale: Some(status.stale),
            last_refresh,
            error: None,
        },
        None => ReadinessOut {
            status: "starting",
            role: role.as_str(),
            plan_count: 0,
            version: None,
            updated_at: None,
            stale: None,
            last_refresh,
            error: Some({
                let starting = crate::http::ApiError::CatalogUnavailable;
                ErrorOut {
                    code: starting.code(),
                    message: starting.to_string(),
                }
            }),
        },
    };
    serde_json::to_vec(&body).expect("plain data serialises")
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("plain data always serialises");
}
