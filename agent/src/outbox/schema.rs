//! The outbox's tables, connection settings, the one-row counters that keep start-up and
//! `stats()` free of table scans, and the session marker that lets a clean start skip the
//! full integrity check.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::error::BufferError;

/// Version written to `PRAGMA user_version`; bump with a migration step in [`migrate`].
/// Version 2 added the `session` table (the clean-shutdown marker).
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// A WAL file larger than this is truncated back to it after a checkpoint, so a burst does not
/// leave a large `-wal` file occupying the SD card.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 16 * 1024 * 1024;

const CREATE_V1: &str = "
CREATE TABLE IF NOT EXISTS pending (
    seq            INTEGER PRIMARY KEY,
    transaction_id TEXT    NOT NULL UNIQUE,
    captured_at_ms INTEGER NOT NULL,
    payload        BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq                 INTEGER PRIMARY KEY,
    transaction_id      TEXT    NOT NULL,
    captured_at_ms      INTEGER NOT NULL,
    payload             BLOB    NOT NULL,
    reason              TEXT    NOT NULL,
    dead_lettered_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq      INTEGER NOT NULL,
    pending_count INTEGER NOT NULL,
    pending_bytes INTEGER NOT NULL,
    dead_count    INTEGER NOT NULL,
    dead_bytes    INTEGER NOT NULL,
    refused_total INTEGER NOT NULL,
    max_bytes     INTEGER
);
CREATE TABLE IF NOT EXISTS agent_state (
    key           TEXT    PRIMARY KEY,
    value         TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    at_ms                 INTEGER NOT NULL,
    path                  TEXT    NOT NULL,
    reason                TEXT    NOT NULL,
    old_pending_count     INTEGER,
    resumed_after_seq     INTEGER NOT NULL,
    salvage_done          INTEGER NOT NULL DEFAULT 0,
    salvaged_pending      INTEGER NOT NULL DEFAULT 0,
    salvaged_dead_letters INTEGER NOT NULL DEFAULT 0,
    damaged_pending       INTEGER NOT NULL DEFAULT 0
);
";

/// The clean-shutdown marker (module doc of `outbox`, invariant 9). `clean` is 0 from the
/// moment a writer opens the file until the service closes it cleanly.
const CREATE_V2: &str = "
CREATE TABLE IF NOT EXISTS session (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    clean        INTEGER NOT NULL,
    opened_at_ms INTEGER NOT NULL,
    closed_at_ms INTEGER
);
";

/// Settings for a read-write connection. `synchronous=FULL` is the durability promise (see the
/// module doc); it must be set on every connection because it is not stored in the file.
pub(crate) fn configure_writer(conn: &Connection, busy: Duration) -> Result<(), BufferError> {
    conn.busy_timeout(busy)
        .map_err(BufferError::during("setting the busy timeout"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(BufferError::during("switching to WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            journal_mode = %mode,
            "outbox could not switch to WAL mode; durability holds but readers may block writers"
        );
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(BufferError::during("setting synchronous=FULL"))?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)
        .map_err(BufferError::during("setting journal_size_limit"))?;
    // Extra sanity checks on every b-tree cell read: corruption surfaces as an error instead of
    // odd results, at negligible cost.
    conn.pragma_update(None, "cell_size_check", "ON")
        .map_err(BufferError::during("setting cell_size_check"))?;
    Ok(())
}

/// Settings for the read-only status connection.
pub(crate) fn configure_reader(conn: &Connection, busy: Duration) -> Result<(), BufferError> {
    conn.busy_timeout(busy)
        .map_err(BufferError::during("setting the busy timeout"))?;
    conn.pragma_update(None, "query_only", "ON")
        .map_err(BufferError::during("setting query_only"))?;
    Ok(())
}

/// What [`open_session`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Migration {
    /// The tables were created now (a new or empty file).
    Created,
    /// The file already held the outbox tables (possibly upgraded now).
    Current,
}

/// Who is opening the file for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The service: marks the session unclean now and clean at a clean close.
    Owner,
    /// A short-lived writer beside the service (`scout-agent enqueue`): marks the session
    /// unclean (so the service's next start checks the file) and never marks it clean.
    Guest,
}

/// Opens a writing session in one transaction: brings the file to [`SCHEMA_VERSION`] (a newer
/// version is refused, never touched), clears the clean-shutdown marker, and records the size
/// cap. One write, so a crash leaves either the old state or a session marked unclean.
pub(crate) fn open_session(
    conn: &mut Connection,
    path: &std::path::Path,
    role: Role,
    max_bytes: i64,
) -> Result<Migration, BufferError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(BufferError::during("starting the session transaction"))?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(BufferError::during("reading the schema version"))?;
    let outcome = match found {
        0 => {
            tx.execute_batch(CREATE_V1)
                .and_then(|()| tx.execute_batch(CREATE_V2))
                .map_err(BufferError::during("creating the outbox tables"))?;
            tx.execute(
                "INSERT OR IGNORE INTO counters
                 (id, last_seq, pending_count, pending_bytes, dead_count, dead_bytes, refused_total)
                 VALUES (1, 0, 0, 0, 0, 0, 0)",
                [],
            )
            .map_err(BufferError::during("creating the counters row"))?;
            Migration::Created
        }
        1 | SCHEMA_VERSION => {
            tx.execute_batch(CREATE_V2)
                .map_err(BufferError::during("creating the session table"))?;
            repair_missing_counters(&tx)?;
            Migration::Current
        }
        newer => {
            return Err(BufferError::UnsupportedSchema {
                path: path.to_path_buf(),
                found: newer,
                supported: SCHEMA_VERSION,
            });
        }
    };
    if found != SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(BufferError::during("writing the schema version"))?;
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let marker = match role {
        Role::Owner => {
            "INSERT INTO session (id, clean, opened_at_ms, closed_at_ms) VALUES (1, 0, ?1, NULL)
             ON CONFLICT (id) DO UPDATE SET clean = 0, opened_at_ms = excluded.opened_at_ms,
                                            closed_at_ms = NULL"
        }
        Role::Guest => {
            "INSERT INTO session (id, clean, opened_at_ms) VALUES (1, 0, ?1)
             ON CONFLICT (id) DO UPDATE SET clean = 0 WHERE clean != 0"
        }
    };
    tx.execute(marker, [now_ms])
        .map_err(BufferError::during("marking the session open"))?;
    tx.execute(
        "UPDATE counters SET max_bytes = ?1 WHERE id = 1 AND max_bytes IS NOT ?1",
        [max_bytes],
    )
    .map_err(BufferError::during("recording the size cap"))?;
    tx.commit()
        .map_err(BufferError::during("committing the session start"))?;
    Ok(outcome)
}

