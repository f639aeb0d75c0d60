//! `OutboxReader`: read access to the outbox as a type of its own, so a status view has no write
//! method to call; and the one place where every operation's error is watched for corruption.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::BufferError;
#[cfg(doc)]
use super::Outbox;

/// Read access to the outbox, and nothing else: stats, the audit, peeking, dead letters and
/// their export, agent state. [`Outbox::open_read_only`] makes one on a `query_only` connection,
/// for `scout-agent status` and `dead-letters` beside a running service; an [`Outbox`] derefs to
/// its own. It has no write method to call (invariant 12; the `compile_fail` doctests of
/// `ReaderCannotWrite` below hold it to that).
///
/// ```no_run
/// # fn show(path: &std::path::Path) -> Result<(), scout_agent::outbox::BufferError> {
/// let reader = scout_agent::outbox::Outbox::open_read_only(path)?;
/// println!("{} pending", reader.stats()?.pending_count);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct OutboxReader {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    /// An operation met SQLITE_CORRUPT/NOTADB: the session stays marked unclean (invariant 9).
    pub(super) corruption_seen: Cell<bool>,
    /// Refusals the writer owning this connection counted but has not written yet (invariant
    /// 8); always 0 for a reader alone. [`OutboxReader::stats`] includes them.
    pub(super) unflushed_refusals: u64,
}

/// The writes [`OutboxReader`] does not have; each block must fail to compile (invariant 12).
///
/// ```compile_fail,E0599
/// # fn write(reader: scout_agent::outbox::OutboxReader, record: scout_agent::outbox::NewRecord) {
/// let _ = reader.enqueue_batch(&[record]);
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn write(reader: scout_agent::outbox::OutboxReader) {
/// let _ = reader.ack(&[1]);
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn write(reader: scout_agent::outbox::OutboxReader) {
/// let _ = reader.set_state("k", Some("v"));
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn write(reader: scout_agent::outbox::OutboxReader) {
/// let _ = reader.purge_dead_letters(1);
/// # }
/// ```
#[cfg(doctest)]
struct ReaderCannotWrite;

impl OutboxReader {
    pub(super) fn new(conn: Connection, path: PathBuf) -> Self {
        Self {
            conn,
            path,
            corruption_seen: Cell::new(false),
            unflushed_refusals: 0,
        }
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once an operation of this session met corruption (see [`BufferError::is_corruption`]).
    pub fn corruption_seen(&self) -> bool {
        self.corruption_seen.get()
    }

    /// Runs one operation and notes a corruption error on its way out, so [`Outbox::close`]
    /// leaves the session marked unclean and the next start runs the full check (invariant 9).
    /// Every operation on an open outbox goes through here (writes through
    /// `Outbox::observed_mut`).
    pub(super) fn observed<T>(
        &self,
        op: impl FnOnce() -> Result<T, BufferError>,
    ) -> Result<T, BufferError> {
        let result = op();
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
}
