//! `GET /export/plans.csv` and `GET /export/plans.ndjson` (SPEC section 12):
//! every plan matching the `/plans` filters, for feed importers. Streamed
//! from the shared catalog a chunk at a time (`mirror::StreamBody`), so
//! memory stays flat whatever the catalog size: the body is never whole in
//! memory, only the list of matching plan indexes (4 bytes a plan).

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde::Deserialize;

use super::extract::{CatalogView, FromQuery, Market, Partner, Query};
use super::pages::respond;
use super::pages::stream::{CHUNK, Source, StreamBody};
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::catalog::{Catalog, Links};
use crate::markets::{Display, Lang, cldr};
use crate::query::{PlanQuery, QueryError};
use crate::referral::RefCode;

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/export/plans.csv", export_route::<true>)
        .get("/export/plans.ndjson", export_route::<false>)
}

/// The CSV columns, in order (SPEC section 12).
pub(crate) const CSV_COLUMNS: [&str; 15] = [
    "packageCode",
    "name",
    "productUrl",
    "clickUrl",
    "countries",
    "countryNames",
    "dataGb",
    "days",
    "speed",
    "operator",
    "priceUsd",
    "pricePerGbUsd",
    "scope",
    "displayCurrency",
    "displayPrice",
];

/// An export's parameters: the `/plans` filters and sort, no page.
pub(super) struct ExportQuery(PlanQuery);

impl FromQuery for ExportQuery {
    fn from_query(raw: Option<&str>) -> Result<Self, QueryError> {
        PlanQuery::parse_export(raw).map(Self)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            Self::Csv => "attachment; filename=\"plans.csv\"",
            Self::Ndjson => "attachment; filename=\"plans.ndjson\"",
        }
    }

    fn route(self) -> &'static str {
        match self {
            Self::Csv => "export.csv",
            Self::Ndjson => "export.ndjson",
        }
    }
}

/// Either export: `CSV` picks the format (one handler, two routes).
async fn export_route<const CSV: bool>(
    State(state): State<AppState>,
    Query(ExportQuery(query)): Query<ExportQuery>,
    partner: Partner,
    market: Market,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = if CSV { Format::Csv } else { Format::Ndjson };
    export(format, &state, query, (partner, market), view, &headers)
}

fn export(
    format: Format,
    state: &AppState,
    query: PlanQuery,
    (partner, market): (Partner, Market),
    view: CatalogView,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let CatalogView { catalog, status } = view;
    let links = state.links(&partner).with_display(market.display.as_ref());
    // `lang` changes CSV names only; it is part of the validator for both.
    let canonical = format!(
        "{}|{}",
        query.canonical(),
        market.lang.map_or("", Lang::as_str)
    );
    let etag = respond::etag(&catalog, false, format.route(), &canonical, links);
    let max_age = respond::max_age(state, &status);
    let click_base = state.config.public_url.clone();
    let mut response = respond::streamed(
        state,
        headers,
        &etag,
        max_age,
        format.content_type(),
        move |encoding, permit| {
            let plans = query.run(&catalog).page;
            let source = ExportSource {
                catalog,
                plans,
                next: 0,
                format,
                ref_code: partner.ref_code,
                click_base,
                display: market.display,
                lang: market.lang,
                scratch: Vec::with_capacity(1024),
            };
            Body::new(StreamBody::new(Box::new(source), encoding, permit))
        },
    );
    if response.status().is_success() {
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static(format.file_name()),
        );
    }
    Ok(response)
}

/// The matching plans, rendered a chunk at a time.
struct ExportSource {
    catalog: Arc<Catalog>,
    plans: Vec<u32>,
    next: usize,
    format: Format,
    ref_code: Option<RefCode>,
    click_base: Option<String>,
    display: Option<Display>,
    lang: Option<Lang>,
    /// One plan's JSON, for the CSV row made from it.
    scratch: Vec<u8>,
}

