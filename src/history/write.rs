//! Storing a catalog: its plan set as stored, the diff against the current
//! plans, and the version it gets, in one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::Row;

use super::{Backend, ChangeKind, History, HistoryError, PLAN_FIELDS, millis};
use crate::catalog::Catalog;

/// A plan set as stored: packageCode -> upstream JSON (no ref).
pub struct PlanSet {
    plans: BTreeMap<String, PlanEntry>,
    hash: u64,
    /// The catalog for followers (SPEC section 13): the upstream-shaped
    /// feed, gzip, and its `updatedAt` in milliseconds.
    catalog: Option<(Vec<u8>, i64)>,
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
            catalog.write_plan(
                &mut json,
                i,
                crate::catalog::Links::default(),
                crate::catalog::PlanForm::Upstream,
            );
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
            catalog: None,
        }
    }

    /// The plan set, and the whole catalog compressed for followers.
    pub fn with_catalog(catalog: &Catalog) -> Self {
        use std::io::Write as _;
        let mut set = Self::of(catalog);
        let mut feed = Vec::with_capacity(catalog.len() * 400 + 128);
        catalog.write_feed(&mut feed, None, &[]);
        let mut gzip = flate2::write::GzEncoder::new(
            Vec::with_capacity(feed.len() / 6),
            flate2::Compression::fast(),
        );
        gzip.write_all(&feed).expect("writing to a Vec");
        let body = gzip.finish().expect("writing to a Vec");
        set.catalog = Some((body, millis(catalog.updated_at())));
        set
    }
}

impl History {
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
        let conn = self.ready().await?;
        let _writer = self.write.lock().await;
        if generation < self.recorded_generation.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut attempt = 0;
        let version = loop {
            match self.try_record(&conn.pool, plans, at).await {
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
        self.seen.fetch_max(version, Ordering::Relaxed);
        Ok(Some(version))
    }

    async fn try_record(
        &self,
        pool: &sqlx::AnyPool,
        plans: &Arc<PlanSet>,
        at: SystemTime,
    ) -> Result<u64, HistoryError> {
        let now = millis(at);
        let hash = format!("{:016x}", plans.hash);
        // Anonymous placeholders on SQLite: see `placeholders`.
        let numbered = self.backend == Backend::Postgres;
        let mut tx = pool.begin().await?;
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
                // A version stored before this replica led has no catalog.
                self.store_catalog(&mut tx, plans, *version, "ON CONFLICT (version) DO NOTHING")
                    .await?;
                tx.commit().await?;
                return Ok(*version as u64);
            }
        }
        let next = latest.as_ref().map_or(1, |(v, _)| v + 1);
        let version = next.max(self.seen.load(Ordering::Relaxed) as i64 + 1);
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
                super::placeholders(chunk.len(), 6, 0, numbered)
            );
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = q
                    .bind(version)
                    .bind(c.code.clone())
                    .bind(c.kind.as_str())
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
                super::placeholders(chunk.len(), 2, 0, numbered)
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
                super::placeholders(1, chunk.len(), 0, numbered)
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
                super::placeholders(1, chunk.len(), 1, true)
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
                super::placeholders(chunk.len(), 3, 0, numbered).replace(')', ", NULL)")
            );
            let mut q = sqlx::query(&sql);
            for (code, price) in chunk {
                q = q.bind(code.clone()).bind(*price).bind(now);
            }
            q.execute(&mut *tx).await?;
        }

        // Webhook messages, in this version's own transaction: a crash never
        // loses one, and only the replica that made the version makes them.
        if let Some((endpoints, public_url)) = self.webhooks.get() {
            let endpoints = endpoints.load_full();
            if !endpoints.is_empty() && !diff.changes.is_empty() {
                let previous = latest.as_ref().map_or(0, |(v, _)| *v as u64);
                let lowest = lowest_prices(&mut tx, &diff, now).await?;
                let changed: Vec<crate::webhooks::ChangedPlan> = diff
                    .changes
                    .iter()
                    .map(|c| crate::webhooks::ChangedPlan {
                        code: &c.code,
                        kind: c.kind,
                        before: c.before.as_deref(),
                        after: c.after.as_deref(),
                    })
                    .collect();
                let timestamp = humantime::format_rfc3339_seconds(at).to_string();
                let mut messages = Vec::new();
                for endpoint in endpoints.iter() {
                    messages.extend(crate::webhooks::messages(
                        endpoint,
                        version as u64,
                        previous,
                        &timestamp,
                        &changed,
                        public_url.as_deref(),
                        &|code| lowest.get(code).copied(),
                    ));
                }
                crate::webhooks::outbox::insert(&mut tx, &messages, version, now, numbered).await?;
            }
        }

        self.store_catalog(&mut tx, plans, version, "").await?;

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
}

