//! Queries that must not write: the platinum layer's generated SQL runs only here. PostgreSQL
//! runs each in a transaction set `READ ONLY` with a `statement_timeout` local to it, rolled
//! back afterwards; SQLite runs it on a connection opened read-only (`SQLITE_OPEN_READONLY`,
//! `PRAGMA query_only`) whose progress handler interrupts it at the deadline. Either way at
//! most `max_rows` rows come back.

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

/// The reader pool's options: the writer's file, opened read-only, never created.
pub(super) fn sqlite_options(writer: &SqliteConnectOptions) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(writer.get_filename())
        .read_only(true)
        .create_if_missing(false)
        .pragma("query_only", "ON")
        .busy_timeout(Duration::from_secs(5))
}

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
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                let ms = limits.timeout.as_millis().clamp(1, i32::MAX as u128);
                sqlx::query(AssertSqlSafe(format!("SET LOCAL statement_timeout = {ms}")))
                    .execute(&mut *tx)
                    .await?;
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

    /// Whether the connection read-only queries use refuses writes: `true` when the database
    /// says so (`transaction_read_only` on PostgreSQL, `query_only` on SQLite).
    pub async fn reader_is_read_only(&self) -> Result<bool, StoreError> {
        Ok(match &self.reader {
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query("SHOW transaction_read_only")
                    .fetch_one(&mut *tx)
                    .await?;
                tx.rollback().await?;
                row.try_get::<String, _>(0)? == "on"
            }
            Db::Sqlite(pool) => {
                let row = sqlx::query("PRAGMA query_only").fetch_one(pool).await?;
                row.try_get::<i64, _>(0)? == 1
            }
        })
    }
}
