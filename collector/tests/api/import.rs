//! Importing files into the medallion (`scout_collector::import`), on both backends: a mapped
//! file lands in staging and bronze and reaches silver (`data_source = 'drive'`) and gold to
//! the centavo; the same content twice lands once; a file whose mapping needs review lands
//! nothing; a broken file gets a `failed` staging row with its reason; the same transactions
//! in a second file are not counted twice.

use std::sync::Arc;

use scout_collector::brands::BrandMatcher;
use scout_collector::import::{ImportOptions, ImportReport, import_file};
use scout_collector::pipeline::{Pipeline, PipelineOptions};
use scout_collector::store::{Arg, Store};

use crate::both_backends;
use crate::helpers::{Backend, TestDb, corpus};

both_backends!(
    a_mapped_file_reaches_silver_and_gold_to_the_centavo,
    the_same_content_lands_once,
    a_file_needing_review_lands_nothing,
    a_broken_file_is_staged_as_failed_with_its_reason,
    store_names_with_quotes_and_backslashes_reach_gold,
    returns_are_reported_apart_from_the_sales_silver_holds,
);

/// `pos_export_basic.csv` as the corpus' manifest reads it.
const BASIC: &str = "pos_export_basic.csv";
const BASIC_TRANSACTIONS: u64 = 8;
const BASIC_REVENUE: i64 = 182_100;

async fn catch_up(store: &Store) {
    Pipeline::new(
        store.clone(),
        Arc::new(BrandMatcher::shipped().unwrap()),
        PipelineOptions::default(),
    )
    .catch_up()
    .await
    .unwrap();
}

async fn int(store: &Store, sql: &str) -> i64 {
    store.query_int(sql, &[]).await.unwrap()
}

/// Imports `path` with the default options.
async fn import(store: &Store, path: &std::path::Path) -> ImportReport {
    import_file(store, path, &ImportOptions::default())
        .await
        .unwrap()
}

/// Silver's revenue in centavos, all days.
async fn silver_revenue(store: &Store) -> i64 {
    int(
        store,
        "SELECT CAST(sum(amount_centavos) AS BIGINT) FROM silver.transactions_cleaned",
    )
    .await
}

async fn staging_statuses(store: &Store) -> Vec<Option<String>> {
    store
        .query_texts(
            "SELECT status FROM staging.universal_file_ingestion ORDER BY id",
            &[],
        )
        .await
        .unwrap()
}

/// A file with refunds: the report's revenue is net of them, its returns are apart, and the
/// summary says what silver holds (sales only: the refunds are quarantined).
async fn returns_are_reported_apart_from_the_sales_silver_holds(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = db.store().await;
    let report = import(&store, &corpus("refund_parentheses.csv")).await;
    assert_eq!(report.status, "processed", "{report:?}");
    assert_eq!(report.revenue_centavos, 26_750);
    assert_eq!(report.returns_centavos, 29_000);
    catch_up(&store).await;
    let silver = silver_revenue(&store).await;
    assert_eq!(silver, 55_750);
    let table = scout_collector::import::summary_table(std::slice::from_ref(&report));
    assert!(
        table.contains(
            "revenue is net of PHP 290.00 of returns and voids; silver holds the sales, PHP 557.50"
        ),
        "{table}"
    );
    let staged = store
        .query_texts(
            "SELECT CAST(processing_metadata AS TEXT) FROM staging.universal_file_ingestion",
            &[],
        )
        .await
        .unwrap();
    let meta: serde_json::Value = serde_json::from_str(staged[0].as_deref().unwrap()).unwrap();
    assert_eq!(meta["returnsCentavos"], 29_000);
    db.cleanup().await;
}

