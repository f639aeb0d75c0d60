//! Upgrading a database that already holds data: the migration that moved silver's progress
//! off the bronze rows (`20261204000001_silver_queue`) keeps every row's state.

use std::path::Path;
use std::sync::Arc;

use scout_collector::brands::BrandMatcher;
use scout_collector::pipeline::{Pipeline, PipelineOptions};
use scout_collector::store::{Store, StoreOptions};
use sqlx::migrate::Migrator;

use crate::helpers::{Backend, TestDb, clean_line};
use crate::medallion::bronze_scores;

crate::both_backends!(an_upgrade_keeps_pending_and_scored_rows);

/// The first migration of the new shape.
const SILVER_QUEUE: i64 = 20261204000001;

/// Applies the migrations before [`SILVER_QUEUE`] only: the schema as the previous release
/// left it.
async fn migrate_to_previous_release(backend: Backend, url: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        });
    let mut previous = Migrator::new(dir).await.unwrap();
    let before: Vec<_> = previous
        .migrations
        .iter()
        .filter(|m| m.version < SILVER_QUEUE)
        .cloned()
        .collect();
    assert_eq!(before.len(), 4, "the previous release had four migrations");
    previous.migrations = before.into();
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            previous.run(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            previous.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

async fn an_upgrade_keeps_pending_and_scored_rows(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    // Connecting creates the SQLite file; nothing is migrated yet.
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    migrate_to_previous_release(backend, &db.url).await;
    // One row the previous release processed (scored, marked) and one still pending.
    let at = chrono::Utc::now();
    for (id, score, processed) in [
        ("0d0d0d0d-0000-4000-8000-000000000001", Some(0.75), Some(at)),
        ("0d0d0d0d-0000-4000-8000-000000000002", None, None),
    ] {
        let payload = clean_line(id);
        store
            .execute(
                "INSERT INTO bronze.scout_raw_transactions (transaction_id, store_id, device_id, \
                 transaction_timestamp, items, detected_brands, processing_metadata, payload, \
                 ingested_at, quality_score, silver_processed_at) \
                 VALUES ($1, '104', 'SCOUTPI-0004', $2, '[]', '{}', '{}', $3::jsonb, $2, $4, $5)",
                &[
                    id.into(),
                    at.into(),
                    payload.as_str().into(),
                    score.into(),
                    processed.into(),
                ],
            )
            .await
            .unwrap();
    }

    store.migrate().await.unwrap();
    let before = bronze_scores(&store).await;
    assert_eq!(before[0].1, Some(0.75), "the processed row keeps its score");
    assert_eq!(before[1].1, None, "the pending row has none yet");
    let backlog = store.backlog().await.unwrap();
    assert_eq!(
        backlog.bronze_pending, 1,
        "only the pending row is queued for silver"
    );

    // The pipeline takes the pending row, and only it.
    let pipeline = Pipeline::new(
        store.clone(),
        Arc::new(BrandMatcher::shipped().unwrap()),
        PipelineOptions::default(),
    );
    let report = pipeline.catch_up().await.unwrap();
    assert_eq!(report.silver.bronze_rows, 1);
    assert!(report.silver.silver_rows > 0);
    let transactions = store
        .query_texts(
            "SELECT DISTINCT transaction_id FROM silver.transactions_cleaned",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        transactions,
        [Some("0d0d0d0d-0000-4000-8000-000000000002".to_owned())]
    );
    let after = bronze_scores(&store).await;
    assert_eq!(after[0].1, Some(0.75));
    assert!(
        after[1].1.is_some_and(|s| (0.0..=1.0).contains(&s)),
        "{after:?}"
    );
    assert_eq!(store.backlog().await.unwrap().bronze_pending, 0);
    store.close().await;
    db.cleanup().await;
}
