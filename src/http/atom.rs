//! `GET /changes.atom`: the last catalog versions as an Atom 1.0 feed (SPEC
//! section 11), for feed readers and automation tools that poll feeds. Built
//! with `atom_syndication` from the version history.

use std::collections::BTreeMap;
use std::time::SystemTime;

use atom_syndication::{Content, Entry, Feed, FixedDateTime, Link, Person};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::extract::{CatalogView, FromQuery, Partner, Query};
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::catalog::CountryCode;
use crate::history::{Change, ChangeKind};
use crate::query::params::{QueryError, parse_countries, parse_pairs};
use crate::referral::{ProductUrl, RefCode};

/// Versions in the feed.
pub const VERSIONS: usize = 50;
/// Plans listed in one entry's content (the title counts them all).
const LISTED: usize = 100;

pub(super) fn routes() -> Routes {
    Routes::new().get("/changes.atom", changes_feed)
}

/// `country` (plans covering all of them) and the `ref` the Partner reads.
struct FeedQuery {
    countries: Vec<CountryCode>,
}

impl FromQuery for FeedQuery {
    fn from_query(raw: Option<&str>) -> Result<Self, QueryError> {
        let mut countries = Vec::new();
        for (name, value) in parse_pairs(raw, &["country", "ref"])? {
            if name == "country" {
                countries = parse_countries(&value)?;
            }
        }
        Ok(Self { countries })
    }
}

/// What an entry shows of a changed plan (read from its stored JSON).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanSummary {
    #[serde(default)]
    name: String,
    #[serde(default)]
    product_url: String,
    #[serde(default)]
    location_codes: Vec<String>,
}

fn summary(json: Option<&str>) -> Option<PlanSummary> {
    serde_json::from_str(json?).ok()
}

fn covers(plan: &Option<PlanSummary>, countries: &[CountryCode]) -> bool {
    plan.as_ref().is_some_and(|p| {
        countries.iter().all(|c| {
            p.location_codes
                .iter()
                .any(|l| l.eq_ignore_ascii_case(c.as_str()))
        })
    })
}

fn date_time(at: SystemTime) -> FixedDateTime {
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .fixed_offset()
}

