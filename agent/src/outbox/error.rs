//! `BufferError`: everything the outbox can refuse or fail at, worded for the log a technician reads.

use std::io;
use std::path::PathBuf;

use rusqlite::ErrorCode;

/// Why an outbox operation did not happen. Every variant leaves the outbox as it was before the
/// call (a failed write is rolled back whole).
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// The size cap would be exceeded: the whole batch was refused, nothing was stored, and the
    /// refusal was counted. Intake resumes by itself once acknowledged rows are deleted.
    #[error(
        "outbox full: refusing {new_records} new transaction(s) ({new_bytes} bytes); \
         {pending_bytes} bytes pending + {dead_letter_bytes} bytes in dead letters \
         would exceed the cap of {max_bytes} bytes (max_outbox_bytes); \
         intake resumes as the backlog drains"
    )]
    Full {
        new_records: u64,
        new_bytes: u64,
        pending_bytes: u64,
        dead_letter_bytes: u64,
        max_bytes: u64,
    },

    /// The filesystem itself is full (SQLITE_FULL), before the configured cap was reached.
    #[error("disk full while {op} in the outbox; nothing was stored (free space on the device)")]
    DiskFull {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    /// SQLite reported corruption (SQLITE_CORRUPT, SQLITE_NOTADB) while running. The session
    /// is not marked clean at close, so the next start runs the full check, which quarantines
    /// the file ([`BufferError::is_corruption`]).
    #[error("outbox database is corrupt ({op}): {source}; restart the agent to quarantine it")]
    Corrupt {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    /// A value read back from the database makes no sense (e.g. a timestamp out of range).
    #[error("outbox row seq {seq} holds an impossible value: {detail}")]
    BadRow { seq: i64, detail: String },

    /// A record handed to `enqueue_batch` breaks the outbox's rules; the batch was not stored.
    #[error("record {index} of the batch (transaction {transaction_id:?}) is invalid: {reason}")]
    InvalidRecord {
        index: usize,
        transaction_id: String,
        reason: &'static str,
    },

    /// `open_read_only` found no database at the path.
    #[error("no outbox at {}: the agent has not run yet, or outbox_path points elsewhere", path.display())]
    NotFound { path: PathBuf },

    /// The file was written by a newer agent; it is left untouched.
    #[error(
        "outbox {} has schema version {found}; this agent understands up to {supported} \
         (was the agent downgraded?)",
        path.display()
    )]
    UnsupportedSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// The database is a SQLite file but not an outbox (tables missing) and was opened read-only.
    #[error("{} is not a Scout outbox: {detail}", path.display())]
    NotAnOutbox { path: PathBuf, detail: String },

    /// A corrupt database could not be renamed aside, so no fresh one was created over it.
    #[error("outbox {} is corrupt and could not be renamed aside: {source}", path.display())]
    Quarantine {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file failed its integrity check and the caller asked not to quarantine it.
    #[error("outbox {} is corrupt ({detail}); the agent service quarantines it when it starts", path.display())]
    CorruptFile { path: PathBuf, detail: String },

    /// The corrupt file was renamed aside, but the fresh database is unusable as well, which
    /// points at the storage rather than the file. Stops instead of looping.
    #[error(
        "outbox {} was quarantined, but the fresh database failed its check too: {detail}; \
         check the SD card",
        path.display()
    )]
    StorageSuspect { path: PathBuf, detail: String },

    /// Creating the outbox's directory failed.
    #[error("failed to create the outbox directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The outbox file could not be inspected.
    #[error("cannot inspect the outbox file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Writing the dead-letter export failed.
    #[error("failed to write the dead-letter export: {0}")]
    Export(#[source] io::Error),

    /// The outbox actor has stopped ([`crate::outbox::OutboxHandle::close`] was called, or its
    /// thread ended); nothing was done.
    #[error("the outbox is closed (the agent is shutting down)")]
    Closed,

    /// [`crate::outbox::Outbox::open_interruptible`] was stopped by its
    /// [`crate::outbox::Interrupt`] before the outbox opened (SQLITE_INTERRUPT reads as this
    /// too). Only steps the next open does again were cut short.
    #[error("opening the outbox was stopped before it finished (the agent is shutting down)")]
    Interrupted,

    /// Any other SQLite failure (locked beyond the busy timeout, permissions, I/O error).
    #[error("outbox SQLite error while {op}: {source}")]
    Sqlite {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

impl BufferError {
    /// Classifies a SQLite error raised while doing `op`.
    pub(crate) fn sqlite(op: &'static str, source: rusqlite::Error) -> Self {
        match source.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Self::DiskFull { op, source },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Self::Corrupt { op, source }
            }
            Some(ErrorCode::OperationInterrupted) => Self::Interrupted,
            _ => Self::Sqlite { op, source },
        }
    }

    /// A closure for `map_err` that classifies SQLite errors raised while doing `op`.
    pub(crate) fn during(op: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::sqlite(op, source)
    }

    /// True for refusals the caller should report as "try again later" (HTTP 507/503), as
    /// opposed to faults in the agent or its storage.
    pub fn is_capacity(&self) -> bool {
        matches!(self, Self::Full { .. } | Self::DiskFull { .. })
    }

    /// True when the outbox file (or the storage under it) is damaged. The service should stop
    /// and restart: the session was left marked unclean, so the next start runs the full
    /// integrity check and quarantines the file.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Self::Corrupt { .. } | Self::CorruptFile { .. } | Self::StorageSuspect { .. }
        )
    }

    /// A copy of this error for another caller (a failed group commit fails every request in
    /// the group with the same error). SQLite errors keep their code, so [`Self::is_capacity`]
    /// and [`Self::is_corruption`] answer the same; I/O errors keep their kind and message.
    pub(crate) fn replicate(&self) -> Self {
        match self {
            Self::Full {
                new_records,
                new_bytes,
                pending_bytes,
                dead_letter_bytes,
                max_bytes,
            } => Self::Full {
                new_records: *new_records,
                new_bytes: *new_bytes,
                pending_bytes: *pending_bytes,
                dead_letter_bytes: *dead_letter_bytes,
                max_bytes: *max_bytes,
            },
            Self::DiskFull { op, source } => Self::DiskFull {
                op,
                source: replicate_sqlite(source),
            },
            Self::Corrupt { op, source } => Self::Corrupt {
                op,
                source: replicate_sqlite(source),
            },
            Self::BadRow { seq, detail } => Self::BadRow {
                seq: *seq,
                detail: detail.clone(),
            },
            Self::InvalidRecord {
                index,
                transaction_id,
                reason,
            } => Self::InvalidRecord {
                index: *index,
                transaction_id: transaction_id.clone(),
                reason,
            },
            Self::NotFound { path } => Self::NotFound { path: path.clone() },
            Self::UnsupportedSchema {
                path,
                found,
                supported,
            } => Self::UnsupportedSchema {
                path: path.clone(),
                found: *found,
                supported: *supported,
            },
            Self::NotAnOutbox { path, detail } => Self::NotAnOutbox {
                path: path.clone(),
                detail: detail.clone(),
            },
            Self::Quarantine { path, source } => Self::Quarantine {
                path: path.clone(),
                source: replicate_io(source),
            },
            Self::CorruptFile { path, detail } => Self::CorruptFile {
                path: path.clone(),
                detail: detail.clone(),
            },
            Self::StorageSuspect { path, detail } => Self::StorageSuspect {
                path: path.clone(),
                detail: detail.clone(),
            },
            Self::CreateDir { path, source } => Self::CreateDir {
                path: path.clone(),
                source: replicate_io(source),
            },
            Self::Io { path, source } => Self::Io {
                path: path.clone(),
                source: replicate_io(source),
            },
            Self::Export(source) => Self::Export(replicate_io(source)),
            Self::Closed => Self::Closed,
            Self::Interrupted => Self::Interrupted,
            Self::Sqlite { op, source } => Self::Sqlite {
                op,
                source: replicate_sqlite(source),
            },
        }
    }
}

fn replicate_sqlite(err: &rusqlite::Error) -> rusqlite::Error {
    match err {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

fn replicate_io(err: &io::Error) -> io::Error {
    io::Error::new(err.kind(), err.to_string())
}

/// True when a SQLite error means "this file is damaged or not a database".
pub(crate) fn is_corruption(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}