impl Source for ExportSource {
    fn render(&mut self, out: &mut Vec<u8>) -> bool {
        let links = Links {
            ref_code: self.ref_code.as_ref(),
            click_base: self.click_base.as_deref(),
            display: self.display.as_ref(),
        };
        if self.format == Format::Csv && self.next == 0 {
            write_csv_record(out, CSV_COLUMNS.iter().map(|c| Cow::Borrowed(*c)));
        }
        while self.next < self.plans.len() && out.len() < CHUNK {
            let index = self.plans[self.next];
            self.next += 1;
            match self.format {
                Format::Ndjson => {
                    self.catalog
                        .write_plan(out, index, links, crate::catalog::PlanForm::Served);
                    out.push(b'\n');
                }
                Format::Csv => {
                    self.scratch.clear();
                    self.catalog.write_plan(
                        &mut self.scratch,
                        index,
                        links,
                        crate::catalog::PlanForm::Served,
                    );
                    let row: PlanRow =
                        serde_json::from_slice(&self.scratch).expect("a rendered plan parses");
                    write_csv_record(out, row.cells(self.lang));
                }
            }
        }
        self.next >= self.plans.len()
    }
}

/// The fields of a rendered plan a CSV row shows.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanRow<'a> {
    #[serde(borrow)]
    package_code: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    product_url: Cow<'a, str>,
    #[serde(borrow, default)]
    click_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    location_codes: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    location_names: Vec<Cow<'a, str>>,
    data_amount: f64,
    duration: u32,
    #[serde(borrow)]
    speed: Cow<'a, str>,
    #[serde(borrow)]
    operator: Cow<'a, str>,
    retail_price: f64,
    price_per_gb: Option<f64>,
    #[serde(borrow)]
    scope: Cow<'a, str>,
    #[serde(default)]
    display: Option<DisplayRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DisplayRow {
    currency: String,
    retail_price: f64,
}

impl<'a> PlanRow<'a> {
    /// The cells in [`CSV_COLUMNS`] order: lists joined by `|`, absent
    /// values empty, country names in `lang` when given.
    fn cells(self, lang: Option<Lang>) -> impl Iterator<Item = Cow<'a, str>> {
        let names: Vec<Cow<'a, str>> = match lang {
            None => self.location_names,
            Some(lang) => {
                let cldr = cldr::data();
                self.location_codes
                    .iter()
                    .enumerate()
                    .map(|(i, code)| match cldr.country_name(lang, code) {
                        Some(name) => Cow::Owned(name.to_owned()),
                        None => self
                            .location_names
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| code.clone()),
                    })
                    .collect()
            }
        };
        let (currency, price) = match self.display {
            Some(d) => (
                Cow::Owned(d.currency),
                Cow::Owned(d.retail_price.to_string()),
            ),
            None => (Cow::Borrowed(""), Cow::Borrowed("")),
        };
        [
            self.package_code,
            self.name,
            self.product_url,
            self.click_url.unwrap_or_default(),
            Cow::Owned(self.location_codes.join("|")),
            Cow::Owned(names.join("|")),
            Cow::Owned(self.data_amount.to_string()),
            Cow::Owned(self.duration.to_string()),
            self.speed,
            self.operator,
            Cow::Owned(self.retail_price.to_string()),
            Cow::Owned(self.price_per_gb.map(|p| p.to_string()).unwrap_or_default()),
            self.scope,
            currency,
            price,
        ]
        .into_iter()
    }
}

/// One RFC 4180 record (quoted where needed, CRLF), by the `csv` crate.
fn write_csv_record<'a>(out: &mut Vec<u8>, cells: impl Iterator<Item = Cow<'a, str>>) {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    let cells: Vec<Cow<'a, str>> = cells.collect();
    writer
        .write_record(cells.iter().map(|c| c.as_bytes()))
        .expect("writing to a Vec");
    writer.flush().expect("writing to a Vec");
}
