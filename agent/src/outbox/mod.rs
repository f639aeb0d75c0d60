//! The durable outbox: a SQLite file on the device that holds every transaction from the moment
//! intake acknowledges it until the collector has acknowledged it, across power cuts, restarts
//! and weeks without a network.
//!
//! What enters: [`NewRecord`]s already parsed and stamped by intake (transaction id, capture time,
//! the NDJSON line to send). What leaves: [`Record`]s, oldest first, for the uplink; rows the
//! collector rejected go to dead letters, visible and exportable. The stored line does not carry
//! the sequence number, which is assigned here in the same commit; the uplink stamps it from
//! [`Record::seq`] (with the capture time and agent version) when it frames the request body.
//!
//! # Invariants
//!
//! 1. **Acknowledged means durable.** [`Outbox::enqueue_batch`] and [`Outbox::enqueue_groups`]
//!    return `Ok` only after the SQLite transaction committed with `synchronous=FULL` in WAL
//!    mode, which fsyncs the WAL before `COMMIT` returns. Intake may answer its producer (HTTP
//!    200/202, deleting a spool file) only after that `Ok`. `NORMAL` would be faster but in WAL
//!    mode it defers the fsync to the next checkpoint, so a commit that returned can vanish in a
//!    power cut; on a device whose power is a plug under a shop counter that is not acceptable.
//!    The cost of `FULL` (one fsync per commit) is paid per *group*, not per transaction:
//!    [`OutboxHandle`] drains every enqueue request waiting for it into one
//!    [`Outbox::enqueue_groups`] call (group commit) and answers each caller after that commit.
//! 2. **All or nothing.** A batch is one transaction; in a group commit each group (one
//!    producer's request) is all or nothing on its own, inside a savepoint. A group refused
//!    (cap reached, an invalid record) stores nothing and consumes no sequence number, and the
//!    other groups of the same commit are not affected. A failure of the transaction itself
//!    (disk full, I/O, a crash mid-commit) stores nothing of any group.
//! 3. **Sequence numbers** are assigned here, at enqueue, from a persisted high-water mark
//!    (`counters.last_seq`) updated in the same transaction: strictly increasing in enqueue order,
//!    never reused, not after rows are deleted, not after a restart. After a quarantine the fresh
//!    file resumes after the old file's high-water mark, or, if that is unreadable, after
//!    `unix_millis × 1000` (monotonic as long as the clock does not run backwards across it).
//! 4. **Dedupe among pending rows.** A `transaction_id` is pending at most once. Enqueueing an id
//!    that is already pending (or twice in one batch) stores nothing and returns the existing
//!    sequence with `duplicate = true`, so a producer's retry is acknowledged without a second
//!    row. Ids already acknowledged or dead-lettered are *not* remembered: a resend after that is
//!    stored again and the collector's per-device uniqueness makes it a counted duplicate.
//! 5. **Order.** [`OutboxReader::peek_batch`] returns pending rows by ascending sequence; the
//!    head is the oldest. Peeking changes nothing: the same rows come back until they are
//!    acknowledged or dead-lettered. It returns at least one row whenever any is pending, even
//!    one larger than the byte budget, so an oversized row cannot wedge the queue.
//! 6. **Who deletes.** A pending row leaves only through [`Outbox::ack`] (the collector answered
//!    `inserted` or `duplicate` for it) or [`Outbox::dead_letter`] (the collector rejected it for
//!    good; the row moves with its reason and time). Nothing else deletes it: not the cap, not its
//!    age, not start-up. Dead letters leave only through [`Outbox::purge_dead_letters`], an
//!    operator's decision after [`OutboxReader::export_dead_letters`].
//! 7. **Size cap.** The accounted size is the payload bytes of pending rows plus dead letters
//!    (the data the device is holding; both occupy the card). A batch that would take it over
//!    `max_bytes` is refused whole with [`BufferError::Full`]; stored rows are never evicted to
//!    make room. Refused records are counted in a persisted `refused_total`. Intake resumes by
//!    itself as soon as acknowledgements bring the total back under the cap. The file on disk is
//!    larger than the accounted bytes (row and index overhead, the WAL, free pages kept for
//!    reuse); `benches/outbox.rs` prints the ratio, and `stats().file_bytes` shows the real size.
//!    A full filesystem below the cap surfaces as [`BufferError::DiskFull`], also storing nothing.
//! 8. **Counters.** Pending and dead-letter counts and bytes live in a one-row table updated in
//!    the same transaction as the rows they describe, so they always equal a full count
//!    ([`OutboxReader::audit`] checks), and neither start-up nor [`OutboxReader::stats`] scans a
//!    table.
//!    Refusals are the one exception: to spare the SD card under a flood of refused requests, a
//!    refusal is written at once but further ones within [`REFUSAL_FLUSH_INTERVAL`] are written
//!    with the next commit, on close, or after the interval; a kill loses at most that window of
//!    the refusal *count*, never data.
//! 9. **Start-up check.** Before a writer touches the file, it is inspected through a
//!    read-only connection (so a damaged file and its WAL are kept exactly as found). The cheap
//!    checks always run: the header (SQLite magic, a possible page size) and the schema version
//!    (a newer one is refused, never touched; a file cut short fails here too). The service
//!    (the owner, [`OnCorruption::Quarantine`]) also runs `PRAGMA quick_check`, which reads
//!    every page (its time grows with the file, which the cap bounds; `benches/outbox.rs`
//!    prints it for a million rows), unless the previous session closed cleanly: the `session`
//!    table holds a marker that the owner clears in the same transaction that opens its session
//!    and sets in the last transaction of [`Outbox::close`]. So the full check runs after a
//!    crash, a kill -9 or a power cut, for a file with no marker (an older agent's, or not the
//!    agent's), and when the file's length disagrees with its header
//!    ([`OpenReport::startup_check`] says which). A writer beside the service
//!    ([`OnCorruption::Fail`], `scout-agent enqueue`) runs only the cheap checks, clears the
//!    marker and never sets it, so the service checks the file in full at its next start.
//!    A corrupt file, or one that is not SQLite, is renamed aside with its `-wal`/`-shm`
//!    (`<name>.corrupt-<unix-ts>`), logged at error level, and a fresh file is created. The
//!    fresh file first records the quarantine and carries over the old sequence high-water mark
//!    (one commit), then every still-readable row is copied over (a second commit, retried at
//!    the next open if it fails). A pending row whose payload is no longer valid JSON is not
//!    sent: it becomes a dead letter. [`QuarantineInfo`] (shown by `status`, kept in the fresh
//!    file) says how many rows were salvaged, damaged, and lost. If the fresh file fails too,
//!    open stops with [`BufferError::StorageSuspect`] instead of looping. Errors that are not
//!    corruption (locked, permission denied, I/O) never quarantine, and only the service ever
//!    renames the file.
//! 10. **Agent state** ([`Outbox::set_state`]) is written only when a value changes, so an idle
//!     agent does not write to the card.
//! 11. **Corruption while running is safe.** A clean start skips `quick_check`, so damage that
//!     appeared while the agent was stopped is met later, as SQLITE_CORRUPT or SQLITE_NOTADB
//!     from some operation. It surfaces as [`BufferError::Corrupt`]
//!     ([`BufferError::is_corruption`] is true), never as a wrong answer (`cell_size_check` is
//!     on), and the outbox remembers it ([`OutboxReader::corruption_seen`]):
//!     [`Outbox::close`] then leaves the session marked unclean, so the next start runs the
//!     full check and quarantines the file. The service should treat it as fatal and restart.
//! 12. **A reader cannot write.** [`Outbox::open_read_only`] gives an [`OutboxReader`]: a
//!     `query_only` connection whose type has only the reading methods (stats, audit, peek,
//!     dead letters and their export, agent state), so `scout-agent status` and `dead-letters`
//!     cannot call a write at all. It runs no integrity check and never quarantines. An
//!     [`Outbox`] reads through the same methods (it derefs to its [`OutboxReader`]).
//!
//! 13. **Start-up can be stopped.** [`Outbox::open_interruptible`] ends with
//!     [`BufferError::Interrupted`] as soon as its [`Interrupt`] is raised (the service raises
//!     it when asked to stop during start-up), but only in steps the next open does again from
//!     the start: the start-up check, its wait for another connection's lock (waited out in
//!     slices, up to the busy timeout, rather than inside SQLite), and the salvage (rolled back
//!     whole). A quarantine that has begun renaming the file is finished first.
//!
//! One [`Outbox`] is one connection and is used from one thread at a time. In the service it
//! lives on its own thread behind [`OutboxHandle`] (async, cloneable, with group commit); other
//! processes (`scout-agent enqueue`, `scout-agent status` via [`Outbox::open_read_only`]) may
//! open the same file concurrently: writers are serialised by SQLite's lock (waiting up to the
//! busy timeout), and WAL lets readers run alongside.
//!
//! This file holds [`Outbox`], opening and closing; `reader.rs` holds [`OutboxReader`]; the
//! operations live by concern: `enqueue.rs` (storing, with the refusal count), `peek.rs` and
//! `settle.rs` (the uplink's side), `dead_letters.rs`, `state.rs` (the agent state `status`
//! shows), `stats.rs` (counters at a glance and the audit), beside `inspect.rs` (the start-up
//! check), `recovery.rs` (quarantine and salvage), `schema.rs`, `handle.rs`, `interrupt.rs` and
//! `error.rs`.
//!
//! This module is the "buffer" of STYLE.md's module list (its error type is [`BufferError`]);
//! it is called `outbox` after the pattern it implements.

