//! The page pipeline: how a catalog-derived answer is made, cached,
//! validated, compressed and sent.
//!
//! * `respond`: ETag and `304`, `Cache-Control`, and the one responder for
//!   "a cached catalog page" and for streamed bodies.
//! * `cache`: rendered pages keyed by the catalog's content hash and the
//!   normalised query.
//! * `encoding`: negotiation, the compressors, and each cached page
//!   compressed at most once per encoding (pages are immutable: nothing in
//!   one follows the clock).
//! * `shapes`: every route's JSON shape, in one place.
//! * `stream`: large bodies (the mirror, the exports) rendered a chunk at a
//!   time while they are sent.

pub(super) mod cache;
pub mod encoding;
pub(super) mod respond;
pub(super) mod shapes;
pub(super) mod stream;
