//! Backend-neutral views of the database, for tests, benchmarks and operators' tools: SQL
//! spelled for PostgreSQL runs on either backend (see `sql.rs`), and rows come back through
//! [`Row`]'s typed getters, so a check is written once for both.

use super::Store;
use super::error::StoreError;
use super::sql::{Arg, Row};

impl Store {
    /// Runs a statement; returns the number of rows it changed.
    pub async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        self.db.execute(sql, args).await
    }

    /// Runs a query; returns its rows.
    pub async fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        self.db.fetch(sql, args).await
    }

    /// Runs a query that returns one integer (a count, a sum); NULL reads as 0.
    pub async fn query_int(&self, sql: &str, args: &[Arg<'_>]) -> Result<i64, StoreError> {
        Ok(self.db.fetch_one(sql, args).await?.opt_int(0)?.unwrap_or(0))
    }

    /// Runs a query whose first column is text (cast it in the query where needed) and returns
    /// that column of every row.
    pub async fn query_texts(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Option<String>>, StoreError> {
        self.db
            .fetch(sql, args)
            .await?
            .iter()
            .map(|r| r.opt_text(0))
            .collect()
    }
}