mod dead_letters;
mod enqueue;
mod error;
mod handle;
mod inspect;
mod interrupt;
mod peek;
mod reader;
mod recovery;
mod schema;
mod settle;
mod state;
mod stats;

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use dead_letters::{DeadLetter, ExportReport};
pub use enqueue::{
    Enqueued, GroupResult, MAX_TRANSACTION_ID_LEN, NewRecord, REFUSAL_FLUSH_INTERVAL,
};
pub use error::BufferError;
pub use handle::{CommitStats, GroupLimits, OutboxHandle};
pub use interrupt::Interrupt;
pub use peek::Record;
pub use reader::OutboxReader;
pub use settle::{MAX_REASON_LEN, Settled};
pub use state::{StateEntry, state_keys};
pub use stats::{Audit, OutboxStats, Tally};

use inspect::Health;
use schema::{Counters, Delta, Migration, Role};

/// How long a write waits for another process holding the write lock before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How to open the outbox for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Cap on accounted bytes (payloads of pending rows plus dead letters); see invariant 7.
    pub max_bytes: u64,
    /// How long to wait for another process's write lock.
    pub busy_timeout: Duration,
    /// What a damaged file at open leads to.
    pub on_corruption: OnCorruption,
}

impl OutboxConfig {
    /// The service's settings: quarantine on corruption, default busy timeout.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            on_corruption: OnCorruption::Quarantine,
        }
    }
}

