//! What only SQLite does: times and dates stored as text, bulk writes as multi-row `INSERT`s,
//! bronze writers taking turns in the process, claims under the one write lock
//! (`BEGIN IMMEDIATE`), lists of partitions passed as JSON, and gold's rebuild statements.
//! Tables carry their layer as a name prefix (`bronze.x` is `bronze_x`; see `sql.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo};
use sqlx::{AssertSqlSafe, QueryBuilder, Sqlite, SqlitePool, Transaction};

use super::error::StoreError;
use super::gold::{Aggregate, FROM_SILVER, REBUILT, ROLLED_UP};
use super::sql::{Arg, Record, Row, encode_arg, sqlite_text};
use super::sql::{Claim, Partition};
use crate::bronze::BronzeRow;

/// The one text form of a timestamp on SQLite: it sorts and compares in time order.
pub(super) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn parse_ts(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

// An [`Arg`] binds as the value SQLite stores for it: times and dates as text, centavos as REAL
// pesos, an id list as a JSON array.
encode_arg!(
    Sqlite,
    SqliteArgumentsBuffer,
    SqliteTypeInfo,
    time: |v| v.map(ts),
    date: |v| v.to_string(),
    centavos: |v| v.map(|c| c as f64 / 100.0),
    ids: |v| ids_json(v),
);

fn ids_json(ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", ids.join(","))
}

/// Splits `total` rows into statement lengths: `full` rows each, then the rest in descending
/// powers of two (at most ten lengths for 500).
///
/// Each length of a multi-row `INSERT` is a statement of its own, which the connection keeps
/// prepared (up to a hundred per connection). Batches come in every size (a request's lines,
/// a backlog's tail, a silver batch's items), so statements of every length up to hundreds of
/// rows of bound values filled every connection's cache: a collector serving NDJSON requests of
/// 1 to 400 lines into SQLite grew to 228 MB resident within two minutes. With the lengths cut
/// this way the same run stayed at 72 MB, and every statement is still prepared once.
fn lengths(total: usize, full: usize) -> impl Iterator<Item = usize> {
    let full = full.max(1);
    let whole = std::iter::repeat_n(full, total / full);
    let mut rest = total % full;
    whole.chain(std::iter::from_fn(move || {
        let piece = (rest > 0).then(|| 1 << rest.ilog2())?;
        rest -= piece;
        Some(piece)
    }))
}

/// `rows` in pieces of [`lengths`].
fn pieces<T>(rows: &[T], full: usize) -> impl Iterator<Item = &[T]> {
    let mut start = 0;
    lengths(rows.len(), full).map(move |n| {
        let piece = &rows[start..start + n];
        start += n;
        piece
    })
}

/// Writes `rows` as multi-row `INSERT`s: as many rows per statement as SQLite's limit of
/// 32,766 bound values allows (at most 500), in the lengths of [`lengths`], one trip to the
/// connection's thread each.
pub(super) async fn write<R: Record>(
    tx: &mut Transaction<'static, Sqlite>,
    rows: &[&R],
) -> Result<(), StoreError> {
    let per_statement = (32_766 / R::COLUMNS.len().max(1)).clamp(1, 500);
    let head = format!(
        "INSERT INTO {} ({}) ",
        sqlite_text(R::TABLE),
        R::COLUMNS
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut values = Vec::with_capacity(R::COLUMNS.len());
    for chunk in pieces(rows, per_statement) {
        let mut insert = QueryBuilder::<Sqlite>::new(&head);
        insert.push_values(chunk, |mut b, row| {
            values.clear();
            row.values(&mut values);
            debug_assert_eq!(values.len(), R::COLUMNS.len(), "{}", R::TABLE);
            for value in &values {
                b.push_bind(*value);
            }
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Lands bronze rows in one transaction; returns how many were new.
pub(super) async fn insert_bronze(
    pool: &SqlitePool,
    rows: &[BronzeRow],
) -> Result<u64, StoreError> {
    // Bronze writers of one database file take turns here rather than in SQLite: SQLite lets
    // one transaction write at a time, and a writer that finds the file locked waits in SQLite's
    // busy handler, which sleeps in steps of up to 100 ms instead of starting as soon as the
    // other commits (two requests of one agent in flight would spend most of their time asleep).
    type Writers = HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>;
    static WRITERS: LazyLock<std::sync::Mutex<Writers>> = LazyLock::new(Default::default);
    let writer = {
        let mut writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
        let file = pool.connect_options().get_filename().to_owned();
        Arc::clone(writers.entry(file).or_default())
    };
    let _turn = writer.lock().await;

    // Up to `ROWS` rows per statement: one trip to the connection's worker thread and one
    // statement run for many rows, rather than one per row (12 parameters a row stays well
    // under SQLite's 32,766).
    const ROWS: usize = 64;
    fn statement(rows: usize) -> String {
        let mut sql = String::from(
            "INSERT INTO bronze_raw_transactions (transaction_id, store_id, device_id, \
             transaction_timestamp, items, detected_brands, processing_metadata, payload, \
             ingested_at, captured_at, device_seq, agent_version) VALUES ",
        );
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        }
        sql.push_str(" ON CONFLICT (device_id, transaction_id) DO NOTHING");
        sql
    }
    static FULL: LazyLock<Arc<str>> = LazyLock::new(|| statement(ROWS).into());

    let ingested_at = ts(Utc::now());
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    // In the lengths of `lengths`, so that a connection keeps at most seven of them prepared.
    for chunk in pieces(rows, ROWS) {
        let sql: Arc<str> = if chunk.len() == ROWS {
            Arc::clone(&FULL)
        } else {
            statement(chunk.len()).into()
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(&row.transaction_id)
                .bind(&row.store_id)
                .bind(&row.device_id)
                .bind(ts(row.transaction_timestamp))
                .bind(&row.items)
                .bind(&row.detected_brands)
                .bind(&row.processing_metadata)
                .bind(&row.payload)
                .bind(&ingested_at)
                .bind(row.captured_at.map(ts))
                .bind(row.device_seq)
                .bind(&row.agent_version);
        }
        inserted += query.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}

/// Takes pending bronze ids off silver's queue (`$1`: how many, or the ids wanted; the caller
/// adds what it returns); the transaction already holds the write lock, so no other process
/// takes the same ones.
pub(super) fn claim_bronze(claim: Claim<'_, i64>) -> (&'static str, Arg<'_>) {
    const TAKE: &str = "DELETE FROM metadata.silver_pending WHERE bronze_id IN \
        (SELECT bronze_id FROM metadata.silver_pending ORDER BY bronze_id LIMIT $1)";
    const TAKE_THESE: &str = "DELETE FROM metadata.silver_pending WHERE bronze_id = ANY($1)";
    match claim {
        Claim::Next(limit) => (TAKE, Arg::from(limit)),
        Claim::Only(ids) => (TAKE_THESE, Arg::Ids(ids)),
    }
}

/// Partitions as the JSON array of `[day, store]` pairs that [`CLAIMED`] reads.
fn partition_keys(partitions: &[Partition]) -> String {
    let pairs: Vec<(String, &str)> = partitions
        .iter()
        .map(|(d, s)| (d.to_string(), s.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

/// The claimed partitions as a row source (`?1`: a JSON array of `[day, store]`).
const CLAIMED: &str = "k AS (SELECT json_extract(value, '$[0]') AS d, \
                       json_extract(value, '$[1]') AS s FROM json_each(?1))";

async fn run(
    tx: &mut Transaction<'static, Sqlite>,
    sql: String,
    keys: &str,
    now: Option<&str>,
) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(keys.to_owned());
    if let Some(now) = now {
        query = query.bind(now.to_owned());
    }
    Ok(query.fetch_all(&mut **tx).await?)
}

/// Takes queued gold partitions off the queue (the write lock is already held).
pub(super) async fn claim_partitions(
    tx: &mut Transaction<'static, Sqlite>,
    claim: Claim<'_, Partition>,
) -> Result<Vec<Partition>, StoreError> {
    let rows = match claim {
        Claim::Next(limit) => {
            sqlx::query(
                "SELECT transaction_date, store_id FROM metadata_gold_pending \
                 ORDER BY transaction_date, store_id LIMIT ?",
            )
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?
        }
        Claim::Only(only) => {
            let sql = format!(
                "WITH {CLAIMED} SELECT transaction_date, store_id FROM metadata_gold_pending \
                 WHERE (transaction_date, store_id) IN (SELECT d, s FROM k) \
                 ORDER BY transaction_date, store_id"
            );
            run(tx, sql, &partition_keys(only), None).await?
        }
    };
    let mut claimed = Vec::with_capacity(rows.len());
    for r in rows {
        let r = Row::Sqlite(r);
        // Days are written by silver as `YYYY-MM-DD`; a row that is not one is left queued.
        if let Some(day) = r.opt_date(0)? {
            claimed.push((day, r.text(1)?));
        }
    }
    let sql = format!(
        "WITH {CLAIMED} DELETE FROM metadata_gold_pending \
         WHERE (transaction_date, store_id) IN (SELECT d, s FROM k)"
    );
    run(tx, sql, &partition_keys(&claimed), None).await?;
    Ok(claimed)
}

/// Queues partitions for gold.
pub(super) async fn queue_partitions(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &[Partition],
) -> Result<(), StoreError> {
    let sql = format!(
        "WITH {CLAIMED} INSERT INTO metadata_gold_pending (transaction_date, store_id, marked_at) \
         SELECT d, s, ?2 FROM k WHERE true \
         ON CONFLICT (transaction_date, store_id) DO UPDATE SET marked_at = excluded.marked_at"
    );
    run(tx, sql, &partition_keys(keys), Some(&ts(Utc::now()))).await?;
    Ok(())
}

/// Replaces the gold and analytics rows of the claimed partitions with rows rebuilt from
/// silver. Returns the number of gold rows written.
pub(super) async fn rebuild_gold(
    tx: &mut Transaction<'static, Sqlite>,
    keys: &[Partition],
) -> Result<u64, StoreError> {
    let keys = partition_keys(keys);
    let now = ts(Utc::now());
    for table in REBUILT {
        let sql = format!(
            "WITH {CLAIMED} DELETE FROM {} WHERE (transaction_date, store_id) IN \
             (SELECT d, s FROM k)",
            sqlite_text(table)
        );
        run(tx, sql, &keys, None).await?;
    }
    for a in FROM_SILVER {
        fill(tx, a, &keys, &now).await?;
    }
    let [gold, rest @ ..] = ROLLED_UP;
    let written = fill(tx, gold, &keys, &now).await?;
    for a in rest {
        fill(tx, a, &keys, &now).await?;
    }
    Ok(written)
}

/// Fills one table of the rebuild for the partitions `keys` (`partition_keys`); returns its
/// rows, stamped `now` as `created_at` (it has no default on SQLite).
async fn fill(
    tx: &mut Transaction<'static, Sqlite>,
    a: &Aggregate,
    keys: &str,
    now: &str,
) -> Result<u64, StoreError> {
    let sql = sqlite_text(&format!(
        "WITH {CLAIMED}{} INSERT INTO {} ({}, created_at) SELECT *, ?2 FROM ({})",
        a.ctes, a.table, a.columns, a.select
    ));
    Ok(sqlx::query(AssertSqlSafe(sql))
        .bind(keys)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::{lengths, pieces};

    #[test]
    fn rows_are_written_in_full_statements_then_powers_of_two() {
        assert_eq!(
            lengths(1283, 500).collect::<Vec<_>>(),
            [500, 500, 256, 16, 8, 2, 1]
        );
        assert_eq!(lengths(500, 500).collect::<Vec<_>>(), [500]);
        assert_eq!(lengths(0, 500).count(), 0);
        assert_eq!(lengths(63, 64).collect::<Vec<_>>(), [32, 16, 8, 4, 2, 1]);
        let mut seen = std::collections::BTreeSet::new();
        for total in 0..3000 {
            let all: Vec<usize> = lengths(total, 500).collect();
            assert_eq!(all.iter().sum::<usize>(), total);
            assert!(
                all.iter()
                    .all(|&n| n == 500 || (n < 500 && n.is_power_of_two()))
            );
            seen.extend(all);
        }
        // Batches of every size share ten statement lengths: 500 and the powers of two below.
        assert_eq!(seen.len(), 10, "{seen:?}");
        let rows: Vec<u32> = (0..1283).collect();
        let joined: Vec<u32> = pieces(&rows, 500).flatten().copied().collect();
        assert_eq!(joined, rows);
    }
}
