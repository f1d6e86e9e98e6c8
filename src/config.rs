//! Command line and environment, parsed into a validated [`Config`].
//!
//! clap reads every value as text (env values are hidden from `--help`); this
//! module parses them itself so that a bad value stops start-up with one line
//! naming the variable, and so that `healthcheck` needs nothing but
//! `LISTEN_ADDR`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::referral::{PartnerRegistry, normalize_origin};
use crate::upstream::{ApiKey, Secret, UpstreamConfig};

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
    #[arg(long, env = "CMG_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,

    /// File holding the upstream API key (Docker/Kubernetes secrets); a trailing newline is ignored.
    #[arg(
        long,
        env = "CMG_API_KEY_FILE",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub api_key_file: Option<String>,

    /// Upstream feed URL; http:// is accepted for tests and local mirrors.
    #[arg(long, env = "CMG_FEED_URL", hide_env_values = true, default_value = DEFAULT_FEED_URL)]
    pub feed_url: String,

    /// Address to listen on.
    #[arg(
        long,
        env = "LISTEN_ADDR",
        hide_env_values = true,
        default_value = "0.0.0.0:8080"
    )]
    pub listen_addr: String,

    /// Time between successful syncs (30s, 5m, 12h); failed syncs retry with backoff up to this.
    #[arg(
        long,
        env = "REFRESH_INTERVAL",
        hide_env_values = true,
        default_value = "12h"
    )]
    pub refresh_interval: String,

    /// Total time allowed for one upstream request, body included.
    #[arg(
        long,
        env = "UPSTREAM_TIMEOUT",
        hide_env_values = true,
        default_value = "30s"
    )]
    pub upstream_timeout: String,

    /// Largest feed body accepted (e.g. 64MiB, 500KB, 1000000), counted while reading.
    #[arg(
        long,
        env = "UPSTREAM_MAX_BYTES",
        hide_env_values = true,
        default_value = "64MiB"
    )]
    pub upstream_max_bytes: String,

    /// File where the last good catalog is persisted and loaded at start-up.
    #[arg(
        long,
        env = "SNAPSHOT_PATH",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub snapshot_path: Option<String>,

    /// Partner registry (TOML); reloaded on SIGHUP.
    #[arg(
        long,
        env = "PARTNERS_FILE",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub partners_file: Option<String>,

    /// Comma-separated origins allowed by CORS besides partners' origins; * allows any, none only partners'.
    #[arg(
        long,
        env = "CORS_ALLOW_ORIGINS",
        hide_env_values = true,
        default_value = "*"
    )]
    pub cors_allow_origins: String,

    /// Bearer token that enables POST /admin/refresh (secret, at least 16 characters). A value given here shows in `ps`: prefer ADMIN_TOKEN.
    #[arg(
        long,
        env = "ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,

    /// Serve a built-in sample catalog: no key, no network.
    #[arg(long, env = "DEMO", hide_env_values = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub demo: Option<String>,

    /// Log format: pretty (for terminals) or json (for log collectors).
    #[arg(
        long,
        env = "LOG_FORMAT",
        hide_env_values = true,
        default_value = "pretty"
    )]
    pub log_format: String,

    /// Requests per minute allowed per client IP; 0 or unset disables rate limiting.
    #[arg(
        long,
        env = "RATE_LIMIT_PER_MINUTE",
        hide_env_values = true,
        value_name = "N"
    )]
    pub rate_limit_per_minute: Option<String>,

    /// Key the rate limit on the last X-Forwarded-For address, the one your proxy saw (only behind a proxy you trust).
    #[arg(long, env = "TRUST_FORWARDED_FOR", hide_env_values = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub trust_forwarded_for: Option<String>,

    /// Largest share of the current plans a new feed may lose before it is rejected (0-1); 1 disables the guard.
    #[arg(
        long,
        env = "FEED_MAX_SHRINK",
        hide_env_values = true,
        default_value = "1"
    )]
    pub feed_max_shrink: String,

    /// Accept a feed even when it lost more than FEED_MAX_SHRINK of the plans.
    #[arg(long, env = "ACCEPT_SHRINK", hide_env_values = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub accept_shrink: Option<String>,

    /// Requests handled at once; more are shed with 503.
    #[arg(
        long,
        env = "MAX_CONCURRENT_REQUESTS",
        hide_env_values = true,
        default_value = "1024"
    )]
    pub max_concurrent_requests: String,

    /// Time allowed for one request before it is answered 503.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT",
        hide_env_values = true,
        default_value = "10s"
    )]
    pub request_timeout: String,

    /// A connection that has not sent a complete request head within this is closed.
    #[arg(
        long,
        env = "CLIENT_HEADER_TIMEOUT",
        hide_env_values = true,
        default_value = "10s"
    )]
    pub client_header_timeout: String,

    /// An idle keep-alive connection is closed after this.
    #[arg(
        long,
        env = "KEEPALIVE_TIMEOUT",
        hide_env_values = true,
        default_value = "60s"
    )]
    pub keepalive_timeout: String,

    /// Open client connections at most; past it new connections are closed at once.
    #[arg(
        long,
        env = "MAX_CONNECTIONS",
        hide_env_values = true,
        default_value = "4096"
    )]
    pub max_connections: String,

    /// The longest SIGTERM/Ctrl-C waits for in-flight requests before closing what is left.
    #[arg(
        long,
        env = "SHUTDOWN_TIMEOUT",
        hide_env_values = true,
        default_value = "30s"
    )]
    pub shutdown_timeout: String,

    /// Where catalog versions and price history live: sqlite:PATH, sqlite::memory: or postgres://... (secret: may hold a password).
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite::memory:",
        value_name = "URL"
    )]
    pub database_url: String,

    /// How long changes and price history are kept (e.g. 400d).
    #[arg(
        long,
        env = "HISTORY_RETENTION",
        hide_env_values = true,
        default_value = "400d"
    )]
    pub history_retention: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 when the instance on LISTEN_ADDR is ready (for container HEALTHCHECKs).
    Healthcheck,
}

