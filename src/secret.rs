//! Secrets (the upstream key, the admin token, the database password): a type
//! that never prints itself, and one scrubber for text that may quote them.

use std::fmt;

/// A secret whose `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call sites are few and easy to audit.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces the secret (raw and percent-encoded) in `text`.
    pub fn scrub(&self, text: &str) -> String {
        scrub_all(std::slice::from_ref(self), text)
    }

    /// The forms the secret can take in text: raw, form- and percent-encoded.
    fn forms(&self) -> Vec<String> {
        let mut forms = vec![self.0.clone()];
        let form: String = url::form_urlencoded::byte_serialize(self.0.as_bytes()).collect();
        let percent = form.replace('+', "%20");
        for f in [form, percent] {
            if !forms.contains(&f) {
                forms.push(f);
            }
        }
        forms.retain(|f| !f.is_empty());
        forms
    }

    /// Compares in time independent of where the inputs differ (only the
    /// length can leak, which says little about a random token).
    pub fn constant_time_eq(&self, other: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        mine.len() == other.len()
            && mine
                .iter()
                .zip(other)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The marker that replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Replaces every occurrence of every secret in `text`, in one left-to-right
/// pass over the original text: longest match first at each position, each
/// occurrence once, and the marker is never scanned again, so a short secret
/// that occurs inside the marker (or inside another secret's marker) cannot
/// corrupt the line.
pub fn scrub_all(secrets: &[Secret], text: &str) -> String {
    let mut patterns: Vec<String> = secrets.iter().flat_map(Secret::forms).collect();
    if patterns.is_empty() {
        return text.to_owned();
    }
    patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for p in &patterns {
            if rest.starts_with(p.as_str()) {
                out.push_str(REDACTED);
                rest = &rest[p.len()..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_never_rescrub_the_marker() {
        let secrets = [Secret::new("e"), Secret::new("red")];
        assert_eq!(
            scrub_all(&secrets, "cmg_feed"),
            "cmg_f[redacted][redacted]d"
        );
        // Real occurrences only, once each: the text "[redacted]" itself holds
        // "red" and "e"; the markers put in are not scanned again.
        assert_eq!(
            scrub_all(&secrets, "[redacted]"),
            "[[redacted]act[redacted]d]"
        );
        let token = [Secret::new("refresh-token-000001")];
        assert_eq!(
            scrub_all(&token, "path=/admin/refresh token=refresh-token-000001"),
            "path=/admin/refresh token=[redacted]"
        );
    }

    #[test]
    fn encoded_forms_are_scrubbed_once() {
        let key = [Secret::new("a b/c")];
        assert_eq!(
            scrub_all(&key, "raw a b/c form a+b%2Fc pct a%20b%2Fc"),
            "raw [redacted] form [redacted] pct [redacted]"
        );
    }
}
