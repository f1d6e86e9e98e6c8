//! Where the current catalog lives. The catalog and its sync status are
//! published together behind one atomic pointer: a request loads both without
//! locking and always sees a matching pair (never a new catalog with the old
//! `stale` flag); a sync swaps a whole new pair in.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;

use super::Catalog;

/// How a refresh attempt ended; each is a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Unauthorized,
    HttpError,
    Timeout,
    ConnectionError,
    Malformed,
    TooLarge,
    RejectedEmpty,
    RejectedShrink,
    /// Loaded from the snapshot file at start-up.
    Snapshot,
    /// The built-in demo catalog.
    Demo,
}

impl Outcome {
    pub const ALL: [Outcome; 11] = [
        Self::Ok,
        Self::Unauthorized,
        Self::HttpError,
        Self::Timeout,
        Self::ConnectionError,
        Self::Malformed,
        Self::TooLarge,
        Self::RejectedEmpty,
        Self::RejectedShrink,
        Self::Snapshot,
        Self::Demo,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unauthorized => "unauthorized",
            Self::HttpError => "http_error",
            Self::Timeout => "timeout",
            Self::ConnectionError => "connection_error",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::RejectedEmpty => "rejected_empty",
            Self::RejectedShrink => "rejected_shrink",
            Self::Snapshot => "snapshot",
            Self::Demo => "demo",
        }
    }
}

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

/// A catalog and the status it was published with.
#[derive(Clone, Debug, Default)]
pub struct Published {
    pub catalog: Option<Arc<Catalog>>,
    pub status: Arc<SyncStatus>,
}

#[derive(Default)]
pub struct CatalogStore {
    current: ArcSwap<Published>,
}

impl CatalogStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The catalog and its status, as one consistent pair.
    pub fn view(&self) -> Arc<Published> {
        self.current.load_full()
    }

    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.current.load().catalog.clone()
    }

    pub fn status(&self) -> Arc<SyncStatus> {
        self.current.load().status.clone()
    }

    /// Swaps in a freshly synced catalog and its status in one step.
    pub fn publish(&self, catalog: Arc<Catalog>, outcome: Outcome, at: SystemTime) {
        self.update(|p| {
            p.catalog = Some(catalog.clone());
            let s = Arc::make_mut(&mut p.status);
            s.last_refresh = Some(RefreshRecord { at, outcome });
            s.last_success = Some(at);
            s.stale = false;
        });
    }

    /// Installs a catalog loaded from a snapshot: served, but stale until a sync
    /// succeeds. Never replaces a catalog that is already there.
    pub fn restore(&self, catalog: Arc<Catalog>) {
        let at = SystemTime::now();
        self.update(|p| {
            if p.catalog.is_some() {
                return;
            }
            p.catalog = Some(catalog.clone());
            let s = Arc::make_mut(&mut p.status);
            s.stale = true;
            s.last_refresh.get_or_insert(RefreshRecord {
                at,
                outcome: Outcome::Snapshot,
            });
        });
    }

    /// A sync that found the catalog unchanged: fresh again, same catalog.
    pub fn mark_synced(&self, at: SystemTime) {
        self.update_status(|s| {
            s.last_refresh = Some(RefreshRecord {
                at,
                outcome: Outcome::Ok,
            });
            s.last_success = Some(at);
            s.stale = false;
        });
    }

    /// A follower's view of the fleet (SPEC section 13): the leader's
    /// catalog (when a newer one was loaded) and its sync status, in one
    /// swap.
    pub fn follow(
        &self,
        catalog: Option<Arc<Catalog>>,
        stale: bool,
        outcome: Outcome,
        at: SystemTime,
    ) {
        self.update(|p| {
            if let Some(catalog) = &catalog {
                p.catalog = Some(catalog.clone());
            }
            let s = Arc::make_mut(&mut p.status);
            s.last_refresh = Some(RefreshRecord { at, outcome });
            if !stale {
                s.last_success = Some(at);
            }
            s.stale = stale;
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
        self.set_next_sync_at(Some(SystemTime::now() + delay));
    }

    /// When the next sync is expected (`None`: any moment).
    pub fn set_next_sync_at(&self, at: Option<SystemTime>) {
        self.update_status(|s| s.next_sync_at = at);
    }

    fn update_status(&self, f: impl Fn(&mut SyncStatus)) {
        self.update(|p| f(Arc::make_mut(&mut p.status)));
    }

    fn update(&self, f: impl Fn(&mut Published)) {
        self.current.rcu(|current| {
            let mut next = Published::clone(current);
            f(&mut next);
            next
        });
    }
}
