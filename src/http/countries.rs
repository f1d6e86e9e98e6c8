//! `GET /countries` and `GET /regions`: every covered country, and every
//! continent with a plan wholly inside, with plan counts and lowest prices,
//! named in `lang` and priced in `currency` when asked.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::extract::{CatalogView, Market, PlaceParameters, Query};
use super::pages::respond::{self, PageKey};
use super::pages::shapes;
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::catalog::Links;

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/countries", countries_list)
        .get("/regions", regions_list)
}

async fn countries_list(
    state: State<AppState>,
    query: Query<PlaceParameters>,
    market: Market,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    place_page(
        "countries",
        shapes::countries,
        state,
        query,
        market,
        view,
        headers,
    )
}

async fn regions_list(
    state: State<AppState>,
    query: Query<PlaceParameters>,
    market: Market,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    place_page(
        "regions",
        shapes::regions,
        state,
        query,
        market,
        view,
        headers,
    )
}

/// A list of places: the page cached per `lang` and display currency.
fn place_page(
    route: &'static str,
    render: fn(&crate::catalog::Catalog, &Market) -> Vec<u8>,
    State(state): State<AppState>,
    _: Query<PlaceParameters>,
    market: Market,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = market.lang.map_or("", |l| l.as_str());
    let key = PageKey {
        route,
        query: lang,
        links: Links::default().with_display(market.display.as_ref()),
        with_catalog_block: true,
    };
    Ok(respond::page(&state, &headers, &view, key, || {
        render(&view.catalog, &market)
    }))
}
