//! Running the shared types on the backend at hand: every `match` between SQLite and
//! PostgreSQL that the flows need is here, calling into `sqlite.rs` and `postgres.rs`, so the
//! flows (`devices.rs`, `silver.rs`, `gold.rs`, `views.rs`) import neither backend and neither
//! backend imports a flow.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, Postgres, Row as _, Sqlite};

use super::error::StoreError;
use super::sql::{Arg, Claim, Column, Db, Partition, Record, Row, Tx, sqlite_text};
use super::{postgres, sqlite};
use crate::bronze::BronzeRow;

macro_rules! plain_getter {
    ($name:ident, $ty:ty) => {
        pub fn $name(&self, c: impl Column) -> Result<$ty, StoreError> {
            Ok(match self {
                Self::Sqlite(r) => r.try_get(c)?,
                Self::Postgres(r) => r.try_get(c)?,
            })
        }
    };
}

impl Row {
    plain_getter!(text, String);
    plain_getter!(opt_text, Option<String>);
    plain_getter!(int, i64);
    plain_getter!(opt_int, Option<i64>);
    plain_getter!(float, f64);
    plain_getter!(opt_float, Option<f64>);
    plain_getter!(bool, bool);

    /// A timestamp (text on SQLite; a missing or unreadable one is `None`).
    pub fn opt_time(&self, c: impl Column) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(match self {
            Self::Sqlite(r) => sqlite::parse_ts(r.try_get(c)?),
            Self::Postgres(r) => r.try_get(c)?,
        })
    }

    /// A timestamp that is always set (the epoch when SQLite holds an unreadable one).
    pub fn time(&self, c: impl Column) -> Result<DateTime<Utc>, StoreError> {
        Ok(self.opt_time(c)?.unwrap_or_default())
    }

    /// A date (`YYYY-MM-DD` text on SQLite).
    pub fn opt_date(&self, c: impl Column) -> Result<Option<NaiveDate>, StoreError> {
        Ok(match self {
            Self::Sqlite(r) => r
                .try_get::<Option<String>, _>(c)?
                .and_then(|d| d.parse().ok()),
            Self::Postgres(r) => r.try_get(c)?,
        })
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn sqlite_query<'q>(sql: &str, args: &[Arg<'q>]) -> SqliteQuery<'q> {
    let query = sqlx::query(AssertSqlSafe(sqlite_text(sql)));
    args.iter().fold(query, |q, a| q.bind(*a))
}

fn pg_query<'q>(sql: &str, args: &[Arg<'q>]) -> PgQuery<'q> {
    let query = sqlx::query(AssertSqlSafe(sql.to_owned()));
    args.iter().fold(query, |q, a| q.bind(*a))
}

impl Db {
    /// Runs a statement; returns the rows it changed.
    pub async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => sqlite_query(sql, args).execute(pool).await?.rows_affected(),
            Self::Postgres(pool) => pg_query(sql, args).execute(pool).await?.rows_affected(),
        })
    }

    pub async fn fetch(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => {
                let rows = sqlite_query(sql, args).fetch_all(pool).await?;
                rows.into_iter().map(Row::Sqlite).collect()
            }
            Self::Postgres(pool) => {
                let rows = pg_query(sql, args).fetch_all(pool).await?;
                rows.into_iter().map(Row::Postgres).collect()
            }
        })
    }

    pub async fn fetch_one(&self, sql: &str, args: &[Arg<'_>]) -> Result<Row, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => Row::Sqlite(sqlite_query(sql, args).fetch_one(pool).await?),
            Self::Postgres(pool) => Row::Postgres(pg_query(sql, args).fetch_one(pool).await?),
        })
    }

    /// Opens a transaction that will write. SQLite takes its one write lock at once
    /// (`BEGIN IMMEDIATE`), so whatever the transaction reads stays true until it commits and
    /// two processes on one file never claim the same work; PostgreSQL locks rows as it claims
    /// them (`FOR UPDATE SKIP LOCKED`).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }
}

