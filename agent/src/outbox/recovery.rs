//! What happens to a damaged outbox: renamed aside for forensics, replaced by a fresh file, and
//! whatever rows can still be read copied into it (the salvage, which a raised [`Interrupt`]
//! stops and rolls back, for the next open to do again). The check that finds the damage is
//! `inspect.rs`.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde_json::value::RawValue;

use super::error::BufferError;
use super::interrupt::Interrupt;
use super::schema::{Counters, Delta};
use super::{QuarantineInfo, to_i64, to_u64};

/// When the old file's counters cannot be read, sequence numbers resume from
/// `unix_millis * SEQ_FLOOR_PER_MILLI`: above anything the old file can have issued unless it
/// took in more than this many transactions per millisecond since its own floor.
const SEQ_FLOOR_PER_MILLI: i64 = 1_000;

/// `path` with `suffix` appended to its file name (`outbox.db` + `-wal`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Renames the database and its `-wal`/`-shm` companions to `<name>.corrupt-<unix-ts>[-n]`.
/// The WAL must move with the file: left behind, SQLite could replay it into the fresh database.
pub(crate) fn rename_aside(path: &Path, now: DateTime<Utc>) -> Result<PathBuf, BufferError> {
    let fail = |source: io::Error| BufferError::Quarantine {
        path: path.to_path_buf(),
        source,
    };
    let base = with_suffix(path, &format!(".corrupt-{}", now.timestamp()));
    let mut target = base.clone();
    let mut n = 1;
    while target.exists() || with_suffix(&target, "-wal").exists() {
        n += 1;
        target = with_suffix(&base, &format!("-{n}"));
    }
    fs::rename(path, &target).map_err(fail)?;
    for side in ["-wal", "-shm"] {
        let from = with_suffix(path, side);
        match fs::rename(&from, with_suffix(&target, side)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(fail(err)),
        }
    }
    sync_parent_dir(path);
    Ok(target)
}

/// Makes renames in `path`'s directory durable. Best effort: some filesystems refuse to open a
/// directory for syncing, and the renames themselves have already happened.
pub(crate) fn sync_parent_dir(path: &Path) {
    let Some(dir) = path.parent() else { return };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Err(err) = fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %err, "could not fsync the outbox directory");
    }
}

/// Reason recorded for a salvaged row whose payload is no longer a JSON line.
pub(crate) const DAMAGED_REASON: &str =
    "damaged: payload unreadable after the outbox was quarantined; not sent";

/// Records a quarantine in the fresh file, in its own transaction, before any row is copied:
/// the sequence high-water mark (the old file's if readable, else the time floor) and the old
/// refusal count take effect at once, so no writer can issue a sequence number the old file
/// already used, and the salvage that follows can be retried at the next open if it fails.
pub(crate) fn begin_quarantine(
    into: &mut Connection,
    quarantined: &Path,
    reason: &str,
    now: DateTime<Utc>,
    busy: Duration,
) -> Result<(), BufferError> {
    let old_counters = open_quarantined(quarantined, busy)
        .and_then(|src| Counters::read(&src).ok())
        .filter(|c| c.last_seq >= 0 && c.pending_count >= 0);
    let resumed_after_seq = match old_counters {
        Some(c) => c.last_seq,
        None => now.timestamp_millis().saturating_mul(SEQ_FLOOR_PER_MILLI),
    };
    let tx = into
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(BufferError::during("starting the quarantine record"))?;
    tx.execute(
        "INSERT OR REPLACE INTO quarantine
         (id, at_ms, path, reason, old_pending_count, resumed_after_seq, salvage_done)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, 0)",
        params![
            now.timestamp_millis(),
            quarantined.to_string_lossy(),
            reason,
            old_counters.map(|c| c.pending_count),
            resumed_after_seq,
        ],
    )
    .map_err(BufferError::during("recording the quarantine"))?;
    let delta = Delta {
        last_seq: resumed_after_seq,
        refused: old_counters.map_or(0, |c| c.refused_total.max(0)),
        ..Delta::default()
    };
    Counters::apply(&tx, &delta).map_err(BufferError::during("carrying over the counters"))?;
    tx.commit()
        .map_err(BufferError::during("committing the quarantine record"))
}

