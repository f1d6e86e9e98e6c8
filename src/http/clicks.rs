//! `GET /go/{packageCode}`: the Buy link that redirects to the plan's own
//! `productUrl` with the ref and records a click; `GET /admin/clicks` and
//! `GET /partner/clicks`: the click reports (SPEC section 10).

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::extract::{AdminAuth, CatalogView, PackageCode, Partner};
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::clicks::report::{Format, Viewer};
use crate::clicks::{LABELS, ReportQuery, Visit, is_label};
use crate::query::params::{QueryError, decode, parse_ref};
use crate::referral::RefCode;

pub(super) fn routes() -> Routes {
    Routes::new().get("/go/{packageCode}", go)
}

/// The reports: behind the client limits, answered from the database.
pub(super) fn report_routes() -> Routes {
    Routes::new()
        .get("/admin/clicks", admin_clicks)
        .get("/partner/clicks", partner_clicks)
}

/// What a `/go` query carries. Only `ref` is strict (a wrong ref would
/// credit the wrong partner); a malformed label is absent and counted;
/// parameters the route does not know (`gclid`, `fbclid`…) are ignored.
#[derive(Debug, Default, PartialEq)]
struct GoQuery {
    ref_code: Option<RefCode>,
    labels: [Option<String>; 8],
    /// Malformed (or repeated) label values.
    invalid: u64,
}

impl GoQuery {
    fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        let mut query = Self::default();
        let mut refs = 0;
        let mut seen = [0u8; 8];
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Ok(name) = decode(name) else { continue };
            if name == "ref" {
                refs += 1;
                if refs > 1 {
                    return Err(QueryError::invalid("ref", "ref is given more than once"));
                }
                let value = decode(value).map_err(|_| {
                    QueryError::invalid("ref", "ref must be valid UTF-8 once percent-decoded")
                })?;
                query.ref_code = Some(parse_ref(&value)?);
            } else if let Some(i) = LABELS.iter().position(|l| *l == name) {
                seen[i] = seen[i].saturating_add(1);
                match decode(value) {
                    Ok(value) if seen[i] == 1 && is_label(&value) => {
                        query.labels[i] = Some(value);
                    }
                    _ => {
                        // Malformed, or given twice: neither value is trusted.
                        query.invalid += 1;
                        query.labels[i] = None;
                    }
                }
            }
        }
        Ok(query)
    }
}

/// Whether `Accept` ranks `text/html` above `application/json` (a browser
/// following a stale link gets a page, an API client JSON).
fn prefers_html(headers: &HeaderMap) -> bool {
    let ranges: Vec<(String, f32)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (media, q)
        })
        .collect();
    // The most specific range that matches decides a type's quality.
    let quality = |kind: &str, full: &str| {
        let mut best: Option<(u8, f32)> = None;
        for (media, q) in &ranges {
            let specificity = if media == full {
                3
            } else if media.strip_suffix("/*") == Some(kind) {
                2
            } else if media == "*/*" {
                1
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, *q));
            }
        }
        best.map_or(0.0, |(_, q)| q)
    };
    let html = quality("text", "text/html");
    html > 0.0 && html > quality("application", "application/json")
}

fn not_found_page(code: &str) -> Response {
    let shown: String = code.chars().take(64).collect();
    let escaped = shown
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\"><title>Plan not found</title>\
         <h1>This plan is no longer available</h1>\
         <p>The plan {escaped} is not in the catalog any more. Go back to the shop to choose another one.</p></html>\n"
    );
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn go(
    State(state): State<AppState>,
    PackageCode(code): PackageCode,
    parts: Parts,
) -> Result<Response, ApiError> {
    let query = GoQuery::parse(parts.uri.query())?;
    // A navigation carries no Origin: only an explicit ref counts.
    let partner = Partner::resolve(&state, query.ref_code.clone(), &HeaderMap::new())?;
    let CatalogView { catalog, .. } = CatalogView::current(&state)?;
    let Some(index) = catalog.index_of(&code) else {
        if prefers_html(&parts.headers) {
            return Ok(not_found_page(&code));
        }
        return Err(ApiError::NotFound(format!(
            "no plan with packageCode {:?}",
            code.chars().take(64).collect::<String>()
        )));
    };
    let target = catalog.product_url(index, partner.ref_code.as_ref());
    let location = HeaderValue::from_str(&target)
        .map_err(|_| ApiError::NotFound(format!("plan {:?} has no usable productUrl", code)))?;
    if query.invalid > 0 {
        state.clicks.metrics().count_invalid(query.invalid);
    }
    let headers = &parts.headers;
    let prefetch = ["sec-purpose", "purpose", "x-moz", "x-purpose"]
        .iter()
        .any(|name| {
            headers
                .get_all(*name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.to_ascii_lowercase().contains("prefetch"))
        });
    state.clicks.record(Visit {
        partner: partner.id.clone(),
        ref_code: partner.ref_code.as_ref().map(|r| r.as_str().to_owned()),
        package_code: code,
        countries: catalog
            .countries_of(index)
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        labels: query.labels,
        address: super::edge::client_address(
            headers,
            &parts.extensions,
            state.config.trust_forwarded_for,
        ),
        user_agent: headers
            .get(header::USER_AGENT)
            .map_or(&b""[..], HeaderValue::as_bytes),
        prefetch,
    });
    Ok(Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::REFERRER_POLICY, "no-referrer-when-downgrade")
        .body(Body::empty())
        .expect("valid redirect"))
}

