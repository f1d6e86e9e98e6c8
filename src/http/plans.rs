//! `GET /plans`, `GET /plans/{packageCode}` and the upstream-shaped mirror
//! `GET /api/products/aggregator`.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::extract::{CatalogView, Market, PackageCode, Partner, PlanParameters, Query, RefOnly};
use super::pages::respond::{self, JSON, PageKey, Payload, SearchQuery};
use super::pages::shapes;
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::catalog::{Catalog, Links};
use crate::query::PlanQuery;

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/plans", respond::search::<PlanQuery>)
        .get("/plans/{packageCode}", plans_show)
        .get("/api/products/aggregator", aggregator_mirror)
}

impl SearchQuery for PlanQuery {
    const ROUTE: &'static str = "plans";

    fn canonical(&self) -> String {
        PlanQuery::canonical(self)
    }

    fn render(&self, catalog: &Catalog, links: Links<'_>) -> Vec<u8> {
        shapes::plan_page(catalog, &self.run(catalog), self, links)
    }
}

async fn plans_show(
    State(state): State<AppState>,
    PackageCode(code): PackageCode,
    _: Query<PlanParameters>,
    partner: Partner,
    market: Market,
    CatalogView { catalog, status }: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let index = catalog.index_of(&code).ok_or_else(|| {
        ApiError::NotFound(format!("no plan with packageCode {:?}", truncate(&code)))
    })?;
    let links = state.links(&partner).with_display(market.display.as_ref());
    let etag = respond::etag(&catalog, status.stale, "plan", &code, links);
    let max_age = respond::max_age(&state, &status);
    Ok(respond::cached(
        &state,
        &headers,
        &etag,
        max_age,
        JSON,
        || {
            let mut out = Vec::with_capacity(512);
            catalog.write_plan(&mut out, index, links, crate::catalog::PlanForm::Served);
            Payload::Plain(Body::from(out))
        },
    ))
}

/// Past this many plans the mirror is rendered while it is sent, never
/// whole per ref: a copy of a large catalog per slow reader would add up.
const STREAM_MIRROR_ABOVE: usize = 2_000;

async fn aggregator_mirror(
    State(state): State<AppState>,
    _: Query<RefOnly>,
    partner: Partner,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ref_code = partner.ref_code.as_ref();
    if view.catalog.len() > STREAM_MIRROR_ABOVE {
        let etag = respond::etag(
            &view.catalog,
            false,
            "mirror",
            "",
            Links::new(ref_code, None),
        );
        let max_age = respond::max_age(&state, &view.status);
        let (catalog, ref_code) = (view.catalog.clone(), partner.ref_code.clone());
        return Ok(respond::streamed(
            &state,
            &headers,
            &etag,
            max_age,
            JSON,
            |encoding, permit| {
                Body::new(super::pages::stream::StreamBody::mirror(
                    catalog, ref_code, encoding, permit,
                ))
            },
        ));
    }
    let key = PageKey {
        route: "mirror",
        query: "",
        links: Links::new(ref_code, None),
        with_catalog_block: false,
    };
    Ok(respond::page(&state, &headers, &view, key, || {
        let mut out = Vec::with_capacity(view.catalog.len() * 420 + 128);
        view.catalog.write_feed(&mut out, ref_code, &[]);
        out
    }))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
