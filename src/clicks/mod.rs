//! Clicks on `/go` links (SPEC section 10): what one click records, the
//! bounded buffer the redirect hands it to, and the task that writes the
//! buffer to `DATABASE_URL` in batches.
//!
//! The redirect never waits for storage: [`ClickLog::record`] hashes the
//! visitor, classifies the agent and pushes the record under a mutex (or
//! drops it, counted, when the buffer is full). The flusher writes what is
//! buffered every [`FLUSH_EVERY`], one multi-row insert per batch; a batch
//! leaves the buffer only once its transaction committed, so a database
//! outage keeps clicks until it is back, and a batch written twice (a lost
//! commit acknowledgement) inserts nothing twice (ids are primary keys).
//!
//! * `agents`: the crawler and link-previewer list (`assets/bots.txt`);
//! * `salt`: the day's visitor-hash salt, agreed between replicas;
//! * `store`: the SQL (insert, purge, salts, reports);
//! * `report`: report parameters, dates and the report's shape.

mod agents;
mod metrics;
pub mod report;
mod salt;
mod store;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::Digest;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use agents::is_bot;
pub use metrics::{ClickMetrics, Outcome};
pub use report::{Report, ReportQuery};

use crate::history::{History, HistoryError};
use salt::Salts;

/// The sub-ID and utm parameters a click records, in column order.
pub const LABELS: [&str; 8] = [
    "subid",
    "subid2",
    "subid3",
    "subid4",
    "subid5",
    "utm_source",
    "utm_medium",
    "utm_campaign",
];

/// Records the buffer holds at most (SPEC section 10).
pub const BUFFER_CAPACITY: usize = 100_000;
/// Clicks per transaction (several multi-row statements, one commit).
const BATCH: usize = 5_000;
/// How often the buffer is written out.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How often expired clicks are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 (UTC) of `ms` milliseconds since the epoch.
pub fn day_of_ms(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A sub-ID or utm value: 1–64 characters of `A-Z a-z 0-9 . _ -`.
pub fn is_label(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One stored click.
#[derive(Clone, Debug, PartialEq)]
pub struct Click {
    /// UUID v7 (time-ordered).
    pub id: String,
    pub at_ms: i64,
    pub partner: Option<String>,
    pub ref_code: Option<String>,
    pub package_code: String,
    pub countries: Vec<String>,
    /// Values of [`LABELS`], in that order.
    pub labels: [Option<String>; 8],
    pub visitor: String,
    pub bot: bool,
    pub prefetch: bool,
}

/// What the redirect knows about one click; the address and agent only
/// pass through [`ClickLog::record`] into the visitor hash.
pub struct Visit<'a> {
    pub partner: Option<String>,
    pub ref_code: Option<String>,
    pub package_code: String,
    pub countries: Vec<String>,
    pub labels: [Option<String>; 8],
    pub address: Option<IpAddr>,
    pub user_agent: &'a [u8],
    pub prefetch: bool,
}

/// Settings of the click log.
#[derive(Clone, Debug)]
pub struct ClickSettings {
    /// `CLICK_RETENTION`.
    pub retention: Duration,
    /// `CLICK_SALT_FILE` (SQLite only; PostgreSQL keeps the salt itself).
    pub salt_file: Option<std::path::PathBuf>,
    pub capacity: usize,
}

/// The time a click is stamped with; tests move it across a day.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub struct ClickLog {
    history: Arc<History>,
    buffer: Mutex<VecDeque<Click>>,
    /// One writer at a time: a batch leaves the front of the buffer only
    /// after the writer that copied it committed it.
    flushing: tokio::sync::Mutex<()>,
    salts: Salts,
    metrics: ClickMetrics,
    settings: ClickSettings,
    clock: Clock,
    /// Reports run at once, at most: one over a year of clicks takes
    /// seconds of database time, and a crowd of them must not take all of
    /// it (the others wait, within REQUEST_TIMEOUT).
    reports: tokio::sync::Semaphore,
}

/// Click reports computed at the same time, at most.
const CONCURRENT_REPORTS: usize = 2;

impl ClickLog {
    pub fn new(history: Arc<History>, settings: ClickSettings, metrics: ClickMetrics) -> Self {
        Self::with_clock(history, settings, metrics, Arc::new(SystemTime::now))
    }

