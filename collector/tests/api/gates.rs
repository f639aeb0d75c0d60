//! The eight quality gates (the three file gates, completeness, revenue consistency,
//! freshness, performance, integration), each with a passing and a failing scenario, and no data on an empty database, on both backends. Data goes in through
//! ingest and the pipeline; a failing revenue scenario alters gold behind the pipeline's back.

use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use scout_collector::gates::{self, GatesConfig, Status};
use scout_collector::store::AuditEntry;
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestDb, metrics_page, ndjson};
use crate::medallion::{process, sale};

crate::both_backends!(
    gates_without_data_say_so,
    completeness_passes_and_fails,
    revenue_consistency_passes_and_fails,
    freshness_passes_and_fails,
    performance_passes_and_fails,
    gates_command_exits_by_the_worst_gate,
    gates_endpoint_needs_the_admin_token,
    file_gates_pass_and_fail,
    integration_passes_warns_and_fails,
    a_changed_threshold_changes_the_verdict,
    metrics_show_layer_freshness_and_audit_durations,
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await
}

/// Lands and processes one sale of `branded` Coke lines and `unresolved` noise lines.
pub async fn seed(app: &TestApp, id: &str, branded: usize, unresolved: usize) {
    let mut t = sale(
        id,
        "2026-12-04T02:00:00Z",
        &vec![("Coca-Cola", "Coke Mismo", 1.0, 15.0); branded],
        "cash",
    );
    let items = t["items"].as_array_mut().unwrap();
    for _ in 0..unresolved {
        items.push(
            json!({"brandName": "Qwzx", "productName": "Qwzx", "quantity": 1,
                          "unitPrice": 7, "totalPrice": 7}),
        );
    }
    app.ingest_ok(&app.token, ndjson(&[t.to_string()])).await;
    process(&app.store).await;
}

async fn gates_without_data_say_so(backend: Backend) {
    let app = app(backend).await;
    let config = GatesConfig::default();
    let c = gates::completeness(&app.store, &config, Utc::now())
        .await
        .unwrap();
    let r = gates::revenue_consistency(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!((c.status, c.value), (Status::NoData, None));
    assert_eq!((r.status, r.value), (Status::NoData, None));
    app.finish().await;
}

async fn completeness_passes_and_fails(backend: Backend) {
    let app = app(backend).await;
    let config = GatesConfig::default();
    seed(&app, "cccccccc-0000-4000-8000-000000000001", 9, 1).await;
    let g = gates::completeness(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Pass, Some(0.9)), "{g:?}");
    assert_eq!(g.details["groups_below"], json!([]));
    // ₱7 of ₱142 has no brand.
    assert_eq!(g.details["unbranded_revenue_centavos"], 700);
    assert_eq!(g.details["unbranded_revenue_share"], json!(0.0493));

    // Eight more unresolved lines: 9 branded of 18.
    seed(&app, "cccccccc-0000-4000-8000-000000000002", 0, 8).await;
    let g = gates::completeness(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Fail, Some(0.5)), "{g:?}");
    assert_eq!(
        g.details["unbranded_revenue_share"],
        json!(0.3182),
        "₱63 of ₱198"
    );
    assert_eq!(
        g.details["groups_below"],
        json!([{"date": "2026-12-04", "store_id": "104", "rows": 18, "branded": 9, "share": 0.5}])
    );
    assert!(!g.action.is_empty());
    // Outside the window nothing is judged.
    let g = gates::completeness(&app.store, &config, Utc::now() + chrono::Duration::days(2))
        .await
        .unwrap();
    assert_eq!(g.status, Status::NoData);
    app.finish().await;
}

async fn revenue_consistency_passes_and_fails(backend: Backend) {
    let app = app(backend).await;
    let config = GatesConfig::default();
    // Two brands on one day at one store: gold has a row per brand, silver one day's total.
    seed(&app, "dddddddd-0000-4000-8000-000000000001", 3, 2).await;
    let g = gates::revenue_consistency(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Pass, Some(0.0)), "{g:?}");
    assert_eq!(g.details["partitions"], 1);

    // Gold drifts from silver: the Coke row loses ₱15 of the day's ₱59 (25%).
    app.store
        .execute(
            "UPDATE scout.scout_gold_transactions SET revenue_centavos = revenue_centavos - 1500 \
             WHERE brand_name = 'Coca-Cola'",
            &[],
        )
        .await
        .unwrap();
    let g = gates::revenue_consistency(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!(g.status, Status::Fail, "{g:?}");
    assert_eq!(g.value, Some(0.2542));
    assert_eq!(
        g.details["partitions_off"],
        json!([{"date": "2026-12-04", "store_id": "104", "silver_peso": 59.0,
                "gold_peso": 44.0, "difference": 0.2542}])
    );
    app.finish().await;
}

