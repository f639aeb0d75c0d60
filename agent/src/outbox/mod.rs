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
//! 5. **Order.** [`Outbox::peek_batch`] returns pending rows by ascending sequence; the head is
//!    the oldest. Peeking changes nothing: the same rows come back until they are acknowledged or
//!    dead-lettered. It returns at least one row whenever any is pending, even one larger than
//!    the byte budget, so an oversized row cannot wedge the queue.
//! 6. **Who deletes.** A pending row leaves only through [`Outbox::ack`] (the collector answered
//!    `inserted` or `duplicate` for it) or [`Outbox::dead_letter`] (the collector rejected it for
//!    good; the row moves with its reason and time). Nothing else deletes it: not the cap, not its
//!    age, not start-up. Dead letters leave only through [`Outbox::purge_dead_letters`], an
//!    operator's decision after [`Outbox::export_dead_letters`].
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
//!    ([`Outbox::audit`] checks), and neither start-up nor [`Outbox::stats`] scans a table.
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
//!     on), and the outbox remembers it ([`Outbox::corruption_seen`]): [`Outbox::close`] then
//!     leaves the session marked unclean, so the next start runs the full check and
//!     quarantines the file. The service should treat it as fatal and restart.
//!
//! One [`Outbox`] is one connection and is used from one thread at a time. In the service it
//! lives on its own thread behind [`OutboxHandle`] (async, cloneable, with group commit); other
//! processes (`scout-agent enqueue`, `scout-agent status` via [`Outbox::open_read_only`]) may
//! open the same file concurrently: writers are serialised by SQLite's lock (waiting up to the
//! busy timeout), and WAL lets readers run alongside.
//!
//! This module is the "buffer" of STYLE.md's module list (its error type is [`BufferError`]);
//! it is called `outbox` after the pattern it implements.

mod error;
mod handle;
mod recovery;
mod schema;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde_json::value::RawValue;

pub use error::BufferError;
pub use handle::{CommitStats, GroupLimits, OutboxHandle};

use recovery::Health;
use schema::{Counters, Delta, Migration, Role};

/// How long a write waits for another process holding the write lock before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Refusals after the first are written at most this often (see invariant 8).
pub const REFUSAL_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// Longest accepted transaction id, in bytes.
pub const MAX_TRANSACTION_ID_LEN: usize = 256;

/// Longest stored dead-letter reason, in bytes (longer ones are cut at a character boundary).
pub const MAX_REASON_LEN: usize = 4096;

/// Names for the agent-state entries `status` shows.
pub mod state_keys {
    /// RFC 3339 time of the last batch the collector answered with 200.
    pub const LAST_UPLOAD_AT: &str = "last_upload_at";
    /// The last upload or heartbeat error, as shown to a technician.
    pub const LAST_ERROR: &str = "last_error";
    /// RFC 3339 time of the next upload attempt while backing off.
    pub const NEXT_RETRY_AT: &str = "next_retry_at";
}

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

/// A transaction handed to the outbox by intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub transaction_id: String,
    /// When intake took it in.
    pub captured_at: DateTime<Utc>,
    /// The NDJSON line to send, without its newline.
    pub payload: Vec<u8>,
}

/// A pending transaction, as the uplink sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: i64,
    pub transaction_id: String,
    pub captured_at: DateTime<Utc>,
    pub payload: Vec<u8>,
}

/// The outcome of one group of [`Outbox::enqueue_groups`].
pub type GroupResult = Result<Vec<Enqueued>, BufferError>;

/// What happened to one record of an enqueued batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The record's sequence number (the existing one for a duplicate).
    pub seq: i64,
    /// True when the transaction id was already pending and nothing new was stored.
    pub duplicate: bool,
}

/// A transaction the collector rejected for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub seq: i64,
    pub transaction_id: String,
    pub captured_at: DateTime<Utc>,
    pub payload: Vec<u8>,
    pub reason: String,
    pub dead_lettered_at: DateTime<Utc>,
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

/// The outbox at a glance; cheap (a handful of single-row reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending_count: u64,
    /// Payload bytes of pending rows.
    pub pending_bytes: u64,
    /// Sequence number of the head of the queue.
    pub oldest_pending_seq: Option<i64>,
    /// Capture time of the head of the queue (the oldest by sequence).
    pub oldest_pending_captured_at: Option<DateTime<Utc>>,
    pub dead_letter_count: u64,
    /// Payload bytes of dead letters.
    pub dead_letter_bytes: u64,
    /// Records refused because the cap was reached, since the file was created.
    pub refused_total: u64,
    /// The last sequence number issued (0 before the first).
    pub last_seq: i64,
    /// The cap the writer last opened with (`None` if no writer has recorded one).
    pub max_bytes: Option<u64>,
    /// Size of the database file plus its WAL, as on disk.
    pub file_bytes: u64,
    /// The last quarantine this file resulted from, if any.
    pub quarantined: Option<QuarantineInfo>,
}

