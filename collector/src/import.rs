//! Importing files: the landing of [`crate::files`]' work.
//!
//! **Enters:** a file on disk (a back office's export, a file synced from a Drive folder).
//!
//! **Leaves:** one staging row per distinct file content (`staging.universal_file_ingestion`:
//! format and confidence, schema inference, mapping, a sample, counts, status) and, when the
//! mapping is confident (or an operator confirmed one for the same headers), the file's
//! transactions in bronze, landed exactly as the edge stream's are (one row per device ×
//! transaction id, endpoint `file`), from where silver takes them with `data_source = 'drive'`.
//!
//! **Guarantees:** the same file content imported twice lands once (its staging row answers the
//! second time); the same transaction in two files lands once (bronze's key); a file whose
//! mapping needs review lands nothing and keeps its proposal in staging; a file that cannot be
//! read gets a `failed` staging row with the reason (line or row where there is one). Delimited
//! text and NDJSON stream from disk, so a large file costs bounded memory. A file that turns
//! out broken part-way keeps the transactions landed before the break (bronze's key makes a
//! re-import after a fix land only the rest); its staging row says where it broke. A database
//! that is busy (SQLite's write lock held by a long pass) or away for a while is waited out
//! ([`STORE_PATIENCE`]), each write retried whole.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::bronze::{BronzeRow, Landing};
use crate::files::{self, FileError, MappingProposal, Options, Processed};
use crate::progress::{Counting, Phase, Progress};
use crate::silver::FILE_ENDPOINT;
use crate::store::{AuditEntry, StagedFile, Store, StoreError, retry_transient};
use scout_common::Transaction;

/// The device id of file transactions that name no valid device.
pub const FILE_DEVICE: &str = "DRIVE";
/// The store id of file transactions that name no store (unless the import names one).
pub const UNKNOWN_STORE: &str = "unknown";
/// Most bronze rows per insert: one statement and one commit (one fsync) for thousands of rows,
/// rather than the edge stream's request-sized batches.
const BATCH_ROWS: usize = 5_000;
/// Most bytes of bronze rows per insert ([`BronzeRow::weight`]), so wide rows keep a batch, and
/// the import's memory, bounded: one batch is built while the one before it lands.
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Sample rows kept in staging's `raw_data`.
const RAW_SAMPLE: usize = 20;
/// Rejected transactions listed in a report (all are counted).
const MAX_LISTED: usize = 50;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub files: Options,
    /// The store of transactions that name none.
    pub store_id: Option<String>,
    /// The caller's id for the file (a Drive file id); default its content hash.
    pub file_id: Option<String>,
    /// The file's name as its sender called it (an upload's); default the path's last part.
    pub file_name: Option<String>,
    /// Advanced as the file is read (for a progress bar).
    pub progress: Option<Arc<Progress>>,
}

/// What importing one file did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub staging_id: Option<i64>,
    /// `processed`, `needs_review`, `failed`, or `duplicate_file` (imported before).
    pub status: &'static str,
    pub format: Option<&'static str>,
    pub detection_confidence: Option<f64>,
    pub quality_score: Option<f64>,
    pub mapping_confidence: Option<f64>,
    pub rows: u64,
    pub transactions: u64,
    pub items: u64,
    /// Transactions new to bronze.
    pub inserted: u64,
    /// Transactions bronze already held (from another file or the edge).
    pub duplicates: u64,
    /// Transactions refused, with the reason.
    pub rejected: u64,
    pub rejections: Vec<String>,
    /// The file's item totals, net of returns and voids, in centavos.
    pub revenue_centavos: i64,
    /// Its returns and voids (negative item totals) as a positive amount: silver holds sales
    /// only, `revenue_centavos + returns_centavos`.
    pub returns_centavos: i64,
    pub issues: usize,
    pub error: Option<String>,
    /// The schema inference (types, quality score, issues), when the file could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// The column mapping applied or proposed, when the file could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<serde_json::Value>,
}

impl ImportReport {
    fn new(file: &Path) -> Self {
        Self {
            file: file.display().to_string(),
            staging_id: None,
            status: "failed",
            format: None,
            detection_confidence: None,
            quality_score: None,
            mapping_confidence: None,
            rows: 0,
            transactions: 0,
            items: 0,
            inserted: 0,
            duplicates: 0,
            rejected: 0,
            rejections: Vec::new(),
            revenue_centavos: 0,
            returns_centavos: 0,
            issues: 0,
            error: None,
            schema: None,
            mapping: None,
        }
    }

    pub fn failed(&self) -> bool {
        self.status == "failed"
    }
}

