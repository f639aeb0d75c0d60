//! A PostgreSQL database that belongs to one benchmark run: created from an admin URL, dropped
//! (with any connections left) by `drop_now`.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

/// The PostgreSQL server benches make their databases on: `SCOUT_BENCH_PG_URL`, default the
/// local server's `postgres` database.
#[allow(dead_code)] // not every bench that includes this file asks for it
pub fn admin_url() -> String {
    std::env::var("SCOUT_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

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

/// Runs `run` once per backend `SCOUT_BENCH_BACKENDS` names (default `postgres,sqlite`), each
/// on a fresh migrated database: a SQLite file in a temporary directory, or a PostgreSQL
/// database made from `SCOUT_BENCH_PG_URL` (default the local server's `postgres` database) and
/// dropped afterwards; `SCOUT_BENCH_KEEP=1` keeps both for a look at the plans.
#[allow(dead_code)] // not every bench runs on both backends
pub async fn each_backend(prefix: &str, run: impl AsyncFn(&str, &scout_collector::Store)) {
    use scout_collector::store::{Store, StoreOptions};
    let backends = std::env::var("SCOUT_BENCH_BACKENDS").unwrap_or("postgres,sqlite".into());
    let pg_admin = admin_url();
    let keep = std::env::var("SCOUT_BENCH_KEEP").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().unwrap();
    for backend in backends.split(',') {
        match backend.trim() {
            "sqlite" => {
                let file = dir.path().join(format!("{prefix}.db"));
                let url = format!("sqlite://{}", file.display());
                let store = Store::connect(&url, &StoreOptions::default())
                    .await
                    .unwrap();
                store.migrate().await.unwrap();
                run("sqlite", &store).await;
                store.close().await;
                if keep {
                    println!("  kept: {}", file.display());
                }
            }
            "postgres" => {
                let db = BenchDatabase::create(&pg_admin, prefix).await;
                let store = Store::connect(&db.url, &StoreOptions::default())
                    .await
                    .unwrap();
                store.migrate().await.unwrap();
                run("postgres", &store).await;
                store.close().await;
                if keep {
                    println!("  kept: {}", db.url);
                } else {
                    db.drop_now().await;
                }
            }
            other => panic!("unknown backend {other:?}"),
        }
    }
    if keep {
        let _ = dir.keep();
    }
}