impl OutboxStats {
    /// Bytes counted against the cap.
    pub fn accounted_bytes(&self) -> u64 {
        self.pending_bytes.saturating_add(self.dead_letter_bytes)
    }
}

/// What one [`Outbox::settle`] call removed from pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub acked: u64,
    pub dead_lettered: u64,
}

/// What [`Outbox::export_dead_letters`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportReport {
    pub count: u64,
    /// Highest sequence exported: pass it to [`Outbox::purge_dead_letters`] to drop exactly
    /// what was exported.
    pub last_seq: Option<i64>,
}

/// One agent-state entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub value: String,
    pub updated_at: DateTime<Utc>,
}

/// Counts and bytes of the two tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub pending_count: u64,
    pub pending_bytes: u64,
    pub dead_letter_count: u64,
    pub dead_letter_bytes: u64,
}

/// The counters compared with a full count (see [`Outbox::audit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audit {
    pub recorded: Tally,
    pub counted: Tally,
    pub last_seq: i64,
    /// Highest sequence present in either table.
    pub max_stored_seq: i64,
}

impl Audit {
    pub fn is_consistent(&self) -> bool {
        self.recorded == self.counted && self.max_stored_seq <= self.last_seq
    }
}

#[derive(Debug, Clone, Copy)]
enum Access {
    ReadWrite { max_bytes: u64, role: Role },
    ReadOnly,
}

/// The durable outbox. See the module documentation for its invariants.
#[derive(Debug)]
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    access: Access,
    /// Refusals counted in memory but not yet written (invariant 8).
    unflushed_refusals: u64,
    last_refusal_write: Option<Instant>,
    /// An operation met SQLITE_CORRUPT/NOTADB: the session stays marked unclean (invariant 9).
    corruption_seen: Cell<bool>,
    /// Enqueue transactions committed since open (group commit makes this far fewer than
    /// the records stored).
    enqueue_commits: u64,
}

