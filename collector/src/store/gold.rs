//! Gold's flow, written once: claim queued (day, store) partitions, rebuild their gold, product
//! and customer rows from silver, commit; plus the queue's upkeep and the reads of gold. A
//! partition is rebuilt from silver and its rows the weekly maintenance archived
//! (`archive.transactions_cleaned`), so a late transaction for an archived day keeps the day
//! whole.
//!
//! The rebuild's SQL is shared too (the `SELECT`s below); each backend only says how the
//! claimed partitions become a row source `k(d, s)` and how a `SELECT`'s rows are inserted.

use std::ops::AddAssign;

use chrono::{NaiveDate, Utc};
use serde::Serialize;

use super::Store;
use super::error::StoreError;
use super::sql::{Arg, Claim, Partition};

/// What one gold batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoldBatch {
    pub partitions: u64,
    pub gold_rows: u64,
}

impl AddAssign for GoldBatch {
    fn add_assign(&mut self, b: Self) {
        self.partitions += b.partitions;
        self.gold_rows += b.gold_rows;
    }
}

/// Work waiting for the stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    /// Bronze rows not yet in silver.
    pub bronze_pending: i64,
    /// Ingest time of the oldest of them (seconds since the epoch), if any.
    pub oldest_pending_epoch: Option<i64>,
    /// (day, store) partitions waiting for a gold rebuild.
    pub gold_pending: i64,
    /// Partitions whose last rebuild the database refused (`metadata.gold_failures`).
    pub gold_failed: i64,
}

/// One gold row, as `kpis` and `demo` print it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldRow {
    pub transaction_date: NaiveDate,
    pub store_id: String,
    pub brand_name: String,
    pub product_category: String,
    pub revenue_centavos: i64,
    pub transaction_count: i64,
    pub unique_customers: i64,
    pub avg_basket_size: f64,
    pub units_sold: f64,
}

/// Tables whose rows of a partition a rebuild replaces (a rebuilt partition is no longer a
/// failed one).
pub(super) const REBUILT: [&str; 7] = [
    "metadata.gold_failures",
    "scout.scout_gold_transactions",
    "gold.product_analytics",
    "gold.customer_analytics",
    "gold.basket_analytics",
    "gold.brand_daypart_analytics",
    "gold.brand_payment_analytics",
];

/// Silver and its archived rows, as every aggregate reads them for the claimed partitions. Each
/// table is joined with the partitions on its own, so both backends look the partitions up in
/// each table's (day, store) index; SQLite would otherwise copy both tables whole into a
/// temporary one for every statement, however few partitions were claimed.
macro_rules! claimed_silver {
    () => {
        "FROM (SELECT t.* FROM k JOIN silver.transactions_cleaned t \
         ON t.transaction_date = k.d AND t.store_id = k.s \
         UNION ALL SELECT t.* FROM k JOIN archive.transactions_cleaned t \
         ON t.transaction_date = k.d AND t.store_id = k.s) t"
    };
}

/// [`claimed_silver!`] as a constant, for a backend that plans a large claim's aggregates
/// differently (PostgreSQL: `postgres.rs`).
pub(super) const CLAIMED_SILVER: &str = claimed_silver!();

/// One table a rebuild fills: its `SELECT` over the claimed partitions `k(d, s)` (after the
/// common table expressions in `ctes`), which yields `columns` in order.
pub(super) struct Aggregate {
    pub table: &'static str,
    pub columns: &'static str,
    /// Common table expressions the `SELECT` needs besides `k`, each preceded by a comma.
    pub ctes: &'static str,
    pub select: &'static str,
}

