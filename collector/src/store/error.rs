//! Whose fault a database error is: the one place that decides, for every store method, and
//! what a caller with no client to retry for it does about a transient one
//! ([`retry_transient`]).

use std::time::{Duration, Instant};

/// A failed database operation, sorted by what the caller should do about it.
///
/// Every `sqlx::Error` becomes a `StoreError` through one `From` impl ([`fault`] decides), so
/// each store method classifies the same way:
/// - [`StoreError::Unavailable`]: the database could not do it *now* (connection refused, lost
///   or terminated, pool exhausted, database shutting down or not accepting connections, locked,
///   out of disk or memory, a serialization conflict). Retry the same work later; nothing about
///   the data is wrong. Ingest answers 503 with `Retry-After`.
/// - [`StoreError::Refused`]: the database refused the data itself (a value out of range, too
///   long for an index, invalid text, a constraint). The same data fails again; only this may
///   become a final per-line rejection.
/// - [`StoreError::Database`]: anything else (a bug, a schema that does not match, a corrupt
///   file): neither retrying soon nor blaming the data is right. Ingest answers a bare 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("database is busy or unreachable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database refused the data: {0}")]
    Refused(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the caller should retry the same work later (see [`StoreError`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Whether the data itself was refused, so retrying it cannot help (see [`StoreError`]).
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match fault(&e) {
            Fault::Transient => Self::Unavailable(e),
            Fault::Data => Self::Refused(e),
            Fault::Other => Self::Database(e),
        }
    }
}

/// Whose fault a database error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The database or the way to it, for now.
    Transient,
    /// The data sent.
    Data,
    /// Neither: a bug, a schema mismatch, corruption.
    Other,
}

/// The one place that decides whose fault a database error is.
pub fn fault(e: &sqlx::Error) -> Fault {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Fault::Transient,
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if code.len() == 5 => postgres_fault(&code),
            Some(code) => code.parse::<i32>().map_or(Fault::Other, sqlite_fault),
            None => Fault::Other,
        },
        _ => Fault::Other,
    }
}

/// PostgreSQL SQLSTATE classes (Appendix A of its manual).
fn postgres_fault(code: &str) -> Fault {
    match &code[..2] {
        // Connection exception; transaction rollback (serialization failure, deadlock);
        // insufficient resources (disk full, out of memory, too many connections); object not
        // in prerequisite state (55000: the database is not accepting connections; 55P03: lock
        // not available); operator intervention (57P01 terminated by an administrator, 57P03
        // cannot connect now, 57014 cancelled); system error (I/O).
        "08" | "40" | "53" | "55" | "57" | "58" => Fault::Transient,
        // A read-only transaction: the server is a standby (a failover in progress).
        "25" if code == "25006" => Fault::Transient,
        // Data exception (out of range, invalid text, untranslatable character); integrity
        // constraint; program limit exceeded (an index row too large).
        "22" | "23" | "54" => Fault::Data,
        _ => Fault::Other,
    }
}

/// SQLite result codes (primary code in the low byte of an extended one).
fn sqlite_fault(code: i32) -> Fault {
    match code & 0xff {
        // PERM, BUSY, LOCKED, NOMEM, READONLY (a file system remounted read-only), INTERRUPT,
        // IOERR, FULL (disk full), CANTOPEN, PROTOCOL.
        3 | 5 | 6 | 7 | 8 | 9 | 10 | 13 | 14 | 15 => Fault::Transient,
        // TOOBIG, CONSTRAINT, MISMATCH, RANGE.
        18 | 19 | 20 | 25 => Fault::Data,
        _ => Fault::Other,
    }
}

/// Runs `write` again, after pauses growing from 250 ms to 10 s, while it fails for a transient
/// reason ([`StoreError::is_transient`]) and `patience` lasts; then returns what it last did.
/// Only for writes that are whole or nothing and safe to repeat.
pub async fn retry_transient<T, F, Fut>(patience: Duration, mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        match write().await {
            Err(e) if e.is_transient() && started.elapsed() + pause < patience => {
                tracing::warn!(error = %e, ?pause, "the database is busy or away; waiting to retry");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
            done => return done,
        }
    }
}