async fn a_mapped_file_reaches_silver_and_gold_to_the_centavo(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = db.store().await;
    let report = import(&store, &corpus(BASIC)).await;
    assert_eq!(report.status, "processed", "{report:?}");
    assert_eq!(report.format, Some("csv"));
    assert_eq!(report.transactions, BASIC_TRANSACTIONS);
    assert_eq!(report.inserted, BASIC_TRANSACTIONS);
    assert_eq!(report.revenue_centavos, BASIC_REVENUE);
    catch_up(&store).await;

    let silver = silver_revenue(&store).await;
    let gold = int(
        &store,
        "SELECT CAST(sum(revenue_centavos) AS BIGINT) FROM scout.scout_gold_transactions",
    )
    .await;
    assert_eq!((silver, gold), (BASIC_REVENUE, BASIC_REVENUE));
    let sources = store
        .query_texts(
            "SELECT DISTINCT data_source FROM silver.transactions_cleaned",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(sources, [Some("drive".to_owned())]);

    // The staging row: format, confidence, inference, mapping, sample and counts.
    let row = &store
        .query(
            "SELECT file_name, file_format, CAST(detection_confidence AS TEXT), CAST(total_records AS BIGINT), \
             status, schema_inference::text, column_mappings::text, raw_data::text \
             FROM staging.universal_file_ingestion",
            &[],
        )
        .await
        .unwrap()[0];
    assert_eq!(row.text(0).unwrap(), BASIC);
    assert_eq!(row.text(1).unwrap(), "csv");
    let confidence: f64 = row.text(2).unwrap().parse().unwrap();
    assert!(confidence >= 0.9, "{confidence}");
    assert_eq!(row.int(3).unwrap(), 12, "data rows");
    assert_eq!(row.text(4).unwrap(), "processed");
    let schema: serde_json::Value = serde_json::from_str(&row.text(5).unwrap()).unwrap();
    assert!(schema["qualityScore"].as_f64().unwrap() > 0.8, "{schema}");
    let mapping: serde_json::Value = serde_json::from_str(&row.text(6).unwrap()).unwrap();
    assert!(mapping["mapping_confidence"].as_f64().unwrap() >= 0.8);
    assert!(
        mapping["column_mappings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["source"] == "Transaction ID" && m["target"] == "transaction_id"),
        "{mapping}"
    );
    let sample: serde_json::Value = serde_json::from_str(&row.text(7).unwrap()).unwrap();
    assert_eq!(sample.as_array().unwrap().len(), 12);
    // The call is audited as the operations manual names it.
    let audited = int(
        &store,
        "SELECT count(*) FROM metadata.function_audit WHERE function_name = \
         'universal-processor' AND error IS NULL AND row_count = 8",
    )
    .await;
    assert_eq!(audited, 1);
    db.cleanup().await;
}

async fn the_same_content_lands_once(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = db.store().await;
    let first = import(&store, &corpus(BASIC)).await;
    assert_eq!(first.status, "processed");
    // Twice, and once more under another name: one staging row, no new bronze.
    let again = import(&store, &corpus(BASIC)).await;
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("copy of the export.csv");
    std::fs::copy(corpus(BASIC), &renamed).unwrap();
    let copy = import(&store, &renamed).await;
    for r in [&again, &copy] {
        assert_eq!(r.status, "duplicate_file", "{r:?}");
        assert_eq!(r.staging_id, first.staging_id);
        assert_eq!(r.inserted, 0);
    }
    assert_eq!(staging_statuses(&store).await.len(), 1);
    assert_eq!(
        int(&store, "SELECT count(*) FROM bronze.raw_transactions").await,
        BASIC_TRANSACTIONS as i64
    );

    // A different file holding the same transactions (one more line at the end): only the
    // new transaction lands.
    let mut text = std::fs::read_to_string(corpus(BASIC)).unwrap();
    let last = text.lines().last().unwrap().to_owned();
    let extra = last.replacen(last.split(',').next().unwrap(), "TXN-EXTRA-1", 1);
    text.push_str(&extra);
    text.push('\n');
    let grown = dir.path().join("export with one more sale.csv");
    std::fs::write(&grown, text).unwrap();
    let more = import(&store, &grown).await;
    assert_eq!(more.status, "processed", "{more:?}");
    assert_eq!((more.inserted, more.duplicates), (1, BASIC_TRANSACTIONS));
    catch_up(&store).await;
    let lines = int(
        &store,
        "SELECT count(*) FROM silver.transactions_cleaned WHERE transaction_id = 'TXN-EXTRA-1'",
    )
    .await;
    assert_eq!(lines, 1);
    db.cleanup().await;
}

async fn a_file_needing_review_lands_nothing(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = db.store().await;
    let report = import(&store, &corpus("headerless_export.csv")).await;
    assert_eq!(report.status, "needs_review", "{report:?}");
    assert!(report.mapping_confidence.unwrap() < 0.8);
    assert_eq!(report.inserted, 0);
    assert_eq!(
        int(&store, "SELECT count(*) FROM bronze.raw_transactions").await,
        0
    );
    assert_eq!(
        staging_statuses(&store).await,
        [Some("needs_review".to_owned())]
    );
    let proposal = store
        .query_texts(
            "SELECT column_mappings::text FROM staging.universal_file_ingestion",
            &[],
        )
        .await
        .unwrap();
    let proposal: serde_json::Value =
        serde_json::from_str(proposal[0].as_deref().unwrap()).unwrap();
    assert!(!proposal["column_mappings"].as_array().unwrap().is_empty());
    db.cleanup().await;
}

async fn a_broken_file_is_staged_as_failed_with_its_reason(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = db.store().await;
    for (name, reason) in [
        ("truncated.xlsx", "damaged"),
        ("truncated.parquet", "damaged"),
        ("empty.csv", "empty"),
        ("header_only.csv", "no data rows"),
        ("binary_garbage.csv", "not a table"),
        ("zip_bomb.xlsx", "xlsx"),
    ] {
        let report = import(&store, &corpus(name)).await;
        assert!(report.failed(), "{name}: {report:?}");
        let error = report.error.clone().unwrap();
        assert!(error.contains(reason), "{name}: {error}");
        let staged = store
            .query_texts(
                "SELECT error_message FROM staging.universal_file_ingestion WHERE id = $1",
                &[Arg::Int(report.staging_id)],
            )
            .await
            .unwrap();
        assert_eq!(staged, [Some(error.clone())], "{name}");
        let audited = store
            .query_texts(
                "SELECT error FROM metadata.function_audit WHERE function_name = \
                 'universal-processor' ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(audited, [Some(error)], "{name}");
        let status = store
            .query_texts(
                "SELECT status FROM staging.universal_file_ingestion WHERE id = $1",
                &[Arg::Int(report.staging_id)],
            )
            .await
            .unwrap();
        assert_eq!(status, [Some("failed".to_owned())], "{name}");
    }
    assert_eq!(
        int(&store, "SELECT count(*) FROM bronze.raw_transactions").await,
        0
    );
    db.cleanup().await;
}

/// `scout-collector import`: a summary table, exit 0 when every file was imported (or was
/// already), 1 when one failed; silver and gold brought up to date.
#[test]
fn the_import_command_exits_non_zero_when_a_file_failed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scout.db").display());
    let run = |files: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scout-collector"))
            .args(["--database-url", &url, "import"])
            .args(files.iter().map(|f| corpus(f)))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, table) = run(&[BASIC, "truncated.xlsx"]);
    assert_eq!(code, Some(1), "{table}");
    assert!(
        table.contains("processed") && table.contains("failed"),
        "{table}"
    );
    assert!(table.contains("1821.00"), "{table}");
    let (code, table) = run(&[BASIC]);
    assert_eq!(code, Some(0), "{table}");
    assert!(table.contains("duplicate_file"), "{table}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", &url, "kpis", "--json"])
        .output()
        .unwrap();
    let kpis: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !kpis.as_array().unwrap().is_empty(),
        "gold holds the file's day"
    );
}