    pub fn with_clock(
        history: Arc<History>,
        settings: ClickSettings,
        metrics: ClickMetrics,
        clock: Clock,
    ) -> Self {
        // PostgreSQL holds the salt for every replica; a salt file is for
        // SQLite replicas on one host; otherwise the SQLite database.
        let salt_file = (!history.is_postgres())
            .then(|| settings.salt_file.clone())
            .flatten();
        Self {
            history,
            buffer: Mutex::new(VecDeque::new()),
            flushing: tokio::sync::Mutex::new(()),
            salts: Salts::new(salt_file),
            metrics,
            settings,
            clock,
            reports: tokio::sync::Semaphore::new(CONCURRENT_REPORTS),
        }
    }

    /// Builds the click record and buffers it; never waits on the database.
    /// Returns what was counted.
    pub fn record(&self, visit: Visit<'_>) -> Outcome {
        let now = (self.clock)();
        let at_ms = millis(now);
        let day = day_of_ms(at_ms);
        let visitor = visitor_hash(&self.salts.salt_for(day), visit.address, visit.user_agent);
        let bot = is_bot(visit.user_agent);
        let outcome = if bot {
            Outcome::Bot
        } else if visit.prefetch {
            Outcome::Prefetch
        } else {
            Outcome::Recorded
        };
        let partner = visit.partner.clone();
        let click = Click {
            id: click_id(at_ms),
            at_ms,
            partner: visit.partner,
            ref_code: visit.ref_code,
            package_code: visit.package_code,
            countries: visit.countries,
            labels: visit.labels,
            visitor,
            bot,
            prefetch: visit.prefetch,
        };
        let outcome = {
            let mut buffer = self.buffer.lock().expect("click buffer poisoned");
            if buffer.len() >= self.settings.capacity {
                Outcome::Dropped
            } else {
                buffer.push_back(click);
                self.metrics.set_depth(buffer.len());
                outcome
            }
        };
        self.metrics.count(partner.as_deref(), outcome);
        outcome
    }

    pub fn metrics(&self) -> &ClickMetrics {
        &self.metrics
    }

    /// Clicks waiting to be written.
    pub fn depth(&self) -> usize {
        self.buffer.lock().expect("click buffer poisoned").len()
    }

    /// Writes everything buffered, batch by batch; stops at the first
    /// failure, keeping what was not written.
    pub async fn flush(&self) -> Result<(), HistoryError> {
        let _writer = self.flushing.lock().await;
        loop {
            let batch: Vec<Click> = {
                let buffer = self.buffer.lock().expect("click buffer poisoned");
                buffer.iter().take(BATCH).cloned().collect()
            };
            if batch.is_empty() {
                return Ok(());
            }
            let pool = self.history.database().await?;
            store::insert(&pool, &batch, self.history.is_postgres()).await?;
            let mut buffer = self.buffer.lock().expect("click buffer poisoned");
            buffer.drain(..batch.len());
            self.metrics.set_depth(buffer.len());
        }
    }

    /// Agrees on today's and tomorrow's salts with the other replicas (in
    /// the database, or `CLICK_SALT_FILE`) and forgets older ones.
    pub async fn agree_salts(&self) -> Result<(), HistoryError> {
        let today = day_of_ms(millis((self.clock)()));
        if self.salts.is_settled(today) {
            return Ok(());
        }
        self.salts.agree(&self.history, today).await
    }

    /// Deletes clicks older than `CLICK_RETENTION`.
    async fn purge(&self) -> Result<u64, HistoryError> {
        let cutoff = millis((self.clock)()) - self.settings.retention.as_millis() as i64;
        let pool = self.history.database().await?;
        store::purge(&pool, day_of_ms(cutoff)).await
    }

    /// The report over `query`, for one partner or all.
    pub async fn report(&self, query: &ReportQuery) -> Result<Report, HistoryError> {
        let _slot = self.reports.acquire().await.expect("never closed");
        let pool = self.history.database().await?;
        store::report(&pool, query).await
    }

    /// Today (UTC) as days since the epoch, by this log's clock.
    pub fn today(&self) -> i64 {
        day_of_ms(millis((self.clock)()))
    }

