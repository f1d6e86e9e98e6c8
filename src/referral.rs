//! Referral codes, `productUrl` rewriting and the partner registry (SPEC section 5).
//!
//! A product URL is split once, when a catalog is built, into the part before the
//! point where `ref` goes and the part after it ([`ProductUrl`]). Serving a partner
//! then splices `?ref=CODE` / `&ref=CODE` between the two: no URL is parsed or
//! copied per request, and one catalog serves every partner.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// A partner referral code: 1-64 characters of `A-Z a-z 0-9 _ -`, starting with a
/// letter or digit. Those characters need no escaping in a URL nor in JSON, which
/// is what lets the renderer splice a code into pre-rendered bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefCode(String);

impl RefCode {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let bytes = raw.as_bytes();
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(format!("must be 1 to {} characters long", Self::MAX_LEN));
        }
        if !bytes[0].is_ascii_alphanumeric() {
            return Err("must start with a letter or a digit".into());
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        {
            return Err("may only contain A-Z, a-z, 0-9, '_' and '-'".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated absolute http(s) product URL with any `ref` parameter removed,
/// split at the point where a referral code is inserted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductUrl {
    /// Everything up to the end of the query (no `ref`), e.g. `https://x/p?a=1`.
    head: String,
    /// Whether `head` already has a query, so a ref is joined with `&`, not `?`.
    has_query: bool,
    /// `#fragment` or empty.
    tail: String,
}

impl ProductUrl {
    /// Parses an upstream `productUrl`. Only absolute `http`/`https` URLs with a
    /// host are accepted. Every `ref` parameter is removed (also an encoded
    /// `r%65f`); every other parameter is kept byte for byte, in order.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| e.to_string())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("scheme {:?} is not http(s)", url.scheme()));
        }
        if !matches!(url.host(), Some(url::Host::Domain(d)) if !d.is_empty()) {
            return Err("no host name".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("carries a user name or password".into());
        }
        let mut head = url[..url::Position::AfterPath].to_owned();
        let kept: Vec<&str> = url
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty() && !is_ref_pair(pair))
            .collect();
        let has_query = !kept.is_empty();
        if has_query {
            head.push('?');
            head.push_str(&kept.join("&"));
        }
        let tail = url.fragment().map(|f| format!("#{f}")).unwrap_or_default();
        Ok(Self {
            head,
            has_query,
            tail,
        })
    }

    /// The part before the ref splice point.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The part after the ref splice point (the fragment, if any).
    pub fn tail(&self) -> &str {
        &self.tail
    }

    /// The separator that introduces `ref=` after [`head`](Self::head).
    pub fn separator(&self) -> char {
        if self.has_query { '&' } else { '?' }
    }

    /// The URL with `ref` set to `code`, or with no ref at all.
    pub fn with_ref(&self, code: Option<&RefCode>) -> String {
        match code {
            Some(code) => format!("{}{}ref={}{}", self.head, self.separator(), code, self.tail),
            None => format!("{}{}", self.head, self.tail),
        }
    }
}

fn is_ref_pair(pair: &str) -> bool {
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .is_some_and(|(key, _)| key == "ref")
}

/// One entry of `PARTNERS_FILE`.
#[derive(Clone, Debug)]
pub struct Partner {
    pub id: String,
    pub ref_code: RefCode,
    pub origins: Vec<String>,
    /// SHA-256 of the partner's `/partner/clicks` token, when it has one.
    pub token_sha256: Option<[u8; 32]>,
    /// Its `[[partner.webhook]]` endpoints.
    pub webhooks: Vec<crate::webhooks::Endpoint>,
}

/// The partner registry: who owns which ref, and which browser origins map to whom.
#[derive(Clone, Debug, Default)]
pub struct PartnerRegistry {
    partners: Vec<Partner>,
    by_ref: HashMap<String, usize>,
    by_origin: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnersToml {
    #[serde(default)]
    partner: Vec<PartnerToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerToml {
    id: String,
    #[serde(rename = "ref")]
    ref_code: String,
    #[serde(default)]
    origins: Vec<String>,
    token_sha256: Option<String>,
    #[serde(default)]
    webhook: Vec<crate::webhooks::WebhookToml>,
}

/// 64 hex digits, any case.
fn parse_sha256(hex: &str) -> Result<[u8; 32], String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(
            "must be 64 hex digits (the SHA-256 of the token, e.g. printf %s TOKEN | sha256sum)"
                .into(),
        );
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    Ok(out)
}

/// Why a partners file was refused; the entry at fault is named.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// toml's own message, without the quoted file excerpt (one line).
    #[error("not valid TOML: {0}")]
    Toml(String),
    #[error("partner #{number} (id {id:?}): {problem}")]
    Entry {
        number: usize,
        id: String,
        problem: String,
    },
    #[error("holds no [[partner]] entries")]
    Empty,
}

