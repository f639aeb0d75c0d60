//! The start-up check, run before a writer opens the file: cheap checks always (the header,
//! the schema version), `PRAGMA quick_check` when the service finds the previous session did
//! not close cleanly; all through a read-only connection, so that a damaged file is kept as
//! found. Another connection's lock is waited out here, in slices, and a raised [`Interrupt`]
//! stops the check at any statement.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::error::{BufferError, is_corruption};
use super::interrupt::Interrupt;
use super::schema::{SCHEMA_VERSION, read_marker};
use super::{QuickCheckReason, StartupCheck};

/// How many problems `quick_check` lists before it stops.
const MAX_REPORTED_PROBLEMS: i64 = 10;

/// How often the start-up check looks again at a lock another connection holds.
const LOCK_POLL: Duration = Duration::from_millis(20);

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
