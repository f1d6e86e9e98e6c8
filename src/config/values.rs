//! Value parsers for the options of [`Cli`](super::Cli): pure functions from
//! text to a typed value. clap calls them for flags, environment variables and
//! defaults alike; their message becomes the `reason` of the one-line
//! [`ConfigError`](super::ConfigError).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::CorsOrigins;
use crate::referral::normalize_origin;
use crate::secret::Secret;
use crate::telemetry::LogFormat;

/// A boolean: `1/0`, `true/false`, `yes/no`, `on/off` (any case).
pub fn flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "{raw:?}: expected 1/0, true/false, yes/no or on/off"
        )),
    }
}

/// A non-zero duration such as `30s`, `5m`, `12h` or `400d`.
pub fn duration(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw.trim())
        .map_err(|e| format!("{raw:?} is not a duration like 30s, 5m or 12h ({e})"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// A size in bytes (`64MiB`, `500KB`, `1.5 GiB`, `1000000`), at least one byte.
pub fn size(raw: &str) -> Result<u64, String> {
    let bytes = raw
        .trim()
        .parse::<bytesize::ByteSize>()
        .map_err(|_| format!("{raw:?} is not a size like 64MiB, 500KB or 1000000"))?
        .as_u64();
    if bytes == 0 {
        return Err("must be at least one byte".into());
    }
    Ok(bytes)
}

/// `host:port`; `localhost:PORT` means the IPv4 loopback.
pub fn listen_addr(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix("localhost:")
        .map_or_else(|| raw.to_owned(), |port| format!("127.0.0.1:{port}"));
    raw.parse()
        .map_err(|_| format!("{raw:?} is not an address like 0.0.0.0:8080"))
}

/// An http(s) URL with a host and no `key` parameter.
pub fn feed_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) URL".into());
    }
    if url.query_pairs().any(|(k, _)| k == "key") {
        // The key belongs in CMG_API_KEY, where it is kept secret.
        return Err("must not carry a key parameter; use CMG_API_KEY".into());
    }
    Ok(url)
}

/// Durations in order (one value for clap, not a list of values).
#[derive(Clone, Debug, PartialEq)]
pub struct Durations(pub Vec<Duration>);

/// Comma-separated durations (`1s,2s,5s`).
/// `RATES_URL`: a feed-style URL, or `none` (display currencies off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatesUrl {
    None,
    Url(url::Url),
}

pub fn rates_url(raw: &str) -> Result<RatesUrl, String> {
    if raw.trim().eq_ignore_ascii_case("none") {
        return Ok(RatesUrl::None);
    }
    feed_url(raw).map(RatesUrl::Url)
}

/// `SYNC_LEADER`: whether replicas on PostgreSQL elect one syncing leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncLeader {
    Auto,
    Always,
}

pub fn sync_leader(raw: &str) -> Result<SyncLeader, String> {
    match raw.trim() {
        "auto" => Ok(SyncLeader::Auto),
        "always" => Ok(SyncLeader::Always),
        _ => Err("must be auto or always".into()),
    }
}

pub fn durations(raw: &str) -> Result<Durations, String> {
    raw.split(',')
        .map(|d| duration(d.trim()))
        .collect::<Result<_, _>>()
        .map(Durations)
}

/// `PUBLIC_URL`: an http(s) base URL with a host and nothing after its
/// path (no query, no fragment), kept without a trailing slash so
/// `{PUBLIC_URL}/go/CODE` is one slash apart.
pub fn public_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) URL like https://plans.example.com".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must be a base URL without query, fragment or credentials".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Comma-separated origins, `*` for any, `none` for partners' origins only.
pub fn cors(raw: &str) -> Result<CorsOrigins, String> {
    let items: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    // An empty variable counts as unset, like every other: the default `*`.
    if items.is_empty() || items.contains(&"*") {
        return Ok(CorsOrigins::Any);
    }
    if items.len() == 1 && items[0].eq_ignore_ascii_case("none") {
        return Ok(CorsOrigins::List(Vec::new()));
    }
    items
        .into_iter()
        .map(normalize_origin)
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
}

pub fn log_format(raw: &str) -> Result<LogFormat, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "pretty" | "text" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("{raw:?} is not pretty or json")),
    }
}

/// Requests per minute; `0` turns the limit off.
pub fn rate_limit(raw: &str) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .map_err(|_| format!("{raw:?} is not a whole number"))
}

/// A share from 0 to 1.
pub fn share(raw: &str) -> Result<f64, String> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| format!("{raw:?} is not a number from 0 to 1"))
}

