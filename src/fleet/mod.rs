//! A fleet behaves as one (SPEC section 13): replicas sharing PostgreSQL
//! elect one sync leader with a session-level advisory lock held on a
//! dedicated connection; only the leader fetches the feed. Each new version
//! stores its catalog in the database in the version's own transaction
//! (`history::write`), which `NOTIFY`s `cmg_catalog` on commit; followers
//! `LISTEN` (and poll every 30 s in case a notification is lost), load the
//! newest catalog, build the same indexed catalog off the request path and
//! swap it in with the leader's `stale` flag. A follower's admin refresh is
//! a `NOTIFY` on `cmg_refresh` that the leader turns into a sync.
//!
//! Coordinated by the database the replicas already run: no other service.
//! A replica that cannot reach the database and has no catalog yet syncs for
//! itself (`single`) until it can: an unreachable database never keeps the
//! service from starting.

use std::io::Read as _;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{Connection, Row};
use tokio::sync::{Mutex, mpsc, watch};

use crate::catalog::{Catalog, CatalogStore, Outcome};
use crate::history::{History, HistoryError, from_millis, millis};
use crate::sync::{Role, SyncHandle, SyncReport};

/// The advisory lock whose holder leads (distinct from the history's).
const LEADER_LOCK: i64 = 7_355_611;
/// New catalogs and sync states.
const CATALOG_CHANNEL: &str = "cmg_catalog";
/// A follower asks the leader for a sync.
const REFRESH_CHANNEL: &str = "cmg_refresh";
/// How often leadership is checked (and sought), so a dead leader is
/// replaced within SPEC's 5 s.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A notification may be lost (a reconnect): followers look anyway.
const POLL: Duration = Duration::from_secs(30);

/// The leader's last sync as followers see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetState {
    /// Counts the leader's syncs.
    pub seq: i64,
    /// The version served after the sync.
    pub version: u64,
    pub stale: bool,
    pub outcome: String,
    pub plan_count: u64,
}

pub struct Fleet {
    /// `DATABASE_URL`: a secret, never printed.
    url: String,
    history: Arc<History>,
    store: Arc<CatalogStore>,
    role: watch::Sender<Role>,
    state: watch::Sender<FleetState>,
    /// The sync task, for refresh requests from followers.
    sync: OnceLock<SyncHandle>,
    /// One follow at a time.
    following: Mutex<()>,
    /// The largest feed a stored catalog may inflate to (`UPSTREAM_MAX_BYTES`).
    max_feed: u64,
    /// The followers' refresh requests this leader has served (a count).
    served: std::sync::atomic::AtomicI64,
    /// `REFRESH_INTERVAL`: a follower expects the leader's next sync that
    /// long after its last good one (for `Cache-Control: max-age`).
    interval: Duration,
}

impl Fleet {
    /// A replica of a fleet: a follower until elected.
    pub fn new(
        url: &str,
        history: Arc<History>,
        store: Arc<CatalogStore>,
        max_feed: u64,
        interval: Duration,
    ) -> Arc<Self> {
        history.store_catalogs();
        Arc::new(Self {
            url: url.to_owned(),
            history,
            store,
            role: watch::Sender::new(Role::Follower),
            state: watch::Sender::new(FleetState::default()),
            sync: OnceLock::new(),
            following: Mutex::new(()),
            max_feed,
            served: std::sync::atomic::AtomicI64::new(0),
            interval,
        })
    }

    pub fn role(&self) -> Role {
        *self.role.borrow()
    }