/// Marks the session closed cleanly (the service's last write before it closes the file).
pub(crate) fn mark_clean(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE session SET clean = 1, closed_at_ms = ?1 WHERE id = 1",
        [chrono::Utc::now().timestamp_millis()],
    )?;
    Ok(())
}

/// The marker as a read-only connection sees it: `None` if the file has none (a file written
/// by an older agent, or not by the agent at all).
pub(crate) fn read_marker(conn: &Connection) -> rusqlite::Result<Option<bool>> {
    let has_table: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'session'",
        [],
        |row| row.get(0),
    )?;
    if has_table == 0 {
        return Ok(None);
    }
    conn.query_row("SELECT clean FROM session WHERE id = 1", [], |row| {
        row.get::<_, i64>(0)
    })
    .optional()
    .map(|clean| clean.map(|c| c != 0))
}

/// The counters row can only be missing if someone edited the file by hand; rebuild it from a
/// full count (slow, but only in that case) rather than silently reporting zeros.
fn repair_missing_counters(tx: &Transaction<'_>) -> Result<(), BufferError> {
    let present: Option<i64> = tx
        .query_row("SELECT id FROM counters WHERE id = 1", [], |row| row.get(0))
        .optional()
        .map_err(BufferError::during("reading the counters row"))?;
    if present.is_some() {
        return Ok(());
    }
    tracing::warn!("outbox counters row missing; recounting the tables");
    tx.execute(
        "INSERT INTO counters
         (id, last_seq, pending_count, pending_bytes, dead_count, dead_bytes, refused_total)
         SELECT 1,
                max(coalesce((SELECT max(seq) FROM pending), 0),
                    coalesce((SELECT max(seq) FROM dead_letters), 0)),
                (SELECT count(*) FROM pending),
                (SELECT coalesce(sum(length(payload)), 0) FROM pending),
                (SELECT count(*) FROM dead_letters),
                (SELECT coalesce(sum(length(payload)), 0) FROM dead_letters),
                0",
        [],
    )
    .map_err(BufferError::during("rebuilding the counters row"))?;
    Ok(())
}

/// The one-row running totals, read in the same transaction that changes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub last_seq: i64,
    pub pending_count: i64,
    pub pending_bytes: i64,
    pub dead_count: i64,
    pub dead_bytes: i64,
    pub refused_total: i64,
    pub max_bytes: Option<i64>,
}

impl Counters {
    pub(crate) fn read(conn: &Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached(
            "SELECT last_seq, pending_count, pending_bytes, dead_count, dead_bytes,
                    refused_total, max_bytes
             FROM counters WHERE id = 1",
        )?
        .query_row([], |row| {
            Ok(Self {
                last_seq: row.get(0)?,
                pending_count: row.get(1)?,
                pending_bytes: row.get(2)?,
                dead_count: row.get(3)?,
                dead_bytes: row.get(4)?,
                refused_total: row.get(5)?,
                max_bytes: row.get(6)?,
            })
        })
    }

    /// Adds deltas to the stored totals (one UPDATE, inside the caller's transaction).
    pub(crate) fn apply(conn: &Connection, delta: &Delta) -> rusqlite::Result<()> {
        if delta.is_zero() {
            return Ok(());
        }
        conn.prepare_cached(
            "UPDATE counters SET
                 last_seq      = max(last_seq, ?1),
                 pending_count = pending_count + ?2,
                 pending_bytes = pending_bytes + ?3,
                 dead_count    = dead_count + ?4,
                 dead_bytes    = dead_bytes + ?5,
                 refused_total = refused_total + ?6
             WHERE id = 1",
        )?
        .execute(rusqlite::params![
            delta.last_seq,
            delta.pending_count,
            delta.pending_bytes,
            delta.dead_count,
            delta.dead_bytes,
            delta.refused,
        ])?;
        Ok(())
    }
}

/// Changes to [`Counters`] made by one transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    /// New high-water mark (0 leaves it unchanged: `max(last_seq, 0)`).
    pub last_seq: i64,
    pub pending_count: i64,
    pub pending_bytes: i64,
    pub dead_count: i64,
    pub dead_bytes: i64,
    pub refused: i64,
}

impl Delta {
    fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}
