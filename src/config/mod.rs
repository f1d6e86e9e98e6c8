//! Command line and environment, parsed into a validated [`Config`].
//!
//! * `cli`: the clap definition: every option, its variable and default.
//! * `values`: the value parsers that type each option (pure).
//! * here: what needs several options at once (the key source, the admin
//!   token's length), the files the options name, and the one-line error.
//!
//! A bad value stops start-up with one line naming the variable and its flag:
//! `error: invalid REFRESH_INTERVAL (--refresh-interval): "soon" is not a duration ...`.

mod cli;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

use cli::HealthcheckCli;
pub use cli::{Cli, Command, DEFAULT_FEED_URL, Listen};

use crate::referral::PartnerRegistry;
use crate::secret::Secret;
use crate::telemetry::LogFormat;
use crate::upstream::{ApiKey, UpstreamConfig};

/// Shorter admin tokens are refused: guessable, and a short secret would
/// also be scrubbed out of ordinary log text.
pub const MIN_ADMIN_TOKEN: usize = 16;

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

/// What the process was asked to do.
#[derive(Debug)]
pub enum Invocation {
    /// Probe the instance on `LISTEN_ADDR` (reads nothing else).
    Healthcheck(SocketAddr),
    Serve(Box<Cli>),
}

/// Parses the process arguments and environment. `Err` is either a one-line
/// [`ConfigError`] or clap's own answer (help, version, unknown option),
/// which the caller prints with [`clap::Error::exit`].
pub fn parse_args() -> Result<Invocation, ParseError> {
    parse_from(std::env::args_os())
}

pub fn parse_from<I, T>(args: I) -> Result<Invocation, ParseError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // The probe's parser accepts only `[--listen-addr A] healthcheck`;
    // anything else is the server's command line.
    match HealthcheckCli::try_parse_from(&args) {
        Ok(probe) => return Ok(Invocation::Healthcheck(probe.listen.listen_addr)),
        // A bad LISTEN_ADDR is wrong for either command: say so, whatever
        // else the server's options hold.
        Err(e) => {
            if let Some(error) = ConfigError::from_clap(&e) {
                return Err(ParseError::Config(error));
            }
        }
    }
    match Cli::try_parse_from(&args) {
        Ok(cli) => Ok(Invocation::Serve(Box::new(cli))),
        Err(e) => Err(ConfigError::from_clap(&e).map_or(ParseError::Clap(e), ParseError::Config)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Config(ConfigError),
    /// Help, version, or a malformed command line: clap words those best.
    #[error(transparent)]
    Clap(clap::Error),
}

/// A configuration error: one line naming the variable and its flag.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable} (--{flag}): {reason}")]
pub struct ConfigError {
    pub variable: String,
    pub flag: String,
    pub reason: String,
}

impl ConfigError {
    /// An error for `variable`; its flag is looked up in the clap definition,
    /// the one place that pairs them. Also for settings found wrong after
    /// parsing (a database that refuses `DATABASE_URL`).
    pub fn new(variable: &str, reason: impl Into<String>) -> Self {
        let flag = Cli::command()
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|env| env == variable))
            .and_then(|arg| arg.get_long())
            .unwrap_or("?")
            .to_owned();
        Self {
            variable: variable.to_owned(),
            flag,
            reason: reason.into(),
        }
    }

    /// The one-line form of a value clap refused (from a flag, a variable or
    /// a default); `None` for every other clap error.
    pub fn from_clap(error: &clap::Error) -> Option<Self> {
        if !matches!(
            error.kind(),
            ErrorKind::ValueValidation | ErrorKind::InvalidValue
        ) {
            return None;
        }
        // "--refresh-interval <REFRESH_INTERVAL>"
        let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
            return None;
        };
        let long = arg.trim_start_matches('-').split([' ', '=']).next()?;
        let command = Cli::command();
        let definition = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))?;
        let variable = definition.get_env()?.to_string_lossy().into_owned();
        let reason = match std::error::Error::source(error) {
            Some(source) => source.to_string(),
            None => "invalid value".to_owned(),
        };
        Some(Self {
            variable,
            flag: long.to_owned(),
            reason,
        })
    }
}