    /// The role, as it changes (the sync loop waits on it).
    pub fn roles(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// The sync task the leader runs refresh requests through.
    pub fn set_sync(&self, handle: SyncHandle) {
        let _ = self.sync.set(handle);
    }

    /// Starts electing, listening and telling followers about syncs.
    pub fn spawn(
        self: &Arc<Self>,
        reports: mpsc::UnboundedReceiver<SyncReport>,
        stop: watch::Receiver<bool>,
    ) {
        tokio::spawn(self.clone().elect(stop.clone()));
        tokio::spawn(self.clone().listen(stop.clone()));
        tokio::spawn(self.clone().announce(reports, stop));
    }

    fn set_role(&self, role: Role) {
        let previous = self.role.send_replace(role);
        if previous != role {
            tracing::info!(role = role.as_str(), "sync role changed");
        }
    }

    /// Holds or seeks the leader lock on a connection of its own: its loss
    /// (network, database restart, `pg_terminate_backend`) ends leadership
    /// at the next heartbeat.
    async fn elect(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let connected =
                tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&self.url))
                    .await;
            if let Ok(Ok(mut conn)) = connected {
                loop {
                    // The lock is re-entrant (each call would stack another
                    // hold): the leader only checks that its session lives.
                    let asked = if self.role() == Role::Leader {
                        sqlx::query_scalar::<_, bool>("SELECT true")
                    } else {
                        sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                            .bind(LEADER_LOCK)
                    }
                    .fetch_one(&mut conn);
                    match tokio::time::timeout(Duration::from_secs(2), asked).await {
                        Ok(Ok(true)) if self.role() == Role::Leader => {
                            // Requests whose notification was lost are
                            // seen within a heartbeat.
                            self.serve_requests().await;
                        }
                        Ok(Ok(true)) => {
                            // The sync a new leader makes at once serves
                            // every request made before.
                            if let Ok(requested) = self.requested().await {
                                self.served
                                    .store(requested, std::sync::atomic::Ordering::Relaxed);
                            }
                            self.set_role(Role::Leader);
                        }
                        Ok(Ok(false)) => self.set_role(Role::Follower),
                        _ => break,
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(HEARTBEAT) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
            // No session, no lock: whoever holds it now leads, and this
            // replica follows, serving what it has. One that had nothing to
            // serve syncs for itself (`single`) until the database answers:
            // a database that is down never keeps the service from starting.
            if self.role() == Role::Leader {
                tracing::warn!("lost the connection holding the leader lock; following");
            }
            let alone = self.role() == Role::Single || self.store.catalog().is_none();
            self.set_role(if alone { Role::Single } else { Role::Follower });
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Listens for new catalogs and refresh requests; polls when quiet.
    async fn listen(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut roles = self.roles();
        loop {
            let mut listener = match PgListener::connect(&self.url).await {
                Ok(listener) => listener,
                Err(_) => {
                    tokio::select! {
                        _ = tokio::time::sleep(HEARTBEAT) => continue,
                        _ = stop.changed() => return,
                    }
                }
            };
            if listener
                .listen_all([CATALOG_CHANNEL, REFRESH_CHANNEL])
                .await
                .is_err()
            {
                tokio::time::sleep(HEARTBEAT).await;
                continue;
            }
            // Whatever was missed while not listening.
            self.follow().await;
            self.serve_requests().await;
            loop {
                tokio::select! {
                    received = tokio::time::timeout(POLL, listener.try_recv()) => match received {
                        Err(_) => {
                            self.follow().await;
                            self.serve_requests().await;
                        }
                        Ok(Ok(Some(notification))) => {
                            if notification.channel() == REFRESH_CHANNEL {
                                self.serve_requests().await;
                            } else {
                                self.follow().await;
                            }
                        }
                        // The connection was lost; the next call reconnects
                        // (and notifications meanwhile are lost: look).
                        Ok(Ok(None)) => {
                            self.follow().await;
                            self.serve_requests().await;
                        }
                        Ok(Err(_)) => break,
                    },
                    changed = roles.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        self.follow().await;
                    }
                    _ = stop.changed() => return,
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Followers' refresh requests so far.
    async fn requested(&self) -> Result<i64, HistoryError> {
        let pool = self.history.database().await?;
        let row = sqlx::query("SELECT requested FROM fleet_requests WHERE id = 1")
            .fetch_optional(&pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64, _>(0))
            .transpose()?
            .unwrap_or(0))
    }

    /// The leader syncs when followers asked since it last looked (one sync
    /// for any number of requests; a sync in flight is joined).
    async fn serve_requests(&self) {
        if self.role() != Role::Leader {
            return;
        }
        let Ok(requested) = self.requested().await else {
            return;
        };
        let served = self
            .served
            .fetch_max(requested, std::sync::atomic::Ordering::Relaxed);
        if requested > served {
            if let Some(sync) = self.sync.get().cloned() {
                tokio::spawn(async move { sync.refresh(false).await });
            }
        }
    }

    /// The leader tells followers how each sync ended.
    async fn announce(
        self: Arc<Self>,
        mut reports: mpsc::UnboundedReceiver<SyncReport>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let report = tokio::select! {
                report = reports.recv() => match report {
                    Some(report) => report,
                    None => return,
                },
                _ = stop.changed() => return,
            };
            // Followers are told once the version is recorded (its catalog
            // stored with it): a follower that hears of the sync finds it.
            for _ in 0..1200 {
                if self.store.catalog().is_none_or(|c| c.is_recorded()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let stale = self.store.status().stale;
            let version = self.store.catalog().map_or(0, |c| c.version());
            if let Err(e) = self.write_state(&report, stale, version).await {
                tracing::warn!(error.cause_chain = %crate::history::describe(&e), "cannot tell followers about the sync");
            }
        }
    }

    async fn write_state(
        &self,
        report: &SyncReport,
        stale: bool,
        version: u64,
    ) -> Result<(), HistoryError> {
        let pool = self.history.database().await?;
        let mut tx = pool.begin().await?;
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO fleet_state (id, seq, version, stale, outcome, synced_at, plan_count) \
             VALUES (1, 1, $5, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET seq = fleet_state.seq + 1, \
             version = excluded.version, stale = excluded.stale, outcome = excluded.outcome, \
             synced_at = excluded.synced_at, plan_count = excluded.plan_count RETURNING seq",
        )
        .bind(i64::from(stale))
        .bind(report.outcome.as_str())
        .bind(millis(SystemTime::now()))
        .bind(report.plan_count as i64)
        .bind(version as i64)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify('cmg_catalog', '')")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // A refresh this replica was asked for as a follower, before it
        // was elected, is answered by this sync too.
        self.state.send_replace(FleetState {
            seq,
            version,
            stale,
            outcome: report.outcome.as_str().to_owned(),
            plan_count: report.plan_count as u64,
        });
        Ok(())
    }

    /// A follower catches up: the newest stored catalog when it is newer
    /// than the one served (built off the request path, swapped in at
    /// once), and the leader's sync status. The leader serves its own.
    pub async fn follow(&self) {
        if self.role() == Role::Leader {
            return;
        }
        let _one = self.following.lock().await;
        if let Err(e) = self.follow_once().await {
            tracing::debug!(error.cause_chain = %crate::history::describe(&e), "cannot follow the leader right now");
        }
    }

    async fn follow_once(&self) -> Result<(), HistoryError> {
        let pool = self.history.database().await?;
        let state = sqlx::query(
            "SELECT seq, stale, outcome, synced_at, plan_count, version FROM fleet_state WHERE id = 1",
        )
        .fetch_optional(&pool)
        .await?;
        let latest = sqlx::query("SELECT MAX(version) FROM fleet_catalogs")
            .fetch_one(&pool)
            .await?
            .try_get::<Option<i64>, _>(0)?;
        let current = self.store.catalog();
        let mut loaded = None;
        if let Some(version) =
            latest.filter(|v| current.as_ref().is_none_or(|c| (*v as u64) > c.version()))
        {
            let row = sqlx::query("SELECT updated_at, body FROM fleet_catalogs WHERE version = $1")
                .bind(version)
                .fetch_optional(&pool)
                .await?;
            if let Some(row) = row {
                let updated_at = from_millis(row.try_get(0)?);
                let body: Vec<u8> = row.try_get(1)?;
                let max = self.max_feed;
                let built =
                    tokio::task::spawn_blocking(move || build(&body, updated_at, max)).await?;
                match built {
                    Some(catalog) => {
                        catalog.set_version(version as u64);
                        self.history.note_seen(version as u64);
                        loaded = Some(Arc::new(catalog));
                    }
                    None => tracing::warn!(
                        version,
                        "the stored catalog is unreadable; keeping the current one"
                    ),
                }
            }
        }
        let (seen, synced_at) = match &state {
            Some(row) => (
                FleetState {
                    seq: row.try_get(0)?,
                    stale: row.try_get::<i64, _>(1)? != 0,
                    outcome: row.try_get(2)?,
                    plan_count: row.try_get::<i64, _>(4)?.max(0) as u64,
                    version: row.try_get::<i64, _>(5)?.max(0) as u64,
                },
                from_millis(row.try_get(3)?),
            ),
            None => (FleetState::default(), SystemTime::now()),
        };
        if loaded.is_some() || state.is_some() {
            if loaded.is_some() || self.store.catalog().is_some() {
                let outcome = Outcome::parse(&seen.outcome).unwrap_or(Outcome::Ok);
                self.store
                    .follow(loaded.clone(), seen.stale, outcome, synced_at);
                // The leader's next sync comes an interval (less its 5%
                // jitter) after a good one; after a failed one it retries
                // within seconds, so nothing may be cached.
                let next = (state.is_some() && outcome == Outcome::Ok && !seen.stale)
                    .then(|| synced_at + self.interval.mul_f64(0.95));
                self.store.set_next_sync_at(next);
            }
            if let Some(catalog) = &loaded {
                tracing::info!(
                    version = catalog.version(),
                    plans = catalog.len(),
                    "following the leader's catalog"
                );
                tokio::task::spawn_blocking(crate::sync::release_freed_memory);
            }
        }
        self.state.send_replace(seen);
        Ok(())
    }

    /// A follower's `POST /admin/refresh`: asks the leader for a sync and
    /// waits until this replica has what it made (`None` after `timeout`).
    pub async fn request_refresh(&self, timeout: Duration) -> Option<FleetState> {
        let mut states = self.state.subscribe();
        let before = states.borrow_and_update().seq;
        let pool = self.history.database().await.ok()?;
        let mut tx = pool.begin().await.ok()?;
        sqlx::query(
            "INSERT INTO fleet_requests (id, requested) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET requested = fleet_requests.requested + 1",
        )
        .execute(&mut *tx)
        .await
        .ok()?;
        sqlx::query("SELECT pg_notify('cmg_refresh', '')")
            .execute(&mut *tx)
            .await
            .ok()?;
        tx.commit().await.ok()?;
        tokio::time::timeout(timeout, async {
            loop {
                if states.changed().await.is_err() {
                    return None;
                }
                let state = states.borrow_and_update().clone();
                let here = self.store.catalog().map_or(0, |c| c.version());
                if state.seq > before && here >= state.version {
                    return Some(state);
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

/// A stored catalog (gzip of the upstream-shaped feed) as a catalog; one
/// that inflates past `max` bytes (what a feed may be) is refused, never
/// inflated whole.
fn build(body: &[u8], updated_at: SystemTime, max: u64) -> Option<Catalog> {
    let mut feed = Vec::with_capacity(body.len().saturating_mul(6).min(max as usize));
    flate2::read::GzDecoder::new(body)
        .take(max.saturating_add(1))
        .read_to_end(&mut feed)
        .ok()?;
    if feed.len() as u64 > max {
        return None;
    }
    Catalog::from_feed(&feed, updated_at).ok()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn a_stored_catalog_is_refused_past_the_feed_size_limit() {
        use std::io::Write as _;
        let catalog =
            Catalog::from_plans("CMG", crate::catalog::synthetic::plans(50, 3), UNIX_EPOCH);
        let mut feed = Vec::new();
        catalog.write_feed(&mut feed, None, &[]);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&feed).unwrap();
        let body = gzip.finish().unwrap();
        let built = build(&body, UNIX_EPOCH, feed.len() as u64).unwrap();
        assert_eq!(built.content_hash(), catalog.content_hash());
        assert!(build(&body, UNIX_EPOCH, feed.len() as u64 - 1).is_none());
        assert!(build(b"not gzip", UNIX_EPOCH, 1 << 20).is_none());
    }
}