/// If a quarantine is recorded whose salvage has not completed (this open's, or one interrupted
/// by a crash or a full disk), copies every row still readable from the quarantined file into
/// this one, in one transaction. Reading stops at the first damaged page. A pending row whose
/// payload is no longer valid JSON (a page cut short reads as zeros) is not sent: it becomes a
/// dead letter, so it stays visible and counted. The old file is opened read-only and left as
/// it was. Returns the completed record, or `None` if there was nothing to do. A raised
/// `interrupt` stops the copy and rolls it back whole; the next open does it again.
pub(crate) fn finish_salvage(
    into: &mut Connection,
    busy: Duration,
    interrupt: &Interrupt,
) -> Result<Option<QuarantineInfo>, BufferError> {
    // Looked up inside the write transaction, so two writers opening at once cannot both copy.
    let tx = into
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(BufferError::during("starting the salvage transaction"))?;
    let todo: Option<String> = tx
        .query_row(
            "SELECT path FROM quarantine WHERE id = 1 AND salvage_done = 0",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(BufferError::during("reading the quarantine record"))?;
    let Some(quarantined) = todo else {
        return Ok(None); // nothing written; the transaction ends on drop
    };
    let quarantined = PathBuf::from(quarantined);
    let source = open_quarantined(&quarantined, busy);
    let mut tally = SalvageTally::default();
    if let Some(src) = &source {
        let _watch = interrupt.watch(src)?;
        let mut sink = Sink::new(&tx, Utc::now())?;
        for_each_readable_row(
            src,
            "SELECT seq, transaction_id, captured_at_ms, payload, NULL, NULL
             FROM pending ORDER BY seq",
            interrupt,
            |row| sink.pending(row, &mut tally),
        )?;
        for_each_readable_row(
            src,
            "SELECT seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms
             FROM dead_letters ORDER BY seq",
            interrupt,
            |row| sink.dead_letter(row, &mut tally),
        )?;
    }
    let delta = Delta {
        last_seq: tally.max_seq,
        ..tally.delta
    };
    Counters::apply(&tx, &delta).map_err(BufferError::during("recording salvaged counters"))?;
    tx.execute(
        "UPDATE quarantine SET salvage_done = 1, salvaged_pending = ?1,
                salvaged_dead_letters = ?2, damaged_pending = ?3
         WHERE id = 1",
        params![delta.pending_count, delta.dead_count, to_i64(tally.damaged)],
    )
    .map_err(BufferError::during("completing the quarantine record"))?;
    let info = read_quarantine(&tx)?;
    tx.commit()
        .map_err(BufferError::during("committing the salvaged rows"))?;
    tracing::warn!(
        pending = tally.delta.pending_count,
        dead_letters = tally.delta.dead_count,
        damaged = tally.damaged,
        skipped = tally.skipped,
        "salvaged rows from the quarantined outbox"
    );
    Ok(info)
}

/// The quarantine this file resulted from, if any.
pub(crate) fn read_quarantine(conn: &Connection) -> Result<Option<QuarantineInfo>, BufferError> {
    let row = conn
        .prepare_cached(
            "SELECT at_ms, path, reason, old_pending_count, resumed_after_seq, salvage_done,
                    salvaged_pending, salvaged_dead_letters, damaged_pending
             FROM quarantine WHERE id = 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([], |row| {
                Ok((
                    (row.get::<_, i64>(0)?, row.get::<_, String>(1)?),
                    row.get::<_, String>(2)?,
                    (row.get::<_, Option<i64>>(3)?, row.get::<_, i64>(4)?),
                    row.get::<_, bool>(5)?,
                    (
                        row.get::<_, i64>(6)?,
                        row.get::<_, i64>(7)?,
                        row.get::<_, i64>(8)?,
                    ),
                ))
            })
            .optional()
        })
        .map_err(BufferError::during("reading the quarantine record"))?;
    let Some(((at_ms, path), reason, (old_pending, resumed), done, (pending, dead, damaged))) = row
    else {
        return Ok(None);
    };
    Ok(Some(QuarantineInfo {
        at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
        path: PathBuf::from(path),
        reason,
        salvage_complete: done,
        salvaged_pending: to_u64(pending),
        salvaged_dead_letters: to_u64(dead),
        damaged_pending: to_u64(damaged),
        // What the old counters promised minus what came out: rows past the damage.
        lost_pending: old_pending
            .filter(|_| done)
            .map(|old| to_u64(old.saturating_sub(pending).saturating_sub(damaged))),
        resumed_after_seq: resumed,
    }))
}

fn open_quarantined(path: &Path, busy: Duration) -> Option<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    match Connection::open_with_flags(path, flags) {
        Ok(conn) => {
            // These settings only make reading more forgiving or safer; failing to set one is
            // not a reason to give up on the rows.
            let _ = conn.busy_timeout(busy);
            let _ = conn.pragma_update(None, "cell_size_check", "ON");
            // Without this, a file shorter than its header's page count is refused outright;
            // with it, SQLite reads the pages that are there. Nothing is written: the
            // connection is read-only.
            let _ = conn.pragma_update(None, "writable_schema", "ON");
            Some(conn)
        }
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot open the quarantined outbox to salvage rows");
            None
        }
    }
}

/// One row as read from the quarantined file.
struct OldRow {
    seq: i64,
    transaction_id: String,
    captured_at_ms: i64,
    payload: Vec<u8>,
    reason: Option<String>,
    dead_lettered_at_ms: Option<i64>,
}

#[derive(Default)]
struct SalvageTally {
    delta: Delta,
    max_seq: i64,
    /// Pending rows turned into dead letters because their payload was damaged.
    damaged: u64,
    /// Rows that could not be decoded or collided with one already copied.
    skipped: u64,
}