/// What [`Outbox::open`] does with a file that fails its integrity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCorruption {
    /// Rename it aside and start fresh (invariant 9). Only the service, the file's one
    /// long-running owner, should do this: renaming the file under a running service would
    /// leave the service writing to the quarantined copy.
    Quarantine,
    /// Return [`BufferError::CorruptFile`] and touch nothing (for `scout-agent enqueue` and
    /// other short-lived writers that run beside the service).
    Fail,
}

/// A damaged outbox that was renamed aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineInfo {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Where the damaged file now is (its `-wal`/`-shm` sit beside it with the same prefix).
    pub path: PathBuf,
    /// What the integrity check said.
    pub reason: String,
    /// Pending rows copied from the damaged file into the fresh one.
    pub salvaged_pending: u64,
    /// Dead letters in the fresh file after the salvage: the old file's readable dead letters
    /// plus `damaged_pending`.
    pub salvaged_dead_letters: u64,
    /// False while the rows are still being copied (or if copying failed and will be retried
    /// at the next open); the counts below are final once it is true.
    pub salvage_complete: bool,
    /// Pending rows that were readable but damaged (payload no longer a JSON line): kept as
    /// dead letters, not sent.
    pub damaged_pending: u64,
    /// Pending rows the old file's counters promised but that could not be read at all; `None`
    /// when the counters themselves were unreadable.
    pub lost_pending: Option<u64>,
    /// The fresh file's sequence numbers start after this one.
    pub resumed_after_seq: i64,
}

