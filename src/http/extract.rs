//! Cross-cutting inputs as extractors, each rejecting with [`ApiError`], so a
//! handler body is only its own logic: the typed query of a route, the
//! partner a request is made for, the catalog view (catalog and sync status
//! published together) and admin auth.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::{ApiError, AppState};
use crate::catalog::{Catalog, SyncStatus};
use crate::markets::{Display, Lang};
use crate::query::PlanQuery;
use crate::query::params::{QueryError, parse_currency, parse_ref};
pub(crate) use crate::query::routes::{
    NoParameters, PlaceParameters, PlanParameters, RefOnly, RefreshQuery,
};
use crate::referral::RefCode;
use crate::trips::TripQuery;

/// A query string parsed into a route's typed parameters.
pub(crate) trait FromQuery: Sized {
    fn from_query(raw: Option<&str>) -> Result<Self, QueryError>;
}

/// The parameter sets of `query::routes`, as extractors.
macro_rules! from_query {
    ($($ty:ty),*) => {$(
        impl FromQuery for $ty {
            fn from_query(raw: Option<&str>) -> Result<Self, QueryError> {
                <$ty>::parse(raw)
            }
        }
    )*};
}

from_query!(
    RefOnly,
    NoParameters,
    PlanParameters,
    PlaceParameters,
    RefreshQuery
);

impl FromQuery for PlanQuery {
    fn from_query(raw: Option<&str>) -> Result<Self, QueryError> {
        PlanQuery::parse(raw)
    }
}

impl FromQuery for TripQuery {
    fn from_query(raw: Option<&str>) -> Result<Self, QueryError> {
        TripQuery::parse(raw)
    }
}

/// The market a response is shown for (SPEC section 12): `currency`
/// resolved against the exchange rates in force, and `lang` negotiated
/// down to a served language. The one place both are parsed; put it after
/// the route's `Query<T>`, which decides whether the route takes them.
#[derive(Debug, Default)]
pub(super) struct Market {
    pub display: Option<Display>,
    pub lang: Option<Lang>,
}

impl Market {
    pub(super) fn from_raw(state: &AppState, raw: Option<&str>) -> Result<Self, ApiError> {
        let mut market = Self::default();
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "currency" => market.display = Some(display(state, &value)?),
                "lang" => {
                    market.lang =
                        Some(
                            Lang::negotiate(&value).map_err(|e| ApiError::InvalidParameter {
                                parameter: Some("lang".into()),
                                message: e.to_string(),
                            })?,
                        );
                }
                _ => {}
            }
        }
        Ok(market)
    }
}

/// `currency` as a [`Display`]: USD always; another currency when the rates
/// in force list it (400 when they do not, 503 before any rates).
fn display(state: &AppState, value: &str) -> Result<Display, ApiError> {
    let code = parse_currency(value)?;
    if code == "USD" {
        return Ok(Display::usd());
    }
    if state.config.rates_url.is_none() && !state.config.is_demo() {
        return Err(ApiError::InvalidParameter {
            parameter: Some("currency".into()),
            message: "display currencies are turned off on this server (RATES_URL=none); only USD is shown".into(),
        });
    }
    let rates = state.rates.get().ok_or(ApiError::RatesUnavailable)?;
    rates.display(&code).ok_or_else(|| {
        let listed: Vec<&str> = rates.currencies().collect();
        ApiError::InvalidParameter {
            parameter: Some("currency".into()),
            message: format!(
                "currency {code} is not in the reference rates of {}; available: {}",
                rates.date(),
                listed.join(", ")
            ),
        }
    })
}

impl FromRequestParts<AppState> for Market {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::from_raw(state, parts.uri.query())
    }
}

/// `Query<PlanQuery>`: the route's parameters, or the JSON 400 naming the one
/// at fault.
pub(super) struct Query<T>(pub T);

impl<T: FromQuery, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(T::from_query(parts.uri.query())?))
    }
}

