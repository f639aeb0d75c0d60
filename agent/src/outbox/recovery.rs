//! Start-up integrity check and what happens to a damaged outbox: renamed aside for forensics,
//! replaced by a fresh file, and whatever rows can still be read copied into it.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use super::QuarantineInfo;
use super::error::{BufferError, is_corruption};
use super::schema::{Counters, Delta};

/// How many problems `quick_check` lists before it stops.
const MAX_REPORTED_PROBLEMS: i64 = 10;

/// When the old file's counters cannot be read, sequence numbers resume from
/// `unix_millis * SEQ_FLOOR_PER_MILLI`: above anything the old file can have issued unless it
/// took in more than this many transactions per millisecond since its own floor.
const SEQ_FLOOR_PER_MILLI: i64 = 1_000;

/// The result of the start-up check.
#[derive(Debug)]
pub(crate) enum Health {
    Healthy,
    Corrupt(String),
}

/// Runs `PRAGMA quick_check`. Corruption, including "file is not a database", is a verdict;
/// any other error (locked, permission denied, I/O) is returned, because renaming a healthy file
/// aside on a transient error would be worse than failing to start.
pub(crate) fn check(conn: &Connection) -> Result<Health, BufferError> {
    let mut problems: Vec<String> = Vec::new();
    let result = conn.pragma(None, "quick_check", MAX_REPORTED_PROBLEMS, |row| {
        problems.push(row.get(0)?);
        Ok(())
    });
    match result {
        Ok(()) if problems.len() == 1 && problems[0] == "ok" => Ok(Health::Healthy),
        Ok(()) if problems.is_empty() => Ok(Health::Corrupt("quick_check returned nothing".into())),
        Ok(()) => Ok(Health::Corrupt(problems.join("; "))),
        Err(err) if is_corruption(&err) => Ok(Health::Corrupt(err.to_string())),
        Err(err) => Err(BufferError::sqlite("running the integrity check", err)),
    }
}

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

/// Copies every row still readable from the quarantined file into the fresh outbox, in one
/// transaction, and records the quarantine there so `status` can show it. Reading stops at the
/// first damaged page; rows that cannot be decoded are skipped. The old file is opened read-only
/// and left as it was.
pub(crate) fn salvage(
    quarantined: &Path,
    into: &mut Connection,
    reason: &str,
    now: DateTime<Utc>,
    busy: Duration,
) -> Result<QuarantineInfo, BufferError> {
    let source = open_quarantined(quarantined, busy);
    let old_counters = source
        .as_ref()
        .and_then(|src| Counters::read(src).ok())
        .filter(|c| c.last_seq >= 0);

    let tx = into
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(BufferError::during("starting the salvage transaction"))?;
    let mut delta = Delta::default();
    let mut max_seq = 0_i64;
    if let Some(src) = &source {
        copy_rows(
            src,
            &tx,
            "SELECT seq, transaction_id, captured_at_ms, payload, NULL, NULL FROM pending ORDER BY seq",
            "INSERT OR IGNORE INTO pending (seq, transaction_id, captured_at_ms, payload)
             VALUES (?1, ?2, ?3, ?4)",
            |n, bytes, seq| {
                delta.pending_count += n;
                delta.pending_bytes += bytes;
                max_seq = max_seq.max(seq);
            },
        )?;
        copy_rows(
            src,
            &tx,
            "SELECT seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms
             FROM dead_letters ORDER BY seq",
            "INSERT OR IGNORE INTO dead_letters
             (seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            |n, bytes, seq| {
                delta.dead_count += n;
                delta.dead_bytes += bytes;
                max_seq = max_seq.max(seq);
            },
        )?;
    }
    let resumed_after_seq = match old_counters {
        Some(c) => c.last_seq.max(max_seq),
        None => max_seq.max(
            now.timestamp_millis()
                .saturating_mul(SEQ_FLOOR_PER_MILLI),
        ),
    };
    delta.last_seq = resumed_after_seq;
    delta.refused = old_counters.map_or(0, |c| c.refused_total.max(0));
    Counters::apply(&tx, &delta).map_err(BufferError::during("recording salvaged counters"))?;

    let info = QuarantineInfo {
        at: now,
        path: quarantined.to_path_buf(),
        reason: reason.to_owned(),
        salvaged_pending: u64::try_from(delta.pending_count).unwrap_or(0),
        salvaged_dead_letters: u64::try_from(delta.dead_count).unwrap_or(0),
        resumed_after_seq,
    };
    tx.execute(
        "INSERT OR REPLACE INTO quarantine
         (id, at_ms, path, reason, salvaged_pending, salvaged_dead_letters, resumed_after_seq)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            now.timestamp_millis(),
            info.path.to_string_lossy(),
            info.reason,
            delta.pending_count,
            delta.dead_count,
            resumed_after_seq,
        ],
    )
    .map_err(BufferError::during("recording the quarantine"))?;
    tx.commit()
        .map_err(BufferError::during("committing the salvaged rows"))?;
    Ok(info)
}