/// What [`Outbox::open`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The outbox tables were created now (new file, or fresh after a quarantine).
    pub created: bool,
    /// Set when a damaged file was renamed aside during this open.
    pub quarantined: Option<QuarantineInfo>,
    /// What the start-up check of the file as found was (invariant 9).
    pub startup_check: StartupCheck,
    /// Time spent checking (header, schema version, and `PRAGMA quick_check` when it ran).
    pub integrity_check: Duration,
}

/// How [`Outbox::open`] checked the file it found (invariant 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupCheck {
    /// No file yet (or an empty one): nothing to check.
    NewFile,
    /// The previous session closed cleanly and the file's length agrees with its header:
    /// header and schema version checked, `quick_check` skipped.
    CleanShutdown,
    /// A writer beside the service ([`OnCorruption::Fail`]): header and schema version only;
    /// the full check is the service's.
    NotOwner,
    /// `PRAGMA quick_check` ran, for this reason.
    QuickCheck(QuickCheckReason),
    /// The cheap checks already found the file damaged (not SQLite, an impossible header, or
    /// the schema version unreadable, as for a file cut short): `quick_check` was not needed.
    CheapCheckFailed,
}

/// Why [`Outbox::open`] ran the full integrity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuickCheckReason {
    /// The previous session did not close cleanly (crash, kill -9, power cut), or a writer
    /// beside the service (`scout-agent enqueue`) used the file since.
    UncleanShutdown,
    /// The file carries no session marker: written by an older agent, or not by the agent.
    NoMarker,
    /// Marked clean, but the file's length disagrees with its header (truncated?).
    SizeMismatch,
}

/// The durable outbox, open for writing (one read-write connection). See the module
/// documentation for its invariants. Its reading methods are [`OutboxReader`]'s, reached through
/// `Deref` the way a `rusqlite::Transaction` reaches its `Connection`'s.
#[derive(Debug)]
pub struct Outbox {
    reader: OutboxReader,
    /// The cap this writer enforces (invariant 7).
    max_bytes: u64,
    /// The service, which marks the session clean at close, or a writer beside it.
    role: Role,
    /// When a refusal count was last written (invariant 8).
    last_refusal_write: Option<Instant>,
    /// Enqueue transactions committed since open (group commit makes this far fewer than
    /// the records stored).
    enqueue_commits: u64,
}

impl Deref for Outbox {
    type Target = OutboxReader;

    fn deref(&self) -> &OutboxReader {
        &self.reader
    }
}

impl Outbox {
    /// Opens (creating if needed) the outbox at `path` for reading and writing, checking its
    /// integrity first and quarantining it if it is damaged (invariant 9).
    pub fn open(
        path: impl AsRef<Path>,
        config: OutboxConfig,
    ) -> Result<(Self, OpenReport), BufferError> {
        Self::open_interruptible(path, config, &Interrupt::new())
    }