/// The partner a request is made for (SPEC section 5) and the ref its links
/// carry: an explicit `ref` wins; without one, a registered partner's
/// `Origin` supplies its partner's ref. With a registry, a ref nobody owns is
/// `unknown_ref`. Requests attributed to a partner are counted per partner.
///
/// The one place a `ref` is parsed. Put it after the route's `Query<T>`,
/// which rejects unknown and repeated parameters first.
#[derive(Debug, Default)]
pub(super) struct Partner {
    pub ref_code: Option<RefCode>,
    /// The registry id, when the request is attributed to a registered partner.
    pub id: Option<String>,
}

impl Partner {
    /// The `ref` of a query string, if any.
    pub(super) fn explicit(raw: Option<&str>) -> Result<Option<RefCode>, QueryError> {
        url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .find(|(name, _)| name == "ref")
            .map(|(_, value)| parse_ref(&value))
            .transpose()
    }

    /// The partner, counted in `cmg_partner_requests_total`.
    pub(super) fn resolve(
        state: &AppState,
        explicit: Option<RefCode>,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let partner = Self::identify(state, explicit, headers)?;
        if let Some(id) = &partner.id {
            state.metrics.record_partner(id);
        }
        Ok(partner)
    }

    /// The partner, not counted (a check before the request that counts).
    pub(super) fn identify(
        state: &AppState,
        explicit: Option<RefCode>,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let Some(partners) = &state.partners else {
            return Ok(Self {
                ref_code: explicit,
                id: None,
            });
        };
        let registry = partners.load();
        let partner = match explicit {
            Some(code) => {
                let partner = registry
                    .by_ref(&code)
                    .ok_or_else(|| ApiError::UnknownRef(code.to_string()))?;
                Self {
                    id: Some(partner.id.clone()),
                    ref_code: Some(code),
                }
            }
            None => headers
                .get(header::ORIGIN)
                .and_then(|o| o.to_str().ok())
                .and_then(|o| registry.by_origin(o))
                .map(|p| Self {
                    ref_code: Some(p.ref_code.clone()),
                    id: Some(p.id.clone()),
                })
                .unwrap_or_default(),
        };
        Ok(partner)
    }
}

impl FromRequestParts<AppState> for Partner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let explicit = Self::explicit(parts.uri.query())?;
        Self::resolve(state, explicit, &parts.headers)
    }
}

/// The catalog a request reads and the status published with it; 503
/// `catalog_unavailable` before the first catalog.
pub(super) struct CatalogView {
    pub catalog: Arc<Catalog>,
    pub status: Arc<SyncStatus>,
}

impl FromRequestParts<AppState> for CatalogView {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::current(state)
    }
}

impl CatalogView {
    pub(super) fn current(state: &AppState) -> Result<Self, ApiError> {
        let published = state.store.view();
        let catalog = published
            .catalog
            .clone()
            .ok_or(ApiError::CatalogUnavailable)?;
        Ok(Self {
            catalog,
            status: published.status.clone(),
        })
    }
}

/// The `{packageCode}` of a plan route; a code that is not valid UTF-8 is
/// `invalid_parameter` naming `packageCode`.
pub(super) struct PackageCode(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PackageCode {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(code)| Self(code))
            .map_err(|_| ApiError::InvalidParameter {
                parameter: Some("packageCode".into()),
                message: "packageCode is not valid UTF-8".into(),
            })
    }
}

/// The token of `Authorization: Bearer TOKEN` (the scheme in any case), or
/// `""`.
pub(super) fn bearer_token(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
        .unwrap_or("")
}

/// `Authorization: Bearer ADMIN_TOKEN`, compared in constant time; 404 when
/// no token is configured (the admin route does not exist then), 401 otherwise.
pub(super) struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.config.admin_token else {
            return Err(ApiError::not_found_route());
        };
        let presented = bearer_token(&parts.headers);
        if token.constant_time_eq(presented.as_bytes()) {
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}
