//! The medallion stages on both backends: quirky payloads flowing into correct silver rows,
//! quarantined rejects, quality scores in bronze and silver, gold equal to silver sums,
//! idempotent re-runs and rebuilds, late data, the background pipeline keeping up, and poison
//! rows (out of range, too long, or refused by the database) set aside without stalling it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scout_collector::brands::BrandMatcher;
use scout_collector::pipeline::{PassReport, Pipeline, PipelineOptions};
use scout_collector::store::{Backend as StoreBackend, Store};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, CLEAN, QUIRKY, TestApp, TestDb, bronze_rows, metric, metrics_page, ndjson,
};

crate::both_backends!(
    quirks_flow_through_to_silver,
    rejects_are_quarantined_with_reasons,
    quality_scores_explain_themselves,
    gold_equals_silver_sums,
    rerunning_and_rebuilding_change_nothing,
    late_transaction_corrects_its_day,
    analytics_tables_add_up_to_silver,
    serve_keeps_up_with_ingest,
    large_and_small_gold_batches_agree,
    poison_rows_never_stall_the_pipeline,
    refused_rows_are_set_aside_and_come_back_once_fixed,
);

fn pipeline(store: &Store) -> Pipeline {
    pipeline_with(store, PipelineOptions::default())
}

/// A pipeline with small batches (several even for small test sets) and `options`' other
/// settings.
fn pipeline_with(store: &Store, options: PipelineOptions) -> Pipeline {
    let options = PipelineOptions {
        silver_batch: 64,
        gold_batch: 3,
        ..options
    };
    Pipeline::new(
        store.clone(),
        Arc::new(BrandMatcher::shipped().unwrap()),
        options,
    )
}

pub(crate) async fn process(store: &Store) -> PassReport {
    pipeline(store).catch_up().await.unwrap()
}

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await
}

fn stamp(mut v: Value, seq: u64, captured_at: &str) -> String {
    v["_agent"] = json!({"capturedAt": captured_at, "seq": seq, "version": "0.1.0"});
    v.to_string()
}

/// A sale at device SCOUTPI-0004 (store 104) unless the line says otherwise.
pub(crate) fn sale(
    id: &str,
    timestamp: &str,
    items: &[(&str, &str, f64, f64)],
    payment: &str,
) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(brand, product, qty, unit)| {
            json!({"brandName": brand, "productName": product, "quantity": qty,
                   "unitPrice": unit, "totalPrice": qty * unit, "confidence": 0.9})
        })
        .collect();
    let total: f64 = items
        .iter()
        .map(|i| i["totalPrice"].as_f64().unwrap())
        .sum();
    json!({
        "transactionId": id, "storeId": "104", "deviceId": "SCOUTPI-0004",
        "timestamp": timestamp, "items": items,
        "brandDetection": {"detectedBrands": {}, "explicitMentions": []},
        "totals": {"totalAmount": total},
        "transactionContext": {"paymentMethod": payment, "audioTranscript": ""},
    })
}

/// A silver row read back the same way from either backend.
#[derive(Debug, Clone, PartialEq)]
struct SilverView {
    id: String,
    transaction_id: String,
    timestamp: String,
    date: String,
    amount_centavos: i64,
    payment_method: String,
    category: String,
    /// `None`: unresolved (NULL in silver).
    brand: Option<String>,
    store_id: String,
    device_id: String,
    data_source: String,
    quality_score: f64,
    issues: Value,
    daypart: String,
    day_type: String,
    brand_method: String,
    basket_band: String,
}

async fn silver(store: &Store) -> Vec<SilverView> {
    let rows = store
        .query(
            "SELECT id, transaction_id, \"timestamp\", transaction_date, amount_centavos, \
             payment_method, product_category, brand_name, store_id, device_id, data_source, \
             quality_score::float8, quality_issues::text, daypart, day_type, brand_method, \
             basket_band FROM silver.transactions_cleaned ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let s = |i: usize| r.text(i).unwrap();
            SilverView {
                id: s(0),
                transaction_id: s(1),
                timestamp: r
                    .time(2)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                date: r.opt_date(3).unwrap().unwrap().to_string(),
                amount_centavos: r.int(4).unwrap(),
                payment_method: s(5),
                category: s(6),
                brand: r.opt_text(7).unwrap(),
                store_id: s(8),
                device_id: s(9),
                data_source: s(10),
                quality_score: r.float(11).unwrap(),
                issues: serde_json::from_str(&s(12)).unwrap(),
                daypart: s(13),
                day_type: s(14),
                brand_method: s(15),
                basket_band: s(16),
            }
        })
        .collect()
}

/// Every row of a table as one text line per row (the columns that must not change when the
/// same data is processed again), sorted.
pub(crate) async fn table_lines(store: &Store, table: &str) -> Vec<String> {
    let (table, cols) = match table {
        "silver" => (
            "silver.transactions_cleaned",
            "id, transaction_id, \"timestamp\", transaction_date, amount, payment_method, \
             product_category, brand_name, sku, customer_id, store_id, device_id, data_source, \
             quality_score, bronze_id, item_index, amount_centavos, quantity, brand_method, \
             brand_score, quality_issues, daypart, day_type, basket_units, basket_band",
        ),
        // Without bronze ids, which differ between databases holding the same data.
        "silver_portable" => (
            "silver.transactions_cleaned",
            "id, transaction_id, \"timestamp\", transaction_date, amount, payment_method, \
             product_category, brand_name, sku, customer_id, store_id, device_id, data_source, \
             quality_score, item_index, amount_centavos, quantity, brand_method, brand_score, \
             quality_issues, daypart, day_type, basket_units, basket_band",
        ),
        "quarantine" => (
            "silver.transactions_quarantine",
            "bronze_id, transaction_id, device_id, item_index, reasons, quality_score",
        ),
        "gold" => (
            "scout.scout_gold_transactions",
            "transaction_date, store_id, brand_name, product_category, revenue_peso, \
             revenue_centavos, transaction_count, unique_customers, avg_basket_size, units_sold, \
             item_rows",
        ),
        "product" => (
            "gold.product_analytics",
            "transaction_date, store_id, product_category, brand_name, revenue_peso, \
             revenue_centavos, units_sold, transaction_count, avg_unit_price, \
             category_revenue_share, store_revenue_share, rank_in_category, avg_quality_score",
        ),
        "customer" => (
            "gold.customer_analytics",
            "transaction_date, store_id, daypart, day_type, payment_method, basket_band, \
             transaction_count, unique_customers, revenue_peso, revenue_centavos, \
             avg_basket_value, avg_basket_units",
        ),
        other => panic!("no table {other}"),
    };
    let mut lines: Vec<String> = store
        .query_texts(&format!("SELECT concat_ws('|', {cols}) FROM {table}"), &[])
        .await
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    lines.sort();
    lines
}

async fn snapshot(store: &Store) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for t in ["silver", "quarantine", "gold", "product", "customer"] {
        all.push(table_lines(store, t).await);
    }
    all
}

/// (day, sum of silver centavos, sum of gold centavos, sum of product centavos, sum of
/// customer centavos) per day.
async fn day_sums(store: &Store) -> Vec<(String, i64, i64, i64, i64)> {
    store
        .query(
            "SELECT s.d, CAST(s.c AS BIGINT), \
               (SELECT CAST(sum(revenue_centavos) AS BIGINT) FROM scout.scout_gold_transactions g \
                WHERE g.transaction_date::text = s.d), \
               (SELECT CAST(sum(revenue_centavos) AS BIGINT) FROM gold.product_analytics p \
                WHERE p.transaction_date::text = s.d), \
               (SELECT CAST(sum(revenue_centavos) AS BIGINT) FROM gold.customer_analytics c \
                WHERE c.transaction_date::text = s.d) \
             FROM (SELECT transaction_date::text AS d, sum(amount_centavos) AS c \
                   FROM silver.transactions_cleaned GROUP BY transaction_date) s ORDER BY s.d",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let n = |i: usize| r.int(i).unwrap();
            (r.text(0).unwrap(), n(1), n(2), n(3), n(4))
        })
        .collect()
}

