//! Platinum on both backends: plans answered through the engine must equal SQL written by hand
//! against silver over a generated fixture (whichever table the engine chose), the reader
//! cannot write, slow queries are cut off, and every call is audited.

use std::time::Duration;

use scout_collector::Store;
use scout_collector::platinum::{Engine, Plan};
use scout_collector::store::{READER_ROLE, ReadLimits};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, ndjson};
use crate::medallion::{process, sale};

crate::both_backends!(
    nl2sql_plans_equal_hand_written_sql,
    nl2sql_reader_cannot_write,
    nl2sql_slow_queries_are_cut_off,
    nl2sql_calls_are_audited_and_cached,
);

/// The day relative periods count from in these tests (a Saturday).
pub(crate) const AS_OF: &str = "2026-12-05";

const CATALOGUE: [(&str, &str, &str, f64); 8] = [
    ("Coca-Cola", "Coke Mismo 290ml", "Beverages", 15.0),
    ("Lucky Me", "Pancit Canton 60g", "Instant Noodles", 14.25),
    ("Bear Brand", "Bear Brand Swak 33g", "Dairy", 12.0),
    ("Safeguard", "Safeguard 60g", "Personal Care", 28.5),
    ("Kopiko", "Kopiko Brown 3in1", "Coffee", 8.0),
    ("Tide", "Tide Bar 125g", "Household", 12.0),
    ("Piattos", "Piattos Cheese 40g", "Snacks", 19.75),
    ("Qwzx", "Qwzx", "Snacks", 7.0),
];

/// About 400 sales over 13 days (2026-11-23 to 12-05), three stores, four payment methods, all
/// dayparts; some with customer ids and demographics, some with an unresolvable brand. Runs
/// the pipeline, so silver and gold both hold it.
pub(crate) async fn fixture(app: &TestApp) {
    let token2 = app.add_device("SCOUTPI-0002", "102").await;
    let token5 = app.add_device("SCOUTPI-0005", "105").await;
    let payments = ["cash", "gcash", "maya", "cash", "utang"];
    let ages = ["18-24", "25-34", "35-44", "45-54"];
    for (s, (device, token, store)) in [
        ("SCOUTPI-0004", app.token.as_str(), "104"),
        ("SCOUTPI-0002", token2.as_str(), "102"),
        ("SCOUTPI-0005", token5.as_str(), "105"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut lines = Vec::new();
        for i in 0..130usize {
            let day = 23 + (i * 7 + s) % 13;
            let date = if day <= 30 {
                format!("2026-11-{day:02}")
            } else {
                format!("2026-12-{:02}", day - 30)
            };
            // 00:00-15:59 UTC is 08:00-23:59 in Manila: the same business day.
            let hour = (i * 5 + s * 3) % 16;
            let n = 1 + (i + s) % 4;
            let items: Vec<(&str, &str, f64, f64)> = (0..n)
                .map(|k| {
                    let (b, p, _, price) = CATALOGUE[(i * 3 + k * 5 + s) % CATALOGUE.len()];
                    (b, p, (1 + (i + k) % 3) as f64, price)
                })
                .collect();
            let mut v = sale(
                &format!("cccccccc-0000-4000-8000-{s}{i:011}"),
                &format!("{date}T{hour:02}:{:02}:00Z", (i * 11) % 60),
                &items,
                payments[(i + s) % payments.len()],
            );
            for (k, item) in v["items"].as_array_mut().unwrap().iter_mut().enumerate() {
                let (_, _, category, _) = CATALOGUE[(i * 3 + k * 5 + s) % CATALOGUE.len()];
                item["category"] = json!(category);
            }
            v["storeId"] = json!(store);
            v["deviceId"] = json!(device);
            if i % 4 == 0 {
                v["customerId"] = json!(format!("suki-{}", i % 7));
            }
            if i % 3 == 0 {
                v["customer"] = json!({"ageBracket": ages[i % 4],
                                       "gender": if i % 2 == 0 { "female" } else { "male" }});
            }
            lines.push(v.to_string());
        }
        app.ingest_ok(token, ndjson(&lines)).await;
    }
    process(&app.store).await;
}

/// What a column holds, to read a hand-written query's value the way the engine shapes it.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Text,
    /// Centavos, shown as pesos.
    Centavos,
    Int,
    Float,
}

