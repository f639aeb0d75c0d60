//! Landing a body in bronze: frame it into numbered lines, parse each, and commit the rows in
//! batches of bounded rows and bytes, parsing the next batch while the previous one commits.
//! Every line is counted once (inserted, duplicate, or rejected with its number and reason), and
//! the answer is built only after the last commit. Each landing writes one `ingest-stream` row to
//! the operations audit (device, rows landed, duration, error), which never fails the request.

use std::pin::Pin;
use std::time::Instant;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scout_common::ndjson::{FrameError, Line, LineFramer};
use scout_common::protocol::MAX_REJECTED_LISTED;
use scout_common::{IngestResponse, RejectedLine, Transaction};
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::info;

use super::other_store;
use crate::bronze::{BronzeRow, Landing};
use crate::error::ApiError;
use crate::routes::AppState;
use crate::routes::body::body_error;
use crate::store::{AuditEntry, DeviceRecord};

/// Per-request tally, and the rows waiting for the next batch commit.
struct Tally {
    response: IngestResponse,
    /// Lines rejected because they name another device.
    foreign: u64,
    pending: Vec<BronzeRow>,
    /// Line number of each pending row.
    pending_lines: Vec<u64>,
    pending_bytes: usize,
}

/// Reads, parses and lands every line of `reader`; answers once all batches have committed, and
/// after the audit row is written.
pub(super) async fn land(
    state: &AppState,
    device: &DeviceRecord,
    endpoint: &str,
    reader: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let result = land_lines(state, device, endpoint, reader).await;
    let (error, inserted, details) = match &result {
        Ok((_, r)) => (
            None,
            Some(i64::try_from(r.inserted).unwrap_or(i64::MAX)),
            serde_json::json!({
                "endpoint": endpoint, "lines_seen": r.lines_seen, "duplicates": r.duplicates,
                "rejected": r.rejected_total(),
            }),
        ),
        // Batches committed before the failure stay landed; how many is not known here.
        Err(e) => (
            Some(e.to_string()),
            None,
            serde_json::json!({ "endpoint": endpoint }),
        ),
    };
    let details = details.to_string();
    state
        .store
        .audit_logged(&AuditEntry {
            function_name: "ingest-stream",
            duration: started.elapsed(),
            error: error.as_deref(),
            device_id: Some(&device.device_id),
            row_count: inserted,
            details: Some(&details),
            created_at: chrono::Utc::now(),
        })
        .await;
    result.map(|(status, r)| (status, Json(r)).into_response())
}

