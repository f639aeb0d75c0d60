//! Throwaway PostgreSQL databases for tests: the admin URL (the PostgreSQL suite is skipped
//! loudly when it cannot be reached), and a fresh database per test that is dropped when its
//! guard goes, also when the test panics.
//!
//! The admin URL is `SCOUT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`: any database the user may `CREATE DATABASE`
//! from). Unreachable, the suite is skipped with a "POSTGRESQL SUITE SKIPPED" banner on the real
//! stderr, unless `SCOUT_REQUIRE_POSTGRES=1` turns the skip into a failure (CI sets it).

use std::io::Write as _;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::{ConnectOptions, Connection};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Writes a banner to the real stderr (not the test harness's capture), so it shows in every
/// run.
pub fn loud(message: &str) {
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! {message}\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    );
}

/// The PostgreSQL admin URL, or `None` (after saying so loudly) when PostgreSQL is unreachable
/// and not required. Probed once per process.
pub async fn admin_url() -> Option<String> {
    static CHECKED: OnceLock<Result<String, String>> = OnceLock::new();
    let url = std::env::var("SCOUT_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
    let required = std::env::var("SCOUT_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    if CHECKED.get().is_none() {
        let probe = async {
            let options =
                sqlx::postgres::PgConnectOptions::from_str(&url).map_err(|e| e.to_string())?;
            let conn = tokio::time::timeout(Duration::from_secs(5), options.connect())
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok::<_, String>(url.clone())
        };
        let result = probe.await;
        let _ = CHECKED.set(result);
    }
    match CHECKED.get() {
        Some(Ok(url)) => Some(url.clone()),
        Some(Err(e)) if required => {
            panic!("SCOUT_REQUIRE_POSTGRES=1 but PostgreSQL at {url} is unreachable: {e}")
        }
        Some(Err(e)) => {
            loud(&format!(
                "POSTGRESQL SUITE SKIPPED: {url} unreachable ({e}). \
                 Set SCOUT_TEST_DATABASE_URL, or SCOUT_REQUIRE_POSTGRES=1 to make this fail."
            ));
            None
        }
        None => None,
    }
}

/// A new, empty PostgreSQL database that belongs to one test. Dropping the guard drops the
/// database (`DROP DATABASE … WITH (FORCE)`, so connections left open do not keep it), on a
/// thread of its own with its own runtime: it works from inside an async test and while a
/// panic unwinds. [`ScratchDb::drop_now`] does the same from async code and reports failure.
#[derive(Debug)]
pub struct ScratchDb {
    /// URL of the new database.
    pub url: String,
    /// Its name (`<prefix>_<uuid>`).
    pub name: String,
    admin: String,
    dropped: bool,
}

impl ScratchDb {
    /// Creates `<prefix>_<random>` from the admin URL.
    pub async fn create(admin: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let url = sqlx::postgres::PgConnectOptions::from_str(admin)
            .unwrap()
            .database(&name)
            .to_url_lossy()
            .to_string();
        Self {
            url,
            name,
            admin: admin.to_owned(),
            dropped: false,
        }
    }

    /// The admin URL it was created from (a connection to another database of the server).
    pub fn admin_url(&self) -> &str {
        &self.admin
    }

    /// Drops the database now; panics if that fails.
    pub async fn drop_now(mut self) {
        self.dropped = true;
        drop_database(&self.admin, &self.name).await.unwrap();
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let outcome = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(drop_database(&admin, &name))
        })
        .join();
        // Never panic here: this may run while a panic unwinds.
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => loud(&format!("could not drop test database {}: {e}", self.name)),
            Err(_) => loud(&format!("dropping test database {} panicked", self.name)),
        }
    }
}

async fn drop_database(admin: &str, name: &str) -> Result<(), String> {
    let work = async {
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .map_err(|_| "timed out after 30 s".to_owned())?
}