/// Runs hand-written SQL (portable spelling) and shapes its rows like the engine's answer.
pub(crate) async fn hand(store: &Store, sql: &str, kinds: &[Kind]) -> Vec<Vec<Value>> {
    let rows = store
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            kinds
                .iter()
                .enumerate()
                .map(|(i, k)| match k {
                    Kind::Text => r.opt_text(i).unwrap().map_or(Value::Null, Value::from),
                    Kind::Centavos => json!(r.int(i).unwrap() as f64 / 100.0),
                    Kind::Int => json!(r.int(i).unwrap()),
                    Kind::Float => r.opt_float(i).unwrap().map_or(Value::Null, Value::from),
                })
                .collect()
        })
        .collect()
}

/// Whether two answers agree: same text and integers, numbers within a cent (the engine rounds
/// averages to 2 places, units to 4).
pub(crate) fn same_rows(a: &[Vec<Value>], b: &[Vec<Value>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(u, v)| match (u.as_f64(), v.as_f64()) {
                        (Some(u), Some(v)) => (u - v).abs() <= 0.005 + 1e-9 * u.abs().max(v.abs()),
                        _ => u == v,
                    })
        })
}

const SILVER: &str = "silver.transactions_cleaned";
const BASKET: &str = "device_id || ':' || transaction_id";

