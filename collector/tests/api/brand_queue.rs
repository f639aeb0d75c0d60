//! The brand loop on both backends: the queue of names silver could not resolve, teaching an
//! alias or a brand through the real `scout-collector brands` command, and the targeted
//! re-process (gold changes in the partitions holding the name and nowhere else); and a running
//! pipeline picking up what was taught without a restart.

use std::process::Command;

use chrono::{Duration, Utc};
use scout_collector::brands::{BrandMatcher, TaughtEntry};
use scout_collector::curation;
use scout_collector::pipeline::{Pipeline, PipelineOptions};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, ndjson};
use crate::medallion::{process, sale};

crate::both_backends!(
    unresolved_queue_lists_names_by_revenue,
    alias_reprocesses_only_the_partitions_it_changes,
    add_teaches_a_new_brand_with_its_aliases,
    bad_entries_are_refused_and_nothing_is_written,
    a_running_pipeline_picks_up_taught_entries,
);

/// Three partitions: store 104 on two days, store 105 on the first. Two names nobody knows:
/// "Zorbix Choco Bar" (₱20 at 104) and "Qwzx Mystery Snack" (₱7 at 105); the rest is Coke.
async fn seeded(backend: Backend) -> TestApp {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    let token_105 = app.add_device("SCOUTPI-0005", "105").await;
    let day1 = (Utc::now() - Duration::days(3))
        .format("%Y-%m-%dT04:00:00Z")
        .to_string();
    let day2 = (Utc::now() - Duration::days(2))
        .format("%Y-%m-%dT04:00:00Z")
        .to_string();
    let a = sale(
        "aaaaaaaa-0000-4000-8000-000000000001",
        &day1,
        &[
            ("", "Zorbix Choco Bar", 2.0, 10.0),
            ("Coca-Cola", "Coke Mismo", 1.0, 15.0),
        ],
        "cash",
    );
    let b = sale(
        "aaaaaaaa-0000-4000-8000-000000000002",
        &day2,
        &[("Coca-Cola", "Coke Mismo", 1.0, 15.0)],
        "cash",
    );
    let mut c = sale(
        "aaaaaaaa-0000-4000-8000-000000000003",
        &day1,
        &[
            ("", "Qwzx Mystery Snack", 1.0, 7.0),
            ("Coca-Cola", "Coke Mismo", 1.0, 15.0),
        ],
        "gcash",
    );
    c["deviceId"] = json!("SCOUTPI-0005");
    c["storeId"] = json!("105");
    app.ingest_ok(&app.token, ndjson(&[a.to_string(), b.to_string()]))
        .await;
    app.ingest_ok(&token_105, ndjson(&[c.to_string()])).await;
    process(&app.store).await;
    app
}

/// Every gold row as text (id, day, store, brand, revenue, created_at), by store then day.
async fn gold(app: &TestApp) -> Vec<(String, String)> {
    let rows = app
        .store
        .query(
            "SELECT store_id || '/' || CAST(transaction_date AS text), \
             CAST(id AS text) || ' ' || brand_name || ' ' || product_category || ' ' || \
             CAST(revenue_centavos AS text) || ' ' || CAST(created_at AS text) \
             FROM scout.scout_gold_transactions ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.text(0).unwrap(), r.text(1).unwrap()))
        .collect()
}

fn partition<'a>(gold: &'a [(String, String)], key_prefix: &str, nth: usize) -> Vec<&'a str> {
    let mut keys: Vec<&str> = gold
        .iter()
        .filter(|(k, _)| k.starts_with(key_prefix))
        .map(|(k, _)| k.as_str())
        .collect();
    keys.dedup();
    let key = keys[nth];
    gold.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Runs `scout-collector brands ARGS --json` on the app's database: exit code, stdout, stderr.
