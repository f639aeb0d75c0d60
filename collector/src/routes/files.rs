//! `POST /v1/files` and its compatibility path `POST /functions/v1/drive-universal-processor`:
//! a sales file uploaded as multipart form data (part `file`, optional part `options`, JSON
//! `{fileId, forceFormat, sheetName, delimiter, skipRows, maxRows, storeId}`), imported as
//! `scout-collector import` imports it ([`crate::import`]), answered with the import's report.
//!
//! Admitted by the admin token or the upload token (see [`super::auth::uploader`]), checked
//! before any of the body is read. The file part streams to a temporary file, counted against
//! `max_file_bytes` as it comes (413 beyond it), so an upload never sits in memory; reading and
//! converting it run on blocking threads, as the import does. A missing `file` part or options
//! that do not parse are a 400, as is a second `file` part (one file per request); a body that
//! is not multipart form data is a 415. A file that cannot be read is a 422 with the report (its staging
//! row says `failed`); a processed, duplicate or needs-review file is a 200.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use super::{AppState, auth, body};
use crate::error::ApiError;
use crate::files::{self, FileFormat};
use crate::import::{self, ImportOptions, ImportReport};
use scout_common::serve::body::BodyFailure;

/// Largest `options` part, in bytes.
const MAX_OPTIONS_BYTES: usize = 64 * 1024;
/// Room in a declared `Content-Length` for the multipart framing and the options part.
const FRAMING_BYTES: u64 = 1024 * 1024;

/// The `options` part.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadOptions {
    file_id: Option<String>,
    force_format: Option<String>,
    sheet_name: Option<String>,
    delimiter: Option<String>,
    skip_rows: Option<usize>,
    max_rows: Option<usize>,
    store_id: Option<String>,
}

impl UploadOptions {
    fn parse(text: &str) -> Result<Self, ApiError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(text)
            .map_err(|e| ApiError::BadRequest(format!("the `options` part is not valid: {e}")))
    }

    fn into_import(self, file_name: Option<String>) -> Result<ImportOptions, ApiError> {
        let force_format = self
            .force_format
            .map(|name| {
                FileFormat::from_name(&name).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown forceFormat {name:?} (json, csv, tsv, excel, xml, parquet)"
                    ))
                })
            })
            .transpose()?;
        let delimiter = self.delimiter.map(|d| parse_delimiter(&d)).transpose()?;
        Ok(ImportOptions {
            files: files::Options {
                force_format,
                sheet_name: self.sheet_name,
                delimiter,
                skip_rows: self.skip_rows,
                max_rows: self.max_rows,
            },
            store_id: self.store_id,
            file_id: self.file_id,
            file_name,
            progress: None,
        })
    }
}

/// One character, or a name: `tab`, `\t`, `comma`, `semicolon`, `pipe`.
fn parse_delimiter(text: &str) -> Result<char, ApiError> {
    let named = match text.to_ascii_lowercase().as_str() {
        "tab" | "\\t" => Some('\t'),
        "comma" => Some(','),
        "semicolon" => Some(';'),
        "pipe" => Some('|'),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(ApiError::BadRequest(format!(
            "delimiter {text:?} is not one character (or tab, comma, semicolon, pipe)"
        ))),
    }
}

/// The answer: the import's report, with whether it succeeded and whether the content was
/// imported before.
#[derive(Debug, Serialize)]
pub struct UploadAnswer {
    pub success: bool,
    pub duplicate: bool,
    #[serde(flatten)]
    pub report: ImportReport,
}

pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<UploadAnswer>), ApiError> {
    auth::uploader(&state, &headers)?;
    body::refuse_declared_length_over(
        &headers,
        state.max_file_bytes.saturating_add(FRAMING_BYTES),
    )?;
    let mut multipart = multipart.map_err(|e| not_multipart(&headers, &e))?;
    let mut options_text = None;
    let mut received: Option<(tempfile::TempPath, Option<String>)> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, state.max_file_bytes))?
    {
        match field.name() {
            Some("file") if received.is_some() => {
                return Err(ApiError::BadRequest(
                    "the body holds a second `file` part: send one file per request".into(),
                ));
            }
            Some("file") => {
                let name = field.file_name().map(str::to_owned);
                let (file, path) = tokio::task::spawn_blocking(tempfile::NamedTempFile::new)
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))?
                    .map_err(|e| ApiError::Internal(e.into()))?
                    .into_parts();
                let mut file = tokio::fs::File::from_std(file);
                let mut size = 0_u64;
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| multipart_error(e, state.max_file_bytes))?
                {
                    size += chunk.len() as u64;
                    if size > state.max_file_bytes {
                        return Err(ApiError::TooLarge {
                            limit: state.max_file_bytes,
                        });
                    }
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| ApiError::Internal(e.into()))?;
                }
                file.flush()
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))?;
                received = Some((path, name));
            }
            Some("options") => {
                let mut text = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| multipart_error(e, state.max_file_bytes))?
                {
                    text.extend_from_slice(&chunk);
                    if text.len() > MAX_OPTIONS_BYTES {
                        return Err(ApiError::BadRequest(format!(
                            "the `options` part is larger than {MAX_OPTIONS_BYTES} bytes"
                        )));
                    }
                }
                options_text = Some(String::from_utf8(text).map_err(|_| {
                    ApiError::BadRequest("the `options` part is not UTF-8 text".into())
                })?);
            }
            // Other parts (a form's extra fields) are read past and ignored.
            _ => {
                while field
                    .chunk()
                    .await
                    .map_err(|e| multipart_error(e, state.max_file_bytes))?
                    .is_some()
                {}
            }
        }
    }
    let options = UploadOptions::parse(options_text.as_deref().unwrap_or_default())?;
    let Some((path, name)) = received else {
        return Err(ApiError::BadRequest(
            "no `file` part: send the file as multipart form data in a part named `file`".into(),
        ));
    };
    let options = options.into_import(Some(name.unwrap_or_else(|| "upload".to_owned())))?;
    let report = import::import_file(&state.store, &path, &options).await?;
    if report.inserted > 0 {
        state.pipeline_wake.notify_one();
    }
    // The temporary file goes now (on a blocking thread: it may be large).
    let _ = tokio::task::spawn_blocking(move || drop(path)).await;
    let status = if report.failed() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(UploadAnswer {
            success: !report.failed(),
            duplicate: report.status == "duplicate_file",
            report,
        }),
    ))
}

/// A body axum cannot read as multipart: 415 when it does not say it is multipart form data at
/// all, 400 when it says so but is broken (no boundary).
fn not_multipart(headers: &HeaderMap, e: &MultipartRejection) -> ApiError {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match declared {
        Some(ct)
            if ct
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data") =>
        {
            ApiError::BadRequest(e.body_text())
        }
        Some(ct) => ApiError::NotMultipart(ct),
        None => ApiError::NotMultipart(String::new()),
    }
}

/// A broken or cut-off multipart body: the client's fault (400), a limit passed (413, axum's
/// own or the body's), or a body that stalled (408).
fn multipart_error(e: axum::extract::multipart::MultipartError, limit: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::TooLarge { limit };
    }
    match BodyFailure::of(&e) {
        BodyFailure::TooLarge => ApiError::TooLarge { limit },
        BodyFailure::TimedOut(why) => ApiError::RequestTimeout(why),
        BodyFailure::Broken(_) => ApiError::BadRequest(format!(
            "the multipart body is not valid: {}",
            e.body_text()
        )),
    }
}