impl Outbox {
    /// Opens (creating if needed) the outbox at `path` for reading and writing, checking its
    /// integrity first and quarantining it if it is damaged (invariant 9).
    pub fn open(
        path: impl AsRef<Path>,
        config: OutboxConfig,
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
            let (health, check) = recovery::inspect(&path, busy, role == Role::Owner)?;
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
        let quarantined = recovery::finish_salvage(&mut conn, busy)?;
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
            conn,
            path,
            access: Access::ReadWrite {
                max_bytes: config.max_bytes,
                role,
            },
            unflushed_refusals: 0,
            last_refusal_write: None,
            corruption_seen: Cell::new(false),
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
            path = %outbox.path.display(),
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

    /// Opens an existing outbox read-only, for `scout-agent status` while the service may be
    /// running. No integrity check, no quarantine, no writes.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, BufferError> {
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
        Ok(Self {
            conn,
            path,
            access: Access::ReadOnly,
            unflushed_refusals: 0,
            last_refusal_write: None,
            corruption_seen: Cell::new(false),
            enqueue_commits: 0,
        })
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores a batch in one transaction and returns, per record in order, its sequence number
    /// and whether it was already pending (invariants 1–4, 7).
    pub fn enqueue_batch(&mut self, records: &[NewRecord]) -> Result<Vec<Enqueued>, BufferError> {
        let result = self
            .enqueue_groups_inner(&[records])
            .and_then(|mut groups| groups.pop().unwrap_or_else(|| Ok(Vec::new())));
        self.observe(result)
    }

    /// Group commit: stores several independent groups (one per producer request) in ONE
    /// transaction, so they share one fsync. Each group is all or nothing on its own: a group
    /// with an invalid record, or one that would take the outbox over its cap, is refused
    /// (its entry is `Err`) and the others are still stored. Groups are applied in order, as
    /// if enqueued one after the other (a later group sees an earlier one's ids as pending).
    /// The outer `Err` is a failure of the transaction itself (disk full, I/O, corruption):
    /// then nothing was stored.
    pub fn enqueue_groups<G: AsRef<[NewRecord]>>(
        &mut self,
        groups: &[G],
    ) -> Result<Vec<GroupResult>, BufferError> {
        let result = self.enqueue_groups_inner(groups);
        self.observe(result)
    }

    fn enqueue_groups_inner<G: AsRef<[NewRecord]>>(
        &mut self,
        groups: &[G],
    ) -> Result<Vec<GroupResult>, BufferError> {
        let max_bytes = self.writable("enqueue")?;
        let mut results: Vec<GroupResult> = groups
            .iter()
            .map(|group| match first_invalid(group.as_ref()) {
                Some(err) => Err(err),
                None => Ok(Vec::new()),
            })
            .collect();
        let work = groups
            .iter()
            .zip(&results)
            .any(|(group, result)| result.is_ok() && !group.as_ref().is_empty());
        if !work {
            return Ok(results);
        }

        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(BufferError::during("starting the enqueue transaction"))?;
        let counters = Counters::read(&tx).map_err(BufferError::during("reading the counters"))?;
        let mut delta = Delta::default();
        let mut next_seq = counters.last_seq;
        let mut refused_now = 0_u64;
        let used = counters.pending_bytes.saturating_add(counters.dead_bytes);
        for (group, result) in groups.iter().zip(results.iter_mut()) {
            let records = group.as_ref();
            if result.is_err() || records.is_empty() {
                continue;
            }
            // A group that fits even if every record is new cannot be refused by the cap: it
            // needs no savepoint (two statements fewer per group in the common case).
            let upper_bound = to_i64(records.iter().map(|r| r.payload.len() as u64).sum());
            let pending_before = counters.pending_bytes.saturating_add(delta.pending_bytes);
            let in_use = used.saturating_add(delta.pending_bytes);
            if in_use.saturating_add(upper_bound) <= to_i64(max_bytes) {
                let (outcome, added_count, added_bytes, last) =
                    insert_group(&tx, records, next_seq)?;
                next_seq = last;
                delta.pending_count += added_count;
                delta.pending_bytes += added_bytes;
                *result = Ok(outcome);
                continue;
            }
            let mut sp = tx
                .savepoint()
                .map_err(BufferError::during("starting a group"))?;
            let (outcome, added_count, added_bytes, last) = insert_group(&sp, records, next_seq)?;
            if added_count > 0 && in_use.saturating_add(added_bytes) > to_i64(max_bytes) {
                sp.rollback()
                    .map_err(BufferError::during("rolling back a refused group"))?;
                sp.commit()
                    .map_err(BufferError::during("releasing a refused group"))?;
                refused_now += to_u64(added_count);
                tracing::warn!(
                    refused = added_count,
                    new_bytes = added_bytes,
                    pending_bytes = pending_before,
                    dead_letter_bytes = counters.dead_bytes,
                    max_bytes,
                    "outbox full: batch refused"
                );
                *result = Err(BufferError::Full {
                    new_records: to_u64(added_count),
                    new_bytes: to_u64(added_bytes),
                    pending_bytes: to_u64(pending_before),
                    dead_letter_bytes: to_u64(counters.dead_bytes),
                    max_bytes,
                });
                continue;
            }
            sp.commit()
                .map_err(BufferError::during("releasing a group"))?;
            next_seq = last;
            delta.pending_count += added_count;
            delta.pending_bytes += added_bytes;
            *result = Ok(outcome);
        }

        let stored_any = groups
            .iter()
            .zip(&results)
            .any(|(group, result)| result.is_ok() && !group.as_ref().is_empty());
        if !stored_any {
            // Every group was refused: nothing to commit; the transaction rolls back on drop
            // and the refusals are counted the coalescing way (invariant 8).
            drop(tx);
            if refused_now > 0 {
                self.count_refusals(refused_now);
            }
            return Ok(results);
        }
        delta.last_seq = next_seq;
        let refused_total = self.unflushed_refusals.saturating_add(refused_now);
        delta.refused = to_i64(refused_total);
        Counters::apply(&tx, &delta).map_err(BufferError::during("updating the counters"))?;
        tx.commit()
            .map_err(BufferError::during("committing the batch"))?;
        self.unflushed_refusals = 0;
        if refused_now > 0 {
            self.last_refusal_write = Some(Instant::now());
        }
        self.enqueue_commits += 1;
        Ok(results)
    }

    /// Enqueue transactions committed since this outbox was opened.
    pub fn enqueue_commits(&self) -> u64 {
        self.enqueue_commits
    }

    /// True once an operation of this session met corruption (see [`BufferError::is_corruption`]).
    pub fn corruption_seen(&self) -> bool {
        self.corruption_seen.get()
    }

    /// Notes a corruption error on its way out, so [`Outbox::close`] leaves the session marked
    /// unclean and the next start runs the full check (invariant 9).
    fn observe<T>(&self, result: Result<T, BufferError>) -> Result<T, BufferError> {
        if let Err(err) = &result
            && err.is_corruption()
            && !self.corruption_seen.replace(true)
        {
            tracing::error!(
                path = %self.path.display(),
                error = %err,
                "outbox corruption detected while running; the next start will check and quarantine the file"
            );
        }
        result
    }

    /// Up to `max_records` pending rows, oldest first, stopping before the payloads would exceed
    /// `max_bytes`, but always at least one row if any is pending (invariant 5).
    pub fn peek_batch(
        &self,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        self.peek_batch_after(0, max_records, max_bytes)
    }

    /// Like [`Outbox::peek_batch`], starting after sequence `after_seq` (for an uplink that keeps
    /// more than one batch in flight).
    pub fn peek_batch_after(
        &self,
        after_seq: i64,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        let result = self.peek_batch_after_inner(after_seq, max_records, max_bytes);
        self.observe(result)
    }

    fn peek_batch_after_inner(
        &self,
        after_seq: i64,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, transaction_id, captured_at_ms, length(payload), payload
                 FROM pending WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(BufferError::during("preparing the peek"))?;
        let mut rows = stmt
            .query(params![after_seq, to_i64(max_records as u64)])
            .map_err(BufferError::during("reading pending rows"))?;
        let mut batch = Vec::new();
        let mut bytes = 0_u64;
        while let Some(row) = rows
            .next()
            .map_err(BufferError::during("reading pending rows"))?
        {
            let len: i64 = row
                .get(3)
                .map_err(BufferError::during("reading a row size"))?;
            let len = to_u64(len);
            if !batch.is_empty() && bytes.saturating_add(len) > max_bytes {
                break;
            }
            let seq: i64 = row.get(0).map_err(BufferError::during("reading a row"))?;
            let captured_at_ms: i64 = row.get(2).map_err(BufferError::during("reading a row"))?;
            batch.push(Record {
                seq,
                transaction_id: row.get(1).map_err(BufferError::during("reading a row"))?,
                captured_at: from_millis(seq, captured_at_ms)?,
                payload: row.get(4).map_err(BufferError::during("reading a row"))?,
            });
            bytes = bytes.saturating_add(len);
        }
        Ok(batch)
    }

    /// Deletes the given pending rows after the collector acknowledged them; unknown sequence
    /// numbers are ignored (acknowledging twice is harmless). Returns how many were deleted.
    pub fn ack(&mut self, seqs: &[i64]) -> Result<u64, BufferError> {
        Ok(self.settle::<&str>(seqs, &[])?.acked)
    }

    /// Moves one pending row to the dead letters with `reason`. Returns false if it was not
    /// pending.
    pub fn dead_letter(&mut self, seq: i64, reason: &str) -> Result<bool, BufferError> {
        Ok(self.settle(&[], &[(seq, reason)])?.dead_lettered == 1)
    }

    /// Applies one collector response in one transaction: deletes the acknowledged rows and
    /// moves the rejected ones to dead letters (invariant 6). Sequence numbers that are not
    /// pending are ignored.
    pub fn settle<R: AsRef<str>>(
        &mut self,
        acked: &[i64],
        rejected: &[(i64, R)],
    ) -> Result<Settled, BufferError> {
        let result = self.settle_inner(acked, rejected);
        self.observe(result)
    }

    fn settle_inner<R: AsRef<str>>(
        &mut self,
        acked: &[i64],
        rejected: &[(i64, R)],
    ) -> Result<Settled, BufferError> {
        self.writable("settle")?;
        if acked.is_empty() && rejected.is_empty() {
            return Ok(Settled::default());
        }
        let now_ms = Utc::now().timestamp_millis();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(BufferError::during("starting the settle transaction"))?;
        let mut delta = Delta::default();
        let mut settled = Settled::default();
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM pending WHERE seq = ?1 RETURNING length(payload)")
                .map_err(BufferError::during("preparing the ack"))?;
            for &seq in acked {
                let removed: Option<i64> = delete
                    .query_row([seq], |row| row.get(0))
                    .optional()
                    .map_err(BufferError::during("deleting an acknowledged row"))?;
                if let Some(len) = removed {
                    settled.acked += 1;
                    delta.pending_count -= 1;
                    delta.pending_bytes -= len;
                }
            }
            let mut copy = tx
                .prepare_cached(
                    "INSERT INTO dead_letters
                     (seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms)
                     SELECT seq, transaction_id, captured_at_ms, payload, ?2, ?3
                     FROM pending WHERE seq = ?1",
                )
                .map_err(BufferError::during("preparing the dead-letter move"))?;
            for (seq, reason) in rejected {
                let reason = truncate_reason(reason.as_ref());
                let moved = copy
                    .execute(params![seq, reason, now_ms])
                    .map_err(BufferError::during("moving a row to dead letters"))?;
                if moved == 0 {
                    continue;
                }
                let len: i64 = delete
                    .query_row([seq], |row| row.get(0))
                    .map_err(BufferError::during("removing a dead-lettered row"))?;
                settled.dead_lettered += 1;
                delta.pending_count -= 1;
                delta.pending_bytes -= len;
                delta.dead_count += 1;
                delta.dead_bytes += len;
                tracing::warn!(seq, reason, "transaction moved to dead letters");
            }
        }
        if settled == Settled::default() && self.unflushed_refusals == 0 {
            return Ok(settled); // nothing changed; the transaction rolls back on drop
        }
        delta.refused = to_i64(self.unflushed_refusals);
        Counters::apply(&tx, &delta).map_err(BufferError::during("updating the counters"))?;
        tx.commit()
            .map_err(BufferError::during("committing the settlement"))?;
        self.unflushed_refusals = 0;
        Ok(settled)
    }