async fn freshness_passes_and_fails(backend: Backend) {
    let app = app(backend).await;
    let config = GatesConfig::default();
    let g = gates::freshness(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!(g.status, Status::NoData, "{g:?}");
    seed(&app, "eeeeeeee-0000-4000-8000-000000000001", 1, 0).await;
    let now = Utc::now();
    let g = gates::freshness(&app.store, &config, now).await.unwrap();
    assert_eq!(g.status, Status::Pass, "{g:?}");
    assert!(g.value.unwrap() < 5.0, "{g:?}");
    // Five hours later, nothing new: every layer is 300 minutes old or more.
    let later = now + chrono::Duration::hours(5);
    let g = gates::freshness(&app.store, &config, later).await.unwrap();
    assert_eq!(g.status, Status::Fail, "{g:?}");
    assert!((300.0..305.0).contains(&g.value.unwrap()), "{g:?}");
    for layer in ["bronze", "silver", "gold"] {
        assert!(g.details[layer]["age_minutes"].as_f64().unwrap() >= 300.0);
    }
    app.finish().await;
}

async fn performance_passes_and_fails(backend: Backend) {
    let app = app(backend).await;
    let config = GatesConfig::default();
    let audit = |function_name: &'static str, ms: u64| AuditEntry {
        function_name,
        duration: Duration::from_millis(ms),
        error: None,
        device_id: None,
        row_count: None,
        details: None,
        created_at: Utc::now(),
    };
    let g = gates::performance(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!(g.status, Status::NoData, "{g:?}");
    for ms in [100, 300] {
        app.store.audit(&audit("ingest-stream", ms)).await.unwrap();
    }
    let g = gates::performance(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Pass, Some(0.2)), "{g:?}");
    // One slow file import: (100 + 300 + 8,000) / 3 ms = 2.8 s.
    app.store
        .audit(&audit("universal-processor", 8_000))
        .await
        .unwrap();
    let g = gates::performance(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Fail, Some(2.8)), "{g:?}");
    assert_eq!(
        g.details["by_function"][0]["function"],
        "universal-processor"
    );
    assert_eq!(g.details["by_function"][0]["max_seconds"], 8.0);
    app.finish().await;
}

/// Runs `scout-collector gates --json` on the app's database: exit code and the gates' statuses.
fn gates_command(app: &TestApp) -> (i32, Vec<(String, String)>) {
    gates_command_with(app, &[])
}

