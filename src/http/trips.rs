//! `GET /trips`: the cheapest ways to cover a multi-country itinerary.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use serde::Serialize;

use super::respond::{self, JSON, Payload};
use super::{ApiError, AppState};
use crate::catalog::Catalog;
use crate::referral::RefCode;
use crate::trips::{TripPlan, TripQuery};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/trips", get(trips_quote))
}

async fn trips_quote(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = TripQuery::parse(raw.as_deref())?;
    let catalog = respond::catalog(&state)?;
    let who = respond::attribute(&state, query.ref_code.clone(), &headers)?;
    let status = state.store.status();
    let canonical = query.canonical();
    let ref_code = who.ref_code.as_ref();
    let etag = respond::etag(&catalog, status.stale, "trips", &canonical, ref_code);
    let max_age = respond::max_age(&state, &status);
    Ok(respond::cached(
        &state,
        &headers,
        &etag,
        max_age,
        JSON,
        || {
            let key = format!("trips|{canonical}|{}", ref_code.map_or("", RefCode::as_str));
            let page = state.responses.get_with(&catalog, &state.store, &key, || {
                let plan = query.run(&catalog);
                Bytes::from(render(&catalog, &query, &plan, ref_code))
            });
            Payload::Page(page, respond::catalog_meta_tail(&catalog, &status))
        },
    ))
}

#[derive(Serialize)]
struct StopOut<'a> {
    country: &'a str,
    days: u32,
}

/// The body up to and including `"catalog":`; the catalog block follows.
pub(crate) fn render(
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