fn link(href: String, rel: &str, mime: Option<&str>) -> Link {
    let mut link = Link::default();
    link.set_href(href);
    link.set_rel(rel);
    link.set_mime_type(mime.map(str::to_owned));
    link
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What one version's entry shows: its counts (after the filter) and the
/// first changed plans. Changes are streamed from the database into these,
/// so a version that changed 100,000 plans costs counting, not memory.
#[derive(Default)]
struct VersionSummary {
    added: usize,
    removed: usize,
    updated: usize,
    listed: Vec<(Change, Option<PlanSummary>)>,
}

impl VersionSummary {
    fn total(&self) -> usize {
        self.added + self.removed + self.updated
    }
}

/// One version's entry: counts in the title, the changed plans (with the
/// ref in their links) in the content.
fn entry(
    version: u64,
    at: SystemTime,
    summary: &VersionSummary,
    base: &str,
    ref_code: Option<&RefCode>,
) -> Entry {
    let (added, removed, updated) = (summary.added, summary.removed, summary.updated);
    let mut entry = Entry::default();
    entry.set_id(format!("urn:cmg-feed-proxy:version:{version}"));
    entry.set_title(format!(
        "Catalog version {version}: {added} added, {removed} removed, {updated} updated"
    ));
    entry.set_updated(date_time(at));
    entry.set_links(vec![link(
        format!("{base}/changes?since={}", version.saturating_sub(1)),
        "alternate",
        None,
    )]);
    let mut html = String::from("<ul>");
    for (change, plan) in &summary.listed {
        let name = plan.as_ref().map_or("", |p| p.name.as_str());
        let url = plan
            .as_ref()
            .and_then(|p| ProductUrl::parse(&p.product_url).ok())
            .map(|u| u.with_ref(ref_code));
        html.push_str(&format!("<li>{} ", escape(change.kind.as_str())));
        match url {
            Some(url) if change.kind != ChangeKind::Removed => html.push_str(&format!(
                "<a href=\"{}\">{}</a>",
                escape(&url),
                escape(name)
            )),
            _ => html.push_str(&escape(name)),
        }
        html.push_str(&format!(" ({})</li>", escape(&change.package_code)));
    }
    html.push_str("</ul>");
    if summary.total() > summary.listed.len() {
        html.push_str(&format!(
            "<p>and {} more: see the change feed.</p>",
            summary.total() - summary.listed.len()
        ));
    }
    let mut content = Content::default();
    content.set_content_type(Some("html".to_owned()));
    content.set_value(Some(html));
    entry.set_content(Some(content));
    entry
}

async fn changes_feed(
    State(state): State<AppState>,
    Query(query): Query<FeedQuery>,
    partner: Partner,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::history::require_recorded(&view)?;
    let versions = state.history.recent_versions(VERSIONS).await?;
    let mut by_version: BTreeMap<u64, VersionSummary> = BTreeMap::new();
    if let (Some((oldest, _)), Some((newest, _))) = (versions.last(), versions.first()) {
        let countries = &query.countries;
        state
            .history
            .scan_changes(oldest.saturating_sub(1), *newest, |change| {
                let after = summary(change.after.as_deref());
                let before = summary(change.before.as_deref());
                let kept =
                    countries.is_empty() || covers(&after, countries) || covers(&before, countries);
                if !kept {
                    return;
                }
                let version = by_version.entry(change.version).or_default();
                match change.kind {
                    ChangeKind::Added => version.added += 1,
                    ChangeKind::Removed => version.removed += 1,
                    ChangeKind::Updated => version.updated += 1,
                }
                if version.listed.len() < LISTED {
                    version.listed.push((change, after.or(before)));
                }
            })
            .await?;
    }
    let base = state.config.public_url.as_deref().unwrap_or("");
    let ref_code = partner.ref_code.as_ref();
    let entries: Vec<Entry> = versions
        .iter()
        .filter_map(|(version, at)| {
            let summary = by_version.remove(version).unwrap_or_default();
            (query.countries.is_empty() || summary.total() > 0)
                .then(|| entry(*version, *at, &summary, base, ref_code))
        })
        .collect();

    let mut feed = Feed::default();
    let filter: Vec<&str> = query.countries.iter().map(CountryCode::as_str).collect();
    feed.set_id(if filter.is_empty() {
        "urn:cmg-feed-proxy:changes".to_owned()
    } else {
        format!("urn:cmg-feed-proxy:changes:{}", filter.join(","))
    });
    feed.set_title(if filter.is_empty() {
        "eSIM catalog changes".to_owned()
    } else {
        format!("eSIM catalog changes for {}", filter.join(", "))
    });
    feed.set_updated(date_time(
        versions
            .first()
            .map_or(view.catalog.updated_at(), |(_, at)| *at),
    ));
    let mut author = Person::default();
    author.set_name("cmg-feed-proxy");
    feed.set_authors(vec![author]);
    let mut self_query = Vec::new();
    if !filter.is_empty() {
        self_query.push(format!("country={}", filter.join(",")));
    }
    if let Some(code) = ref_code {
        self_query.push(format!("ref={}", code.as_str()));
    }
    let self_href = if self_query.is_empty() {
        format!("{base}/changes.atom")
    } else {
        format!("{base}/changes.atom?{}", self_query.join("&"))
    };
    feed.set_links(vec![link(self_href, "self", Some("application/atom+xml"))]);
    feed.set_entries(entries);
    let bytes = feed.to_string().into_bytes();
    Ok(super::history::body_response(
        &state,
        &view,
        &headers,
        bytes,
        "application/atom+xml",
    ))
}
