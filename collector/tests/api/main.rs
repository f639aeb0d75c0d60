//! The collector's behaviour suite. Every test body in `ingest` and `fleet` runs twice, once on
//! SQLite and once on PostgreSQL (see `both_backends!`), so neither backend can fall behind; the
//! `process` module drives the real `scout-collector` binary (memory, SIGKILL, SIGTERM).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports failure

mod audit;
mod brand_queue;
mod corpus_landing;
mod dashboard;
mod dashboard_browser;
#[cfg(feature = "demo")] // the subcommand exists only with the feature
mod demo;
mod doctor;
mod files;
mod fleet;
mod gates;
mod hardening;
mod helpers;
mod import;
mod inbox;
mod ingest;
mod maintain;
mod manual_sql;
mod medallion;
mod nl2sql;
mod nl2sql_http;
mod nl2sql_questions;
mod process;
mod report;
mod scale_out;
mod tls;
mod upgrade;

/// Generates `sqlite::NAME` and `postgres::NAME` tests from `async fn NAME(Backend)` bodies.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::postgres_admin_url().await.is_some() {
                        super::$name($crate::helpers::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}