impl Db {
    /// Opens a transaction that writes only what can be derived again from bronze (a silver
    /// batch): on PostgreSQL its commit does not wait for the WAL flush
    /// ([`postgres::DERIVED_COMMIT`] says why that loses nothing).
    pub async fn begin_derived(&self) -> Result<Tx, StoreError> {
        let mut tx = self.begin().await?;
        if let Self::Postgres(_) = self
            && let Err(e) = tx.execute(postgres::DERIVED_COMMIT, &[]).await
        {
            tx.rollback().await;
            return Err(e);
        }
        Ok(tx)
    }
}

impl Tx {
    pub async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        Ok(match self {
            Self::Sqlite(tx) => sqlite_query(sql, args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Self::Postgres(tx) => pg_query(sql, args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    pub async fn fetch(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        Ok(match self {
            Self::Sqlite(tx) => {
                let rows = sqlite_query(sql, args).fetch_all(&mut **tx).await?;
                rows.into_iter().map(Row::Sqlite).collect()
            }
            Self::Postgres(tx) => {
                let rows = pg_query(sql, args).fetch_all(&mut **tx).await?;
                rows.into_iter().map(Row::Postgres).collect()
            }
        })
    }

    /// Writes `rows` in bulk: `COPY` on PostgreSQL, multi-row `INSERT`s on SQLite.
    pub async fn write<R: Record>(&mut self, rows: &[&R]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Self::Sqlite(tx) => sqlite::write(tx, rows).await,
            Self::Postgres(tx) => postgres::write(tx, rows).await,
        }
    }

    /// Commits `result`'s work, or rolls back at once when it failed. A dropped transaction is
    /// rolled back only when its connection goes back to the pool, in a task of its own; until
    /// then PostgreSQL keeps its row locks, and a retry of the same rows by id (`SKIP LOCKED`)
    /// would find nothing to claim.
    pub async fn finish<T>(self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match result {
            Ok(done) => {
                self.commit().await?;
                Ok(done)
            }
            Err(e) => {
                self.rollback().await;
                Err(e)
            }
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(tx) => tx.commit().await?,
            Self::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) {
        let result = match self {
            Self::Sqlite(tx) => tx.rollback().await,
            Self::Postgres(tx) => tx.rollback().await,
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "rolling back a failed transaction failed");
        }
    }
}

impl Db {
    /// Lands bronze rows with the backend's bulk strategy; returns how many were new.
    pub async fn insert_bronze(&self, rows: &[BronzeRow]) -> Result<u64, StoreError> {
        match self {
            Self::Sqlite(pool) => sqlite::insert_bronze(pool, rows).await,
            Self::Postgres(pool) => postgres::insert_bronze(pool, rows).await,
        }
    }
}

impl Tx {
    /// The statement that takes bronze ids off silver's queue, and its argument.
    pub fn claim_bronze_statement<'a>(&self, claim: Claim<'a, i64>) -> (&'static str, Arg<'a>) {
        match self {
            Self::Sqlite(_) => sqlite::claim_bronze(claim),
            Self::Postgres(_) => postgres::claim_bronze(claim),
        }
    }

    pub(super) async fn claim_partitions(
        &mut self,
        claim: Claim<'_, Partition>,
    ) -> Result<Vec<Partition>, StoreError> {
        match self {
            Self::Sqlite(tx) => sqlite::claim_partitions(tx, claim).await,
            Self::Postgres(tx) => postgres::claim_partitions(tx, claim).await,
        }
    }

    pub(super) async fn rebuild_gold(&mut self, keys: &[Partition]) -> Result<u64, StoreError> {
        match self {
            Self::Sqlite(tx) => sqlite::rebuild_gold(tx, keys).await,
            Self::Postgres(tx) => postgres::rebuild_gold(tx, keys).await,
        }
    }

    /// Queues partitions for gold (sorted and distinct: writers lock queue rows in one order).
    pub(super) async fn queue_partitions(
        &mut self,
        mut keys: Vec<Partition>,
    ) -> Result<usize, StoreError> {
        keys.sort_unstable();
        keys.dedup();
        if !keys.is_empty() {
            match self {
                Self::Sqlite(tx) => sqlite::queue_partitions(tx, &keys).await?,
                Self::Postgres(tx) => postgres::queue_partitions(tx, &keys).await?,
            }
        }
        Ok(keys.len())
    }
}
