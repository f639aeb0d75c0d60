//! Start-up checks (cheap ones always, `quick_check` after an unclean stop) and what happens to a
//! damaged outbox: renamed aside for forensics, replaced by a fresh file, and whatever rows can
//! still be read copied into it. The check (with its wait for another connection's lock) and
//! the salvage stop when their [`Interrupt`] is raised.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde_json::value::RawValue;

use super::error::{BufferError, is_corruption};
use super::interrupt::Interrupt;
use super::schema::{Counters, Delta, SCHEMA_VERSION, read_marker};
use super::{QuarantineInfo, QuickCheckReason, StartupCheck, to_i64, to_u64};

/// How many problems `quick_check` lists before it stops.
const MAX_REPORTED_PROBLEMS: i64 = 10;

/// How often the start-up check looks again at a lock another connection holds.
const LOCK_POLL: Duration = Duration::from_millis(20);

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

/// The 16 bytes every SQLite database file starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What the first 100 bytes of a database file say about it.
#[derive(Debug, Clone, Copy)]
struct Header {
    page_size: u64,
    /// The database size in pages, when the header vouches for it (its change counter matches
    /// the version-valid-for number).
    pages: Option<u64>,
}

impl Header {
    /// Reads and checks the header; `Err` is a corruption verdict (the file is not SQLite).
    fn read(path: &Path, file_len: u64) -> Result<Result<Self, String>, BufferError> {
        use std::io::Read as _;
        let io = |source| BufferError::Io {
            path: path.to_path_buf(),
            source,
        };
        if file_len < 100 {
            return Ok(Err(format!(
                "file is {file_len} bytes, shorter than a SQLite header"
            )));
        }
        let mut bytes = [0_u8; 100];
        fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(io)?;
        if &bytes[..16] != SQLITE_MAGIC {
            return Ok(Err("not a SQLite database (bad header)".into()));
        }
        let raw_page = u16::from_be_bytes([bytes[16], bytes[17]]);
        let page_size = if raw_page == 1 {
            65_536
        } else {
            u64::from(raw_page)
        };
        if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
            return Ok(Err(format!(
                "header names an impossible page size {raw_page}"
            )));
        }
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let (change_counter, pages, valid_for) = (word(24), word(28), word(92));
        Ok(Ok(Self {
            page_size,
            pages: (pages > 0 && change_counter == valid_for).then_some(u64::from(pages)),
        }))
    }

    /// The file's length agrees with the header: whole pages, at least as many as it promises.
    fn agrees_with(&self, file_len: u64) -> bool {
        file_len.is_multiple_of(self.page_size)
            && self
                .pages
                .is_none_or(|pages| pages.saturating_mul(self.page_size) <= file_len)
    }
}

/// Inspects the file at `path` before a writer opens it, through a read-only connection so that
/// a damaged file and its WAL are kept exactly as found (invariant 9). Always: the header (magic,
/// page size) and the schema version (a newer one is refused, never touched). For the service
/// (`owner`), also `PRAGMA quick_check` unless the previous session closed cleanly and the file's
/// length agrees with its header. A missing or empty file is healthy: there is nothing to lose.
/// Corruption, including "file is not a database", is a verdict; any other error (locked,
/// permission denied, I/O) is returned, because renaming a healthy file aside on a transient
/// error would be worse than failing to start. `interrupt` stops the check at any statement
/// (see [`unlocked`]) and cuts `quick_check` short.
pub(crate) fn inspect(
    path: &Path,
    busy: Duration,
    owner: bool,
    interrupt: &Interrupt,
) -> Result<(Health, StartupCheck), BufferError> {
    let file_len = match fs::metadata(path) {
        Ok(meta) if meta.len() > 0 => meta.len(),
        Ok(_) => return Ok((Health::Healthy, StartupCheck::NewFile)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Ok((Health::Healthy, StartupCheck::NewFile));
        }
        Err(err) => {
            return Err(BufferError::Io {
                path: path.to_path_buf(),
                source: err,
            });
        }
    };
    let damaged = |detail: String| Ok((Health::Corrupt(detail), StartupCheck::CheapCheckFailed));
    let header = match Header::read(path, file_len)? {
        Ok(header) => header,
        Err(detail) => return damaged(detail),
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match Connection::open_with_flags(path, flags) {
        Ok(conn) => conn,
        Err(err) if is_corruption(&err) => return damaged(err.to_string()),
        Err(err) => return Err(BufferError::sqlite("opening the outbox for its check", err)),
    };
    // Locks are waited for by `unlocked`, which the interrupt can stop, not by SQLite.
    conn.busy_timeout(Duration::ZERO)
        .map_err(BufferError::during("setting the busy timeout"))?;
    let version = unlocked(interrupt, busy, || {
        conn.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
    })?;
    let version = match version {
        Ok(version) => version,
        Err(err) if is_corruption(&err) => return damaged(err.to_string()),
        Err(err) => return Err(BufferError::sqlite("reading the schema version", err)),
    };
    if version > SCHEMA_VERSION {
        return Err(BufferError::UnsupportedSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if !owner {
        return Ok((Health::Healthy, StartupCheck::NotOwner));
    }
    let reason = match unlocked(interrupt, busy, || read_marker(&conn))? {
        Ok(Some(true)) if header.agrees_with(file_len) => {
            return Ok((Health::Healthy, StartupCheck::CleanShutdown));
        }
        Ok(Some(true)) => QuickCheckReason::SizeMismatch,
        Ok(Some(false)) => QuickCheckReason::UncleanShutdown,
        Ok(None) => QuickCheckReason::NoMarker,
        Err(err) if is_corruption(&err) => QuickCheckReason::NoMarker,
        Err(err) => return Err(BufferError::sqlite("reading the session marker", err)),
    };
    tracing::info!(path = %path.display(), ?reason, "running the outbox integrity check");
    Ok((
        quick_check(&conn, busy, interrupt)?,
        StartupCheck::QuickCheck(reason),
    ))
}

/// Runs one statement of the start-up check. Another connection's lock is waited out for up to
/// `busy`, as SQLite's busy timeout would (it is off on this connection), but in slices of
/// [`LOCK_POLL`], so that a raised `interrupt` ends the wait at once; it is checked before
/// every attempt. The statement's own result is returned as it came.
fn unlocked<T>(
    interrupt: &Interrupt,
    busy: Duration,
    mut statement: impl FnMut() -> rusqlite::Result<T>,
) -> Result<rusqlite::Result<T>, BufferError> {
    let started = Instant::now();
    loop {
        interrupt.check()?;
        match statement() {
            Err(err)
                if err.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && started.elapsed() < busy =>
            {
                std::thread::sleep(LOCK_POLL.min(busy.saturating_sub(started.elapsed())));
            }
            done => return Ok(done),
        }
    }
}

/// `PRAGMA quick_check`: reads every page, loads no rows. A raised `interrupt` cuts it short.
fn quick_check(
    conn: &Connection,
    busy: Duration,
    interrupt: &Interrupt,
) -> Result<Health, BufferError> {
    let _watch = interrupt.watch(conn)?;
    let mut problems: Vec<String> = Vec::new();
    let result = unlocked(interrupt, busy, || {
        problems.clear();
        conn.pragma(None, "quick_check", MAX_REPORTED_PROBLEMS, |row| {
            problems.push(row.get(0)?);
            Ok(())
        })
    })?;
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