/// (plan, hand-written SQL over silver, column kinds, the table the engine should pick).
fn cases() -> Vec<(Value, String, Vec<Kind>, &'static str)> {
    use Kind::*;
    let brand = "coalesce(brand_name, 'Unknown')";
    vec![
        (
            json!({"intent": "top_n", "dimensions": ["brand"], "measures": ["revenue"],
                   "filters": {"period": {"kind": "last_days", "days": 7}}, "limit": 5}),
            format!(
                "SELECT {brand}, CAST(sum(amount_centavos) AS BIGINT) FROM {SILVER} WHERE transaction_date \
                     BETWEEN '2026-11-29' AND '2026-12-05' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
            ),
            vec![Text, Centavos],
            "gold",
        ),
        (
            json!({"intent": "aggregate", "measures": ["units"],
                   "filters": {"period": {"kind": "yesterday"}, "brands": ["bear brand"],
                               "stores": ["102"]}}),
            format!(
                "SELECT CAST(coalesce(sum(quantity), 0) AS DOUBLE PRECISION) FROM {SILVER} \
                     WHERE transaction_date = '2026-12-04' AND brand_name = 'Bear Brand' \
                     AND store_id = '102'"
            ),
            vec![Float],
            "gold",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["category"], "measures": ["revenue"],
                   "filters": {"period": {"kind": "between", "from": "2026-11-01",
                                          "to": "2026-11-30"}}}),
            format!(
                "SELECT product_category, CAST(sum(amount_centavos) AS BIGINT) FROM {SILVER} \
                     WHERE transaction_date BETWEEN '2026-11-01' AND '2026-11-30' \
                     GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Centavos],
            "gold",
        ),
        (
            json!({"intent": "compare", "dimensions": ["payment_method"],
                   "measures": ["transactions", "avg_basket_pesos", "avg_basket_units"],
                   "filters": {"payment_methods": ["GCash", "cash"], "dayparts": ["evening"]}}),
            format!(
                "SELECT payment_method, count(DISTINCT {BASKET}), \
                     CAST(CAST(sum(amount_centavos) AS BIGINT) AS DOUBLE PRECISION) / 100.0 / \
                       count(DISTINCT {BASKET}), \
                     CAST(sum(quantity) AS DOUBLE PRECISION) / count(DISTINCT {BASKET}) \
                     FROM {SILVER} WHERE payment_method IN ('gcash', 'cash') \
                     AND daypart = 'evening' GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Int, Float, Float],
            "customers",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["store"], "measures": ["revenue"],
                   "filters": {"period": {"kind": "this_week"}}}),
            format!(
                "SELECT store_id, CAST(sum(amount_centavos) AS BIGINT) FROM {SILVER} \
                     WHERE transaction_date BETWEEN '2026-11-30' AND '2026-12-06' \
                     GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Centavos],
            "gold",
        ),
        (
            json!({"intent": "trend", "dimensions": ["day", "store"], "measures": ["units"],
                   "filters": {"period": {"kind": "last_week"},
                               "categories": ["instant noodles"]}}),
            format!(
                "SELECT CAST(transaction_date AS TEXT), store_id, \
                     CAST(sum(quantity) AS DOUBLE PRECISION) FROM {SILVER} \
                     WHERE transaction_date BETWEEN '2026-11-23' AND '2026-11-29' \
                     AND product_category = 'Instant Noodles' GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            vec![Text, Text, Float],
            "gold",
        ),
        (
            json!({"intent": "aggregate", "measures": ["unique_customers", "transactions"],
                   "filters": {"weekend": true}}),
            format!(
                "SELECT count(DISTINCT customer_id) + count(DISTINCT CASE WHEN customer_id \
                     IS NULL THEN {BASKET} END), count(DISTINCT {BASKET}) FROM {SILVER} \
                     WHERE day_type = 'weekend'"
            ),
            vec![Int, Int],
            "silver",
        ),
        (
            json!({"intent": "crosstab", "dimensions": ["brand", "daypart"],
                   "measures": ["revenue"]}),
            format!(
                "SELECT {brand}, daypart, CAST(sum(amount_centavos) AS BIGINT) FROM {SILVER} \
                     GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            vec![Text, Text, Centavos],
            "brand_dayparts",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["brand"],
                   "measures": ["transactions", "avg_basket_pesos"]}),
            format!(
                "SELECT {brand}, count(DISTINCT {BASKET}), \
                     CAST(CAST(sum(amount_centavos) AS BIGINT) AS DOUBLE PRECISION) / 100.0 \
                     / count(DISTINCT {BASKET}) FROM {SILVER} GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Int, Float],
            "brand_dayparts",
        ),
        (
            // Snacks baskets may hold two brands: each counts once.
            json!({"intent": "aggregate", "dimensions": ["category"],
                   "measures": ["transactions", "avg_basket_units"],
                   "filters": {"weekend": false}}),
            format!(
                "SELECT product_category, count(DISTINCT {BASKET}), \
                     CAST(sum(quantity) AS DOUBLE PRECISION) / count(DISTINCT {BASKET}) \
                     FROM {SILVER} WHERE day_type = 'weekday' GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Int, Float],
            "brand_dayparts",
        ),
        (
            // Baskets per brand and payment method (a basket with two items of a brand counts
            // once), and per category with one payment method.
            json!({"intent": "aggregate", "dimensions": ["brand", "payment_method"],
                   "measures": ["transactions", "revenue"]}),
            format!(
                "SELECT {brand}, payment_method, count(DISTINCT {BASKET}), \
                     CAST(sum(amount_centavos) AS BIGINT) FROM {SILVER} \
                     GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            vec![Text, Text, Int, Centavos],
            "brand_payments",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["category"],
                   "measures": ["transactions", "avg_basket_pesos"],
                   "filters": {"payment_methods": ["GCash"]}}),
            format!(
                "SELECT product_category, count(DISTINCT {BASKET}), \
                     CAST(CAST(sum(amount_centavos) AS BIGINT) AS DOUBLE PRECISION) / 100.0 \
                     / count(DISTINCT {BASKET}) FROM {SILVER} \
                     WHERE payment_method IN ('gcash') GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Int, Float],
            "brand_payments",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["brand"],
                   "measures": ["transactions", "unique_customers"],
                   "filters": {"payment_methods": ["GCash", "utang"]}}),
            format!(
                "SELECT {brand}, count(DISTINCT {BASKET}), count(DISTINCT customer_id) + \
                     count(DISTINCT CASE WHEN customer_id IS NULL THEN {BASKET} END) \
                     FROM {SILVER} WHERE payment_method IN ('gcash', 'utang') \
                     GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Int, Int],
            "silver",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["category", "day_type"],
                   "measures": ["units", "revenue"],
                   "filters": {"dayparts": ["Evening", "night"], "weekend": true}}),
            format!(
                "SELECT product_category, day_type, CAST(sum(quantity) AS DOUBLE PRECISION), \
                     CAST(sum(amount_centavos) AS BIGINT) FROM {SILVER} \
                     WHERE daypart IN ('evening', 'night') AND day_type = 'weekend' \
                     GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            vec![Text, Text, Float, Centavos],
            "brand_dayparts",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["age_bracket", "gender"],
                   "measures": ["transactions"]}),
            format!(
                "SELECT age_bracket, gender, count(DISTINCT {BASKET}) FROM {SILVER} \
                     GROUP BY 1, 2 ORDER BY (age_bracket IS NULL), 1, (gender IS NULL), 2"
            ),
            vec![Text, Text, Int],
            "baskets",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["gender"],
                   "measures": ["avg_basket_pesos", "avg_basket_units", "units"],
                   "filters": {"payment_methods": ["GCash", "cash"],
                               "period": {"kind": "last_month"}}}),
            format!(
                "SELECT gender, CAST(CAST(sum(amount_centavos) AS BIGINT) AS DOUBLE PRECISION) \
                     / 100.0 / count(DISTINCT {BASKET}), \
                     CAST(sum(quantity) AS DOUBLE PRECISION) / count(DISTINCT {BASKET}), \
                     CAST(sum(quantity) AS DOUBLE PRECISION) FROM {SILVER} \
                     WHERE payment_method IN ('gcash', 'cash') \
                     AND transaction_date BETWEEN '2026-11-01' AND '2026-11-30' \
                     GROUP BY 1 ORDER BY (gender IS NULL), 1"
            ),
            vec![Text, Float, Float, Float],
            "baskets",
        ),
        (
            json!({"intent": "aggregate", "dimensions": ["basket_band"],
                   "measures": ["avg_basket_units", "revenue"],
                   "filters": {"period": {"kind": "last_month"}}}),
            format!(
                "SELECT basket_band, CAST(sum(quantity) AS DOUBLE PRECISION) / \
                     count(DISTINCT {BASKET}), CAST(sum(amount_centavos) AS BIGINT) FROM {SILVER} \
                     WHERE transaction_date BETWEEN '2026-11-01' AND '2026-11-30' \
                     GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Float, Centavos],
            "customers",
        ),
        (
            json!({"intent": "trend", "dimensions": ["month"], "measures": ["revenue", "units"]}),
            format!(
                "SELECT substr(CAST(transaction_date AS TEXT), 1, 7), CAST(sum(amount_centavos) AS BIGINT), \
                     CAST(sum(quantity) AS DOUBLE PRECISION) FROM {SILVER} \
                     GROUP BY 1 ORDER BY 1"
            ),
            vec![Text, Centavos, Float],
            "gold",
        ),
        (
            json!({"intent": "aggregate",
                   "measures": ["revenue", "transactions", "units", "avg_basket_pesos",
                                "avg_basket_units", "unique_customers"],
                   "filters": {"period": {"kind": "this_month"}}}),
            format!(
                "SELECT CAST(sum(amount_centavos) AS BIGINT), count(DISTINCT {BASKET}), \
                     CAST(sum(quantity) AS DOUBLE PRECISION), \
                     CAST(CAST(sum(amount_centavos) AS BIGINT) AS DOUBLE PRECISION) / 100.0 / \
                       count(DISTINCT {BASKET}), \
                     CAST(sum(quantity) AS DOUBLE PRECISION) / count(DISTINCT {BASKET}), \
                     count(DISTINCT customer_id) + count(DISTINCT CASE WHEN customer_id \
                       IS NULL THEN {BASKET} END) \
                     FROM {SILVER} WHERE transaction_date BETWEEN '2026-12-01' AND '2026-12-31'"
            ),
            vec![Centavos, Int, Float, Float, Float, Int],
            "silver",
        ),
        (
            json!({"intent": "top_n", "dimensions": ["device"], "measures": ["transactions"],
                   "sort": {"by": "transactions", "descending": false}, "limit": 2}),
            format!(
                "SELECT device_id, count(DISTINCT {BASKET}) FROM {SILVER} \
                     GROUP BY 1 ORDER BY 2, 1 LIMIT 2"
            ),
            vec![Text, Int],
            "silver",
        ),
    ]
}

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await
}

