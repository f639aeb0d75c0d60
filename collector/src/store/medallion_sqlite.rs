//! SQLite side of the medallion stages (see `medallion.rs` for the coordination rules). Each
//! stage runs under `BEGIN IMMEDIATE`: it holds the database's one write lock from its first
//! read, so two processes on one file never claim the same rows. Claimed gold partitions travel
//! into the rebuild statements as one JSON array of `[day, store]` pairs (`json_each`).

use chrono::{NaiveDate, Utc};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

use super::StoreError;
use super::medallion::{
    Backlog, BuildSilver, Claim, GoldBatch, GoldRow, Partition, SilverBatch, counts,
    customer_aggregates, finish, gold_aggregates, partitions, run_build,
};
use super::sqlite::{parse_ts, ts};
use crate::silver::{BronzeRecord, SilverOutcome};

/// The columns a silver batch reads of a bronze row.
const BRONZE_COLUMNS: &str = "SELECT id, transaction_id, store_id, device_id, \
     transaction_timestamp, payload, captured_at, device_seq, agent_version \
     FROM bronze_scout_raw_transactions WHERE silver_processed_at IS NULL";

/// Claims pending bronze rows (their ids go to `claimed` as soon as they are read), builds and
/// writes their silver rows, in one transaction.
pub(super) async fn silver_batch(
    pool: &SqlitePool,
    claim: Claim<'_, i64>,
    build: BuildSilver,
    claimed: &mut Vec<i64>,
) -> Result<SilverBatch, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let result = silver_batch_in(&mut tx, claim, build, claimed).await;
    finish(tx, result).await
}

async fn silver_batch_in(
    tx: &mut Transaction<'_, Sqlite>,
    claim: Claim<'_, i64>,
    build: BuildSilver,
    claimed: &mut Vec<i64>,
) -> Result<SilverBatch, StoreError> {
    let rows = match claim {
        Claim::Next(limit) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{BRONZE_COLUMNS} ORDER BY id LIMIT ?"
            )))
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?
        }
        Claim::Only(ids) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{BRONZE_COLUMNS} AND id IN (SELECT value FROM json_each(?)) ORDER BY id"
            )))
            .bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned()))
            .fetch_all(&mut **tx)
            .await?
        }
    };
    if rows.is_empty() {
        return Ok(SilverBatch::default());
    }
    for r in &rows {
        claimed.push(r.try_get("id")?);
    }
    let mut records = Vec::with_capacity(rows.len());
    for r in &rows {
        records.push(BronzeRecord {
            bronze_id: r.try_get("id")?,
            transaction_id: r.try_get("transaction_id")?,
            store_id: r.try_get("store_id")?,
            device_id: r.try_get("device_id")?,
            transaction_timestamp: parse_ts(r.try_get("transaction_timestamp")?)
                .unwrap_or_default(),
            payload: r.try_get("payload")?,
            captured_at: parse_ts(r.try_get("captured_at")?),
            device_seq: r.try_get("device_seq")?,
            agent_version: r.try_get("agent_version")?,
        });
    }
    drop(rows);
    let outcomes = run_build(build, records).await?;
    let queued = write_silver(tx, &outcomes).await?;
    Ok(counts(&outcomes, queued))
}