/// A 1 GB file, made on the fly in a temporary folder: `scout-collector import` answers it
/// without holding it. A valid CSV imported with `--max-rows` is read as a stream (hashed whole,
/// converted only as far as asked); a sparse gigabyte of zeros is refused as not a table. The
/// process's peak memory (`VmHWM`, sampled while it runs) stays far below the file's size.
#[test]
fn a_1_gb_file_is_answered_in_bounded_memory() {
    use std::io::Write as _;
    const GB: u64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scout.db").display());
    let csv = dir.path().join("huge.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
        out.write_all(b"Txn ID,Date,Product,Qty,Price,Payment\n")
            .unwrap();
        let mut chunk = String::new();
        for n in 0..16_000_u64 {
            chunk.push_str(&format!(
                "T{n},2025-03-{:02} 10:{:02},Coke Mismo 290ml,{},20.50,GCash\n",
                n % 28 + 1,
                n % 60,
                n % 3 + 1
            ));
        }
        let mut written = 0_u64;
        while written < GB {
            out.write_all(chunk.as_bytes()).unwrap();
            written += chunk.len() as u64;
        }
    }
    let zeros = dir.path().join("zeros.csv");
    std::fs::File::create(&zeros).unwrap().set_len(GB).unwrap();

    let run = |file: &std::path::Path, extra: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scout-collector"))
            .args(["--database-url", &url, "import", "--json"])
            .args(extra)
            .arg(file)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
        let mut peak_kib = 0_u64;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                let hwm = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
                peak_kib = peak_kib.max(hwm.unwrap_or(0));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let out = reader.join().unwrap();
        let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
        (status.code(), reports[0].clone(), peak_kib)
    };

    let (code, report, peak_kib) = run(&csv, &["--max-rows", "2000"]);
    eprintln!("1 GB CSV, --max-rows 2000: peak {} MiB", peak_kib / 1024);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["status"], "processed", "{report}");
    assert_eq!(report["rows"], 2000, "{report}");
    assert!(peak_kib < 150 * 1024, "peak {peak_kib} KiB for a 1 GB file");

    let (code, report, peak_kib) = run(&zeros, &[]);
    eprintln!("1 GB of zeros: peak {} MiB", peak_kib / 1024);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["status"], "failed", "{report}");
    assert!(!report["error"].as_str().unwrap().is_empty(), "{report}");
    assert!(peak_kib < 150 * 1024, "peak {peak_kib} KiB for a 1 GB file");
}

