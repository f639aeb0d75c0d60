//! The watched inbox with the real binary (`scout-collector serve --inbox DIR`), on both
//! backends: a file there at start-up is taken; a file written under a temporary name and
//! renamed in while serving is imported, moved to `done/`, and its rows reach silver as drive
//! rows; a file needing review goes to `review/` with its proposal, a broken one to `failed/`
//! with its error file; the same content dropped again lands nothing more.

use std::path::Path;
use std::time::{Duration, Instant};

use scout_tests::bins::{self, Process};

use crate::helpers::{Backend, TestDb, corpus};

crate::both_backends!(files_dropped_in_the_inbox_are_imported_and_filed_away);

const BASIC_REVENUE: i64 = 182_100;

fn start(url: &str, dir: &Path, inbox: &Path) -> Process {
    let bin = Path::new(env!("CARGO_BIN_EXE_scout-collector"));
    let inbox = inbox.to_str().unwrap();
    let extra = [
        "--inbox",
        inbox,
        "--inbox-poll-secs",
        "0.2",
        "--process-poll-secs",
        "0.5",
    ];
    bins::start_collector(bin, url, dir, "127.0.0.1:0", &extra)
}

/// Waits until `path` exists.
async fn appears(path: &Path, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} did not appear; log:\n{}",
            path.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn files_dropped_in_the_inbox_are_imported_and_filed_away(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    // There before the collector starts: taken at start-up.
    std::fs::copy(
        corpus("headerless_export.csv"),
        inbox.join("headerless_export.csv"),
    )
    .unwrap();
    let collector = start(&db.url, dir.path(), &inbox);
    appears(&inbox.join("review/headerless_export.csv"), &collector.log).await;
    let proposal =
        std::fs::read_to_string(inbox.join("review/headerless_export.csv.review.json")).unwrap();
    let proposal: serde_json::Value = serde_json::from_str(&proposal).unwrap();
    assert_eq!(proposal["status"], "needs_review");
    assert!(
        proposal["mapping"]["column_mappings"].is_array(),
        "{proposal}"
    );

    // Written under temporary names (as rclone and Excel do): left alone.
    let partial = inbox.join(".pos_export.csv.x7Yq.partial");
    std::fs::copy(corpus("pos_export_basic.csv"), &partial).unwrap();
    std::fs::write(inbox.join("~$branch_report.xlsx"), b"owner lock").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(partial.exists());
    assert!(inbox.join("~$branch_report.xlsx").exists());
    let count = |sql: &'static str| {
        let store = store.clone();
        async move { store.query_int(sql, &[]).await.unwrap() }
    };
    assert_eq!(
        count("SELECT count(*) FROM bronze.raw_transactions").await,
        0
    );

    // Renamed in while serving: imported, filed in done/, on to silver as drive rows.
    std::fs::rename(&partial, inbox.join("pos_export.csv")).unwrap();
    appears(&inbox.join("done/pos_export.csv"), &collector.log).await;
    assert!(!inbox.join("pos_export.csv").exists());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let silver = count(
            "SELECT CAST(COALESCE(sum(amount_centavos), 0) AS BIGINT) \
             FROM silver.transactions_cleaned WHERE data_source = 'drive'",
        )
        .await;
        if silver == BASIC_REVENUE {
            break;
        }
        assert!(Instant::now() < deadline, "silver holds {silver} centavos");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let landed = count("SELECT count(*) FROM bronze.raw_transactions").await;
    assert_eq!(landed, 8);

    // A broken file: failed/ with the reason beside it; nothing lands.
    std::fs::copy(corpus("binary_garbage.csv"), inbox.join("garbage.csv")).unwrap();
    appears(&inbox.join("failed/garbage.csv.error.txt"), &collector.log).await;
    assert!(inbox.join("failed/garbage.csv").exists());
    let error = std::fs::read_to_string(inbox.join("failed/garbage.csv.error.txt")).unwrap();
    assert!(error.starts_with("garbage.csv: "), "{error}");
    assert!(error.contains("\"status\": \"failed\""), "{error}");

    // The same content under another name: filed as done, nothing more lands.
    std::fs::copy(corpus("pos_export_basic.csv"), inbox.join("again.csv")).unwrap();
    appears(&inbox.join("done/again.csv"), &collector.log).await;
    assert_eq!(
        count("SELECT count(*) FROM bronze.raw_transactions").await,
        landed
    );
    let statuses = store
        .query_texts(
            "SELECT status FROM staging.universal_file_ingestion ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let statuses: Vec<_> = statuses.into_iter().flatten().collect();
    assert_eq!(statuses, ["needs_review", "processed", "failed"]);
    // Only the temporary names are left in the inbox.
    let mut left: Vec<String> = std::fs::read_dir(&inbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["done", "failed", "review", "~$branch_report.xlsx"]);

    assert!(collector.terminate(Duration::from_secs(30)).success());
    store.close().await;
    db.cleanup().await;
}
