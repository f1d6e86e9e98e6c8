//! Catalog versions, the change feed and price history (SPEC section 8), in
//! SQLite (the embedded default) or PostgreSQL (shared by replicas).
//!
//! One implementation serves both backends through sqlx's `Any` driver: the
//! SQL is the common subset (numbered `$n` parameters, `ON CONFLICT`, tuple
//! comparison), and the schema (`migrations/{sqlite,postgres}`, applied by
//! `sqlx::migrate!`) differs only in PostgreSQL's byte-order collation for
//! packageCodes and SQLite's `WITHOUT ROWID` click tables. Storing a catalog is one
//! transaction, serialised across replicas (an advisory lock on PostgreSQL,
//! the write lock on SQLite) and guarded by the version primary key: the first
//! writer of a content makes its version, later writers of the same content
//! adopt it.
//!
//! The request path for catalog routes never touches this module; the sync
//! records a new catalog after building it and, when the database is down,
//! serves it anyway and retries in the background ([`Recorder`]).

//!
//! * here: the schema, the connection, the errors and the reads (`/changes`,
//!   price history);
//! * `write`: storing a catalog (its plan set, the diff, the version);
//! * `recorder`: when and how the sync's catalogs get recorded.

mod recorder;
mod write;

use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, OnceCell};

pub use recorder::Recorder;
pub use write::PlanSet;

/// The upstream fields of a plan, in the order `fields` lists them.
pub const PLAN_FIELDS: [&str; 10] = [
    "name",
    "packageCode",
    "productUrl",
    "dataAmount",
    "duration",
    "locationCodes",
    "locationNames",
    "operator",
    "speed",
    "retailPrice",
];

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt")]
    Corrupt(#[source] serde_json::Error),
    #[error("a history task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("the schema could not be applied")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// `DATABASE_URL` was refused. sqlx's own text may quote the URL and its
    /// password, and this reaches stderr before logging starts, so it is
    /// reduced to a summary ([`scrub_error`]).
    #[error("{0}")]
    Connect(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Which database `DATABASE_URL` names; the URL itself is a secret (it may
/// carry a password) and is never printed.
pub fn validate_url(url: &str) -> Result<(), String> {
    backend(url).map(|_| ())
}

fn backend(url: &str) -> Result<Backend, String> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err("must start with sqlite: or postgres://".into())
    }
}

/// The schema, one folder per dialect (PostgreSQL compares packageCodes
/// bytewise with `COLLATE "C"`; SQLite keeps click tables `WITHOUT ROWID`),
/// embedded and applied at first use by sqlx's migrator, which records what
/// it applied in `_sqlx_migrations` and, on PostgreSQL, holds an advisory
/// lock so replicas starting together apply each file once. Every file is
/// also idempotent (`IF NOT EXISTS`), so a database made before the
/// migrator took over (without `_sqlx_migrations`) is adopted as it is.
static SQLITE_SCHEMA: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_SCHEMA: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// `($1, $2), ($3, $4)`: `count` tuples of `width` placeholders. Numbered
/// after `skip` (`$n` works on both backends; sqlx's query builder writes `?`
/// for the Any driver, which PostgreSQL rejects), or anonymous (`?`, SQLite
/// only) where a statement has thousands of parameters: sqlx binds numbered
/// ones by name, and SQLite finds a name by scanning every one, so a large
/// insert with numbered placeholders costs time quadratic in its size.
pub(crate) fn placeholders(count: usize, width: usize, skip: usize, numbered: bool) -> String {
    let mut out = String::with_capacity(count * width * 5);
    for r in 0..count {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..width {
            if c > 0 {
                out.push_str(", ");
            }
            if numbered {
                out.push('$');
                out.push_str(&(skip + r * width + c + 1).to_string());
            } else {
                out.push('?');
            }
        }
        out.push(')');
    }
    out
}

/// What happened to a plan in a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Updated,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Updated => "updated",
        }
    }

    /// The stored form; `None` for anything this service never writes.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Added, Self::Removed, Self::Updated]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// One entry of `/changes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub version: u64,
    pub at: SystemTime,
    pub package_code: String,
    pub kind: ChangeKind,
    pub fields: Vec<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A page of changes and whether more follow.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangesPage {
    pub changes: Vec<Change>,
    pub more: bool,
}