    /// The most recent dead letters, newest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, BufferError> {
        let result = self.dead_letters_inner(limit);
        self.observe(result)
    }

    fn dead_letters_inner(&self, limit: usize) -> Result<Vec<DeadLetter>, BufferError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms
                 FROM dead_letters ORDER BY seq DESC LIMIT ?1",
            )
            .map_err(BufferError::during("preparing the dead-letter listing"))?;
        let mut rows = stmt
            .query([to_i64(limit as u64)])
            .map_err(BufferError::during("listing dead letters"))?;
        let mut out = Vec::new();
        while let Some(row) = rows
            .next()
            .map_err(BufferError::during("listing dead letters"))?
        {
            out.push(dead_letter_from_row(row)?);
        }
        Ok(out)
    }

    /// Writes every dead letter, oldest first, as NDJSON: `seq`, `transaction_id`,
    /// `captured_at`, `dead_lettered_at`, `reason`, and `payload` (the stored line embedded as
    /// JSON) or `payload_text` (if the stored line is not valid JSON). Streams; memory use does
    /// not grow with the number of dead letters.
    pub fn export_dead_letters(&self, writer: impl Write) -> Result<ExportReport, BufferError> {
        let result = self.export_dead_letters_inner(writer);
        self.observe(result)
    }

    fn export_dead_letters_inner(&self, writer: impl Write) -> Result<ExportReport, BufferError> {
        #[derive(Serialize)]
        struct Line<'a> {
            seq: i64,
            transaction_id: &'a str,
            captured_at: DateTime<Utc>,
            dead_lettered_at: DateTime<Utc>,
            reason: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            payload: Option<&'a RawValue>,
            #[serde(skip_serializing_if = "Option::is_none")]
            payload_text: Option<String>,
        }

        let mut out = BufWriter::new(writer);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms
                 FROM dead_letters ORDER BY seq",
            )
            .map_err(BufferError::during("preparing the dead-letter export"))?;
        let mut rows = stmt
            .query([])
            .map_err(BufferError::during("exporting dead letters"))?;
        let mut report = ExportReport {
            count: 0,
            last_seq: None,
        };
        while let Some(row) = rows
            .next()
            .map_err(BufferError::during("exporting dead letters"))?
        {
            let letter = dead_letter_from_row(row)?;
            let raw = serde_json::from_slice::<&RawValue>(&letter.payload).ok();
            let line = Line {
                seq: letter.seq,
                transaction_id: &letter.transaction_id,
                captured_at: letter.captured_at,
                dead_lettered_at: letter.dead_lettered_at,
                reason: &letter.reason,
                payload: raw,
                payload_text: match raw {
                    Some(_) => None,
                    None => Some(String::from_utf8_lossy(&letter.payload).into_owned()),
                },
            };
            serde_json::to_writer(&mut out, &line)
                .map_err(|err| BufferError::Export(std::io::Error::other(err)))?;
            out.write_all(b"\n").map_err(BufferError::Export)?;
            report.count += 1;
            report.last_seq = Some(letter.seq);
        }
        out.flush().map_err(BufferError::Export)?;
        Ok(report)
    }

    /// Deletes dead letters with sequence `<= through_seq` (after an export). Returns how many.
    pub fn purge_dead_letters(&mut self, through_seq: i64) -> Result<u64, BufferError> {
        let result = self.purge_dead_letters_inner(through_seq);
        self.observe(result)
    }

    fn purge_dead_letters_inner(&mut self, through_seq: i64) -> Result<u64, BufferError> {
        self.writable("purge dead letters")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(BufferError::during("starting the purge"))?;
        let (count, bytes): (i64, i64) = tx
            .query_row(
                "SELECT count(*), coalesce(sum(length(payload)), 0)
                 FROM dead_letters WHERE seq <= ?1",
                [through_seq],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(BufferError::during("measuring the purge"))?;
        if count == 0 {
            return Ok(0);
        }
        tx.execute("DELETE FROM dead_letters WHERE seq <= ?1", [through_seq])
            .map_err(BufferError::during("purging dead letters"))?;
        let delta = Delta {
            dead_count: -count,
            dead_bytes: -bytes,
            refused: to_i64(self.unflushed_refusals),
            ..Delta::default()
        };
        Counters::apply(&tx, &delta).map_err(BufferError::during("updating the counters"))?;
        tx.commit()
            .map_err(BufferError::during("committing the purge"))?;
        self.unflushed_refusals = 0;
        tracing::info!(purged = count, through_seq, "dead letters purged");
        Ok(to_u64(count))
    }

    /// Sets (`Some`) or clears (`None`) an agent-state entry, writing only if the value differs
    /// from the stored one (invariant 10). Returns whether it wrote.
    pub fn set_state(&mut self, key: &str, value: Option<&str>) -> Result<bool, BufferError> {
        let result = self.set_state_inner(key, value);
        self.observe(result)
    }

    fn set_state_inner(&mut self, key: &str, value: Option<&str>) -> Result<bool, BufferError> {
        self.writable("set agent state")?;
        let current = self.state_value(key)?;
        if current.as_deref() == value {
            return Ok(false);
        }
        match value {
            Some(value) => self
                .conn
                .prepare_cached(
                    "INSERT INTO agent_state (key, value, updated_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                                                     updated_at_ms = excluded.updated_at_ms",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![key, value, Utc::now().timestamp_millis()])
                }),
            None => self
                .conn
                .prepare_cached("DELETE FROM agent_state WHERE key = ?1")
                .and_then(|mut stmt| stmt.execute([key])),
        }
        .map_err(BufferError::during("writing agent state"))?;
        Ok(true)
    }

    /// One agent-state value.
    pub fn state_value(&self, key: &str) -> Result<Option<String>, BufferError> {
        let result = self.state_value_inner(key);
        self.observe(result)
    }

    fn state_value_inner(&self, key: &str) -> Result<Option<String>, BufferError> {
        self.conn
            .prepare_cached("SELECT value FROM agent_state WHERE key = ?1")
            .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
            .map_err(BufferError::during("reading agent state"))
    }

    /// Every agent-state entry, by key.
    pub fn state(&self) -> Result<BTreeMap<String, StateEntry>, BufferError> {
        let result = self.state_inner();
        self.observe(result)
    }

    fn state_inner(&self) -> Result<BTreeMap<String, StateEntry>, BufferError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, value, updated_at_ms FROM agent_state")
            .map_err(BufferError::during("reading agent state"))?;
        let mut rows = stmt
            .query([])
            .map_err(BufferError::during("reading agent state"))?;
        let mut out = BTreeMap::new();
        while let Some(row) = rows
            .next()
            .map_err(BufferError::during("reading agent state"))?
        {
            let key: String = row
                .get(0)
                .map_err(BufferError::during("reading agent state"))?;
            let value: String = row
                .get(1)
                .map_err(BufferError::during("reading agent state"))?;
            let ms: i64 = row
                .get(2)
                .map_err(BufferError::during("reading agent state"))?;
            out.insert(
                key,
                StateEntry {
                    value,
                    updated_at: from_millis(0, ms)?,
                },
            );
        }
        Ok(out)
    }

    /// The outbox at a glance, from one consistent snapshot, without scanning any table.
    pub fn stats(&self) -> Result<OutboxStats, BufferError> {
        let result = self.stats_inner();
        self.observe(result)
    }

    fn stats_inner(&self) -> Result<OutboxStats, BufferError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(BufferError::during("starting a stats snapshot"))?;
        let c = Counters::read(&tx).map_err(BufferError::during("reading the counters"))?;
        let head: Option<(i64, i64)> = tx
            .prepare_cached("SELECT seq, captured_at_ms FROM pending ORDER BY seq LIMIT 1")
            .and_then(|mut stmt| {
                stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(BufferError::during("reading the head of the queue"))?;
        let quarantined = recovery::read_quarantine(&tx)?;
        let db_bytes: i64 = tx
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |row| row.get(0),
            )
            .map_err(BufferError::during("reading the file size"))?;
        drop(tx);

        let wal_bytes = fs::metadata(recovery::with_suffix(&self.path, "-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(OutboxStats {
            pending_count: to_u64(c.pending_count),
            pending_bytes: to_u64(c.pending_bytes),
            oldest_pending_seq: head.map(|(seq, _)| seq),
            oldest_pending_captured_at: match head {
                Some((seq, ms)) => Some(from_millis(seq, ms)?),
                None => None,
            },
            dead_letter_count: to_u64(c.dead_count),
            dead_letter_bytes: to_u64(c.dead_bytes),
            refused_total: to_u64(c.refused_total).saturating_add(self.unflushed_refusals),
            last_seq: c.last_seq,
            max_bytes: c.max_bytes.map(to_u64),
            file_bytes: to_u64(db_bytes).saturating_add(wal_bytes),
            quarantined,
        })
    }

    /// Compares the running counters with a full count of both tables. Scans everything: for
    /// tests and the `doctor`-style checks, not for the hot path.
    pub fn audit(&self) -> Result<Audit, BufferError> {
        let result = self.audit_inner();
        self.observe(result)
    }

    fn audit_inner(&self) -> Result<Audit, BufferError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(BufferError::during("starting an audit snapshot"))?;
        let c = Counters::read(&tx).map_err(BufferError::during("reading the counters"))?;
        let counted = tx
            .query_row(
                "SELECT (SELECT count(*) FROM pending),
                        (SELECT coalesce(sum(length(payload)), 0) FROM pending),
                        (SELECT count(*) FROM dead_letters),
                        (SELECT coalesce(sum(length(payload)), 0) FROM dead_letters),
                        max(coalesce((SELECT max(seq) FROM pending), 0),
                            coalesce((SELECT max(seq) FROM dead_letters), 0))",
                [],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                },
            )
            .map_err(BufferError::during("counting the tables"))?;
        Ok(Audit {
            recorded: Tally {
                pending_count: to_u64(c.pending_count),
                pending_bytes: to_u64(c.pending_bytes),
                dead_letter_count: to_u64(c.dead_count),
                dead_letter_bytes: to_u64(c.dead_bytes),
            },
            counted: Tally {
                pending_count: to_u64(counted.0),
                pending_bytes: to_u64(counted.1),
                dead_letter_count: to_u64(counted.2),
                dead_letter_bytes: to_u64(counted.3),
            },
            last_seq: c.last_seq,
            max_stored_seq: counted.4,
        })
    }

    /// Closes the outbox: writes any coalesced refusal count and, for the service, marks the
    /// session clean in the same transaction, so the next start can skip the full integrity
    /// check (invariant 9). After corruption was seen in this session the marker is left
    /// unclean. The connection then closes, checkpointing the WAL. Dropping an `Outbox`
    /// without `close` leaves the session unclean, like a crash.
    pub fn close(mut self) -> Result<(), BufferError> {
        let result = self.close_inner();
        self.observe(result)
    }

    fn close_inner(&mut self) -> Result<(), BufferError> {
        let owner = matches!(
            self.access,
            Access::ReadWrite {
                role: Role::Owner,
                ..
            }
        );
        if self.corruption_seen.get() {
            tracing::warn!(
                path = %self.path.display(),
                "closing an outbox that met corruption: left marked unclean for a full check at the next start"
            );
        }
        if !owner || self.corruption_seen.get() {
            return self.flush_refusals();
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(BufferError::during("starting the clean close"))?;
        let delta = Delta {
            refused: to_i64(self.unflushed_refusals),
            ..Delta::default()
        };
        Counters::apply(&tx, &delta).map_err(BufferError::during("recording refusals"))?;
        schema::mark_clean(&tx).map_err(BufferError::during("marking the session clean"))?;
        tx.commit()
            .map_err(BufferError::during("committing the clean close"))?;
        self.unflushed_refusals = 0;
        tracing::debug!(path = %self.path.display(), "outbox closed cleanly");
        Ok(())
    }

    /// Counts refused records: written now unless a refusal was written within
    /// [`REFUSAL_FLUSH_INTERVAL`], in which case the next write carries it (invariant 8).
    fn count_refusals(&mut self, n: u64) {
        self.unflushed_refusals = self.unflushed_refusals.saturating_add(n);
        let due = self
            .last_refusal_write
            .is_none_or(|at| at.elapsed() >= REFUSAL_FLUSH_INTERVAL);
        if due {
            self.last_refusal_write = Some(Instant::now());
            if let Err(err) = self.flush_refusals() {
                tracing::warn!(error = %err, "could not record the refusal count; will retry");
            }
        }
    }

    fn flush_refusals(&mut self) -> Result<(), BufferError> {
        if self.unflushed_refusals == 0 || matches!(self.access, Access::ReadOnly) {
            return Ok(());
        }
        let delta = Delta {
            refused: to_i64(self.unflushed_refusals),
            ..Delta::default()
        };
        Counters::apply(&self.conn, &delta).map_err(BufferError::during("recording refusals"))?;
        self.unflushed_refusals = 0;
        Ok(())
    }

    fn writable(&self, op: &'static str) -> Result<u64, BufferError> {
        match self.access {
            Access::ReadWrite { max_bytes, .. } => Ok(max_bytes),
            Access::ReadOnly => Err(BufferError::ReadOnly { op }),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if let Err(err) = self.flush_refusals() {
            tracing::warn!(error = %err, "could not record the refusal count at close");
        }
    }
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

/// Inserts one group's records after `last_seq` inside the caller's transaction. Returns the
/// per-record outcome, how many rows and payload bytes were added, and the new last sequence.
fn insert_group(
    conn: &Connection,
    records: &[NewRecord],
    last_seq: i64,
) -> Result<(Vec<Enqueued>, i64, i64, i64), BufferError> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO pending (seq, transaction_id, captured_at_ms, payload)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (transaction_id) DO NOTHING",
        )
        .map_err(BufferError::during("preparing the enqueue"))?;
    let mut existing = conn
        .prepare_cached("SELECT seq FROM pending WHERE transaction_id = ?1")
        .map_err(BufferError::during("preparing the duplicate lookup"))?;
    let mut outcome = Vec::with_capacity(records.len());
    let (mut count, mut bytes, mut next_seq) = (0_i64, 0_i64, last_seq);
    for record in records {
        let candidate = next_seq + 1;
        let inserted = insert
            .execute(params![
                candidate,
                record.transaction_id,
                record.captured_at.timestamp_millis(),
                record.payload,
            ])
            .map_err(BufferError::during("storing a transaction"))?;
        if inserted == 1 {
            next_seq = candidate;
            count += 1;
            bytes += to_i64(record.payload.len() as u64);
            outcome.push(Enqueued {
                seq: candidate,
                duplicate: false,
            });
        } else {
            let seq: i64 = existing
                .query_row([&record.transaction_id], |row| row.get(0))
                .map_err(BufferError::during("looking up a duplicate"))?;
            outcome.push(Enqueued {
                seq,
                duplicate: true,
            });
        }
    }
    Ok((outcome, count, bytes, next_seq))
}

