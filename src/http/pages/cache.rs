//! Rendered response bodies, keyed by the catalog's content hash and the
//! normalised query, so a repeated query costs one lookup.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use super::encoding;
use crate::catalog::{Catalog, CatalogStore};

/// Rendered bodies of catalog responses, bounded by total size. Keys carry the
/// catalog's content hash (and, from the caller, the `catalog` block a page
/// ends with, whose version and staleness can change while the content does
/// not), and the first request that sees a new catalog content drops every
/// entry of the old one, so a sync never leaves dead pages in memory.
pub struct ResponseCache {
    cache: moka::sync::Cache<String, Arc<encoding::Page>>,
    version: AtomicU64,
}

impl ResponseCache {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                // Counted with room for the compressed forms made later
                // (JSON compresses 5-10 times; both forms add under half).
                .weigher(|key: &String, page: &Arc<encoding::Page>| {
                    u32::try_from(key.len() + page.identity().len() * 3 / 2).unwrap_or(u32::MAX)
                })
                .time_to_idle(Duration::from_secs(600))
                .build(),
            version: AtomicU64::new(0),
        }
    }

    /// The body cached under `key` for `catalog`, rendering it on a miss.
    /// `key` is formatted once, straight into the entry's key.
    /// `current` is the catalog being served now: a request still holding
    /// the previous one must not flush the new one's pages.
    pub fn get_with(
        &self,
        catalog: &Catalog,
        current: &CatalogStore,
        key: std::fmt::Arguments<'_>,
        render: impl FnOnce() -> Bytes,
    ) -> Arc<encoding::Page> {
        let version = catalog.content_hash();
        if self.version.load(Ordering::Relaxed) != version
            && current
                .catalog()
                .is_some_and(|c| c.content_hash() == version)
            && self.version.swap(version, Ordering::Relaxed) != version
        {
            self.cache.invalidate_all();
        }
        self.cache.get_with(format!("{version:x}|{key}"), || {
            Arc::new(encoding::Page::new(render()))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::catalog::Outcome;
    use crate::catalog::synthetic;

    #[test]
    fn a_request_on_the_previous_catalog_does_not_flush_the_current_pages() {
        let store = CatalogStore::new();
        let old = Catalog::from_plans("t", synthetic::plans(10, 1), SystemTime::now());
        let new = Arc::new(Catalog::from_plans(
            "t",
            synthetic::plans(12, 1),
            SystemTime::now(),
        ));
        store.publish(new.clone(), Outcome::Ok, SystemTime::now());
        let cache = ResponseCache::new(1 << 20);

        let page = cache.get_with(&new, &store, format_args!("k"), || {
            Bytes::from_static(b"new")
        });
        assert_eq!(page.identity(), "new");
        // A reader that loaded the old catalog before the swap finishes late.
        let late = cache.get_with(&old, &store, format_args!("k"), || {
            Bytes::from_static(b"old")
        });
        assert_eq!(late.identity(), "old", "keys carry the version");
        cache.cache.run_pending_tasks();
        let again = cache.get_with(&new, &store, format_args!("k"), || {
            panic!("the current page was flushed")
        });
        assert_eq!(again.identity(), "new");
    }
}
