//! The operations manual's monitoring SQL, run verbatim against a populated database, and its
//! answers checked against what was sent and against the rows one by one: on PostgreSQL with the
//! manual's 24-hour windows (`NOW() - INTERVAL '24 hours'`), on SQLite with the same query minus
//! the window (SQLite has no intervals; everything here was loaded just now).

use serde_json::json;

use crate::helpers::{Backend, TestApp, TestDb, ndjson};
use crate::medallion::{bronze_scores, process, sale};

crate::both_backends!(
    monitoring_sql_answers_what_the_manual_means,
    ai_sql_audit_monitoring_counts_the_questions,
);

const SILVER: &str = "SELECT COUNT(*) AS total, ROUND(AVG(quality_score), 3) AS avg_quality, \
     COUNT(*) FILTER (WHERE brand_name IS NOT NULL) AS branded \
     FROM silver.transactions_cleaned WHERE loaded_at > NOW() - INTERVAL '24 hours'";
const BRONZE: &str = "SELECT COUNT(*) AS total, ROUND(AVG(quality_score), 3) AS avg_quality, \
     COUNT(*) FILTER (WHERE quality_score IS NULL) AS unscored \
     FROM bronze.scout_raw_transactions WHERE ingested_at > NOW() - INTERVAL '24 hours'";
const GOLD: &str = "SELECT COUNT(*) AS total, SUM(revenue_peso) AS revenue, \
     ROUND(AVG(avg_quality_score), 3) AS avg_quality, \
     COUNT(*) FILTER (WHERE brand_name = 'Unknown') AS unknown_brand \
     FROM scout.scout_gold_transactions WHERE created_at > NOW() - INTERVAL '24 hours'";

const AI_SQL_AUDIT: &str = "SELECT COUNT(*) AS total_queries, \
     ROUND(AVG(duration_ms), 0) AS avg_duration_ms, \
     COUNT(*) FILTER (WHERE cache_hit) AS cache_hits, \
     COUNT(*) FILTER (WHERE error IS NOT NULL) AS errors, \
     SUM(row_count) AS rows_returned \
     FROM metadata.ai_sql_audit WHERE created_at > NOW() - INTERVAL '24 hours'";

/// The manual's query as this backend runs it: verbatim on PostgreSQL; on SQLite without the
/// time window.
fn spelled(manual: &str, backend: Backend) -> String {
    match backend {
        Backend::Postgres => manual.to_owned(),
        Backend::Sqlite => manual[..manual.rfind(" WHERE ").unwrap()].to_owned(),
    }
}