/// Gold and customer analytics rows whose `unique_customers` differs from a direct count over
/// silver (distinct customer ids, plus one per anonymous transaction), with the number of rows
/// checked: `(gold mismatched, gold rows, customer mismatched, customer rows)`.
async fn unique_customer_mismatches(store: &Store) -> (i64, i64, i64, i64) {
    // Silver as gold groups it: an unresolved brand (NULL) under gold's label.
    let (silver, gold, customer) = (
        "(SELECT transaction_date, store_id, coalesce(brand_name, 'Unknown') AS brand_name, \
           product_category, daypart, day_type, payment_method, basket_band, customer_id, \
           transaction_id FROM silver.transactions_cleaned) t",
        "scout.scout_gold_transactions",
        "gold.customer_analytics",
    );
    let check = |table: &str, grain: &str| {
        format!(
            "SELECT CAST(count(*) FILTER (WHERE g.unique_customers <> s.n) AS BIGINT), \
               CAST(count(*) AS BIGINT) \
             FROM {table} g JOIN (SELECT {grain}, count(DISTINCT CASE WHEN customer_id IS NULL \
               THEN 'tx:' || transaction_id ELSE 'id:' || customer_id END) AS n \
               FROM {silver} GROUP BY {grain}) s USING ({grain})"
        )
    };
    let gold_sql = check(
        gold,
        "transaction_date, store_id, brand_name, product_category",
    );
    let customer_sql = check(
        customer,
        "transaction_date, store_id, daypart, day_type, payment_method, basket_band",
    );
    let mut out = Vec::new();
    for sql in [gold_sql, customer_sql] {
        let row = store.query(&sql, &[]).await.unwrap();
        out.extend([row[0].int(0).unwrap(), row[0].int(1).unwrap()]);
    }
    (out[0], out[1], out[2], out[3])
}

async fn quarantine(store: &Store) -> Vec<(String, Option<i64>, Value)> {
    store
        .query(
            "SELECT transaction_id, item_index::int8, reasons::text \
             FROM silver.transactions_quarantine ORDER BY transaction_id, item_index NULLS FIRST",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let reasons = serde_json::from_str(&r.text(2).unwrap()).unwrap();
            (r.text(0).unwrap(), r.opt_int(1).unwrap(), reasons)
        })
        .collect()
}

fn codes(reasons: &Value) -> Vec<&str> {
    reasons
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect()
}

fn issue_codes(issues: &Value) -> Vec<&str> {
    issues
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect()
}

