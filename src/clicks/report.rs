//! Click reports (SPEC section 10): the parameters of `/admin/clicks` and
//! `/partner/clicks`, UTC dates, and the report's rows and order.

use serde::Serialize;

use crate::query::params::{QueryError, parse_pairs};

/// The widest report, in dates.
pub const MAX_DATES: i64 = 400;
/// The default report: the 30 dates ending today.
const DEFAULT_DATES: i64 = 30;

/// What a report groups clicks by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    PackageCode,
    Country,
    /// A sub-ID or utm column: its index in [`super::LABELS`].
    Label(usize),
    Partner,
}

impl GroupBy {
    /// Every value, as `group_by` spells it; `partner` last (admin only).
    pub const NAMES: [&'static str; 11] = [
        "day",
        "packageCode",
        "country",
        "subid",
        "subid2",
        "subid3",
        "subid4",
        "subid5",
        "utm_source",
        "utm_campaign",
        "partner",
    ];

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "day" => Self::Day,
            "packageCode" => Self::PackageCode,
            "country" => Self::Country,
            "partner" => Self::Partner,
            "subid" | "subid2" | "subid3" | "subid4" | "subid5" | "utm_source" | "utm_campaign" => {
                Self::Label(super::LABELS.iter().position(|l| *l == name)?)
            }
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::PackageCode => "packageCode",
            Self::Country => "country",
            Self::Partner => "partner",
            Self::Label(i) => super::LABELS[i],
        }
    }

    /// The column of `clicks` (or `click_countries`) holding the key.
    pub(super) fn column(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::PackageCode => "package_code",
            Self::Country => "country",
            Self::Partner => "partner",
            Self::Label(i) => super::LABELS[i],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// Which clicks a report covers and how it groups them.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportQuery {
    /// First and last date, as days since 1970-01-01, inclusive.
    pub from: i64,
    pub to: i64,
    pub group_by: GroupBy,
    /// Only this partner's clicks (`/partner/clicks`, or `partner=`).
    pub partner: Option<String>,
    /// Bot and prefetch clicks too.
    pub bots: bool,
    pub format: Format,
}

/// Who asks for a report: the admin (every partner, `partner` and
/// `group_by=partner` allowed) or one partner (its own clicks only).
pub enum Viewer<'a> {
    Admin,
    Partner(&'a str),
}

impl ReportQuery {
    /// Parses a report's query string; `today` is the current UTC day.
    pub fn parse(raw: Option<&str>, viewer: Viewer<'_>, today: i64) -> Result<Self, QueryError> {
        let admin = matches!(viewer, Viewer::Admin);
        let allowed: &[&str] = if admin {
            &["from", "to", "group_by", "partner", "bots", "format"]
        } else {
            &["from", "to", "group_by", "bots", "format"]
        };
        let mut from = None;
        let mut to = None;
        let mut query = Self {
            from: 0,
            to: 0,
            group_by: GroupBy::Day,
            partner: match viewer {
                Viewer::Admin => None,
                Viewer::Partner(id) => Some(id.to_owned()),
            },
            bots: false,
            format: Format::Json,
        };
        for (name, value) in parse_pairs(raw, allowed)? {
            match name.as_str() {
                "from" | "to" => {
                    let day = parse_date(&value).ok_or_else(|| {
                        QueryError::invalid(
                            &name,
                            format!("{name} must be a date like 2026-11-01 (YYYY-MM-DD, UTC)"),
                        )
                    })?;
                    if name == "from" {
                        from = Some(day);
                    } else {
                        to = Some(day);
                    }
                }
                "group_by" => {
                    query.group_by = GroupBy::parse(&value)
                        .filter(|g| admin || *g != GroupBy::Partner)
                        .ok_or_else(|| {
                            let names =
                                &GroupBy::NAMES[..GroupBy::NAMES.len() - usize::from(!admin)];
                            QueryError::invalid(
                                "group_by",
                                format!("group_by must be one of {}", names.join(", ")),
                            )
                        })?;
                }
                "partner" => {
                    if !super::is_label(&value) {
                        return Err(QueryError::invalid(
                            "partner",
                            "partner must be a partner id from the registry",
                        ));
                    }
                    query.partner = Some(value);
                }
                "bots" => {
                    query.bots = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(QueryError::invalid("bots", "bots must be true or false"));
                        }
                    };
                }
                "format" => {
                    query.format = match value.as_str() {
                        "json" => Format::Json,
                        "csv" => Format::Csv,
                        _ => {
                            return Err(QueryError::invalid(
                                "format",
                                "format must be json or csv",
                            ));
                        }
                    };
                }
                _ => unreachable!("parse_pairs admits only the listed names"),
            }
        }
        let (from, to) = match (from, to) {
            (Some(from), Some(to)) => (from, to),
            (Some(from), None) => (from, today.max(from)),
            (None, Some(to)) => (to - (DEFAULT_DATES - 1), to),
            (None, None) => (today - (DEFAULT_DATES - 1), today),
        };
        if to < from {
            return Err(QueryError::invalid("to", "to must not be before from"));
        }
        if to - from + 1 > MAX_DATES {
            return Err(QueryError::invalid(
                "from",
                format!("a report covers at most {MAX_DATES} dates"),
            ));
        }
        query.from = from;
        query.to = to;
        Ok(query)
    }
}

