//! The click tables (`migrations/0002_clicks.sql`) through sqlx's `Any`
//! driver, in the SQL SQLite and PostgreSQL share.

use sqlx::{AnyPool, Row};

use super::Click;
use super::report::{GroupBy, Report, ReportQuery, Row as ReportRow, Total};
use crate::history::{HistoryError, placeholders};

/// Columns of `clicks`, in insert order.
const CLICK_COLUMNS: &str = "id, at, day, partner, ref_code, package_code, countries, \
     subid, subid2, subid3, subid4, subid5, utm_source, utm_medium, utm_campaign, \
     visitor, bot, prefetch";
const CLICK_ARITY: usize = 18;
/// Rows of `clicks` per insert statement (18 parameters each).
const CLICK_ROWS: usize = 500;
const COUNTRY_ARITY: usize = 6;
/// Rows of `click_countries` per statement (a plan may cover 100+ countries).
const COUNTRY_ROWS: usize = 1_000;

/// Inserts `batch` in one transaction (one commit, one sync to disk):
/// multi-row inserts of up to [`CLICK_ROWS`] clicks, then their countries;
/// ids already stored are skipped.
pub(super) async fn insert(
    pool: &AnyPool,
    batch: &[Click],
    postgres: bool,
) -> Result<(), HistoryError> {
    let mut tx = pool.begin().await?;
    for rows in batch.chunks(CLICK_ROWS) {
        insert_clicks(&mut tx, rows, postgres).await?;
    }
    let countries: Vec<(&Click, &str)> = batch
        .iter()
        .flat_map(|c| c.countries.iter().map(move |country| (c, country.as_str())))
        .collect();
    for chunk in countries.chunks(COUNTRY_ROWS) {
        insert_countries(&mut tx, chunk, postgres).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One multi-row insert of `batch` (at most [`CLICK_ROWS`]).
async fn insert_clicks(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    batch: &[Click],
    postgres: bool,
) -> Result<(), HistoryError> {
    let sql = format!(
        "INSERT INTO clicks ({CLICK_COLUMNS}) VALUES {} ON CONFLICT (day, id) DO NOTHING",
        placeholders(batch.len(), CLICK_ARITY, 0, postgres)
    );
    let mut query = sqlx::query(&sql);
    for click in batch {
        query = query
            .bind(click.id.as_str())
            .bind(click.at_ms)
            .bind(super::day_of_ms(click.at_ms))
            .bind(click.partner.as_deref())
            .bind(click.ref_code.as_deref())
            .bind(click.package_code.as_str())
            .bind(click.countries.join(","));
        for label in &click.labels {
            query = query.bind(label.as_deref());
        }
        query = query
            .bind(click.visitor.as_str())
            .bind(i64::from(click.bot))
            .bind(i64::from(click.prefetch));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// One multi-row insert into `click_countries`.
async fn insert_countries(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    chunk: &[(&Click, &str)],
    postgres: bool,
) -> Result<(), HistoryError> {
    {
        let sql = format!(
            "INSERT INTO click_countries (click_id, day, partner, country, visitor, human) \
             VALUES {} ON CONFLICT (day, click_id, country) DO NOTHING",
            placeholders(chunk.len(), COUNTRY_ARITY, 0, postgres)
        );
        let mut query = sqlx::query(&sql);
        for (click, country) in chunk {
            query = query
                .bind(click.id.as_str())
                .bind(super::day_of_ms(click.at_ms))
                .bind(click.partner.as_deref())
                .bind(*country)
                .bind(click.visitor.as_str())
                .bind(i64::from(!click.bot && !click.prefetch));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Deletes clicks of days before `first_kept`.
pub(super) async fn purge(pool: &AnyPool, first_kept: i64) -> Result<u64, HistoryError> {
    let mut tx = pool.begin().await?;
    let deleted = sqlx::query("DELETE FROM clicks WHERE day < $1")
        .bind(first_kept)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM click_countries WHERE day < $1")
        .bind(first_kept)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(deleted)
}

/// Stores `proposal` as `day`'s salt unless one is stored; returns the
/// stored one (hex).
pub(super) async fn agree_salt(
    pool: &AnyPool,
    day: i64,
    proposal: &str,
) -> Result<String, HistoryError> {
    sqlx::query("INSERT INTO click_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING")
        .bind(day)
        .bind(proposal)
        .execute(pool)
        .await?;
    let row = sqlx::query("SELECT salt FROM click_salts WHERE day = $1")
        .bind(day)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get(0)?)
}

/// Forgets the salts of days before `today`.
pub(super) async fn forget_salts(pool: &AnyPool, today: i64) -> Result<(), HistoryError> {
    sqlx::query("DELETE FROM click_salts WHERE day < $1")
        .bind(today)
        .execute(pool)
        .await?;
    Ok(())
}

/// The report: one grouped query over the date range (an index range scan
/// on `day`, or `partner, day`), and one for the total's distinct visitors.
pub(super) async fn report(pool: &AnyPool, query: &ReportQuery) -> Result<Report, HistoryError> {
    let (table, human) = match query.group_by {
        GroupBy::Country => ("click_countries", "human = 1"),
        _ => ("clicks", "bot = 0 AND prefetch = 0"),
    };
    let mut filter = String::from("day >= $1 AND day <= $2");
    if !query.bots {
        filter.push_str(" AND ");
        filter.push_str(human);
    }
    if query.partner.is_some() {
        filter.push_str(" AND partner = $3");
    }
    let column = query.group_by.column();
    // The key is read as text on both backends.
    let key = match query.group_by {
        GroupBy::Day => format!("CAST({column} AS TEXT)"),
        _ => column.to_owned(),
    };
    let sql = format!(
        "SELECT {key}, COUNT(*), COUNT(DISTINCT visitor) FROM {table} WHERE {filter} GROUP BY {column}"
    );
    let mut grouped = sqlx::query(&sql).bind(query.from).bind(query.to);
    if let Some(partner) = &query.partner {
        grouped = grouped.bind(partner.as_str());
    }
    let mut rows = Vec::new();
    for row in grouped.fetch_all(pool).await? {
        let key: Option<String> = row.try_get(0)?;
        let key = match query.group_by {
            GroupBy::Day => key
                .and_then(|k| k.parse::<i64>().ok())
                .map(super::report::format_date),
            _ => key,
        };
        rows.push(ReportRow {
            key,
            clicks: row.try_get::<i64, _>(1)? as u64,
            visitors: row.try_get::<i64, _>(2)? as u64,
        });
    }
    // The total counts each click once, whatever the grouping.
    let mut filter = String::from("day >= $1 AND day <= $2");
    if !query.bots {
        filter.push_str(" AND bot = 0 AND prefetch = 0");
    }
    if query.partner.is_some() {
        filter.push_str(" AND partner = $3");
    }
    let sql = format!("SELECT COUNT(*), COUNT(DISTINCT visitor) FROM clicks WHERE {filter}");
    let mut total = sqlx::query(&sql).bind(query.from).bind(query.to);
    if let Some(partner) = &query.partner {
        total = total.bind(partner.as_str());
    }
    let row = total.fetch_one(pool).await?;
    let total = Total {
        clicks: row.try_get::<i64, _>(0)? as u64,
        visitors: row.try_get::<i64, _>(1)? as u64,
    };
    Ok(Report::new(query, rows, total))
}