    /// Starts the flusher; it writes until `stop` turns true, then returns
    /// (the last writes are [`ClickLog::shutdown`]'s).
    pub fn spawn(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let log = self.clone();
        tokio::spawn(async move {
            let mut failures = 0u32;
            let mut next_purge = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let written = async {
                    log.agree_salts().await?;
                    log.flush().await
                }
                .await;
                let wait = match written {
                    Ok(()) => {
                        if failures > 0 {
                            tracing::info!(
                                buffered = log.depth(),
                                "the click database is back; writing buffered clicks"
                            );
                        }
                        failures = 0;
                        FLUSH_EVERY
                    }
                    Err(e) => {
                        failures += 1;
                        if failures == 1 {
                            tracing::warn!(
                                error.cause_chain = %crate::history::describe(&e),
                                buffered = log.depth(),
                                "cannot write clicks; keeping them buffered and retrying"
                            );
                        }
                        Duration::from_millis(500 * u64::from(failures.min(20)))
                    }
                };
                if failures == 0 && tokio::time::Instant::now() >= next_purge {
                    next_purge += PURGE_EVERY;
                    match log.purge().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(clicks = n, "expired clicks deleted"),
                        Err(e) => tracing::warn!(
                            error.cause_chain = %crate::history::describe(&e),
                            "cannot delete expired clicks"
                        ),
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
            }
        })
    }

    /// Writes what is buffered before exit, for at most `within`; says in
    /// one line what could not be written.
    pub async fn shutdown(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let attempt = tokio::time::timeout_at(deadline, self.flush()).await;
            match attempt {
                Ok(Ok(())) => return,
                Ok(Err(_))
                    if tokio::time::Instant::now() + Duration::from_millis(200) < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ => {
                    let left = self.depth();
                    if left > 0 {
                        tracing::error!(clicks = left, "exiting with clicks not written");
                    }
                    return;
                }
            }
        }
    }
}