fn with_as_of(mut plan: Value) -> Plan {
    plan["as_of"] = json!(AS_OF);
    serde_json::from_value(plan).unwrap()
}

async fn nl2sql_plans_equal_hand_written_sql(backend: Backend) {
    let app = app(backend).await;
    fixture(&app).await;
    let engine = Engine::new(app.store.clone());
    for (plan, sql, kinds, source) in cases() {
        let answer = engine
            .answer(&with_as_of(plan.clone()), None)
            .await
            .unwrap();
        let expected = hand(&app.store, &sql, &kinds).await;
        assert!(!expected.is_empty(), "{sql}");
        assert!(
            same_rows(&answer.rows, &expected),
            "{plan}\n{}\nengine: {:?}\nhand:   {:?}",
            answer.sql,
            answer.rows,
            expected
        );
        assert_eq!(json!(answer.source), json!(source), "{plan}");
    }
    app.finish().await;
}

async fn nl2sql_reader_cannot_write(backend: Backend) {
    let app = app(backend).await;
    let (role, read_only) = app.store.reader_identity().await.unwrap();
    assert!(read_only, "the reader's connection accepts writes");
    if backend == Backend::Postgres {
        assert_eq!(
            role.as_deref(),
            Some(READER_ROLE),
            "queries run as {role:?}"
        );
    }
    let limits = ReadLimits {
        timeout: Duration::from_secs(5),
        max_rows: 10,
    };
    for sql in [
        "INSERT INTO metadata.ai_sql_audit (question) VALUES ('written')",
        "DELETE FROM metadata.ai_sql_audit",
        "UPDATE silver.transactions_cleaned SET amount_centavos = 0",
        "CREATE TABLE platinum_escape (x integer)",
    ] {
        let result = app.store.read_only_query(sql, &[], limits).await;
        assert!(result.is_err(), "{sql} ran through the read-only path");
    }
    let written = app
        .store
        .query_int("SELECT count(*) FROM metadata.ai_sql_audit", &[])
        .await
        .unwrap();
    assert_eq!(written, 0);
    // The same path reads the catalogue.
    let rows = app
        .store
        .read_only_query(
            "SELECT count(*) FROM silver.transactions_cleaned",
            &[],
            limits,
        )
        .await
        .unwrap();
    assert_eq!(rows[0].int(0).unwrap(), 0);
    if backend == Backend::Postgres {
        // Outside the catalogue nothing is readable, not even the audit table.
        for sql in [
            "SELECT count(*) FROM metadata.ai_sql_audit",
            "SELECT token_hash FROM metadata.devices",
            "SELECT payload FROM bronze.raw_transactions",
        ] {
            let err = app.store.read_only_query(sql, &[], limits).await;
            assert!(err.is_err(), "{sql} was readable as the reader role");
        }
        reader_role_alone_cannot_write(&app.db.url).await;
    }
    app.finish().await;
}