async fn write_silver(
    tx: &mut Transaction<'_, Sqlite>,
    outcomes: &[SilverOutcome],
) -> Result<usize, StoreError> {
    let now = ts(Utc::now());
    let ids = serde_json::to_string(&outcomes.iter().map(|o| o.bronze_id).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".to_owned());
    let old = sqlx::query(
        "DELETE FROM silver_transactions_cleaned \
         WHERE bronze_id IN (SELECT value FROM json_each(?)) \
         RETURNING transaction_date, store_id",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM silver_transactions_quarantine \
         WHERE bronze_id IN (SELECT value FROM json_each(?))",
    )
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    let mut keys = Vec::new();
    for r in &old {
        let day: String = r.try_get(0)?;
        if let Ok(day) = day.parse::<NaiveDate>() {
            keys.push((day, r.try_get::<String, _>(1)?));
        }
    }
    // Multi-row inserts: one statement per 300 rows (35 values each, well under SQLite's
    // 32,766 bound parameters) instead of one per row.
    let rows: Vec<_> = outcomes.iter().flat_map(|o| &o.rows).collect();
    for chunk in rows.chunks(300) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO silver_transactions_cleaned (id, transaction_id, \"timestamp\", \
             transaction_date, amount, payment_method, product_category, brand_name, sku, \
             customer_id, store_id, device_id, age_bracket, gender, location_data, data_source, \
             quality_score, loaded_at, bronze_id, item_index, amount_centavos, quantity, \
             unit_price, product_name, device_brand, brand_method, brand_source, brand_score, \
             quality_issues, daypart, day_type, basket_units, basket_band, first_in_group, \
             first_in_basket) ",
        );
        insert.push_values(chunk, |mut b, row| {
            b.push_bind(&row.id)
                .push_bind(&row.transaction_id)
                .push_bind(ts(row.timestamp))
                .push_bind(row.transaction_date.to_string())
                .push_bind(row.amount_centavos as f64 / 100.0)
                .push_bind(&row.payment_method)
                .push_bind(&row.product_category)
                .push_bind(&row.brand_name)
                .push_bind(&row.sku)
                .push_bind(&row.customer_id)
                .push_bind(&row.store_id)
                .push_bind(&row.device_id)
                .push_bind(&row.age_bracket)
                .push_bind(&row.gender)
                .push_bind(&row.location_data)
                .push_bind(row.data_source)
                .push_bind(row.quality_score)
                .push_bind(&now)
                .push_bind(row.bronze_id)
                .push_bind(row.item_index)
                .push_bind(row.amount_centavos)
                .push_bind(row.quantity)
                .push_bind(row.unit_price.map(|p| (p * 100.0).round() / 100.0))
                .push_bind(&row.product_name)
                .push_bind(&row.device_brand)
                .push_bind(row.brand_method)
                .push_bind(row.brand_source)
                .push_bind(row.brand_score)
                .push_bind(&row.quality_issues)
                .push_bind(row.daypart)
                .push_bind(row.day_type)
                .push_bind(row.basket_units)
                .push_bind(row.basket_band)
                .push_bind(row.first_in_group)
                .push_bind(row.first_in_basket);
        });
        insert.build().execute(&mut **tx).await?;
    }
    keys.extend(
        rows.iter()
            .map(|r| (r.transaction_date, r.store_id.clone())),
    );
    for r in outcomes.iter().flat_map(|o| &o.rejects) {
        sqlx::query(
            "INSERT INTO silver_transactions_quarantine (bronze_id, transaction_id, device_id, \
             store_id, item_index, reasons, record, quality_score, quality_issues, \
             quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.bronze_id)
        .bind(&r.transaction_id)
        .bind(&r.device_id)
        .bind(&r.store_id)
        .bind(r.item_index)
        .bind(&r.reasons)
        .bind(&r.record)
        .bind(r.quality_score)
        .bind(&r.quality_issues)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
    }
    let keys = partitions(keys);
    for (day, store) in &keys {
        sqlx::query(
            "INSERT INTO metadata_gold_pending (transaction_date, store_id, marked_at) \
             VALUES (?, ?, ?) \
             ON CONFLICT (transaction_date, store_id) DO UPDATE SET marked_at = excluded.marked_at",
        )
        .bind(day.to_string())
        .bind(store)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
    }
    // One statement marks the whole batch: `[id, score, metadata]` triples.
    // The metadata is JSON text already: joined as is, not parsed back into a value.
    let marks = outcomes
        .iter()
        .map(|o| {
            format!(
                "[{},{},{}]",
                o.bronze_id, o.quality_score, o.bronze_metadata
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(
        "UPDATE bronze_scout_raw_transactions AS b SET silver_processed_at = ?1, \
         quality_score = json_extract(u.value, '$[1]'), \
         processing_metadata = json_patch(b.processing_metadata, json_extract(u.value, '$[2]')) \
         FROM json_each(?2) AS u WHERE b.id = json_extract(u.value, '$[0]')",
    )
    .bind(&now)
    .bind(format!("[{marks}]"))
    .execute(&mut **tx)
    .await?;
    Ok(keys.len())
}

/// The claimed partitions as a row source (`?1`: a JSON array of `[day, store]`).
const CLAIMED: &str = "k AS (SELECT json_extract(value, '$[0]') AS d, \
                       json_extract(value, '$[1]') AS s FROM json_each(?1))";

/// Claims queued partitions (they go to `claimed` as soon as they are read) and rebuilds them, in
/// one transaction.
pub(super) async fn gold_batch(
    pool: &SqlitePool,
    claim: Claim<'_, Partition>,
    claimed: &mut Vec<Partition>,
) -> Result<GoldBatch, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let result = gold_batch_in(&mut tx, claim, claimed).await;
    finish(tx, result).await
}

async fn gold_batch_in(
    tx: &mut Transaction<'_, Sqlite>,
    claim: Claim<'_, Partition>,
    claimed: &mut Vec<Partition>,
) -> Result<GoldBatch, StoreError> {
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
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH {CLAIMED} SELECT transaction_date, store_id FROM metadata_gold_pending \
                 WHERE (transaction_date, store_id) IN (SELECT d, s FROM k) \
                 ORDER BY transaction_date, store_id"
            )))
            .bind(partition_keys(only))
            .fetch_all(&mut **tx)
            .await?
        }
    };
    if rows.is_empty() {
        return Ok(GoldBatch::default());
    }
    let mut pairs = Vec::with_capacity(rows.len());
    for r in &rows {
        let (day, store) = (r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?);
        // Days are written by silver as `YYYY-MM-DD`; one that is not cannot be reported back.
        if let Ok(d) = day.parse::<NaiveDate>() {
            claimed.push((d, store.clone()));
        }
        pairs.push((day, store));
    }
    drop(rows);
    let keys = serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned());
    let now = ts(Utc::now());
    for table in [
        "metadata_gold_pending",
        // A partition rebuilt is no longer a failed one.
        "metadata_gold_failures",
        "scout_scout_gold_transactions",
        "gold_product_analytics",
        "gold_customer_analytics",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH {CLAIMED} DELETE FROM {table} \
             WHERE (transaction_date, store_id) IN (SELECT d, s FROM k)"
        )))
        .bind(&keys)
        .execute(&mut **tx)
        .await?;
    }
    // Plain sums over silver's flags (`first_in_group`, `first_in_basket`), as on PostgreSQL.
    let gold = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH {CLAIMED}, {} \
         INSERT INTO scout_scout_gold_transactions (transaction_date, brand_name, \
           product_category, store_id, revenue_peso, transaction_count, unique_customers, \
           avg_basket_size, created_at, revenue_centavos, units_sold, item_rows, \
           avg_quality_score) \
         SELECT a.transaction_date, a.brand_name, a.product_category, a.store_id, \
           a.centavos / 100.0, a.transactions, a.anonymous + coalesce(n.n, 0), \
           round(a.basket, 4), ?2, a.centavos, round(a.units, 4), a.item_rows, \
           round(a.quality, 4) \
         FROM a LEFT JOIN known n \
           USING (transaction_date, store_id, brand_name, product_category)",
        gold_aggregates("silver_transactions_cleaned")
    )))
    .bind(&keys)
    .bind(&now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH {CLAIMED} \
         INSERT INTO gold_product_analytics (transaction_date, store_id, product_category, \
           brand_name, revenue_peso, revenue_centavos, units_sold, transaction_count, \
           avg_unit_price, category_revenue_share, store_revenue_share, rank_in_category, \
           avg_quality_score, created_at) \
         SELECT g.transaction_date, g.store_id, g.product_category, g.brand_name, \
           g.revenue_peso, g.revenue_centavos, g.units_sold, g.transaction_count, \
           CASE WHEN g.units_sold > 0 THEN round(g.revenue_centavos / 100.0 / g.units_sold, 2) END, \
           round(g.revenue_centavos * 1.0 / nullif(sum(g.revenue_centavos) OVER \
             (PARTITION BY g.transaction_date, g.store_id, g.product_category), 0), 4), \
           round(g.revenue_centavos * 1.0 / nullif(sum(g.revenue_centavos) OVER \
             (PARTITION BY g.transaction_date, g.store_id), 0), 4), \
           row_number() OVER (PARTITION BY g.transaction_date, g.store_id, g.product_category \
             ORDER BY g.revenue_centavos DESC, g.brand_name), \
           g.avg_quality_score, ?2 \
         FROM k JOIN scout_scout_gold_transactions g \
           ON g.transaction_date = k.d AND g.store_id = k.s"
    )))
    .bind(&keys)
    .bind(&now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH {CLAIMED}, {} \
         INSERT INTO gold_customer_analytics (transaction_date, store_id, daypart, day_type, \
           payment_method, basket_band, transaction_count, unique_customers, revenue_peso, \
           revenue_centavos, avg_basket_value, avg_basket_units, created_at) \
         SELECT a.transaction_date, a.store_id, a.daypart, a.day_type, a.payment_method, \
           a.basket_band, a.transactions, a.anonymous + coalesce(n.n, 0), a.centavos / 100.0, \
           a.centavos, round(a.centavos / 100.0 / a.transactions, 2), round(a.units, 4), ?2 \
         FROM a LEFT JOIN known n \
           USING (transaction_date, store_id, daypart, day_type, payment_method, basket_band)",
        customer_aggregates("silver_transactions_cleaned")
    )))
    .bind(&keys)
    .bind(&now)
    .execute(&mut **tx)
    .await?;
    Ok(GoldBatch {
        partitions: pairs.len() as u64,
        gold_rows: gold,
    })
}

