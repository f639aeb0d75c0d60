//! Upgrading a database that already holds data: the migration that moved silver's progress
//! off the bronze rows (`20261204000001_silver_queue`) keeps every row's state, and the one that
//! made unresolved brands NULL and scores numeric (`20261205000010`) converts exactly those
//! brands and keeps every score.

use std::path::Path;
use std::sync::Arc;

use scout_collector::brands::BrandMatcher;
use scout_collector::bronze::{BronzeRow, Landing};
use scout_collector::pipeline::{Pipeline, PipelineOptions};
use scout_collector::store::{Store, StoreOptions};
use sqlx::migrate::Migrator;

use crate::helpers::{Backend, TestDb, clean_line};
use crate::medallion::bronze_scores;
use scout_common::Transaction;

crate::both_backends!(
    an_upgrade_keeps_pending_and_scored_rows,
    an_upgrade_makes_unresolved_brands_null,
    an_upgrade_folds_upper_case_uuid_ids,
);

/// The first migration of the new shape.
const SILVER_QUEUE: i64 = 20261204000001;

/// The first migration with NULL brands and numeric scores.
const NULL_BRANDS: i64 = 20261205000010;

/// The migration that folds stored UUID transaction ids to lower case.
const TRANSACTION_ID_CASE: i64 = 20261212000100;

/// Applies the migrations before [`SILVER_QUEUE`] only: the schema as the previous release
/// left it.
async fn migrate_to_previous_release(backend: Backend, url: &str) {
    migrate_before(backend, url, SILVER_QUEUE, 4).await;
}

/// Applies the migrations before `version` only (there are `count` of them).
async fn migrate_before(backend: Backend, url: &str, version: i64, count: usize) {
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
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    assert_eq!(before.len(), count, "migrations before {version}");
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

async fn an_upgrade_makes_unresolved_brands_null(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    migrate_before(backend, &db.url, NULL_BRANDS, 7).await;
    let at = chrono::Utc::now();
    let day = at.date_naive();
    for (i, brand, score) in [
        (0, "Tide", 0.8125),
        (1, "Unknown", 0.6),
        (2, "Unbranded", 0.9999),
    ] {
        store
            .execute(
                "INSERT INTO silver.transactions_cleaned (id, transaction_id, \"timestamp\", \
                 transaction_date, amount, payment_method, product_category, brand_name, \
                 store_id, device_id, data_source, quality_score, loaded_at, bronze_id, \
                 item_index, amount_centavos, quantity, brand_method, quality_issues, daypart, \
                 day_type, basket_units, basket_band, first_in_group, first_in_basket) \
                 VALUES ($1, 't', $2, $3, 1.00, 'cash', 'Laundry', $4, '104', 'SCOUTPI-0004', \
                 'edge', $5, $2, 1, $6, 100, 1, 'none', '[]', 'morning', 'weekday', 3, '2-3', \
                 true, $7)",
                &[
                    format!("SCOUTPI-0004:t:{i}").as_str().into(),
                    at.into(),
                    day.into(),
                    brand.into(),
                    score.into(),
                    i64::from(i).into(),
                    (i == 0).into(),
                ],
            )
            .await
            .unwrap();
    }

    store.migrate().await.unwrap();
    let rows = store
        .query(
            "SELECT brand_name, quality_score::float8 FROM silver.transactions_cleaned \
             ORDER BY item_index",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(Option<String>, f64)> = rows
        .iter()
        .map(|r| (r.opt_text(0).unwrap(), r.float(1).unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (Some("Tide".to_owned()), 0.8125),
            (None, 0.6),
            (Some("Unbranded".to_owned()), 0.9999),
        ]
    );
    // The column takes NULL from now on, and the rebuilt table keeps silver's key.
    let duplicate = store
        .execute(
            "INSERT INTO silver.transactions_cleaned SELECT * FROM silver.transactions_cleaned \
             WHERE item_index = 1",
            &[],
        )
        .await;
    assert!(duplicate.is_err(), "(bronze_id, item_index) stays unique");
    store.close().await;
    db.cleanup().await;
}

/// The bronze row of `clean_line(id)` from SCOUTPI-0004, as this release reads it.
fn row(id: &str) -> BronzeRow {
    let t = Transaction::parse(serde_json::from_str(&clean_line(id)).unwrap()).unwrap();
    let landing = Landing {
        device_id: "SCOUTPI-0004",
        store_id: "104",
        endpoint: "ingest",
        received_at: chrono::Utc::now(),
    };
    BronzeRow::new(t, landing)
}

/// The same row stored under `id` exactly as written, as releases before the case folding
/// stored it.
fn row_as_written(id: &str) -> BronzeRow {
    BronzeRow {
        transaction_id: id.to_owned(),
        ..row(id)
    }
}

async fn an_upgrade_folds_upper_case_uuid_ids(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let before = match backend {
        Backend::Sqlite => 14,
        Backend::Postgres => 18,
    };
    migrate_before(backend, &db.url, TRANSACTION_ID_CASE, before).await;
    // Landed by the previous release: an upper-case UUID, a UUID landed twice (in upper and in
    // lower case), a mixed-case UUID, and an id that is no UUID.
    let ids = [
        "AAAAAAAA-0000-4000-8000-00000000000A",
        "BBBBBBBB-0000-4000-8000-00000000000B",
        "bbbbbbbb-0000-4000-8000-00000000000b",
        "Cccccccc-0000-4000-8000-00000000000c",
        "POS-RECEIPT-ABC",
    ];
    let rows: Vec<BronzeRow> = ids.iter().map(|id| row_as_written(id)).collect();
    assert_eq!(store.insert_bronze(&rows).await.unwrap(), 5);
    let pipeline = Pipeline::new(
        store.clone(),
        Arc::new(BrandMatcher::shipped().unwrap()),
        PipelineOptions::default(),
    );
    pipeline.catch_up().await.unwrap();

    store.migrate().await.unwrap();
    let bronze = store
        .query_texts(
            "SELECT transaction_id FROM bronze.raw_transactions ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        bronze,
        [
            Some("aaaaaaaa-0000-4000-8000-00000000000a".to_owned()),
            // Its lower-case twin is stored too: both rows stay, each as it was.
            Some("BBBBBBBB-0000-4000-8000-00000000000B".to_owned()),
            Some("bbbbbbbb-0000-4000-8000-00000000000b".to_owned()),
            Some("cccccccc-0000-4000-8000-00000000000c".to_owned()),
            Some("POS-RECEIPT-ABC".to_owned()),
        ]
    );
    // Silver follows its bronze row, id text included.
    let silver = store
        .query_texts(
            "SELECT DISTINCT transaction_id || ' ' || id FROM silver.transactions_cleaned \
             WHERE item_index = 0 AND lower(transaction_id) LIKE 'aaaaaaaa%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        silver,
        [Some(
            "aaaaaaaa-0000-4000-8000-00000000000a \
             SCOUTPI-0004:aaaaaaaa-0000-4000-8000-00000000000a:0"
                .to_owned()
        )]
    );
    // The same transactions sent again, in either case, land nothing.
    let again: Vec<BronzeRow> = [
        "AAAAAAAA-0000-4000-8000-00000000000A",
        "aaaaaaaa-0000-4000-8000-00000000000A",
        "cccccccc-0000-4000-8000-00000000000C",
    ]
    .iter()
    .map(|id| row(id))
    .collect();
    assert_eq!(store.insert_bronze(&again).await.unwrap(), 0);
    assert_eq!(store.bronze_count().await.unwrap(), 5);
    store.close().await;
    db.cleanup().await;
}
