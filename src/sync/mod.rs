//! The background sync task: the only code that talks to upstream.
//!
//! One task owns the client, so there is exactly one upstream request per sync
//! whatever the traffic. Admin refreshes are messages to this task; calls that
//! arrive while a sync runs join it instead of starting another.

mod metrics;
pub mod rates;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::catalog::{Catalog, CatalogStore, FeedError, Outcome, snapshot};
use crate::history::Recorder;
use crate::upstream::{FetchError, UpstreamClient};

pub use metrics::SyncMetrics;

/// The longest a sync waits for the history database before serving the new
/// catalog anyway.
const RECORD_WAIT: Duration = Duration::from_millis(500);

/// The longest `message` a sync report carries.
const MAX_MESSAGE: usize = 300;

/// Why a sync did not swap in a new catalog. The cause is kept for the log;
/// `Display` is what the admin answer says (scrubbed and bounded there).
#[derive(Debug, thiserror::Error)]
enum SyncFailure {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("parsing the feed stopped unexpectedly")]
    Parse(#[source] tokio::task::JoinError),
    #[error("feed has no valid plans; keeping the current catalog")]
    Empty,
    #[error("feed has {plans} plans, down from {current}; more than {percent:.0}% lost")]
    Shrunk {
        plans: usize,
        current: usize,
        percent: f64,
    },
}

impl SyncFailure {
    fn outcome(&self) -> Outcome {
        match self {
            Self::Fetch(FetchError::Unauthorized(_)) => Outcome::Unauthorized,
            Self::Fetch(FetchError::Status(_)) | Self::Feed(FeedError::NotSuccessful) => {
                Outcome::HttpError
            }
            Self::Fetch(FetchError::Timeout(_)) => Outcome::Timeout,
            Self::Fetch(FetchError::Connect(_) | FetchError::Transport(_)) => {
                Outcome::ConnectionError
            }
            Self::Fetch(FetchError::TooLarge(_)) => Outcome::TooLarge,
            Self::Feed(_) | Self::Parse(_) => Outcome::Malformed,
            Self::Empty => Outcome::RejectedEmpty,
            Self::Shrunk { .. } => Outcome::RejectedShrink,
        }
    }
}

/// What one sync did; the answer of `POST /admin/refresh`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub outcome: Outcome,
    /// Plans in the catalog now being served.
    pub plan_count: usize,
    /// Plans dropped from the fetched feed (0 when nothing was parsed).
    pub dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Who syncs (SPEC section 13): every instance for itself (`Single`), or,
/// with replicas on PostgreSQL, the one elected `Leader` while the others
/// `Follow` the catalogs it stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Single,
    Leader,
    Follower,
}

impl Role {
    pub const ALL: [Role; 3] = [Self::Leader, Self::Follower, Self::Single];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Leader => "leader",
            Self::Follower => "follower",
        }
    }

    /// Whether an instance in this role fetches the feed.
    pub fn syncs(self) -> bool {
        self != Self::Follower
    }
}

/// Knobs of the sync loop.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// Time between successful syncs; also the backoff ceiling.
    pub interval: Duration,
    /// Largest share of the current plans a new feed may lose (0.5 = half).
    pub max_shrink: f64,
    /// Take shrunken feeds anyway (operator override).
    pub accept_shrink: bool,
    pub snapshot_path: Option<PathBuf>,
    /// The instance's role when it is elected (a fleet): the loop syncs
    /// only while it leads. `None`: always (a single instance).
    pub role: Option<watch::Receiver<Role>>,
    /// Where each sync's report goes (the fleet tells followers about it).
    pub reports: Option<mpsc::UnboundedSender<SyncReport>>,
}

/// Handle to ask the running sync task for a refresh.
#[derive(Clone, Debug)]
pub struct SyncHandle {
    tx: mpsc::Sender<Trigger>,
}

#[derive(Debug)]
struct Trigger {
    accept_shrink: bool,
    reply: oneshot::Sender<SyncReport>,
}

impl SyncHandle {
    /// Runs a sync now (or joins the one in flight) and returns its report;
    /// `None` when the task has stopped.
    pub async fn refresh(&self, accept_shrink: bool) -> Option<SyncReport> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Trigger {
                accept_shrink,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }
}

pub struct Syncer {
    client: UpstreamClient,
    /// Gives each new catalog its version number (SPEC section 8).
    recorder: Recorder,
    store: Arc<CatalogStore>,
    metrics: SyncMetrics,
    settings: SyncSettings,
    /// True while the current sync waits on upstream: only then may a refresh
    /// request join it. Once the body is in, a new request needs a new fetch.
    fetching: AtomicBool,
}