/// Shorter admin tokens are refused: guessable, and a short secret would
/// also be scrubbed out of ordinary log text.
pub const MIN_ADMIN_TOKEN: usize = 16;

/// A boolean variable; a bad value is the usual one-line `invalid VAR` error.
fn flag(variable: &'static str, raw: &Option<String>) -> Result<bool, ConfigError> {
    raw.as_deref()
        .map_or(Ok(false), parse_flag)
        .map_err(|reason| {
            err(
                variable,
                format!("{:?}: {reason}", raw.as_deref().unwrap_or("")),
            )
        })
}

/// `VAR=` counts as unset for every variable of [`Cli`] (compose files and
/// manifests often leave them empty), so the default applies.
///
/// # Safety
/// Call before any other thread exists: it changes the process environment.
pub unsafe fn unset_empty_variables() {
    for arg in Cli::command().get_arguments() {
        if let Some(name) = arg.get_env() {
            if std::env::var_os(name).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
                // SAFETY: the caller guarantees no other thread runs.
                unsafe { std::env::remove_var(name) };
            }
        }
    }
}

/// Parses a boolean flag value (`1/0`, `true/false`, `yes/no`, `on/off`).
pub fn parse_flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected 1/0, true/false, yes/no or on/off".into()),
    }
}

/// A configuration error: one line naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable} (--{flag}): {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub flag: String,
    pub reason: String,
}

/// An error for `variable`; its flag is looked up in the clap definition, the
/// one place that pairs them.
fn err(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    let flag = Cli::command()
        .get_arguments()
        .find(|arg| arg.get_env().is_some_and(|env| env == variable))
        .and_then(|arg| arg.get_long())
        .unwrap_or("?")
        .to_owned();
    ConfigError {
        variable,
        flag,
        reason: reason.into(),
    }
}

/// Where the catalog comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Demo,
    Upstream(UpstreamConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Origins allowed by CORS besides partners' origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub listen_addr: SocketAddr,
    pub refresh_interval: Duration,
    pub snapshot_path: Option<PathBuf>,
    /// `PARTNERS_FILE` and the registry read from it at start-up.
    pub partners: Option<(PathBuf, PartnerRegistry)>,
    pub cors_allow_origins: CorsOrigins,
    pub admin_token: Option<Secret>,
    pub log_format: LogFormat,
    pub rate_limit_per_minute: Option<u32>,
    pub trust_forwarded_for: bool,
    pub feed_max_shrink: f64,
    pub accept_shrink: bool,
    pub max_concurrent_requests: usize,
    pub request_timeout: Duration,
    pub server: crate::server::ServerSettings,
    /// `DATABASE_URL`; secret (it may carry a password).
    pub database_url: Secret,
    pub history_retention: Duration,
}

