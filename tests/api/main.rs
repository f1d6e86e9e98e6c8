//! One integration-test binary; each module is one behaviour area.

mod clicks;
mod connections;
mod cors_and_caching;
mod edge;
mod fleet;
mod hardening;
mod health;
mod helpers;
mod history;
mod markets;
mod mcp;
mod partners;
mod process;
mod query;
mod shapes;
mod sync;
mod trips;
mod webhooks;