    /// [`Outbox::open`], which `interrupt` can stop from another thread (invariant 13): the
    /// start-up check and the salvage end at once with [`BufferError::Interrupted`], leaving
    /// the file for the next open to check again.
    pub fn open_interruptible(
        path: impl AsRef<Path>,
        config: OutboxConfig,
        interrupt: &Interrupt,
    ) -> Result<(Self, OpenReport), BufferError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| BufferError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let busy = config.busy_timeout;
        let role = match config.on_corruption {
            OnCorruption::Quarantine => Role::Owner,
            OnCorruption::Fail => Role::Guest,
        };
        let max_bytes_sql = to_i64(config.max_bytes);
        let mut integrity_check = Duration::ZERO;
        let mut startup_check = None;
        let mut aside: Option<(PathBuf, String, DateTime<Utc>)> = None;
        let (mut conn, migration) = loop {
            let started = Instant::now();
            let (health, check) = inspect::inspect(&path, busy, role == Role::Owner, interrupt)?;
            integrity_check += started.elapsed();
            startup_check.get_or_insert(check);
            let verdict = match health {
                Health::Healthy => {
                    let mut conn = open_writer_connection(&path, busy)?;
                    let opened = schema::configure_writer(&conn, busy)
                        .and_then(|()| schema::open_session(&mut conn, &path, role, max_bytes_sql));
                    match opened {
                        Ok(migration) => break (conn, migration),
                        Err(BufferError::Corrupt { source, .. }) => source.to_string(),
                        Err(other) => return Err(other),
                    }
                }
                Health::Corrupt(detail) => detail,
            };
            if aside.is_some() {
                return Err(BufferError::StorageSuspect {
                    path,
                    detail: verdict,
                });
            }
            if config.on_corruption == OnCorruption::Fail {
                return Err(BufferError::CorruptFile {
                    path,
                    detail: verdict,
                });
            }
            // The last point to stop at: from the rename on, the quarantine is seen through.
            interrupt.check()?;
            // Millisecond precision: what is stored is what is reported.
            let now = Utc::now().trunc_subsecs(3);
            let moved_to = recovery::rename_aside(&path, now)?;
            tracing::error!(
                path = %path.display(),
                quarantined_to = %moved_to.display(),
                reason = %verdict,
                "outbox database is corrupt: renamed aside, starting a fresh one and salvaging readable rows"
            );
            aside = Some((moved_to, verdict, now));
        };

        if let Some((moved_to, reason, at)) = &aside {
            recovery::begin_quarantine(&mut conn, moved_to, reason, *at, busy)?;
        }
        // Also completes a salvage that an earlier open began but could not finish.
        let quarantined = recovery::finish_salvage(&mut conn, busy, interrupt)?;
        if let Some(info) = &quarantined {
            tracing::error!(
                quarantined_to = %info.path.display(),
                salvaged_pending = info.salvaged_pending,
                salvaged_dead_letters = info.salvaged_dead_letters,
                damaged_pending = info.damaged_pending,
                lost_pending = ?info.lost_pending,
                resumed_after_seq = info.resumed_after_seq,
                "outbox quarantine finished"
            );
        }

