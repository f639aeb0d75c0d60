//! Moving old rows to the archive (`archive.*` on PostgreSQL, `archive_*` on SQLite) for the
//! weekly maintenance, one batch per transaction: a batch copies its rows into the archive and
//! deletes them from the live tables in the same transaction, so a run cut short loses and
//! doubles nothing (the archive's unique keys would refuse a double copy), and the next run
//! carries on. Gold is never touched.
//!
//! Which bronze rows move: landed before the cut, processed (not queued for silver, scored),
//! and every silver row of theirs on a business day before the cut's day whose gold is built
//! (the day × store neither queued for gold nor failed). A row's score, silver rows and
//! quarantine records move with it. Staging rows move by `created_at` alone.

use chrono::{DateTime, NaiveDate, Utc};

use super::Store;
use super::error::StoreError;
use super::sql::Arg;

/// The bronze rows that may move (PostgreSQL spelling): `$1` the cut, `$2` the cut's business
/// day.
const BRONZE_MOVABLE: &str = "FROM bronze.raw_transactions b \
     WHERE b.ingested_at < $1 \
       AND NOT EXISTS (SELECT 1 FROM metadata.silver_pending p WHERE p.bronze_id = b.id) \
       AND EXISTS (SELECT 1 FROM bronze.transaction_quality q WHERE q.bronze_id = b.id) \
       AND NOT EXISTS (SELECT 1 FROM silver.transactions_cleaned s WHERE s.bronze_id = b.id \
         AND (s.transaction_date >= $2 \
           OR EXISTS (SELECT 1 FROM metadata.gold_pending g \
                      WHERE g.transaction_date = s.transaction_date AND g.store_id = s.store_id) \
           OR EXISTS (SELECT 1 FROM metadata.gold_failures f \
                      WHERE f.transaction_date = s.transaction_date AND f.store_id = s.store_id)))";

/// What one batch (or a dry run's count) moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    pub staging_files: u64,
    pub bronze_rows: u64,
    pub bronze_scores: u64,
    pub silver_rows: u64,
    pub quarantine_rows: u64,
}