/// A whole number from 1 to `max`.
pub fn count(raw: &str, max: usize) -> Result<usize, String> {
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|v| (1..=max).contains(v))
        .ok_or_else(|| format!("{raw:?} is not a whole number from 1 to {max}"))
}

pub fn concurrency(raw: &str) -> Result<usize, String> {
    count(raw, 1 << 20)
}

pub fn connections(raw: &str) -> Result<usize, String> {
    count(raw, 1_000_000)
}

/// A file path; kept as given (relative paths are relative to the working
/// directory).
pub fn path(raw: &str) -> Result<PathBuf, String> {
    if raw.trim().is_empty() {
        return Err("is empty".into());
    }
    Ok(PathBuf::from(raw))
}

/// A secret from the command line or environment, never printed.
pub fn secret(raw: &str) -> Result<Secret, String> {
    let raw = raw.trim();
    if raw.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(Secret::new(raw))
}

/// `sqlite:PATH`, `sqlite::memory:` or `postgres://...`; the URL stays secret
/// (it may carry a password), so the message never quotes it.
pub fn database_url(raw: &str) -> Result<Secret, String> {
    let raw = raw.trim();
    crate::history::validate_url(raw)?;
    Ok(Secret::new(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(size("64MiB").unwrap(), 64 << 20);
        assert_eq!(size("500KB").unwrap(), 500_000);
        assert_eq!(size("1000").unwrap(), 1000);
        assert_eq!(size("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(size("1.5GiB").unwrap(), 3 << 29);
        for bad in ["", "MiB", "-1", "12 parsecs", "0"] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_positive() {
        assert_eq!(duration("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(
            duration(" 400d ").unwrap(),
            Duration::from_secs(400 * 86400)
        );
        for bad in ["", "soon", "0s", "-1s", "5"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_accept_words_and_digits() {
        for yes in ["1", "true", "YES", " on "] {
            assert_eq!(flag(yes), Ok(true), "{yes}");
        }
        for no in ["0", "false", "No", "off", ""] {
            assert_eq!(flag(no), Ok(false), "{no}");
        }
        assert!(flag("maybe").unwrap_err().contains("\"maybe\""));
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list_or_any() {
        let list = cors(" https://a.example , https://B.example:8443,").unwrap();
        assert_eq!(
            list,
            CorsOrigins::List(vec![
                "https://a.example".into(),
                "https://b.example:8443".into()
            ])
        );
        assert_eq!(cors("https://a.example,*").unwrap(), CorsOrigins::Any);
        assert_eq!(
            cors(" ").unwrap(),
            CorsOrigins::Any,
            "empty counts as unset"
        );
        assert!(cors("shop.example").is_err(), "an origin has a scheme");
    }

    #[test]
    fn cors_none_allows_only_partner_origins() {
        assert_eq!(cors("none").unwrap(), CorsOrigins::List(Vec::new()));
        assert_eq!(cors(" NONE ").unwrap(), CorsOrigins::List(Vec::new()));
    }

    #[test]
    fn feed_urls_are_http_without_a_key() {
        assert!(feed_url("https://mirror.example/feed").is_ok());
        for bad in [
            "ftp://x",
            "not a url",
            "https://x.example/f?key=abc",
            "unix:/x",
        ] {
            assert!(feed_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_have_ranges() {
        assert_eq!(rate_limit("60"), Ok(60));
        assert!(rate_limit("-1").is_err());
        assert_eq!(share("0.5"), Ok(0.5));
        assert!(share("1.5").is_err() && share("NaN").is_err());
        assert_eq!(connections("4096"), Ok(4096));
        assert!(connections("0").is_err() && connections("1000001").is_err());
        assert_eq!(
            listen_addr("localhost:9").unwrap().to_string(),
            "127.0.0.1:9"
        );
    }

    #[test]
    fn database_errors_never_quote_the_url() {
        let e = database_url("mysql://u:hunter2@db/x").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}

#[cfg(test)]
mod public_url_tests {
    use super::public_url;

    #[test]
    fn a_public_url_is_a_bare_http_base() {
        assert_eq!(
            public_url("https://plans.example/").unwrap(),
            "https://plans.example"
        );
        assert_eq!(
            public_url("http://127.0.0.1:8080/shop/").unwrap(),
            "http://127.0.0.1:8080/shop"
        );
        for bad in [
            "ftp://x.example",
            "plans.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
            "https://u:p@x.example",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
    }
}