/// [`land`] without the audit: the answer's status and body.
async fn land_lines(
    state: &AppState,
    device: &DeviceRecord,
    endpoint: &str,
    mut reader: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<(StatusCode, IngestResponse), ApiError> {
    let limits = &state.limits;
    let mut framer = LineFramer::new(limits.max_line_bytes);
    let mut tally = Tally {
        response: IngestResponse {
            success: true,
            device_id: device.device_id.clone(),
            lines_seen: 0,
            inserted: 0,
            duplicates: 0,
            rejected: Vec::new(),
            rejected_omitted: 0,
            records_processed: 0,
        },
        foreign: 0,
        pending: Vec::new(),
        pending_lines: Vec::new(),
        pending_bytes: 0,
    };
    // The body is parsed while the previous batch commits: one batch in flight, so memory
    // stays bounded while parsing (CPU here) and committing (the database) overlap.
    let (batches, queue) = tokio::sync::mpsc::channel::<Batch>(1);
    let reading = read_lines(
        state,
        device,
        endpoint,
        &mut reader,
        &mut framer,
        &mut tally,
        batches,
    );
    let (read, written) = tokio::join!(reading, write_batches(state, queue));
    let written = written?;
    read?;
    let r = &mut tally.response;
    r.inserted = written.inserted;
    r.duplicates = written.duplicates;
    r.rejected.extend(written.rejected);
    r.rejected.sort_by_key(|rejected| rejected.line);
    r.rejected_omitted += written.rejected_omitted;
    if r.rejected.len() > MAX_REJECTED_LISTED {
        r.rejected_omitted += (r.rejected.len() - MAX_REJECTED_LISTED) as u64;
        r.rejected.truncate(MAX_REJECTED_LISTED);
    }

    let r = &mut tally.response;
    r.records_processed = r.inserted + r.duplicates;
    info!(
        lines_seen = r.lines_seen,
        inserted = r.inserted,
        duplicates = r.duplicates,
        rejected = r.rejected_total(),
        "ingest finished"
    );
    let every_line_foreign = tally.foreign > 0 && tally.foreign == r.lines_seen;
    let status = if every_line_foreign {
        r.success = false;
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    Ok((status, tally.response))
}

/// Accounts for one framed line: a pending row, or a rejection with its line number.
fn take(tally: &mut Tally, item: Result<Line, FrameError>, device: &DeviceRecord, endpoint: &str) {
    tally.response.lines_seen += 1;
    let line = match item {
        Ok(line) => line,
        Err(e) => {
            reject(tally, e.line, None, || e.to_string());
            return;
        }
    };
    let transaction = match Transaction::parse_line(&line.text) {
        Ok(t) => t,
        Err(e) => {
            reject(tally, line.number, None, || e.to_string());
            return;
        }
    };
    if let Some(claimed) = &transaction.device_id
        && claimed.as_str() != device.device_id
    {
        tally.foreign += 1;
        let error = || {
            format!(
                "deviceId {claimed} belongs to another device; this token is for {}",
                device.device_id
            )
        };
        reject(tally, line.number, Some(transaction.transaction_id), error);
        return;
    }
    if let Some(claimed) = &transaction.store_id
        && claimed.trim() != device.store_id
    {
        let error = || other_store(claimed.trim(), device);
        reject(tally, line.number, Some(transaction.transaction_id), error);
        return;
    }
    let row = BronzeRow::new(
        transaction,
        Landing {
            device_id: &device.device_id,
            store_id: &device.store_id,
            endpoint,
            received_at: chrono::Utc::now(),
        },
    );
    tally.pending_bytes += row.weight();
    tally.pending.push(row);
    tally.pending_lines.push(line.number);
}

/// Accounts for a rejected line; its reason is only worked out when it will be listed.
fn reject(
    tally: &mut Tally,
    line: u64,
    transaction_id: Option<String>,
    error: impl FnOnce() -> String,
) {
    if tally.response.rejected.len() >= MAX_REJECTED_LISTED {
        tally.response.rejected_omitted += 1;
        return;
    }
    let error = error();
    push_rejected(
        &mut tally.response.rejected,
        &mut tally.response.rejected_omitted,
        RejectedLine {
            line,
            transaction_id,
            error,
        },
    );
}

/// Longest reason given for one rejected line, in bytes.
const MAX_REASON_BYTES: usize = 512;

/// Lists a rejection while fewer than [`MAX_REJECTED_LISTED`] are listed, else only counts it.
fn push_rejected(listed: &mut Vec<RejectedLine>, omitted: &mut u64, mut line: RejectedLine) {
    if listed.len() >= MAX_REJECTED_LISTED {
        *omitted += 1;
        return;
    }
    scout_common::text::clip(&mut line.error, MAX_REASON_BYTES);
    if let Some(id) = &mut line.transaction_id {
        id.truncate(id.floor_char_boundary(MAX_REASON_BYTES));
    }
    listed.push(line);
}

/// Rows ready to commit, with the line number of each.
struct Batch {
    rows: Vec<BronzeRow>,
    lines: Vec<u64>,
}

/// What the committed batches came to.
#[derive(Default)]
struct Committed {
    inserted: u64,
    duplicates: u64,
    /// Rows the database refused (rejected one by one, with their line numbers).
    rejected: Vec<RejectedLine>,
    rejected_omitted: u64,
}

/// Frames and parses the body, handing full batches to the writer. Stops early (without an
/// error of its own) when the writer has gone, which means a commit failed.
async fn read_lines(
    state: &AppState,
    device: &DeviceRecord,
    endpoint: &str,
    reader: &mut Pin<Box<dyn AsyncRead + Send>>,
    framer: &mut LineFramer,
    tally: &mut Tally,
    batches: tokio::sync::mpsc::Sender<Batch>,
) -> Result<(), ApiError> {
    let limits = &state.limits;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut decoded = 0_u64;
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| body_error(e, limits.max_body_bytes))?;
        if n == 0 {
            break;
        }
        decoded += n as u64;
        if decoded > limits.max_decoded_bytes {
            return Err(ApiError::TooLarge {
                limit: limits.max_decoded_bytes,
            });
        }
        framer.push(&buf[..n]);
        while let Some(item) = framer.next_line() {
            take(tally, item, device, endpoint);
        }
        if (tally.pending.len() >= limits.batch_rows || tally.pending_bytes >= limits.batch_bytes)
            && batches.send(tally.take_batch()).await.is_err()
        {
            return Ok(());
        }
    }
    while let Some(item) = framer.finish() {
        take(tally, item, device, endpoint);
    }
    if !tally.pending.is_empty() {
        let _ = batches.send(tally.take_batch()).await;
    }
    Ok(())
}

impl Tally {
    fn take_batch(&mut self) -> Batch {
        self.pending_bytes = 0;
        Batch {
            rows: std::mem::take(&mut self.pending),
            lines: std::mem::take(&mut self.pending_lines),
        }
    }
}

/// Commits batches as they come; only then do their lines count as acknowledged.
async fn write_batches(
    state: &AppState,
    mut queue: tokio::sync::mpsc::Receiver<Batch>,
) -> Result<Committed, ApiError> {
    let mut committed = Committed::default();
    while let Some(batch) = queue.recv().await {
        commit(state, batch, &mut committed).await?;
    }
    if committed.inserted > 0 {
        state.pipeline_wake.notify_one();
    }
    Ok(committed)
}

/// Commits one batch.
///
/// If the database refuses the batch's data ([`crate::store::StoreError::is_refused`]: a value
/// it cannot store), the rows are retried one by one so the offending line is rejected with its
/// number and its neighbours still land: one bad row must not make the agent resend a batch
/// forever. Any other failure (the database unreachable, restarting, out of connections, or a
/// fault of the collector's) fails the whole request: nothing is claimed as rejected, and what
/// was committed is recognised as duplicate when the batch comes again.
async fn commit(state: &AppState, batch: Batch, out: &mut Committed) -> Result<(), ApiError> {
    let Batch { rows, lines } = batch;
    match state.store.insert_bronze(&rows).await {
        Ok(inserted) => {
            out.inserted += inserted;
            out.duplicates += rows.len() as u64 - inserted;
            Ok(())
        }
        Err(e) if e.is_refused() => {
            tracing::warn!(error = %e, rows = rows.len(), "batch refused; storing row by row");
            for (row, line) in rows.into_iter().zip(lines) {
                match state.store.insert_bronze(std::slice::from_ref(&row)).await {
                    Ok(1) => out.inserted += 1,
                    Ok(_) => out.duplicates += 1,
                    Err(e) if e.is_refused() => {
                        tracing::error!(line, error = %e, "row could not be stored");
                        push_rejected(
                            &mut out.rejected,
                            &mut out.rejected_omitted,
                            RejectedLine {
                                line,
                                transaction_id: Some(row.transaction_id),
                                error: format!("could not be stored: {e}"),
                            },
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