/// 16 hex digits of SHA-256(salt, address, User-Agent): equal for one
/// visitor within a day, unlinkable once the day's salt is forgotten.
pub fn visitor_hash(salt: &[u8; 32], address: Option<IpAddr>, user_agent: &[u8]) -> String {
    let mut hasher = sha2::Sha256::new();
    hasher.update(salt);
    match address {
        Some(IpAddr::V4(a)) => hasher.update(a.octets()),
        Some(IpAddr::V6(a)) => hasher.update(a.octets()),
        None => {}
    }
    hasher.update([0]);
    hasher.update(user_agent);
    hex(&hasher.finalize()[..8])
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// A UUID v7 for a click at `at_ms`: the time, then random bits from the
/// thread's fast generator (an id must be unique, not secret: no system
/// call per click).
fn click_id(at_ms: i64) -> String {
    let random: [u8; 10] = fastrand::u128(..).to_le_bytes()[..10]
        .try_into()
        .expect("ten bytes");
    uuid::Builder::from_unix_timestamp_millis(at_ms.max(0) as u64, &random)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short_plain_tokens() {
        for good in ["a", "home-page", "v1.2_x", &"x".repeat(64)] {
            assert!(is_label(good), "{good}");
        }
        for bad in ["", "a b", "ü", "a/b", "<x>", &"x".repeat(65)] {
            assert!(!is_label(bad), "{bad}");
        }
    }

    #[test]
    fn a_visitor_hash_depends_on_salt_address_and_agent_only() {
        let salt = [7u8; 32];
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let a = visitor_hash(&salt, Some(ip), b"Mozilla/5.0");
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, visitor_hash(&salt, Some(ip), b"Mozilla/5.0"));
        assert_ne!(a, visitor_hash(&[8u8; 32], Some(ip), b"Mozilla/5.0"));
        assert_ne!(a, visitor_hash(&salt, Some(ip), b"Mozilla/5.1"));
        assert_ne!(
            a,
            visitor_hash(&salt, Some("203.0.113.10".parse().unwrap()), b"Mozilla/5.0")
        );
    }

    fn visit(ip: &str) -> Visit<'static> {
        Visit {
            partner: Some("acme".into()),
            ref_code: Some("acme-01".into()),
            package_code: "A".into(),
            countries: vec!["DE".into()],
            labels: Default::default(),
            address: ip.parse().ok(),
            user_agent: b"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
            prefetch: false,
        }
    }

    #[tokio::test]
    async fn visitor_hashes_are_equal_within_a_day_and_differ_across_days() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let history =
            Arc::new(History::connect("sqlite::memory:", Duration::from_secs(86_400)).unwrap());
        let now = Arc::new(AtomicU64::new(20_000 * 86_400 + 3_600));
        let clock = {
            let now = now.clone();
            Arc::new(move || UNIX_EPOCH + Duration::from_secs(now.load(Ordering::SeqCst)))
        };
        let settings = ClickSettings {
            retention: Duration::from_secs(400 * 86_400),
            salt_file: None,
            capacity: 10,
        };
        let log = ClickLog::with_clock(history.clone(), settings, ClickMetrics::default(), clock);
        log.agree_salts().await.unwrap();
        log.record(visit("203.0.113.1"));
        now.fetch_add(20 * 3_600, Ordering::SeqCst); // later the same day
        log.record(visit("203.0.113.1"));
        now.fetch_add(1, Ordering::SeqCst);
        log.record(visit("203.0.113.2"));
        now.fetch_add(4 * 3_600, Ordering::SeqCst); // the next UTC day
        log.agree_salts().await.unwrap();
        log.record(visit("203.0.113.1"));
        log.flush().await.unwrap();
        let pool = history.database().await.unwrap();
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT day, visitor FROM clicks ORDER BY at")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            [20_000, 20_000, 20_000, 20_001]
        );
        assert_eq!(rows[0].1, rows[1].1, "the same visitor, the same day");
        assert_ne!(rows[0].1, rows[2].1, "another address");
        assert_ne!(rows[0].1, rows[3].1, "the same visitor the next day");
        // Yesterday's salt is forgotten, in memory and in the database.
        let salts: Vec<(i64,)> = sqlx::query_as("SELECT day FROM click_salts ORDER BY day")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(salts, [(20_001,), (20_002,)]);
    }

    #[tokio::test]
    async fn clicks_older_than_the_retention_are_deleted() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let history =
            Arc::new(History::connect("sqlite::memory:", Duration::from_secs(86_400)).unwrap());
        let now = Arc::new(AtomicU64::new(20_000 * 86_400));
        let clock = {
            let now = now.clone();
            Arc::new(move || UNIX_EPOCH + Duration::from_secs(now.load(Ordering::SeqCst)))
        };
        let settings = ClickSettings {
            retention: Duration::from_secs(10 * 86_400),
            salt_file: None,
            capacity: 10,
        };
        let log = ClickLog::with_clock(history.clone(), settings, ClickMetrics::default(), clock);
        log.record(visit("203.0.113.1"));
        now.fetch_add(5 * 86_400, Ordering::SeqCst);
        log.record(visit("203.0.113.1"));
        log.flush().await.unwrap();
        let count = |table: &'static str| {
            let history = history.clone();
            async move {
                let pool = history.database().await.unwrap();
                let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                n
            }
        };
        assert_eq!(log.purge().await.unwrap(), 0, "both within 10 days");
        // Eleven days after the first click: it goes, with its country row.
        now.fetch_add(6 * 86_400, Ordering::SeqCst);
        assert_eq!(log.purge().await.unwrap(), 1);
        assert_eq!(
            (count("clicks").await, count("click_countries").await),
            (1, 1)
        );
    }

    #[tokio::test]
    async fn a_full_buffer_drops_and_counts() {
        let history =
            Arc::new(History::connect("sqlite::memory:", Duration::from_secs(86_400)).unwrap());
        let settings = ClickSettings {
            retention: Duration::from_secs(86_400),
            salt_file: None,
            capacity: 2,
        };
        let log = ClickLog::new(history, settings, ClickMetrics::default());
        let outcomes: Vec<Outcome> = (0..3).map(|_| log.record(visit("203.0.113.1"))).collect();
        assert_eq!(
            outcomes,
            [Outcome::Recorded, Outcome::Recorded, Outcome::Dropped]
        );
        assert_eq!(log.depth(), 2);
        log.flush().await.unwrap();
        assert_eq!(log.depth(), 0);
        assert_eq!(log.record(visit("203.0.113.1")), Outcome::Recorded);
    }

    #[test]
    fn click_ids_are_time_ordered_uuid_v7() {
        let id = click_id(1_764_720_000_000);
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_ne!(id, click_id(1_764_720_000_000));
        assert!(click_id(1_764_720_000_001) > id);
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }

    #[test]
    fn days_count_from_the_epoch_in_utc() {
        assert_eq!(day_of_ms(0), 0);
        assert_eq!(day_of_ms(DAY_MS - 1), 0);
        assert_eq!(day_of_ms(DAY_MS), 1);
        assert_eq!(day_of_ms(-1), -1);
    }
}
