//! The spool folder: the capture app drops transaction files into `spool_dir`; this task takes
//! them into the outbox, then removes them (or moves them into `spool_dir/archive/`).
//!
//! What enters: regular files directly in `spool_dir` named `*.json`, `*.ndjson` or `*.jsonl`
//! (dotfiles and `*.tmp` / `*.part` are the capture app's files in progress and are left
//! alone; so is everything else). What leaves: their items, through the [`OutboxHandle`].
//!
//! # Invariants
//!
//! - **A file is removed only after its items are committed.** It is deleted (or archived)
//!   after [`OutboxHandle::enqueue`] returned `Ok`. A crash in between leaves the file, which
//!   is taken again at the next start: pending ids are recognised as duplicates and the
//!   collector lands a transaction once, so the worst case is a resend, never a loss.
//! - **A half-written file is not read early.** A file is taken only when its size and
//!   modification time are unchanged across two scans (`spool_poll_ms` apart, default 1 s), and
//!   its size is checked again after reading. An empty file waits [`EMPTY_FILE_GRACE`] before
//!   it is judged. The capture app should still write `name.json.tmp` and rename it: a rename
//!   is atomic, the scans are a safety net for producers that do not.
//! - **Nothing is dropped silently.** A file with refused items has its good items enqueued
//!   and is moved to `spool_dir/rejected/` with `<name>.errors.txt` beside it listing each
//!   refused item's line or index and reason (the first [`MAX_DETAILED_REFUSALS`]; the rest are
//!   counted). A file that cannot be read as transactions at all goes there too.
//! - **A full outbox stops intake without losing files.** The file stays where it is and is
//!   retried at every scan; the refusal is logged once per episode (and once when intake
//!   resumes), not per scan. A file larger than the whole outbox cap can never fit and is
//!   rejected instead.
//! - **Polling only** (no inotify): one `read_dir` and a `stat` per candidate per interval.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use tokio::fs;

use super::{
    IntakeError, ItemError, MAX_BODY_BYTES, MAX_DETAILED_REFUSALS, Owner, Parsed, parse_body,
};
use crate::config::CheckedConfig;
use crate::outbox::{BufferError, OutboxHandle};

/// Subfolder of `spool_dir` for taken files when archiving is on.
pub const ARCHIVE_DIR: &str = "archive";
/// Subfolder of `spool_dir` for files with refused items.
pub const REJECTED_DIR: &str = "rejected";
/// How long an empty file may stay empty before it is rejected (the producer may have created
/// it and not yet written).
pub const EMPTY_FILE_GRACE: Duration = Duration::from_secs(60);

/// Whether a file name is one the spool takes (and `scout-agent enqueue DIR` reads).
pub fn is_transaction_file(name: &str) -> bool {
    if name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part") {
        return false;
    }
    [".json", ".ndjson", ".jsonl"]
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

/// What the spool task needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub poll_interval: Duration,
    /// Move taken files into `dir/archive/` instead of deleting them.
    pub archive: bool,
    /// This agent's device and store; items naming another are refused.
    pub owner: Owner,
}

/// The spool settings of the service's configuration.
impl From<&CheckedConfig> for SpoolConfig {
    fn from(config: &CheckedConfig) -> Self {
        Self {
            dir: config.spool_dir().to_path_buf(),
            poll_interval: config.spool_poll(),
            archive: config.spool_archive(),
            owner: Owner::from(config),
        }
    }
}

/// What one scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Files whose items were all taken (then removed or archived).
    pub taken: u64,
    /// Files moved to `rejected/` (some or all items refused, or unreadable as transactions).
    pub rejected: u64,
    /// Candidates new or still changing since the last scan: looked at again next time.
    pub waiting: u64,
    /// Stable files left in place because the outbox refused them (full) or is unavailable.
    pub deferred: u64,
    /// Items stored now.
    pub records: u64,
    /// Items already pending.
    pub duplicates: u64,
    /// Items refused.
    pub refused_items: u64,
}