/// `gates_command` with these environment variables set.
fn gates_command_with(app: &TestApp, env: &[(&str, &str)]) -> (i32, Vec<(String, String)>) {
    let out = Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", &app.db.url, "gates", "--json"])
        .env_remove("SCOUT_GATES_WINDOW_HOURS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    let statuses = parsed
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            for key in ["value", "threshold", "details", "action"] {
                assert!(g.get(key).is_some(), "{key} in {g}");
            }
            (
                g["name"].as_str().unwrap().to_owned(),
                g["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out.status.code().unwrap(), statuses)
}

async fn gates_command_exits_by_the_worst_gate(backend: Backend) {
    let app = app(backend).await;
    let status_of = |all: &[(String, String)], name: &str| {
        all.iter().find(|(n, _)| n == name).unwrap().1.clone()
    };
    // Nothing yet: every gate has no data.
    let (code, all) = gates_command(&app);
    assert_eq!(code, 0, "{all:?}");
    assert!(all.iter().all(|(_, s)| s == "no_data"), "{all:?}");
    // 9 of 10 branded: all pass.
    seed(&app, "ffffffff-0000-4000-8000-000000000001", 9, 1).await;
    let (code, all) = gates_command(&app);
    assert_eq!(
        (code, status_of(&all, "completeness")),
        (0, "pass".into()),
        "{all:?}"
    );
    // 9 of 11 (0.818): above 0.8 but within the margin, a warning.
    seed(&app, "ffffffff-0000-4000-8000-000000000002", 0, 1).await;
    let (code, all) = gates_command(&app);
    assert_eq!(
        (code, status_of(&all, "completeness")),
        (1, "warn".into()),
        "{all:?}"
    );
    // 9 of 12 (0.75): a failure.
    seed(&app, "ffffffff-0000-4000-8000-000000000003", 0, 1).await;
    let (code, all) = gates_command(&app);
    assert_eq!(
        (code, status_of(&all, "completeness")),
        (2, "fail".into()),
        "{all:?}"
    );
    // Each run is audited.
    let runs = app
        .store
        .query_int(
            "SELECT count(*) FROM metadata.function_audit WHERE function_name = 'quality-gates'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(runs, 4);
    // And kept for trends: four runs of eight gates, the last one's completeness failed.
    let kept = app
        .store
        .query(
            "SELECT CAST(count(*) AS BIGINT), CAST(count(DISTINCT run_id) AS BIGINT) \
             FROM metadata.quality_gate_results",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((kept[0].int(0).unwrap(), kept[0].int(1).unwrap()), (32, 4));
    let latest = app
        .store
        .query_texts(
            "SELECT status FROM metadata.quality_gate_results WHERE gate = 'completeness' \
             ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(latest, [Some("fail".to_owned())]);
    // The latest run on /metrics: 2 for the failing gate, 0 for the passing ones.
    let page = metrics_page(&app).await;
    assert!(page.contains("# TYPE scout_gate_status gauge"), "{page}");
    for (gate, value) in [
        ("completeness", 2),
        ("revenue_consistency", 0),
        ("freshness", 0),
    ] {
        let line = format!("scout_gate_status{{gate=\"{gate}\"}} {value}");
        assert!(page.lines().any(|l| l == line), "{line} in\n{page}");
    }
    // The share of revenue without a brand, from the latest completeness run.
    let kept: serde_json::Value = serde_json::from_str(
        app.store
            .query_texts(
                "SELECT details::text FROM metadata.quality_gate_results \
                 WHERE gate = 'completeness' ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .unwrap()[0]
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    let share = kept["unbranded_revenue_share"].as_f64().unwrap();
    assert!(share > 0.0, "{kept}");
    let shown: f64 = page
        .lines()
        .find_map(|l| l.strip_prefix("scout_unbranded_revenue_share "))
        .unwrap_or_else(|| panic!("no scout_unbranded_revenue_share in\n{page}"))
        .parse()
        .unwrap();
    assert_eq!(shown, share);
    app.finish().await;
}

async fn gates_endpoint_needs_the_admin_token(backend: Backend) {
    const ADMIN: &str = "admin-0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    let db = TestDb::for_backend(backend).await.unwrap();
    let app = TestApp::spawn_with_admin_token(db, ADMIN).await;
    seed(&app, "abababab-0000-4000-8000-000000000001", 1, 1).await;
    let get = |token: &str| {
        app.client
            .get(app.url("/v1/gates"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        get(&app.token).await.unwrap().status(),
        401,
        "a device token"
    );
    let answer = get(ADMIN).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    let statuses: Vec<(&str, &str)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["status"].as_str().unwrap()))
        .collect();
    // 1 of 2 lines branded: completeness fails; gold matches silver.
    assert_eq!(statuses[3], ("completeness", "fail"));
    assert_eq!(statuses[4], ("revenue_consistency", "pass"));
    assert_eq!(
        statuses[0],
        ("format_detection", "no_data"),
        "no files imported"
    );
    assert_eq!(statuses.len(), 8);
    assert_eq!(statuses[7].0, "integration");
    // The endpoint's runs are kept and audited like the command's.
    let kept = app
        .store
        .query_int(
            "SELECT count(*) FROM metadata.quality_gate_results WHERE gate = 'integration'",
            &[],
        )
        .await
        .unwrap();
    let audited = app
        .store
        .query_int(
            "SELECT count(*) FROM metadata.function_audit WHERE function_name = 'quality-gates'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((kept, audited), (1, 1));
    app.finish().await;
}

/// Records an imported file's staging row as file ingestion writes it (no public API lands
/// files yet).
pub async fn staged(app: &TestApp, n: i64, detection: f64, schema: f64, mapping: f64) {
    let schema = json!({"qualityScore": schema}).to_string();
    let mappings = json!({"mapping_confidence": mapping}).to_string();
    app.store
        .execute(
            "INSERT INTO staging.universal_file_ingestion (file_id, file_name, file_format, \
             detection_confidence, schema_inference, column_mappings, raw_data, total_records, \
             processing_metadata, status, created_at, content_sha256, size_bytes, updated_at) \
             VALUES ($1, $1, 'csv', $2, $3::jsonb, $4::jsonb, '[]', 10, '{}', 'processed', $5, \
             $1, 100, $5)",
            &[
                format!("file-{n}.csv").as_str().into(),
                detection.into(),
                schema.as_str().into(),
                mappings.as_str().into(),
                Utc::now().into(),
            ],
        )
        .await
        .unwrap();
}

async fn file_gates_pass_and_fail(backend: Backend) {
    let app = app(backend).await;
    let config = GatesConfig::default();
    let statuses = |gates: &[gates::GateResult]| -> Vec<(&'static str, Status, Option<f64>)> {
        gates.iter().map(|g| (g.name, g.status, g.value)).collect()
    };
    staged(&app, 1, 0.99, 0.95, 0.97).await;
    staged(&app, 2, 0.97, 0.93, 0.95).await;
    let g = gates::file_gates(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        statuses(&g),
        [
            ("format_detection", Status::Pass, Some(0.98)),
            ("schema_quality", Status::Pass, Some(0.94)),
            ("mapping_confidence", Status::Pass, Some(0.96)),
        ]
    );
    // A file detected, inferred and mapped poorly drags every mean below its threshold.
    staged(&app, 3, 0.5, 0.2, 0.3).await;
    let g = gates::file_gates(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        statuses(&g),
        [
            ("format_detection", Status::Fail, Some(0.82)),
            ("schema_quality", Status::Fail, Some(0.6933)),
            ("mapping_confidence", Status::Fail, Some(0.74)),
        ]
    );
    for gate in &g {
        assert_eq!(
            gate.details["files_below"][0]["file_name"], "file-3.csv",
            "{gate:?}"
        );
        assert_eq!(gate.details["files"], 3);
    }
    app.finish().await;
}

async fn integration_passes_warns_and_fails(backend: Backend) {
    let app = app(backend).await;
    let config = GatesConfig::default();
    // Judged once the grace period (10 minutes) is over.
    let later = || Utc::now() + chrono::Duration::minutes(11);
    let g = gates::integration(&app.store, &config, later())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::NoData, None), "{g:?}");
    seed(&app, "12121212-0000-4000-8000-000000000001", 2, 1).await;
    let g = gates::integration(&app.store, &config, later())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Pass, Some(0.0)), "{g:?}");
    assert_eq!(
        (
            g.details["bronze_rows"].as_i64(),
            g.details["partitions"].as_i64()
        ),
        (Some(1), Some(1))
    );
    // Landed, not processed yet: within the grace period nothing is judged against it, after
    // it the queued row is a warning.
    let line = sale(
        "12121212-0000-4000-8000-000000000002",
        "2026-12-04T03:00:00Z",
        &[("Coca-Cola", "Coke Mismo", 1.0, 15.0)],
        "cash",
    );
    app.ingest_ok(&app.token, ndjson(&[line.to_string()])).await;
    let g = gates::integration(&app.store, &config, Utc::now())
        .await
        .unwrap();
    assert_eq!(g.status, Status::NoData, "{g:?}");
    let g = gates::integration(&app.store, &config, later())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Warn, Some(0.0)), "{g:?}");
    assert_eq!(g.details["bronze_queued_for_silver"], 1);
    process(&app.store).await;
    // Silver and the score of the first sale lost behind the pipeline's back, and gold of its
    // day and store: a bronze row without silver and a partition without gold, both listed.
    let bronze_id = app
        .store
        .query_int(
            "SELECT id FROM bronze.raw_transactions WHERE transaction_id = $1",
            &["12121212-0000-4000-8000-000000000001".into()],
        )
        .await
        .unwrap();
    for sql in [
        "DELETE FROM silver.transactions_cleaned WHERE bronze_id = $1",
        "DELETE FROM bronze.transaction_quality WHERE bronze_id = $1",
    ] {
        app.store.execute(sql, &[bronze_id.into()]).await.unwrap();
    }
    app.store
        .execute("DELETE FROM scout.scout_gold_transactions", &[])
        .await
        .unwrap();
    let g = gates::integration(&app.store, &config, later())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Fail, Some(2.0)), "{g:?}");
    assert_eq!(
        g.details["rows_missing"],
        json!([{"bronze_id": bronze_id, "transaction_id": "12121212-0000-4000-8000-000000000001",
                "store_id": "104", "device_id": "SCOUTPI-0004",
                "problem": "neither scored nor in silver or quarantine"}])
    );
    assert_eq!(
        g.details["partitions_missing"],
        json!([{"date": "2026-12-04", "store_id": "104", "gold_failure": null}])
    );
    assert!(g.action.contains("--rebuild"));
    // Tolerating two missing turns the failure into a warning.
    let tolerant = GatesConfig {
        integration_max_missing: 2.0,
        ..GatesConfig::default()
    };
    let g = gates::integration(&app.store, &tolerant, later())
        .await
        .unwrap();
    assert_eq!(g.status, Status::Warn, "{g:?}");
    // A rebuild brings every layer back: the gate passes again.
    app.store.reset_medallion().await.unwrap();
    process(&app.store).await;
    let g = gates::integration(&app.store, &config, later())
        .await
        .unwrap();
    assert_eq!((g.status, g.value), (Status::Pass, Some(0.0)), "{g:?}");
    app.finish().await;
}

async fn a_changed_threshold_changes_the_verdict(backend: Backend) {
    let app = app(backend).await;
    // 9 of 12 branded (0.75): fails the manual's 0.8, passes an operator's 0.6.
    seed(&app, "13131313-0000-4000-8000-000000000001", 9, 3).await;
    let status_of = |all: &[(String, String)]| {
        all.iter()
            .find(|(n, _)| n == "completeness")
            .unwrap()
            .1
            .clone()
    };
    let (code, all) = gates_command(&app);
    assert_eq!((code, status_of(&all)), (2, "fail".into()), "{all:?}");
    let (code, all) = gates_command_with(&app, &[("SCOUT_GATE_COMPLETENESS", "0.6")]);
    assert_eq!((code, status_of(&all)), (0, "pass".into()), "{all:?}");
    // A window of its own that the sale is outside of: no data.
    std::thread::sleep(Duration::from_millis(400));
    let out = Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", &app.db.url, "gates", "--json"])
        .args(["--gate-windows", "completeness=0.0001"])
        .output()
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let completeness = parsed
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "completeness");
    assert_eq!(completeness.unwrap()["status"], "no_data", "{parsed}");
    // A bad setting: a clear error, exit 1, nothing printed on stdout.
    let out = Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", &app.db.url, "gates"])
        .env("SCOUT_GATE_COMPLETENESS", "80")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--min-completeness: a number from 0 to 1"),
        "{stderr}"
    );
    app.finish().await;
}