/// Where the catalog comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Demo,
    Upstream(UpstreamConfig),
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
    /// `PARTNERS_FILE` and the registry read from it at start-up;
    /// `Application::build` moves it into the live, reloadable registry.
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
    /// `CLIENT_BODY_TIMEOUT`: the longest a request body may take to arrive.
    pub client_body_timeout: Duration,
    pub server: crate::server::ServerSettings,
    /// `DATABASE_URL`; secret (it may carry a password).
    pub database_url: Secret,
    pub history_retention: Duration,
    /// `PUBLIC_URL` without a trailing slash: plans carry a `clickUrl` under it.
    pub public_url: Option<String>,
    pub click_retention: Duration,
    pub click_salt_file: Option<PathBuf>,
    pub webhook_timeout: Duration,
    pub webhook_allow_private: bool,
    /// `RATES_URL`: where exchange rates come from; `None` for `none`.
    pub rates_url: Option<url::Url>,
    pub rates_interval: Duration,
    /// `SYNC_LEADER=auto`: with PostgreSQL, replicas elect one syncing leader.
    pub elect_leader: bool,
    /// Retry delays after the first attempt (SPEC's schedule unless a test sets it).
    pub webhook_retry_schedule: Vec<Duration>,
}

impl Cli {
    /// Validates what needs more than one option, and reads the files the
    /// options name (the key file, the partner registry).
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let source = if self.demo {
            Source::Demo
        } else {
            Source::Upstream(UpstreamConfig {
                key: self.api_key()?,
                url: self.feed_url.clone(),
                timeout: self.upstream_timeout,
                max_bytes: self.upstream_max_bytes,
            })
        };
        let partners = match &self.partners_file {
            Some(path) => {
                let registry = PartnerRegistry::load(path)
                    .and_then(|r| r.check_webhooks(self.webhook_allow_private).map(|()| r))
                    .map_err(|e| {
                        ConfigError::new("PARTNERS_FILE", crate::telemetry::cause_chain(&e))
                    })?;
                Some((path.clone(), registry))
            }
            None => None,
        };
        if let Some(token) = &self.admin_token {
            if token.expose().chars().count() < MIN_ADMIN_TOKEN {
                return Err(ConfigError::new(
                    "ADMIN_TOKEN",
                    format!(
                        "must be at least {MIN_ADMIN_TOKEN} characters (a random token, e.g. openssl rand -hex 24)"
                    ),
                ));
            }
        }
        Ok(Config {
            source,
            listen_addr: self.listen.listen_addr,
            refresh_interval: self.refresh_interval,
            snapshot_path: self.snapshot_path,
            partners,
            cors_allow_origins: self.cors_allow_origins,
            admin_token: self.admin_token,
            log_format: self.log_format,
            rate_limit_per_minute: (self.rate_limit_per_minute > 0)
                .then_some(self.rate_limit_per_minute),
            trust_forwarded_for: self.trust_forwarded_for,
            feed_max_shrink: self.feed_max_shrink,
            accept_shrink: self.accept_shrink,
            max_concurrent_requests: self.max_concurrent_requests,
            request_timeout: self.request_timeout,
            client_body_timeout: self.client_body_timeout,
            server: crate::server::ServerSettings {
                client_header_timeout: self.client_header_timeout,
                keepalive_timeout: self.keepalive_timeout,
                max_connections: self.max_connections,
                max_connections_per_ip: self.max_connections_per_ip,
                per_ip_behind_proxy: self.trust_forwarded_for,
                shutdown_timeout: self.shutdown_timeout,
            },
            database_url: self.database_url,
            history_retention: self.history_retention,
            public_url: self.public_url,
            click_retention: self.click_retention,
            click_salt_file: self.click_salt_file,
            webhook_timeout: self.webhook_timeout,
            rates_url: match self.rates_url {
                values::RatesUrl::None => None,
                values::RatesUrl::Url(url) => Some(url),
            },
            rates_interval: self.rates_interval,
            elect_leader: self.sync_leader == values::SyncLeader::Auto,
            webhook_allow_private: self.webhook_allow_private,
            webhook_retry_schedule: self
                .webhook_retry_schedule
                .map(|d| d.0)
                .unwrap_or_else(|| crate::webhooks::deliver::SCHEDULE.to_vec()),
        })
    }

    fn api_key(&self) -> Result<ApiKey, ConfigError> {
        match (&self.api_key, &self.api_key_file) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                "CMG_API_KEY",
                "set either CMG_API_KEY or CMG_API_KEY_FILE, not both",
            )),
            (Some(key), None) if !key.expose().is_empty() => Ok(key.clone()),
            (None, Some(path)) => read_key_file(path),
            _ => Err(ConfigError::new(
                "CMG_API_KEY",
                "an upstream key is required: set CMG_API_KEY or CMG_API_KEY_FILE (or DEMO=1 for the demo catalog)",
            )),
        }
    }
}

fn read_key_file(path: &Path) -> Result<ApiKey, ConfigError> {
    let error = |reason: String| ConfigError::new("CMG_API_KEY_FILE", reason);
    let text = std::fs::read_to_string(path)
        .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    let key = text.trim_end_matches(['\r', '\n']).trim();
    if key.is_empty() {
        return Err(error(format!("{} is empty", path.display())));
    }
    values::secret(key).map_err(error)
}

