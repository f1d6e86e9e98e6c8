//! Where the current catalog lives. Both the catalog and the sync status sit
//! behind atomic pointers: a request loads them without locking, a sync swaps
//! a whole new value in.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};

use super::Catalog;
use super::sync::Outcome;

/// The result of the latest refresh attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RefreshRecord {
    pub at: SystemTime,
    pub outcome: Outcome,
}

/// What readers need to know about syncing besides the catalog itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncStatus {
    pub last_refresh: Option<RefreshRecord>,
    /// When the last sync succeeded.
    pub last_success: Option<SystemTime>,
    /// True when the last attempt failed, or the catalog came from a snapshot
    /// and no sync has succeeded since.
    pub stale: bool,
    /// When the sync task will next ask upstream; bounds `Cache-Control`.
    pub next_sync_at: Option<SystemTime>,
}

#[derive(Default)]
pub struct CatalogStore {
    catalog: ArcSwapOption<Catalog>,
    status: ArcSwap<SyncStatus>,
}

impl CatalogStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.catalog.load_full()
    }

    pub fn status(&self) -> Arc<SyncStatus> {
        self.status.load_full()
    }

    /// Swaps in a freshly synced catalog.
    pub fn publish(&self, catalog: Arc<Catalog>, outcome: Outcome, at: SystemTime) {
        self.catalog.store(Some(catalog));
        self.update_status(|s| {
            s.last_refresh = Some(RefreshRecord { at, outcome });
            s.last_success = Some(at);
            s.stale = false;
        });
    }

    /// Installs a catalog loaded from a snapshot: served, but stale until a sync
    /// succeeds. Never replaces a catalog that is already there.
    pub fn restore(&self, catalog: Arc<Catalog>) {
        let prev = self
            .catalog
            .compare_and_swap(&None::<Arc<Catalog>>, Some(catalog));
        if prev.is_some() {
            return;
        }
        let at = SystemTime::now();
        self.update_status(|s| {
            s.stale = true;
            s.last_refresh.get_or_insert(RefreshRecord {
                at,
                outcome: Outcome::Snapshot,
            });
        });
    }

    /// Records a failed or rejected sync; the current catalog stays.
    pub fn record_failure(&self, outcome: Outcome, at: SystemTime) {
        self.update_status(|s| {
            s.last_refresh = Some(RefreshRecord { at, outcome });
            s.stale = true;
        });
    }

    pub fn set_next_sync(&self, delay: Duration) {
        let at = SystemTime::now() + delay;
        self.update_status(|s| s.next_sync_at = Some(at));
    }

    fn update_status(&self, f: impl Fn(&mut SyncStatus)) {
        self.status.rcu(|current| {
            let mut next = SyncStatus::clone(current);
            f(&mut next);
            next
        });
    }
}
