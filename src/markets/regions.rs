//! Continents (UN M49, from CLDR's territory containment) and a plan's
//! scope: `local` covers one country, `global` countries of three or more
//! continents, `regional` anything else.

use super::cldr;

/// The five UN M49 continents, in the order `/regions` lists them by code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Continent {
    Africa,
    Americas,
    Asia,
    Europe,
    Oceania,
}

impl Continent {
    pub const ALL: [Continent; 5] = [
        Self::Africa,
        Self::Americas,
        Self::Asia,
        Self::Europe,
        Self::Oceania,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Africa => "africa",
            Self::Americas => "americas",
            Self::Asia => "asia",
            Self::Europe => "europe",
            Self::Oceania => "oceania",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// The continent a country (ISO alpha-2, upper case) lies in; `None` for
    /// a code CLDR does not place (unknown or retired codes).
    pub fn of(code: &str) -> Option<Self> {
        cldr::data().continent_of(code)
    }
}

/// How widely a plan travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    #[default]
    Local,
    Regional,
    Global,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Self::Local, Self::Regional, Self::Global];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Regional => "regional",
            Self::Global => "global",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Where a plan sells: its scope, and the continent all of its countries lie
/// in (`None` when they span several, or one is not placed by CLDR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Reach {
    pub scope: Scope,
    pub region: Option<Continent>,
}

impl Reach {
    /// `codes` are a plan's distinct country codes (upper case).
    pub fn of<'a>(codes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut count = 0usize;
        let mut seen = [false; 5];
        let mut all_placed = true;
        for code in codes {
            count += 1;
            match Continent::of(code) {
                Some(c) => seen[c as usize] = true,
                None => all_placed = false,
            }
        }
        let continents = seen.iter().filter(|s| **s).count();
        let scope = match (count, continents) {
            (0 | 1, _) => Scope::Local,
            (_, 3..) => Scope::Global,
            _ => Scope::Regional,
        };
        let region = (all_placed && continents == 1)
            .then(|| Continent::ALL[seen.iter().position(|s| *s).unwrap_or(0)]);
        Self { scope, region }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_exceptions_follow_cldr() {
        let of = |c| Continent::of(c).map(Continent::as_str);
        for (code, continent) in [
            ("TR", "asia"),
            ("CY", "asia"),
            ("GE", "asia"),
            ("AM", "asia"),
            ("AZ", "asia"),
            ("RU", "europe"),
            ("XK", "europe"),
            ("EG", "africa"),
            ("PA", "americas"),
            ("AU", "oceania"),
            ("DE", "europe"),
        ] {
            assert_eq!(of(code), Some(continent), "{code}");
        }
        assert_eq!(of("ZZ"), None);
        assert_eq!(of("QQ"), None);
    }

    #[test]
    fn scope_counts_countries_and_continents() {
        let reach = |codes: &[&str]| Reach::of(codes.iter().copied());
        assert_eq!(
            reach(&["DE"]),
            Reach {
                scope: Scope::Local,
                region: Some(Continent::Europe)
            }
        );
        assert_eq!(reach(&["QQ"]).scope, Scope::Local);
        assert_eq!(reach(&["QQ"]).region, None);
        assert_eq!(
            reach(&["DE", "FR"]),
            Reach {
                scope: Scope::Regional,
                region: Some(Continent::Europe)
            }
        );
        // Türkiye is Asia: a Germany + Türkiye plan spans two continents.
        assert_eq!(
            reach(&["DE", "TR"]),
            Reach {
                scope: Scope::Regional,
                region: None
            }
        );
        assert_eq!(reach(&["DE", "TR", "EG"]).scope, Scope::Global);
        assert_eq!(reach(&["DE", "QQ"]).scope, Scope::Regional);
        assert_eq!(reach(&["DE", "QQ"]).region, None);
    }
}
