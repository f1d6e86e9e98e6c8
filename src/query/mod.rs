//! `/plans`: the query parameters parsed into a typed, validated
//! [`PlanQuery`], and its evaluation against a [`Catalog`](crate::catalog::Catalog).
//! Pure: no HTTP here, only the names of the parameters at fault.
//!
//! * [`params`]: the query-string grammar every route shares (pairs, unknown
//!   and repeated names, the ignored `key`) and the value parsers several
//!   routes use (`ref`, numbers, `speed`). It lives here, not in `http`,
//!   because `/trips` parses with it and `trips` must not depend on `http`.
//! * `parse`: `/plans` parameters into a [`PlanQuery`], and its canonical form.
//! * `run`: evaluation (posting lists, binary-searched bounds, ranks).
//! * [`changes`]: `/changes` parameters and the [`changes::Cursor`] codec.
//! * [`routes`]: the small parameter sets of the other routes (`ref` only,
//!   none, `lang`/`currency`, the admin refresh's `accept_shrink`).

pub mod changes;
pub mod params;
mod parse;
pub mod routes;
mod run;

use crate::catalog::{CountryCode, SortKey};
use crate::markets::{Continent, Scope};

pub use params::{QueryError, parse_pairs};

/// Every parameter `/plans` accepts (`key` is accepted and ignored everywhere).
pub const PLAN_PARAMETERS: &[&str] = &[
    "country",
    "min_gb",
    "max_gb",
    "min_days",
    "max_days",
    "min_price",
    "max_price",
    "speed",
    "operator",
    "q",
    "sort",
    "limit",
    "offset",
    "ref",
    "scope",
    "region",
    "unlimited",
    "currency",
];

/// Every parameter the exports accept: those of `/plans` but `limit` and
/// `offset` (an export is every match), and `lang`.
pub static EXPORT_PARAMETERS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        PLAN_PARAMETERS
            .iter()
            .copied()
            .filter(|p| !matches!(*p, "limit" | "offset"))
            .chain(["lang"])
            .collect()
    });

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// Inclusive bounds on a number.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bounds {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Bounds {
    pub(super) fn contains(&self, value: f64) -> bool {
        self.min.is_none_or(|m| value >= m) && self.max.is_none_or(|m| value <= m)
    }

    pub(super) fn is_open(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }
}

/// A validated `/plans` query.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanQuery {
    /// Plans must cover all of these.
    pub countries: Vec<CountryCode>,
    pub gb: Bounds,
    pub days: Bounds,
    pub price: Bounds,
    /// Upper-cased generation tokens that must all be listed in `speed`.
    pub speed: Vec<String>,
    /// Lower-cased substring of `operator`.
    pub operator: Option<String>,
    /// A lower-cased phrase (white space collapsed) that must occur in the
    /// name, the operator or one of the location names.
    pub text: Option<String>,
    /// Only plans of this scope.
    pub scope: Option<Scope>,
    /// Only plans all of whose countries lie in this continent.
    pub region: Option<Continent>,
    /// `Some(true)`: only unlimited (0 GB) plans; `Some(false)`: none.
    pub unlimited: Option<bool>,
    pub sort: SortKey,
    pub limit: usize,
    pub offset: usize,
}

impl Default for PlanQuery {
    fn default() -> Self {
        Self {
            countries: Vec::new(),
            gb: Bounds::default(),
            days: Bounds::default(),
            price: Bounds::default(),
            speed: Vec::new(),
            operator: None,
            text: None,
            scope: None,
            region: None,
            unlimited: None,
            sort: SortKey::default(),
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// The result of a query: the true total and one page of plan indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub total: usize,
    pub page: Vec<u32>,
}