/// The role itself, without the read-only transaction around it: the catalogue's three tables
/// are its only readable ones and no table of any schema of the project is writable by it; a
/// write attempted as the role is refused with `insufficient_privilege`.
async fn reader_role_alone_cannot_write(url: &str) {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let grants = sqlx::query(
        "SELECT n.nspname || '.' || c.relname, \
           has_table_privilege($1, c.oid, 'SELECT'), \
           has_table_privilege($1, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm') \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1",
    )
    .bind(READER_ROLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(grants.len() > 20, "only {} tables seen", grants.len());
    let mut readable = Vec::new();
    for g in &grants {
        let (table, select, write): (String, bool, bool) = (g.get(0), g.get(1), g.get(2));
        assert!(!write, "{READER_ROLE} may write {table}");
        if select {
            readable.push(table);
        }
    }
    assert_eq!(
        readable,
        [
            "gold.basket_analytics",
            "gold.brand_daypart_analytics",
            "gold.brand_payment_analytics",
            "gold.customer_analytics",
            "scout.scout_gold_transactions",
            "silver.transactions_cleaned"
        ]
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("SET ROLE {READER_ROLE}")))
        .execute(&mut conn)
        .await
        .unwrap();
    for sql in [
        "DELETE FROM silver.transactions_cleaned",
        "INSERT INTO metadata.ai_sql_audit (question) VALUES ('written')",
        "UPDATE scout.scout_gold_transactions SET revenue_centavos = 0",
        "CREATE TABLE silver.escape (x integer)",
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap_err();
        let code = err.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
    }
}

