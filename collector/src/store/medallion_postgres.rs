//! PostgreSQL side of the medallion stages (see `medallion.rs` for the coordination rules).
//! Rows travel as arrays turned back into rows by `UNNEST`: one statement per table per batch.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::StoreError;
use super::medallion::{
    Backlog, BuildSilver, Claim, GoldBatch, GoldRow, Partition, SilverBatch, counts,
    customer_aggregates, finish, gold_aggregates, partitions, run_build,
};
use crate::silver::{BronzeRecord, SilverOutcome};

/// The columns a silver batch reads of a bronze row.
const BRONZE_COLUMNS: &str = "SELECT id, transaction_id, store_id, device_id, \
     transaction_timestamp, payload::text AS payload, captured_at, device_seq, agent_version \
     FROM bronze.scout_raw_transactions WHERE silver_processed_at IS NULL";

/// Claims pending bronze rows (their ids go to `claimed` as soon as they are locked), builds and
/// writes their silver rows, in one transaction.
pub(super) async fn silver_batch(
    pool: &PgPool,
    claim: Claim<'_, i64>,
    build: BuildSilver,
    claimed: &mut Vec<i64>,
) -> Result<SilverBatch, StoreError> {
    let mut tx = pool.begin().await?;
    let result = silver_batch_in(&mut tx, claim, build, claimed).await;
    finish(tx, result).await
}

