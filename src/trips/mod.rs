//! `/trips` parameters parsed into a typed [`TripQuery`], and the planner that
//! finds the cheapest ways to cover an itinerary with one to three eSIMs.
//! Pure: no HTTP here, only the names of the parameters at fault.
//!
//! An itinerary of `n` stops has `n (n + 1) / 2` possible legs (runs of
//! consecutive stops). The planner finds each leg's cheapest qualifying plan
//! once, from the shortest posting list of the leg's countries, and then
//! combines legs into splits; a 10-stop, 3-eSIM quote is 55 leg lookups and
//! 46 splits, whatever the catalog size.
//!
//! Here: the query and its parsing; `plan`: the planner.

mod plan;

use std::fmt::Write as _;

use crate::catalog::CountryCode;
use crate::query::params::{QueryError, parse_int, parse_number, parse_pairs, parse_speed};

/// Every parameter `/trips` accepts.
pub const TRIP_PARAMETERS: &[&str] = &[
    "stops",
    "gb_per_day",
    "max_esims",
    "speed",
    "limit",
    "ref",
    "currency",
];

pub const MAX_STOPS: usize = 10;
pub const MAX_DAYS: u32 = 365;
pub const MAX_ESIMS: usize = 3;
pub const DEFAULT_ESIMS: usize = 2;
pub const MAX_OPTIONS: usize = 20;
pub const DEFAULT_OPTIONS: usize = 5;

/// One stop of an itinerary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    pub country: CountryCode,
    pub days: u32,
}

/// A validated `/trips` query.
#[derive(Clone, Debug, PartialEq)]
pub struct TripQuery {
    pub stops: Vec<Stop>,
    pub gb_per_day: f64,
    pub max_esims: usize,
    /// Upper-cased generation tokens every plan must list.
    pub speed: Vec<String>,
    pub limit: usize,
}

/// One leg of an option: stops `start..end` on plan `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    pub start: usize,
    pub end: usize,
    pub days: u32,
    pub plan: u32,
}

/// One way to cover the whole itinerary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TripOption {
    /// Sum of each plan's price rounded to the cent.
    pub total_cents: i64,
    pub legs: Vec<Leg>,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TripPlan {
    pub options: Vec<TripOption>,
    /// Itinerary countries no plan covers at all, in itinerary order.
    pub uncovered: Vec<CountryCode>,
}

impl TripQuery {
    /// Parses the raw query string of `/trips`.
    pub fn parse(raw: Option<&str>) -> Result<Self, QueryError> {
        let mut stops = None;
        let mut query = Self {
            stops: Vec::new(),
            gb_per_day: 0.0,
            max_esims: DEFAULT_ESIMS,
            speed: Vec::new(),
            limit: DEFAULT_OPTIONS,
        };
        for (name, value) in parse_pairs(raw, TRIP_PARAMETERS)? {
            let v = value.as_str();
            match name.as_str() {
                "stops" => stops = Some(parse_stops(v)?),
                "gb_per_day" => query.gb_per_day = parse_number(&name, v)?,
                "max_esims" => query.max_esims = parse_int(&name, v, 1, MAX_ESIMS)?,
                "speed" => query.speed = parse_speed(v)?,
                "limit" => query.limit = parse_int(&name, v, 1, MAX_OPTIONS)?,
                // The partner's business (`http::extract::Partner`).
                "ref" | "currency" => {}
                _ => unreachable!("parse_pairs only lets accepted names through"),
            }
        }
        query.stops = stops.ok_or_else(|| {
            QueryError::invalid(
                "stops",
                "stops is required: the itinerary as CC:DAYS pairs, e.g. FR:3,DE:4",
            )
        })?;
        Ok(query)
    }

    /// Total days of the itinerary.
    pub fn days(&self) -> u32 {
        self.stops.iter().map(|s| s.days).sum()
    }

    /// A canonical form of everything that shapes the answer except the ref.
    pub fn canonical(&self) -> String {
        let mut key = String::with_capacity(64);
        for stop in &self.stops {
            let _ = write!(key, "{}:{},", stop.country, stop.days);
        }
        let _ = write!(
            key,
            "|{}|{}|{}|{}",
            self.gb_per_day,
            self.max_esims,
            self.speed.join("/"),
            self.limit
        );
        key
    }