async fn metrics_show_layer_freshness_and_audit_durations(backend: Backend) {
    let app = app(backend).await;
    seed(&app, "14141414-0000-4000-8000-000000000001", 1, 0).await;
    let page = metrics_page(&app).await;
    assert!(
        page.contains("# TYPE scout_layer_newest_age_seconds gauge"),
        "{page}"
    );
    for layer in ["bronze", "silver", "gold"] {
        let prefix = format!("scout_layer_newest_age_seconds{{layer=\"{layer}\"}} ");
        let age: f64 = page
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("{prefix} in {page}"))
            .parse()
            .unwrap();
        assert!((0.0..60.0).contains(&age), "{layer}: {age}");
    }
    // The one ingest request this collector audited, in the histogram.
    assert!(
        page.contains("# TYPE scout_audit_duration_seconds histogram"),
        "{page}"
    );
    for line in [
        "scout_audit_duration_seconds_bucket{function_name=\"ingest-stream\",le=\"+Inf\"} 1",
        "scout_audit_duration_seconds_count{function_name=\"ingest-stream\"} 1",
        "scout_audit_duration_seconds_bucket{function_name=\"ingest-stream\",le=\"30\"} 1",
    ] {
        assert!(page.lines().any(|l| l == line), "{line} in\n{page}");
    }
    // promtool, when there is one, finds the page clean.
    let promtool = std::env::var("SCOUT_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    if let Ok(mut child) = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        // The contract's counter etl_processing_errors has no _total suffix (known, allowed).
        let problems: Vec<&str> = said
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("etl_processing_errors"))
            .collect();
        assert!(problems.is_empty(), "promtool: {said}");
    }
    app.finish().await;
}