/// Basket analytics (customer analytics' grain × age bracket × gender), for platinum's
/// questions about shoppers: whole baskets per row (every row of a transaction falls in the same
/// group), so transaction counts, revenue and units add up over any of its dimensions. Read from
/// silver; customer analytics are rolled up from it.
pub(super) const BASKETS: Aggregate = Aggregate {
    table: "gold.basket_analytics",
    columns: "transaction_date, store_id, daypart, day_type, payment_method, basket_band, \
              age_bracket, gender, transaction_count, revenue_centavos, units_sold, \
              anonymous_transactions",
    ctes: "",
    select: concat!(
        "SELECT t.transaction_date, t.store_id, t.daypart, t.day_type, t.payment_method, \
         t.basket_band, t.age_bracket, t.gender, \
         count(*) FILTER (WHERE t.first_in_basket) AS transaction_count, \
         sum(t.amount_centavos) AS revenue_centavos, \
         round(sum(t.quantity)::numeric, 4)::float8 AS units_sold, \
         count(*) FILTER (WHERE t.first_in_basket AND t.customer_id IS NULL) \
           AS anonymous_transactions ",
        claimed_silver!(),
        " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    ),
};

/// What the brand × daypart and brand × payment rows hold after their grain's own columns: the
/// brand and category, then revenue, units, item rows and baskets counted three ways.
macro_rules! brand_figures {
    () => {
        "coalesce(t.brand_name, 'Unknown') AS brand_name, t.product_category, \
         sum(t.amount_centavos) AS revenue_centavos, \
         round(sum(t.quantity)::numeric, 4)::float8 AS units_sold, \
         count(*) AS item_rows, \
         count(*) FILTER (WHERE t.first_in_group) AS transaction_count, \
         count(*) FILTER (WHERE t.first_in_brand) AS brand_transactions, \
         count(*) FILTER (WHERE t.first_in_category) AS category_transactions"
    };
}

/// Brand × daypart analytics (gold's grain × daypart × day type), for platinum's questions
/// about brands and categories by time of day: revenue and units add up over any of its
/// dimensions; baskets are counted three ways (per brand × category, per brand, per category:
/// each basket once, on silver's first row of it), so a count adds up wherever its brand or
/// category is fixed. Read from silver; gold is rolled up from it (hence the sums of anonymous
/// baskets, basket units and quality scores). Silver's unresolved brand (NULL) is labelled
/// `Unknown` here, so gold's grain stays NOT NULL. Quality scores (four decimals in silver) are
/// summed as whole ten-thousandths: the same exact total, and PostgreSQL adds integers far faster
/// than `numeric`s (the sum took 0.6 s of this aggregate's 2.0 s over 1,000,000 items).
pub(super) const BRAND_DAYPARTS: Aggregate = Aggregate {
    table: "gold.brand_daypart_analytics",
    columns: "transaction_date, store_id, daypart, day_type, brand_name, product_category, \
              revenue_centavos, units_sold, item_rows, transaction_count, brand_transactions, \
              category_transactions, anonymous_transactions, basket_units, quality_score_total",
    ctes: "",
    select: concat!(
        "SELECT t.transaction_date, t.store_id, t.daypart, t.day_type, ",
        brand_figures!(),
        ", count(*) FILTER (WHERE t.first_in_group AND t.customer_id IS NULL) \
           AS anonymous_transactions, \
         coalesce(sum(t.basket_units) FILTER (WHERE t.first_in_group), 0) AS basket_units, \
         sum(round(t.quality_score * 10000)::int4) / 10000.0 AS quality_score_total ",
        claimed_silver!(),
        " GROUP BY 1, 2, 3, 4, 5, 6"
    ),
};

/// Brand × payment analytics (gold's grain × day type × payment method), for platinum's
/// questions about brands and categories by payment: counted as the brand × daypart rows are.
pub(super) const BRAND_PAYMENTS: Aggregate = Aggregate {
    table: "gold.brand_payment_analytics",
    columns: "transaction_date, store_id, day_type, payment_method, brand_name, \
              product_category, revenue_centavos, units_sold, item_rows, transaction_count, \
              brand_transactions, category_transactions",
    ctes: "",
    select: concat!(
        "SELECT t.transaction_date, t.store_id, t.day_type, t.payment_method, ",
        brand_figures!(),
        " ",
        claimed_silver!(),
        " GROUP BY 1, 2, 3, 4, 5, 6"
    ),
};

/// The claimed partitions' rows of an analytics table just rebuilt, for the roll-ups.
macro_rules! claimed {
    ($table:literal) => {
        concat!(
            "FROM k JOIN ",
            $table,
            " t ON t.transaction_date = k.d AND t.store_id = k.s"
        )
    };
}

/// Gold (day × store × brand × category), rolled up from the brand × daypart rows. `known`
/// counts distinct customer ids at gold's grain from the few silver rows that carry one (an index
/// holds just those); anonymous baskets count one customer each.
pub(super) const GOLD: Aggregate = Aggregate {
    table: "scout.scout_gold_transactions",
    columns: "transaction_date, brand_name, product_category, store_id, revenue_peso, \
              transaction_count, unique_customers, avg_basket_size, revenue_centavos, \
              units_sold, item_rows, avg_quality_score",
    ctes: concat!(
        ", known AS ( \
           SELECT t.transaction_date, t.store_id, \
             coalesce(t.brand_name, 'Unknown') AS brand_name, t.product_category, \
             count(DISTINCT t.customer_id) AS n \
           ",
        claimed_silver!(),
        " \
           WHERE t.customer_id IS NOT NULL GROUP BY 1, 2, 3, 4), \
         a AS ( \
           SELECT t.transaction_date, t.store_id, t.brand_name, t.product_category, \
             sum(t.revenue_centavos) AS centavos, sum(t.transaction_count) AS transactions, \
             sum(t.anonymous_transactions) AS anonymous, \
             sum(t.basket_units) / nullif(sum(t.transaction_count), 0) AS basket, \
             sum(t.units_sold) AS units, sum(t.item_rows) AS item_rows, \
             sum(t.quality_score_total) / sum(t.item_rows) AS quality \
           ",
        claimed!("gold.brand_daypart_analytics"),
        " \
           GROUP BY 1, 2, 3, 4)"
    ),
    select: "SELECT a.transaction_date, a.brand_name, a.product_category, a.store_id, \
           (a.centavos / 100.0)::numeric(14, 2) AS revenue_peso, \
           a.transactions AS transaction_count, \
           a.anonymous + coalesce(n.n, 0) AS unique_customers, \
           round(a.basket::numeric, 4)::float8 AS avg_basket_size, \
           a.centavos AS revenue_centavos, \
           round(a.units::numeric, 4)::float8 AS units_sold, a.item_rows, \
           round(a.quality::numeric, 4) AS avg_quality_score \
         FROM a LEFT JOIN known n \
           USING (transaction_date, store_id, brand_name, product_category)",
};

/// Customer analytics (date × store × daypart × day type × payment × basket band), rolled up
/// from the basket rows: whole baskets per group, so a basket's units are its group's units.
pub(super) const CUSTOMERS: Aggregate = Aggregate {
    table: "gold.customer_analytics",
    columns: "transaction_date, store_id, daypart, day_type, payment_method, basket_band, \
              transaction_count, unique_customers, revenue_peso, revenue_centavos, \
              avg_basket_value, avg_basket_units",
    ctes: concat!(
        ", known AS ( \
           SELECT t.transaction_date, t.store_id, t.daypart, t.day_type, t.payment_method, \
             t.basket_band, count(DISTINCT t.customer_id) AS n \
           ",
        claimed_silver!(),
        " \
           WHERE t.customer_id IS NOT NULL AND t.first_in_basket GROUP BY 1, 2, 3, 4, 5, 6), \
         a AS ( \
           SELECT t.transaction_date, t.store_id, t.daypart, t.day_type, t.payment_method, \
             t.basket_band, sum(t.revenue_centavos) AS centavos, \
             sum(t.transaction_count) AS transactions, \
             sum(t.anonymous_transactions) AS anonymous, \
             sum(t.units_sold) / nullif(sum(t.transaction_count), 0) AS units \
           ",
        claimed!("gold.basket_analytics"),
        " \
           GROUP BY 1, 2, 3, 4, 5, 6)"
    ),
    select: "SELECT a.transaction_date, a.store_id, a.daypart, a.day_type, a.payment_method, \
           a.basket_band, a.transactions AS transaction_count, \
           a.anonymous + coalesce(n.n, 0) AS unique_customers, \
           (a.centavos / 100.0)::numeric(14, 2) AS revenue_peso, \
           a.centavos AS revenue_centavos, \
           round(a.centavos / 100.0 / a.transactions, 2) AS avg_basket_value, \
           round(a.units::numeric, 4)::float8 AS avg_basket_units \
         FROM a LEFT JOIN known n \
           USING (transaction_date, store_id, daypart, day_type, payment_method, basket_band)",
};

/// What a rebuild fills, in order: the three analytics tables read from silver, then the
/// tables rolled up from them (gold first: a rebuild reports the rows it wrote there) and from
/// gold.
pub(super) const FROM_SILVER: [&Aggregate; 3] = [&BASKETS, &BRAND_DAYPARTS, &BRAND_PAYMENTS];
pub(super) const ROLLED_UP: [&Aggregate; 3] = [&GOLD, &CUSTOMERS, &PRODUCTS];

/// Product analytics share gold's grain: derived from the gold rows just written (window
/// functions over a few rows per partition).
pub(super) const PRODUCTS: Aggregate = Aggregate {
    table: "gold.product_analytics",
    columns: "transaction_date, store_id, product_category, brand_name, revenue_peso, \
              revenue_centavos, units_sold, transaction_count, avg_unit_price, \
              category_revenue_share, store_revenue_share, rank_in_category, avg_quality_score",
    ctes: "",
    select: "SELECT g.transaction_date, g.store_id, g.product_category, g.brand_name, \
           g.revenue_peso, g.revenue_centavos, g.units_sold, g.transaction_count, \
           CASE WHEN g.units_sold > 0 \
             THEN round(g.revenue_centavos::numeric / 100.0 / g.units_sold::numeric, 2) \
           END AS avg_unit_price, \
           round(g.revenue_centavos::numeric * 1.0 / nullif(sum(g.revenue_centavos) OVER \
             (PARTITION BY g.transaction_date, g.store_id, g.product_category), 0), 4)::float8 \
             AS category_revenue_share, \
           round(g.revenue_centavos::numeric * 1.0 / nullif(sum(g.revenue_centavos) OVER \
             (PARTITION BY g.transaction_date, g.store_id), 0), 4)::float8 \
             AS store_revenue_share, \
           row_number() OVER (PARTITION BY g.transaction_date, g.store_id, g.product_category \
             ORDER BY g.revenue_centavos DESC, g.brand_name) AS rank_in_category, \
           g.avg_quality_score \
         FROM scout.scout_gold_transactions g JOIN k \
           ON g.transaction_date = k.d AND g.store_id = k.s",
};

/// Queues every partition that has silver rows.
const QUEUE_ALL: &str = "INSERT INTO metadata.gold_pending (transaction_date, store_id, \
     marked_at) SELECT DISTINCT transaction_date, store_id, $1 FROM silver.transactions_cleaned \
     WHERE true ON CONFLICT (transaction_date, store_id) \
     DO UPDATE SET marked_at = excluded.marked_at";

impl Store {
    /// Claims up to `limit` queued (day, store) partitions and rebuilds their gold and analytics
    /// rows from silver, in one transaction. Returns the partitions claimed (also when the batch
    /// failed: its rollback put them back) and what the batch did.
    pub async fn gold_batch(&self, limit: i64) -> (Vec<Partition>, Result<GoldBatch, StoreError>) {
        self.gold_claiming(Claim::Next(limit)).await
    }

    /// As [`Store::gold_batch`], for those of `partitions` still queued (on PostgreSQL, skipping
    /// any another worker holds): how the pipeline retries a failed batch in smaller ones.
    pub async fn gold_batch_of(
        &self,
        partitions: &[Partition],
    ) -> (Vec<Partition>, Result<GoldBatch, StoreError>) {
        self.gold_claiming(Claim::Only(partitions)).await
    }

    async fn gold_claiming(
        &self,
        claim: Claim<'_, Partition>,
    ) -> (Vec<Partition>, Result<GoldBatch, StoreError>) {
        let mut tx = match self.db.begin().await {
            Ok(tx) => tx,
            Err(e) => return (Vec::new(), Err(e)),
        };
        let keys = match tx.claim_partitions(claim).await {
            Ok(keys) => keys,
            Err(e) => return (Vec::new(), tx.finish(Err(e)).await),
        };
        let result = if keys.is_empty() {
            Ok(GoldBatch::default())
        } else {
            tx.rebuild_gold(&keys).await.map(|gold_rows| GoldBatch {
                partitions: keys.len() as u64,
                gold_rows,
            })
        };
        (keys, tx.finish(result).await)
    }

    /// Takes a partition whose rebuild failed on its own off the gold queue and records it, with
    /// the database's message, in `metadata.gold_failures` (its gold rows stay as last built).
    /// Returns false when the partition was no longer queued, or another worker holds it.
    pub async fn set_aside_gold(
        &self,
        day: NaiveDate,
        store_id: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        let partition = [(day, store_id.to_owned())];
        let result = async {
            if tx
                .claim_partitions(Claim::Only(&partition))
                .await?
                .is_empty()
            {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO metadata.gold_failures (transaction_date, store_id, error, \
                 failed_at) VALUES ($1, $2, $3, $4) ON CONFLICT (transaction_date, store_id) \
                 DO UPDATE SET error = excluded.error, failed_at = excluded.failed_at",
                &[day.into(), store_id.into(), error.into(), Utc::now().into()],
            )
            .await?;
            Ok(true)
        }
        .await;
        tx.finish(result).await
    }

    /// Queues every bronze row for silver again and every silver partition for gold, so the
    /// stages rebuild silver and gold from scratch (after a dictionary change, say). Returns the
    /// number of bronze rows queued.
    pub async fn reset_medallion(&self) -> Result<u64, StoreError> {
        let mut tx = self.db.begin().await?;
        let result = async {
            let queued = tx
                .execute(
                    "INSERT INTO metadata.silver_pending (bronze_id) \
                     SELECT id FROM bronze.raw_transactions WHERE true \
                     ON CONFLICT (bronze_id) DO NOTHING",
                    &[],
                )
                .await?;
            tx.execute(QUEUE_ALL, &[Utc::now().into()]).await?;
            Ok(queued)
        }
        .await;
        tx.finish(result).await
    }

    /// Queues every (day, store) partition that has silver rows, so gold is rebuilt from silver
    /// as it stands. Returns the number queued.
    pub async fn queue_gold_rebuild(&self) -> Result<u64, StoreError> {
        self.db.execute(QUEUE_ALL, &[Utc::now().into()]).await
    }

    /// Work waiting for the stages.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let row = self
            .db
            .fetch_one(
                "SELECT (SELECT count(*) FROM metadata.silver_pending), \
                 (SELECT min(b.ingested_at) FROM metadata.silver_pending p \
                  JOIN bronze.raw_transactions b ON b.id = p.bronze_id), \
                 (SELECT count(*) FROM metadata.gold_pending), \
                 (SELECT count(*) FROM metadata.gold_failures)",
                &[],
            )
            .await?;
        Ok(Backlog {
            bronze_pending: row.int(0)?,
            oldest_pending_epoch: row.opt_time(1)?.map(|t| t.timestamp()),
            gold_pending: row.int(2)?,
            gold_failed: row.int(3)?,
        })
    }

    /// The newest business day in gold.
    pub async fn latest_gold_date(&self) -> Result<Option<NaiveDate>, StoreError> {
        self.db
            .fetch_one(
                "SELECT max(transaction_date) FROM scout.scout_gold_transactions",
                &[],
            )
            .await?
            .opt_date(0)
    }

    /// Gold rows of one day (optionally one store), by store then revenue, largest first.
    pub async fn gold_day(
        &self,
        date: NaiveDate,
        store_id: Option<&str>,
    ) -> Result<Vec<GoldRow>, StoreError> {
        let rows = self
            .db
            .fetch(
                "SELECT transaction_date, store_id, brand_name, product_category, \
                 revenue_centavos, transaction_count, unique_customers, avg_basket_size, \
                 units_sold FROM scout.scout_gold_transactions \
                 WHERE transaction_date = $1 AND ($2::text IS NULL OR store_id = $2) \
                 ORDER BY store_id, revenue_centavos DESC, brand_name, product_category",
                &[date.into(), Arg::Text(store_id)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(GoldRow {
                    transaction_date: r.opt_date(0)?.unwrap_or(date),
                    store_id: r.text(1)?,
                    brand_name: r.text(2)?,
                    product_category: r.text(3)?,
                    revenue_centavos: r.int(4)?,
                    transaction_count: r.int(5)?,
                    unique_customers: r.int(6)?,
                    avg_basket_size: r.float(7)?,
                    units_sold: r.float(8)?,
                })
            })
            .collect()
    }
}
