//! Queries that must not write: the platinum layer's generated SQL runs only here. PostgreSQL
//! runs each in a `READ ONLY` transaction with a `statement_timeout` local to it, rolled back
//! afterwards, and as the role [`READER_ROLE`] (set local to the transaction), which may read the
//! catalogue's three tables and nothing else (migration `20261207000300`); where the database
//! user could not be given that role the transaction alone keeps the query read-only. SQLite
//! runs it on a connection opened read-only (`SQLITE_OPEN_READONLY`, `PRAGMA query_only`) whose
//! progress handler interrupts it at the deadline. Either way at most `max_rows` rows come
//! back.

use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Row as _};

use super::Store;
use super::error::StoreError;
use super::sql::{Arg, Db, Row, sqlite_text};

/// How long a read-only query may run and how many rows it may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    pub timeout: Duration,
    pub max_rows: usize,
}

/// The reader pool's options: the writer's file, opened read-only, never created. Its scans
/// read the file through a memory map (up to 1 GiB of it; the rest, and the write-ahead log,
/// through reads): pages come straight from the operating system's cache, shared by every
/// reader connection, instead of being copied into each connection's own page cache.
pub(super) fn sqlite_options(writer: &SqliteConnectOptions) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(writer.get_filename())
        .read_only(true)
        .create_if_missing(false)
        .pragma("query_only", "ON")
        .pragma("mmap_size", "1073741824")
        .busy_timeout(Duration::from_secs(5))
}

/// The PostgreSQL role read-only queries run as when the database user may take it.
pub const READER_ROLE: &str = "scout_reader";

/// Whether the connecting user may take [`READER_ROLE`] and the role may read every table of
/// the catalogue (false when the role does not exist).
const READER_ROLE_USABLE: &str = "SELECT coalesce((SELECT pg_has_role(current_user, r.oid, 'MEMBER') \
       AND has_table_privilege(r.oid, 'silver.transactions_cleaned', 'SELECT') \
       AND has_table_privilege(r.oid, 'scout.scout_gold_transactions', 'SELECT') \
       AND has_table_privilege(r.oid, 'gold.customer_analytics', 'SELECT') \
       AND has_table_privilege(r.oid, 'gold.basket_analytics', 'SELECT') \
       AND has_table_privilege(r.oid, 'gold.brand_daypart_analytics', 'SELECT') \
       AND has_table_privilege(r.oid, 'gold.brand_payment_analytics', 'SELECT') \
     FROM pg_roles r WHERE r.rolname = $1), false)";

/// SQLite virtual-machine steps between two looks at the clock.
const PROGRESS_STEPS: i32 = 10_000;

impl Store {
    /// Runs one query that cannot write, within `limits`; returns at most `limits.max_rows`
    /// rows. A statement that tries to write fails with the database's error.
    pub async fn read_only_query(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        limits: ReadLimits,
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows = match &self.reader {
            Db::Postgres(pool) => {
                let role = self.reader_role().await?;
                let mut tx = pool.begin_with("BEGIN READ ONLY").await?;
                let ms = limits.timeout.as_millis().clamp(1, i32::MAX as u128);
                // Both settings local to the transaction, in one round trip.
                let limit = match role {
                    Some(role) => sqlx::query(
                        "SELECT set_config('statement_timeout', $1, true), \
                         set_config('role', $2, true)",
                    )
                    .bind(ms.to_string())
                    .bind(role),
                    None => sqlx::query("SELECT set_config('statement_timeout', $1, true)")
                        .bind(ms.to_string()),
                };
                limit.execute(&mut *tx).await?;
                let query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                let fetched = args
                    .iter()
                    .fold(query, |q, a| q.bind(*a))
                    .fetch_all(&mut *tx)
                    .await;
                // Nothing to keep: a read-only transaction ends the same either way.
                tx.rollback().await?;
                fetched?.into_iter().map(Row::Postgres).collect::<Vec<_>>()
            }
            Db::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let deadline = Instant::now() + limits.timeout;
                conn.lock_handle()
                    .await?
                    .set_progress_handler(PROGRESS_STEPS, move || Instant::now() < deadline);
                let text = sqlite_text(sql);
                let query = sqlx::query(AssertSqlSafe(text));
                let fetched = args
                    .iter()
                    .fold(query, |q, a| q.bind(*a))
                    .fetch_all(&mut *conn)
                    .await;
                conn.lock_handle().await?.remove_progress_handler();
                fetched?.into_iter().map(Row::Sqlite).collect::<Vec<_>>()
            }
        };
        rows.truncate(limits.max_rows);
        Ok(rows)
    }

    /// The role read-only queries run as on PostgreSQL: [`READER_ROLE`] when the database
    /// user may take it and it may read the catalogue, `None` otherwise (and on SQLite). Asked
    /// once per pool.
    pub async fn reader_role(&self) -> Result<Option<&'static str>, StoreError> {
        let Db::Postgres(pool) = &self.reader else {
            return Ok(None);
        };
        let usable = self
            .reader_role
            .get_or_try_init(|| async {
                let row = sqlx::query(READER_ROLE_USABLE)
                    .bind(READER_ROLE)
                    .fetch_one(pool)
                    .await?;
                let usable = row.try_get::<bool, _>(0)?;
                if !usable {
                    tracing::warn!(
                        "the database user cannot take the role {READER_ROLE}: platinum's \
                         queries rely on read-only transactions alone"
                    );
                }
                Ok::<_, StoreError>(usable)
            })
            .await?;
        Ok(usable.then_some(READER_ROLE))
    }

    /// Who read-only queries run as and whether their connection refuses writes, as the
    /// database says inside such a query: (`current_user` on PostgreSQL, `None` on SQLite;
    /// `transaction_read_only` on PostgreSQL, `query_only` on SQLite).
    pub async fn reader_identity(&self) -> Result<(Option<String>, bool), StoreError> {
        let limits = ReadLimits {
            timeout: Duration::from_secs(5),
            max_rows: 1,
        };
        Ok(match &self.reader {
            Db::Postgres(_) => {
                let rows = self
                    .read_only_query(
                        "SELECT current_user::text, current_setting('transaction_read_only')",
                        &[],
                        limits,
                    )
                    .await?;
                let row = rows
                    .first()
                    .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
                (Some(row.text(0)?), row.text(1)? == "on")
            }
            Db::Sqlite(pool) => {
                let row = sqlx::query("PRAGMA query_only").fetch_one(pool).await?;
                (None, row.try_get::<i64, _>(0)? == 1)
            }
        })
    }
}
