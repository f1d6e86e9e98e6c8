//! Languages: a BCP 47 `lang` negotiated down to one of the languages the
//! service names places in, and the folding `q` matches with.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The languages with CLDR names (SPEC section 12), in `/regions` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    De,
    Fr,
    Es,
    It,
    Pt,
    Nl,
    Pl,
    Sv,
    Tr,
    Ja,
    Ko,
    Zh,
    Ar,
}

/// Why a `lang` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lang must be a BCP 47 language tag such as de, pt-BR or zh-Hans")]
pub struct BadTag;

impl Lang {
    pub const ALL: [Lang; 14] = [
        Self::En,
        Self::De,
        Self::Fr,
        Self::Es,
        Self::It,
        Self::Pt,
        Self::Nl,
        Self::Pl,
        Self::Sv,
        Self::Tr,
        Self::Ja,
        Self::Ko,
        Self::Zh,
        Self::Ar,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
            Self::Es => "es",
            Self::It => "it",
            Self::Pt => "pt",
            Self::Nl => "nl",
            Self::Pl => "pl",
            Self::Sv => "sv",
            Self::Tr => "tr",
            Self::Ja => "ja",
            Self::Ko => "ko",
            Self::Zh => "zh",
            Self::Ar => "ar",
        }
    }

    /// The served language for a BCP 47 tag: its primary language when
    /// served (`pt-BR` is `pt`, `zh-Hant-TW` is `zh`), else English. A value
    /// that is not a language tag at all is refused.
    pub fn negotiate(tag: &str) -> Result<Self, BadTag> {
        let mut subtags = tag.split(['-', '_']);
        let primary = subtags.next().unwrap_or("");
        let well_formed = (2..=8).contains(&primary.len())
            && primary.bytes().all(|b| b.is_ascii_alphabetic())
            && subtags.all(|s| {
                (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            && tag.len() <= 64;
        if !well_formed {
            return Err(BadTag);
        }
        Ok(Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(primary))
            .unwrap_or(Self::En))
    }
}

/// Text as `q` compares it: lower case, decomposed, without combining marks,
/// so `Türkiye`, `TURKIYE` and `turkiye` are equal. Scripts without case are
/// unchanged but for their combining marks (both sides are folded alike).
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_fall_back_to_their_language_then_english() {
        let negotiate = |t| Lang::negotiate(t).map(Lang::as_str);
        assert_eq!(negotiate("de"), Ok("de"));
        assert_eq!(negotiate("DE-at"), Ok("de"));
        assert_eq!(negotiate("pt-BR"), Ok("pt"));
        assert_eq!(negotiate("zh-Hant-TW"), Ok("zh"));
        assert_eq!(negotiate("en_GB"), Ok("en"));
        assert_eq!(negotiate("fi"), Ok("en"));
        assert_eq!(negotiate("haw"), Ok("en"));
        for bad in ["", "d", "de-", "1de", "de--AT", "<script>", "de AT", "ü"] {
            assert_eq!(Lang::negotiate(bad), Err(BadTag), "{bad:?}");
        }
    }

    #[test]
    fn folding_ignores_case_and_diacritics() {
        assert_eq!(fold("Türkiye"), "turkiye");
        assert_eq!(fold("TÜRKİYE"), "turkiye");
        assert_eq!(fold("Côte d’Ivoire"), "cote d’ivoire");
        assert_eq!(fold("São Tomé"), "sao tome");
        assert_eq!(fold("ドイツ"), fold("ドイツ"));
        assert_eq!(fold("Ελλάδα"), "ελλαδα");
    }
}