/// One row: the group's key (null for clicks without that value), its
/// clicks and distinct visitors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub key: Option<String>,
    pub clicks: u64,
    pub visitors: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Total {
    pub clicks: u64,
    pub visitors: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub from: String,
    pub to: String,
    pub group_by: &'static str,
    pub rows: Vec<Row>,
    pub total: Total,
}

impl Report {
    /// Rows in SPEC's order: by date for `day`; otherwise most clicks
    /// first, then by key with null last.
    pub fn new(query: &ReportQuery, mut rows: Vec<Row>, total: Total) -> Self {
        if query.group_by == GroupBy::Day {
            rows.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            rows.sort_by(|a, b| {
                b.clicks
                    .cmp(&a.clicks)
                    .then_with(|| match (&a.key, &b.key) {
                        (Some(a), Some(b)) => a.cmp(b),
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    })
            });
        }
        Self {
            from: format_date(query.from),
            to: format_date(query.to),
            group_by: query.group_by.name(),
            rows,
            total,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data always serialises")
    }

    /// `key,clicks,visitors` and one line per row (RFC 4180; a null key is
    /// an empty cell).
    pub fn to_csv(&self) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(64 + self.rows.len() * 24));
        let write = |w: &mut csv::Writer<Vec<u8>>| -> csv::Result<()> {
            w.write_record(["key", "clicks", "visitors"])?;
            for row in &self.rows {
                w.write_record([
                    row.key.as_deref().unwrap_or(""),
                    &row.clicks.to_string(),
                    &row.visitors.to_string(),
                ])?;
            }
            Ok(())
        };
        write(&mut writer).expect("writing to a Vec");
        writer.into_inner().expect("writing to a Vec")
    }
}

/// `YYYY-MM-DD` (a real date, years 1970–9999) as days since the epoch.
pub fn parse_date(raw: &str) -> Option<i64> {
    let bytes = raw.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &raw[range];
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let days = days_from_civil(year, month, day);
    (year >= 1970 && civil_from_days(days) == (year, month, day)).then_some(days)
}

/// Days since the epoch as `YYYY-MM-DD`.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