async fn silver_batch_in(
    tx: &mut Transaction<'_, Postgres>,
    claim: Claim<'_, i64>,
    build: BuildSilver,
    claimed: &mut Vec<i64>,
) -> Result<SilverBatch, StoreError> {
    let rows = match claim {
        Claim::Next(limit) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{BRONZE_COLUMNS} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
            )))
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?
        }
        Claim::Only(ids) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{BRONZE_COLUMNS} AND id = ANY($1) ORDER BY id FOR UPDATE SKIP LOCKED"
            )))
            .bind(ids)
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
    let records = rows
        .iter()
        .map(|r| {
            Ok(BronzeRecord {
                bronze_id: r.try_get("id")?,
                transaction_id: r.try_get("transaction_id")?,
                store_id: r.try_get("store_id")?,
                device_id: r.try_get("device_id")?,
                transaction_timestamp: r.try_get("transaction_timestamp")?,
                payload: r.try_get("payload")?,
                captured_at: r.try_get("captured_at")?,
                device_seq: r.try_get("device_seq")?,
                agent_version: r.try_get("agent_version")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    drop(rows);
    let outcomes = run_build(build, records).await?;
    let queued = write_silver(tx, &outcomes).await?;
    Ok(counts(&outcomes, queued))
}

async fn write_silver(
    tx: &mut Transaction<'_, Postgres>,
    outcomes: &[SilverOutcome],
) -> Result<usize, StoreError> {
    let bronze_ids: Vec<i64> = outcomes.iter().map(|o| o.bronze_id).collect();
    // Re-processing replaces: the old rows go, and their partitions are rebuilt too.
    let old = sqlx::query(
        "DELETE FROM silver.transactions_cleaned WHERE bronze_id = ANY($1) \
         RETURNING transaction_date, store_id",
    )
    .bind(&bronze_ids)
    .fetch_all(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM silver.transactions_quarantine WHERE bronze_id = ANY($1)")
        .bind(&bronze_ids)
        .execute(&mut **tx)
        .await?;
    let mut keys = Vec::new();
    for r in &old {
        keys.push((r.try_get::<NaiveDate, _>(0)?, r.try_get::<String, _>(1)?));
    }
    insert_rows(tx, outcomes).await?;
    insert_rejects(tx, outcomes).await?;
    keys.extend(
        outcomes
            .iter()
            .flat_map(|o| &o.rows)
            .map(|r| (r.transaction_date, r.store_id.clone())),
    );
    let keys = partitions(keys);
    let (dates, stores): (Vec<NaiveDate>, Vec<String>) = keys.into_iter().unzip();
    sqlx::query(
        "INSERT INTO metadata.gold_pending (transaction_date, store_id, marked_at) \
         SELECT d, s, now() FROM UNNEST($1::date[], $2::text[]) AS k(d, s) ORDER BY d, s \
         ON CONFLICT (transaction_date, store_id) DO UPDATE SET marked_at = excluded.marked_at",
    )
    .bind(&dates)
    .bind(&stores)
    .execute(&mut **tx)
    .await?;
    let scores: Vec<f64> = outcomes.iter().map(|o| o.quality_score).collect();
    let metadata: Vec<&str> = outcomes
        .iter()
        .map(|o| o.bronze_metadata.as_str())
        .collect();
    sqlx::query(
        "UPDATE bronze.scout_raw_transactions b SET silver_processed_at = now(), \
         quality_score = u.score, processing_metadata = b.processing_metadata || u.meta::jsonb \
         FROM UNNEST($1::int8[], $2::float8[], $3::text[]) AS u(id, score, meta) \
         WHERE b.id = u.id",
    )
    .bind(&bronze_ids)
    .bind(&scores)
    .bind(&metadata)
    .execute(&mut **tx)
    .await?;
    Ok(dates.len())
}

async fn insert_rows(
    tx: &mut Transaction<'_, Postgres>,
    outcomes: &[SilverOutcome],
) -> Result<(), StoreError> {
    let rows: Vec<_> = outcomes.iter().flat_map(|o| &o.rows).collect();
    if rows.is_empty() {
        return Ok(());
    }
    macro_rules! column {
        ($f:expr) => {
            rows.iter().map($f).collect::<Vec<_>>()
        };
    }
    sqlx::query(
        "INSERT INTO silver.transactions_cleaned (id, transaction_id, \"timestamp\", \
         transaction_date, amount, payment_method, product_category, brand_name, sku, \
         customer_id, store_id, device_id, age_bracket, gender, location_data, data_source, \
         quality_score, bronze_id, item_index, amount_centavos, quantity, unit_price, \
         product_name, device_brand, brand_method, brand_source, brand_score, quality_issues, \
         daypart, day_type, basket_units, basket_band, first_in_group, first_in_basket) \
         SELECT id, transaction_id, ts, d, (centavos::numeric / 100)::numeric(14, 2), pay, cat, \
         brand, sku, customer, store, device, age, gender, loc::jsonb, src, score, bronze, idx, \
         centavos, qty, unit::numeric(14, 2), product, dbrand, method, bsource, bscore, \
         issues::jsonb, daypart, daytype, units, band, fg, fb \
         FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::date[], $5::int8[], \
         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
         $13::text[], $14::text[], $15::text[], $16::text[], $17::float8[], $18::int8[], \
         $19::int4[], $20::float8[], $21::float8[], $22::text[], $23::text[], $24::text[], \
         $25::text[], $26::float8[], $27::text[], $28::text[], $29::text[], $30::float8[], \
         $31::text[], $32::bool[], $33::bool[]) \
         AS t(id, transaction_id, ts, d, centavos, pay, cat, brand, sku, customer, store, \
         device, age, gender, loc, src, score, bronze, idx, qty, unit, product, dbrand, method, \
         bsource, bscore, issues, daypart, daytype, units, band, fg, fb)",
    )
    .bind(column!(|r| r.id.as_str()))
    .bind(column!(|r| r.transaction_id.as_str()))
    .bind(column!(|r| r.timestamp))
    .bind(column!(|r| r.transaction_date))
    .bind(column!(|r| r.amount_centavos))
    .bind(column!(|r| r.payment_method.as_str()))
    .bind(column!(|r| r.product_category.as_str()))
    .bind(column!(|r| r.brand_name.as_str()))
    .bind(column!(|r| r.sku.as_deref()))
    .bind(column!(|r| r.customer_id.as_deref()))
    .bind(column!(|r| r.store_id.as_str()))
    .bind(column!(|r| r.device_id.as_str()))
    .bind(column!(|r| r.age_bracket.as_deref()))
    .bind(column!(|r| r.gender.as_deref()))
    .bind(column!(|r| r.location_data.as_deref()))
    .bind(column!(|r| r.data_source))
    .bind(column!(|r| r.quality_score))
    .bind(column!(|r| r.bronze_id))
    .bind(column!(|r| r.item_index))
    .bind(column!(|r| r.quantity))
    .bind(column!(|r| r.unit_price))
    .bind(column!(|r| r.product_name.as_deref()))
    .bind(column!(|r| r.device_brand.as_deref()))
    .bind(column!(|r| r.brand_method))
    .bind(column!(|r| r.brand_source))
    .bind(column!(|r| r.brand_score))
    .bind(column!(|r| r.quality_issues.as_str()))
    .bind(column!(|r| r.daypart))
    .bind(column!(|r| r.day_type))
    .bind(column!(|r| r.basket_units))
    .bind(column!(|r| r.basket_band))
    .bind(column!(|r| r.first_in_group))
    .bind(column!(|r| r.first_in_basket))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_rejects(
    tx: &mut Transaction<'_, Postgres>,
    outcomes: &[SilverOutcome],
) -> Result<(), StoreError> {
    let rejects: Vec<_> = outcomes.iter().flat_map(|o| &o.rejects).collect();
    if rejects.is_empty() {
        return Ok(());
    }
    macro_rules! column {
        ($f:expr) => {
            rejects.iter().map($f).collect::<Vec<_>>()
        };
    }
    sqlx::query(
        "INSERT INTO silver.transactions_quarantine (bronze_id, transaction_id, device_id, \
         store_id, item_index, reasons, record, quality_score, quality_issues) \
         SELECT bronze, txn, device, store, idx, reasons::jsonb, record::jsonb, score, \
         issues::jsonb \
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[], \
         $7::text[], $8::float8[], $9::text[]) \
         AS t(bronze, txn, device, store, idx, reasons, record, score, issues)",
    )
    .bind(column!(|r| r.bronze_id))
    .bind(column!(|r| r.transaction_id.as_str()))
    .bind(column!(|r| r.device_id.as_str()))
    .bind(column!(|r| r.store_id.as_deref()))
    .bind(column!(|r| r.item_index))
    .bind(column!(|r| r.reasons.as_str()))
    .bind(column!(|r| r.record.as_deref()))
    .bind(column!(|r| r.quality_score))
    .bind(column!(|r| r.quality_issues.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The claimed partitions as a row source, for the rebuild statements: inlined where used (a
/// materialised CTE would keep the aggregates from running in parallel).
const CLAIMED: &str =
    "k AS NOT MATERIALIZED (SELECT * FROM UNNEST($1::date[], $2::text[]) AS k(d, s))";

/// Gold rows (date × store × brand × category) of the claimed partitions, named after the
/// columns of `scout.scout_gold_transactions`; anonymous baskets count one customer each.
fn gold_rows() -> String {
    format!(
        "WITH {CLAIMED}, {} \
         SELECT a.transaction_date, a.brand_name, a.product_category, a.store_id, \
           (a.centavos / 100.0)::numeric(14, 2) AS revenue_peso, \
           a.transactions AS transaction_count, \
           a.anonymous + coalesce(n.n, 0) AS unique_customers, \
           round(a.basket::numeric, 4)::float8 AS avg_basket_size, a.centavos AS revenue_centavos, \
           round(a.units::numeric, 4)::float8 AS units_sold, a.item_rows, \
           round(a.quality::numeric, 4)::float8 AS avg_quality_score \
         FROM a LEFT JOIN known n USING (transaction_date, store_id, brand_name, product_category)",
        gold_aggregates("silver.transactions_cleaned")
    )
}

/// Customer analytics rows (date × store × daypart × day type × payment × basket band) of the
/// claimed partitions, named after the columns of `gold.customer_analytics`.
fn customer_rows() -> String {
    format!(
        "WITH {CLAIMED}, {} \
         SELECT a.transaction_date, a.store_id, a.daypart, a.day_type, a.payment_method, \
           a.basket_band, a.transactions AS transaction_count, \
           a.anonymous + coalesce(n.n, 0) AS unique_customers, \
           (a.centavos / 100.0)::numeric(14, 2) AS revenue_peso, a.centavos AS revenue_centavos, \
           round(a.centavos / 100.0 / a.transactions, 2) AS avg_basket_value, \
           round(a.units::numeric, 4)::float8 AS avg_basket_units \
         FROM a LEFT JOIN known n \
           USING (transaction_date, store_id, daypart, day_type, payment_method, basket_band)",
        customer_aggregates("silver.transactions_cleaned")
    )
}

/// Runs `select` (rows named after `table`'s columns) for the claimed partitions and inserts its
/// rows into `table`. Returns the number of rows inserted.
async fn copy_aggregate(
    tx: &mut Transaction<'_, Postgres>,
    dates: &[NaiveDate],
    stores: &[String],
    select: &str,
    table: &str,
    columns: &str,
) -> Result<u64, StoreError> {
    let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(json_agg(r), '[]')::text FROM ({select}) r"
    )))
    .bind(dates)
    .bind(stores)
    .persistent(false)
    .fetch_one(&mut **tx)
    .await?;
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} ({columns}) SELECT {columns} \
         FROM json_populate_recordset(NULL::{table}, $1::json)"
    )))
    .bind(rows)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted)
}

