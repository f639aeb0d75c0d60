//! Files' side of the store: one staging row per distinct file content, and the column
//! mappings operators confirmed (per header fingerprint). Written once for both backends.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::Store;
use super::error::StoreError;
use super::sql::{Arg, Upsert};

/// A file's staging row (`staging.universal_file_ingestion`), as an import writes it.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub file_id: String,
    pub file_name: String,
    /// `json`, `csv`, `tsv`, `excel`, `xml`, `parquet` or `text`.
    pub file_format: &'static str,
    pub detection_confidence: f64,
    /// JSON text: `{qualityScore, issues, columns…}`.
    pub schema_inference: String,
    /// JSON text: `{mapping_confidence, column_mappings…}`.
    pub column_mappings: String,
    /// JSON text: the first rows as read.
    pub raw_data: String,
    pub total_records: i64,
    /// JSON text: what the import did (counts, revenue, timings).
    pub processing_metadata: String,
    /// `ingested`, `processed`, `failed` or `needs_review`.
    pub status: &'static str,
    pub error_message: Option<String>,
    pub content_sha256: String,
    pub size_bytes: i64,
    pub header_fingerprint: Option<String>,
    pub at: DateTime<Utc>,
}

/// What staging already knows of a file content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedStatus {
    pub id: i64,
    pub status: String,
    pub file_name: String,
}

/// A file's staging row: a file of the same content (its hash) replaces the row, keeping when
/// it was first staged.
static STAGE_FILE: LazyLock<String> = LazyLock::new(|| {
    let upsert = Upsert {
        table: "staging.universal_file_ingestion",
        key: "content_sha256",
        columns: &[
            "file_id",
            "file_name",
            "file_format",
            "detection_confidence",
            "schema_inference",
            "column_mappings",
            "raw_data",
            "total_records",
            "processing_metadata",
            "status",
            "error_message",
            "created_at",
            "content_sha256",
            "size_bytes",
            "header_fingerprint",
            "updated_at",
        ],
        json: &[
            "schema_inference",
            "column_mappings",
            "raw_data",
            "processing_metadata",
        ],
        keep: &["created_at", "size_bytes"],
    };
    upsert.sql() + " RETURNING id"
});

impl Store {
    /// The staging row of a file content, if it was imported before.
    pub async fn staged_file(&self, sha256: &str) -> Result<Option<StagedStatus>, StoreError> {
        let rows = self
            .db
            .fetch(
                "SELECT id, status, file_name FROM staging.universal_file_ingestion \
                 WHERE content_sha256 = $1",
                &[Arg::Text(Some(sha256))],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(StagedStatus {
                    id: r.int(0)?,
                    status: r.text(1)?,
                    file_name: r.text(2)?,
                })
            })
            .transpose()
    }

    /// Writes a file's staging row (replacing an earlier one for the same content: a retry of a
    /// failed file, say) and returns its id.
    pub async fn stage_file(&self, f: &StagedFile) -> Result<i64, StoreError> {
        self.db
            .fetch_one(
                &STAGE_FILE,
                &[
                    Arg::Text(Some(&f.file_id)),
                    Arg::Text(Some(&f.file_name)),
                    Arg::Text(Some(f.file_format)),
                    Arg::Float(Some(f.detection_confidence)),
                    Arg::json(&f.schema_inference),
                    Arg::json(&f.column_mappings),
                    Arg::json(&f.raw_data),
                    Arg::Int(Some(f.total_records)),
                    Arg::json(&f.processing_metadata),
                    Arg::Text(Some(f.status)),
                    Arg::Text(f.error_message.as_deref()),
                    Arg::Time(Some(f.at)),
                    Arg::Text(Some(&f.content_sha256)),
                    Arg::Int(Some(f.size_bytes)),
                    Arg::Text(f.header_fingerprint.as_deref()),
                    Arg::Time(Some(f.at)),
                ],
            )
            .await?
            .int(0)
    }

    /// The mapping an operator confirmed for files with these headers (JSON text), if any.
    pub async fn confirmed_mapping(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .db
            .fetch(
                "SELECT column_mappings::text FROM staging.confirmed_mappings \
                 WHERE header_fingerprint = $1",
                &[Arg::Text(Some(fingerprint))],
            )
            .await?;
        rows.first().map(|r| r.text(0)).transpose()
    }

    /// Remembers an operator's mapping for files with these headers.
    pub async fn confirm_mapping(
        &self,
        fingerprint: &str,
        mapping_json: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO staging.confirmed_mappings (header_fingerprint, column_mappings, \
                 confirmed_at) VALUES ($1, $2::jsonb, $3) ON CONFLICT (header_fingerprint) DO UPDATE \
                 SET column_mappings = excluded.column_mappings, \
                 confirmed_at = excluded.confirmed_at",
                &[
                    Arg::Text(Some(fingerprint)),
                    Arg::json(mapping_json),
                    Arg::Time(Some(at)),
                ],
            )
            .await?;
        Ok(())
    }
}