impl Config {
    /// Serving the built-in demo catalog (it never changes).
    pub fn is_demo(&self) -> bool {
        matches!(self.source, Source::Demo)
    }

    /// Checks that the places the service will write exist and are writable,
    /// so a wrong path stops start-up with one line instead of failing at
    /// the first sync. Kept apart from parsing: it touches the file system.
    pub fn preflight(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.snapshot_path {
            crate::catalog::snapshot::check_writable(path).map_err(|e| {
                ConfigError::new(
                    "SNAPSHOT_PATH",
                    format!("{}: directory not writable: {e}", path.display()),
                )
            })?;
        }
        if let Some(dir) = sqlite_directory(self.database_url.expose()) {
            if !dir.is_dir() {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    format!("directory {} does not exist", dir.display()),
                ));
            }
        }
        if let Some(path) = &self.click_salt_file {
            // Opened as the click log opens it: read and write, created if
            // missing, readable by this user only.
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(path).map_err(|e| {
                ConfigError::new(
                    "CLICK_SALT_FILE",
                    format!(
                        "{}: cannot open it for reading and writing: {e}",
                        path.display()
                    ),
                )
            })?;
        }
        Ok(())
    }
}

impl Config {
    /// Every secret the logs must never show: the key, the admin token, and
    /// the database password (as written in the URL and percent-decoded).
    pub fn secrets(&self) -> Vec<Secret> {
        let mut secrets = Vec::new();
        if let Source::Upstream(upstream) = &self.source {
            secrets.push(upstream.key.clone());
        }
        secrets.extend(self.admin_token.clone());
        let password = url::Url::parse(self.database_url.expose())
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
            .filter(|p| !p.is_empty());
        if let Some(password) = password {
            let decoded = percent_encoding::percent_decode_str(&password)
                .decode_utf8_lossy()
                .into_owned();
            if decoded != password && !decoded.is_empty() {
                secrets.push(Secret::new(decoded));
            }
            secrets.push(Secret::new(password));
        }
        secrets
    }
}