/// The files a list of paths names: files as given, folders' files (not recursive, sorted, hidden
/// files and the inbox's own folders skipped).
pub fn expand(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
                })
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// The operation's name in `metadata.function_audit` (the operations manual's).
pub const AUDIT_NAME: &str = "universal-processor";

/// Imports one file (see the module docs) and audits the call. Problems with the file are in
/// the report; an `Err` is the database failing.
pub async fn import_file(
    store: &Store,
    path: &Path,
    options: &ImportOptions,
) -> Result<ImportReport, StoreError> {
    let started = std::time::Instant::now();
    let result = import(store, path, options).await;
    let error = match &result {
        Ok(r) if r.failed() => r.error.clone(),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    let details = match &result {
        Ok(r) => json!({
            "file": r.file, "status": r.status, "format": r.format,
            "stagingId": r.staging_id, "duplicates": r.duplicates, "rejected": r.rejected,
        }),
        Err(_) => json!({ "file": path.display().to_string() }),
    }
    .to_string();
    store
        .audit_logged(&AuditEntry {
            error: error.as_deref(),
            row_count: result
                .as_ref()
                .ok()
                .map(|r| i64::try_from(r.inserted).unwrap_or(i64::MAX)),
            details: Some(&details),
            ..AuditEntry::ended(AUDIT_NAME, started)
        })
        .await;
    result
}

async fn import(
    store: &Store,
    path: &Path,
    options: &ImportOptions,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::new(path);
    let file_name = options.file_name.clone().unwrap_or_else(|| {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    });
    if options.file_name.is_some() {
        report.file.clone_from(&file_name);
    }
    let owned = path.to_path_buf();
    let progress = options.progress.clone();
    let hashed = tokio::task::spawn_blocking(move || hash_file(&owned, progress.as_deref())).await;
    let (sha256, size, head) = match hashed {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            report.error = Some(format!("cannot read the file: {e}"));
            return Ok(report);
        }
        Err(e) => {
            report.error = Some(format!("reading the file failed: {e}"));
            return Ok(report);
        }
    };
    if let Some(staged) = store.staged_file(&sha256).await?
        && staged.status != "failed"
    {
        report.staging_id = Some(staged.id);
        report.status = "duplicate_file";
        report.error = Some(format!(
            "already imported as {} (staging row {}, {})",
            staged.file_name, staged.id, staged.status
        ));
        return Ok(report);
    }
    let mut staged = StagedFile {
        file_id: options.file_id.clone().unwrap_or_else(|| sha256.clone()),
        file_name,
        file_format: files::FileFormat::Text.as_str(),
        detection_confidence: 0.0,
        schema_inference: "{}".into(),
        column_mappings: "{}".into(),
        raw_data: "[]".into(),
        total_records: 0,
        processing_metadata: "{}".into(),
        status: "failed",
        error_message: None,
        content_sha256: sha256.clone(),
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        header_fingerprint: None,
        at: Utc::now(),
    };
    let detection = files::detect(&head);
    staged.file_format = detection.format.as_str();
    staged.detection_confidence = detection.confidence;
    report.format = Some(detection.format.as_str());
    report.detection_confidence = Some(detection.confidence);

    let owned = path.to_path_buf();
    let file_options = options.files.clone();
    let hash = sha256.clone();
    let progress = options.progress.clone();
    if let Some(p) = &progress {
        p.start(Phase::Importing, size);
    }
    let processed = tokio::task::spawn_blocking(move || -> Result<Processed, FileError> {
        let inner = std::fs::File::open(&owned)?;
        let file = Counting { inner, progress };
        files::process_reader(Box::new(std::io::BufReader::new(file)), hash, &file_options)
    })
    .await;
    let processed = match processed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return fail(store, staged, report, e.to_string()).await,
        Err(e) => return fail(store, staged, report, format!("reading failed: {e}")).await,
    };
    describe(&processed, &mut staged, &mut report);

    // An operator's mapping for the same headers wins over the proposal.
    let confirmed = match store
        .confirmed_mapping(&processed.mapping.header_fingerprint)
        .await?
    {
        Some(text) => serde_json::from_str::<MappingProposal>(&text).ok(),
        None => None,
    };
    if confirmed.is_none() && processed.needs_review() {
        staged.status = "needs_review";
        staged.error_message = Some(format!(
            "mapping confidence {:.2} is below the threshold: nothing landed; confirm a \
             mapping for these headers to import it",
            processed.mapping.mapping_confidence
        ));
        report.status = "needs_review";
        report.error.clone_from(&staged.error_message);
        report.staging_id = Some(store.stage_file(&staged).await?);
        return Ok(report);
    }
    let transactions = match confirmed {
        Some(mapping) => {
            staged.column_mappings = crate::bronze::to_json(&mapping);
            report.mapping = serde_json::to_value(&mapping).ok();
            match processed.transactions_with(mapping) {
                Ok(t) => t,
                Err(e) => return fail(store, staged, report, e.to_string()).await,
            }
        }
        None => processed.transactions(),
    };

    let store_id = options
        .store_id
        .clone()
        .unwrap_or_else(|| UNKNOWN_STORE.to_owned());
    let landed = land(store, transactions, &store_id, &mut report).await;
    staged.total_records = i64::try_from(report.rows).unwrap_or(i64::MAX);
    staged.processing_metadata = json!({
        "rows": report.rows,
        "transactions": report.transactions,
        "items": report.items,
        "inserted": report.inserted,
        "duplicates": report.duplicates,
        "rejected": report.rejected,
        "revenueCentavos": report.revenue_centavos,
        "returnsCentavos": report.returns_centavos,
        "rejections": report.rejections,
    })
    .to_string();
    match landed {
        Ok(()) => {
            staged.status = "processed";
            report.status = "processed";
            report.staging_id =
                Some(retry_transient(STORE_PATIENCE, || store.stage_file(&staged)).await?);
            Ok(report)
        }
        Err(Landed::File(e)) => fail(store, staged, report, e).await,
        Err(Landed::Store(e)) => {
            // Record what is known, then let the caller see the database's failure.
            staged.error_message = Some(format!("the database failed: {e}"));
            let _ = store.stage_file(&staged).await;
            Err(e)
        }
    }
}