/// Treats `VAR=` like an unset variable (compose files often leave them empty).
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Paths are read as text so that `VAR=` counts as unset (clap refuses an
/// empty path before we could treat it so).
fn non_empty_path(value: &Option<String>) -> Option<&Path> {
    value.as_deref().filter(|p| !p.is_empty()).map(Path::new)
}

impl Cli {
    /// Only what `healthcheck` needs.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_listen_addr(&self.listen_addr)
    }

    /// Validates everything.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let demo = flag("DEMO", &self.demo)?;
        let trust_forwarded_for = flag("TRUST_FORWARDED_FOR", &self.trust_forwarded_for)?;
        let accept_shrink = flag("ACCEPT_SHRINK", &self.accept_shrink)?;
        let listen_addr = self.listen_addr()?;
        let refresh_interval = parse_duration("REFRESH_INTERVAL", &self.refresh_interval)?;
        let upstream_timeout = parse_duration("UPSTREAM_TIMEOUT", &self.upstream_timeout)?;
        let request_timeout = parse_duration("REQUEST_TIMEOUT", &self.request_timeout)?;
        let max_bytes = parse_bytes(&self.upstream_max_bytes)
            .map_err(|reason| err("UPSTREAM_MAX_BYTES", reason))?;

        let source = if demo {
            Source::Demo
        } else {
            let key = self.api_key()?;
            let url = parse_feed_url(&self.feed_url)?;
            Source::Upstream(UpstreamConfig {
                url,
                key,
                timeout: upstream_timeout,
                max_bytes,
            })
        };

        let snapshot_path = non_empty_path(&self.snapshot_path).map(Path::to_path_buf);
        if let Some(path) = &snapshot_path {
            crate::catalog::snapshot::check_writable(path)
                .map_err(|reason| err("SNAPSHOT_PATH", format!("{}: {reason}", path.display())))?;
        }
        let partners = match non_empty_path(&self.partners_file) {
            Some(path) => {
                let registry =
                    PartnerRegistry::load(path).map_err(|reason| err("PARTNERS_FILE", reason))?;
                Some((path.to_path_buf(), registry))
            }
            None => None,
        };

        let cors_allow_origins = parse_cors(&self.cors_allow_origins)?;
        let admin_token = non_empty(&self.admin_token).map(Secret::new);
        if let Some(token) = &admin_token {
            if token.expose().chars().count() < MIN_ADMIN_TOKEN {
                return Err(err(
                    "ADMIN_TOKEN",
                    format!(
                        "must be at least {MIN_ADMIN_TOKEN} characters (a random token, e.g. openssl rand -hex 24)"
                    ),
                ));
            }
        }
        let log_format = match self.log_format.trim().to_ascii_lowercase().as_str() {
            "pretty" | "text" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(err(
                    "LOG_FORMAT",
                    format!("{other:?} is not pretty or json"),
                ));
            }
        };
        let rate_limit_per_minute = match non_empty(&self.rate_limit_per_minute) {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => {
                    return Err(err(
                        "RATE_LIMIT_PER_MINUTE",
                        format!("{v:?} is not a whole number"),
                    ));
                }
            },
        };
        let feed_max_shrink = self
            .feed_max_shrink
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| (0.0..=1.0).contains(v))
            .ok_or_else(|| err("FEED_MAX_SHRINK", "must be a number from 0 to 1"))?;
        let max_concurrent_requests = self
            .max_concurrent_requests
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| err("MAX_CONCURRENT_REQUESTS", "must be a positive whole number"))?;

        let database_url = non_empty(&Some(self.database_url.clone()))
            .unwrap_or("sqlite::memory:")
            .to_owned();
        crate::history::validate_url(&database_url)
            .map_err(|reason| err("DATABASE_URL", reason))?;
        if let Some(path) = database_url
            .strip_prefix("sqlite:")
            .filter(|p| !p.contains(":memory:"))
        {
            let path = path.trim_start_matches("//");
            let path = Path::new(path.split('?').next().unwrap_or(path));
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !dir.is_dir() {
                return Err(err(
                    "DATABASE_URL",
                    format!("directory {} does not exist", dir.display()),
                ));
            }
        }
        let history_retention = parse_duration("HISTORY_RETENTION", &self.history_retention)?;
        let server = crate::server::ServerSettings {
            client_header_timeout: parse_duration(
                "CLIENT_HEADER_TIMEOUT",
                &self.client_header_timeout,
            )?,
            keepalive_timeout: parse_duration("KEEPALIVE_TIMEOUT", &self.keepalive_timeout)?,
            max_connections: self
                .max_connections
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|v| (1..=1_000_000).contains(v))
                .ok_or_else(|| {
                    err(
                        "MAX_CONNECTIONS",
                        "must be a whole number from 1 to 1000000",
                    )
                })?,
            shutdown_timeout: parse_duration("SHUTDOWN_TIMEOUT", &self.shutdown_timeout)?,
        };

        Ok(Config {
            source,
            listen_addr,
            refresh_interval,
            snapshot_path,
            partners,
            cors_allow_origins,
            admin_token,
            log_format,
            rate_limit_per_minute,
            trust_forwarded_for,
            feed_max_shrink,
            accept_shrink,
            max_concurrent_requests,
            request_timeout,
            server,
            database_url: Secret::new(database_url),
            history_retention,
        })
    }

    fn api_key(&self) -> Result<ApiKey, ConfigError> {
        let direct = non_empty(&self.api_key);
        let file = non_empty_path(&self.api_key_file);
        let key = match (direct, file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "CMG_API_KEY",
                    "set either CMG_API_KEY or CMG_API_KEY_FILE, not both",
                ));
            }
            (Some(key), None) => key.to_owned(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    err(
                        "CMG_API_KEY_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let key = text.trim_end_matches(['\r', '\n']).trim().to_owned();
                if key.is_empty() {
                    return Err(err(
                        "CMG_API_KEY_FILE",
                        format!("{} is empty", path.display()),
                    ));
                }
                key
            }
            (None, None) => {
                return Err(err(
                    "CMG_API_KEY",
                    "an upstream key is required: set CMG_API_KEY or CMG_API_KEY_FILE (or DEMO=1 for the demo catalog)",
                ));
            }
        };
        if key.chars().any(char::is_control) {
            return Err(err("CMG_API_KEY", "contains control characters"));
        }
        Ok(Secret::new(key))
    }
}

