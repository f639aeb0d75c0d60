//! `scout-collector maintain`, the real binary on a real database: old rows move to the archive
//! exactly once (gold unchanged, a second run moves nothing, a re-sent archived transaction is
//! still a duplicate), and a run that dies halfway is finished by the next with nothing lost or
//! doubled.

use std::process::{Command, Output};

use chrono::Utc;
use serde_json::{Value, json};

use crate::gates::staged;
use crate::helpers::{Backend, TestApp, TestDb, ndjson};
use crate::medallion::{process, sale};

crate::both_backends!(
    maintain_moves_old_rows_once,
    an_interrupted_run_is_finished_by_the_next
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await
}

fn maintain(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", &app.db.url, "maintain", "--json"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn moved(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str::<Value>(&stdout).unwrap()["moved"].clone()
}

fn id(i: usize) -> String {
    format!("a4c41000-0000-4000-8000-{i:012}")
}

/// Lands `n` sales of two lines each on business days in August (ids from `first`), processes
/// them and makes them look landed 100 days ago.
async fn old_sales(app: &TestApp, first: usize, n: usize) {
    let lines: Vec<String> = (first..first + n)
        .map(|i| {
            sale(
                &id(i),
                &format!("2026-08-{:02}T02:00:00Z", 1 + i % 28),
                &[
                    ("Coca-Cola", "Coke Mismo", 1.0, 15.0),
                    ("Piattos", "Piattos", 1.0, 20.0),
                ],
                "cash",
            )
            .to_string()
        })
        .collect();
    app.ingest_ok(&app.token, ndjson(&lines)).await;
    process(&app.store).await;
    app.store
        .execute(
            "UPDATE bronze.raw_transactions SET ingested_at = $1 \
             WHERE transaction_timestamp < $2",
            &[
                (Utc::now() - chrono::Duration::days(100)).into(),
                "2026-09-01T00:00:00Z"
                    .parse::<chrono::DateTime<Utc>>()
                    .unwrap()
                    .into(),
            ],
        )
        .await
        .unwrap();
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.store
        .query_int(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
}

async fn gold(app: &TestApp) -> Vec<Option<String>> {
    app.store
        .query_texts(
            "SELECT transaction_date::text || ' ' || store_id || ' ' || brand_name || ' ' || \
               CAST(revenue_centavos AS TEXT) FROM scout.scout_gold_transactions ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
}

async fn maintain_moves_old_rows_once(backend: Backend) {
    let app = app(backend).await;
    old_sales(&app, 0, 6).await;
    // Two recent sales stay; so does an old row silver has not reached yet.
    let recent: Vec<String> = (100..102)
        .map(|i| {
            sale(
                &id(i),
                "2026-12-04T02:00:00Z",
                &[("Coca-Cola", "Coke", 1.0, 15.0)],
                "cash",
            )
            .to_string()
        })
        .collect();
    app.ingest_ok(&app.token, ndjson(&recent)).await;
    process(&app.store).await;
    staged(&app, 1, 0.99, 0.95, 0.97).await;
    staged(&app, 2, 0.99, 0.95, 0.97).await;
    app.store
        .execute(
            "UPDATE staging.universal_file_ingestion SET created_at = $1 WHERE file_name = 'file-1.csv'",
            &[(Utc::now() - chrono::Duration::days(120)).into()],
        )
        .await
        .unwrap();
    let unprocessed = sale(
        &id(200),
        "2026-08-02T02:00:00Z",
        &[("Coca-Cola", "Coke", 1.0, 15.0)],
        "cash",
    );
    app.ingest_ok(&app.token, ndjson(&[unprocessed.to_string()]))
        .await;
    app.store
        .execute(
            "UPDATE bronze.raw_transactions SET ingested_at = $1 WHERE transaction_id = $2",
            &[
                (Utc::now() - chrono::Duration::days(100)).into(),
                id(200).as_str().into(),
            ],
        )
        .await
        .unwrap();
    let gold_before = gold(&app).await;
    assert!(!gold_before.is_empty());

    let expected = json!({"staging_files": 1, "bronze_rows": 6, "bronze_scores": 6,
                          "silver_rows": 12, "quarantine_rows": 0});
    let dry = maintain(&app, &["--dry-run"], &[]);
    assert_eq!(moved(&dry), expected);
    assert_eq!(
        count(&app, "bronze.raw_transactions").await,
        9,
        "a dry run moves nothing"
    );

    let run = maintain(&app, &["--batch-rows", "4"], &[]);
    assert_eq!(moved(&run), expected);
    for (table, n) in [
        ("bronze.raw_transactions", 3),
        ("bronze.transaction_quality", 2),
        ("silver.transactions_cleaned", 2),
        ("staging.universal_file_ingestion", 1),
        ("archive.raw_transactions", 6),
        ("archive.transaction_quality", 6),
        ("archive.transactions_cleaned", 12),
        ("archive.universal_file_ingestion", 1),
    ] {
        assert_eq!(count(&app, table).await, n, "{table}");
    }
    assert_eq!(gold(&app).await, gold_before, "gold is kept");
    let audited = app
        .store
        .query_int(
            "SELECT CAST(row_count AS BIGINT) FROM metadata.function_audit WHERE function_name = 'maintenance'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(audited, 1 + 6 + 12);

    // A second run moves nothing.
    let again = maintain(&app, &[], &[]);
    assert_eq!(
        moved(&again),
        json!({"staging_files": 0, "bronze_rows": 0, "bronze_scores": 0, "silver_rows": 0,
               "quarantine_rows": 0})
    );
    // The agent re-sends an archived transaction: still a duplicate, bronze does not take it.
    let resent = sale(
        &id(3),
        "2026-08-04T02:00:00Z",
        &[
            ("Coca-Cola", "Coke Mismo", 1.0, 15.0),
            ("Piattos", "Piattos", 1.0, 20.0),
        ],
        "cash",
    );
    let answer = app
        .ingest_ok(&app.token, ndjson(&[resent.to_string()]))
        .await;
    assert_eq!((answer.inserted, answer.duplicates), (0, 1));
    assert_eq!(count(&app, "bronze.raw_transactions").await, 3);
    // The old row silver had not reached lands on an archived day: gold rebuilds that day from
    // silver and the archive, so the day gains its ₱15 and loses nothing.
    process(&app.store).await;
    let day_revenue = app
        .store
        .query_int(
            "SELECT CAST(sum(revenue_centavos) AS BIGINT) FROM scout.scout_gold_transactions \
             WHERE transaction_date = '2026-08-02'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(gold(&app).await.len(), gold_before.len());
    assert_eq!(day_revenue, 3500 + 1500, "{:?}", gold(&app).await);
    app.finish().await;
}

async fn an_interrupted_run_is_finished_by_the_next(backend: Backend) {
    let app = app(backend).await;
    old_sales(&app, 0, 30).await;
    let gold_before = gold(&app).await;
    // Batches of 4 bronze rows; the process aborts after its third committed batch.
    let killed = maintain(
        &app,
        &["--batch-rows", "4"],
        &[("SCOUT_MAINTAIN_FAIL_AFTER_BATCHES", "3")],
    );
    assert!(!killed.status.success(), "the run was to die halfway");
    let (live, archived) = (
        count(&app, "bronze.raw_transactions").await,
        count(&app, "archive.raw_transactions").await,
    );
    assert_eq!((live, archived), (18, 12));
    assert_eq!(
        count(&app, "silver.transactions_cleaned").await
            + count(&app, "archive.transactions_cleaned").await,
        60
    );
    let rerun = maintain(&app, &["--batch-rows", "4"], &[]);
    assert_eq!(moved(&rerun)["bronze_rows"], 18);
    assert_eq!(count(&app, "bronze.raw_transactions").await, 0);
    assert_eq!(count(&app, "archive.raw_transactions").await, 30);
    let distinct = app
        .store
        .query_int(
            "SELECT count(*) FROM (SELECT DISTINCT device_id, transaction_id \
             FROM archive.raw_transactions) d",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(distinct, 30, "no row doubled");
    assert_eq!(count(&app, "archive.transactions_cleaned").await, 60);
    assert_eq!(gold(&app).await, gold_before);
    app.finish().await;
}
