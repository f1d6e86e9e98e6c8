//! The CMG feed as it comes over the wire, parsed leniently so that one bad plan
//! never sinks the feed: the envelope is strict, each plan is a raw JSON slice
//! that the catalog validates on its own.

use serde::Deserialize;
use serde_json::value::RawValue;

/// `{"success": true, "aggregator": "...", "plans": [...]}`; snapshots add `updatedAt`.
#[derive(Debug, Deserialize)]
pub struct WireFeed<'a> {
    pub success: Option<bool>,
    #[serde(default)]
    pub aggregator: Option<String>,
    #[serde(borrow, default)]
    pub plans: Option<Vec<&'a RawValue>>,
    /// Only present in our own snapshot files.
    #[serde(rename = "updatedAt", default)]
    pub updated_at: Option<String>,
    /// The catalog version number; only in our own snapshot files.
    #[serde(default)]
    pub version: Option<u64>,
}

/// One plan; every field optional so that validation, not the parser, decides
/// what a missing field means.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePlan {
    pub name: Option<String>,
    pub package_code: Option<String>,
    pub product_url: Option<String>,
    pub data_amount: Option<f64>,
    pub duration: Option<f64>,
    pub location_codes: Option<Vec<String>>,
    pub location_names: Option<Vec<String>>,
    pub operator: Option<String>,
    pub speed: Option<String>,
    pub retail_price: Option<f64>,
}

impl<'a> WireFeed<'a> {
    /// Parses a feed body; a leading UTF-8 byte-order mark is skipped
    /// (SPEC section 4), as some servers and editors write one.
    pub fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body))
    }
}
