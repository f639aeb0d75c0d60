//! Silver's side of the store, written once for both backends. The pipeline drives it:
//! [`Store::claim_silver`] takes pending bronze rows off the queue in an open transaction, the
//! pipeline builds their silver rows off the async runtime, [`SilverClaim::write`] writes them
//! part by part as they are built (replacing any earlier result for the same bronze rows), and
//! [`SilverClaim::commit`] writes the last part, queues the (day, store) partitions they touch
//! for gold, and commits; dropping or releasing the claim puts the rows
//! back on the queue.

use chrono::{DateTime, Utc};

use super::error::StoreError;
use super::sql::{Arg, Claim, Partition, Record, Tx};
use super::{Backend, Store};

/// A bronze row as the silver stage reads it.
#[derive(Debug, Clone)]
pub struct BronzeRecord {
    pub bronze_id: i64,
    pub transaction_id: String,
    pub store_id: Option<String>,
    pub device_id: String,
    pub transaction_timestamp: DateTime<Utc>,
    /// The payload as received (JSON text, the agent's stamp already lifted out).
    pub payload: String,
    pub captured_at: Option<DateTime<Utc>>,
    pub device_seq: Option<i64>,
    pub agent_version: Option<String>,
    /// The way in it landed by (`processing_metadata.endpoint`: `/v1/ingest`, `file`, …).
    pub endpoint: Option<String>,
}

/// What a silver batch writes: its silver rows, quarantine rows and bronze quality rows, and
/// the (day, store) partitions its silver rows fall in.
#[derive(Debug)]
pub struct SilverWrite<'a, R, Q, S> {
    pub rows: Vec<&'a R>,
    pub rejects: Vec<&'a Q>,
    pub scores: Vec<&'a S>,
    pub partitions: Vec<Partition>,
}

/// Pending bronze rows taken off silver's queue, held by an open transaction.
#[derive(Debug)]
pub struct SilverClaim {
    tx: Tx,
    ids: Vec<i64>,
    /// The claimed ids that already have silver results (re-processed rows): only theirs are
    /// deleted before the new ones are written.
    earlier: Vec<i64>,
    records: Vec<BronzeRecord>,
    /// The partitions the parts written so far touch.
    partitions: Vec<Partition>,
}

/// The columns a silver batch reads of a bronze row. Not sorted by the database: rows of a few
/// KB each would overflow the sort's memory and spill to disk; they are put in id order here.
const READ_BRONZE: &str = "SELECT id, transaction_id, store_id, device_id, \
     transaction_timestamp, payload::text AS payload, captured_at, device_seq, agent_version, \
     processing_metadata->>'endpoint' AS endpoint FROM bronze.raw_transactions WHERE id = ANY($1)";

/// What a claim returns of each id taken off the queue: the id, and whether the bronze row
/// already has silver results. A row has results only once a batch wrote them, and every batch
/// writes its quality row with them, so one probe of the quality table's key answers for nearly
/// every row processed before; the silver and quarantine probes cover rows that were queued
/// again for a rebuild when the queue moved out of bronze (their quality score was not carried
/// over). A row landed since, on its first pass, has nothing to replace, and its batch skips the
/// deletes. (The queue is named in full: SQLite's `RETURNING` knows no alias.)
const CLAIMED: &str = "RETURNING metadata.silver_pending.bronze_id, \
     EXISTS (SELECT 1 FROM bronze.transaction_quality q \
       WHERE q.bronze_id = metadata.silver_pending.bronze_id) \
     OR EXISTS (SELECT 1 FROM silver.transactions_cleaned s \
       WHERE s.bronze_id = metadata.silver_pending.bronze_id) \
     OR EXISTS (SELECT 1 FROM silver.transactions_quarantine r \
       WHERE r.bronze_id = metadata.silver_pending.bronze_id) AS earlier";

impl Store {
    /// Takes pending bronze rows off silver's queue (the first `limit` in id order, or those of
    /// the given ids still pending; on PostgreSQL, skipping any another worker holds).
    pub async fn claim_silver(&self, claim: Claim<'_, i64>) -> Result<SilverClaim, StoreError> {
        let mut tx = self.db.begin_derived().await?;
        match tx.claim_bronze(claim).await {
            Ok((ids, earlier, records)) => Ok(SilverClaim {
                tx,
                ids,
                earlier,
                records,
                partitions: Vec::new(),
            }),
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Refreshes the query planner's statistics of silver on PostgreSQL (a sample of the
    /// table; SQLite's plans for gold go through its indexes without them).
    pub async fn analyze_silver(&self) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Postgres => self
                .db
                .execute("ANALYZE silver.transactions_cleaned", &[])
                .await
                .map(drop),
            Backend::Sqlite => Ok(()),
        }
    }
}