/// Bronze's (transaction_id, quality_score), by id.
pub(crate) async fn bronze_scores(store: &Store) -> Vec<(String, Option<f64>)> {
    store
        .query(
            "SELECT transaction_id, quality_score::float8 FROM bronze.scout_raw_transactions \
             ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.text(0).unwrap(), r.opt_float(1).unwrap()))
        .collect()
}

/// bronze (transaction_id, quality_score, processing_metadata.quality.issues codes).
async fn bronze_quality(store: &Store) -> Vec<(String, Option<f64>, Vec<String>)> {
    let scores = bronze_scores(store).await;
    let views = bronze_rows(store).await;
    scores
        .into_iter()
        .zip(views)
        .map(|((id, score), view)| {
            assert_eq!(id, view.transaction_id);
            let issues = view.processing_metadata["quality"]["issues"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| i["code"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (id, score, issues)
        })
        .collect()
}

async fn quirks_flow_through_to_silver(backend: Backend) {
    let app = app(backend).await;
    let token6 = app.add_device("SCOUTPI-0006", "106").await;
    let quirky = stamp(
        serde_json::from_str(QUIRKY).unwrap(),
        7,
        "2026-11-27T03:15:00.250Z",
    );
    app.ingest_ok(&token6, ndjson(&[&quirky])).await;
    app.ingest_ok(&app.token, ndjson(&[CLEAN.replace('\n', "")]))
        .await;
    let report = process(&app.store).await;
    assert_eq!(report.silver.bronze_rows, 2);
    assert_eq!(report.silver.silver_rows, 5);
    assert_eq!(report.silver.quarantined, 0);

    let rows = silver(&app.store).await;
    let quirky: Vec<_> = rows
        .iter()
        .filter(|r| r.device_id == "SCOUTPI-0006")
        .collect();
    assert_eq!(quirky.len(), 3, "{rows:#?}");
    for r in &quirky {
        // Lower-case device id: one device. No timestamp: the agent's capture time, read as a
        // Manila business day and daypart (11:15 on a Friday).
        assert_eq!(r.store_id, "106");
        assert!(r.id.starts_with(&format!("SCOUTPI-0006:{}:", r.transaction_id)));
        assert_eq!(r.timestamp, "2026-11-27T03:15:00.250000Z");
        assert_eq!(r.date, "2026-11-27");
        assert_eq!(
            (r.daypart.as_str(), r.day_type.as_str()),
            ("morning", "weekday")
        );
        assert_eq!(r.payment_method, "gcash");
        assert_eq!(r.data_source, "edge");
        assert_eq!(r.basket_band, "4-6", "3 + 1 + 1 units");
    }
    let by_brand = |b: &str| {
        quirky
            .iter()
            .find(|r| r.brand.as_deref() == Some(b))
            .unwrap_or_else(|| panic!("{b} in {quirky:#?}"))
    };
    // `brand` instead of `brandName`, numbers as strings, an empty total: 3 × ₱14.
    assert_eq!(by_brand("Lucky Me!").amount_centavos, 4200);
    assert_eq!(by_brand("Lucky Me!").category, "Instant Noodles");
    // `{product, price}` only: the brand comes from the product name.
    let kopiko = by_brand("Kopiko");
    assert_eq!(
        (kopiko.amount_centavos, kopiko.category.as_str()),
        (800, "Coffee")
    );
    assert_eq!(by_brand("Tide").amount_centavos, 1200);
    assert_eq!(by_brand("Tide").category, "Laundry");

    // The clean transaction: its own timestamp (00:41 UTC = 08:41 in Manila, a Saturday).
    let clean: Vec<_> = rows
        .iter()
        .filter(|r| r.device_id == "SCOUTPI-0004")
        .collect();
    assert_eq!(clean.len(), 2);
    assert!(
        clean
            .iter()
            .all(|r| r.date == "2025-09-13" && r.daypart == "morning")
    );
    assert!(clean.iter().all(|r| r.day_type == "weekend"));
    let sum: i64 = clean.iter().map(|r| r.amount_centavos).sum();
    assert_eq!(sum, 7200);
    app.finish().await;
}

async fn rejects_are_quarantined_with_reasons(backend: Backend) {
    let app = app(backend).await;
    let mut mixed = sale(
        "aaaaaaaa-0000-4000-8000-000000000001",
        "2026-11-20T02:00:00Z",
        &[("Coca-Cola", "Coke Mismo", 1.0, 15.0)],
        "cash",
    );
    let items = mixed["items"].as_array_mut().unwrap();
    items.push(
        json!({"brandName": "Tide", "productName": "Tide Bar", "quantity": 1, "totalPrice": -12}),
    );
    items.push(json!({"brandName": "Safeguard", "productName": "Safeguard 60g", "quantity": 1}));
    items.push(json!({"brandName": "Piattos", "productName": "Piattos", "quantity": 0, "unitPrice": 20, "totalPrice": 20}));
    let empty = json!({"transactionId": "aaaaaaaa-0000-4000-8000-000000000002",
        "storeId": "104", "deviceId": "SCOUTPI-0004", "timestamp": "2026-11-20T03:00:00Z", "items": []});
    app.ingest_ok(&app.token, ndjson(&[mixed.to_string(), empty.to_string()]))
        .await;
    let report = process(&app.store).await;
    assert_eq!(report.silver.bronze_rows, 2);
    assert_eq!(report.silver.silver_rows, 1, "only the Coke is a sale");
    assert_eq!(report.silver.quarantined, 4);

    let q = quarantine(&app.store).await;
    let find = |t: &str, i: Option<i64>| &q.iter().find(|r| r.0 == t && r.1 == i).unwrap().2;
    let mixed_id = "aaaaaaaa-0000-4000-8000-000000000001";
    assert_eq!(codes(find(mixed_id, Some(1))), ["negative_amount"]);
    assert_eq!(codes(find(mixed_id, Some(2))), ["missing_amount"]);
    assert_eq!(codes(find(mixed_id, Some(3))), ["non_positive_quantity"]);
    assert_eq!(
        codes(find("aaaaaaaa-0000-4000-8000-000000000002", None)),
        ["no_items"]
    );
    let rows = silver(&app.store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].brand.as_deref(), rows[0].amount_centavos),
        (Some("Coca-Cola"), 1500)
    );
    // Nothing is lost: every bronze row is processed, and each is accounted for.
    assert_eq!(app.store.backlog().await.unwrap().bronze_pending, 0);
    app.finish().await;
}

async fn quality_scores_explain_themselves(backend: Backend) {
    let app = app(backend).await;
    let clean = CLEAN.replace('\n', "");
    // No id and no timestamp (the capture time stands in), otherwise clean.
    let mut loose: Value = serde_json::from_str(&clean).unwrap();
    loose.as_object_mut().unwrap().remove("transactionId");
    loose["timestamp"] = json!("");
    let loose = stamp(loose, 1, "2026-11-27T01:00:00Z");
    let negative = sale(
        "aaaaaaaa-0000-4000-8000-0000000000ff",
        "2026-11-27T01:00:00Z",
        &[("Coca-Cola", "Coke Mismo", 1.0, 15.0)],
        "cash",
    );
    let mut negative = negative;
    negative["totals"]["totalAmount"] = json!(-15);
    app.ingest_ok(&app.token, ndjson(&[clean, loose, negative.to_string()]))
        .await;
    process(&app.store).await;

    let bronze = bronze_quality(&app.store).await;
    let (_, clean_score, clean_issues) = &bronze[0];
    let clean_score = clean_score.unwrap();
    assert!(
        clean_score > 0.7,
        "clean edge transaction scored {clean_score}"
    );
    let (_, loose_score, loose_issues) = &bronze[1];
    assert!(loose_score.unwrap() < clean_score);
    for code in ["derived_transaction_id", "timestamp_from_capture"] {
        assert!(
            loose_issues.iter().any(|c| c == code),
            "{code} in {loose_issues:?}"
        );
        assert!(!clean_issues.iter().any(|c| c == code));
    }
    let (_, negative_score, negative_issues) = &bronze[2];
    assert!(negative_score.unwrap() < clean_score);
    assert!(
        negative_issues.iter().any(|c| c == "negative_total_amount"),
        "{negative_issues:?}"
    );

    // Clean item rows with amount, brand and category score above 0.8.
    let rows = silver(&app.store).await;
    let clean_rows: Vec<_> = rows
        .iter()
        .filter(|r| r.transaction_id == "4b8c7a36-2f5e-4d1a-9b3c-7e2f1a6d8c90")
        .collect();
    assert_eq!(clean_rows.len(), 2);
    for r in clean_rows {
        assert!(r.quality_score > 0.8, "{r:?}");
        assert_ne!(r.brand_method, "none");
        for code in issue_codes(&r.issues) {
            assert!(!code.starts_with("missing"), "{code} on a clean row");
        }
    }
    app.finish().await;
}

/// Sales over three days and two stores, with a few quirks.
async fn trade(app: &TestApp) -> usize {
    let token5 = app.add_device("SCOUTPI-0005", "105").await;
    let catalogue = [
        ("Coca-Cola", "Coke Mismo 290ml", 15.0),
        ("Lucky Me", "Pancit Canton 60g", 14.25),
        ("Safeguard", "Safeguard 60g", 28.5),
        ("Kopiko", "Kopiko Brown 3in1", 8.0),
        ("Tide", "Tide Bar 125g", 12.0),
        ("Piattos", "Piattos Cheese 40g", 19.75),
    ];
    let payments = ["cash", "gcash", "maya", "utang"];
    let mut count = 0;
    for (device, token, store) in [
        ("SCOUTPI-0004", &app.token, "104"),
        ("SCOUTPI-0005", &token5, "105"),
    ] {
        let mut lines = Vec::new();
        for i in 0..60u32 {
            let day = 20 + i % 3;
            let hour = (i * 7) % 24;
            let n = 1 + (i as usize % 4);
            let items: Vec<_> = (0..n)
                .map(|k| {
                    let (b, p, price) = catalogue[(i as usize + k * 5) % catalogue.len()];
                    (b, p, f64::from(1 + (i + k as u32) % 3), price)
                })
                .collect();
            let mut v = sale(
                &format!("bbbbbbbb-0000-4000-8000-{store}{i:09}"),
                &format!("2026-11-{day}T{hour:02}:{:02}:00Z", i % 60),
                &items,
                payments[i as usize % 4],
            );
            v["storeId"] = json!(store);
            v["deviceId"] = json!(device);
            if i % 5 == 0 {
                // Two regulars, each back several times a day.
                v["customerId"] = json!(format!("suki-{}", i % 2));
            }
            lines.push(v.to_string());
            count += 1;
        }
        app.ingest_ok(token, ndjson(&lines)).await;
    }
    count
}

async fn gold_equals_silver_sums(backend: Backend) {
    let app = app(backend).await;
    trade(&app).await;
    let report = process(&app.store).await;
    assert_eq!(report.silver.bronze_rows, 120);
    assert!(report.gold.partitions >= 6, "{report:?}");
    let sums = day_sums(&app.store).await;
    assert!(sums.len() >= 3, "{sums:?}");
    for (day, silver, gold, product, customer) in &sums {
        assert!(*silver > 0);
        assert_eq!(silver, gold, "gold revenue on {day}");
        assert_eq!(silver, product, "product analytics revenue on {day}");
        assert_eq!(silver, customer, "customer analytics revenue on {day}");
    }
    if app.store.backend() == StoreBackend::Postgres {
        // Pesos are exact numerics on PostgreSQL: the peso sums agree to the centavo too.
        let mismatched = app
            .store
            .query_int(
                "SELECT count(*) FROM (SELECT transaction_date, sum(amount) AS s \
                   FROM silver.transactions_cleaned GROUP BY 1) s \
                 JOIN (SELECT transaction_date, sum(revenue_peso) AS g \
                   FROM scout.scout_gold_transactions GROUP BY 1) g USING (transaction_date) \
                 WHERE s.s <> g.g",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(mismatched, 0);
    }
    // Customer analytics counts each transaction once.
    let customer_lines = table_lines(&app.store, "customer").await;
    let transactions: i64 = customer_lines
        .iter()
        .map(|l| l.split('|').nth(6).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(transactions, 120);
    // Unique customers: distinct ids plus one per anonymous basket, checked against silver.
    let (gold_bad, gold_rows, customer_bad, customer_rows) =
        unique_customer_mismatches(&app.store).await;
    assert_eq!((gold_bad, customer_bad), (0, 0), "unique customers");
    assert_eq!(
        gold_rows,
        table_lines(&app.store, "gold").await.len() as i64,
        "every gold row checked"
    );
    assert_eq!(customer_rows, customer_lines.len() as i64);
    // A regular back for the same brand on the same day is one customer.
    let repeat_regulars = table_lines(&app.store, "gold")
        .await
        .iter()
        .filter(|l| {
            let f: Vec<&str> = l.split('|').collect();
            f[7].parse::<i64>().unwrap() < f[6].parse::<i64>().unwrap()
        })
        .count();
    assert!(repeat_regulars > 0, "no group saw a regular twice");
    let b = app.store.backlog().await.unwrap();
    assert_eq!((b.bronze_pending, b.gold_pending), (0, 0));
    app.finish().await;
}

async fn rerunning_and_rebuilding_change_nothing(backend: Backend) {
    let app = app(backend).await;
    trade(&app).await;
    process(&app.store).await;
    let first = snapshot(&app.store).await;
    // silver, gold, product and customer analytics all have rows (the quarantine has none).
    for (i, table) in first.iter().enumerate() {
        assert_eq!(table.is_empty(), i == 1, "table {i}");
    }

    // A second run finds nothing to do and changes nothing.
    let again = process(&app.store).await;
    assert_eq!((again.silver.bronze_rows, again.gold.partitions), (0, 0));
    assert_eq!(snapshot(&app.store).await, first);

    // Resending the same data lands nothing new.
    trade_again(&app).await;
    let after_resend = process(&app.store).await;
    assert_eq!(after_resend.silver.bronze_rows, 0);

    // A rebuild from all of bronze gives the same rows. Its silver pass refreshes silver's
    // statistics, so on PostgreSQL its gold batches (each a large share of silver's rows) read
    // silver whole, where the first build, with no statistics yet, went through the (day,
    // store) index: both plans give the same rows.
    assert_eq!(app.store.reset_medallion().await.unwrap(), 120);
    let analysed = PipelineOptions {
        analyze_after_rows: 1,
        ..PipelineOptions::default()
    };
    let rebuilt = pipeline_with(&app.store, analysed)
        .catch_up()
        .await
        .unwrap();
    assert_eq!(rebuilt.silver.bronze_rows, 120);
    assert_eq!(snapshot(&app.store).await, first);
    app.finish().await;
}

async fn trade_again(app: &TestApp) {
    // The device SCOUTPI-0005 exists now; resend store 104's lines only (same content).
    let lines: Vec<String> = bronze_rows(&app.store)
        .await
        .into_iter()
        .filter(|r| r.device_id == "SCOUTPI-0004")
        .map(|r| r.payload.to_string())
        .collect();
    let r = app.ingest_ok(&app.token, ndjson(&lines)).await;
    assert_eq!((r.inserted, r.duplicates), (0, 60));
}

async fn late_transaction_corrects_its_day(backend: Backend) {
    let app = app(backend).await;
    trade(&app).await;
    process(&app.store).await;
    let before = day_sums(&app.store).await;
    let gold_before = table_lines(&app.store, "gold").await;

    // A transaction from the 20th arrives days late (22:30 UTC on the 19th is the 20th in
    // Manila).
    let late = sale(
        "cccccccc-0000-4000-8000-000000000001",
        "2026-11-19T22:30:00Z",
        &[("Coca-Cola", "Coke Mismo 290ml", 2.0, 15.0)],
        "cash",
    );
    app.ingest_ok(&app.token, ndjson(&[late.to_string()])).await;
    let report = process(&app.store).await;
    assert_eq!((report.silver.bronze_rows, report.gold.partitions), (1, 1));

    let after = day_sums(&app.store).await;
    assert_eq!(after.len(), before.len());
    for ((day, s0, ..), (day1, s1, g1, p1, c1)) in before.iter().zip(&after) {
        assert_eq!(day, day1);
        let expected = if day == "2026-11-20" { s0 + 3000 } else { *s0 };
        assert_eq!(*s1, expected, "silver on {day}");
        assert_eq!((g1, p1, c1), (s1, s1, s1), "gold on {day}");
    }
    // Only the 20th at store 104 changed.
    let gold_after = table_lines(&app.store, "gold").await;
    let changed: Vec<_> = gold_after
        .iter()
        .filter(|l| !gold_before.contains(l))
        .collect();
    assert!(!changed.is_empty());
    assert!(
        changed.iter().all(|l| l.starts_with("2026-11-20|104|")),
        "{changed:#?}"
    );
    app.finish().await;
}

/// Basket and brand × daypart analytics, grouped as platinum groups them, next to the same
/// figures computed straight from silver: (analytics lines, silver lines), each sorted.
async fn analytics_beside_silver(store: &Store) -> Vec<(Vec<String>, Vec<String>)> {
    let pairs = [
        (
            "SELECT concat_ws('|', transaction_date, store_id, daypart, payment_method, \
               coalesce(age_bracket, '-'), coalesce(gender, '-'), sum(transaction_count), \
               sum(revenue_centavos), sum(units_sold)) \
             FROM gold.basket_analytics GROUP BY transaction_date, store_id, daypart, \
               payment_method, age_bracket, gender",
            "SELECT concat_ws('|', transaction_date, store_id, daypart, payment_method, \
               coalesce(age_bracket, '-'), coalesce(gender, '-'), count(DISTINCT bronze_id), \
               sum(amount_centavos), sum(quantity)) \
             FROM silver.transactions_cleaned GROUP BY transaction_date, store_id, daypart, \
               payment_method, age_bracket, gender",
        ),
        (
            "SELECT concat_ws('|', transaction_date, store_id, brand_name, product_category, \
               daypart, day_type, sum(revenue_centavos), sum(units_sold), sum(item_rows), \
               sum(transaction_count)) \
             FROM gold.brand_daypart_analytics GROUP BY transaction_date, store_id, \
               brand_name, product_category, daypart, day_type",
            "SELECT concat_ws('|', transaction_date, store_id, coalesce(brand_name, 'Unknown'), \
               product_category, daypart, day_type, sum(amount_centavos), sum(quantity), \
               count(*), count(DISTINCT bronze_id)) \
             FROM silver.transactions_cleaned GROUP BY transaction_date, store_id, \
               coalesce(brand_name, 'Unknown'), product_category, daypart, day_type",
        ),
        (
            // Baskets per brand over its categories, each basket once.
            "SELECT concat_ws('|', transaction_date, store_id, brand_name, daypart, \
               sum(brand_transactions)) \
             FROM gold.brand_daypart_analytics GROUP BY transaction_date, store_id, \
               brand_name, daypart",
            "SELECT concat_ws('|', transaction_date, store_id, coalesce(brand_name, 'Unknown'), \
               daypart, count(DISTINCT bronze_id)) \
             FROM silver.transactions_cleaned GROUP BY transaction_date, store_id, \
               coalesce(brand_name, 'Unknown'), daypart",
        ),
        (
            // Baskets per brand and payment method, each basket once.
            "SELECT concat_ws('|', transaction_date, store_id, brand_name, payment_method, \
               sum(brand_transactions)) \
             FROM gold.brand_payment_analytics GROUP BY transaction_date, store_id, \
               brand_name, payment_method",
            "SELECT concat_ws('|', transaction_date, store_id, coalesce(brand_name, 'Unknown'), \
               payment_method, count(DISTINCT bronze_id)) \
             FROM silver.transactions_cleaned GROUP BY transaction_date, store_id, \
               coalesce(brand_name, 'Unknown'), payment_method",
        ),
        (
            // Per brand × category × daypart: baskets, those without a customer id, and the
            // units of those baskets.
            "SELECT concat_ws('|', transaction_date, store_id, brand_name, product_category, \
               daypart, transaction_count, anonymous_transactions, basket_units) \
             FROM gold.brand_daypart_analytics",
            "SELECT concat_ws('|', transaction_date, store_id, coalesce(brand_name, 'Unknown'), \
               product_category, daypart, count(DISTINCT bronze_id), \
               count(DISTINCT CASE WHEN customer_id IS NULL THEN bronze_id END), \
               sum(CASE WHEN first_in_group THEN basket_units END)) \
             FROM silver.transactions_cleaned GROUP BY transaction_date, store_id, \
               coalesce(brand_name, 'Unknown'), product_category, daypart",
        ),
        (
            // Per brand × category × payment: revenue, units, item rows, baskets.
            "SELECT concat_ws('|', transaction_date, store_id, brand_name, product_category, \
               payment_method, revenue_centavos, units_sold, item_rows, transaction_count, \
               day_type) \
             FROM gold.brand_payment_analytics",
            "SELECT concat_ws('|', transaction_date, store_id, coalesce(brand_name, 'Unknown'), \
               product_category, payment_method, sum(amount_centavos), sum(quantity), \
               count(*), count(DISTINCT bronze_id), min(day_type)) \
             FROM silver.transactions_cleaned GROUP BY transaction_date, store_id, \
               coalesce(brand_name, 'Unknown'), product_category, payment_method",
        ),
        (
            // Baskets per category over its brands, each basket once.
            "SELECT concat_ws('|', transaction_date, store_id, product_category, daypart, \
               sum(category_transactions)) \
             FROM gold.brand_daypart_analytics GROUP BY transaction_date, store_id, \
               product_category, daypart",
            "SELECT concat_ws('|', transaction_date, store_id, product_category, daypart, \
               count(DISTINCT bronze_id)) \
             FROM silver.transactions_cleaned GROUP BY transaction_date, store_id, \
               product_category, daypart",
        ),
    ];
    let mut out = Vec::new();
    for (analytics, silver) in pairs {
        let mut lines = [Vec::new(), Vec::new()];
        for (i, sql) in [analytics, silver].into_iter().enumerate() {
            lines[i] = store
                .query_texts(sql, &[])
                .await
                .unwrap()
                .into_iter()
                .map(Option::unwrap)
                .collect();
            lines[i].sort();
        }
        let [a, s] = lines;
        out.push((a, s));
    }
    out
}

async fn analytics_tables_add_up_to_silver(backend: Backend) {
    let app = app(backend).await;
    trade(&app).await;
    // Shoppers who gave an age bracket and a gender, one or neither.
    let ages = ["18-24", "25-34", "35-44"];
    let lines: Vec<String> = (0..12usize)
        .map(|i| {
            let mut v = sale(
                &format!("dddddddd-0000-4000-8000-{i:012}"),
                &format!("2026-11-2{}T0{}:15:00Z", i % 3, i % 10),
                &[
                    ("Kopiko", "Kopiko Brown 3in1", 2.0, 8.0),
                    ("Tide", "Tide Bar 125g", 1.0, 12.0),
                ],
                ["cash", "gcash"][i % 2],
            );
            if i % 3 == 0 {
                // Two items no brand resolves, in two categories: the basket holds the brand
                // `Unknown` in two categories, and two brands (Tide, `Unknown`) in Laundry.
                let items = v["items"].as_array_mut().unwrap();
                let mut a = items[0].clone();
                a["productName"] = json!("Zqxw Chichirya");
                a["brandName"] = json!(null);
                a["category"] = json!("Snacks");
                let mut b = a.clone();
                b["productName"] = json!("Qzvx Sabon");
                b["category"] = json!("Laundry");
                items.extend([a, b]);
            }
            match i % 4 {
                0 => v["customer"] = json!({"ageBracket": ages[i % 3], "gender": "female"}),
                1 => v["customer"] = json!({"ageBracket": ages[i % 3], "gender": "male"}),
                2 => v["customer"] = json!({"gender": "female"}),
                _ => {}
            }
            v.to_string()
        })
        .collect();
    app.ingest_ok(&app.token, ndjson(&lines)).await;
    process(&app.store).await;
    let first = analytics_beside_silver(&app.store).await;
    for (analytics, silver) in &first {
        assert!(silver.len() > 10, "{silver:?}");
        assert_eq!(analytics, silver);
    }
    // The unresolved items made baskets with one brand in two categories and one category
    // with two brands.
    let two_brands = app
        .store
        .query_int(
            "SELECT count(*) FROM (SELECT bronze_id FROM silver.transactions_cleaned \
             WHERE product_category = 'Laundry' GROUP BY bronze_id \
             HAVING count(DISTINCT coalesce(brand_name, '-')) = 2) b",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(two_brands, 4);
    let spread = app
        .store
        .query_int(
            "SELECT count(*) FROM (SELECT bronze_id FROM silver.transactions_cleaned \
             WHERE brand_name IS NULL GROUP BY bronze_id \
             HAVING count(DISTINCT product_category) = 2) b",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(spread, 4);
    let with_age = &first[0].1;
    assert!(
        with_age.iter().any(|l| l.contains("|25-34|male|")),
        "{with_age:?}"
    );
    assert!(
        with_age.iter().any(|l| l.contains("|-|female|")),
        "{with_age:?}"
    );
    assert!(with_age.iter().any(|l| l.contains("|-|-|")), "{with_age:?}");

    // A late transaction re-queues its day: the analytics follow silver there too.
    let mut late = sale(
        "dddddddd-0000-4000-8000-100000000000",
        "2026-11-19T22:30:00Z",
        &[("Coca-Cola", "Coke Mismo 290ml", 2.0, 15.0)],
        "cash",
    );
    late["customer"] = json!({"ageBracket": "45-54", "gender": "male"});
    app.ingest_ok(&app.token, ndjson(&[late.to_string()])).await;
    process(&app.store).await;
    let after = analytics_beside_silver(&app.store).await;
    for (analytics, silver) in &after {
        assert_eq!(analytics, silver);
    }
    assert_ne!(after, first);

    // A database that held silver before the migrations adding the tables and silver's two
    // flags, then gold's roll-ups (undone here) gets the flags set and the tables filled: the
    // migrations mark the rows and queue every partition for gold.
    for sql in [
        "DROP TABLE gold.basket_analytics",
        "DROP TABLE gold.brand_daypart_analytics",
        "DROP TABLE gold.brand_payment_analytics",
        "ALTER TABLE silver.transactions_cleaned DROP COLUMN first_in_brand",
        "ALTER TABLE silver.transactions_cleaned DROP COLUMN first_in_category",
        "ALTER TABLE archive.transactions_cleaned DROP COLUMN first_in_brand",
        "ALTER TABLE archive.transactions_cleaned DROP COLUMN first_in_category",
        "DELETE FROM _sqlx_migrations WHERE version IN (20261208000100, 20261209000100)",
    ] {
        app.store.query(sql, &[]).await.unwrap();
    }
    app.store.migrate().await.unwrap();
    let partitions = app
        .store
        .query_int(
            "SELECT count(*) FROM (SELECT DISTINCT transaction_date, store_id \
             FROM silver.transactions_cleaned) p",
            &[],
        )
        .await
        .unwrap();
    assert!(partitions > 3);
    assert_eq!(app.store.backlog().await.unwrap().gold_pending, partitions);
    process(&app.store).await;
    assert_eq!(analytics_beside_silver(&app.store).await, after);
    app.finish().await;
}

async fn serve_keeps_up_with_ingest(backend: Backend) {
    let app = TestApp::spawn_processing(TestDb::for_backend(backend).await.unwrap(), 30.0).await;
    let sent = Instant::now();
    trade(&app).await;
    // The poll interval is 30 s: only ingest's wake-up can make this quick.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let b = app.store.backlog().await.unwrap();
        let gold_rows = table_lines(&app.store, "gold").await.len();
        if b.bronze_pending == 0 && b.gold_pending == 0 && gold_rows > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "pipeline did not keep up: {b:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lag = sent.elapsed();
    let sums = day_sums(&app.store).await;
    assert!(sums.iter().all(|(_, s, g, ..)| s == g), "{sums:?}");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "etl_processing_errors 0",
        "etl_last_successful_run ",
        "etl_quality_score ",
        "scout_etl_bronze_pending 0",
        "scout_etl_silver_rows_total ",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    eprintln!("ingest to gold: {lag:?}");
    app.finish().await;
}

async fn large_and_small_gold_batches_agree(backend: Backend) {
    let app = app(backend).await;
    // 80 business days at one store: more partitions than a small gold batch holds.
    let lines: Vec<String> = (0..160u32)
        .map(|i| {
            let day = chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
                + chrono::Duration::days(i64::from(i / 2));
            let mut v = sale(
                &format!("eeeeeeee-0000-4000-8000-{i:012}"),
                &format!("{day}T0{}:30:00Z", i % 10),
                &[
                    ("Coca-Cola", "Coke Mismo", 1.0 + f64::from(i % 3), 15.0),
                    ("Lucky Me", "Pancit Canton", 2.0, 14.5),
                    ("Coca-Cola", "Coke 1.5L", 1.0, 65.0),
                ],
                ["cash", "gcash"][i as usize % 2],
            );
            if i % 3 == 0 {
                v["customerId"] = json!(format!("suki-{}", i % 4));
            }
            v.to_string()
        })
        .collect();
    app.ingest_ok(&app.token, ndjson(&lines)).await;
    // Small batches of 3 partitions (the index path)...
    let small = process(&app.store).await;
    assert_eq!(small.gold.partitions, 80);
    let by_small = snapshot(&app.store).await;
    // ...and one batch of all 80 (the path a rebuild takes).
    assert_eq!(app.store.queue_gold_rebuild().await.unwrap(), 80);
    let large = Pipeline::new(
        app.store.clone(),
        Arc::new(BrandMatcher::shipped().unwrap()),
        PipelineOptions::default(),
    )
    .gold_pass()
    .await
    .unwrap();
    assert_eq!(large.partitions, 80);
    assert_eq!(snapshot(&app.store).await, by_small);
    // Two transactions a day, each counted once for Coca-Cola although it has two Coke rows.
    let gold = table_lines(&app.store, "gold").await;
    let coke: Vec<_> = gold.iter().filter(|l| l.contains("|Coca-Cola|")).collect();
    assert_eq!(coke.len(), 80);
    for line in coke {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields[6], "2", "transaction_count in {line}");
    }
    app.finish().await;
}

/// The SKU the test databases refuse in silver, and the store they refuse in gold.
const REFUSED_SKU: &str = "REFUSED-BY-DATABASE";
const REFUSED_STORE: &str = "999";

/// Makes this test's own scratch database refuse, as a constraint violation (data the database
/// will not store), any silver row with SKU [`REFUSED_SKU`] and any gold row of store
/// [`REFUSED_STORE`]: values the range checks let through, as any the database might still
/// refuse. A CHECK constraint on PostgreSQL, a trigger on SQLite (which cannot add one).
async fn refuse_in_database(store: &Store) {
    let statements = match store.backend() {
        StoreBackend::Sqlite => [
            format!(
                "CREATE TRIGGER scratch_refuses_sku BEFORE INSERT \
                 ON silver.transactions_cleaned WHEN NEW.sku = '{REFUSED_SKU}' \
                 BEGIN SELECT RAISE(ABORT, 'the test database refuses this sku'); END"
            ),
            format!(
                "CREATE TRIGGER scratch_refuses_store BEFORE INSERT \
                 ON scout.scout_gold_transactions WHEN NEW.store_id = '{REFUSED_STORE}' \
                 BEGIN SELECT RAISE(ABORT, 'the test database refuses this store'); END"
            ),
        ],
        StoreBackend::Postgres => [
            format!(
                "ALTER TABLE silver.transactions_cleaned ADD CONSTRAINT \
                 scratch_test_refuses_sku CHECK (sku IS DISTINCT FROM '{REFUSED_SKU}')"
            ),
            format!(
                "ALTER TABLE scout.scout_gold_transactions ADD CONSTRAINT \
                 scratch_test_refuses_store CHECK (store_id <> '{REFUSED_STORE}')"
            ),
        ],
    };
    for sql in statements {
        store.execute(&sql, &[]).await.unwrap();
    }
}

/// Undoes [`refuse_in_database`].
async fn accept_in_database(store: &Store) {
    let statements = match store.backend() {
        StoreBackend::Sqlite => [
            "DROP TRIGGER scratch_refuses_sku",
            "DROP TRIGGER scratch_refuses_store",
        ],
        StoreBackend::Postgres => [
            "ALTER TABLE silver.transactions_cleaned DROP CONSTRAINT scratch_test_refuses_sku",
            "ALTER TABLE scout.scout_gold_transactions DROP CONSTRAINT scratch_test_refuses_store",
        ],
    };
    for sql in statements {
        store.execute(sql, &[]).await.unwrap();
    }
}

/// `metadata.gold_failures`: (day, store, error), by day and store.
async fn gold_failures(store: &Store) -> Vec<(String, String, String)> {
    store
        .query(
            "SELECT transaction_date::text, store_id, error FROM metadata.gold_failures \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.text(0).unwrap(), r.text(1).unwrap(), r.text(2).unwrap()))
        .collect()
}

/// Revenue and transactions outside store [`REFUSED_STORE`]: (silver centavos, gold centavos,
/// product analytics centavos, customer analytics centavos, customer analytics transactions,
/// distinct silver transactions).
async fn revenue(store: &Store) -> [i64; 6] {
    let row = store
        .query(
            &format!(
                "SELECT \
                   (SELECT CAST(coalesce(sum(amount_centavos), 0) AS BIGINT) \
                    FROM silver.transactions_cleaned WHERE store_id <> '{REFUSED_STORE}'), \
                   (SELECT CAST(coalesce(sum(revenue_centavos), 0) AS BIGINT) \
                    FROM scout.scout_gold_transactions), \
                   (SELECT CAST(coalesce(sum(revenue_centavos), 0) AS BIGINT) \
                    FROM gold.product_analytics), \
                   (SELECT CAST(coalesce(sum(revenue_centavos), 0) AS BIGINT) \
                    FROM gold.customer_analytics), \
                   (SELECT CAST(coalesce(sum(transaction_count), 0) AS BIGINT) \
                    FROM gold.customer_analytics), \
                   (SELECT CAST(count(DISTINCT transaction_id) AS BIGINT) \
                    FROM silver.transactions_cleaned WHERE store_id <> '{REFUSED_STORE}')"
            ),
            &[],
        )
        .await
        .unwrap();
    std::array::from_fn(|i| row[0].int(i).unwrap())
}

/// A good sale of `n` items at `store` by `device`, with the exact centavos it is worth.
fn good_sale(id: &str, day: u32, i: usize, device: &str, store: &str) -> (String, i64) {
    const CATALOGUE: [(&str, &str, f64); 6] = [
        ("Coca-Cola", "Coke Mismo 290ml", 15.0),
        ("Lucky Me", "Pancit Canton 60g", 14.25),
        ("Safeguard", "Safeguard 60g", 28.5),
        ("Kopiko", "Kopiko Brown 3in1", 8.0),
        ("Tide", "Tide Bar 125g", 12.0),
        ("Piattos", "Piattos Cheese 40g", 19.75),
    ];
    let items: Vec<_> = (0..1 + i % 3)
        .map(|k| {
            let (b, p, price) = CATALOGUE[(i + k * 5) % CATALOGUE.len()];
            (b, p, (1 + (i + k) % 3) as f64, price)
        })
        .collect();
    let centavos = items
        .iter()
        .map(|(_, _, q, p)| (q * p * 100.0).round() as i64)
        .sum();
    let mut v = sale(
        id,
        // 00:00 to 15:59 UTC: the same business day in Manila.
        &format!("2026-11-{day}T{:02}:{:02}:00Z", i % 16, i % 60),
        &items,
        ["cash", "gcash", "maya", "utang"][i % 4],
    );
    v["storeId"] = json!(store);
    v["deviceId"] = json!(device);
    (v.to_string(), centavos)
}

/// A quarantine row the test expects: transaction, item index, reason codes, and the field a
/// `field_too_long` reason names.
type Expected = (String, Option<i64>, Vec<&'static str>, Option<String>);

/// The poison transactions, each with the quarantine rows it must produce. Lines for store 104
/// (device SCOUTPI-0004) unless they say otherwise.
fn poison() -> (Vec<String>, Vec<Expected>, i64) {
    let id = |n: u32| format!("dddddddd-0000-4000-8000-{n:012}");
    let coke = json!({"brandName": "Coca-Cola", "productName": "Coke Mismo", "quantity": 1,
                      "unitPrice": 15, "totalPrice": 15});
    let base = |n: u32, items: Vec<Value>| {
        let mut v = sale(&id(n), "2026-11-21T03:00:00Z", &[], "cash");
        v["items"] = json!(items);
        v
    };
    let item = |extra: Value| {
        let mut v = json!({"brandName": "Kopiko", "productName": "Kopiko Brown", "quantity": 1,
                           "unitPrice": 8, "totalPrice": 8});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let long = |n: usize| "x".repeat(n);
    let mut lines = Vec::new();
    let mut expected: Vec<Expected> = Vec::new();
    let mut sold_centavos = 0;
    let mut expect = |n: u32, i: Option<i64>, codes: Vec<&'static str>, field: Option<&str>| {
        expected.push((id(n), i, codes, field.map(str::to_owned)));
    };

    // An item of ₱1e17 (centavos saturate; numeric(14, 2) overflows) beside a good one.
    lines.push(base(
        1,
        vec![
            item(json!({"unitPrice": null, "totalPrice": 1e17})),
            coke.clone(),
        ],
    ));
    expect(1, Some(0), vec!["amount_out_of_range"], None);
    sold_centavos += 1500;
    // A 3,000-character payment method (too long for a gold index row on PostgreSQL).
    let mut v = base(2, vec![item(json!({}))]);
    v["transactionContext"]["paymentMethod"] = json!(long(3000));
    lines.push(v);
    expect(
        2,
        None,
        vec!["field_too_long"],
        Some("transactionContext.paymentMethod"),
    );
    // Quantities of 1e300 (the basket's units become infinite) and 1e-9 (gold's average unit
    // price overflows), a unit price of ₱1e15, and an amount that overflows to infinity.
    lines.push(base(3, vec![item(json!({"quantity": 1e300}))]));
    expect(3, Some(0), vec!["quantity_out_of_range"], None);
    lines.push(base(4, vec![item(json!({"quantity": 1e-9}))]));
    expect(4, Some(0), vec!["quantity_out_of_range"], None);
    lines.push(base(
        5,
        vec![item(json!({"unitPrice": 1e15, "totalPrice": 50}))],
    ));
    expect(5, Some(0), vec!["unit_price_out_of_range"], None);
    lines.push(base(
        6,
        vec![item(
            json!({"quantity": 1e10, "unitPrice": 1e300, "totalPrice": null}),
        )],
    ));
    expect(
        6,
        Some(0),
        vec![
            "amount_out_of_range",
            "quantity_out_of_range",
            "unit_price_out_of_range",
        ],
        None,
    );
    // Over-long item texts quarantine their item; the good item beside them sells.
    lines.push(base(
        7,
        vec![
            item(json!({"sku": long(3000)})),
            item(json!({"productName": long(5000)})),
            item(json!({"brandName": long(2000)})),
            coke.clone(),
        ],
    ));
    expect(7, Some(0), vec!["field_too_long"], Some("items[0].sku"));
    expect(
        7,
        Some(1),
        vec!["field_too_long"],
        Some("items[1].productName"),
    );
    expect(
        7,
        Some(2),
        vec!["field_too_long"],
        Some("items[2].brandName"),
    );
    sold_centavos += 1500;
    // Over-long customer fields and location quarantine the whole transaction.
    let mut v = base(8, vec![item(json!({}))]);
    v["customerId"] = json!(long(3000));
    lines.push(v);
    expect(8, None, vec!["field_too_long"], Some("customerId"));
    let mut v = base(9, vec![item(json!({}))]);
    v["demographics"] = json!({"ageBracket": long(3000)});
    lines.push(v);
    expect(9, None, vec!["field_too_long"], Some("ageBracket"));
    let mut v = base(10, vec![item(json!({}))]);
    v["gender"] = json!(long(3000));
    lines.push(v);
    expect(10, None, vec!["field_too_long"], Some("gender"));
    let mut v = base(11, vec![item(json!({}))]);
    v["location"] = json!({"barangay": long(20_000), "lat": 14.6, "lon": 121.0});
    lines.push(v);
    expect(11, None, vec!["field_too_long"], Some("location"));
    // No timestamp of its own, and an agent clock in the year 9999.
    let mut v = base(13, vec![item(json!({}))]);
    v.as_object_mut().unwrap().remove("timestamp");
    lines.push(Value::String(stamp(v, 1, "9999-12-31T23:59:59Z")));
    expect(13, None, vec!["timestamp_out_of_range"], None);
    // "NaN" for a price: no amount at all.
    lines.push(base(
        14,
        vec![item(json!({"unitPrice": "NaN", "totalPrice": "NaN"}))],
    ));
    expect(14, Some(0), vec!["missing_amount"], None);
    // Passes every check, but the database refuses it: set aside whole.
    lines.push(base(15, vec![item(json!({"sku": REFUSED_SKU}))]));
    expect(15, None, vec!["storage_failed"], None);
    let lines = lines
        .into_iter()
        .map(|l| match l {
            Value::String(s) => s,
            v => v.to_string(),
        })
        .collect();
    (lines, expected, sold_centavos)
}

/// The quarantine as (transaction, item index, codes, field of the first reason), sorted.
async fn quarantine_summary(store: &Store) -> Vec<Expected> {
    let mut rows: Vec<Expected> = quarantine(store)
        .await
        .into_iter()
        .map(|(t, i, reasons)| {
            let codes = codes(&reasons)
                .into_iter()
                .map(|c| &*c.to_owned().leak())
                .collect();
            let field = reasons[0]["field"].as_str().map(str::to_owned);
            (t, i, codes, field)
        })
        .collect();
    rows.sort();
    rows
}

/// The storage_failed quarantine rows' messages.
async fn storage_failures(store: &Store) -> Vec<String> {
    quarantine(store)
        .await
        .into_iter()
        .filter(|(.., r)| codes(r) == ["storage_failed"])
        .map(|(.., r)| r[0]["message"].as_str().unwrap().to_owned())
        .collect()
}

async fn poison_rows_never_stall_the_pipeline(backend: Backend) {
    // The background pipeline, as `serve` runs it (two silver workers on PostgreSQL); the poll
    // is long, so only ingest's wake-ups drive it.
    let app = TestApp::spawn_processing(TestDb::for_backend(backend).await.unwrap(), 30.0).await;
    refuse_in_database(&app.store).await;
    let token5 = app.add_device("SCOUTPI-0005", "105").await;
    let token9 = app.add_device("SCOUTPI-0009", REFUSED_STORE).await;
    let long_store = "s".repeat(200);
    let token8 = app.add_device("SCOUTPI-0008", &long_store).await;

    let (lines, mut expected, poison_centavos) = poison();
    app.ingest_ok(&app.token, ndjson(&lines)).await;
    // A store id over its limit (a device registered so); the line names none.
    let mut v = sale(
        "dddddddd-0000-4000-8000-000000000012",
        "2026-11-21T03:00:00Z",
        &[("Kopiko", "Kopiko Brown", 1.0, 8.0)],
        "cash",
    );
    v.as_object_mut().unwrap().remove("storeId");
    v["deviceId"] = json!("SCOUTPI-0008");
    app.ingest_ok(&token8, ndjson(&[v.to_string()])).await;
    expected.push((
        "dddddddd-0000-4000-8000-000000000012".into(),
        None,
        vec!["field_too_long"],
        Some("storeId".into()),
    ));
    // A good sale whose gold partition the database refuses.
    let (refused_gold, _) = good_sale(
        "dddddddd-0000-4000-8000-000000000016",
        22,
        1,
        "SCOUTPI-0009",
        REFUSED_STORE,
    );
    app.ingest_ok(&token9, ndjson(&[refused_gold])).await;

    // Then 1,000 good transactions over five days at two stores, with one more row the database
    // refuses in the middle of them.
    let mut good_centavos = 0;
    let mut bodies: [Vec<String>; 2] = Default::default();
    for i in 0..1000 {
        let (device, store, body) = if i % 2 == 0 {
            ("SCOUTPI-0004", "104", 0)
        } else {
            ("SCOUTPI-0005", "105", 1)
        };
        let id = format!("ffffffff-0000-4000-8000-{i:012}");
        let (line, centavos) = good_sale(&id, 20 + (i % 5) as u32, i, device, store);
        good_centavos += centavos;
        bodies[body].push(line);
        if i == 500 {
            let mut v = sale(
                "dddddddd-0000-4000-8000-000000000017",
                "2026-11-22T05:00:00Z",
                &[("Kopiko", "Kopiko Brown", 1.0, 8.0)],
                "cash",
            );
            v["items"][0]["sku"] = json!(REFUSED_SKU);
            bodies[0].push(v.to_string());
            expected.push((
                "dddddddd-0000-4000-8000-000000000017".into(),
                None,
                vec!["storage_failed"],
                None,
            ));
        }
    }
    for chunk in bodies[0].chunks(167) {
        app.ingest_ok(&app.token, ndjson(chunk)).await;
    }
    for chunk in bodies[1].chunks(167) {
        app.ingest_ok(&token5, ndjson(chunk)).await;
    }

    // The pipeline catches up: nothing pending in bronze or the gold queue.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let b = app.store.backlog().await.unwrap();
        if b.bronze_pending == 0 && b.gold_pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the pipeline stalled: {b:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every poison item and transaction is quarantined with its reason, and nothing else is.
    expected.sort();
    assert_eq!(quarantine_summary(&app.store).await, expected);
    let failures = storage_failures(&app.store).await;
    assert_eq!(failures.len(), 2);
    for message in &failures {
        assert!(
            message.starts_with("the database refused this transaction's silver rows: ")
                && message.contains("refuses"),
            "{message}"
        );
    }
    // The 1,000 good transactions (and the good items beside poison ones) reach gold, exactly.
    let [
        silver,
        gold,
        product,
        customer,
        transactions,
        silver_transactions,
    ] = revenue(&app.store).await;
    assert_eq!(silver, good_centavos + poison_centavos);
    assert_eq!((gold, product, customer), (silver, silver, silver));
    assert_eq!(transactions, 1002, "1,000 good and two with good items");
    assert_eq!(silver_transactions, 1002);
    // The refused partition is recorded for an operator, off the queue; no gold for it.
    let failed = gold_failures(&app.store).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (failed[0].0.as_str(), failed[0].1.as_str()),
        ("2026-11-22", REFUSED_STORE)
    );
    assert!(failed[0].2.contains("refuses"), "{failed:?}");
    let gold_lines = table_lines(&app.store, "gold").await;
    assert!(
        !gold_lines
            .iter()
            .any(|l| l.contains(&format!("|{REFUSED_STORE}|")))
    );
    // Five days at two stores.
    let partitions: std::collections::BTreeSet<_> = gold_lines
        .iter()
        .map(|l| l.split('|').take(2).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(partitions.len(), 10, "{partitions:?}");

    // Counted and visible: two bronze rows and one gold partition set aside.
    let page = metrics_page(&app).await;
    assert_eq!(metric(&page, "etl_processing_errors"), 3.0, "{page}");
    assert_eq!(
        metric(&page, "scout_etl_set_aside_total{stage=\"silver\"}"),
        2.0
    );
    assert_eq!(
        metric(&page, "scout_etl_set_aside_total{stage=\"gold\"}"),
        1.0
    );
    assert_eq!(metric(&page, "scout_etl_gold_failed_partitions"), 1.0);
    assert_eq!(metric(&page, "scout_etl_bronze_pending"), 0.0);
    assert_eq!(metric(&page, "scout_etl_gold_pending_partitions"), 0.0);
    app.finish().await;
}

async fn refused_rows_are_set_aside_and_come_back_once_fixed(backend: Backend) {
    let app = app(backend).await;
    refuse_in_database(&app.store).await;
    let token9 = app.add_device("SCOUTPI-0009", REFUSED_STORE).await;
    let mut lines = Vec::new();
    for i in 0..200 {
        let (line, _) = good_sale(
            &format!("ffffffff-0000-4000-8000-{i:012}"),
            20 + (i % 4) as u32,
            i,
            "SCOUTPI-0004",
            "104",
        );
        let mut v: Value = serde_json::from_str(&line).unwrap();
        if i == 77 || i == 150 {
            v["items"][0]["sku"] = json!(REFUSED_SKU);
        }
        lines.push(v.to_string());
    }
    app.ingest_ok(&app.token, ndjson(&lines)).await;
    let (refused_gold, _) = good_sale(
        "dddddddd-0000-4000-8000-000000000016",
        21,
        0,
        "SCOUTPI-0009",
        REFUSED_STORE,
    );
    app.ingest_ok(&token9, ndjson(&[refused_gold])).await;

    // Batches of 64 rows and 3 partitions: the refused rows fail their batches, which are
    // retried in halves; everything else commits.
    let pipeline = pipeline(&app.store);
    let report = pipeline.catch_up().await.unwrap();
    assert_eq!(report.silver.bronze_rows, 201);
    assert_eq!(report.silver.quarantined, 2);
    assert_eq!(report.gold.partitions, 4, "the four days of store 104");
    let metrics = pipeline.metrics();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&metrics.errors), 3);
    assert_eq!(load(&metrics.silver_set_aside), 2);
    assert_eq!(load(&metrics.gold_set_aside), 1);
    assert_eq!(load(&metrics.bronze_processed), 201);
    let q = quarantine(&app.store).await;
    let set_aside: Vec<_> = q
        .iter()
        .map(|(t, i, r)| (t.as_str(), *i, codes(r)))
        .collect();
    assert_eq!(
        set_aside,
        [
            (
                "ffffffff-0000-4000-8000-000000000077",
                None,
                vec!["storage_failed"]
            ),
            (
                "ffffffff-0000-4000-8000-000000000150",
                None,
                vec!["storage_failed"]
            ),
        ]
    );
    // Their bronze rows are processed and scored 0, with the reason in bronze too.
    for (id, score, issues) in bronze_quality(&app.store).await {
        let refused = [
            "ffffffff-0000-4000-8000-000000000077",
            "ffffffff-0000-4000-8000-000000000150",
        ];
        if refused.contains(&id.as_str()) {
            assert_eq!(
                (score, issues),
                (Some(0.0), vec!["storage_failed".to_owned()])
            );
        } else {
            assert!(score.unwrap() > 0.0);
        }
    }
    let b = app.store.backlog().await.unwrap();
    assert_eq!((b.bronze_pending, b.gold_pending, b.gold_failed), (0, 0, 1));
    assert_eq!(gold_failures(&app.store).await[0].1, REFUSED_STORE);
    // Nothing is retried forever: the next pass finds nothing to do.
    let again = pipeline.catch_up().await.unwrap();
    assert_eq!((again.silver.bronze_rows, again.gold.partitions), (0, 0));
    assert_eq!(load(&metrics.errors), 3);

    // Once the database takes them, a rebuild brings them back: silver replaces the quarantine
    // rows, gold rebuilds the partition, and its failure record goes.
    accept_in_database(&app.store).await;
    assert_eq!(app.store.reset_medallion().await.unwrap(), 201);
    let rebuilt = pipeline.catch_up().await.unwrap();
    assert_eq!(
        (rebuilt.silver.bronze_rows, rebuilt.silver.quarantined),
        (201, 0)
    );
    assert!(quarantine(&app.store).await.is_empty());
    assert!(gold_failures(&app.store).await.is_empty());
    assert_eq!(app.store.backlog().await.unwrap().gold_failed, 0);
    let sums = day_sums(&app.store).await;
    assert_eq!(sums.len(), 4);
    for (day, silver, gold, product, customer) in &sums {
        assert_eq!((gold, product, customer), (silver, silver, silver), "{day}");
    }
    assert!(
        table_lines(&app.store, "gold")
            .await
            .iter()
            .any(|l| l.starts_with(&format!("2026-11-21|{REFUSED_STORE}|")))
    );
    assert_eq!(load(&metrics.errors), 3);
    app.finish().await;
}

/// A silver pass that writes many rows refreshes PostgreSQL's statistics of silver (which gold's
/// rebuild plans with next); a smaller one leaves them to the database's own upkeep.
mod statistics {
    mod postgres {
        use super::super::*;

        async fn last_analyze(store: &Store) -> Option<String> {
            store
                .query_texts(
                    "SELECT CAST(last_analyze AS TEXT) FROM pg_stat_user_tables \
                     WHERE schemaname = 'silver' AND relname = 'transactions_cleaned'",
                    &[],
                )
                .await
                .unwrap()
                .remove(0)
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_large_silver_pass_refreshes_silvers_statistics() {
            let Some(db) = TestDb::postgres().await else {
                return;
            };
            let app = TestApp::spawn_ingest_only(db).await;
            let pipeline = |analyze_after_rows| {
                Pipeline::new(
                    app.store.clone(),
                    Arc::new(BrandMatcher::shipped().unwrap()),
                    PipelineOptions {
                        analyze_after_rows,
                        ..PipelineOptions::default()
                    },
                )
            };
            let sales = |range: std::ops::Range<u32>| {
                let lines: Vec<String> = range
                    .map(|i| {
                        sale(
                            &format!("abababab-0000-4000-8000-{i:012}"),
                            "2026-11-20T09:30:00Z",
                            &[
                                ("Coca-Cola", "Coke Mismo 290ml", 1.0, 15.0),
                                ("Lucky Me", "Pancit Canton 60g", 2.0, 14.25),
                            ],
                            "cash",
                        )
                        .to_string()
                    })
                    .collect();
                ndjson(&lines)
            };
            // 20 silver rows, under a threshold of 21: no refresh.
            app.ingest_ok(&app.token, sales(0..10)).await;
            let pass = pipeline(21).silver_pass().await.unwrap();
            assert_eq!(pass.silver_rows, 20);
            assert_eq!(last_analyze(&app.store).await, None);
            // 22 more: at the threshold of 22, refreshed.
            app.ingest_ok(&app.token, sales(10..21)).await;
            let pass = pipeline(22).silver_pass().await.unwrap();
            assert_eq!(pass.silver_rows, 22);
            assert!(last_analyze(&app.store).await.is_some());
            app.finish().await;
        }
    }
}