// Howard Hinnant's algorithms (proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_utc_days() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-12-03"), Some(20_790));
        assert_eq!(format_date(20_790), "2026-12-03");
        assert_eq!(
            parse_date("2024-02-29").map(format_date).as_deref(),
            Some("2024-02-29")
        );
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "26-01-01",
            "2026-01-01T",
            "+026-01-01",
            "1969-12-31",
            "2026/01/01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for day in (0..200_000).step_by(37) {
            assert_eq!(parse_date(&format_date(day)), Some(day));
        }
    }

    fn parse(raw: &str, viewer: Viewer<'_>) -> Result<ReportQuery, QueryError> {
        ReportQuery::parse(Some(raw), viewer, parse_date("2026-12-03").unwrap())
    }

    #[test]
    fn the_default_report_is_the_last_thirty_days_by_day_without_bots() {
        let q = parse("", Viewer::Admin).unwrap();
        assert_eq!(
            (format_date(q.from).as_str(), format_date(q.to).as_str()),
            ("2026-11-04", "2026-12-03")
        );
        assert_eq!(
            (q.group_by, q.bots, q.format, q.partner),
            (GroupBy::Day, false, Format::Json, None)
        );
        let q = parse("to=2026-01-30", Viewer::Partner("acme")).unwrap();
        assert_eq!(format_date(q.from), "2026-01-01");
        assert_eq!(q.partner.as_deref(), Some("acme"));
        let q = parse("from=2027-01-01", Viewer::Admin).unwrap();
        assert_eq!(
            (q.from, q.to),
            (q.from, q.from),
            "a future from is a one-day report"
        );
    }

    #[test]
    fn bad_reports_name_the_parameter() {
        let invalid = |raw: &str, viewer| match parse(raw, viewer) {
            Err(QueryError::Invalid { parameter, .. }) => parameter,
            other => panic!("{raw}: {other:?}"),
        };
        assert_eq!(
            invalid("from=2026-12-02&to=2026-12-01", Viewer::Admin),
            "to"
        );
        assert_eq!(
            invalid("from=2025-01-01&to=2026-02-05", Viewer::Admin),
            "from"
        );
        assert!(
            parse("from=2025-01-01&to=2026-02-04", Viewer::Admin).is_ok(),
            "400 dates"
        );
        assert_eq!(
            invalid("group_by=partner", Viewer::Partner("a")),
            "group_by"
        );
        assert_eq!(invalid("group_by=utm_medium", Viewer::Admin), "group_by");
        assert_eq!(invalid("bots=1", Viewer::Admin), "bots");
        assert_eq!(invalid("format=xml", Viewer::Admin), "format");
        assert_eq!(invalid("from=yesterday", Viewer::Admin), "from");
        assert!(matches!(
            parse("partner=acme", Viewer::Partner("b")),
            Err(QueryError::Unknown { .. })
        ));
        assert!(
            parse(
                "group_by=partner&partner=acme&bots=true&format=csv",
                Viewer::Admin
            )
            .is_ok()
        );
    }

    #[test]
    fn rows_are_ordered_by_clicks_then_key_with_null_last() {
        let row = |key: Option<&str>, clicks| Row {
            key: key.map(str::to_owned),
            clicks,
            visitors: 1,
        };
        let q = parse("group_by=subid", Viewer::Admin).unwrap();
        let total = Total {
            clicks: 0,
            visitors: 0,
        };
        let report = Report::new(
            &q,
            vec![
                row(None, 5),
                row(Some("b"), 5),
                row(Some("a"), 5),
                row(Some("c"), 9),
            ],
            total.clone(),
        );
        let keys: Vec<_> = report.rows.iter().map(|r| r.key.as_deref()).collect();
        assert_eq!(keys, [Some("c"), Some("a"), Some("b"), None]);
        let csv = String::from_utf8(report.to_csv()).unwrap();
        assert_eq!(csv, "key,clicks,visitors\nc,9,1\na,5,1\nb,5,1\n,5,1\n");
        let q = parse("", Viewer::Admin).unwrap();
        let report = Report::new(
            &q,
            vec![row(Some("2026-12-02"), 1), row(Some("2026-11-30"), 7)],
            total,
        );
        assert_eq!(report.rows[0].key.as_deref(), Some("2026-11-30"));
    }
}