impl History {
    /// Stores the catalog of `version` for followers, in the version's own
    /// transaction, and tells them when it commits (PostgreSQL only; older
    /// catalogs than the last three are deleted: followers load the newest).
    async fn store_catalog(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        plans: &PlanSet,
        version: i64,
        conflict: &str,
    ) -> Result<(), HistoryError> {
        let (Some((body, updated_at)), Backend::Postgres) = (&plans.catalog, self.backend) else {
            return Ok(());
        };
        sqlx::query(&format!(
            "INSERT INTO fleet_catalogs (version, updated_at, body) VALUES ($1, $2, $3) {conflict}"
        ))
        .bind(version)
        .bind(*updated_at)
        .bind(body.clone())
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM fleet_catalogs WHERE version < $1")
            .bind(version - 2)
            .execute(&mut **tx)
            .await?;
        sqlx::query("SELECT pg_notify('cmg_catalog', '')")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records `versions` (oldest first) unless the database already holds
    /// the content of the last one, whose number is returned either way: the
    /// demo's versions are recorded once, however often it restarts on the
    /// same database and however many replicas start together (on
    /// PostgreSQL a session advisory lock makes the check and the writes one
    /// step across replicas).
    pub async fn seed(&self, versions: &[(Arc<PlanSet>, SystemTime)]) -> Result<u64, HistoryError> {
        let Some((newest, _)) = versions.last() else {
            return Ok(0);
        };
        let conn = self.ready().await?;
        // The session holding the lock is closed, not pooled, when this
        // returns or is cancelled: closing it releases the lock, whatever
        // happened in between.
        let _lock = match self.backend {
            Backend::Postgres => {
                let mut session = conn.pool.acquire().await?;
                session.close_on_drop();
                sqlx::query("SELECT pg_advisory_lock(7355610)")
                    .execute(&mut *session)
                    .await?;
                Some(session)
            }
            Backend::Sqlite => None,
        };
        if let Some(version) = self.version_of(&conn.pool, newest.hash).await? {
            self.seen.fetch_max(version, Ordering::Relaxed);
            return Ok(version);
        }
        let mut last = 0;
        for (generation, (plans, at)) in versions.iter().enumerate() {
            if let Some(version) = self.record(plans, *at, generation as u64 + 1).await? {
                last = version;
            }
        }
        Ok(last)
    }

    /// The newest version with this content, if any.
    async fn version_of(
        &self,
        pool: &sqlx::AnyPool,
        hash: u64,
    ) -> Result<Option<u64>, HistoryError> {
        let row = sqlx::query("SELECT MAX(version) FROM catalog_versions WHERE content_hash = $1")
            .bind(format!("{hash:016x}"))
            .fetch_one(pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.map(|v| v as u64))
    }
}

/// The lowest price of the last 30 days of every updated plan, the new
/// prices (written just before, in `tx`) included.
async fn lowest_prices(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    diff: &Diff,
    now: i64,
) -> Result<std::collections::HashMap<String, f64>, HistoryError> {
    let since = now - 30 * 86_400_000;
    let codes: Vec<&str> = diff
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Updated)
        .map(|c| c.code.as_str())
        .collect();
    let mut out = std::collections::HashMap::new();
    for chunk in codes.chunks(500) {
        let sql = format!(
            "SELECT package_code, MIN(price) FROM plan_prices              WHERE (valid_to IS NULL OR valid_to >= $1) AND package_code IN {} GROUP BY package_code",
            super::placeholders(1, chunk.len(), 1, true)
        );
        let mut q = sqlx::query(&sql).bind(since);
        for code in chunk {
            q = q.bind(*code);
        }
        for row in q.fetch_all(&mut **tx).await? {
            out.insert(row.try_get::<String, _>(0)?, row.try_get::<f64, _>(1)?);
        }
    }
    Ok(out)
}

/// One change row to store.
struct ChangeRow {
    code: String,
    kind: ChangeKind,
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
                None => (ChangeKind::Added, Vec::new(), None),
                Some(b) => {
                    let (b, a) = (parse(b)?, parse(after)?);
                    (
                        ChangeKind::Updated,
                        differing_fields(&b, &a),
                        Some(price_of(&b)),
                    )
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
                kind: ChangeKind::Removed,
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

#[cfg(test)]
mod tests {
    use crate::history::placeholders;

    #[test]
    fn placeholders_are_numbered_across_rows_or_anonymous() {
        assert_eq!(placeholders(2, 2, 0, true), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(1, 3, 1, true), "($2, $3, $4)");
        assert_eq!(placeholders(2, 2, 0, false), "(?, ?), (?, ?)");
    }
}