impl PartnerRegistry {
    /// Reads and validates a partners file; the error names the faulty entry.
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text)
    }

    pub fn from_toml(text: &str) -> Result<Self, RegistryError> {
        let file: PartnersToml =
            toml::from_str(text).map_err(|e| RegistryError::Toml(e.message().to_owned()))?;
        let mut registry = Self::default();
        for (i, entry) in file.partner.into_iter().enumerate() {
            let at = |problem: String| RegistryError::Entry {
                number: i + 1,
                id: entry.id.clone(),
                problem,
            };
            if entry.id.trim().is_empty() {
                return Err(at("id is empty".into()));
            }
            let ref_code = RefCode::parse(&entry.ref_code).map_err(|e| at(format!("ref {e}")))?;
            if registry.partners.iter().any(|p| p.id == entry.id) {
                return Err(at("duplicate id".into()));
            }
            let index = registry.partners.len();
            if registry
                .by_ref
                .insert(ref_code.as_str().to_owned(), index)
                .is_some()
            {
                return Err(at(format!("ref {ref_code:?} is already used")));
            }
            let mut origins = Vec::with_capacity(entry.origins.len());
            for origin in entry.origins {
                let origin = normalize_origin(&origin).map_err(&at)?;
                if registry.by_origin.insert(origin.clone(), index).is_some() {
                    return Err(at(format!("origin {origin} is already used")));
                }
                origins.push(origin);
            }
            let token_sha256 = entry
                .token_sha256
                .as_deref()
                .map(parse_sha256)
                .transpose()
                .map_err(|e| at(format!("token_sha256 {e}")))?;
            let mut webhooks = Vec::with_capacity(entry.webhook.len());
            for (n, raw) in entry.webhook.into_iter().enumerate() {
                let endpoint = crate::webhooks::Endpoint::from_toml(&entry.id, &ref_code, raw)
                    .map_err(|e| at(format!("webhook #{}: {e}", n + 1)))?;
                webhooks.push(endpoint);
            }
            registry.partners.push(Partner {
                id: entry.id,
                ref_code,
                origins,
                token_sha256,
                webhooks,
            });
        }
        // An empty or truncated file would silently break every partner's
        // widget at once: refuse it (at start-up, and on reload keep the old).
        if registry.partners.is_empty() {
            return Err(RegistryError::Empty);
        }
        Ok(registry)
    }

    pub fn is_empty(&self) -> bool {
        self.partners.is_empty()
    }

    /// Every partner's webhook endpoints.
    pub fn endpoints(&self) -> Vec<crate::webhooks::Endpoint> {
        self.partners
            .iter()
            .flat_map(|p| p.webhooks.iter().cloned())
            .collect()
    }

    /// `http://` endpoints need `WEBHOOK_ALLOW_PRIVATE`.
    pub fn check_webhooks(&self, allow_private: bool) -> Result<(), RegistryError> {
        for (i, partner) in self.partners.iter().enumerate() {
            for endpoint in &partner.webhooks {
                endpoint
                    .check_scheme(allow_private)
                    .map_err(|problem| RegistryError::Entry {
                        number: i + 1,
                        id: partner.id.clone(),
                        problem,
                    })?;
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.partners.len()
    }

    pub fn partners(&self) -> &[Partner] {
        &self.partners
    }

    pub fn by_ref(&self, code: &RefCode) -> Option<&Partner> {
        self.by_ref.get(code.as_str()).map(|&i| &self.partners[i])
    }

    /// The partner whose `token_sha256` is the SHA-256 of `token`; every
    /// partner's digest is compared in full (constant time per comparison).
    pub fn by_token(&self, token: &str) -> Option<&Partner> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for partner in &self.partners {
            if let Some(expected) = &partner.token_sha256 {
                let diff = expected
                    .iter()
                    .zip(&digest)
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b));
                if diff == 0 {
                    found = Some(partner);
                }
            }
        }
        found
    }

    pub fn by_origin(&self, origin: &str) -> Option<&Partner> {
        self.by_origin
            .get(origin.to_ascii_lowercase().as_str())
            .map(|&i| &self.partners[i])
    }
}

