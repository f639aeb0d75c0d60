//! A PostgreSQL database that belongs to one benchmark run: created from an admin URL, dropped
//! (with any connections left) by `drop_now`.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

pub struct BenchDatabase {
    admin: PgConnection,
    name: String,
    /// URL of the new database.
    pub url: String,
}

impl BenchDatabase {
    pub async fn create(admin_url: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", std::process::id());
        let mut admin = PgConnection::connect(admin_url).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let url = sqlx::postgres::PgConnectOptions::from_str(admin_url)
            .unwrap()
            .database(&name)
            .to_url_lossy()
            .to_string();
        Self { admin, name, url }
    }

    pub async fn drop_now(mut self) {
        self.admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {} WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap();
    }
}
