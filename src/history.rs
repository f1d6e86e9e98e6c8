//! Catalog versions, the change feed and price history (SPEC section 8), in
//! SQLite (the embedded default) or PostgreSQL (shared by replicas).
//!
//! One implementation serves both backends through sqlx's `Any` driver: the
//! SQL is the common subset (numbered `$n` parameters, `ON CONFLICT`, tuple
//! comparison), and the schema (`migrations/`) differs only in PostgreSQL's
//! byte-order collation for packageCodes, added when it is applied. Storing a catalog is one
//! transaction, serialised across replicas (an advisory lock on PostgreSQL,
//! the write lock on SQLite) and guarded by the version primary key: the first
//! writer of a content makes its version, later writers of the same content
//! adopt it.
//!
//! The request path for catalog routes never touches this module; the sync
//! records a new catalog after building it and, when the database is down,
//! serves it anyway and retries in the background ([`Recorder`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, OnceCell, watch};

use crate::catalog::Catalog;

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

/// A plan set as stored: packageCode -> upstream JSON (no ref).
pub struct PlanSet {
    plans: BTreeMap<String, PlanEntry>,
    hash: u64,
}

/// One plan as stored, with its price (so added plans need no JSON parse).
struct PlanEntry {
    json: String,
    price: f64,
}

impl PlanSet {
    pub fn of(catalog: &Catalog) -> Self {
        let mut plans = BTreeMap::new();
        for i in 0..catalog.len() as u32 {
            let mut json = Vec::with_capacity(400);
            catalog.write_plan(&mut json, i, None, true);
            plans.insert(
                catalog.package_code(i).to_owned(),
                PlanEntry {
                    json: String::from_utf8(json).expect("rendered JSON is UTF-8"),
                    price: catalog.retail_price(i),
                },
            );
        }
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for (code, PlanEntry { json, .. }) in &plans {
            hasher.update(code.as_bytes());
            hasher.update(&[0]);
            hasher.update(json.as_bytes());
            hasher.update(&[0]);
        }
        Self {
            hash: hasher.digest(),
            plans,
        }
    }
}

/// One entry of `/changes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub version: u64,
    pub at: SystemTime,
    pub package_code: String,
    pub kind: String,
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

pub struct History {
    pool: AnyPool,
    backend: Backend,
    retention: Duration,
    schema: OnceCell<()>,
    /// One writer per process; across processes the transaction serialises.
    write: Mutex<()>,
    /// The newest sync generation recorded: a retry of an older catalog never
    /// lands after a newer one.
    recorded_generation: AtomicU64,
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn from_millis(ms: i64) -> SystemTime {
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
        let pool = AnyPoolOptions::new()
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
            .connect_lazy(&url)
            .map_err(|e| HistoryError::Connect(scrub_error(&e)))?;
        Ok(Self {
            pool,
            backend,
            retention,
            schema: OnceCell::new(),
            write: Mutex::new(()),
            recorded_generation: AtomicU64::new(0),
        })
    }

