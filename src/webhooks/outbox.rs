//! The outbox (`migrations/0003_webhooks.sql`): messages written in their
//! version's transaction, claimed by a sender with a lease, finished with
//! their outcome.

use sqlx::{AnyPool, Row};

use super::NewMessage;
use crate::history::{HistoryError, placeholders};

/// Stores `messages` in the version's transaction (`tx`).
pub async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    messages: &[NewMessage],
    version: i64,
    now: i64,
    numbered: bool,
) -> Result<(), HistoryError> {
    for chunk in messages.chunks(200) {
        let sql = format!(
            "INSERT INTO webhook_messages (id, endpoint, partner, event, body, version, created_at, \
             status, attempts, next_attempt_at, lease_until) VALUES {} ON CONFLICT (id) DO NOTHING",
            placeholders(chunk.len(), 11, 0, numbered)
        );
        let mut query = sqlx::query(&sql);
        for m in chunk {
            query = query
                .bind(m.id.as_str())
                .bind(m.endpoint.as_str())
                .bind(m.partner.as_str())
                .bind(m.event)
                .bind(m.body.as_str())
                .bind(version)
                .bind(now)
                .bind("pending")
                .bind(0i64)
                .bind(now)
                .bind(0i64);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// A message taken for one attempt.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: String,
    pub endpoint: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

const CLAIMED_COLUMNS: &str = "id, endpoint, body, attempts";

fn claimed(row: &sqlx::any::AnyRow) -> Result<Claimed, sqlx::Error> {
    Ok(Claimed {
        id: row.try_get(0)?,
        endpoint: row.try_get(1)?,
        body: row.try_get(2)?,
        attempts: row.try_get::<i64, _>(3)? as u32,
    })
}

/// Takes up to `limit` due messages for `lease_ms`: no other sender takes
/// them until the lease ends (a sender that dies mid-attempt leaves them to
/// another afterwards). On PostgreSQL `FOR UPDATE SKIP LOCKED` keeps two
/// replicas from taking one message; SQLite has one writer at a time.
pub async fn claim(
    pool: &AnyPool,
    postgres: bool,
    now: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<Claimed>, HistoryError> {
    let lock = if postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE webhook_messages SET lease_until = $1 WHERE id IN (\
         SELECT id FROM webhook_messages WHERE status = 'pending' AND next_attempt_at <= $2 \
         AND lease_until <= $2 ORDER BY next_attempt_at LIMIT $3{lock}) \
         RETURNING {CLAIMED_COLUMNS}"
    );
    let rows = sqlx::query(&sql)
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(claimed).collect::<Result<_, _>>()?)
}

/// Takes one message now (the admin's retry), whatever its status, unless
/// an attempt holds it.
pub async fn claim_one(
    pool: &AnyPool,
    id: &str,
    now: i64,
    lease_ms: i64,
) -> Result<Option<Claimed>, HistoryError> {
    let sql = format!(
        "UPDATE webhook_messages SET lease_until = $1, status = 'pending' \
         WHERE id = $2 AND lease_until <= $3 RETURNING {CLAIMED_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(now + lease_ms)
        .bind(id)
        .bind(now)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(claimed).transpose()?)
}

/// Gives a claimed message back without an attempt (its endpoint is busy).
pub async fn release(pool: &AnyPool, id: &str) -> Result<(), HistoryError> {
    sqlx::query("UPDATE webhook_messages SET lease_until = 0 WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// How an attempt ended, as stored.
#[derive(Clone, Debug)]
pub struct Finished {
    /// `delivered`, `pending` (retried at `next_attempt_at`) or `failed`.
    pub status: &'static str,
    pub next_attempt_at: i64,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// At most 1 KB of the answer.
    pub response: Option<String>,
}

/// Records an attempt and the message's new state; releases the lease.
pub async fn finish(
    pool: &AnyPool,
    id: &str,
    now: i64,
    outcome: &Finished,
) -> Result<(), HistoryError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE webhook_messages SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
         lease_until = 0, last_status = $3, last_error = $4 WHERE id = $5",
    )
    .bind(outcome.status)
    .bind(outcome.next_attempt_at)
    .bind(outcome.http_status.map(i64::from))
    .bind(outcome.error.as_deref())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (message_id, at, status, duration_ms, error, response) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id, at) DO NOTHING",
    )
    .bind(id)
    .bind(now)
    .bind(outcome.http_status.map(i64::from))
    .bind(outcome.duration_ms)
    .bind(outcome.error.as_deref())
    .bind(outcome.response.as_deref())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks every pending message of `endpoint` failed (it answered 410).
pub async fn fail_endpoint(
    pool: &AnyPool,
    endpoint: &str,
    reason: &str,
) -> Result<(), HistoryError> {
    sqlx::query(
        "UPDATE webhook_messages SET status = 'failed', last_error = $1 \
         WHERE endpoint = $2 AND status = 'pending'",
    )
    .bind(reason)
    .bind(endpoint)
    .execute(pool)
    .await?;
    Ok(())
}

/// One message as `/admin/webhooks` shows it.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub partner: String,
    #[serde(rename = "type")]
    pub event: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_status: Option<u16>,
    #[serde(skip)]
    pub endpoint: String,
}

const VIEW_COLUMNS: &str =
    "id, partner, event, status, attempts, next_attempt_at, last_status, endpoint";

fn view(row: &sqlx::any::AnyRow) -> Result<MessageView, sqlx::Error> {
    let status: String = row.try_get(3)?;
    let next: i64 = row.try_get(5)?;
    Ok(MessageView {
        id: row.try_get(0)?,
        partner: row.try_get(1)?,
        event: row.try_get(2)?,
        next_attempt_at: (status == "pending").then(|| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(next.max(0) as u64),
            )
            .to_string()
        }),
        status,
        attempts: row.try_get::<i64, _>(4)? as u32,
        last_status: row.try_get::<Option<i64>, _>(6)?.map(|s| s as u16),
        endpoint: row.try_get(7)?,
    })
}

/// The last `limit` messages, newest first.
pub async fn recent(pool: &AnyPool, limit: usize) -> Result<Vec<MessageView>, HistoryError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM webhook_messages ORDER BY created_at DESC, id LIMIT $1"
    );
    let rows = sqlx::query(&sql).bind(limit as i64).fetch_all(pool).await?;
    Ok(rows.iter().map(view).collect::<Result<_, _>>()?)
}

/// One message by id.
pub async fn get(pool: &AnyPool, id: &str) -> Result<Option<MessageView>, HistoryError> {
    let sql = format!("SELECT {VIEW_COLUMNS} FROM webhook_messages WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
    Ok(row.as_ref().map(view).transpose()?)
}

/// Messages per endpoint and status.
pub async fn counts(pool: &AnyPool) -> Result<Vec<(String, String, u64)>, HistoryError> {
    let rows = sqlx::query(
        "SELECT endpoint, status, COUNT(*) FROM webhook_messages GROUP BY endpoint, status",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get::<i64, _>(2)? as u64)))
        .collect()
}

/// The creation time of the oldest pending message, if any.
pub async fn oldest_pending(pool: &AnyPool) -> Result<Option<i64>, HistoryError> {
    let row = sqlx::query("SELECT MIN(created_at) FROM webhook_messages WHERE status = 'pending'")
        .fetch_one(pool)
        .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?)
}