fn parse_listen_addr(raw: &str) -> Result<SocketAddr, ConfigError> {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix("localhost:")
        .map_or_else(|| raw.to_owned(), |p| format!("127.0.0.1:{p}"));
    raw.parse().map_err(|_| {
        err(
            "LISTEN_ADDR",
            format!("{raw:?} is not an address like 0.0.0.0:8080"),
        )
    })
}

fn parse_duration(variable: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(raw.trim()).map_err(|e| {
        err(
            variable,
            format!("{raw:?} is not a duration like 30s, 5m or 12h ({e})"),
        )
    })?;
    if d.is_zero() {
        return Err(err(variable, "must be longer than zero"));
    }
    Ok(d)
}

fn parse_feed_url(raw: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| err("CMG_FEED_URL", format!("not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(err("CMG_FEED_URL", "must be an http(s) URL"));
    }
    if url.query_pairs().any(|(k, _)| k == "key") {
        // The key belongs in CMG_API_KEY, where it is kept secret.
        return Err(err(
            "CMG_FEED_URL",
            "must not carry a key parameter; use CMG_API_KEY",
        ));
    }
    Ok(url)
}

/// Parses `64MiB`, `500KB`, `1.5GB`, `1000000`.
pub fn parse_bytes(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a size like 64MiB"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KB, KiB, MB, MiB, GB, GiB)"
            ));
        }
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("{raw:?} is out of range"));
    }
    Ok(bytes as u64)
}