/// Runs `manual` unchanged as a subquery and reads its columns as numbers (`numeric` results
/// cast outside it, so the manual's text is what the database plans).
async fn answer(app: &TestApp, backend: Backend, manual: &str, cols: &[&str]) -> Vec<f64> {
    let outer = cols
        .iter()
        .map(|c| format!("CAST(m.{c} AS DOUBLE PRECISION)"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {outer} FROM ({}) m", spelled(manual, backend));
    let rows = app.store.query(&sql, &[]).await.unwrap();
    (0..cols.len())
        .map(|i| rows[0].opt_float(i).unwrap().unwrap())
        .collect()
}

/// The mean of 4-decimal scores rounded to 3 decimals (half away from zero), computed exactly.
fn mean_to_3(scores: &[f64]) -> f64 {
    let ten_thousandths: i64 = scores.iter().map(|s| (s * 10_000.0).round() as i64).sum();
    let n = scores.len() as i64;
    // round(sum / (10 n)) thousandths, for a non-negative sum.
    ((2 * ten_thousandths + 10 * n) / (20 * n)) as f64 / 1000.0
}

async fn monitoring_sql_answers_what_the_manual_means(backend: Backend) {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    let mut mixed = sale(
        "bbbbbbbb-0000-4000-8000-000000000001",
        "2026-12-04T02:00:00Z",
        &[
            ("Coca-Cola", "Coke Mismo", 2.0, 15.0),
            ("Lucky Me", "Pancit Canton", 1.0, 14.0),
        ],
        "cash",
    );
    let items = mixed["items"].as_array_mut().unwrap();
    // Noise the matcher cannot resolve: NULL in silver, 'Unknown' in gold.
    items.push(json!({"brandName": "Qwzx", "productName": "Qwzx", "quantity": 1, "unitPrice": 7, "totalPrice": 7}));
    // Sold without a brand, and marked so: a known fact, branded for the manual.
    items.push(json!({"productName": "Pandesal", "isUnbranded": true, "quantity": 5, "unitPrice": 3, "totalPrice": 15}));
    let other = sale(
        "bbbbbbbb-0000-4000-8000-000000000002",
        "2026-12-04T05:00:00Z",
        &[("Tide", "Tide Bar", 1.0, 12.0)],
        "gcash",
    );
    app.ingest_ok(&app.token, ndjson(&[mixed.to_string(), other.to_string()]))
        .await;
    process(&app.store).await;

    // Silver, row by row: brands (NULL for the unresolved one) and scores.
    let rows = app
        .store
        .query(
            "SELECT brand_name, quality_score::float8, amount_centavos \
             FROM silver.transactions_cleaned ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let brands: Vec<Option<String>> = rows.iter().map(|r| r.opt_text(0).unwrap()).collect();
    assert_eq!(
        brands,
        [
            Some("Coca-Cola".to_owned()),
            Some("Lucky Me!".to_owned()),
            None,
            Some("Unbranded".to_owned()),
            Some("Tide".to_owned()),
        ]
    );
    let scores: Vec<f64> = rows.iter().map(|r| r.float(1).unwrap()).collect();
    let centavos: i64 = rows.iter().map(|r| r.int(2).unwrap()).sum();
    assert_eq!(centavos, 3000 + 1400 + 700 + 1500 + 1200);

    let silver = answer(&app, backend, SILVER, &["total", "avg_quality", "branded"]).await;
    assert_eq!(silver, [5.0, mean_to_3(&scores), 4.0], "{SILVER}");

    let bronze: Vec<f64> = bronze_scores(&app.store)
        .await
        .into_iter()
        .map(|(_, s)| s.unwrap())
        .collect();
    assert_eq!(bronze.len(), 2);
    let answered = answer(&app, backend, BRONZE, &["total", "avg_quality", "unscored"]).await;
    assert_eq!(answered, [2.0, mean_to_3(&bronze), 0.0], "{BRONZE}");

    let gold_scores: Vec<f64> = app
        .store
        .query(
            "SELECT avg_quality_score::float8 FROM scout.scout_gold_transactions",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.float(0).unwrap())
        .collect();
    // Coca-Cola, Lucky Me!, Unknown, Unbranded, Tide: one row each (one day, one store).
    assert_eq!(gold_scores.len(), 5);
    let gold = answer(
        &app,
        backend,
        GOLD,
        &["total", "revenue", "avg_quality", "unknown_brand"],
    )
    .await;
    assert_eq!(gold, [5.0, 78.0, mean_to_3(&gold_scores), 1.0], "{GOLD}");

    if backend == Backend::Postgres {
        // The windows mean what they say: a silver row loaded two days ago drops out.
        app.store
            .execute(
                "UPDATE silver.transactions_cleaned SET loaded_at = now() - INTERVAL '2 days' \
                 WHERE brand_name IS NULL",
                &[],
            )
            .await
            .unwrap();
        let silver = answer(&app, backend, SILVER, &["total", "branded"]).await;
        assert_eq!(silver, [4.0, 4.0], "{SILVER}");
    }
    app.finish().await;
}

/// The manual's `ai_sql_audit` monitoring query after four questions: one answered, the same one
/// again (a cache hit), one refused and one asked back; its figures against the audit rows.
async fn ai_sql_audit_monitoring_counts_the_questions(backend: Backend) {
    use scout_collector::platinum::{Engine, Outcome};
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    let sales = [
        sale(
            "cccccccc-0000-4000-8000-000000000001",
            "2026-12-04T02:00:00Z",
            &[("Coca-Cola", "Coke Mismo", 2.0, 15.0)],
            "cash",
        ),
        sale(
            "cccccccc-0000-4000-8000-000000000002",
            "2026-12-04T05:00:00Z",
            &[("Tide", "Tide Bar", 1.0, 12.0)],
            "gcash",
        ),
    ];
    let lines: Vec<String> = sales.iter().map(ToString::to_string).collect();
    app.ingest_ok(&app.token, ndjson(&lines)).await;
    process(&app.store).await;
    let matcher = std::sync::Arc::new(scout_collector::brands::BrandMatcher::shipped().unwrap());
    let engine = Engine::new(app.store.clone()).with_brands(matcher);
    let as_of = Some("2026-12-04".parse().unwrap());
    let mut outcomes = Vec::new();
    for q in [
        "revenue by payment method today",
        "revenue by payment method today",
        "drop table bronze.raw_transactions; select * from metadata.devices",
        "benta noong linggo",
    ] {
        outcomes.push(engine.ask(q, as_of).await.unwrap());
    }
    assert!(
        matches!(&outcomes[0], Outcome::Answered { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[1], Outcome::Answered { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[2], Outcome::Refused { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[3], Outcome::Clarify { .. }),
        "{outcomes:?}"
    );

    // The audit rows one by one.
    let rows = app
        .store
        .query(
            "SELECT CAST(duration_ms AS BIGINT), cache_hit, error IS NOT NULL, \
             CAST(row_count AS BIGINT) \
             FROM metadata.ai_sql_audit ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    let durations: Vec<i64> = rows.iter().map(|r| r.int(0).unwrap()).collect();
    let hits: Vec<bool> = rows.iter().map(|r| r.bool(1).unwrap()).collect();
    let errors: Vec<bool> = rows.iter().map(|r| r.bool(2).unwrap()).collect();
    let returned: i64 = rows.iter().filter_map(|r| r.opt_int(3).unwrap()).sum();
    assert_eq!(hits, [false, true, false, false]);
    assert_eq!(
        errors,
        [false, false, true, true],
        "refused and asked back carry an error"
    );
    assert_eq!(returned, 4, "two payment methods, answered twice");
    let mean = durations.iter().sum::<i64>() as f64 / 4.0;

    let got = answer(
        &app,
        backend,
        AI_SQL_AUDIT,
        &[
            "total_queries",
            "avg_duration_ms",
            "cache_hits",
            "errors",
            "rows_returned",
        ],
    )
    .await;
    assert_eq!(got[0], 4.0, "{AI_SQL_AUDIT}");
    assert!((got[1] - mean).abs() <= 0.5, "{got:?} vs mean {mean}");
    assert_eq!(&got[2..], [1.0, 2.0, 4.0], "{AI_SQL_AUDIT}");
    app.finish().await;
}
