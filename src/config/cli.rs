//! The command line: every option, its environment variable, its default and
//! the value parser (in [`values`](super::values)) that types it. Doc comments
//! are the `--help` text; environment values are never printed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::CorsOrigins;
use super::values;
use crate::secret::Secret;
use crate::telemetry::LogFormat;

pub const DEFAULT_FEED_URL: &str = "https://www.connectmeguru.com/api/products/aggregator";

/// Caching, filtering, per-partner proxy for the ConnectMeGuru eSIM plan feed.
///
/// Every option can also be set through the environment variable named in
/// brackets. Values taken from the environment are never printed.
#[derive(Debug, Parser)]
#[command(name = "cmg-feed-proxy", version, about, long_about = None, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Upstream API key (secret). Required unless --demo. A value given here shows in `ps`: prefer CMG_API_KEY or CMG_API_KEY_FILE.
    #[arg(long, env = "CMG_API_KEY", hide_env_values = true, value_name = "KEY", value_parser = values::secret)]
    pub api_key: Option<Secret>,

    /// File holding the upstream API key (Docker/Kubernetes secrets); a trailing newline is ignored.
    #[arg(long, env = "CMG_API_KEY_FILE", hide_env_values = true, value_name = "PATH", value_parser = values::path)]
    pub api_key_file: Option<PathBuf>,

    /// Upstream feed URL; http:// is accepted for tests and local mirrors.
    #[arg(long, env = "CMG_FEED_URL", hide_env_values = true, default_value = DEFAULT_FEED_URL, value_parser = values::feed_url)]
    pub feed_url: url::Url,

    #[command(flatten)]
    pub listen: Listen,

    /// Time between successful syncs (30s, 5m, 12h); failed syncs retry with backoff up to this.
    #[arg(long, env = "REFRESH_INTERVAL", hide_env_values = true, default_value = "12h", value_parser = values::duration)]
    pub refresh_interval: Duration,

    /// Total time allowed for one upstream request, body included.
    #[arg(long, env = "UPSTREAM_TIMEOUT", hide_env_values = true, default_value = "30s", value_parser = values::duration)]
    pub upstream_timeout: Duration,

    /// Largest feed body accepted (e.g. 64MiB, 500KB, 1000000), counted while reading.
    #[arg(long, env = "UPSTREAM_MAX_BYTES", hide_env_values = true, default_value = "64MiB", value_parser = values::size)]
    pub upstream_max_bytes: u64,

    /// File where the last good catalog is persisted and loaded at start-up.
    #[arg(long, env = "SNAPSHOT_PATH", hide_env_values = true, value_name = "PATH", value_parser = values::path)]
    pub snapshot_path: Option<PathBuf>,

    /// Partner registry (TOML); reloaded on SIGHUP.
    #[arg(long, env = "PARTNERS_FILE", hide_env_values = true, value_name = "PATH", value_parser = values::path)]
    pub partners_file: Option<PathBuf>,

    /// Comma-separated origins allowed by CORS besides partners' origins; * allows any, none only partners'.
    #[arg(long, env = "CORS_ALLOW_ORIGINS", hide_env_values = true, default_value = "*", value_parser = values::cors)]
    pub cors_allow_origins: CorsOrigins,

    /// Bearer token that enables POST /admin/refresh (secret, at least 16 characters). A value given here shows in `ps`: prefer ADMIN_TOKEN.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, value_name = "TOKEN", value_parser = values::secret)]
    pub admin_token: Option<Secret>,

    /// Serve a built-in sample catalog: no key, no network.
    #[arg(long, env = "DEMO", hide_env_values = true, num_args = 0..=1, default_value = "false", default_missing_value = "true", value_name = "BOOL", value_parser = values::flag)]
    pub demo: bool,

    /// Log format: pretty (for terminals) or json (for log collectors).
    #[arg(long, env = "LOG_FORMAT", hide_env_values = true, default_value = "pretty", value_parser = values::log_format)]
    pub log_format: LogFormat,

    /// Requests per minute allowed per client IP; 0 or unset disables rate limiting.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", hide_env_values = true, value_name = "N", default_value = "0", value_parser = values::rate_limit)]
    pub rate_limit_per_minute: u32,

    /// Key the rate limit on the last X-Forwarded-For address, the one your proxy saw (only behind a proxy you trust).
    #[arg(long, env = "TRUST_FORWARDED_FOR", hide_env_values = true, num_args = 0..=1, default_value = "false", default_missing_value = "true", value_name = "BOOL", value_parser = values::flag)]
    pub trust_forwarded_for: bool,

    /// Largest share of the current plans a new feed may lose before it is rejected (0-1); 1 disables the guard.
    #[arg(long, env = "FEED_MAX_SHRINK", hide_env_values = true, default_value = "0.5", value_parser = values::share)]
    pub feed_max_shrink: f64,

    /// Accept a feed even when it lost more than FEED_MAX_SHRINK of the plans.
    #[arg(long, env = "ACCEPT_SHRINK", hide_env_values = true, num_args = 0..=1, default_value = "false", default_missing_value = "true", value_name = "BOOL", value_parser = values::flag)]
    pub accept_shrink: bool,

    /// Requests handled at once; more are shed with 503.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", hide_env_values = true, default_value = "1024", value_parser = values::concurrency)]
    pub max_concurrent_requests: usize,

    /// Time allowed for one request before it is answered 503.
    #[arg(long, env = "REQUEST_TIMEOUT", hide_env_values = true, default_value = "10s", value_parser = values::duration)]
    pub request_timeout: Duration,

    /// A connection that has not sent a complete request head within this is closed.
    #[arg(long, env = "CLIENT_HEADER_TIMEOUT", hide_env_values = true, default_value = "10s", value_parser = values::duration)]
    pub client_header_timeout: Duration,

    /// An idle keep-alive connection is closed after this.
    #[arg(long, env = "KEEPALIVE_TIMEOUT", hide_env_values = true, default_value = "60s", value_parser = values::duration)]
    pub keepalive_timeout: Duration,

    /// Open client connections at most; past it new connections are closed at once.
    #[arg(long, env = "MAX_CONNECTIONS", hide_env_values = true, default_value = "4096", value_parser = values::connections)]
    pub max_connections: usize,

    /// Open connections from one client address at most (keyed like the rate limit); past it that address's new connections are closed at once.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", hide_env_values = true, default_value = "256", value_parser = values::connections)]
    pub max_connections_per_ip: usize,

    /// A request whose body has not fully arrived within this of its head gets 408 and the connection is closed.
    #[arg(long, env = "CLIENT_BODY_TIMEOUT", hide_env_values = true, default_value = "10s", value_parser = values::duration)]
    pub client_body_timeout: Duration,

    /// The longest SIGTERM/Ctrl-C waits for in-flight requests before closing what is left.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", hide_env_values = true, default_value = "30s", value_parser = values::duration)]
    pub shutdown_timeout: Duration,

    /// Where catalog versions and price history live: sqlite:PATH, sqlite::memory: or postgres://... (secret: may hold a password).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, default_value = "sqlite::memory:", value_name = "URL", value_parser = values::database_url)]
    pub database_url: Secret,

    /// How long changes and price history are kept (e.g. 400d).
    #[arg(long, env = "HISTORY_RETENTION", hide_env_values = true, default_value = "400d", value_parser = values::duration)]
    pub history_retention: Duration,

    /// The service's own public base URL (https://plans.acme.example); when set, plans carry a clickUrl through /go.
    #[arg(long, env = "PUBLIC_URL", hide_env_values = true, value_name = "URL", value_parser = values::public_url)]
    pub public_url: Option<String>,

    /// How long click records are kept (e.g. 400d).
    #[arg(long, env = "CLICK_RETENTION", hide_env_values = true, default_value = "400d", value_parser = values::duration)]
    pub click_retention: Duration,

    /// The longest one webhook delivery may take.
    #[arg(long, env = "WEBHOOK_TIMEOUT", hide_env_values = true, default_value = "15s", value_parser = values::duration)]
    pub webhook_timeout: Duration,

    /// Allow webhook URLs that resolve to loopback, private or link-local addresses, and http:// (tests, internal receivers).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", hide_env_values = true, num_args = 0..=1, default_value = "false", default_missing_value = "true", value_name = "BOOL", value_parser = values::flag)]
    pub webhook_allow_private: bool,

    /// Test hook: the webhook retry delays instead of SPEC's 5s,5m,30m,2h,5h,10h,10h.
    #[arg(long, env = "WEBHOOK_RETRY_SCHEDULE", hide = true, value_parser = values::durations)]
    pub webhook_retry_schedule: Option<values::Durations>,

    /// Where exchange rates for display currencies come from (the ECB's reference-rates XML), or "none" to turn display currencies off.
    #[arg(long, env = "RATES_URL", hide_env_values = true, default_value = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml", value_name = "URL", value_parser = values::rates_url)]
    pub rates_url: values::RatesUrl,

    /// Time between exchange-rate refreshes (e.g. 6h).
    #[arg(long, env = "RATES_INTERVAL", hide_env_values = true, default_value = "6h", value_parser = values::duration)]
    pub rates_interval: Duration,

    /// With PostgreSQL: "auto" elects one syncing replica that the others follow; "always" makes every replica sync for itself.
    #[arg(long, env = "SYNC_LEADER", hide_env_values = true, default_value = "auto", value_parser = values::sync_leader)]
    pub sync_leader: values::SyncLeader,

    /// Where the day's visitor-hash salt is kept so replicas on SQLite share it (with PostgreSQL it lives in the database).
    #[arg(long, env = "CLICK_SALT_FILE", hide_env_values = true, value_name = "PATH", value_parser = values::path)]
    pub click_salt_file: Option<PathBuf>,
}

/// `LISTEN_ADDR`, shared by the server and `healthcheck`.
#[derive(Debug, Args)]
pub struct Listen {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", hide_env_values = true, default_value = "0.0.0.0:8080", value_parser = values::listen_addr)]
    pub listen_addr: SocketAddr,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 when the instance on LISTEN_ADDR is ready (for container HEALTHCHECKs).
    Healthcheck,
}

/// What `cmg-feed-proxy healthcheck` reads: `LISTEN_ADDR` and nothing else, so
/// a probe never fails on a setting only the server needs. (clap validates a
/// parent's options even when a subcommand is given, so the probe has its own
/// parser.)
#[derive(Debug, Parser)]
#[command(name = "cmg-feed-proxy")]
pub struct HealthcheckCli {
    #[command(subcommand)]
    pub command: HealthcheckCommand,
    #[command(flatten)]
    pub listen: Listen,
}

#[derive(Debug, Subcommand)]
pub enum HealthcheckCommand {
    Healthcheck,
}