fn parse_cors(raw: &str) -> Result<CorsOrigins, ConfigError> {
    let items: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    // An empty variable counts as unset, like every other: the default `*`.
    if items.is_empty() || items.contains(&"*") {
        return Ok(CorsOrigins::Any);
    }
    // Only partners' origins.
    if items.len() == 1 && items[0].eq_ignore_ascii_case("none") {
        return Ok(CorsOrigins::List(Vec::new()));
    }
    items
        .into_iter()
        .map(normalize_origin)
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
        .map_err(|reason| err("CORS_ALLOW_ORIGINS", reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut argv = vec!["cmg-feed-proxy"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap()
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("500KB").unwrap(), 500_000);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert_eq!(parse_bytes("1.5 GiB").unwrap(), 3 << 29);
        for bad in ["", "MiB", "-1", "12 parsecs", "0"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: [(&[&str], &str); 7] = [
            (
                &["--refresh-interval", "soon", "--demo"],
                "REFRESH_INTERVAL",
            ),
            (&["--upstream-timeout", "0s", "--demo"], "UPSTREAM_TIMEOUT"),
            (
                &["--upstream-max-bytes", "lots", "--demo"],
                "UPSTREAM_MAX_BYTES",
            ),
            (&["--listen-addr", "nowhere", "--demo"], "LISTEN_ADDR"),
            (
                &["--cors-allow-origins", "shop.example", "--demo"],
                "CORS_ALLOW_ORIGINS",
            ),
            (&["--feed-url", "ftp://x", "--api-key", "k"], "CMG_FEED_URL"),
            (&["--api-key-file", "/nonexistent/key"], "CMG_API_KEY_FILE"),
        ];
        for (args, variable) in cases {
            let e = cli(args).into_config().unwrap_err();
            assert_eq!(e.variable, variable, "{args:?}");
            assert!(e.to_string().contains(variable));
            let flag = format!("--{}", e.flag);
            assert!(
                args.contains(&flag.as_str()),
                "{flag} names the flag given: {args:?}"
            );
        }
    }

    #[test]
    fn a_key_is_required_unless_demo() {
        let e = cli(&[]).into_config().unwrap_err();
        assert_eq!(e.variable, "CMG_API_KEY");
        assert!(matches!(
            cli(&["--demo"]).into_config().unwrap().source,
            Source::Demo
        ));
        let e = cli(&["--api-key", "a", "--api-key-file", "/x"])
            .into_config()
            .unwrap_err();
        assert!(e.reason.contains("not both"));
    }

    #[test]
    fn key_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc123\n").unwrap();
        let config = cli(&["--api-key-file", path.to_str().unwrap()])
            .into_config()
            .unwrap();
        let Source::Upstream(up) = config.source else {
            panic!()
        };
        assert_eq!(up.key.expose(), "abc123");
    }

    #[test]
    fn defaults_follow_the_spec() {
        let config = cli(&["--api-key", "k"]).into_config().unwrap();
        assert_eq!(config.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(config.refresh_interval, Duration::from_secs(12 * 3600));
        assert_eq!(config.cors_allow_origins, CorsOrigins::Any);
        let Source::Upstream(up) = config.source else {
            panic!()
        };
        assert_eq!(up.url.as_str(), DEFAULT_FEED_URL);
        assert_eq!(up.timeout, Duration::from_secs(30));
        assert_eq!(up.max_bytes, 64 << 20);
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list_or_any() {
        let list = parse_cors(" https://a.example , https://B.example:8443,").unwrap();
        assert_eq!(
            list,
            CorsOrigins::List(vec![
                "https://a.example".into(),
                "https://b.example:8443".into()
            ])
        );
        assert_eq!(parse_cors("https://a.example,*").unwrap(), CorsOrigins::Any);
        assert_eq!(
            parse_cors(" ").unwrap(),
            CorsOrigins::Any,
            "empty counts as unset"
        );
    }

    #[test]
    fn flags_accept_words_and_digits() {
        let demo = |args: &[&str]| matches!(cli(args).into_config().unwrap().source, Source::Demo);
        assert!(demo(&["--demo", "1"]));
        assert!(demo(&["--demo"]));
        assert!(demo(&["--demo", "yes"]));
        assert!(!demo(&["--demo", "false", "--api-key", "k"]));
    }

    #[test]
    fn bad_booleans_get_the_one_line_error() {
        for (flag, variable) in [
            ("--demo", "DEMO"),
            ("--trust-forwarded-for", "TRUST_FORWARDED_FOR"),
            ("--accept-shrink", "ACCEPT_SHRINK"),
        ] {
            let e = cli(&["--api-key", "k", flag, "maybe"])
                .into_config()
                .unwrap_err();
            let line = e.to_string();
            assert!(
                line.starts_with(&format!("invalid {variable} ({flag}): ")),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn short_admin_tokens_are_refused() {
        let e = cli(&["--demo", "--admin-token", "refresh"])
            .into_config()
            .unwrap_err();
        assert_eq!(e.variable, "ADMIN_TOKEN");
        assert!(
            cli(&["--demo", "--admin-token", "0123456789abcdef"])
                .into_config()
                .is_ok()
        );
    }

    #[test]
    fn cors_none_allows_only_partner_origins() {
        assert_eq!(parse_cors("none").unwrap(), CorsOrigins::List(Vec::new()));
        assert_eq!(parse_cors(" NONE ").unwrap(), CorsOrigins::List(Vec::new()));
    }
}