/// One price a plan had, `to` `None` while in force.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceInterval {
    pub price: f64,
    pub from: SystemTime,
    pub to: Option<SystemTime>,
}

/// A pool and whether the schema exists in the database it reaches.
struct Conn {
    pool: AnyPool,
    schema: OnceCell<()>,
    /// The SQLite file's identity once it exists (device and inode).
    file_id: std::sync::OnceLock<(u64, u64)>,
}

impl Conn {
    fn new(pool: AnyPool) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            pool,
            schema: OnceCell::new(),
            file_id: std::sync::OnceLock::new(),
        })
    }
}

/// The file a `sqlite:` URL names; `None` for memory databases and
/// PostgreSQL.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite:")
        .filter(|p| !p.contains(":memory:") && !p.contains("mode=memory"))?;
    let path = path.trim_start_matches("//");
    Some(path.split('?').next().unwrap_or(path).into())
}

/// Which file is at `path` now (device and inode), if any.
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

pub struct History {
    /// Swapped for a fresh pool when the SQLite file was deleted or replaced
    /// under the process (connections to the old file fail forever with
    /// SQLITE_READONLY_DBMOVED).
    conn: arc_swap::ArcSwap<Conn>,
    /// `DATABASE_URL` as connected (a secret: never printed).
    url: String,
    /// The SQLite file, watched for deletion or replacement.
    file: Option<std::path::PathBuf>,
    backend: Backend,
    /// The highest version number this process has shown (recorded, adopted
    /// or restored from the snapshot): a new version is numbered above it,
    /// so a database that starts empty (`sqlite::memory:`, a deleted file)
    /// never numbers below what clients have seen.
    seen: AtomicU64,
    retention: Duration,
    /// One writer per process; across processes the transaction serialises.
    write: Mutex<()>,
    /// The newest sync generation recorded: a retry of an older catalog never
    /// lands after a newer one.
    recorded_generation: AtomicU64,
    /// The webhook endpoints a new version makes messages for, and
    /// `PUBLIC_URL` for their links (set once by the application).
    webhooks: std::sync::OnceLock<(crate::webhooks::deliver::Endpoints, Option<String>)>,
    /// Whether each new version also stores its catalog for followers
    /// (SPEC section 13), set once by the application in a fleet.
    store_catalogs: std::sync::atomic::AtomicBool,
}