impl Tx {
    async fn claim_bronze(
        &mut self,
        claim: Claim<'_, i64>,
    ) -> Result<(Vec<i64>, Vec<i64>, Vec<BronzeRecord>), StoreError> {
        let (take, arg) = self.claim_bronze_statement(claim);
        let mut ids = Vec::new();
        let mut earlier = Vec::new();
        for r in self.fetch(&format!("{take} {CLAIMED}"), &[arg]).await? {
            let id = r.int(0)?;
            ids.push(id);
            if r.bool(1)? {
                earlier.push(id);
            }
        }
        if ids.is_empty() {
            return Ok((ids, earlier, Vec::new()));
        }
        ids.sort_unstable();
        earlier.sort_unstable();
        let mut records: Vec<BronzeRecord> = self
            .fetch(READ_BRONZE, &[Arg::Ids(&ids)])
            .await?
            .iter()
            .map(|r| {
                Ok(BronzeRecord {
                    bronze_id: r.int("id")?,
                    transaction_id: r.text("transaction_id")?,
                    store_id: r.opt_text("store_id")?,
                    device_id: r.text("device_id")?,
                    transaction_timestamp: r.time("transaction_timestamp")?,
                    payload: r.text("payload")?,
                    captured_at: r.opt_time("captured_at")?,
                    device_seq: r.opt_int("device_seq")?,
                    agent_version: r.opt_text("agent_version")?,
                    endpoint: r.opt_text("endpoint")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        records.sort_unstable_by_key(|r| r.bronze_id);
        Ok((ids, earlier, records))
    }
}

impl SilverClaim {
    /// The bronze ids taken off the queue, ascending.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The claimed bronze rows, for the build.
    pub fn take_records(&mut self) -> Vec<BronzeRecord> {
        std::mem::take(&mut self.records)
    }

    /// Writes a part of the batch's results, in the claim's transaction: the first part written
    /// also deletes the claimed rows' earlier silver, quarantine and quality rows, if they have
    /// any. Nothing is visible before [`SilverClaim::commit`]; after an error, release the claim.
    pub async fn write<R: Record, Q: Record, S: Record>(
        &mut self,
        write: SilverWrite<'_, R, Q, S>,
    ) -> Result<(), StoreError> {
        if !self.earlier.is_empty() {
            let earlier = std::mem::take(&mut self.earlier);
            let replaced = delete_earlier::<R, Q, S>(&mut self.tx, &earlier).await?;
            self.partitions.extend(replaced);
        }
        self.partitions.extend(write.partitions);
        self.tx.write(&write.rows).await?;
        self.tx.write(&write.rejects).await?;
        self.tx.write(&write.scores).await
    }

    /// Writes the last part (see [`SilverClaim::write`]), queues the partitions touched (the
    /// new rows' and those of rows replaced) and commits; rolls back on an error. Returns the
    /// number of partitions queued.
    pub async fn commit<R: Record, Q: Record, S: Record>(
        mut self,
        write: SilverWrite<'_, R, Q, S>,
    ) -> Result<usize, StoreError> {
        let result = match self.write(write).await {
            Ok(()) => {
                let partitions = std::mem::take(&mut self.partitions);
                self.tx.queue_partitions(partitions).await
            }
            Err(e) => Err(e),
        };
        self.tx.finish(result).await
    }

    /// Gives the claimed rows back to the queue.
    pub async fn release(self) {
        self.tx.rollback().await;
    }
}

/// Deletes the earlier silver, quarantine and quality rows of `earlier`; returns the partitions
/// their silver rows were in.
async fn delete_earlier<R: Record, Q: Record, S: Record>(
    tx: &mut Tx,
    earlier: &[i64],
) -> Result<Vec<Partition>, StoreError> {
    let ids = [Arg::Ids(earlier)];
    let sql = format!(
        "DELETE FROM {} WHERE bronze_id = ANY($1) RETURNING transaction_date, store_id",
        R::TABLE
    );
    let mut partitions = Vec::new();
    for r in tx.fetch(&sql, &ids).await? {
        if let Some(day) = r.opt_date(0)? {
            partitions.push((day, r.text(1)?));
        }
    }
    for table in [Q::TABLE, S::TABLE] {
        let sql = format!("DELETE FROM {table} WHERE bronze_id = ANY($1)");
        tx.execute(&sql, &ids).await?;
    }
    Ok(partitions)
}
