//! Reference exchange rates: the ECB's daily XML (`eurofxref-daily.xml`),
//! parsed with a real XML reader, validated, and kept in a [`RatesStore`]
//! that a failed fetch never empties.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use quick_xml::events::Event;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::Display;

/// Why a rates document was refused (the old rates stay).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatesError {
    #[error("the rates are not well-formed XML")]
    NotXml,
    #[error("the rates document has no reference date")]
    NoDate,
    #[error("the rates do not list USD")]
    NoUsd,
    #[error("the stored rates are unreadable")]
    Stored,
}

/// One day's reference rates: how many units of each currency one euro buys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// `YYYY-MM-DD`, the day the rates are for.
    date: String,
    /// Per upper-case ISO 4217 code, EUR itself included (1).
    per_eur: BTreeMap<String, Decimal>,
}

/// The built-in rates of `--demo` (an ECB document of 2026-12-01).
const DEMO: &[u8] = include_bytes!("../../assets/demo-rates.xml");

impl Rates {
    /// Parses the ECB reference-rates XML: `<Cube time="…">` holding
    /// `<Cube currency="USD" rate="1.1590"/>` entries. Entries that are not
    /// a currency code and a positive decimal are skipped; a document
    /// without a date or without USD is refused.
    pub fn parse_ecb(xml: &[u8]) -> Result<Self, RatesError> {
        let mut reader = quick_xml::Reader::from_reader(xml);
        let mut date = None;
        let mut per_eur = BTreeMap::new();
        per_eur.insert("EUR".to_owned(), Decimal::ONE);
        let mut buf = Vec::new();
        loop {
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|_| RatesError::NotXml)?;
            let element = match &event {
                Event::Start(e) | Event::Empty(e) => e,
                Event::Eof => break,
                _ => {
                    buf.clear();
                    continue;
                }
            };
            if element.local_name().as_ref() == b"Cube" {
                let (mut time, mut currency, mut rate) = (None, None, None);
                for attribute in element.attributes() {
                    let attribute = attribute.map_err(|_| RatesError::NotXml)?;
                    let value = String::from_utf8_lossy(&attribute.value).trim().to_owned();
                    match attribute.key.local_name().as_ref() {
                        b"time" => time = Some(value),
                        b"currency" => currency = Some(value),
                        b"rate" => rate = Some(value),
                        _ => {}
                    }
                }
                if let Some(time) = time.filter(|t| is_date(t)) {
                    date.get_or_insert(time);
                }
                if let (Some(code), Some(rate)) = (currency, rate) {
                    let rate = Decimal::from_str(&rate).ok().filter(|r| *r > Decimal::ZERO);
                    if let (true, Some(rate)) = (is_currency_code(&code), rate) {
                        per_eur.entry(code).or_insert(rate);
                    }
                }
            }
            buf.clear();
        }
        let date = date.ok_or(RatesError::NoDate)?;
        if !per_eur.contains_key("USD") {
            return Err(RatesError::NoUsd);
        }
        Ok(Self { date, per_eur })
    }

    /// The demo's built-in rates.
    pub fn builtin() -> Self {
        Self::parse_ecb(DEMO).expect("the built-in rates parse (checked by a test)")
    }

    /// The form kept in the database and beside the snapshot.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("plain data serialises")
    }

    pub fn from_stored(text: &str) -> Result<Self, RatesError> {
        let rates: Self = serde_json::from_str(text).map_err(|_| RatesError::Stored)?;
        if !is_date(&rates.date) || !rates.per_eur.contains_key("USD") {
            return Err(RatesError::Stored);
        }
        Ok(rates)
    }

    pub fn date(&self) -> &str {
        &self.date
    }

    /// Codes these rates convert USD into, USD included.
    pub fn currencies(&self) -> impl Iterator<Item = &str> {
        self.per_eur.keys().map(String::as_str)
    }

    /// USD shown in `code` (upper case), when these rates list it.
    pub fn display(&self, code: &str) -> Option<Display> {
        if code == "USD" {
            return Some(Display::usd());
        }
        let per_eur = *self.per_eur.get(code)?;
        let usd_per_eur = self.per_eur["USD"];
        Display::converted(code, per_eur, usd_per_eur, &self.date)
    }
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn is_currency_code(text: &str) -> bool {
    text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase())
}

/// The rates in force, shared by every request; `None` until the first are
/// loaded (fetched, restored or built in).
#[derive(Default)]
pub struct RatesStore {
    current: ArcSwapOption<Rates>,
}

impl RatesStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self) -> Option<Arc<Rates>> {
        self.current.load_full()
    }

    /// Puts `rates` in force unless the ones in force are for a later day
    /// (a stale copy restored late never replaces fresher ones).
    pub fn publish(&self, rates: Rates) -> bool {
        let newer = self
            .current
            .load()
            .as_ref()
            .is_none_or(|now| now.date.as_str() <= rates.date.as_str());
        if newer {
            self.current.store(Some(Arc::new(rates)));
        }
        newer
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ECB: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube>
    <Cube time='2026-12-01'>
      <Cube currency='USD' rate='1.1590'/>
      <Cube currency='JPY' rate='180.07'/>
      <Cube currency='GBP' rate='0.87713'/>
      <Cube currency='bad' rate='1'/>
      <Cube currency='XAU' rate='-1'/>
    </Cube>
  </Cube>
</gesmes:Envelope>"#;

    #[test]
    fn the_ecb_document_parses() {
        let rates = Rates::parse_ecb(ECB.as_bytes()).unwrap();
        assert_eq!(rates.date(), "2026-12-01");
        assert_eq!(
            rates.currencies().collect::<Vec<_>>(),
            ["EUR", "GBP", "JPY", "USD"]
        );
        assert_eq!(Rates::from_stored(&rates.to_stored()).unwrap(), rates);
        assert!(Rates::builtin().currencies().count() > 25);
    }

    #[test]
    fn other_documents_are_refused() {
        for (body, error) in [
            ("<html><body>Service unavailable</body>", RatesError::NoDate),
            ("{\"rates\": {}}", RatesError::NoDate),
            (
                "<Cube><Cube time='2026-12-01'><Cube currency='GBP' rate='0.8'/></Cube></Cube>",
                RatesError::NoUsd,
            ),
            ("<a><b></a>", RatesError::NotXml),
        ] {
            assert_eq!(Rates::parse_ecb(body.as_bytes()), Err(error), "{body}");
        }
    }

    #[test]
    fn older_rates_never_replace_newer_ones() {
        let store = RatesStore::new();
        let new = Rates::parse_ecb(ECB.as_bytes()).unwrap();
        let old = Rates::parse_ecb(ECB.replace("2026-12-01", "2026-11-28").as_bytes()).unwrap();
        assert!(store.publish(new));
        assert!(!store.publish(old));
        assert_eq!(store.get().unwrap().date(), "2026-12-01");
    }
}
