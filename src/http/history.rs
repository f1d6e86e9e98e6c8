//! `GET /changes` (the change feed) and `GET /plans/{packageCode}/history`
//! (price history with the EU "lowest price in 30 days"). Both read the
//! history database; ETags are a hash of the body, so replicas sharing one
//! PostgreSQL give equal tags for equal answers.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;

use super::extract::{CatalogView, FromQuery, NoParameters, PackageCode, Query};
use super::pages::encoding::Page;
use super::pages::respond::{self, JSON, Payload};
use super::pages::shapes;
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::history::{self, Change};
use crate::query::params::{QueryError, parse_int, parse_pairs};

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/changes", changes_list)
        .get("/plans/{packageCode}/history", history_show)
}

pub const DEFAULT_CHANGES: usize = 500;
pub const MAX_CHANGES: usize = 1000;

/// Where a page of changes starts.
#[derive(Debug, PartialEq)]
struct ChangesQuery {
    since: u64,
    after: Option<(u64, String)>,
    limit: usize,
}

impl FromQuery for ChangesQuery {
    fn from_query(raw: Option<&str>) -> Result<Self, QueryError> {
        parse_changes_query(raw)
    }
}

fn parse_changes_query(raw: Option<&str>) -> Result<ChangesQuery, QueryError> {
    let mut since = None;
    let mut cursor = None;
    let mut limit = DEFAULT_CHANGES;
    for (name, value) in parse_pairs(raw, &["since", "cursor", "limit"])? {
        match name.as_str() {
            "since" => since = Some(parse_int(&name, &value, 0, i64::MAX as usize)? as u64),
            "cursor" => {
                cursor = Some(decode_cursor(&value).ok_or_else(|| {
                    QueryError::invalid(
                        "cursor",
                        "cursor must be the next value of a previous page",
                    )
                })?)
            }
            "limit" => limit = parse_int(&name, &value, 1, MAX_CHANGES)?,
            _ => unreachable!("parse_pairs only lets accepted names through"),
        }
    }
    match (since, cursor) {
        (Some(_), Some(_)) => Err(QueryError::invalid(
            "cursor",
            "give either since or cursor, not both",
        )),
        (None, None) => Err(QueryError::invalid(
            "since",
            "since is required (a version number), unless cursor is given",
        )),
        (Some(since), None) => Ok(ChangesQuery {
            since,
            after: None,
            limit,
        }),
        (None, Some((since, version, code))) => Ok(ChangesQuery {
            since,
            after: Some((version, code)),
            limit,
        }),
    }
}

/// `since.version.packageCode`, hex-encoded so it is opaque and URL-safe.
fn encode_cursor(since: u64, version: u64, code: &str) -> String {
    format!("{since}.{version}.{code}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(raw: &str) -> Option<(u64, u64, String)> {
    if raw.len() % 2 != 0 || raw.len() > 512 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..raw.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(raw.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let mut parts = text.splitn(3, '.');
    let since = parts.next()?.parse::<u64>().ok()?;
    let version = parts.next()?.parse::<u64>().ok()?;
    let code = parts.next()?.to_owned();
    (version > since && since <= i64::MAX as u64 && version <= i64::MAX as u64)
        .then_some((since, version, code))
}

/// The version in use has no recorded changes yet (the database was slow
/// or down when it came): answering now would skip them.
pub(super) fn require_recorded(view: &CatalogView) -> Result<(), ApiError> {
    if view.catalog.is_recorded() {
        Ok(())
    } else {
        Err(ApiError::HistoryUnavailable(
            "the current catalog version is not recorded yet; retry shortly",
        ))
    }
}

async fn changes_list(
    State(state): State<AppState>,
    Query(query): Query<ChangesQuery>,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_recorded(&view)?;
    let current = view.catalog.version();
    if query.since > current {
        return Err(ApiError::InvalidParameter {
            parameter: Some("since".into()),
            message: format!(
                "since {} is above the current version {current}",
                query.since
            ),
        });
    }
    if query.since < current {
        let oldest = state.history.oldest_kept().await?;
        if !history::changes_kept_after(query.since, oldest) {
            let kept = oldest.map_or("no version is kept".to_owned(), |(v, _)| {
                format!("the oldest kept version is {v}")
            });
            return Err(ApiError::HistoryExpired(format!(
                "changes after version {} are no longer kept; {kept}",
                query.since
            )));
        }
    }
    let page = state
        .history
        .changes(
            query.since,
            current,
            query.after.as_ref().map(|(v, c)| (*v, c.as_str())),
            query.limit,
        )
        .await?;
    let next = page
        .more
        .then(|| page.changes.last())
        .flatten()
        .map(|c: &Change| encode_cursor(query.since, c.version, &c.package_code));
    let bytes = shapes::changes_page(query.since, current, &page.changes, next);
    Ok(body_response(&state, &view, &headers, bytes, JSON))
}

async fn history_show(
    State(state): State<AppState>,
    PackageCode(code): PackageCode,
    _: Query<NoParameters>,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_recorded(&view)?;
    let prices = state.history.prices(&code).await?;
    if prices.is_empty() {
        let shown: String = code.chars().take(64).collect();
        return Err(ApiError::NotFound(format!(
            "no price history for packageCode {shown:?}"
        )));
    }
    let lowest = history::lowest_price_30d(&prices, SystemTime::now());
    let bytes = shapes::price_history(&code, &prices, lowest);
    Ok(body_response(&state, &view, &headers, bytes, JSON))
}

/// A body with a weak ETag derived from its bytes.
pub(super) fn body_response(
    state: &AppState,
    view: &CatalogView,
    headers: &HeaderMap,
    bytes: Vec<u8>,
    content_type: &'static str,
) -> Response {
    let etag = format!("W/\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&bytes));
    let max_age = respond::max_age(state, &view.status);
    respond::cached(state, headers, &etag, max_age, content_type, || {
        Payload::Page(Arc::new(Page::new(Bytes::from(bytes))), Bytes::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let cursor = encode_cursor(3, 5, "DE-5GB.x");
        assert_eq!(decode_cursor(&cursor), Some((3, 5, "DE-5GB.x".into())));
        for bad in [
            "",
            "zz",
            "abc",
            &encode_cursor(5, 5, "x"),
            &"00".repeat(300),
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_or_cursor_is_required_and_limits_are_bounded() {
        let parameter = |raw: &str| match parse_changes_query(Some(raw)) {
            Err(QueryError::Invalid { parameter, .. }) => parameter,
            other => panic!("{raw}: {other:?}"),
        };
        assert_eq!(parameter(""), "since");
        assert_eq!(parameter("since=-1"), "since");
        assert_eq!(parameter("since=1.5"), "since");
        assert_eq!(parameter("since=1&limit=0"), "limit");
        assert_eq!(parameter("since=1&limit=1001"), "limit");
        assert_eq!(parameter("cursor=zz"), "cursor");
        assert_eq!(parameter("since=1&cursor=31"), "cursor");
        assert_eq!(
            parse_changes_query(Some("since=0")).unwrap(),
            ChangesQuery {
                since: 0,
                after: None,
                limit: DEFAULT_CHANGES
            }
        );
    }
}