fn brands(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", &app.db.url, "brands"])
        .args(args)
        .env_remove(scout_collector::brands::BRANDS_FILE_ENV)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json_out(out: &(i32, String, String)) -> Value {
    assert_eq!(out.0, 0, "exit {}: {} {}", out.0, out.1, out.2);
    serde_json::from_str(&out.1).unwrap_or_else(|e| panic!("{e}: {}", out.1))
}

async fn brand_of(app: &TestApp, product: &str) -> (Option<String>, String, String) {
    let rows = app
        .store
        .query(
            "SELECT brand_name, brand_method, product_category FROM silver.transactions_cleaned \
             WHERE product_name = $1",
            &[product.into()],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{product}");
    (
        rows[0].opt_text(0).unwrap(),
        rows[0].text(1).unwrap(),
        rows[0].text(2).unwrap(),
    )
}

async fn unresolved_queue_lists_names_by_revenue(backend: Backend) {
    let app = seeded(backend).await;
    let v = json_out(&brands(&app, &["unresolved", "--json"]));
    let names: Vec<(&str, i64, i64, i64)> = v["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap(),
                n["items"].as_i64().unwrap(),
                n["revenue_centavos"].as_i64().unwrap(),
                n["stores"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("Zorbix Choco Bar", 1, 2000, 1),
            ("Qwzx Mystery Snack", 1, 700, 1)
        ]
    );
    // ₱27 of ₱72 has no brand.
    assert_eq!(v["revenue_centavos"], 7200);
    assert_eq!(v["unresolved_revenue_centavos"], 2700);
    assert_eq!(v["unresolved_share"], 0.375);
    assert!(v["names"][0]["suggestions"].is_array());

    // The library call behind it, with a window that excludes the seeded days.
    let matcher = BrandMatcher::shipped().unwrap();
    let empty = curation::unresolved(&app.store, &matcher, 1, 50)
        .await
        .unwrap();
    assert!(empty.names.is_empty());
    assert_eq!(empty.unresolved_share, 0.0);

    // The table lists both names and the share.
    let (code, table, _) = brands(&app, &["unresolved"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("Zorbix Choco Bar") && table.contains("37.5%"),
        "{table}"
    );
    app.finish().await;
}

async fn alias_reprocesses_only_the_partitions_it_changes(backend: Backend) {
    let app = seeded(backend).await;
    let before = gold(&app).await;
    assert_eq!(brand_of(&app, "Qwzx Mystery Snack").await.0, None);

    let v = json_out(&brands(
        &app,
        &["alias", "Qwzx", "--brand", "piattos", "--json"],
    ));
    assert_eq!(v["brand"], "Piattos", "the brand's canonical name: {v}");
    assert_eq!(v["bronze_rows_queued"], 1);
    assert_eq!(v["gold_partitions"], 1);
    assert_eq!(
        v["changed"],
        json!([{"product_name": "Qwzx Mystery Snack", "device_brand": null,
                "before": null, "after": "Piattos"}])
    );
    let (brand, method, category) = brand_of(&app, "Qwzx Mystery Snack").await;
    assert_eq!(
        (brand.as_deref(), method.as_str(), category.as_str()),
        (Some("Piattos"), "alias", "Snacks")
    );

    let after = gold(&app).await;
    // Store 104's two partitions: the very same rows (ids and creation times).
    for nth in 0..2 {
        assert_eq!(
            partition(&before, "104/", nth),
            partition(&after, "104/", nth)
        );
    }
    // Store 105's partition was rebuilt: its unknown ₱7 is now Piattos.
    let rebuilt = partition(&after, "105/", 0);
    assert_ne!(partition(&before, "105/", 0), rebuilt);
    assert!(
        rebuilt.iter().any(|r| r.contains(" Piattos Snacks 700 ")),
        "{rebuilt:?}"
    );
    assert!(
        !rebuilt.iter().any(|r| r.contains(" Unknown ")),
        "{rebuilt:?}"
    );
    let total = |g: &[(String, String)]| -> i64 {
        g.iter()
            .map(|(_, v)| v.split(' ').nth(3).unwrap().parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(total(&before), total(&after), "revenue is only relabelled");

    // Teaching the same alias again changes nothing.
    let v = json_out(&brands(
        &app,
        &["alias", "QWZX", "--brand", "Piattos", "--json"],
    ));
    assert_eq!(
        (
            v["bronze_rows_queued"].as_i64(),
            v["gold_partitions"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(gold(&app).await, after);
    // One entry taught (the second replaced the first), and each run audited.
    let taught = json_out(&brands(&app, &["taught", "--json"]));
    assert_eq!(
        taught,
        json!([{"kind": "alias", "name": "QWZX", "brand": "Piattos"}])
    );
    let audited = app
        .store
        .query_int(
            "SELECT count(*) FROM metadata.function_audit WHERE function_name = 'brand-dictionary' \
             AND error IS NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(audited, 2);
    app.finish().await;
}

async fn add_teaches_a_new_brand_with_its_aliases(backend: Backend) {
    let app = seeded(backend).await;
    let before = gold(&app).await;
    let (code, out, err) = brands(
        &app,
        &[
            "add",
            "Zorbix",
            "--category",
            "candies",
            "--company",
            "Zorbix Foods Inc.",
            "--alias",
            "zrbx",
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("taught brand \"Zorbix\" → Zorbix: 1 name(s) change brand"),
        "{out}"
    );
    let (brand, method, category) = brand_of(&app, "Zorbix Choco Bar").await;
    assert_eq!(
        (brand.as_deref(), category.as_str()),
        (Some("Zorbix"), "Candies"),
        "{method}"
    );
    let after = gold(&app).await;
    assert_ne!(partition(&before, "104/", 0), partition(&after, "104/", 0));
    assert_eq!(partition(&before, "104/", 1), partition(&after, "104/", 1));
    assert_eq!(partition(&before, "105/", 0), partition(&after, "105/", 0));
    let queue = json_out(&brands(&app, &["unresolved", "--json"]));
    assert_eq!(queue["names"].as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue["unresolved_revenue_centavos"], 700);

    // The alias given with it resolves too.
    let taught = json_out(&brands(&app, &["taught", "--json"]));
    assert_eq!(
        taught,
        json!([
            {"kind": "brand", "name": "Zorbix", "category": "Candies",
             "company": "Zorbix Foods Inc."},
            {"kind": "alias", "name": "zrbx", "brand": "Zorbix"}
        ])
    );
    app.finish().await;
}

async fn bad_entries_are_refused_and_nothing_is_written(backend: Backend) {
    let app = seeded(backend).await;
    let before = gold(&app).await;
    for (args, says) in [
        (
            vec!["alias", "Qwzx", "--brand", "No Such Brand"],
            "no brand named",
        ),
        (
            vec![
                "add",
                "Zorbix",
                "--category",
                "Gadgets",
                "--company",
                "Z Inc.",
            ],
            "unknown category",
        ),
        (
            vec!["alias", "500 ml", "--brand", "Piattos"],
            "no word the matcher",
        ),
        (
            vec!["alias", "pabili po", "--brand", "Piattos"],
            "no word the matcher",
        ),
        (
            vec!["alias", "   ", "--brand", "Piattos"],
            "1 to 128 characters",
        ),
    ] {
        let (code, out, err) = brands(&app, &args);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(json_out(&brands(&app, &["taught", "--json"])), json!([]));
    assert_eq!(gold(&app).await, before);
    let failed = app
        .store
        .query_int(
            "SELECT count(*) FROM metadata.function_audit WHERE function_name = 'brand-dictionary' \
             AND error IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(failed, 5);
    app.finish().await;
}

async fn a_running_pipeline_picks_up_taught_entries(backend: Backend) {
    let app = TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await;
    let pipeline = Pipeline::with_dictionary(app.store.clone(), None, PipelineOptions::default())
        .await
        .unwrap();
    let ts = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let line = |id: &str| sale(id, &ts, &[("", "Vrenko Xylo 1L", 1.0, 30.0)], "cash").to_string();
    app.ingest_ok(
        &app.token,
        ndjson(&[line("bbbbbbbb-0000-4000-8000-000000000001")]),
    )
    .await;
    pipeline.catch_up().await.unwrap();
    assert_eq!(brand_of(&app, "Vrenko Xylo 1L").await.0, None);

    // Taught straight into the database (as another collector's `brands add` would), with no
    // re-process: the same pipeline object resolves the next transaction.
    app.store
        .teach(
            &[TaughtEntry::Brand {
                name: "Vrenko".into(),
                category: "Beverages".into(),
                company: "Vrenko Bottlers".into(),
            }],
            &[],
            Utc::now(),
        )
        .await
        .unwrap();
    let product = "Vrenko Xylo 1.5L";
    let t = sale(
        "bbbbbbbb-0000-4000-8000-000000000002",
        &ts,
        &[("", product, 1.0, 45.0)],
        "cash",
    );
    app.ingest_ok(&app.token, ndjson(&[t.to_string()])).await;
    pipeline.catch_up().await.unwrap();
    assert_eq!(brand_of(&app, product).await.0.as_deref(), Some("Vrenko"));
    app.finish().await;
}