/// Size and modification time of a candidate, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// Why intake from the spool is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocked {
    /// The outbox refused for lack of room.
    Full,
    /// The outbox failed otherwise (closed, I/O, corruption).
    Unavailable,
    /// The spool folder cannot be created or listed.
    Folder,
}

/// The spool watcher. [`SpoolWatcher::run`] polls; [`SpoolWatcher::scan`] is one pass (tests
/// drive it directly).
#[derive(Debug)]
pub struct SpoolWatcher {
    config: SpoolConfig,
    outbox: OutboxHandle,
    seen: HashMap<PathBuf, Stamp>,
    blocked: Option<Blocked>,
}

/// What became of one stable file.
enum FileResult {
    Taken {
        records: u64,
        duplicates: u64,
    },
    Rejected {
        records: u64,
        duplicates: u64,
        refused: u64,
    },
    /// Left in place for the next scan.
    Deferred,
    /// Gone, or changed while being read: looked at again next scan.
    Skipped,
}

impl SpoolWatcher {
    pub fn new(config: SpoolConfig, outbox: OutboxHandle) -> Self {
        Self {
            config,
            outbox,
            seen: HashMap::new(),
            blocked: None,
        }
    }

    /// Scans every `poll_interval` until `shutdown` completes. A scan in progress is finished
    /// first (each file is either committed and removed, or left for next time).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tracing::info!(
            dir = %self.config.dir.display(),
            poll_ms = u64::try_from(self.config.poll_interval.as_millis()).unwrap_or(u64::MAX),
            archive = self.config.archive,
            "spool intake started"
        );
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticks = tokio::time::interval(self.config.poll_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticks.tick() => {
                    self.scan().await;
                }
            }
        }
        tracing::info!(dir = %self.config.dir.display(), "spool intake stopped");
    }

    /// One pass over the folder.
    pub async fn scan(&mut self) -> ScanReport {
        let mut report = ScanReport::default();
        let ready = match self.stable_files(&mut report).await {
            Ok(ready) => {
                if self.blocked == Some(Blocked::Folder) {
                    self.unblock();
                }
                ready
            }
            Err(err) => {
                self.block(Blocked::Folder, &err.to_string());
                return report;
            }
        };
        for (path, stamp) in ready {
            match self.take(&path, stamp).await {
                FileResult::Taken {
                    records,
                    duplicates,
                } => {
                    report.taken += 1;
                    report.records += records;
                    report.duplicates += duplicates;
                    self.seen.remove(&path);
                }
                FileResult::Rejected {
                    records,
                    duplicates,
                    refused,
                } => {
                    report.rejected += 1;
                    report.records += records;
                    report.duplicates += duplicates;
                    report.refused_items += refused;
                    self.seen.remove(&path);
                }
                FileResult::Deferred => {
                    report.deferred += 1;
                    // The outbox is full or unavailable: the other files would fare no better.
                    break;
                }
                FileResult::Skipped => {}
            }
        }
        report
    }

    /// Lists the candidates and returns those unchanged since the last scan, oldest first.
    async fn stable_files(&mut self, report: &mut ScanReport) -> io::Result<Vec<(PathBuf, Stamp)>> {
        fs::create_dir_all(&self.config.dir).await?;
        let mut entries = fs::read_dir(&self.config.dir).await?;
        let mut current: HashMap<PathBuf, Stamp> = HashMap::new();
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_transaction_file(name) {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = fs::metadata(&path).await else {
                continue; // removed meanwhile
            };
            if !meta.is_file() {
                continue;
            }
            let stamp = Stamp {
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            current.insert(path, stamp);
        }
        let mut ready = Vec::new();
        for (path, stamp) in &current {
            let young_and_empty = stamp.len == 0
                && stamp
                    .modified
                    .and_then(|m| m.elapsed().ok())
                    .is_none_or(|age| age < EMPTY_FILE_GRACE);
            if self.seen.get(path) == Some(stamp) && !young_and_empty {
                ready.push((path.clone(), *stamp));
            } else {
                report.waiting += 1;
            }
        }
        self.seen = current;
        ready.sort_by(|a, b| (a.1.modified, &a.0).cmp(&(b.1.modified, &b.0)));
        Ok(ready)
    }

    /// Reads, enqueues and then removes, archives or rejects one stable file.
    async fn take(&mut self, path: &Path, stamp: Stamp) -> FileResult {
        if stamp.len > MAX_BODY_BYTES as u64 {
            let reason = IntakeError::TooLarge {
                len: usize::try_from(stamp.len).unwrap_or(usize::MAX),
            }
            .to_string();
            self.reject(path, &[], 0, Some(&reason), 0).await;
            return FileResult::Rejected {
                records: 0,
                duplicates: 0,
                refused: 0,
            };
        }
        let bytes = match fs::read(path).await {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return FileResult::Skipped,
            Err(err) => {
                tracing::warn!(file = %path.display(), error = %err, "cannot read a spool file; will retry");
                return FileResult::Skipped;
            }
        };
        if bytes.len() as u64 != stamp.len {
            tracing::debug!(file = %path.display(), "spool file changed while being read; waiting");
            self.seen.remove(path);
            return FileResult::Skipped;
        }
        let parsed = match parse_body(&bytes, &self.config.owner, Utc::now()) {
            Ok(parsed) => parsed,
            Err(err) => {
                let reason = err.to_string();
                self.reject(path, &[], 0, Some(&reason), 0).await;
                return FileResult::Rejected {
                    records: 0,
                    duplicates: 0,
                    refused: 0,
                };
            }
        };
        // The items hold their own copies: the file's bytes can go before the commit.
        drop(bytes);
        let items = parsed.items();
        let Parsed {
            accepted,
            rejected,
            rejected_omitted,
            ..
        } = parsed;
        let refused = rejected.len() as u64 + rejected_omitted;
        let records: Vec<_> = accepted.into_iter().map(|a| a.record).collect();
        let (mut stored, mut duplicates) = (0_u64, 0_u64);
        if !records.is_empty() {
            match self.outbox.enqueue(records).await {
                Ok(outcome) => {
                    duplicates = outcome.iter().filter(|e| e.duplicate).count() as u64;
                    stored = outcome.len() as u64 - duplicates;
                    if self.blocked.is_some() {
                        self.unblock();
                    }
                }
                Err(BufferError::Full {
                    new_bytes,
                    max_bytes,
                    ..
                }) if new_bytes > max_bytes => {
                    let reason = format!(
                        "the file's {new_bytes} bytes of transactions exceed the whole outbox \
                         cap of {max_bytes} bytes (max_outbox_bytes); split it"
                    );
                    self.reject(path, &rejected, rejected_omitted, Some(&reason), items)
                        .await;
                    return FileResult::Rejected {
                        records: 0,
                        duplicates: 0,
                        refused: items,
                    };
                }
                Err(err) if err.is_capacity() => {
                    self.block(Blocked::Full, &err.to_string());
                    return FileResult::Deferred;
                }
                Err(BufferError::Closed) => {
                    // The agent is shutting down: the file is taken at the next start.
                    tracing::debug!(file = %path.display(), "outbox closed; spool file left for later");
                    return FileResult::Deferred;
                }
                Err(err) => {
                    self.block(Blocked::Unavailable, &err.to_string());
                    return FileResult::Deferred;
                }
            }
        }
        if refused == 0 {
            self.done(path).await;
            tracing::debug!(file = %path.display(), stored, duplicates, "spool file taken");
            FileResult::Taken {
                records: stored,
                duplicates,
            }
        } else {
            self.reject(path, &rejected, rejected_omitted, None, items)
                .await;
            FileResult::Rejected {
                records: stored,
                duplicates,
                refused,
            }
        }
    }

    /// Removes (or archives) a file whose items are all committed.
    async fn done(&self, path: &Path) {
        let result = if self.config.archive {
            move_into(path, &self.config.dir.join(ARCHIVE_DIR))
                .await
                .map(drop)
        } else {
            fs::remove_file(path).await
        };
        match result {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            // The items are committed; if the file comes back at the next scan its ids are
            // recognised as duplicates (or the collector lands them once).
            Err(err) => tracing::warn!(
                file = %path.display(),
                archive = self.config.archive,
                error = %err,
                "spool file taken but could not be removed"
            ),
        }
    }

    /// Moves a file to `rejected/` with an `.errors.txt` beside it, listing `errors` (the first
    /// refusals) and counting the `omitted` ones after them.
    async fn reject(
        &self,
        path: &Path,
        errors: &[ItemError],
        omitted: u64,
        whole: Option<&str>,
        items: u64,
    ) {
        let name = file_name(path);
        let refused = if whole.is_some() {
            items
        } else {
            errors.len() as u64 + omitted
        };
        let mut text = format!(
            "scout-agent refused {refused} of {items} transaction(s) in {name} at {}\n",
            Utc::now().to_rfc3339(),
        );
        if let Some(reason) = whole {
            text.push_str(&format!("whole file: {reason}\n"));
        } else {
            text.push_str(&format!(
                "the other {} were taken into the outbox\n",
                items - refused
            ));
        }
        for err in errors {
            text.push_str(&format!("{err}\n"));
        }
        if omitted > 0 {
            text.push_str(&format!(
                "… and {omitted} more refused item(s), not listed (only the first \
                 {MAX_DETAILED_REFUSALS} are)\n"
            ));
        }
        let dir = self.config.dir.join(REJECTED_DIR);
        let moved = move_into(path, &dir).await;
        let errors_file = match &moved {
            Ok(target) => PathBuf::from(format!("{}.errors.txt", target.display())),
            Err(_) => dir.join(format!("{name}.errors.txt")),
        };
        if let Err(err) = fs::write(&errors_file, text).await {
            tracing::warn!(file = %errors_file.display(), error = %err, "could not write the error list");
        }
        match moved {
            Ok(target) => tracing::warn!(
                file = %path.display(),
                moved_to = %target.display(),
                refused,
                items,
                reason = whole.unwrap_or("some items refused"),
                "spool file rejected"
            ),
            Err(err) => tracing::error!(
                file = %path.display(),
                error = %err,
                "spool file rejected but could not be moved; it will be read again"
            ),
        }
    }

    fn block(&mut self, why: Blocked, detail: &str) {
        if self.blocked == Some(why) {
            return;
        }
        self.blocked = Some(why);
        match why {
            Blocked::Full => tracing::warn!(
                dir = %self.config.dir.display(),
                error = %detail,
                "spool intake paused: the outbox is full; files stay in the spool and are taken \
                 as the backlog drains"
            ),
            Blocked::Unavailable => tracing::warn!(
                dir = %self.config.dir.display(),
                error = %detail,
                "spool intake paused: the outbox refused; will retry"
            ),
            Blocked::Folder => tracing::error!(
                dir = %self.config.dir.display(),
                error = %detail,
                "cannot read the spool folder; will retry"
            ),
        }
    }

    fn unblock(&mut self) {
        if let Some(was) = self.blocked.take() {
            tracing::info!(dir = %self.config.dir.display(), after = ?was, "spool intake resumed");
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Moves `path` into `dir` (created if needed) under its own name, or `stem-N.ext` if that is
/// taken. Returns the new path.
async fn move_into(path: &Path, dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(dir).await?;
    let name = file_name(path);
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name.as_str(), ""),
    };
    let mut target = dir.join(&name);
    let mut n = 1;
    while fs::try_exists(&target).await.unwrap_or(false) {
        target = dir.join(format!("{stem}-{n}{ext}"));
        n += 1;
    }
    fs::rename(path, &target).await?;
    Ok(target)
}