async fn nl2sql_slow_queries_are_cut_off(backend: Backend) {
    let app = app(backend).await;
    let limits = ReadLimits {
        timeout: Duration::from_millis(200),
        max_rows: 10,
    };
    let slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                WHERE i < 500000000) SELECT count(*) FROM n";
    let started = std::time::Instant::now();
    let result = app.store.read_only_query(slow, &[], limits).await;
    assert!(result.is_err(), "the slow query finished");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The connection is usable afterwards, and the row cap holds.
    let many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) \
                SELECT i FROM n";
    let rows = app.store.read_only_query(many, &[], limits).await.unwrap();
    assert_eq!(rows.len(), 10);
    app.finish().await;
}

async fn nl2sql_calls_are_audited_and_cached(backend: Backend) {
    let app = app(backend).await;
    fixture(&app).await;
    let engine = Engine::new(app.store.clone());
    let plan = with_as_of(json!({"intent": "top_n", "dimensions": ["store"],
                                 "measures": ["revenue"]}));
    let first = engine
        .answer(&plan, Some("kita ng bawat tindahan"))
        .await
        .unwrap();
    let second = engine
        .answer(&plan, Some("kita ng bawat tindahan"))
        .await
        .unwrap();
    assert!(!first.cache_hit);
    assert!(second.cache_hit);
    assert_eq!(first.rows, second.rows);
    // New data changes the version: the next answer is computed again.
    let more = sale(
        "cccccccc-0000-4000-8000-900000000001",
        "2026-12-05T03:00:00Z",
        &[("Tide", "Tide Bar 125g", 1.0, 12.0)],
        "cash",
    );
    app.ingest_ok(&app.token, ndjson(&[more.to_string()])).await;
    process(&app.store).await;
    let third = engine.answer(&plan, None).await.unwrap();
    assert!(!third.cache_hit);
    assert_ne!(first.rows, third.rows);
    let bad: Plan = serde_json::from_value(json!({"intent": "crosstab",
        "dimensions": ["brand"], "measures": ["revenue"]}))
    .unwrap();
    assert!(engine.answer(&bad, Some("bad")).await.is_err());

    let rows = app
        .store
        .query(
            "SELECT question, sql_text, CAST(row_count AS BIGINT), cache_hit, error FROM metadata.ai_sql_audit \
             ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    let hits: Vec<bool> = rows.iter().map(|r| r.bool(3).unwrap()).collect();
    assert_eq!(hits, [false, true, false, false]);
    assert_eq!(
        rows[0].opt_text(0).unwrap().as_deref(),
        Some("kita ng bawat tindahan")
    );
    assert_eq!(rows[0].opt_int(2).unwrap(), Some(3));
    assert!(
        rows[0]
            .opt_text(1)
            .unwrap()
            .unwrap()
            .contains("scout.scout_gold_transactions")
    );
    assert!(rows[0].opt_text(4).unwrap().is_none());
    let error = rows[3].opt_text(4).unwrap().unwrap();
    assert!(error.contains("two dimensions"), "{error}");
    assert!(rows[3].opt_text(1).unwrap().is_none());
    app.finish().await;
}