/// The directory of a file-backed SQLite URL.
fn sqlite_directory(url: &str) -> Option<PathBuf> {
    let path = crate::history::sqlite_file(url)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    Some(dir.unwrap_or(Path::new(".")).to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        std::iter::once("cmg-feed-proxy")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect()
    }

    fn cli(args: &[&str]) -> Cli {
        match parse_from(argv(args)) {
            Ok(Invocation::Serve(cli)) => *cli,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        match parse_from(argv(args)) {
            Ok(Invocation::Serve(cli)) => cli.into_config(),
            Err(ParseError::Config(e)) => Err(e),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_variable_and_the_flag_in_one_line() {
        let cases: [(&[&str], &str); 12] = [
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
            (&["--demo", "maybe"], "DEMO"),
            (
                &["--demo", "--trust-forwarded-for=2"],
                "TRUST_FORWARDED_FOR",
            ),
            (&["--demo", "--max-connections", "0"], "MAX_CONNECTIONS"),
            (&["--demo", "--database-url", "mysql://x"], "DATABASE_URL"),
            (&["--demo", "--log-format", "xml"], "LOG_FORMAT"),
        ];
        for (args, variable) in cases {
            let e = config(args).unwrap_err();
            assert_eq!(e.variable, variable, "{args:?}");
            let line = e.to_string();
            assert!(
                line.starts_with(&format!("invalid {variable} (--{}): ", e.flag)),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
            assert!(
                args.iter().any(|a| a.starts_with(&format!("--{}", e.flag))),
                "--{} names the flag given: {args:?}",
                e.flag
            );
        }
    }

    /// Every option clap knows, not a hand-kept list: a value that is wrong
    /// for all of them stops start-up with the one line naming that option.
    #[test]
    fn every_option_reports_a_bad_value_in_one_line_naming_it() {
        let bad = "/nonexistent/\u{1}bad";
        let mut seen = 0;
        for arg in Cli::command().get_arguments() {
            let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let variable = env.to_string_lossy().into_owned();
            let flag = format!("--{long}={bad}");
            // The key file is read only when there is no demo catalog.
            let mut args = vec![flag.as_str()];
            if !["DEMO", "CMG_API_KEY_FILE"].contains(&variable.as_str()) {
                args.push("--demo");
            }
            let e = match parse_from(argv(&args)) {
                Ok(Invocation::Serve(cli)) => cli
                    .into_config()
                    .and_then(|c| c.preflight())
                    .expect_err(&variable),
                Err(ParseError::Config(e)) => e,
                other => panic!("{variable}: {other:?}"),
            };
            assert_eq!(e.variable, variable);
            assert_eq!(e.flag, long);
            assert!(!e.to_string().contains('\n'), "{e}");
            seen += 1;
        }
        assert!(seen >= 25, "{seen} options");
    }

    #[test]
    fn other_command_line_mistakes_are_left_to_clap() {
        for args in [&["--no-such-option"][..], &["--help"], &["--version"]] {
            assert!(
                matches!(parse_from(argv(args)), Err(ParseError::Clap(_))),
                "{args:?}"
            );
        }
    }

    #[test]
    fn healthcheck_reads_only_the_listen_address() {
        match parse_from(argv(&["--listen-addr", "localhost:9", "healthcheck"])) {
            Ok(Invocation::Healthcheck(addr)) => assert_eq!(addr.to_string(), "127.0.0.1:9"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_from(argv(&["healthcheck"])),
            Ok(Invocation::Healthcheck(_))
        ));
        match parse_from(argv(&["--listen-addr", "nowhere", "healthcheck"])) {
            Err(ParseError::Config(e)) => assert_eq!(e.variable, "LISTEN_ADDR"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_key_is_required_unless_demo() {
        assert_eq!(config(&[]).unwrap_err().variable, "CMG_API_KEY");
        assert_eq!(
            config(&["--api-key", " "]).unwrap_err().variable,
            "CMG_API_KEY"
        );
        assert!(matches!(config(&["--demo"]).unwrap().source, Source::Demo));
        let e = config(&["--api-key", "a", "--api-key-file", "/x"]).unwrap_err();
        assert!(e.reason.contains("not both"));
    }

    #[test]
    fn key_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc123\n").unwrap();
        let config = config(&["--api-key-file", path.to_str().unwrap()]).unwrap();
        let Source::Upstream(up) = config.source else {
            panic!()
        };
        assert_eq!(up.key.expose(), "abc123");
        std::fs::write(&path, "\n").unwrap();
        let e = cli(&["--api-key-file", path.to_str().unwrap()])
            .into_config()
            .unwrap_err();
        assert!(e.reason.ends_with("is empty"), "{e}");
    }

    #[test]
    fn defaults_follow_the_spec() {
        let config = config(&["--api-key", "k"]).unwrap();
        assert_eq!(config.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(config.refresh_interval, Duration::from_secs(12 * 3600));
        assert_eq!(config.cors_allow_origins, CorsOrigins::Any);
        assert_eq!(config.rate_limit_per_minute, None, "0 turns it off");
        assert!(!config.trust_forwarded_for && !config.accept_shrink);
        assert_eq!(config.database_url.expose(), "sqlite::memory:");
        let Source::Upstream(up) = config.source else {
            panic!()
        };
        assert_eq!(up.url.as_str(), DEFAULT_FEED_URL);
        assert_eq!(up.timeout, Duration::from_secs(30));
        assert_eq!(up.max_bytes, 64 << 20);
    }

    #[test]
    fn flags_may_stand_alone_or_take_a_value() {
        let demo = |args: &[&str]| matches!(config(args).unwrap().source, Source::Demo);
        assert!(demo(&["--demo", "1"]));
        assert!(demo(&["--demo"]));
        assert!(demo(&["--demo=yes"]));
        assert!(!demo(&["--demo", "false", "--api-key", "k"]));
    }

    #[test]
    fn short_admin_tokens_are_refused() {
        let e = config(&["--demo", "--admin-token", "refresh"]).unwrap_err();
        assert_eq!(e.variable, "ADMIN_TOKEN");
        assert!(config(&["--demo", "--admin-token", "0123456789abcdef"]).is_ok());
    }

    #[test]
    fn the_database_password_is_a_secret_raw_and_decoded() {
        let config = config(&["--demo", "--database-url", "postgres://u:p%40ss@db/x"]).unwrap();
        let secrets: Vec<String> = config
            .secrets()
            .iter()
            .map(|s| s.expose().to_owned())
            .collect();
        assert_eq!(secrets, ["p@ss", "p%40ss"]);
    }

    #[test]
    fn preflight_names_missing_directories() {
        let mut config = config(&["--demo"]).unwrap();
        config.preflight().unwrap();
        config.snapshot_path = Some("/nonexistent/dir/s.json".into());
        assert_eq!(config.preflight().unwrap_err().variable, "SNAPSHOT_PATH");
        config.snapshot_path = None;
        config.database_url = Secret::new("sqlite:/nonexistent/dir/h.db");
        assert_eq!(config.preflight().unwrap_err().variable, "DATABASE_URL");
        assert_eq!(sqlite_directory("sqlite::memory:"), None);
        assert_eq!(sqlite_directory("sqlite:h.db"), Some(PathBuf::from(".")));
    }
}