enum Landed {
    File(String),
    Store(StoreError),
}

/// Converts the file's transactions on a blocking thread and lands them batch by batch.
async fn land(
    store: &Store,
    transactions: files::Transactions,
    store_id: &str,
    report: &mut ImportReport,
) -> Result<(), Landed> {
    // One batch waits while another lands and a third is built: the file is read and converted
    // while the database writes, and at most three batches are in memory.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(1);
    let store_id = store_id.to_owned();
    let converter = tokio::task::spawn_blocking(move || convert(transactions, &store_id, &sender));
    let mut outcome = Ok(());
    while let Some(batch) = receiver.recv().await {
        report.rejected += batch.rejections.len() as u64;
        for r in batch.rejections {
            if report.rejections.len() < MAX_LISTED {
                report.rejections.push(r);
            }
        }
        if batch.rows.is_empty() {
            continue;
        }
        match retry_transient(STORE_PATIENCE, || store.insert_bronze(&batch.rows)).await {
            Ok(inserted) => {
                report.inserted += inserted;
                report.duplicates += batch.rows.len() as u64 - inserted;
            }
            Err(e) => {
                outcome = Err(Landed::Store(e));
                break;
            }
        }
    }
    drop(receiver);
    let finished = converter
        .await
        .map_err(|e| Landed::File(format!("converting failed: {e}")))?;
    let (stats, error) = finished;
    report.rows = stats.rows;
    report.transactions = stats.transactions;
    report.items = stats.items;
    report.revenue_centavos = stats.revenue_centavos;
    report.returns_centavos = stats.returns_centavos;
    outcome?;
    match error {
        Some(e) => Err(Landed::File(e)),
        None => Ok(()),
    }
}

#[derive(Default)]
struct Batch {
    rows: Vec<BronzeRow>,
    /// The rows' [`BronzeRow::weight`].
    bytes: usize,
    rejections: Vec<String>,
}

/// Turns converted payloads into bronze rows; returns the conversion's counts and the error that
/// stopped it, if one did.
fn convert(
    mut transactions: files::Transactions,
    store_id: &str,
    sender: &tokio::sync::mpsc::Sender<Batch>,
) -> (files::ConvertStats, Option<String>) {
    let received_at = Utc::now();
    let mut batch = Batch::default();
    let mut error = None;
    for payload in transactions.by_ref() {
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        };
        match Transaction::parse(payload) {
            Ok(t) => {
                let device = t
                    .device_id
                    .as_ref()
                    .map_or(FILE_DEVICE.to_owned(), |d| d.as_str().to_owned());
                let row = BronzeRow::new(
                    t,
                    Landing {
                        device_id: &device,
                        store_id,
                        endpoint: FILE_ENDPOINT,
                        received_at,
                    },
                );
                batch.bytes += row.weight();
                batch.rows.push(row);
            }
            Err(e) => batch.rejections.push(e.to_string()),
        }
        if batch.rows.len() >= BATCH_ROWS || batch.bytes >= BATCH_BYTES {
            let full = std::mem::take(&mut batch);
            if sender.blocking_send(full).is_err() {
                // The lander stopped (the database failed): it reports why.
                return (transactions.stats().clone(), None);
            }
        }
    }
    let _ = sender.blocking_send(batch);
    (transactions.stats().clone(), error)
}

