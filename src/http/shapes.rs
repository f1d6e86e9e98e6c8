//! The JSON shapes of the catalog routes, in one place: the `/plans` page, the
//! `catalog` block every catalog response ends with, `/countries` and the trip
//! quote. Plans themselves are pre-rendered by the catalog (`catalog::render`);
//! the snapshot tests in `tests/api/shapes.rs` pin each route's bytes.

use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;

use crate::catalog::{Catalog, SyncStatus};
use crate::query::{PlanQuery, Selection};
use crate::referral::RefCode;
use crate::trips::{TripPlan, TripQuery};

/// The `/plans` body up to and including `"catalog":`'s key position: the
/// page of plans, `total`, `limit`, `offset`; [`catalog_block`] closes it.
pub(super) fn plan_page(
    catalog: &Catalog,
    selection: &Selection,
    query: &PlanQuery,
    ref_code: Option<&RefCode>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + selection.page.len() * 420);
    out.extend_from_slice(b"{\"plans\":[");
    for (n, &i) in selection.page.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        catalog.write_plan(&mut out, i, ref_code, false);
    }
    let tail = format!(
        "],\"total\":{},\"limit\":{},\"offset\":{},",
        selection.total, query.limit, query.offset
    );
    out.extend_from_slice(tail.as_bytes());
    out
}

/// One row of `/countries`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Country<'a> {
    code: &'a str,
    name: &'a str,
    plan_count: usize,
    min_price: f64,
}

/// `[{"code", "name", "planCount", "minPrice"}]`.
pub(super) fn countries(catalog: &Catalog) -> Vec<u8> {
    let rows: Vec<Country> = catalog
        .countries()
        .iter()
        .map(|c| Country {
            code: c.code.as_str(),
            name: &c.name,
            plan_count: c.plan_count,
            min_price: crate::numbers::clean(c.min_price),
        })
        .collect();
    serde_json::to_vec(&rows).expect("plain data serialises")
}

/// `"catalog":{updatedAt, ageSeconds, stale, planCount}}`: the end of a
/// `/plans` body, rendered per request because the age changes.
pub(super) fn catalog_block(catalog: &Catalog, status: &SyncStatus) -> Bytes {
    let age = SystemTime::now()
        .duration_since(catalog.updated_at())
        .unwrap_or_default()
        .as_secs();
    Bytes::from(format!(
        "\"catalog\":{{\"updatedAt\":\"{}\",\"ageSeconds\":{age},\"stale\":{},\"planCount\":{},\"version\":{}}}}}",
        catalog.updated_at_rfc3339(),
        status.stale,
        catalog.len(),
        catalog.version()
    ))
}

#[derive(Serialize)]
struct StopOut<'a> {
    country: &'a str,
    days: u32,
}

/// The body up to and including `"catalog":`; the catalog block follows.
pub(super) fn trip_quote(
    catalog: &Catalog,
    query: &TripQuery,
    plan: &TripPlan,
    ref_code: Option<&RefCode>,
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
            catalog.write_plan(&mut out, leg.plan, ref_code, false);
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

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("plain data always serialises");
}
