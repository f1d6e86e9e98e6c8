//! `GET /trips`: the cheapest ways to cover a multi-country itinerary.

use super::pages::respond::{self, SearchQuery};
use super::pages::shapes;
use super::routes::Routes;
use crate::catalog::{Catalog, Links};
use crate::trips::TripQuery;

pub(super) fn routes() -> Routes {
    Routes::new().get("/trips", respond::search::<TripQuery>)
}

impl SearchQuery for TripQuery {
    const ROUTE: &'static str = "trips";

    fn canonical(&self) -> String {
        TripQuery::canonical(self)
    }

    fn render(&self, catalog: &Catalog, links: Links<'_>) -> Vec<u8> {
        shapes::trip_quote(catalog, self, &self.run(catalog), links)
    }
}
