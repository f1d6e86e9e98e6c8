//! The CMG client: one GET per sync, with the key in the query, bounded in time
//! and size. The key never leaves this module in a printable form: [`ApiKey`]
//! redacts itself, and every error is rendered without its URL and scrubbed.

pub mod wire;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header::ACCEPT;
use reqwest::{StatusCode, redirect};
use url::Url;

use crate::secret::Secret;

/// The CMG API key.
pub type ApiKey = Secret;

/// Settings of the upstream client.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// Feed URL without the key.
    pub url: Url,
    pub key: ApiKey,
    /// Total time for one request, body included.
    pub timeout: Duration,
    /// Largest body accepted, counted while reading (after decompression).
    pub max_bytes: u64,
}

/// Why a fetch failed; `Display` never contains the key or the full URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("upstream rejected the API key (HTTP {0})")]
    Unauthorized(u16),
    #[error("upstream answered HTTP {0}")]
    Status(u16),
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect to upstream: {0}")]
    Connect(String),
    #[error("upstream body exceeds the {0}-byte limit")]
    TooLarge(u64),
    #[error("upstream request failed: {0}")]
    Transport(String),
}

/// A successful fetch.
#[derive(Debug)]
pub struct Fetched {
    pub body: Bytes,
    pub elapsed: Duration,
}

#[derive(Clone, Debug)]
pub struct UpstreamClient {
    http: reqwest::Client,
    config: UpstreamConfig,
    /// What `Accept` asks for.
    accept: &'static str,
}

impl UpstreamClient {
    /// Fails only when the TLS backend cannot initialise; the error carries
    /// no URL.
    pub fn new(config: UpstreamConfig) -> Result<Self, reqwest::Error> {
        let origin = config.url.origin();
        let http = reqwest::Client::builder()
            .user_agent(concat!("cmg-feed-proxy/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .read_timeout(config.timeout)
            .timeout(config.timeout)
            // The key is in the query: never follow a redirect off the origin.
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 3 {
                    attempt.error("too many redirects")
                } else if attempt.url().origin() == origin {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()
            .map_err(reqwest::Error::without_url)?;
        Ok(Self {
            http,
            config,
            accept: "application/json",
        })
    }

    /// A client for another document on the same terms (timeout, size cap,
    /// redirects only within its origin) that sends no key: the exchange
    /// rates.
    pub fn keyless(
        url: Url,
        timeout: Duration,
        max_bytes: u64,
        accept: &'static str,
    ) -> Result<Self, reqwest::Error> {
        let mut client = Self::new(UpstreamConfig {
            url,
            key: Secret::new(""),
            timeout,
            max_bytes,
        })?;
        client.accept = accept;
        Ok(client)
    }

    /// The key, for the catalog's check that no plan carries it.
    pub fn key(&self) -> &Secret {
        &self.config.key
    }

    /// Fetches the feed body.
    pub async fn fetch(&self) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        let timeout = self.config.timeout;
        // reqwest enforces the same total timeout; this outer one also covers a
        // body that drips in between read deadlines.
        match tokio::time::timeout(timeout, self.fetch_inner()).await {
            Ok(Ok(body)) => Ok(Fetched {
                body,
                elapsed: started.elapsed(),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(FetchError::Timeout(timeout)),
        }
    }

    async fn fetch_inner(&self) -> Result<Bytes, FetchError> {
        let mut url = self.config.url.clone();
        if !self.config.key.expose().is_empty() {
            url.query_pairs_mut()
                .append_pair("key", self.config.key.expose());
        }
        let mut response = self
            .http
            .get(url)
            .header(ACCEPT, self.accept)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(FetchError::Unauthorized(status.as_u16()));
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let max = self.config.max_bytes;
        if response.content_length().is_some_and(|len| len > max) {
            return Err(FetchError::TooLarge(max));
        }
        let capacity = response.content_length().unwrap_or(64 * 1024).min(max) as usize;
        let mut body = BytesMut::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(FetchError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// Turns a reqwest error into a [`FetchError`] without its URL; the text is
    /// scrubbed of the key as well, in case some layer quoted it.
    fn classify(&self, error: reqwest::Error) -> FetchError {
        if error.is_timeout() {
            return FetchError::Timeout(self.config.timeout);
        }
        let is_connect = error.is_connect();
        let text = self.config.key.scrub(&error_chain(&error.without_url()));
        if is_connect {
            FetchError::Connect(text)
        } else {
            FetchError::Transport(text)
        }
    }
}

/// `error: cause: cause` on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_themselves() {
        let key = Secret::new("s3cr3t-key");
        assert_eq!(format!("{key} {key:?}"), "[redacted] [redacted]");
        assert!(!format!("{:?}", Some(key.clone())).contains("s3cr3t"));
    }

    #[test]
    fn scrub_removes_raw_and_encoded_forms() {
        let key = Secret::new("a b/c");
        let text = "url?key=a+b%2Fc and a b/c";
        assert_eq!(key.scrub(text), "url?key=[redacted] and [redacted]");
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        let token = Secret::new("token-123");
        assert!(token.constant_time_eq(b"token-123"));
        for other in [
            &b"token-124"[..],
            b"token-12",
            b"token-1234",
            b"",
            b"TOKEN-123",
        ] {
            assert!(!token.constant_time_eq(other));
        }
    }
}