        let outbox = Self {
            reader: OutboxReader::new(conn, path),
            max_bytes: config.max_bytes,
            role,
            last_refusal_write: None,
            enqueue_commits: 0,
        };
        let report = OpenReport {
            created: migration == Migration::Created,
            quarantined,
            startup_check: startup_check.unwrap_or(StartupCheck::NewFile),
            integrity_check,
        };
        let stats = outbox.stats()?;
        tracing::info!(
            path = %outbox.path().display(),
            created = report.created,
            pending = stats.pending_count,
            pending_bytes = stats.pending_bytes,
            dead_letters = stats.dead_letter_count,
            last_seq = stats.last_seq,
            startup_check = ?report.startup_check,
            check_ms = u64::try_from(integrity_check.as_millis()).unwrap_or(u64::MAX),
            "outbox open"
        );
        Ok((outbox, report))
    }

    /// Opens an existing outbox for reading only, for `scout-agent status` and `dead-letters`
    /// while the service may be running. No integrity check, no quarantine, and no write
    /// methods (invariant 12).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<OutboxReader, BufferError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(BufferError::NotFound { path });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(BufferError::during("opening the outbox read-only"))?;
        schema::configure_reader(&conn, DEFAULT_BUSY_TIMEOUT)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(BufferError::during("reading the schema version"))?;
        if version == 0 {
            return Err(BufferError::NotAnOutbox {
                path,
                detail: "no outbox tables (schema version 0)".into(),
            });
        }
        if version > schema::SCHEMA_VERSION {
            return Err(BufferError::UnsupportedSchema {
                path,
                found: version,
                supported: schema::SCHEMA_VERSION,
            });
        }
        Ok(OutboxReader::new(conn, path))
    }

    /// Closes the outbox: writes any coalesced refusal count and, for the service, marks the
    /// session clean in the same transaction, so the next start can skip the full integrity
    /// check (invariant 9). After corruption was seen in this session the marker is left
    /// unclean. The connection then closes, checkpointing the WAL. Dropping an `Outbox`
    /// without `close` leaves the session unclean, like a crash.
    pub fn close(mut self) -> Result<(), BufferError> {
        self.observed_mut(|outbox| {
            let corrupted = outbox.corruption_seen();
            if corrupted {
                tracing::warn!(
                    path = %outbox.path().display(),
                    "closing an outbox that met corruption: left marked unclean for a full check at the next start"
                );
            }
            if outbox.role != Role::Owner || corrupted {
                return outbox.flush_refusals();
            }
            let reader = &mut outbox.reader;
            let tx = reader
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(BufferError::during("starting the clean close"))?;
            schema::mark_clean(&tx).map_err(BufferError::during("marking the session clean"))?;
            commit_write(
                tx,
                Delta::default(),
                &mut reader.unflushed_refusals,
                "committing the clean close",
            )?;
            tracing::debug!(path = %reader.path.display(), "outbox closed cleanly");
            Ok(())
        })
    }

    /// Runs one write and notes a corruption error on its way out ([`OutboxReader::observed`]).
    fn observed_mut<T>(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<T, BufferError>,
    ) -> Result<T, BufferError> {
        let result = op(self);
        self.reader.observed(|| result)
    }

    /// Writes the refusals counted but not yet written, in a transaction of their own.
    fn flush_refusals(&mut self) -> Result<(), BufferError> {
        if self.reader.unflushed_refusals == 0 {
            return Ok(());
        }
        let delta = Delta {
            refused: to_i64(self.reader.unflushed_refusals),
            ..Delta::default()
        };
        Counters::apply(&self.reader.conn, &delta)
            .map_err(BufferError::during("recording refusals"))?;
        self.reader.unflushed_refusals = 0;
        Ok(())
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if let Err(err) = self.flush_refusals() {
            tracing::warn!(error = %err, "could not record the refusal count at close");
        }
    }
}

/// Commits a write: its counter changes plus the refusals not yet written (every write carries
/// them, invariant 8), in the same transaction as the rows they describe.
fn commit_write(
    tx: Transaction<'_>,
    mut delta: Delta,
    unflushed_refusals: &mut u64,
    op: &'static str,
) -> Result<(), BufferError> {
    delta.refused = delta.refused.saturating_add(to_i64(*unflushed_refusals));
    Counters::apply(&tx, &delta).map_err(BufferError::during("updating the counters"))?;
    tx.commit().map_err(BufferError::during(op))?;
    *unflushed_refusals = 0;
    Ok(())
}

fn open_writer_connection(path: &Path, busy: Duration) -> Result<Connection, BufferError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(BufferError::during("opening the outbox"))?;
    conn.busy_timeout(busy)
        .map_err(BufferError::during("setting the busy timeout"))?;
    Ok(conn)
}

/// A stored time in milliseconds as a time; `seq` names the row in the error.
fn from_millis(seq: i64, ms: i64) -> Result<DateTime<Utc>, BufferError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| BufferError::BadRow {
        seq,
        detail: format!("timestamp {ms} ms is out of range"),
    })
}

/// A count for SQLite, saturating.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A count from SQLite; a negative one reads as 0.
fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