fn first_invalid(records: &[NewRecord]) -> Option<BufferError> {
    records.iter().enumerate().find_map(|(index, record)| {
        invalid_reason(record).map(|reason| BufferError::InvalidRecord {
            index,
            transaction_id: record.transaction_id.clone(),
            reason,
        })
    })
}

fn invalid_reason(record: &NewRecord) -> Option<&'static str> {
    if record.transaction_id.trim().is_empty() {
        Some("transaction_id is empty")
    } else if record.transaction_id.len() > MAX_TRANSACTION_ID_LEN {
        Some("transaction_id is longer than 256 bytes")
    } else if record.payload.is_empty() {
        Some("payload is empty")
    } else if record.payload.contains(&b'\n') || record.payload.contains(&b'\r') {
        Some("payload contains a line break; an NDJSON line must be a single line")
    } else {
        None
    }
}

fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

fn dead_letter_from_row(row: &rusqlite::Row<'_>) -> Result<DeadLetter, BufferError> {
    let read = BufferError::during("reading a dead letter");
    let fields = (|| -> rusqlite::Result<_> {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, Vec<u8>>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, i64>(5)?,
        ))
    })()
    .map_err(read)?;
    let (seq, transaction_id, captured_ms, payload, reason, dead_ms) = fields;
    Ok(DeadLetter {
        seq,
        transaction_id,
        captured_at: from_millis(seq, captured_ms)?,
        payload,
        reason,
        dead_lettered_at: from_millis(seq, dead_ms)?,
    })
}

fn from_millis(seq: i64, ms: i64) -> Result<DateTime<Utc>, BufferError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| BufferError::BadRow {
        seq,
        detail: format!("timestamp {ms} ms is out of range"),
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