fn open_quarantined(path: &Path, busy: Duration) -> Option<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    match Connection::open_with_flags(path, flags) {
        Ok(conn) => {
            // Both settings only make reading safer; failure to set them is not a reason to give
            // up on the rows.
            let _ = conn.busy_timeout(busy);
            let _ = conn.pragma_update(None, "cell_size_check", "ON");
            Some(conn)
        }
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot open the quarantined outbox to salvage rows");
            None
        }
    }
}

/// Streams rows from `select` (six columns: seq, transaction_id, captured_at_ms, payload, and
/// optionally reason and dead_lettered_at_ms) into `insert`, reporting
/// `(rows, payload bytes, seq)` per copied row to `tally`.
fn copy_rows(
    src: &Connection,
    dst: &Connection,
    select: &str,
    insert: &str,
    mut tally: impl FnMut(i64, i64, i64),
) -> Result<(), BufferError> {
    let mut stmt = match src.prepare(select) {
        Ok(stmt) => stmt,
        Err(err) => {
            tracing::warn!(error = %err, "salvage: table unreadable in the quarantined outbox");
            return Ok(());
        }
    };
    let mut rows = match stmt.query([]) {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "salvage: cannot read the quarantined outbox");
            return Ok(());
        }
    };
    let mut ins = dst
        .prepare(insert)
        .map_err(BufferError::during("preparing the salvage insert"))?;
    let (mut copied, mut skipped) = (0_u64, 0_u64);
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(copied, error = %err, "salvage stopped at a damaged page");
                break;
            }
        };
        let decoded = (|| -> rusqlite::Result<_> {
            let seq: i64 = row.get(0)?;
            let transaction_id: String = row.get(1)?;
            let captured_at_ms: i64 = row.get(2)?;
            let payload: Vec<u8> = row.get(3)?;
            let reason: Option<String> = row.get(4)?;
            let dead_at: Option<i64> = row.get(5)?;
            Ok((seq, transaction_id, captured_at_ms, payload, reason, dead_at))
        })();
        let Ok((seq, transaction_id, captured_at_ms, payload, reason, dead_at)) = decoded else {
            skipped += 1;
            continue;
        };
        let inserted = if reason.is_some() {
            ins.execute(params![seq, transaction_id, captured_at_ms, payload, reason, dead_at])
        } else {
            ins.execute(params![seq, transaction_id, captured_at_ms, payload])
        };
        match inserted {
            Ok(1) => {
                copied += 1;
                tally(1, i64::try_from(payload.len()).unwrap_or(i64::MAX), seq);
            }
            // A duplicate id, or a damaged value breaking a NOT NULL rule: skip the row.
            Ok(_) => skipped += 1,
            Err(err) if err.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                skipped += 1;
            }
            Err(err) => return Err(BufferError::sqlite("inserting a salvaged row", err)),
        }
    }
    tracing::info!(copied, skipped, "salvaged rows from the quarantined outbox");
    Ok(())
}