    /// The countries of stops `start..end`, each once, in order of first appearance.
    pub fn leg_countries(&self, start: usize, end: usize) -> Vec<CountryCode> {
        let mut out: Vec<CountryCode> = Vec::with_capacity(end - start);
        for stop in &self.stops[start..end] {
            if !out.contains(&stop.country) {
                out.push(stop.country);
            }
        }
        out
    }
}

fn parse_stops(value: &str) -> Result<Vec<Stop>, QueryError> {
    let invalid = |message: String| QueryError::invalid("stops", message);
    let shown = |s: &str| s.chars().take(16).collect::<String>();
    let mut stops = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        let (country, days) = item.split_once(':').ok_or_else(|| {
            invalid(format!(
                "stops must be CC:DAYS pairs separated by commas, e.g. FR:3,DE:4; got {:?}",
                shown(item)
            ))
        })?;
        let country = CountryCode::parse(country.trim()).ok_or_else(|| {
            invalid(format!(
                "stops: {:?} is not an ISO 3166-1 alpha-2 country code",
                shown(country)
            ))
        })?;
        let digits = days.trim();
        // Plain digits without a leading zero or sign: exactly the OpenAPI pattern.
        let days = Some(digits)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'))
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or_else(|| {
                invalid(format!(
                    "stops: days must be an integer from 1 to {MAX_DAYS}; got {:?} for {country}",
                    shown(days)
                ))
            })?;
        stops.push(Stop { country, days });
        if stops.len() > MAX_STOPS {
            return Err(invalid(format!("stops: at most {MAX_STOPS} stops")));
        }
    }
    let total: u32 = stops.iter().map(|s| s.days).sum();
    if total > MAX_DAYS {
        return Err(invalid(format!(
            "stops: the itinerary lasts {total} days; at most {MAX_DAYS} in all"
        )));
    }
    Ok(stops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_parameter(raw: &str) -> String {
        match TripQuery::parse(Some(raw)) {
            Err(QueryError::Invalid { parameter, .. }) => parameter,
            other => panic!("{raw}: expected invalid_parameter, got {other:?}"),
        }
    }

    #[test]
    fn stops_parse_in_any_case_with_repeats() {
        let q = TripQuery::parse(Some(
            "stops=fr:3,De:4,FR:2&gb_per_day=0.5&max_esims=3&limit=20",
        ))
        .unwrap();
        let stops: Vec<(&str, u32)> = q
            .stops
            .iter()
            .map(|s| (s.country.as_str(), s.days))
            .collect();
        assert_eq!(stops, [("FR", 3), ("DE", 4), ("FR", 2)]);
        assert_eq!(
            (q.gb_per_day, q.max_esims, q.limit, q.days()),
            (0.5, 3, 20, 9)
        );
        let defaults = TripQuery::parse(Some("stops=FR:1")).unwrap();
        assert_eq!(
            (defaults.gb_per_day, defaults.max_esims, defaults.limit),
            (0.0, 2, 5)
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for raw in [
            "",
            "stops=",
            "stops=FR",
            "stops=FR:",
            "stops=FR:0",
            "stops=FR:366",
            "stops=FR:1.5",
            "stops=FRA:3",
            "stops=F1:3",
            "stops=FR:3,,DE:2",
            "stops=FR:-1",
            "stops=FR:200,DE:166",
            "stops=A:1",
            "stops=FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1",
        ] {
            assert_eq!(error_parameter(raw), "stops", "{raw}");
        }
        for (raw, parameter) in [
            ("stops=FR:1&gb_per_day=-1", "gb_per_day"),
            ("stops=FR:1&gb_per_day=abc", "gb_per_day"),
            ("stops=FR:1&max_esims=0", "max_esims"),
            ("stops=FR:1&max_esims=4", "max_esims"),
            ("stops=FR:1&limit=0", "limit"),
            ("stops=FR:1&limit=21", "limit"),
            ("stops=FR:1&speed=%3Cb%3E", "speed"),
            ("stops=FR:1&stops=DE:2", "stops"),
        ] {
            assert_eq!(error_parameter(raw), parameter, "{raw}");
        }
        assert!(matches!(
            TripQuery::parse(Some("stops=FR:1&country=DE")),
            Err(QueryError::Unknown { .. })
        ));
        assert!(TripQuery::parse(Some("stops=FR:365")).is_ok());
        assert!(TripQuery::parse(Some("stops=FR:300,DE:65")).is_ok());
    }
}