/// Milliseconds since the epoch, as every table stores time.
pub(crate) fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl History {
    /// A lazily connecting pool: a database that is down at start-up does
    /// not stop the service; the first use connects and creates the schema.
    pub fn connect(url: &str, retention: Duration) -> Result<Self, HistoryError> {
        install_default_drivers();
        let backend = backend(url).map_err(HistoryError::Connect)?;
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        // Each SQLite in-memory connection is its own database: use one.
        let url = match backend {
            Backend::Sqlite if !memory && !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
            }
            _ => url.to_owned(),
        };
        let pool = Self::pool(&url, memory)?;
        Ok(Self {
            conn: arc_swap::ArcSwap::new(Conn::new(pool)),
            file: sqlite_file(&url),
            url,
            backend,
            seen: AtomicU64::new(0),
            retention,
            write: Mutex::new(()),
            recorded_generation: AtomicU64::new(0),
            webhooks: std::sync::OnceLock::new(),
            store_catalogs: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn pool(url: &str, memory: bool) -> Result<AnyPool, HistoryError> {
        AnyPoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(300))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(url)
            .map_err(|e| HistoryError::Connect(scrub_error(&e)))
    }

    /// The pool to use: a fresh one when the SQLite file it opened is no
    /// longer the one at its path (deleted, moved or replaced), which then
    /// creates the file and its schema again. One `stat` per call.
    fn current(&self) -> std::sync::Arc<Conn> {
        let conn = self.conn.load_full();
        let (Some(file), Some(known)) = (&self.file, conn.file_id.get()) else {
            return conn;
        };
        if file_id(file).as_ref() == Some(known) {
            return conn;
        }
        let Ok(pool) = Self::pool(&self.url, false) else {
            return conn;
        };
        let fresh = Conn::new(pool);
        let previous = self.conn.compare_and_swap(&conn, fresh.clone());
        if !std::sync::Arc::ptr_eq(&previous, &conn) {
            // Another caller reopened it first.
            return std::sync::Arc::clone(&previous);
        }
        tracing::warn!("the SQLite history file was deleted or replaced; reopening it");
        tokio::spawn(async move { conn.pool.close().await });
        fresh
    }

    /// New versions make webhook messages for `endpoints` (in their own
    /// transaction), linking under `public_url`.
    pub fn send_webhooks_to(
        &self,
        endpoints: crate::webhooks::deliver::Endpoints,
        public_url: Option<String>,
    ) {
        let _ = self.webhooks.set((endpoints, public_url));
    }

    /// New versions also store their catalog (the fleet's leader).
    pub fn store_catalogs(&self) {
        self.store_catalogs
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether new versions store their catalog.
    pub fn stores_catalogs(&self) -> bool {
        self.store_catalogs
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `version` was shown to clients (a restored snapshot's): new versions
    /// are numbered above it.
    pub fn note_seen(&self, version: u64) {
        self.seen
            .fetch_max(version, std::sync::atomic::Ordering::Relaxed);
    }

    /// At start-up: whether the database accepts the login. A refused
    /// password or a database that does not exist is a configuration error;
    /// anything else (unreachable, slow) is left to the lazy pool, which
    /// retries.
    pub async fn check_login(&self) -> Result<(), String> {
        let attempt = tokio::time::timeout(Duration::from_secs(5), self.ready()).await;
        match attempt {
            Ok(Err(HistoryError::Database(sqlx::Error::Database(e))))
                if e.code()
                    .is_some_and(|c| ["28P01", "28000", "3D000"].contains(&c.as_ref())) =>
            {
                Err(e.message().to_owned())
            }
            _ => Ok(()),
        }
    }

    async fn ready(&self) -> Result<std::sync::Arc<Conn>, HistoryError> {
        let conn = self.current();
        conn.schema
            .get_or_try_init(|| async {
                let schema = match self.backend {
                    Backend::Sqlite => &SQLITE_SCHEMA,
                    Backend::Postgres => &POSTGRES_SCHEMA,
                };
                // A database error while applying (a refused login, a
                // server that is down) is a database error like any other.
                schema.run(&conn.pool).await.map_err(|e| match e {
                    sqlx::migrate::MigrateError::Execute(e)
                    | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => {
                        HistoryError::Database(e)
                    }
                    other => HistoryError::Migrate(other),
                })?;
                Ok::<(), HistoryError>(())
            })
            .await?;
        if let Some(file) = &self.file {
            if conn.file_id.get().is_none() {
                if let Some(id) = file_id(file) {
                    let _ = conn.file_id.set(id);
                }
            }
        }
        Ok(conn)
    }

    /// The pool, once the schema exists (for the other tables of the
    /// database: clicks).
    pub async fn database(&self) -> Result<AnyPool, HistoryError> {
        Ok(self.ready().await?.pool.clone())
    }

    /// Whether `DATABASE_URL` is PostgreSQL (shared by replicas).
    pub fn is_postgres(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// Keeps the last good exchange rates (`stored` is their JSON), unless
    /// the database holds rates of a later day.
    pub async fn store_rates(&self, date: &str, stored: &str) -> Result<(), HistoryError> {
        let conn = self.ready().await?;
        sqlx::query(
            "INSERT INTO exchange_rates (id, rate_date, rates, fetched_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET rate_date = excluded.rate_date, rates = excluded.rates, \
             fetched_at = excluded.fetched_at WHERE exchange_rates.rate_date <= excluded.rate_date",
        )
        .bind(date)
        .bind(stored)
        .bind(millis(SystemTime::now()))
        .execute(&conn.pool)
        .await?;
        Ok(())
    }

    /// The exchange rates kept by [`store_rates`](Self::store_rates), as JSON.
    pub async fn load_rates(&self) -> Result<Option<String>, HistoryError> {
        let conn = self.ready().await?;
        let row = sqlx::query("SELECT rates FROM exchange_rates WHERE id = 1")
            .fetch_optional(&conn.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// The oldest version kept and whether it is a baseline (a version
    /// without changes: the first of its database), in one query; `None`
    /// when the database holds no version.
    pub async fn oldest_kept(&self) -> Result<Option<(u64, bool)>, HistoryError> {
        let conn = self.ready().await?;
        let row = sqlx::query(
            "SELECT v.version, \
             (SELECT CAST(1 AS BIGINT) FROM plan_changes c WHERE c.version = v.version LIMIT 1) \
             FROM catalog_versions v ORDER BY v.version LIMIT 1",
        )
        .fetch_optional(&conn.pool)
        .await?;
        row.map(|row| {
            let oldest = row.try_get::<i64, _>(0)? as u64;
            let has_changes = row.try_get::<Option<i64>, _>(1)?.is_some();
            Ok((oldest, !has_changes))
        })
        .transpose()
    }

    /// Changes of versions `since+1 ..= upto`, after `(version, packageCode)`
    /// when paging, at most `limit`.
    pub async fn changes(
        &self,
        since: u64,
        upto: u64,
        after: Option<(u64, &str)>,
        limit: usize,
    ) -> Result<ChangesPage, HistoryError> {
        let conn = self.ready().await?;
        let (after_version, after_code) = after.unwrap_or((since, ""));
        let rows = sqlx::query(
            "SELECT c.version, v.created_at, c.package_code, c.kind, c.fields, c.before_plan, c.after_plan \
             FROM plan_changes c JOIN catalog_versions v ON v.version = c.version \
             WHERE c.version > $1 AND c.version <= $2 \
               AND (c.version > $3 OR (c.version = $3 AND c.package_code > $4)) \
             ORDER BY c.version, c.package_code LIMIT $5",
        )
        .bind(since as i64)
        .bind(upto as i64)
        .bind(after_version as i64)
        .bind(after_code)
        .bind(limit as i64 + 1)
        .fetch_all(&conn.pool)
        .await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            changes.push(change_from_row(&row)?);
        }
        let more = changes.len() > limit;
        changes.truncate(limit);
        Ok(ChangesPage { changes, more })
    }

    /// Every change of versions `since+1 ..= upto`, streamed row by row into
    /// `each` (memory stays flat however many changes a version has).
    pub async fn scan_changes(
        &self,
        since: u64,
        upto: u64,
        mut each: impl FnMut(Change),
    ) -> Result<(), HistoryError> {
        use futures_util::TryStreamExt;
        let conn = self.ready().await?;
        let mut rows = sqlx::query(
            "SELECT c.version, v.created_at, c.package_code, c.kind, c.fields, c.before_plan, c.after_plan \
             FROM plan_changes c JOIN catalog_versions v ON v.version = c.version \
             WHERE c.version > $1 AND c.version <= $2 ORDER BY c.version, c.package_code",
        )
        .bind(since as i64)
        .bind(upto as i64)
        .fetch(&conn.pool);
        while let Some(row) = rows.try_next().await? {
            each(change_from_row(&row)?);
        }
        Ok(())
    }

    /// The newest `limit` versions and their times, newest first.
    pub async fn recent_versions(
        &self,
        limit: usize,
    ) -> Result<Vec<(u64, SystemTime)>, HistoryError> {
        let conn = self.ready().await?;
        let rows = sqlx::query(
            "SELECT version, created_at FROM catalog_versions ORDER BY version DESC LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&conn.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok((
                    row.try_get::<i64, _>(0)? as u64,
                    from_millis(row.try_get(1)?),
                ))
            })
            .collect()
    }

    /// Every price `code` had, oldest first (empty for a code never seen).
    pub async fn prices(&self, code: &str) -> Result<Vec<PriceInterval>, HistoryError> {
        let conn = self.ready().await?;
        let rows = sqlx::query(
            "SELECT price, valid_from, valid_to FROM plan_prices WHERE package_code = $1 ORDER BY valid_from",
        )
        .bind(code)
        .fetch_all(&conn.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(PriceInterval {
                    price: row.try_get(0)?,
                    from: from_millis(row.try_get(1)?),
                    to: row.try_get::<Option<i64>, _>(2)?.map(from_millis),
                })
            })
            .collect()
    }
}

/// A `plan_changes` row joined with its version's time, in the column order
/// `changes` and `scan_changes` select.
fn change_from_row(row: &sqlx::any::AnyRow) -> Result<Change, HistoryError> {
    let fields: String = row.try_get(4)?;
    Ok(Change {
        version: row.try_get::<i64, _>(0)? as u64,
        at: from_millis(row.try_get(1)?),
        package_code: row.try_get(2)?,
        kind: ChangeKind::parse(&row.try_get::<String, _>(3)?).ok_or_else(|| {
            HistoryError::Corrupt(serde::de::Error::custom("unknown change kind"))
        })?,
        fields: serde_json::from_str(&fields).map_err(HistoryError::Corrupt)?,
        before: row.try_get(5)?,
        after: row.try_get(6)?,
    })
}

/// Whether every change after version `since` is kept, given the oldest
/// version kept ([`History::oldest_kept`]): the version after `since` must be
/// kept with its changes, or, when the oldest is a baseline, `since` itself
/// must be kept (`since = 0` with a baseline at 1 is whole: the first
/// catalog has no changes by definition). Nothing kept is nothing whole.
pub fn changes_kept_after(since: u64, oldest: Option<(u64, bool)>) -> bool {
    match oldest {
        None => false,
        Some((oldest, true)) => since >= oldest || (since == 0 && oldest == 1),
        Some((oldest, false)) => since + 1 >= oldest,
    }
}

/// The lowest price in force at any moment of the 30 days before `now`.
pub fn lowest_price_30d(prices: &[PriceInterval], now: SystemTime) -> Option<f64> {
    let window_start = now
        .checked_sub(Duration::from_secs(30 * 86_400))
        .unwrap_or(UNIX_EPOCH);
    prices
        .iter()
        .filter(|p| p.from <= now && p.to.is_none_or(|to| to > window_start))
        .map(|p| p.price)
        .reduce(f64::min)
}

/// A database error for logs: sqlx's messages can carry the connection URL
/// (with its password) on connection failures; keep only the kind.
pub fn scrub_error(error: &sqlx::Error) -> String {
    match error {
        // The database's own message (e.g. "password authentication failed
        // for user cmg", "attempt to write a readonly database") names no
        // URL; the log writer scrubs the password from every line anyway.
        sqlx::Error::Database(e) => format!(
            "database error {}: {}",
            e.code().unwrap_or_default(),
            e.message()
        ),
        sqlx::Error::Io(e) => format!("i/o error: {e}"),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".into(),
        sqlx::Error::Configuration(_) => "invalid database configuration".into(),
        sqlx::Error::Tls(_) => "TLS error".into(),
        sqlx::Error::Protocol(_) => "database protocol error".into(),
        _ => "database error".into(),
    }
}

/// The cause chain of a history error for the log, with sqlx's own text
/// (which may quote the URL or SQL with values) reduced to a summary.
pub fn describe(error: &HistoryError) -> String {
    match error {
        HistoryError::Database(e) => scrub_error(e),
        other => crate::telemetry::cause_chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + days * 86_400)
    }

    /// A database whose tables were made before the migrator took over
    /// (no `_sqlx_migrations`) keeps its data: every file is idempotent.
    #[tokio::test]
    async fn a_database_made_before_the_migrator_is_adopted() {
        install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("old.db").display());
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        for migration in SQLITE_SCHEMA.iter() {
            sqlx::raw_sql(&migration.sql).execute(&pool).await.unwrap();
        }
        sqlx::query(
            "INSERT INTO catalog_versions (version, content_hash, created_at) VALUES (7, 'x', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let history = History::connect(&url, Duration::from_secs(86_400)).unwrap();
        assert_eq!(history.oldest_kept().await.unwrap(), Some((7, true)));
        // Applied once: a second start finds them recorded.
        let again = History::connect(&url, Duration::from_secs(86_400)).unwrap();
        assert_eq!(again.oldest_kept().await.unwrap(), Some((7, true)));
    }

    #[test]
    fn both_dialects_have_the_same_migrations() {
        let names = |m: &sqlx::migrate::Migrator| -> Vec<(i64, String)> {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect()
        };
        assert_eq!(names(&SQLITE_SCHEMA), names(&POSTGRES_SCHEMA));
        assert_eq!(SQLITE_SCHEMA.iter().count(), 5);
    }

    #[test]
    fn changes_after_a_version_are_whole_only_from_what_is_kept() {
        // Retention removed versions 1-4; version 5 keeps its changes.
        assert!(changes_kept_after(4, Some((5, false))));
        assert!(!changes_kept_after(3, Some((5, false))));
        // A baseline (the first version of a database that lost its history).
        assert!(changes_kept_after(5, Some((5, true))));
        assert!(!changes_kept_after(4, Some((5, true))));
        // The first catalog ever: since=0 never lists it, and is whole.
        assert!(changes_kept_after(0, Some((1, true))));
        assert!(!changes_kept_after(0, None));
    }

    #[test]
    fn a_sqlite_url_names_its_file() {
        assert_eq!(
            sqlite_file("sqlite:/var/lib/x/history.db?mode=rwc"),
            Some("/var/lib/x/history.db".into())
        );
        assert_eq!(sqlite_file("sqlite://rel.db"), Some("rel.db".into()));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn lowest_price_covers_every_interval_in_force_during_the_window() {
        let interval = |price, from, to: Option<u64>| PriceInterval {
            price,
            from: at(from),
            to: to.map(at),
        };
        // 10 until day 50, then a cut to 8 until day 75, then a rise to 12.
        let prices = [
            interval(10.0, 0, Some(50)),
            interval(8.0, 50, Some(75)),
            interval(12.0, 75, None),
        ];
        assert_eq!(
            lowest_price_30d(&prices, at(76)),
            Some(8.0),
            "the cut is inside"
        );
        assert_eq!(
            lowest_price_30d(&prices, at(104)),
            Some(8.0),
            "29 days after the cut ended"
        );
        assert_eq!(
            lowest_price_30d(&prices, at(106)),
            Some(12.0),
            "the cut left the window"
        );
        assert_eq!(lowest_price_30d(&prices, at(60)), Some(8.0));
        // A price from day 50 seen at day 79: the 10 ended 29 days ago.
        assert_eq!(lowest_price_30d(&prices[..2], at(79)), Some(8.0));
        assert_eq!(lowest_price_30d(&[], at(1)), None);
    }

    #[test]
    fn urls_name_their_backend() {
        assert!(validate_url("sqlite::memory:").is_ok());
        assert!(validate_url("sqlite:/tmp/x.db").is_ok());
        assert!(validate_url("postgres://u:p@h/db").is_ok());
        assert!(validate_url("mysql://x").is_err());
    }
}