impl Moved {
    pub fn add(&mut self, other: Moved) {
        self.staging_files += other.staging_files;
        self.bronze_rows += other.bronze_rows;
        self.bronze_scores += other.bronze_scores;
        self.silver_rows += other.silver_rows;
        self.quarantine_rows += other.quarantine_rows;
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One table a batch moves: its rows whose id column holds one of the ids bound as `$1` are
/// copied into the archive's table of the same name and deleted from the live one; the count
/// deleted goes to the field the function picks.
type Move = (&'static str, &'static str, fn(&mut Moved) -> &mut u64);

const STAGING_MOVES: [Move; 1] = [("staging.universal_file_ingestion", "id", |m| {
    &mut m.staging_files
})];

/// A bronze row's dependants first, the row itself last.
const BRONZE_MOVES: [Move; 4] = [
    ("silver.transactions_cleaned", "bronze_id", |m| {
        &mut m.silver_rows
    }),
    ("silver.transactions_quarantine", "bronze_id", |m| {
        &mut m.quarantine_rows
    }),
    ("bronze.transaction_quality", "bronze_id", |m| {
        &mut m.bronze_scores
    }),
    ("bronze.raw_transactions", "id", |m| &mut m.bronze_rows),
];

impl Store {
    /// What would move before `cut` (business day `cut_day`), without moving it.
    pub async fn archive_preview(
        &self,
        cut: DateTime<Utc>,
        cut_day: NaiveDate,
    ) -> Result<Moved, StoreError> {
        let args = [Arg::from(cut), Arg::Date(cut_day)];
        let n = |sql: String| async move { self.query_int(&sql, &args).await };
        let ids = format!("SELECT b.id {BRONZE_MOVABLE}");
        Ok(Moved {
            staging_files: self
                .query_int(
                    "SELECT count(*) FROM staging.universal_file_ingestion WHERE created_at < $1",
                    &args[..1],
                )
                .await? as u64,
            bronze_rows: n(format!("SELECT count(*) {BRONZE_MOVABLE}")).await? as u64,
            bronze_scores: n(format!(
                "SELECT count(*) FROM bronze.transaction_quality WHERE bronze_id IN ({ids})"
            ))
            .await? as u64,
            silver_rows: n(format!(
                "SELECT count(*) FROM silver.transactions_cleaned WHERE bronze_id IN ({ids})"
            ))
            .await? as u64,
            quarantine_rows: n(format!(
                "SELECT count(*) FROM silver.transactions_quarantine WHERE bronze_id IN ({ids})"
            ))
            .await? as u64,
        })
    }

    /// Moves up to `limit` staging rows created before `cut`, in one transaction.
    pub async fn archive_staging_batch(
        &self,
        cut: DateTime<Utc>,
        limit: usize,
    ) -> Result<Moved, StoreError> {
        let select = format!(
            "SELECT id FROM staging.universal_file_ingestion WHERE created_at < $1 \
             ORDER BY id LIMIT {limit}"
        );
        self.move_batch(&select, &[Arg::from(cut)], &STAGING_MOVES)
            .await
    }

    /// Moves up to `limit` movable bronze rows (with their scores, silver rows and quarantine
    /// records) in one transaction.
    pub async fn archive_bronze_batch(
        &self,
        cut: DateTime<Utc>,
        cut_day: NaiveDate,
        limit: usize,
    ) -> Result<Moved, StoreError> {
        let select = format!("SELECT b.id {BRONZE_MOVABLE} ORDER BY b.id LIMIT {limit}");
        self.move_batch(
            &select,
            &[Arg::from(cut), Arg::Date(cut_day)],
            &BRONZE_MOVES,
        )
        .await
    }

    /// One batch in one transaction: the ids `select` finds, through each of `moves` in order.
    async fn move_batch(
        &self,
        select: &str,
        args: &[Arg<'_>],
        moves: &[Move],
    ) -> Result<Moved, StoreError> {
        let mut tx = self.db.begin().await?;
        let moved = async {
            let ids = ids(tx.fetch(select, args).await?)?;
            let mut moved = Moved::default();
            if ids.is_empty() {
                return Ok(moved);
            }
            let list = [Arg::Ids(&ids)];
            for (live, column, count) in moves {
                let name = live.split_once('.').map_or(*live, |(_, name)| name);
                tx.execute(
                    &format!(
                        "INSERT INTO archive.{name} SELECT * FROM {live} WHERE {column} = ANY($1)"
                    ),
                    &list,
                )
                .await?;
                *count(&mut moved) = tx
                    .execute(
                        &format!("DELETE FROM {live} WHERE {column} = ANY($1)"),
                        &list,
                    )
                    .await?;
            }
            Ok(moved)
        }
        .await;
        tx.finish(moved).await
    }

    /// After the moves: statistics and indexes. PostgreSQL: `ANALYZE`, then `REINDEX TABLE
    /// CONCURRENTLY` of the pipeline's tables (each its own statement, outside a transaction);
    /// SQLite: `VACUUM`, `ANALYZE`, `PRAGMA optimize`, and the write-ahead log cut back.
    /// Returns the statements run.
    pub async fn tidy(&self) -> Result<Vec<String>, StoreError> {
        let statements: Vec<String> = match self.backend() {
            super::Backend::Postgres => std::iter::once("ANALYZE".to_owned())
                .chain(
                    [
                        "staging.universal_file_ingestion",
                        "bronze.raw_transactions",
                        "bronze.transaction_quality",
                        "silver.transactions_cleaned",
                        "silver.transactions_quarantine",
                        "scout.scout_gold_transactions",
                    ]
                    .iter()
                    .map(|t| format!("REINDEX TABLE CONCURRENTLY {t}")),
                )
                .collect(),
            super::Backend::Sqlite => [
                "VACUUM",
                "ANALYZE",
                "PRAGMA optimize",
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        for statement in &statements {
            self.db.execute(statement, &[]).await?;
        }
        Ok(statements)
    }
}

fn ids(rows: Vec<super::sql::Row>) -> Result<Vec<i64>, StoreError> {
    rows.iter().map(|r| r.int(0)).collect()
}