impl Syncer {
    pub fn new(
        client: UpstreamClient,
        recorder: Recorder,
        store: Arc<CatalogStore>,
        metrics: SyncMetrics,
        settings: SyncSettings,
    ) -> Self {
        Self {
            client,
            recorder,
            store,
            metrics,
            settings,
            fetching: AtomicBool::new(false),
        }
    }

    /// Starts the loop; it syncs at once, then on schedule, until `shutdown`
    /// turns true.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> (SyncHandle, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(self.run(rx, shutdown));
        (SyncHandle { tx }, task)
    }

    async fn run(self, mut triggers: mpsc::Receiver<Trigger>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(self.settings.interval);
        // Refresh requests waiting for the next sync.
        let mut queued: Vec<Trigger> = Vec::new();
        let mut role = self.settings.role.clone();
        loop {
            // A follower does not fetch: it waits to be elected. Refresh
            // requests that reach it meanwhile get no report (the HTTP
            // route asks the leader instead).
            if let Some(role) = role.as_mut() {
                while !role.borrow_and_update().syncs() {
                    queued.clear();
                    tokio::select! {
                        changed = role.changed() => if changed.is_err() { return },
                        Some(t) = triggers.recv() => drop(t),
                        _ = shutdown.changed() => return,
                    }
                }
            }
            let accept_shrink = queued.iter().any(|t| t.accept_shrink);
            let mut waiters: Vec<_> = queued.drain(..).map(|t| t.reply).collect();
            let report = {
                // Set before the first poll of the sync, so requests that
                // arrive right away join it.
                self.fetching.store(true, Ordering::Relaxed);
                let sync = self.sync_once(accept_shrink);
                tokio::pin!(sync);
                loop {
                    tokio::select! {
                        report = &mut sync => break report,
                        // A request joins the sync in flight while it is still
                        // fetching, unless it overrides the shrink guard and
                        // this sync does not; otherwise it gets the next sync.
                        Some(t) = triggers.recv() => {
                            let joins = self.fetching.load(Ordering::Relaxed)
                                && (accept_shrink || !t.accept_shrink);
                            if joins {
                                waiters.push(t.reply);
                            } else {
                                queued.push(t);
                            }
                        }
                        _ = shutdown.changed() => return,
                    }
                }
            };
            if let Some(reports) = &self.settings.reports {
                let _ = reports.send(report.clone());
            }
            for waiter in waiters {
                let _ = waiter.send(report.clone());
            }
            let delay = if report.outcome == Outcome::Ok {
                backoff.reset();
                jitter(self.settings.interval, 0.05)
            } else {
                backoff.next_delay()
            };
            self.store.set_next_sync(delay);
            if !queued.is_empty() {
                continue;
            }
            tracing::debug!(delay_secs = delay.as_secs_f64(), "next sync scheduled");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                Some(t) = triggers.recv() => queued.push(t),
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One sync: fetch, parse, guard, swap, persist.
    #[tracing::instrument(name = "sync", skip_all)]
    async fn sync_once(&self, accept_shrink: bool) -> SyncReport {
        let started = std::time::Instant::now();
        let fetched = self.client.fetch().await;
        self.fetching.store(false, Ordering::Relaxed);
        let mut bytes = 0;
        let mut dropped = 0;
        let result: Result<(), SyncFailure> = async {
            let fetched = fetched?;
            self.metrics
                .record_fetch(fetched.elapsed, fetched.body.len());
            bytes = fetched.body.len();
            let body = fetched.body;
            let key = self.client.key().clone();
            let catalog = tokio::task::spawn_blocking(move || {
                Catalog::from_feed_guarded(&body, SystemTime::now(), Some(key.expose()))
            })
            .await
            .map_err(SyncFailure::Parse)??;
            dropped = catalog.dropped().total();
            self.metrics.record_dropped(catalog.dropped());
            self.accept(catalog, accept_shrink).await
        }
        .await;
        let outcome = result
            .as_ref()
            .err()
            .map_or(Outcome::Ok, SyncFailure::outcome);
        if outcome != Outcome::Ok {
            self.store.record_failure(outcome, SystemTime::now());
        }
        self.metrics.record_outcome(outcome);
        let plan_count = self.store.catalog().map_or(0, |c| c.len());
        let duration_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(()) => tracing::info!(
                outcome = outcome.as_str(),
                plans = plan_count,
                dropped,
                bytes,
                duration_ms,
                "sync finished"
            ),
            Err(e @ SyncFailure::Fetch(FetchError::Unauthorized(_))) => tracing::error!(
                outcome = outcome.as_str(),
                plans = plan_count,
                duration_ms,
                error.cause_chain = %crate::telemetry::cause_chain(e),
                "upstream rejected the API key; keeping the current catalog"
            ),
            Err(e) => tracing::warn!(
                outcome = outcome.as_str(),
                plans = plan_count,
                dropped,
                bytes,
                duration_ms,
                error.cause_chain = %crate::telemetry::cause_chain(e),
                "sync failed; keeping the current catalog"
            ),
        }
        // The message reaches an HTTP client (the admin answer): the failure's
        // own words (serde positions, never upstream text), never the key,
        // and never much of anything.
        let message = result.err().map(|e| {
            let m = self.client.key().scrub(&e.to_string());
            match m.char_indices().nth(MAX_MESSAGE) {
                Some((cut, _)) => format!("{}…", &m[..cut]),
                None => m,
            }
        });
        SyncReport {
            outcome,
            plan_count,
            dropped,
            message,
        }
    }

    /// Applies the feed guards, then swaps the catalog in and persists it.
    async fn accept(&self, catalog: Catalog, accept_shrink: bool) -> Result<(), SyncFailure> {
        let current = self.store.catalog().map_or(0, |c| c.len());
        if catalog.is_empty() && current > 0 {
            return Err(SyncFailure::Empty);
        }
        let floor = current as f64 * (1.0 - self.settings.max_shrink);
        let guarded =
            self.settings.max_shrink < 1.0 && !(accept_shrink || self.settings.accept_shrink);
        if guarded && (catalog.len() as f64) < floor {
            return Err(SyncFailure::Shrunk {
                plans: catalog.len(),
                current,
                percent: self.settings.max_shrink * 100.0,
            });
        }
        // In a fleet an identical feed makes no swap: followers keep the
        // catalog they have, so every replica serves the same bytes.
        if self.settings.role.is_some()
            && self
                .store
                .catalog()
                .is_some_and(|c| c.content_hash() == catalog.content_hash() && c.is_recorded())
        {
            self.store.mark_synced(SystemTime::now());
            return Ok(());
        }
        let catalog = Arc::new(catalog);
        // Bounded: a slow or absent database never holds the new catalog back;
        // it then gets a provisional number and is recorded in the background.
        let previous = self.store.catalog();
        self.recorder
            .record(&catalog, previous.as_deref(), RECORD_WAIT)
            .await;
        self.store
            .publish(catalog.clone(), Outcome::Ok, SystemTime::now());
        // Trimming a large heap takes a few milliseconds: not on a worker.
        tokio::task::spawn_blocking(release_freed_memory);
        if let Some(path) = self.settings.snapshot_path.clone() {
            let written =
                tokio::task::spawn_blocking(move || snapshot::write(&path, &catalog)).await;
            match written {
                Ok(Ok(())) => tracing::debug!("snapshot written"),
                Ok(Err(e)) => tracing::warn!(error.cause_chain = %e, "cannot write snapshot"),
                Err(e) => tracing::warn!(error.cause_chain = %e, "snapshot task failed"),
            }
            tokio::task::spawn_blocking(release_freed_memory);
        }
        Ok(())
    }
}