/// Claims queued partitions (they go to `claimed` as soon as they are taken off the queue) and
/// rebuilds them, in one transaction.
pub(super) async fn gold_batch(
    pool: &PgPool,
    claim: Claim<'_, Partition>,
    claimed: &mut Vec<Partition>,
) -> Result<GoldBatch, StoreError> {
    let mut tx = pool.begin().await?;
    let result = gold_batch_in(&mut tx, claim, claimed).await;
    finish(tx, result).await
}

async fn gold_batch_in(
    tx: &mut Transaction<'_, Postgres>,
    claim: Claim<'_, Partition>,
    claimed: &mut Vec<Partition>,
) -> Result<GoldBatch, StoreError> {
    let rows = match claim {
        Claim::Next(limit) => {
            sqlx::query(
                "DELETE FROM metadata.gold_pending p USING ( \
                   SELECT transaction_date, store_id FROM metadata.gold_pending \
                   ORDER BY transaction_date, store_id LIMIT $1 FOR UPDATE SKIP LOCKED) c \
                 WHERE p.transaction_date = c.transaction_date AND p.store_id = c.store_id \
                 RETURNING p.transaction_date, p.store_id",
            )
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?
        }
        Claim::Only(only) => {
            let (dates, stores): (Vec<NaiveDate>, Vec<&str>) =
                only.iter().map(|(d, s)| (*d, s.as_str())).unzip();
            sqlx::query(
                "DELETE FROM metadata.gold_pending p USING ( \
                   SELECT transaction_date, store_id FROM metadata.gold_pending \
                   WHERE (transaction_date, store_id) IN \
                     (SELECT * FROM UNNEST($1::date[], $2::text[])) \
                   ORDER BY transaction_date, store_id FOR UPDATE SKIP LOCKED) c \
                 WHERE p.transaction_date = c.transaction_date AND p.store_id = c.store_id \
                 RETURNING p.transaction_date, p.store_id",
            )
            .bind(dates)
            .bind(stores)
            .fetch_all(&mut **tx)
            .await?
        }
    };
    if rows.is_empty() {
        return Ok(GoldBatch::default());
    }
    let mut dates = Vec::with_capacity(rows.len());
    let mut stores = Vec::with_capacity(rows.len());
    for r in &rows {
        let (day, store) = (r.try_get::<NaiveDate, _>(0)?, r.try_get::<String, _>(1)?);
        claimed.push((day, store.clone()));
        dates.push(day);
        stores.push(store);
    }
    drop(rows);
    for table in [
        // A partition rebuilt is no longer a failed one.
        "metadata.gold_failures",
        "scout.scout_gold_transactions",
        "gold.product_analytics",
        "gold.customer_analytics",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} g USING UNNEST($1::date[], $2::text[]) AS k(d, s) \
             WHERE g.transaction_date = k.d AND g.store_id = k.s"
        )))
        .bind(&dates)
        .bind(&stores)
        .execute(&mut **tx)
        .await?;
    }
    // Plain sums over silver's flags (`first_in_group`, `first_in_basket`): one pass per table,
    // no regrouping per transaction, and integer centavos rather than numeric pesos.
    //
    // Each aggregate is a plain `SELECT`, so PostgreSQL may scan and aggregate silver with
    // parallel workers (it never does for the `SELECT` under an `INSERT`, or with a data-changing
    // CTE); its rows come back as one JSON document and go straight into the insert. They are
    // not prepared statements, so every plan sees how many partitions were claimed. A large batch
    // (a rebuild) reads silver sequentially and hashes rather than sorting a million rows on text
    // keys; a small one (today's new rows) goes through the index. JIT compilation is off: it
    // costs more than a second on these queries and saves nothing.
    let large = dates.len() > 64;
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut **tx)
        .await?;
    sqlx::query("SET LOCAL jit = off")
        .execute(&mut **tx)
        .await?;
    if large {
        sqlx::query("SET LOCAL enable_nestloop = off")
            .execute(&mut **tx)
            .await?;
        sqlx::query("SET LOCAL enable_sort = off")
            .execute(&mut **tx)
            .await?;
    }
    let gold = copy_aggregate(
        tx,
        &dates,
        &stores,
        &gold_rows(),
        "scout.scout_gold_transactions",
        "transaction_date, brand_name, product_category, store_id, revenue_peso, \
         transaction_count, unique_customers, avg_basket_size, revenue_centavos, units_sold, \
         item_rows, avg_quality_score",
    )
    .await?;
    copy_aggregate(
        tx,
        &dates,
        &stores,
        &customer_rows(),
        "gold.customer_analytics",
        "transaction_date, store_id, daypart, day_type, payment_method, basket_band, \
         transaction_count, unique_customers, revenue_peso, revenue_centavos, avg_basket_value, \
         avg_basket_units",
    )
    .await?;
    // Product analytics share gold's grain: derived from the gold rows just written (its
    // window functions sort a few rows per partition).
    if large {
        sqlx::query("SET LOCAL enable_sort = on")
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH {CLAIMED} \
         INSERT INTO gold.product_analytics (transaction_date, store_id, product_category, \
           brand_name, revenue_peso, revenue_centavos, units_sold, transaction_count, \
           avg_unit_price, category_revenue_share, store_revenue_share, rank_in_category, \
           avg_quality_score) \
         SELECT g.transaction_date, g.store_id, g.product_category, g.brand_name, \
           g.revenue_peso, g.revenue_centavos, g.units_sold, g.transaction_count, \
           CASE WHEN g.units_sold > 0 THEN round(g.revenue_peso / g.units_sold::numeric, 2) END, \
           round(g.revenue_centavos::numeric / nullif(sum(g.revenue_centavos) OVER \
             (PARTITION BY g.transaction_date, g.store_id, g.product_category), 0), 4)::float8, \
           round(g.revenue_centavos::numeric / nullif(sum(g.revenue_centavos) OVER \
             (PARTITION BY g.transaction_date, g.store_id), 0), 4)::float8, \
           row_number() OVER (PARTITION BY g.transaction_date, g.store_id, g.product_category \
             ORDER BY g.revenue_centavos DESC, g.brand_name), \
           g.avg_quality_score \
         FROM scout.scout_gold_transactions g JOIN k ON g.transaction_date = k.d AND g.store_id = k.s"
    )))
    .bind(&dates)
    .bind(&stores)
    .execute(&mut **tx)
    .await?;
    Ok(GoldBatch {
        partitions: dates.len() as u64,
        gold_rows: gold,
    })
}