    async fn ready(&self) -> Result<(), HistoryError> {
        self.schema
            .get_or_try_init(|| async {
                let schema = include_str!("../migrations/0001_history.sql");
                // PostgreSQL compares text by the database's locale unless
                // told otherwise; packageCodes are ordered bytewise everywhere.
                let sql = match self.backend {
                    Backend::Sqlite => schema.to_owned(),
                    Backend::Postgres => {
                        schema.replace("package_code TEXT", "package_code TEXT COLLATE \"C\"")
                    }
                };
                let mut tx = self.pool.begin().await?;
                if self.backend == Backend::Postgres {
                    // Replicas starting together would race on CREATE TABLE.
                    sqlx::query("SELECT pg_advisory_xact_lock(7355608)")
                        .execute(&mut *tx)
                        .await?;
                }
                for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    let statement: String = statement
                        .lines()
                        .filter(|l| !l.trim_start().starts_with("--"))
                        .collect::<Vec<_>>()
                        .join("\n");
                    if !statement.trim().is_empty() {
                        sqlx::query(&statement).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok::<(), HistoryError>(())
            })
            .await
            .map(|_| ())
    }

    /// Stores `plans` as of `at` and returns its version number: the latest
    /// version when it has the same content, else a new one with its
    /// changes and price intervals. `generation` orders this process's calls:
    /// an older one arriving late returns `None` without writing.
    pub async fn record(
        &self,
        plans: &Arc<PlanSet>,
        at: SystemTime,
        generation: u64,
    ) -> Result<Option<u64>, HistoryError> {
        self.ready().await?;
        let _writer = self.write.lock().await;
        if generation < self.recorded_generation.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut attempt = 0;
        let version = loop {
            match self.try_record(plans, at).await {
                Ok(v) => break v,
                // Another replica took the version number first: adopt or
                // build on what it stored.
                Err(HistoryError::Database(sqlx::Error::Database(e)))
                    if attempt < 3 && e.is_unique_violation() =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        self.recorded_generation
            .fetch_max(generation, Ordering::Relaxed);
        Ok(Some(version))
    }

    async fn try_record(&self, plans: &Arc<PlanSet>, at: SystemTime) -> Result<u64, HistoryError> {
        let now = millis(at);
        let hash = format!("{:016x}", plans.hash);
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7355609)")
                .execute(&mut *tx)
                .await?;
        }
        let latest = sqlx::query(
            "SELECT version, content_hash FROM catalog_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let latest = latest
            .map(|row| {
                Ok::<_, sqlx::Error>((row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?))
            })
            .transpose()?;
        if let Some((version, stored)) = &latest {
            if *stored == hash {
                tx.commit().await?;
                return Ok(*version as u64);
            }
        }
        let version = latest.as_ref().map_or(1, |(v, _)| v + 1);
        sqlx::query(
            "INSERT INTO catalog_versions (version, content_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;

        let stored = sqlx::query("SELECT package_code, plan FROM current_plans")
            .fetch_all(&mut *tx)
            .await?;
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        for row in stored {
            previous.insert(row.try_get(0)?, row.try_get(1)?);
        }
        // Diffing 100k plans is CPU work: not on a request worker.
        let first = latest.is_none();
        let next = plans.clone();
        let diff =
            tokio::task::spawn_blocking(move || Diff::between(&previous, &next.plans, first))
                .await??;

        for chunk in diff.changes.chunks(100) {
            let sql = format!(
                "INSERT INTO plan_changes (version, package_code, kind, fields, before_plan, after_plan) VALUES {}",
                rows(chunk.len(), 6, 0)
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = q
                    .bind(version)
                    .bind(c.code.clone())
                    .bind(c.kind)
                    .bind(serde_json::to_string(&c.fields).expect("strings serialise"))
                    .bind(c.before.clone())
                    .bind(c.after.clone());
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in diff.upserts.chunks(500) {
            let sql = format!(
                "INSERT INTO current_plans (package_code, plan) VALUES {} \
                 ON CONFLICT (package_code) DO UPDATE SET plan = excluded.plan",
                rows(chunk.len(), 2, 0)
            );
            let mut q = sqlx::query(&sql);
            for (code, plan) in chunk {
                q = q.bind(code.clone()).bind(plan.clone());
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in diff.removed.chunks(500) {
            let sql = format!(
                "DELETE FROM current_plans WHERE package_code IN {}",
                rows(1, chunk.len(), 0)
            );
            let mut q = sqlx::query(&sql);
            for code in chunk {
                q = q.bind(code.clone());
            }
            q.execute(&mut *tx).await?;
        }
        // A plan whose price changed, or that was removed, closes its open interval.
        for chunk in diff.closed_prices.chunks(500) {
            let sql = format!(
                "UPDATE plan_prices SET valid_to = $1 WHERE valid_to IS NULL AND package_code IN {}",
                rows(1, chunk.len(), 1)
            );
            let mut q = sqlx::query(&sql).bind(now);
            for code in chunk {
                q = q.bind(code.clone());
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in diff.new_prices.chunks(300) {
            let sql = format!(
                "INSERT INTO plan_prices (package_code, price, valid_from, valid_to) VALUES {} \
                 ON CONFLICT (package_code, valid_from) DO UPDATE SET price = excluded.price, valid_to = NULL",
                rows(chunk.len(), 3, 0).replace(')', ", NULL)")
            );
            let mut q = sqlx::query(&sql);
            for (code, price) in chunk {
                q = q.bind(code.clone()).bind(*price).bind(now);
            }
            q.execute(&mut *tx).await?;
        }

        // Retention: versions, their changes and closed prices older than it.
        let cutoff = millis(at.checked_sub(self.retention).unwrap_or(UNIX_EPOCH));
        sqlx::query(
            "DELETE FROM plan_changes WHERE version IN \
             (SELECT version FROM catalog_versions WHERE created_at < $1 AND version < $2)",
        )
        .bind(cutoff)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM catalog_versions WHERE created_at < $1 AND version < $2")
            .bind(cutoff)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM plan_prices WHERE valid_to IS NOT NULL AND valid_to < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(version as u64)
    }

    /// The oldest version whose changes are still kept (0 when none is stored).
    pub async fn oldest_version(&self) -> Result<u64, HistoryError> {
        self.ready().await?;
        let row = sqlx::query("SELECT MIN(version) FROM catalog_versions")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0) as u64)
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
        self.ready().await?;
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
        .fetch_all(&self.pool)
        .await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let fields: String = row.try_get(4)?;
            changes.push(Change {
                version: row.try_get::<i64, _>(0)? as u64,
                at: from_millis(row.try_get(1)?),
                package_code: row.try_get(2)?,
                kind: row.try_get(3)?,
                fields: serde_json::from_str(&fields).map_err(HistoryError::Corrupt)?,
                before: row.try_get(5)?,
                after: row.try_get(6)?,
            });
        }
        let more = changes.len() > limit;
        changes.truncate(limit);
        Ok(ChangesPage { changes, more })
    }

    /// Every price `code` had, oldest first (empty for a code never seen).
    pub async fn prices(&self, code: &str) -> Result<Vec<PriceInterval>, HistoryError> {
        self.ready().await?;
        let rows = sqlx::query(
            "SELECT price, valid_from, valid_to FROM plan_prices WHERE package_code = $1 ORDER BY valid_from",
        )
        .bind(code)
        .fetch_all(&self.pool)
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

/// `($1, $2), ($3, $4)`: `count` tuples of `width` numbered placeholders,
/// numbered after `skip` (numbered `$n` work on both backends; sqlx's query
/// builder writes `?` for the Any driver, which PostgreSQL rejects).
fn rows(count: usize, width: usize, skip: usize) -> String {
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
            out.push('$');
            out.push_str(&(skip + r * width + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// One change row to store.
struct ChangeRow {
    code: String,
    kind: &'static str,
    fields: Vec<&'static str>,
    before: Option<String>,
    after: Option<String>,
}

/// What storing a new plan set writes, computed in memory first so the
/// writes go out in a few multi-row statements.
struct Diff {
    changes: Vec<ChangeRow>,
    upserts: Vec<(String, String)>,
    removed: Vec<String>,
    closed_prices: Vec<String>,
    new_prices: Vec<(String, f64)>,
}

impl Diff {
    /// `first`: the first version ever stored has no change rows.
    fn between(
        previous: &BTreeMap<String, String>,
        next: &BTreeMap<String, PlanEntry>,
        first: bool,
    ) -> Result<Self, HistoryError> {
        let mut diff = Diff {
            changes: Vec::new(),
            upserts: Vec::new(),
            removed: Vec::new(),
            closed_prices: Vec::new(),
            new_prices: Vec::new(),
        };
        for (code, PlanEntry { json: after, price }) in next {
            let before = previous.get(code);
            if before == Some(after) {
                continue;
            }
            let new_price = crate::numbers::clean(*price);
            let (kind, fields, old_price) = match before {
                None => ("added", Vec::new(), None),
                Some(b) => {
                    let (b, a) = (parse(b)?, parse(after)?);
                    ("updated", differing_fields(&b, &a), Some(price_of(&b)))
                }
            };
            if !first {
                diff.changes.push(ChangeRow {
                    code: code.clone(),
                    kind,
                    fields,
                    before: before.cloned(),
                    after: Some(after.clone()),
                });
            }
            diff.upserts.push((code.clone(), after.clone()));
            if old_price != Some(new_price) {
                if old_price.is_some() {
                    diff.closed_prices.push(code.clone());
                }
                diff.new_prices.push((code.clone(), new_price));
            }
        }
        for (code, before) in previous {
            if next.contains_key(code) {
                continue;
            }
            diff.changes.push(ChangeRow {
                code: code.clone(),
                kind: "removed",
                fields: Vec::new(),
                before: Some(before.clone()),
                after: None,
            });
            diff.removed.push(code.clone());
            diff.closed_prices.push(code.clone());
        }
        // Changes go out by packageCode within the version.
        diff.changes.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(diff)
    }
}

fn parse(json: &str) -> Result<Value, HistoryError> {
    serde_json::from_str(json).map_err(HistoryError::Corrupt)
}

fn price_of(plan: &Value) -> f64 {
    plan["retailPrice"].as_f64().unwrap_or(0.0)
}

fn differing_fields(before: &Value, after: &Value) -> Vec<&'static str> {
    PLAN_FIELDS
        .into_iter()
        .filter(|f| before.get(f) != after.get(f))
        .collect()
}

/// A database error for logs: sqlx's messages can carry the connection URL
/// (with its password) on connection failures; keep only the kind.
pub fn scrub_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(e) => format!("database error {}", e.code().unwrap_or_default()),
        sqlx::Error::Io(e) => format!("i/o error: {}", e.kind()),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".into(),
        sqlx::Error::Configuration(_) => "invalid database configuration".into(),
        sqlx::Error::Tls(_) => "TLS error".into(),
        sqlx::Error::Protocol(_) => "database protocol error".into(),
        _ => "database error".into(),
    }
}

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
    /// The content hash of a write still in progress: back-to-back syncs of
    /// the same feed do not start another.
    in_flight: Arc<std::sync::Mutex<Option<u64>>>,
}

impl Recorder {
    pub fn new(history: Arc<History>) -> Self {
        let (pending, rx) = watch::channel(None);
        tokio::spawn(retry_loop(history.clone(), rx));
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
        let provisional = match previous {
            Some(p) if p.content_hash() == catalog.content_hash() => p.version(),
            Some(p) => p.version() + 1,
            None => 1,
        };
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if *in_flight == Some(catalog.content_hash()) {
                catalog.set_version(provisional);
                return false;
            }
            *in_flight = Some(catalog.content_hash());
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut write = tokio::spawn({
            let history = self.history.clone();
            let catalog = catalog.clone();
            async move {
                let plans = plan_set(catalog.clone()).await?;
                history
                    .record(&Arc::new(plans), catalog.updated_at(), generation)
                    .await
            }
        });
        match tokio::time::timeout(wait, &mut write).await {
            Ok(outcome) => self.settle(catalog, generation, outcome, provisional),
            Err(_) => {
                tracing::info!("recording the catalog version takes a while; serving it meanwhile");
                catalog.set_version(provisional);
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
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if *in_flight == Some(catalog.content_hash()) {
                *in_flight = None;
            }
        }
        match outcome {
            Ok(Ok(Some(version))) => {
                catalog.set_version(version);
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
                catalog.set_version(provisional);
                self.pending
                    .send_replace(Some((catalog.clone(), generation)));
                false
            }
        }
    }
}

/// Rendering every plan is CPU work (100k plans: tens of milliseconds): not
/// on a request worker.
async fn plan_set(catalog: Arc<Catalog>) -> Result<PlanSet, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || PlanSet::of(&catalog)).await
}

/// The cause chain of a history error for the log, with sqlx's own text
/// (which may quote the URL or SQL with values) reduced to a summary.
pub fn describe(error: &HistoryError) -> String {
    match error {
        HistoryError::Database(e) => scrub_error(e),
        other => crate::telemetry::cause_chain(other),
    }
}

async fn retry_loop(history: Arc<History>, mut rx: watch::Receiver<Pending>) {
    while rx.changed().await.is_ok() {
        let mut delay = Duration::from_millis(500);
        loop {
            let Some((catalog, generation)) = rx.borrow_and_update().clone() else {
                break;
            };
            let Ok(plans) = plan_set(catalog.clone()).await else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + days * 86_400)
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
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(rows(2, 2, 0), "($1, $2), ($3, $4)");
        assert_eq!(rows(1, 3, 1), "($2, $3, $4)");
    }

    #[test]
    fn urls_name_their_backend() {
        assert!(validate_url("sqlite::memory:").is_ok());
        assert!(validate_url("sqlite:/tmp/x.db").is_ok());
        assert!(validate_url("postgres://u:p@h/db").is_ok());
        assert!(validate_url("mysql://x").is_err());
    }
}
