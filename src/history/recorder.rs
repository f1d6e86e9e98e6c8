//! When and how the sync's catalogs get recorded: inline with a bounded wait,
//! then in the background with backoff, newest first, never twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::{History, HistoryError, PlanSet, describe};
use crate::catalog::{Catalog, CatalogStore};

/// Records catalogs in the background when the inline attempt failed, with
/// backoff, newest catalog first; a newer catalog replaces a pending one.
/// A catalog waiting to be recorded, with its sync generation.
type Pending = Option<(Arc<Catalog>, u64)>;

#[derive(Clone)]
pub struct Recorder {
    history: Arc<History>,
    pending: Arc<watch::Sender<Pending>>,
    generation: Arc<AtomicU64>,
    /// The content hash and version of the catalog recorded last.
    last: Arc<std::sync::Mutex<Option<(u64, u64)>>>,
    /// The write still in progress: back-to-back syncs of the same feed do
    /// not start another, they wait for its number.
    in_flight: Arc<std::sync::Mutex<Option<InFlight>>>,
}

/// A write in progress and the catalogs of the same content that joined it
/// (a sync of an unchanged feed, or the one after a restored snapshot): they
/// get its number when it lands.
struct InFlight {
    hash: u64,
    waiters: Vec<std::sync::Weak<Catalog>>,
}

impl Recorder {
    pub fn new(history: Arc<History>, store: Arc<CatalogStore>) -> Self {
        let (pending, rx) = watch::channel(None);
        // The retry loop confirms the catalog in use (see `confirm`).
        tokio::spawn(retry_loop(history.clone(), store, rx));
        Self {
            history,
            pending: Arc::new(pending),
            generation: Arc::new(AtomicU64::new(0)),
            last: Arc::new(std::sync::Mutex::new(None)),
            in_flight: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// Records `catalog`, waiting at most `wait`. A catalog with the content
    /// last recorded takes its version without touching the database. When
    /// the write takes longer, the catalog gets a provisional number and the
    /// write goes on in the background (it is not cancelled and redone); a
    /// failed write is retried with backoff. Returns whether the stored number
    /// is known.
    pub async fn record(
        &self,
        catalog: &Arc<Catalog>,
        previous: Option<&Catalog>,
        wait: Duration,
    ) -> bool {
        let known = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((hash, version)) = known {
            if hash == catalog.content_hash() {
                catalog.set_version(version);
                return true;
            }
        }
        // Until its own number is recorded a catalog shows the last number
        // shown (never a guess above it, which a restart could lose), and
        // `/changes` answers 503 for it.
        let provisional = previous.map_or(catalog.version(), Catalog::version);
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(write) = in_flight
                .as_mut()
                .filter(|w| w.hash == catalog.content_hash())
            {
                catalog.set_provisional(provisional);
                write.waiters.push(Arc::downgrade(catalog));
                return false;
            }
            *in_flight = Some(InFlight {
                hash: catalog.content_hash(),
                waiters: Vec::new(),
            });
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut write = tokio::spawn({
            let history = self.history.clone();
            let catalog = catalog.clone();
            async move {
                let plans = plan_set(catalog.clone(), history.stores_catalogs()).await?;
                let recorded = history
                    .record(&Arc::new(plans), catalog.updated_at(), generation)
                    .await;
                // The plan set (a copy of every plan as JSON) is gone now.
                tokio::task::spawn_blocking(crate::sync::release_freed_memory);
                recorded
            }
        });
        match tokio::time::timeout(wait, &mut write).await {
            Ok(outcome) => self.settle(catalog, generation, outcome, provisional),
            Err(_) => {
                tracing::info!("recording the catalog version takes a while; serving it meanwhile");
                catalog.set_provisional(provisional);
                let this = self.clone();
                let catalog = catalog.clone();
                tokio::spawn(async move {
                    let outcome = write.await;
                    this.settle(&catalog, generation, outcome, provisional);
                });
                false
            }
        }
    }

    /// Applies a finished write: the stored number, or a provisional one and
    /// a background retry.
    fn settle(
        &self,
        catalog: &Arc<Catalog>,
        generation: u64,
        outcome: Result<Result<Option<u64>, HistoryError>, tokio::task::JoinError>,
        provisional: u64,
    ) -> bool {
        let waiters = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            match in_flight.take() {
                Some(write) if write.hash == catalog.content_hash() => write.waiters,
                other => {
                    *in_flight = other;
                    Vec::new()
                }
            }
        };
        match outcome {
            Ok(Ok(Some(version))) => {
                catalog.set_version(version);
                for waiter in waiters.iter().filter_map(std::sync::Weak::upgrade) {
                    waiter.set_version(version);
                }
                *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((catalog.content_hash(), version));
                self.pending.send_if_modified(|pending| {
                    let stale = pending.as_ref().is_some_and(|(_, g)| *g <= generation);
                    if stale {
                        *pending = None;
                    }
                    stale
                });
                true
            }
            // A newer catalog was recorded first; this one is no longer served.
            Ok(Ok(None)) => true,
            failed => {
                let cause = match failed {
                    Ok(Err(e)) => describe(&e),
                    Err(e) => format!("record task failed: {e}"),
                    Ok(Ok(_)) => unreachable!("handled above"),
                };
                tracing::warn!(error.cause_chain = %cause, "cannot record the catalog version; retrying in the background");
                catalog.set_provisional(provisional);
                self.pending
                    .send_replace(Some((catalog.clone(), generation)));
                false
            }
        }
    }
}

/// Rendering every plan is CPU work (100k plans: tens of milliseconds): not
/// on a request worker.
async fn plan_set(
    catalog: Arc<Catalog>,
    with_catalog: bool,
) -> Result<PlanSet, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || {
        if with_catalog {
            PlanSet::with_catalog(&catalog)
        } else {
            PlanSet::of(&catalog)
        }
    })
    .await
}

/// After a background retry: gives `version` to the catalog in use when it
/// has `recorded`'s content and no number of its own yet (a later sync of
/// the same feed found no write in flight and kept the provisional one).
fn confirm(store: &CatalogStore, recorded: &Catalog, version: u64) {
    if let Some(current) = store.catalog() {
        if current.content_hash() == recorded.content_hash() && !current.is_recorded() {
            current.set_version(version);
        }
    }
}

async fn retry_loop(
    history: Arc<History>,
    store: Arc<CatalogStore>,
    mut rx: watch::Receiver<Pending>,
) {
    while rx.changed().await.is_ok() {
        let mut delay = Duration::from_millis(500);
        loop {
            let Some((catalog, generation)) = rx.borrow_and_update().clone() else {
                break;
            };
            let Ok(plans) = plan_set(catalog.clone(), history.stores_catalogs()).await else {
                break;
            };
            let plans = Arc::new(plans);
            match history
                .record(&plans, catalog.updated_at(), generation)
                .await
            {
                Ok(version) => {
                    if let Some(version) = version {
                        catalog.set_version(version);
                        confirm(&store, &catalog, version);
                        tracing::info!(version, "catalog version recorded");
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error.cause_chain = %describe(&e), retry_in_ms = delay.as_millis() as u64, "cannot record the catalog version");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        changed = rx.changed() => if changed.is_err() { return },
                    }
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}