pub(super) async fn set_aside_gold(
    pool: &PgPool,
    day: NaiveDate,
    store_id: &str,
    error: &str,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let taken = sqlx::query(
        "DELETE FROM metadata.gold_pending p USING ( \
           SELECT transaction_date, store_id FROM metadata.gold_pending \
           WHERE transaction_date = $1 AND store_id = $2 FOR UPDATE SKIP LOCKED) c \
         WHERE p.transaction_date = c.transaction_date AND p.store_id = c.store_id",
    )
    .bind(day)
    .bind(store_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if taken == 0 {
        tx.commit().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO metadata.gold_failures (transaction_date, store_id, error, failed_at) \
         VALUES ($1, $2, $3, now()) ON CONFLICT (transaction_date, store_id) \
         DO UPDATE SET error = excluded.error, failed_at = excluded.failed_at",
    )
    .bind(day)
    .bind(store_id)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn reset(pool: &PgPool) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let marked = sqlx::query(
        "UPDATE bronze.scout_raw_transactions SET silver_processed_at = NULL \
         WHERE silver_processed_at IS NOT NULL",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(QUEUE_ALL).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(marked)
}

pub(super) async fn queue_gold_rebuild(pool: &PgPool) -> Result<u64, StoreError> {
    Ok(sqlx::query(QUEUE_ALL).execute(pool).await?.rows_affected())
}

/// Queues every partition that has silver rows.
const QUEUE_ALL: &str = "INSERT INTO metadata.gold_pending (transaction_date, store_id, marked_at) \
     SELECT DISTINCT transaction_date, store_id, now() FROM silver.transactions_cleaned \
     ON CONFLICT (transaction_date, store_id) DO UPDATE SET marked_at = excluded.marked_at";

pub(super) async fn backlog(pool: &PgPool) -> Result<Backlog, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM bronze.scout_raw_transactions \
                 WHERE silver_processed_at IS NULL), \
                (SELECT min(ingested_at) FROM bronze.scout_raw_transactions \
                 WHERE silver_processed_at IS NULL), \
                (SELECT count(*) FROM metadata.gold_pending), \
                (SELECT count(*) FROM metadata.gold_failures)",
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        bronze_pending: row.try_get(0)?,
        oldest_pending_epoch: row
            .try_get::<Option<DateTime<Utc>>, _>(1)?
            .map(|t| t.timestamp()),
        gold_pending: row.try_get(2)?,
        gold_failed: row.try_get(3)?,
    })
}

pub(super) async fn latest_gold_date(pool: &PgPool) -> Result<Option<NaiveDate>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT max(transaction_date) FROM scout.scout_gold_transactions")
            .fetch_one(pool)
            .await?,
    )
}

pub(super) async fn gold_day(
    pool: &PgPool,
    date: NaiveDate,
    store_id: Option<&str>,
) -> Result<Vec<GoldRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT transaction_date, store_id, brand_name, product_category, revenue_centavos, \
         transaction_count, unique_customers, avg_basket_size, units_sold \
         FROM scout.scout_gold_transactions \
         WHERE transaction_date = $1 AND ($2::text IS NULL OR store_id = $2) \
         ORDER BY store_id, revenue_centavos DESC, brand_name, product_category",
    )
    .bind(date)
    .bind(store_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(GoldRow {
                transaction_date: r.try_get(0)?,
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