async fn admin_clicks(
    State(state): State<AppState>,
    _: AdminAuth,
    parts: Parts,
) -> Result<Response, ApiError> {
    let query = ReportQuery::parse(parts.uri.query(), Viewer::Admin, state.clicks.today())?;
    report(&state, &query).await
}

/// A partner's own report: `Authorization: Bearer TOKEN` whose SHA-256 is
/// its `token_sha256`. Any other token, or none, is 401.
async fn partner_clicks(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let token = super::extract::bearer_token(&parts.headers);
    let partner_id = state
        .partners
        .as_ref()
        .filter(|_| !token.is_empty())
        .and_then(|registry| registry.load().by_token(token).map(|p| p.id.clone()))
        .ok_or(ApiError::Unauthorized)?;
    let query = ReportQuery::parse(
        parts.uri.query(),
        Viewer::Partner(&partner_id),
        state.clicks.today(),
    )?;
    report(&state, &query).await
}

async fn report(state: &AppState, query: &ReportQuery) -> Result<Response, ApiError> {
    let report = state.clicks.report(query).await.map_err(|e| {
        tracing::warn!(error.cause_chain = %crate::history::describe(&e), "cannot read the click report");
        ApiError::HistoryUnavailable("the click database cannot answer right now; retry shortly")
    })?;
    let (body, content_type) = match query.format {
        Format::Json => (report.to_json(), "application/json"),
        Format::Csv => (report.to_csv(), "text/csv; charset=utf-8"),
    };
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        // Private to its reader: never stored by a shared cache.
        .header(header::CACHE_CONTROL, "private, no-store")
        .header(header::VARY, "Authorization");
    if query.format == Format::Csv {
        let name = format!(
            "clicks-{}-{}-{}.csv",
            report.from, report.to, report.group_by
        );
        response = response.header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        );
    }
    Ok(response.body(Body::from(body)).expect("valid report"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_go_query_is_strict_on_ref_and_lenient_on_everything_else() {
        let q = GoQuery::parse(Some(
            "ref=acme-01&subid=home&subid3=bad%20value&gclid=x&fbclid=y&utm_campaign=spring.26&key=k",
        ))
        .unwrap();
        assert_eq!(q.ref_code.as_ref().map(RefCode::as_str), Some("acme-01"));
        assert_eq!(q.labels[0].as_deref(), Some("home"));
        assert_eq!(q.labels[2], None);
        assert_eq!(q.labels[7].as_deref(), Some("spring.26"));
        assert_eq!(q.invalid, 1);
        let q = GoQuery::parse(Some("subid=a&subid=b&subid2=%ff&subid4=")).unwrap();
        assert_eq!(
            (q.labels[0].clone(), q.labels[1].clone(), q.invalid),
            (None, None, 3)
        );
        for bad in ["ref=", "ref=-x", "ref=a%20b", "ref=%ff", "ref=a&ref=b"] {
            assert!(
                matches!(GoQuery::parse(Some(bad)), Err(QueryError::Invalid { ref parameter, .. }) if parameter == "ref"),
                "{bad}"
            );
        }
        assert_eq!(GoQuery::parse(None).unwrap(), GoQuery::default());
    }

    #[test]
    fn html_is_preferred_only_when_accept_ranks_it_above_json() {
        let prefers = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, accept.parse().unwrap());
            prefers_html(&headers)
        };
        assert!(prefers(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(prefers("text/html"));
        assert!(!prefers("application/json"));
        assert!(!prefers("*/*"));
        assert!(!prefers("application/json, text/html;q=0.5"));
        assert!(!prefers("text/html;q=0.5, application/json"));
        assert!(!prefers("text/html;q=0"));
        assert!(!prefers_html(&HeaderMap::new()));
    }
}