/// Checks an origin (`scheme://host[:port]`, no path) and lower-cases it, the
/// form browsers send in the `Origin` header.
pub fn normalize_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let url = url::Url::parse(raw).map_err(|e| format!("origin {raw:?} is malformed: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("origin {raw:?} must be http(s)://host[:port]"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "origin {raw:?} must not have a path, query or fragment"
        ));
    }
    if raw.ends_with('/') {
        return Err(format!("origin {raw:?} must not end with '/'"));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> RefCode {
        RefCode::parse(s).unwrap()
    }

    #[test]
    fn ref_codes_follow_the_spec_alphabet() {
        for ok in ["a", "A1", "acme-01", "x_y", "9", &"a".repeat(64)] {
            assert!(RefCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "_a",
            "a b",
            "a&b",
            "a=b",
            "ä",
            "a/b",
            "a.b",
            "a#",
            &"a".repeat(65),
        ] {
            assert!(RefCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ref_is_appended_to_a_plain_url() {
        let url = ProductUrl::parse("https://www.connectmeguru.com/esim/de-5gb").unwrap();
        assert_eq!(
            url.with_ref(Some(&code("acme"))),
            "https://www.connectmeguru.com/esim/de-5gb?ref=acme"
        );
        assert_eq!(
            url.with_ref(None),
            "https://www.connectmeguru.com/esim/de-5gb"
        );
    }

    #[test]
    fn other_parameters_and_fragment_are_kept_in_order() {
        let url = ProductUrl::parse("https://x.example/p?b=2&a=1#top").unwrap();
        assert_eq!(
            url.with_ref(Some(&code("r1"))),
            "https://x.example/p?b=2&a=1&ref=r1#top"
        );
        assert_eq!(url.with_ref(None), "https://x.example/p?b=2&a=1#top");
    }

    #[test]
    fn existing_refs_are_replaced_not_duplicated() {
        let url = ProductUrl::parse("https://x.example/p?ref=up&a=1&ref=again&r%65f=enc").unwrap();
        assert_eq!(
            url.with_ref(Some(&code("mine"))),
            "https://x.example/p?a=1&ref=mine"
        );
        assert_eq!(url.with_ref(None), "https://x.example/p?a=1");
        let only = ProductUrl::parse("https://x.example/p?ref=up#f").unwrap();
        assert_eq!(only.with_ref(None), "https://x.example/p#f");
        // A parameter that merely starts with "ref" is not a ref.
        let refx = ProductUrl::parse("https://x.example/p?referrer=1").unwrap();
        assert_eq!(refx.with_ref(None), "https://x.example/p?referrer=1");
    }

    #[test]
    fn percent_encoded_values_are_kept_intact() {
        let url = ProductUrl::parse("https://x.example/p?q=a%20b%2Fc&x=%E2%82%AC").unwrap();
        assert_eq!(
            url.with_ref(Some(&code("z"))),
            "https://x.example/p?q=a%20b%2Fc&x=%E2%82%AC&ref=z"
        );
    }

    #[test]
    fn trailing_question_mark_and_idn_hosts_are_handled() {
        let url = ProductUrl::parse("https://x.example/p?").unwrap();
        assert_eq!(url.with_ref(Some(&code("z"))), "https://x.example/p?ref=z");
        let idn = ProductUrl::parse("https://bücher.example/p").unwrap();
        assert_eq!(
            idn.with_ref(Some(&code("z"))),
            "https://xn--bcher-kva.example/p?ref=z"
        );
    }

    #[test]
    fn non_http_or_relative_urls_are_rejected() {
        for bad in [
            "/esim/de",
            "ftp://x.example/p",
            "javascript:alert(1)",
            "",
            "https://",
        ] {
            assert!(ProductUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(ProductUrl::parse("http://x.example/p").is_ok());
    }

    #[test]
    fn registry_maps_refs_and_origins() {
        let reg = PartnerRegistry::from_toml(
            r#"
            [[partner]]
            id = "acme"
            ref = "acme-01"
            origins = ["https://shop.acme.example", "https://Acme.example:8443"]
            [[partner]]
            id = "globex"
            ref = "globex"
            "#,
        )
        .unwrap();
        assert_eq!(reg.len(), 2);
        assert_eq!(reg.by_ref(&code("acme-01")).unwrap().id, "acme");
        assert!(reg.by_ref(&code("nobody")).is_none());
        assert_eq!(
            reg.by_origin("https://acme.example:8443").unwrap().id,
            "acme"
        );
        assert_eq!(
            reg.by_origin("https://shop.acme.example").unwrap().id,
            "acme"
        );
        assert!(reg.by_origin("https://evil.example").is_none());
    }

    #[test]
    fn a_partner_logs_in_with_the_token_whose_sha256_is_registered() {
        // SHA-256 of "test", given in upper case.
        let reg = PartnerRegistry::from_toml(
            r#"
            [[partner]]
            id = "acme"
            ref = "acme-01"
            token_sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
            [[partner]]
            id = "globex"
            ref = "globex"
            "#,
        )
        .unwrap();
        assert_eq!(reg.by_token("test").unwrap().id, "acme");
        assert!(reg.by_token("Test").is_none());
        assert!(reg.by_token("").is_none());
        let bad = PartnerRegistry::from_toml("[[partner]]\nid='a'\nref='x'\ntoken_sha256='abc'")
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("token_sha256") && bad.contains("64 hex"),
            "{bad}"
        );
    }

    #[test]
    fn registry_rejects_bad_entries_naming_them() {
        let cases = [
            ("[[partner]]\nid='a'\nref='-x'", "partner #1"),
            (
                "[[partner]]\nid='a'\nref='x'\n[[partner]]\nid='a'\nref='y'",
                "duplicate id",
            ),
            (
                "[[partner]]\nid='a'\nref='x'\n[[partner]]\nid='b'\nref='x'",
                "already used",
            ),
            (
                "[[partner]]\nid='a'\nref='x'\norigins=['shop.example']",
                "malformed",
            ),
            (
                "[[partner]]\nid='a'\nref='x'\norigins=['https://a.example/path']",
                "path",
            ),
            ("[[partner]]\nid='a'", "ref"),
            ("not toml [", "TOML"),
        ];
        for (text, needle) in cases {
            let err = PartnerRegistry::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
