//! Signed webhooks for catalog changes (SPEC section 11): the endpoints of
//! `PARTNERS_FILE`, the messages a new version makes for them, Standard
//! Webhooks signing, and delivery from the outbox.
//!
//! * here: endpoints (parsed and validated with the registry), events, and
//!   the pure rule that turns a version's changes into messages;
//! * `outbox`: the `webhook_messages` table: written in the version's own
//!   transaction (`history::write`), claimed with a lease by the sender;
//! * `deliver`: the sender: signing, the guarded HTTP client, retries.

pub mod deliver;
pub mod outbox;

use std::path::PathBuf;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::referral::{ProductUrl, RefCode};

/// What an endpoint may subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    CatalogUpdated,
    PlanAdded,
    PlanPriceDropped,
}

impl Event {
    pub const ALL: [Self; 3] = [
        Self::CatalogUpdated,
        Self::PlanAdded,
        Self::PlanPriceDropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CatalogUpdated => "catalog.updated",
            Self::PlanAdded => "plan.added",
            Self::PlanPriceDropped => "plan.price_dropped",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }
}

/// A `[[partner.webhook]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookToml {
    url: String,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    events: Vec<String>,
    #[serde(default)]
    countries: Vec<String>,
    min_drop_percent: Option<f64>,
}

/// The signing key: the bytes of the base64 after `whsec_`. Never printed.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    /// `whsec_` + base64 of at least 24 bytes (Standard Webhooks).
    pub fn parse(secret: &str) -> Result<Self, String> {
        let encoded = secret
            .trim()
            .strip_prefix("whsec_")
            .ok_or("must start with whsec_ (Standard Webhooks)")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "must be whsec_ followed by base64")?;
        if bytes.len() < 24 {
            return Err("must hold at least 24 random bytes after whsec_".into());
        }
        Ok(Self(bytes))
    }

    /// `v1,BASE64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let signature = mac.finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(signature)
        )
    }
}

/// One endpoint of a partner.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Stable across replicas and restarts: the partner and the URL.
    pub id: String,
    pub partner: String,
    pub ref_code: RefCode,
    pub url: url::Url,
    pub key: SigningKey,
    pub events: Vec<Event>,
    /// Only plans covering one of these (upper case); empty is every plan.
    pub countries: Vec<String>,
    pub min_drop_percent: Option<f64>,
}

impl Endpoint {
    /// Validates one table; the message names what is wrong, never the secret.
    pub fn from_toml(partner: &str, ref_code: &RefCode, raw: WebhookToml) -> Result<Self, String> {
        let url = url::Url::parse(raw.url.trim()).map_err(|e| format!("url is not a URL ({e})"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err("url must be an https:// URL".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("url must not carry a user name or password".into());
        }
        let secret = match (&raw.secret, &raw.secret_file) {
            (Some(secret), None) => secret.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("secret_file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (Some(_), Some(_)) => return Err("give secret or secret_file, not both".into()),
            (None, None) => return Err("secret (or secret_file) is required".into()),
        };
        let key = SigningKey::parse(&secret).map_err(|e| format!("secret {e}"))?;
        if raw.events.is_empty() {
            return Err("events must list at least one event".into());
        }
        let mut events = Vec::new();
        for name in &raw.events {
            let event = Event::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
                format!("unknown event {name:?}; events are {}", known.join(", "))
            })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        let mut countries = Vec::new();
        for country in &raw.countries {
            let code = crate::catalog::CountryCode::parse(country.trim()).ok_or_else(|| {
                format!("countries: {country:?} is not a two-letter country code")
            })?;
            countries.push(code.as_str().to_owned());
        }
        if let Some(p) = raw.min_drop_percent {
            if !(p.is_finite() && (0.0..=100.0).contains(&p)) {
                return Err("min_drop_percent must be between 0 and 100".into());
            }
        }
        let id = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(format!("{partner}\n{url}").as_bytes())
        );
        Ok(Self {
            id,
            partner: partner.to_owned(),
            ref_code: ref_code.clone(),
            url,
            key,
            events,
            countries,
            min_drop_percent: raw.min_drop_percent,
        })
    }

    /// `http://` needs `WEBHOOK_ALLOW_PRIVATE` (a test or internal receiver).
    pub fn check_scheme(&self, allow_private: bool) -> Result<(), String> {
        if self.url.scheme() == "http" && !allow_private {
            return Err(format!(
                "webhook url {} must be https:// (http:// only with WEBHOOK_ALLOW_PRIVATE)",
                self.shown_url()
            ));
        }
        Ok(())
    }

    /// The URL without its query (which may hold a receiver's token).
    pub fn shown_url(&self) -> String {
        let mut url = self.url.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.to_string()
    }

    fn wants(&self, event: Event) -> bool {
        self.events.contains(&event)
    }

    fn covers(&self, plan: &Value) -> bool {
        self.countries.is_empty()
            || plan["locationCodes"].as_array().is_some_and(|codes| {
                codes.iter().filter_map(Value::as_str).any(|c| {
                    self.countries
                        .iter()
                        .any(|wanted| wanted.eq_ignore_ascii_case(c))
                })
            })
    }

    /// The plan as on `/plans/{code}` with this partner's ref, from its
    /// stored (upstream) JSON.
    fn plan_for(&self, stored: &Value) -> Value {
        let mut plan = stored.clone();
        if let Some(url) = plan["productUrl"]
            .as_str()
            .and_then(|u| ProductUrl::parse(u).ok())
        {
            plan["productUrl"] = Value::String(url.with_ref(Some(&self.ref_code)));
        }
        let price = plan["retailPrice"].as_f64().unwrap_or(0.0);
        let gb = plan["dataAmount"].as_f64().unwrap_or(0.0);
        plan["pricePerGb"] =
            crate::catalog::price_per_gb(price, gb).map_or(Value::Null, |v| json!(v));
        plan
    }
}

/// One changed plan of a version, as stored.
pub struct ChangedPlan<'a> {
    pub code: &'a str,
    pub kind: crate::history::ChangeKind,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

/// A message to store in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    /// Stable: the same version, endpoint, event and plan give the same id.
    pub id: String,
    pub endpoint: String,
    pub partner: String,
    pub event: &'static str,
    pub body: String,
}

