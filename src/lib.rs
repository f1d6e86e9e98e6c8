//! cmg-feed-proxy: holds the ConnectMeGuru key server-side, keeps the eSIM plan
//! catalog in memory, refreshes it in the background and serves fast, filtered,
//! per-partner views of it.
//!
//! # Layout
//!
//! The data path reads in one direction: `upstream -> catalog -> query -> http`.
//!
//! * [`config`]: command line / environment parsing into a validated [`config::Config`].
//! * [`secret`]: the key, admin token and database password, and the one scrubber.
//! * [`telemetry`]: the tracing subscriber (pretty or JSON) with a secret-scrubbing writer.
//! * [`metrics`]: a small Prometheus registry with bounded labels.
//! * [`upstream`]: the CMG HTTP client (key, timeouts, size cap, redaction).
//! * [`catalog`]: plan validation, the indexed immutable [`catalog::Catalog`]
//!   (`build` makes it, `filter` prepares text filters), the
//!   [`catalog::CatalogStore`] it is swapped into, the sync task and snapshots.
//! * [`history`]: catalog versions, changes and price history in SQLite or
//!   PostgreSQL, and the [`history::Recorder`] the sync hands catalogs to.
//! * [`query`]: `/plans` parameters parsed into a typed [`query::PlanQuery`]; pure.
//! * [`trips`]: `/trips` parameters and the itinerary planner; pure.
//! * [`numbers`]: how computed numbers are rounded and written.
//! * [`referral`]: referral codes, `productUrl` rewriting and the partner registry.
//! * [`http`]: the axum router, one module per resource (MCP included), the
//!   extractors, the response shapes, compressed pages, the error type, middleware.
//! * [`server`]: the accept loop and connection limits of the public edge.
//! * [`app`]: wires everything together; [`app::Application`] binds and runs.

pub mod app;
pub mod catalog;
pub mod config;
pub mod history;
pub mod http;
pub mod metrics;
pub mod numbers;
pub mod query;
pub mod referral;
pub mod secret;
pub mod server;
pub mod telemetry;
pub mod trips;
pub mod upstream;
