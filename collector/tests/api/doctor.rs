//! `scout-collector doctor`, the real binary on a real database: healthy, unreachable, a stale
//! device, a failing gate, and each incident of the runbook showing the rows that explain it.

use std::process::{Command, Output};
use std::time::Duration;

use chrono::Utc;
use scout_collector::store::AuditEntry;
use serde_json::Value;

use crate::gates::{seed, staged};
use crate::helpers::{Backend, TestApp, TestDb};

crate::both_backends!(
    doctor_says_healthy,
    doctor_flags_a_stale_device,
    doctor_fails_on_a_failing_gate,
    doctor_explains_a_format_detection_failure,
    doctor_explains_a_quality_drop,
    doctor_explains_a_performance_degradation,
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_ingest_only(TestDb::for_backend(backend).await.unwrap()).await
}

fn doctor(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", url, "doctor"])
        .args(args)
        .env_remove("SCOUT_GATES_WINDOW_HOURS")
        .output()
        .unwrap()
}

/// `doctor --json`: exit code and the report.
fn doctor_json(app: &TestApp) -> (i32, Value) {
    let out = doctor(&app.db.url, &["--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

async fn doctor_says_healthy(backend: Backend) {
    let app = app(backend).await;
    seed(&app, "d0c70000-0000-4000-8000-000000000001", 3, 0).await;
    let (code, report) = doctor_json(&app);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (0, Some("healthy")),
        "{report:#}"
    );
    assert_eq!(report["database"]["reachable"], true);
    let layer = |name: &str| {
        report["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["layer"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(layer("bronze")["rows_24h"], 1);
    assert_eq!(layer("silver")["rows_24h"], 3);
    assert!(layer("gold")["newest"].is_string());
    assert_eq!(report["gates"].as_array().unwrap().len(), 8);
    let ingest = report["performance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function_name"] == "ingest-stream")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(ingest["calls"], 1);
    assert_eq!(report["pending"]["silver_pending"], 0);
    assert_eq!(report["fleet"]["needs_attention"], serde_json::json!([]));
    // The text report says the same for a person, and the run is audited.
    let out = doctor(&app.db.url, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("verdict: HEALTHY") && text.contains("ingest-stream"),
        "{text}"
    );
    let runs = app
        .store
        .query_int(
            "SELECT count(*) FROM metadata.function_audit WHERE function_name = 'doctor'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(runs, 2);
    app.finish().await;
}

#[tokio::test]
async fn doctor_on_an_unreachable_database_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}/no/such/dir/scout.db", dir.path().display());
    for url in [
        "postgres://scout:secret@127.0.0.1:1/scout",
        missing.as_str(),
    ] {
        let out = doctor(url, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(
            stderr.starts_with("error: database unreachable"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("secret"),
            "{stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        let out = doctor(url, &["--json"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (report["verdict"].as_str(), out.status.code()),
            (Some("failing"), Some(2))
        );
    }
}

async fn doctor_flags_a_stale_device(backend: Backend) {
    let app = app(backend).await;
    seed(&app, "d0c70000-0000-4000-8000-000000000002", 3, 0).await;
    app.add_device("SCOUTPI-0009", "109").await;
    app.store
        .execute(
            "UPDATE metadata.devices SET last_seen_at = $1 WHERE device_id = 'SCOUTPI-0009'",
            &[(Utc::now() - chrono::Duration::hours(2)).into()],
        )
        .await
        .unwrap();
    let (code, report) = doctor_json(&app);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (1, Some("attention")),
        "{report:#}"
    );
    let flagged = &report["fleet"]["needs_attention"];
    assert_eq!(flagged.as_array().unwrap().len(), 1, "{flagged}");
    assert_eq!(
        (
            flagged[0]["device_id"].as_str(),
            flagged[0]["health"].as_str()
        ),
        (Some("SCOUTPI-0009"), Some("stale"))
    );
    assert!(
        report["reasons"][0]
            .as_str()
            .unwrap()
            .contains("SCOUTPI-0009"),
        "{report:#}"
    );
    app.finish().await;
}

async fn doctor_fails_on_a_failing_gate(backend: Backend) {
    let app = app(backend).await;
    // 1 of 4 lines branded: completeness fails.
    seed(&app, "d0c70000-0000-4000-8000-000000000003", 1, 3).await;
    let (code, report) = doctor_json(&app);
    assert_eq!(
        (code, report["verdict"].as_str()),
        (2, Some("failing")),
        "{report:#}"
    );
    assert_eq!(
        report["reasons"],
        serde_json::json!(["gate completeness failed"])
    );
    app.finish().await;
}

/// `doctor --incident NAME` (text): exit code and output.
fn incident(app: &TestApp, name: &str) -> (i32, String) {
    let out = doctor(&app.db.url, &["--incident", name]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap(),
        text + &String::from_utf8_lossy(&out.stderr),
    )
}

async fn doctor_explains_a_format_detection_failure(backend: Backend) {
    let app = app(backend).await;
    staged(&app, 1, 0.99, 0.95, 0.97).await;
    staged(&app, 2, 0.4, 0.95, 0.97).await;
    app.store
        .execute(
            "UPDATE staging.universal_file_ingestion SET status = 'failed', \
             error_message = 'no delimiter found in the first 64 KiB' WHERE file_name = 'file-2.csv'",
            &[],
        )
        .await
        .unwrap();
    let (code, text) = incident(&app, "format_detection_failure");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"file_name\":\"file-2.csv\""), "{text}");
    assert!(
        text.contains("no delimiter found in the first 64 KiB"),
        "{text}"
    );
    assert!(
        !text.contains("\"file_name\":\"file-1.csv\""),
        "a good file is not listed: {text}"
    );
    assert!(text.contains("\"failed\":1"), "{text}");
    app.finish().await;
}

async fn doctor_explains_a_quality_drop(backend: Backend) {
    let app = app(backend).await;
    seed(&app, "d0c70000-0000-4000-8000-000000000004", 2, 3).await;
    let out = doctor(&app.db.url, &["--incident", "quality_drop", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let section = |title: &str| {
        report["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s[0] == title)
            .unwrap()[1]
            .clone()
    };
    assert_eq!(report["summary"]["window"]["rows"], 5, "{report:#}");
    assert_eq!(report["summary"]["previous_window"]["rows"], 0);
    // The unresolved item is the lowest; its issue is the most common.
    assert_eq!(
        section("lowest quality items")[0]["name"],
        "Qwzx",
        "{report:#}"
    );
    assert_eq!(section("lowest quality stores")[0]["name"], "104");
    assert_eq!(section("lowest quality devices")[0]["name"], "SCOUTPI-0004");
    let issues = section("most common quality issues");
    assert!(issues[0]["window"].as_i64().unwrap() >= 3, "{issues:#}");
    assert_eq!(issues[0]["previous_window"], 0);
    app.finish().await;
}

async fn doctor_explains_a_performance_degradation(backend: Backend) {
    let app = app(backend).await;
    let audit = |ms: u64, at: chrono::DateTime<Utc>, device: Option<&'static str>| AuditEntry {
        function_name: "ingest-stream",
        duration: Duration::from_millis(ms),
        error: None,
        device_id: device,
        row_count: Some(1),
        details: None,
        created_at: at,
    };
    let yesterday = Utc::now() - chrono::Duration::hours(30);
    for ms in [100, 120, 110] {
        app.store.audit(&audit(ms, yesterday, None)).await.unwrap();
    }
    for ms in [150, 9_000] {
        app.store
            .audit(&audit(ms, Utc::now(), Some("SCOUTPI-0007")))
            .await
            .unwrap();
    }
    let out = doctor(
        &app.db.url,
        &["--incident", "performance_degradation", "--json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops = &report["sections"][0][1];
    let ingest = ops
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function_name"] == "ingest-stream")
        .unwrap();
    assert_eq!(
        (
            ingest["avg_ms"].as_f64(),
            ingest["previous_avg_ms"].as_f64()
        ),
        (Some(4575.0), Some(110.0)),
        "{report:#}"
    );
    assert_eq!(
        (ingest["p95_ms"].as_i64(), ingest["max_ms"].as_i64()),
        (Some(9000), Some(9000))
    );
    let slowest = &report["sections"][1][1][0];
    assert_eq!(
        (
            slowest["duration_ms"].as_i64(),
            slowest["device_id"].as_str()
        ),
        (Some(9000), Some("SCOUTPI-0007")),
        "{report:#}"
    );
    app.finish().await;
}
