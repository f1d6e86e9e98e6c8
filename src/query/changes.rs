//! `/changes` parameters: where a page of changes starts (`since`, or the
//! opaque `cursor` a previous page handed out) and how many it holds.

use super::params::{QueryError, parse_int, parse_pairs};

pub const DEFAULT_CHANGES: usize = 500;
pub const MAX_CHANGES: usize = 1000;

/// Where the next page of changes starts: after `(version, package_code)`
/// in a feed of changes after `since`. Written as hex of
/// `since.version.packageCode`, so it is opaque and URL-safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub since: u64,
    pub version: u64,
    pub package_code: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.since, self.version, self.package_code)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A cursor this service could have written: hex, at most 512
    /// characters, a version above `since`, both within `i64`.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() % 2 != 0 || raw.len() > 512 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..raw.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(raw.get(i..i + 2)?, 16).ok())
            .collect();
        let text = String::from_utf8(bytes?).ok()?;
        let mut parts = text.splitn(3, '.');
        let since = parts.next()?.parse::<u64>().ok()?;
        let version = parts.next()?.parse::<u64>().ok()?;
        let package_code = parts.next()?.to_owned();
        (version > since && since <= i64::MAX as u64 && version <= i64::MAX as u64).then_some(
            Self {
                since,
                version,
                package_code,
            },
        )
    }
}

/// A validated `/changes` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangesQuery {
    pub since: u64,
    /// Where a page after the first starts.
    pub after: Option<(u64, String)>,
    pub limit: usize,
}

impl ChangesQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        let mut since = None;
        let mut cursor = None;
        let mut limit = DEFAULT_CHANGES;
        for (name, value) in parse_pairs(raw, &["since", "cursor", "limit"])? {
            match name.as_str() {
                "since" => since = Some(parse_int(&name, &value, 0, i64::MAX as usize)? as u64),
                "cursor" => {
                    cursor = Some(Cursor::decode(&value).ok_or_else(|| {
                        QueryError::invalid(
                            "cursor",
                            "cursor must be the next value of a previous page",
                        )
                    })?)
                }
                "limit" => limit = parse_int(&name, &value, 1, MAX_CHANGES)?,
                _ => unreachable!("parse_pairs only lets accepted names through"),
            }
        }
        match (since, cursor) {
            (Some(_), Some(_)) => Err(QueryError::invalid(
                "cursor",
                "give either since or cursor, not both",
            )),
            (None, None) => Err(QueryError::invalid(
                "since",
                "since is required (a version number), unless cursor is given",
            )),
            (Some(since), None) => Ok(Self {
                since,
                after: None,
                limit,
            }),
            (None, Some(cursor)) => Ok(Self {
                since: cursor.since,
                after: Some((cursor.version, cursor.package_code)),
                limit,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let cursor = Cursor {
            since: 3,
            version: 5,
            package_code: "DE-5GB.x".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let same = Cursor {
            since: 5,
            version: 5,
            package_code: "x".into(),
        }
        .encode();
        for bad in ["", "zz", "abc", &same, &"00".repeat(300)] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_or_cursor_is_required_and_limits_are_bounded() {
        let parameter = |raw: &str| match ChangesQuery::parse(Some(raw)) {
            Err(QueryError::Invalid { parameter, .. }) => parameter,
            other => panic!("{raw}: {other:?}"),
        };
        assert_eq!(parameter(""), "since");
        assert_eq!(parameter("since=-1"), "since");
        assert_eq!(parameter("since=1.5"), "since");
        assert_eq!(parameter("since=1&limit=0"), "limit");
        assert_eq!(parameter("since=1&limit=1001"), "limit");
        assert_eq!(parameter("cursor=zz"), "cursor");
        assert_eq!(parameter("since=1&cursor=31"), "cursor");
        assert_eq!(
            ChangesQuery::parse(Some("since=0")).unwrap(),
            ChangesQuery {
                since: 0,
                after: None,
                limit: DEFAULT_CHANGES
            }
        );
        let cursor = Cursor {
            since: 2,
            version: 4,
            package_code: "A".into(),
        };
        let page = ChangesQuery::parse(Some(&format!("cursor={}", cursor.encode()))).unwrap();
        assert_eq!((page.since, page.after), (2, Some((4, "A".into()))));
    }
}
