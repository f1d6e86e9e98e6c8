//! A query's text filters (operator, speed, free text), prepared against one
//! catalog: each is evaluated once per distinct interned value.

use super::Catalog;

/// A query's operator, speed and text filters, prepared against one catalog.
pub struct TextFilters<'c> {
    pub(super) catalog: &'c Catalog,
    /// Per operator id: contains the needle.
    pub(super) operator: Option<Vec<bool>>,
    /// Per speed id: lists every requested generation.
    pub(super) speed: Option<Vec<bool>>,
    pub(super) text: Option<TextHits>,
}

pub(super) struct TextHits {
    pub(super) phrase: String,
    /// Per operator id / place id: contains the phrase.
    pub(super) operators: Vec<bool>,
    pub(super) places: Vec<bool>,
    /// Countries one of whose CLDR names contains the phrase, sorted.
    pub(super) countries: Vec<super::CountryCode>,
}

impl TextFilters<'_> {
    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.operator.is_none() && self.speed.is_none() && self.text.is_none()
    }

    /// Whether plan `index` passes the operator, speed and text filters.
    pub fn matches(&self, index: u32) -> bool {
        let catalog = self.catalog;
        let row = catalog.row(index);
        if self
            .operator
            .as_ref()
            .is_some_and(|ok| !ok[row.operator as usize])
            || self
                .speed
                .as_ref()
                .is_some_and(|ok| !ok[row.speed as usize])
        {
            return false;
        }
        let Some(text) = &self.text else {
            return true;
        };
        // Cheapest first: prepared per operator, place and country; the
        // name is the one substring search per plan.
        text.operators[row.operator as usize]
            || catalog.plan_places[row.places.0 as usize..row.places.1 as usize]
                .iter()
                .any(|&p| text.places[p as usize])
            || (!text.countries.is_empty()
                && catalog
                    .countries_of(index)
                    .iter()
                    .any(|c| text.countries.binary_search(c).is_ok()))
            || catalog.names_lc[row.name.0 as usize..row.name.1 as usize].contains(&text.phrase)
    }
}

/// Splits a speed list such as `"4G/5G"`, `"LTE, 5G"` into upper-cased tokens.
pub fn speed_tokens(speed: &str) -> Vec<String> {
    speed
        .split(|c: char| c == '/' || c == ',' || c == '|' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}
