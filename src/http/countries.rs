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
use crate::catalog::{Catalog, Links};

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/countries", place_list::<Countries>)
        .get("/regions", place_list::<Regions>)
}

/// A list of places, as one route shows it.
trait Places: Send + 'static {
    /// Names the route in ETags and cache keys.
    const ROUTE: &'static str;
    /// The page up to and including `"catalog":`.
    fn render(catalog: &Catalog, market: &Market) -> Vec<u8>;
}

struct Countries;

impl Places for Countries {
    const ROUTE: &'static str = "countries";
    fn render(catalog: &Catalog, market: &Market) -> Vec<u8> {
        shapes::countries(catalog, market)
    }
}

struct Regions;

impl Places for Regions {
    const ROUTE: &'static str = "regions";
    fn render(catalog: &Catalog, market: &Market) -> Vec<u8> {
        shapes::regions(catalog, market)
    }
}

/// The handler of a [`Places`] route: the page cached per `lang` and
/// display currency.
async fn place_list<P: Places>(
    State(state): State<AppState>,
    _: Query<PlaceParameters>,
    market: Market,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = market.lang.map_or("", |l| l.as_str());
    let key = PageKey {
        route: P::ROUTE,
        query: lang,
        links: Links::default().with_display(market.display.as_ref()),
        with_catalog_block: true,
    };
    Ok(respond::page(&state, &headers, &view, key, || {
        P::render(&view.catalog, &market)
    }))
}