/// Hands memory freed by the sync (the feed body, parse temporaries, the
/// previous catalog once its last reader is done) back to the OS. glibc keeps
/// freed heap pages, per thread arena, until asked; without this the resident
/// size after a 100k-plan sync stays several times the catalog's.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only releases free memory; it has no
        // preconditions and is thread-safe.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Exponential backoff with jitter, from about a second up to `ceiling`.
#[derive(Debug)]
pub struct Backoff {
    ceiling: Duration,
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);

    pub fn new(ceiling: Duration) -> Self {
        Self {
            ceiling,
            next: Self::FIRST.min(ceiling),
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let delay = jitter(self.next, 0.2).min(self.ceiling);
        self.next = (self.next * 2).min(self.ceiling);
        delay
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST.min(self.ceiling);
    }
}

/// `base` moved randomly by up to `share` in either direction, so replicas
/// started together drift apart instead of hitting upstream in the same second.
fn jitter(base: Duration, share: f64) -> Duration {
    let factor = 1.0 + share * (fastrand::f64() * 2.0 - 1.0);
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_from_a_second_to_the_ceiling_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(60));
        let delays: Vec<f64> = (0..10)
            .map(|_| backoff.next_delay().as_secs_f64())
            .collect();
        assert!((0.8..=1.2).contains(&delays[0]), "{delays:?}");
        assert!((1.6..=2.4).contains(&delays[1]), "{delays:?}");
        assert!(delays.iter().all(|&d| d <= 60.0), "{delays:?}");
        assert!(delays[9] >= 48.0, "reaches the ceiling: {delays:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(1200));
    }

    #[test]
    fn a_short_interval_caps_the_first_retry() {
        let mut backoff = Backoff::new(Duration::from_millis(200));
        assert!(backoff.next_delay() <= Duration::from_millis(200));
    }

    #[test]
    fn jitter_stays_within_its_share() {
        for _ in 0..1000 {
            let d = jitter(Duration::from_secs(100), 0.05).as_secs_f64();
            assert!((95.0..=105.0).contains(&d), "{d}");
        }
    }
}