/// What a new version sends to `endpoint` (SPEC section 11). `lowest` gives
/// a plan's lowest price of the last 30 days.
pub fn messages(
    endpoint: &Endpoint,
    version: u64,
    previous: u64,
    timestamp: &str,
    changes: &[ChangedPlan<'_>],
    public_url: Option<&str>,
    lowest: &dyn Fn(&str) -> Option<f64>,
) -> Vec<NewMessage> {
    let parse = |json: Option<&str>| json.and_then(|j| serde_json::from_str::<Value>(j).ok());
    let mut out = Vec::new();
    let message = |event: Event, key: &str, data: Value| {
        let id = format!(
            "msg_{:032x}",
            xxhash_rust::xxh3::xxh3_128(
                format!("{}\n{version}\n{}\n{key}", endpoint.id, event.as_str()).as_bytes()
            )
        );
        let body =
            json!({"type": event.as_str(), "timestamp": timestamp, "data": data}).to_string();
        NewMessage {
            id,
            endpoint: endpoint.id.clone(),
            partner: endpoint.partner.clone(),
            event: event.as_str(),
            body,
        }
    };
    let (mut added, mut removed, mut updated) = (0u64, 0u64, 0u64);
    for change in changes {
        let (before, after) = (parse(change.before), parse(change.after));
        let covered = [&before, &after]
            .iter()
            .any(|p| p.as_ref().is_some_and(|p| endpoint.covers(p)));
        if !covered {
            continue;
        }
        match change.kind {
            crate::history::ChangeKind::Added => {
                added += 1;
                if let (true, Some(plan)) = (endpoint.wants(Event::PlanAdded), &after) {
                    out.push(message(
                        Event::PlanAdded,
                        change.code,
                        json!({"packageCode": change.code, "plan": endpoint.plan_for(plan)}),
                    ));
                }
            }
            crate::history::ChangeKind::Removed => removed += 1,
            crate::history::ChangeKind::Updated => {
                updated += 1;
                let (Some(before), Some(after)) = (&before, &after) else {
                    continue;
                };
                let cents =
                    |p: &Value| (p["retailPrice"].as_f64().unwrap_or(0.0) * 100.0).round() as i64;
                let (was, now) = (cents(before), cents(after));
                let dropped = now < was
                    && endpoint
                        .min_drop_percent
                        .is_none_or(|min| ((was - now) as f64) * 100.0 >= min * was as f64);
                if dropped && endpoint.wants(Event::PlanPriceDropped) {
                    out.push(message(
                        Event::PlanPriceDropped,
                        change.code,
                        json!({
                            "packageCode": change.code,
                            "before": before["retailPrice"],
                            "after": after["retailPrice"],
                            "lowestPrice30d": lowest(change.code),
                            "plan": endpoint.plan_for(after),
                        }),
                    ));
                }
            }
        }
    }
    if endpoint.wants(Event::CatalogUpdated) && added + removed + updated > 0 {
        let changes_url = format!("{}/changes?since={previous}", public_url.unwrap_or(""));
        out.insert(
            0,
            message(
                Event::CatalogUpdated,
                "",
                json!({
                    "version": version, "previous": previous,
                    "added": added, "removed": removed, "updated": updated,
                    "changesUrl": changes_url,
                }),
            ),
        );
    }
    out
}