/// Partitions as the JSON array of `[day, store]` pairs that [`CLAIMED`] reads.
fn partition_keys(partitions: &[Partition]) -> String {
    let pairs: Vec<(String, &str)> = partitions
        .iter()
        .map(|(d, s)| (d.to_string(), s.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

pub(super) async fn set_aside_gold(
    pool: &SqlitePool,
    day: NaiveDate,
    store_id: &str,
    error: &str,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let taken = sqlx::query(
        "DELETE FROM metadata_gold_pending WHERE transaction_date = ? AND store_id = ?",
    )
    .bind(day.to_string())
    .bind(store_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if taken == 0 {
        tx.commit().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO metadata_gold_failures (transaction_date, store_id, error, failed_at) \
         VALUES (?, ?, ?, ?) ON CONFLICT (transaction_date, store_id) \
         DO UPDATE SET error = excluded.error, failed_at = excluded.failed_at",
    )
    .bind(day.to_string())
    .bind(store_id)
    .bind(error)
    .bind(ts(Utc::now()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn reset(pool: &SqlitePool) -> Result<u64, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let marked = sqlx::query(
        "UPDATE bronze_scout_raw_transactions SET silver_processed_at = NULL \
         WHERE silver_processed_at IS NOT NULL",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(QUEUE_ALL)
        .bind(ts(Utc::now()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(marked)
}

pub(super) async fn queue_gold_rebuild(pool: &SqlitePool) -> Result<u64, StoreError> {
    Ok(sqlx::query(QUEUE_ALL)
        .bind(ts(Utc::now()))
        .execute(pool)
        .await?
        .rows_affected())
}

/// Queues every partition that has silver rows (`?`: the time marked).
const QUEUE_ALL: &str = "INSERT INTO metadata_gold_pending (transaction_date, store_id, marked_at) \
     SELECT DISTINCT transaction_date, store_id, ? FROM silver_transactions_cleaned WHERE true \
     ON CONFLICT (transaction_date, store_id) DO UPDATE SET marked_at = excluded.marked_at";

pub(super) async fn backlog(pool: &SqlitePool) -> Result<Backlog, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM bronze_scout_raw_transactions \
                 WHERE silver_processed_at IS NULL), \
                (SELECT min(ingested_at) FROM bronze_scout_raw_transactions \
                 WHERE silver_processed_at IS NULL), \
                (SELECT count(*) FROM metadata_gold_pending), \
                (SELECT count(*) FROM metadata_gold_failures)",
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        bronze_pending: row.try_get(0)?,
        oldest_pending_epoch: parse_ts(row.try_get(1)?).map(|t| t.timestamp()),
        gold_pending: row.try_get(2)?,
        gold_failed: row.try_get(3)?,
    })
}

pub(super) async fn latest_gold_date(pool: &SqlitePool) -> Result<Option<NaiveDate>, StoreError> {
    let day: Option<String> =
        sqlx::query_scalar("SELECT max(transaction_date) FROM scout_scout_gold_transactions")
            .fetch_one(pool)
            .await?;
    Ok(day.and_then(|d| d.parse().ok()))
}

pub(super) async fn gold_day(
    pool: &SqlitePool,
    date: NaiveDate,
    store_id: Option<&str>,
) -> Result<Vec<GoldRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT transaction_date, store_id, brand_name, product_category, revenue_centavos, \
         transaction_count, unique_customers, avg_basket_size, units_sold \
         FROM scout_scout_gold_transactions \
         WHERE transaction_date = ?1 AND (?2 IS NULL OR store_id = ?2) \
         ORDER BY store_id, revenue_centavos DESC, brand_name, product_category",
    )
    .bind(date.to_string())
    .bind(store_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(GoldRow {
                transaction_date: r.try_get::<String, _>(0)?.parse().unwrap_or(date),
                store_id: r.try_get(1)?,
                brand_name: r.try_get(2)?,
                product_category: r.try_get(3)?,
                revenue_centavos: r.try_get(4)?,
                transaction_count: r.try_get(5)?,
                unique_customers: r.try_get(6)?,
                avg_basket_size: r.try_get(7)?,
                units_sold: r.try_get(8)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}