/// Inserts salvaged rows into the fresh file.
struct Sink<'c> {
    pending: rusqlite::Statement<'c>,
    dead: rusqlite::Statement<'c>,
    now_ms: i64,
}

impl<'c> Sink<'c> {
    fn new(tx: &'c Connection, now: DateTime<Utc>) -> Result<Self, BufferError> {
        Ok(Self {
            pending: tx
                .prepare(
                    "INSERT OR IGNORE INTO pending (seq, transaction_id, captured_at_ms, payload)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(BufferError::during("preparing the salvage"))?,
            dead: tx
                .prepare(
                    "INSERT OR IGNORE INTO dead_letters
                     (seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(BufferError::during("preparing the salvage"))?,
            now_ms: now.timestamp_millis(),
        })
    }

    fn pending(&mut self, row: OldRow, tally: &mut SalvageTally) -> Result<(), BufferError> {
        if serde_json::from_slice::<&RawValue>(&row.payload).is_err() {
            tally.damaged += 1;
            let reason = DAMAGED_REASON.to_owned();
            let now_ms = self.now_ms;
            return self.dead_letter(
                OldRow {
                    reason: Some(reason),
                    dead_lettered_at_ms: Some(now_ms),
                    ..row
                },
                tally,
            );
        }
        let len = payload_len(&row.payload);
        let inserted = self.pending.execute(params![
            row.seq,
            row.transaction_id,
            row.captured_at_ms,
            row.payload
        ]);
        if counted(inserted, tally)? {
            tally.delta.pending_count += 1;
            tally.delta.pending_bytes += len;
            tally.max_seq = tally.max_seq.max(row.seq);
        }
        Ok(())
    }

    fn dead_letter(&mut self, row: OldRow, tally: &mut SalvageTally) -> Result<(), BufferError> {
        let len = payload_len(&row.payload);
        let inserted = self.dead.execute(params![
            row.seq,
            row.transaction_id,
            row.captured_at_ms,
            row.payload,
            row.reason.unwrap_or_else(|| DAMAGED_REASON.to_owned()),
            row.dead_lettered_at_ms.unwrap_or(self.now_ms),
        ]);
        if counted(inserted, tally)? {
            tally.delta.dead_count += 1;
            tally.delta.dead_bytes += len;
            tally.max_seq = tally.max_seq.max(row.seq);
        }
        Ok(())
    }
}

/// True if the insert stored a row; collisions and constraint failures (damaged values) are
/// counted as skipped; anything else (disk full, I/O) aborts the salvage.
fn counted(
    inserted: rusqlite::Result<usize>,
    tally: &mut SalvageTally,
) -> Result<bool, BufferError> {
    match inserted {
        Ok(1) => Ok(true),
        Ok(_) => {
            tally.skipped += 1;
            Ok(false)
        }
        Err(err) if err.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
            tally.skipped += 1;
            Ok(false)
        }
        Err(err) => Err(BufferError::sqlite("inserting a salvaged row", err)),
    }
}

fn payload_len(payload: &[u8]) -> i64 {
    i64::try_from(payload.len()).unwrap_or(i64::MAX)
}

/// Streams the rows of `select` (six columns, see [`OldRow`]) to `each`, stopping quietly at
/// the first damaged page; rows whose values cannot be decoded are skipped. A raised
/// `interrupt` (which also fails the statement it cuts short) stops it with an error instead,
/// so a cut-short read is never taken for the end of the readable rows.
fn for_each_readable_row(
    src: &Connection,
    select: &str,
    interrupt: &Interrupt,
    mut each: impl FnMut(OldRow) -> Result<(), BufferError>,
) -> Result<(), BufferError> {
    let mut stmt = match src.prepare(select) {
        Ok(stmt) => stmt,
        Err(err) => {
            interrupt.check()?;
            tracing::warn!(error = %err, "salvage: table unreadable in the quarantined outbox");
            return Ok(());
        }
    };
    let mut rows = match stmt.query([]) {
        Ok(rows) => rows,
        Err(err) => {
            interrupt.check()?;
            tracing::warn!(error = %err, "salvage: cannot read the quarantined outbox");
            return Ok(());
        }
    };
    loop {
        interrupt.check()?;
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(err) => {
                interrupt.check()?;
                tracing::warn!(error = %err, "salvage stopped at a damaged page");
                break;
            }
        };
        let decoded = (|| -> rusqlite::Result<OldRow> {
            Ok(OldRow {
                seq: row.get(0)?,
                transaction_id: row.get(1)?,
                captured_at_ms: row.get(2)?,
                payload: row.get(3)?,
                reason: row.get(4)?,
                dead_lettered_at_ms: row.get(5)?,
            })
        })();
        match decoded {
            Ok(old) => each(old)?,
            Err(err) => tracing::debug!(error = %err, "salvage: skipping an undecodable row"),
        }
    }
    Ok(())
}
