//! cmg-feed-proxy: holds the ConnectMeGuru key server-side, keeps the eSIM plan
//! catalog in memory, refreshes it in the background and serves fast, filtered,
//! per-partner views of it.
//!
//! # Layout
//!
//! The data path reads in one direction: `upstream -> catalog -> query -> http`;
//! `metrics` reads the catalog, `http` reads everything, nothing reads `http`.
//!
//! * [`config`]: the clap definition (`cli`), the value parsers (`values`) and
//!   the validated [`config::Config`] with its one-line errors.
//! * [`secret`]: the key, admin token and database password, and the one scrubber.
//! * [`telemetry`]: the tracing subscriber (pretty or JSON) with a secret-scrubbing
//!   writer, and `cause_chain` for logging errors with their sources.
//! * [`metrics`]: the instance's `prometheus-client` registry: HTTP metrics, the
//!   sync's metrics and the catalog gauges.
//! * [`upstream`]: the CMG HTTP client (key, timeouts, size cap, redaction).
//! * [`catalog`]: plan validation, the indexed immutable [`catalog::Catalog`]
//!   (`build` makes it, `filter` prepares text filters), the
//!   [`catalog::CatalogStore`] it is swapped into, and snapshots.
//! * [`markets`]: continents and scope, CLDR names in 14 languages, text
//!   folding, reference exchange rates and display currencies (pure).
//! * [`sync`]: the background task that fetches, guards, records and swaps
//!   in each new catalog (while its [`sync::Role`] lets it), its metrics,
//!   and the exchange-rate refresher.
//! * [`fleet`]: replicas on PostgreSQL as one: leader election, catalogs
//!   stored for followers, `LISTEN/NOTIFY`.
//! * [`history`]: catalog versions, changes and price history in SQLite or
//!   PostgreSQL (`write` stores a catalog), and the [`history::Recorder`] the
//!   sync hands catalogs to.
//! * [`clicks`]: `/go` clicks: the record, the bounded buffer written in
//!   batches, the day's visitor salt, and reports.
//! * [`query`]: the query-string grammar every route shares (`params`), and
//!   `/plans` parameters parsed into a typed [`query::PlanQuery`] (`parse`) and
//!   evaluated (`run`); pure.
//! * [`trips`]: `/trips` parameters and the itinerary planner (`plan`); pure.
//! * [`numbers`]: how computed numbers are rounded and written.
//! * [`referral`]: referral codes, `productUrl` rewriting and the partner registry.
//! * [`http`]: the axum router built from one module per resource (each
//!   returns its `Routes`, which also list what they serve for the OpenAPI
//!   test), the extractors (typed query, partner, market, catalog view, admin
//!   auth) and the error type; `pages/` (responder, cache, compressed pages,
//!   shapes, streamed bodies), `edge/` (the layer stack and limits) and
//!   `mcp/`.
//! * [`webhooks`]: partners' webhook endpoints, the messages a version makes,
//!   Standard Webhooks signing and delivery from the outbox.
//! * [`server`]: the accept loop and connection limits of the public edge.
//! * [`app`]: wires everything together; [`app::Application`] binds and runs.

// The OpenAPI document is one `json!` literal, deeper than the default limit.
#![recursion_limit = "256"]

pub mod app;
pub mod catalog;
pub mod clicks;
pub mod config;
pub mod fleet;
pub mod history;
pub mod http;
pub mod markets;
pub mod metrics;
pub mod numbers;
pub mod query;
pub mod referral;
pub mod secret;
pub mod server;
pub mod sync;
pub mod telemetry;
pub mod trips;
pub mod upstream;
pub mod webhooks;
