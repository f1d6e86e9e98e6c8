//! The pinned CLDR extract, parsed once: `assets/cldr/markets.json`, made by
//! `scripts/cldr-extract.py` from the Unicode CLDR JSON packages (the
//! version is in the file's `source`). Kept as CLDR's own data rather than a
//! hand-typed table, and as JSON rather than ICU4X's display-names provider,
//! which is still experimental and would add a data pipeline for 14 tables.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::lang::{Lang, fold};
use super::regions::Continent;

const EXTRACT: &str = include_str!("../../assets/cldr/markets.json");

#[derive(Deserialize)]
struct Extract {
    languages: Vec<String>,
    continents: HashMap<String, Vec<String>>,
    names: HashMap<String, HashMap<String, String>>,
    aliases: HashMap<String, HashMap<String, Vec<String>>>,
}

/// Everything the service reads from CLDR.
pub struct Cldr {
    /// By `index(code)`.
    continents: Vec<Option<Continent>>,
    /// By `Lang as usize`: region code or continent id to name.
    names: Vec<HashMap<String, String>>,
    /// By `index(code)`: every name and alias in every language, folded and
    /// joined by a separator no query contains.
    search: Vec<Box<str>>,
}

/// Where a two-letter code sits in the per-code tables.
fn index(code: &str) -> Option<usize> {
    match code.as_bytes() {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            Some(usize::from(a - b'A') * 26 + usize::from(b - b'A'))
        }
        _ => None,
    }
}

/// Separates the names of one country in its search text.
pub const SEPARATOR: char = '\u{1}';

impl Cldr {
    fn load() -> Self {
        let extract: Extract = serde_json::from_str(EXTRACT)
            .expect("assets/cldr/markets.json is valid (checked by a test)");
        let mut continents = vec![None; 26 * 26];
        for (name, codes) in &extract.continents {
            let continent = Continent::parse(name).expect("the extract names the five continents");
            for code in codes {
                if let Some(i) = index(code) {
                    continents[i] = Some(continent);
                }
            }
        }
        let mut names = Vec::with_capacity(Lang::ALL.len());
        let mut search: Vec<String> = vec![String::new(); 26 * 26];
        for lang in Lang::ALL {
            let table = extract
                .names
                .get(lang.as_str())
                .cloned()
                .expect("the extract has every served language");
            let aliases = extract.aliases.get(lang.as_str());
            for (code, name) in &table {
                let Some(i) = index(code) else { continue };
                let others = aliases.and_then(|a| a.get(code)).into_iter().flatten();
                for text in std::iter::once(name).chain(others) {
                    search[i].push_str(&fold(text));
                    search[i].push(SEPARATOR);
                }
            }
            names.push(table);
        }
        debug_assert_eq!(extract.languages.len(), Lang::ALL.len());
        Self {
            continents,
            names,
            search: search.into_iter().map(String::into_boxed_str).collect(),
        }
    }

    pub fn continent_of(&self, code: &str) -> Option<Continent> {
        index(code).and_then(|i| self.continents[i])
    }

    /// A country's (upper-case alpha-2) name in `lang`, if CLDR has one.
    pub fn country_name(&self, lang: Lang, code: &str) -> Option<&str> {
        self.names[lang as usize].get(code).map(String::as_str)
    }

    pub fn continent_name(&self, lang: Lang, continent: Continent) -> &str {
        self.names[lang as usize]
            .get(continent.as_str())
            .map_or(continent.as_str(), String::as_str)
    }

    /// The folded names of a country in every served language (empty for a
    /// code CLDR does not name).
    pub fn search_text(&self, code: &str) -> &str {
        index(code).map_or("", |i| &self.search[i])
    }
}

static DATA: LazyLock<Cldr> = LazyLock::new(Cldr::load);

/// The extract, parsed on first use.
pub fn data() -> &'static Cldr {
    &DATA
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_cldr_in_every_language() {
        let cldr = data();
        for (lang, code, name) in [
            (Lang::En, "DE", "Germany"),
            (Lang::De, "DE", "Deutschland"),
            (Lang::Fr, "DE", "Allemagne"),
            (Lang::Es, "DE", "Alemania"),
            (Lang::It, "DE", "Germania"),
            (Lang::Pt, "DE", "Alemanha"),
            (Lang::Nl, "DE", "Duitsland"),
            (Lang::Pl, "DE", "Niemcy"),
            (Lang::Sv, "DE", "Tyskland"),
            (Lang::Tr, "DE", "Almanya"),
            (Lang::Ja, "DE", "ドイツ"),
            (Lang::Ko, "DE", "독일"),
            (Lang::Zh, "DE", "德国"),
            (Lang::Ar, "DE", "ألمانيا"),
            (Lang::En, "TR", "Türkiye"),
            (Lang::De, "JP", "Japan"),
            (Lang::Fr, "US", "États-Unis"),
        ] {
            assert_eq!(cldr.country_name(lang, code), Some(name), "{lang:?} {code}");
        }
        assert_eq!(cldr.continent_name(Lang::De, Continent::Europe), "Europa");
        assert_eq!(cldr.continent_name(Lang::Ja, Continent::Asia), "アジア");
        assert_eq!(
            cldr.continent_name(Lang::En, Continent::Americas),
            "Americas"
        );
    }

    #[test]
    fn search_text_holds_every_language_folded() {
        let text = data().search_text("DE");
        for needle in [
            "germany",
            "deutschland",
            "allemagne",
            "ドイツ",
            "德国",
            "독일",
        ] {
            assert!(text.contains(&fold(needle)), "{needle}");
        }
        assert!(data().search_text("TR").contains("turkiye"));
        assert!(
            data().search_text("TR").contains("turkey"),
            "aliases are searched"
        );
        assert_eq!(data().search_text("Q1"), "");
    }
}