/// Store names as a back office types them (an apostrophe, a backslash, a quote pair) are
/// partitions like any other: gold's rebuild spells the claimed partitions into its statements
/// on PostgreSQL, and each store's revenue reaches gold whole.
async fn store_names_with_quotes_and_backslashes_reach_gold(backend: Backend) {
    let Some(db) = TestDb::for_backend(backend).await else {
        return;
    };
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("branches.csv");
    let stores = [
        "Aling Nena's Store",
        "Tindahan ni Mang Juan \\ Annex",
        "Sari-sari \\'' Corner",
        "E'x' \\\\",
    ];
    let mut csv = String::from("Transaction ID,Timestamp,Store,Product,Quantity,Unit Price\n");
    for (i, name) in stores.iter().enumerate() {
        for k in 0..3 {
            csv.push_str(&format!(
                "T-{i}-{k},2025-03-0{} 10:1{k}:00,\"{}\",Coke Mismo 290ml,{},15.00\n",
                1 + k,
                name.replace('"', "\"\""),
                1 + i,
            ));
        }
    }
    std::fs::write(&file, csv).unwrap();
    let report = import(&store, &file).await;
    assert_eq!(report.status, "processed", "{report:?}");
    assert_eq!(report.transactions, 12, "{report:?}");
    catch_up(&store).await;
    let per_store = async |table: &str, column: &str| {
        let sql = format!(
            "SELECT store_id || '=' || CAST(CAST(sum({column}) AS BIGINT) AS TEXT) FROM {table} \
             GROUP BY store_id ORDER BY store_id"
        );
        store.query_texts(&sql, &[]).await.unwrap()
    };
    let silver = per_store("silver.transactions_cleaned", "amount_centavos").await;
    let gold = per_store("scout.scout_gold_transactions", "revenue_centavos").await;
    let mut expected: Vec<Option<String>> = stores
        .iter()
        .enumerate()
        .map(|(i, name)| Some(format!("{name}={}", 3 * 1500 * (i + 1))))
        .collect();
    expected.sort();
    assert_eq!(silver, expected);
    assert_eq!(gold, expected);
    let pending = int(&store, "SELECT count(*) FROM metadata.gold_pending").await;
    let failed = int(&store, "SELECT count(*) FROM metadata.gold_failures").await;
    assert_eq!((pending, failed), (0, 0));
    db.cleanup().await;
}

/// SQLite has one write lock: a long silver or gold pass (or another process on the file) may
/// hold it past the connection's busy timeout. The import waits it out and lands everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_waits_out_a_database_held_locked() {
    use sqlx::Connection as _;
    let db = TestDb::for_backend(Backend::Sqlite).await.unwrap();
    let store = db.store().await;
    let mut holder = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let importing = {
        let store = store.clone();
        tokio::spawn(async move { import(&store, &corpus(BASIC)).await })
    };
    // Longer than the store's busy timeout (10 s).
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    assert!(
        !importing.is_finished(),
        "the import gave up while locked out"
    );
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    let report = importing.await.unwrap();
    assert_eq!(report.status, "processed", "{report:?}");
    assert_eq!(report.inserted, BASIC_TRANSACTIONS);
    assert_eq!(
        int(&store, "SELECT count(*) FROM bronze.raw_transactions").await,
        BASIC_TRANSACTIONS as i64
    );
    db.cleanup().await;
}
