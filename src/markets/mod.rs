//! Markets (SPEC section 12): where a plan sells (continents and scope), the
//! languages its countries are named in, and the currencies its prices are
//! shown in. Below `catalog` in the data path: pure data and arithmetic, no
//! HTTP, no catalog types (country codes are plain `&str` here).
//!
//! * [`cldr`]: the pinned CLDR extract (`assets/cldr/markets.json`, made by
//!   `scripts/cldr-extract.py`): continents by UN M49 containment, names in 14
//!   languages, and the folded search text of every country.
//! * [`regions`]: [`Continent`] and [`Scope`], and a plan's of each.
//! * [`lang`]: [`Lang`], a BCP 47 tag negotiated down to a served language,
//!   and [`fold`], the case and diacritic folding `q` matches with.
//! * [`rates`]: reference exchange rates (the ECB's XML), parsed and kept.
//! * [`money`]: [`Display`], a USD amount shown in another currency with
//!   decimal arithmetic and ISO 4217 minor units.

pub mod cldr;
pub mod lang;
pub mod money;
pub mod rates;
pub mod regions;

pub use lang::{Lang, fold};
pub use money::Display;
pub use rates::{Rates, RatesStore};
pub use regions::{Continent, Scope};