/// Fills the staging row and the report from what reading the file found.
fn describe(p: &Processed, staged: &mut StagedFile, report: &mut ImportReport) {
    staged.file_format = p.detection.format.as_str();
    staged.detection_confidence = p.detection.confidence;
    staged.schema_inference = crate::bronze::to_json(&p.schema);
    staged.column_mappings = crate::bronze::to_json(&p.mapping);
    staged.raw_data = p.raw_sample(RAW_SAMPLE).to_string();
    staged.header_fingerprint = Some(p.mapping.header_fingerprint.clone());
    report.format = Some(p.detection.format.as_str());
    report.detection_confidence = Some(p.detection.confidence);
    report.quality_score = Some(p.schema.quality_score);
    report.mapping_confidence = Some(p.mapping.mapping_confidence);
    report.issues = p.schema.issues.len();
    report.schema = serde_json::to_value(&p.schema).ok();
    report.mapping = serde_json::to_value(&p.mapping).ok();
}

async fn fail(
    store: &Store,
    mut staged: StagedFile,
    mut report: ImportReport,
    error: String,
) -> Result<ImportReport, StoreError> {
    staged.status = "failed";
    staged.error_message = Some(error.clone());
    report.status = "failed";
    report.error = Some(error);
    report.staging_id = Some(retry_transient(STORE_PATIENCE, || store.stage_file(&staged)).await?);
    Ok(report)
}

/// How long an import waits out a database that is busy or unreachable before it gives up.
/// On SQLite a long silver or gold pass holds the one write lock past the connection's busy
/// timeout; on PostgreSQL a failover or restart takes seconds. An import has no client retrying
/// for it (the inbox, the command line), so it retries its writes itself: each is whole or
/// nothing and idempotent (a bronze batch is one transaction with `ON CONFLICT DO NOTHING`, so
/// a batch whose commit was lost with its connection counts as duplicates the second time; a
/// staging row is upserted by content hash).
const STORE_PATIENCE: Duration = Duration::from_secs(180);

/// The file's SHA-256 (hex), size and first bytes (for detection), read once.
fn hash_file(path: &Path, progress: Option<&Progress>) -> std::io::Result<(String, u64, Vec<u8>)> {
    let mut file = std::fs::File::open(path)?;
    if let Some(p) = progress {
        p.start(Phase::Hashing, file.metadata()?.len());
    }
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut size = 0_u64;
    let mut buf = vec![0_u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < files::DETECT_BYTES {
            let take = n.min(files::DETECT_BYTES - head.len());
            head.extend_from_slice(&buf[..take]);
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        if let Some(p) = progress {
            p.advance(n as u64);
        }
    }
    Ok((hex::encode(hasher.finalize()), size, head))
}

/// The reports as a table for people: one line per file, then the failures' reasons.
pub fn summary_table(reports: &[ImportReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:<14} {:<8} {:>5} {:>5} {:>8} {:>8} {:>6} {:>14}",
        "FILE", "STATUS", "FORMAT", "CONF", "MAP", "ROWS", "LANDED", "DUPES", "REVENUE (PHP)"
    );
    for r in reports {
        let mut name = Path::new(&r.file)
            .file_name()
            .map_or_else(|| r.file.clone(), |n| n.to_string_lossy().into_owned());
        scout_common::text::clip(&mut name, 32);
        let score = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "{:<32} {:<14} {:<8} {:>5} {:>5} {:>8} {:>8} {:>6} {:>14}",
            name,
            r.status,
            r.format.unwrap_or("-"),
            score(r.detection_confidence),
            score(r.mapping_confidence),
            r.rows,
            r.inserted,
            r.duplicates,
            files::format_centavos(r.revenue_centavos),
        );
    }
    for r in reports.iter().filter(|r| r.returns_centavos > 0) {
        let _ = writeln!(
            out,
            "{}: revenue is net of PHP {} of returns and voids; silver holds the sales, PHP {}",
            r.file,
            files::format_centavos(r.returns_centavos),
            files::format_centavos(r.revenue_centavos + r.returns_centavos)
        );
    }
    for r in reports.iter().filter(|r| r.error.is_some()) {
        let _ = writeln!(
            out,
            "{}: {}",
            r.file,
            r.error.as_deref().unwrap_or_default()
        );
    }
    let rejected: u64 = reports.iter().map(|r| r.rejected).sum();
    if rejected > 0 {
        let _ = writeln!(
            out,
            "{rejected} transactions rejected (see --json for reasons)"
        );
    }
    out
}
