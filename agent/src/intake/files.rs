//! `scout-agent enqueue FILE|DIR|-`: reads files, a directory's transaction files or stdin and
//! writes them straight into the outbox file, beside a service that may be running.
//!
//! The outbox is opened as a guest ([`OnCorruption::Fail`]): a damaged file is reported, never
//! renamed (only the service quarantines), and writes take turns with the service through
//! SQLite's lock and busy timeout. Files are committed in groups (up to 1,024 records or 4 MiB
//! per transaction); each file is all or nothing on its own, so a file refused by the cap does
//! not hold back the others. A directory contributes its `*.json`, `*.ndjson` and `*.jsonl`
//! files (no dotfiles, no `*.tmp`/`*.part`, no subdirectories), by name; a file named
//! explicitly is read whatever its name.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::spool::is_transaction_file;
use super::{ItemError, MAX_BODY_BYTES, MAX_DETAILED_REFUSALS, Owner, parse_body};
use crate::config::AgentConfig;
use crate::outbox::{
    BufferError, DEFAULT_BUSY_TIMEOUT, GroupLimits, NewRecord, OnCorruption, Outbox, OutboxConfig,
};

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// The path as given (or found in a directory), `-` for stdin.
    pub source: String,
    /// Items stored now.
    pub accepted: u64,
    /// Items whose transaction id was already pending.
    pub duplicates: u64,
    /// The first [`MAX_DETAILED_REFUSALS`] refused items, with their line or index.
    pub rejected: Vec<ItemError>,
    /// Refused items after those, counted only.
    pub rejected_omitted: u64,
    /// Why nothing of this input was taken (unreadable, empty, outbox full …).
    pub failure: Option<String>,
}

impl FileOutcome {
    fn new(source: String) -> Self {
        Self {
            source,
            accepted: 0,
            duplicates: 0,
            rejected: Vec::new(),
            rejected_omitted: 0,
            failure: None,
        }
    }

    /// Items refused, detailed or not.
    pub fn refused(&self) -> u64 {
        self.rejected.len() as u64 + self.rejected_omitted
    }

    fn print(&self, out: &mut dyn Write) {
        // Output is a courtesy: a closed stdout must not stop the enqueueing.
        if let Some(failure) = &self.failure {
            let _ = writeln!(out, "{}: not enqueued: {failure}", self.source);
        } else {
            let _ = writeln!(
                out,
                "{}: {} enqueued, {} already queued, {} refused",
                self.source,
                self.accepted,
                self.duplicates,
                self.refused()
            );
        }
        for err in &self.rejected {
            let _ = writeln!(out, "  {err}");
        }
        if self.rejected_omitted > 0 {
            let _ = writeln!(
                out,
                "  … and {} more refused, not listed (only the first {MAX_DETAILED_REFUSALS} are)",
                self.rejected_omitted
            );
        }
    }
}

/// Everything [`enqueue_paths`] did, per input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueSummary {
    pub files: Vec<FileOutcome>,
}

impl EnqueueSummary {
    pub fn accepted(&self) -> u64 {
        self.files.iter().map(|f| f.accepted).sum()
    }

    pub fn duplicates(&self) -> u64 {
        self.files.iter().map(|f| f.duplicates).sum()
    }

    pub fn rejected_items(&self) -> u64 {
        self.files.iter().map(FileOutcome::refused).sum()
    }

    pub fn failed_files(&self) -> u64 {
        self.files.iter().filter(|f| f.failure.is_some()).count() as u64
    }

    /// True when every item of every input was taken (stored or already queued): the CLI
    /// exits 0 only then.
    pub fn all_taken(&self) -> bool {
        self.rejected_items() == 0 && self.failed_files() == 0
    }
}

/// Opens the configured outbox as a guest beside the service (see the module documentation).
pub fn open_outbox_for_enqueue(config: &AgentConfig) -> Result<Outbox, BufferError> {
    let (outbox, _) = Outbox::open(
        &config.outbox_path,
        OutboxConfig {
            max_bytes: config.max_outbox_bytes,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            on_corruption: OnCorruption::Fail,
        },
    )?;
    Ok(outbox)
}

/// Enqueues every input (`-` is `stdin`, a directory is its transaction files), printing one
/// line per input, its refused items, and a total to `out`.
pub fn enqueue_paths(
    outbox: &mut Outbox,
    owner: &Owner,
    inputs: &[PathBuf],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> EnqueueSummary {
    let limits = GroupLimits::default();
    let mut summary = EnqueueSummary::default();
    let mut batch = Batch::default();
    let mut printed = 0;
    for source in expand(inputs, &mut summary) {
        let mut outcome = FileOutcome::new(source.name());
        match source.read(stdin) {
            Err(failure) => outcome.failure = Some(failure),
            Ok(bytes) => {
                let parsed = parse_body(&bytes, owner, Utc::now());
                // The items hold their own copies.
                drop(bytes);
                match parsed {
                    Err(err) => outcome.failure = Some(err.to_string()),
                    Ok(parsed) => {
                        outcome.rejected = parsed.rejected;
                        outcome.rejected_omitted = parsed.rejected_omitted;
                        let records: Vec<NewRecord> =
                            parsed.accepted.into_iter().map(|a| a.record).collect();
                        if !records.is_empty() {
                            batch.add(summary.files.len(), records);
                        }
                    }
                }
            }
        }
        summary.files.push(outcome);
        if batch.records >= limits.max_records || batch.bytes >= limits.max_bytes {
            batch.commit(outbox, &mut summary);
            printed = print_from(&summary, printed, out);
        }
    }
    batch.commit(outbox, &mut summary);
    print_from(&summary, printed, out);
    let _ = writeln!(
        out,
        "total: {} enqueued, {} already queued, {} refused, {} input(s) not taken",
        summary.accepted(),
        summary.duplicates(),
        summary.rejected_items(),
        summary.failed_files()
    );
    summary
}

fn print_from(summary: &EnqueueSummary, from: usize, out: &mut dyn Write) -> usize {
    for outcome in &summary.files[from..] {
        outcome.print(out);
    }
    summary.files.len()
}

/// Files waiting for one group commit.
#[derive(Debug, Default)]
struct Batch {
    /// Index into `summary.files`, and the file's records.
    groups: Vec<(usize, Vec<NewRecord>)>,
    records: usize,
    bytes: u64,
}

impl Batch {
    fn add(&mut self, index: usize, records: Vec<NewRecord>) {
        self.records += records.len();
        self.bytes += records.iter().map(|r| r.payload.len() as u64).sum::<u64>();
        self.groups.push((index, records));
    }

    fn commit(&mut self, outbox: &mut Outbox, summary: &mut EnqueueSummary) {
        let groups = std::mem::take(&mut self.groups);
        self.records = 0;
        self.bytes = 0;
        if groups.is_empty() {
            return;
        }
        let records: Vec<&[NewRecord]> = groups.iter().map(|(_, r)| r.as_slice()).collect();
        match outbox.enqueue_groups(&records) {
            Ok(results) => {
                for ((index, _), result) in groups.iter().zip(results) {
                    let outcome = &mut summary.files[*index];
                    match result {
                        Ok(enqueued) => {
                            let duplicates = enqueued.iter().filter(|e| e.duplicate).count();
                            outcome.duplicates = duplicates as u64;
                            outcome.accepted = (enqueued.len() - duplicates) as u64;
                        }
                        Err(err) => outcome.failure = Some(err.to_string()),
                    }
                }
            }
            Err(err) => {
                tracing::warn!(files = groups.len(), error = %err, "enqueue transaction failed");
                for (index, _) in &groups {
                    summary.files[*index].failure = Some(err.to_string());
                }
            }
        }
    }
}

/// One input to read.
#[derive(Debug)]
enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Self::Stdin => "-".into(),
            Self::File(path) => path.display().to_string(),
        }
    }

    fn read(&self, stdin: &mut dyn Read) -> Result<Vec<u8>, String> {
        let limit = MAX_BODY_BYTES as u64 + 1;
        let mut bytes = Vec::new();
        let read = match self {
            Self::Stdin => stdin.take(limit).read_to_end(&mut bytes),
            Self::File(path) => fs::File::open(path).and_then(|f| {
                // Sized up front: growing by doubling would reserve up to twice the file.
                let len = f.metadata().map_or(0, |m| m.len()).min(limit);
                bytes.reserve_exact(usize::try_from(len).unwrap_or(0));
                f.take(limit).read_to_end(&mut bytes)
            }),
        };
        match read {
            Ok(_) if bytes.len() > MAX_BODY_BYTES => {
                Err(format!("larger than the limit of {MAX_BODY_BYTES} bytes"))
            }
            Ok(_) => Ok(bytes),
            Err(err) => Err(format!("cannot read: {err}")),
        }
    }
}

/// The inputs as sources, directories expanded; inputs that cannot be listed become failed
/// outcomes in `summary` right away.
fn expand(inputs: &[PathBuf], summary: &mut EnqueueSummary) -> Vec<Source> {
    let mut sources = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            sources.push(Source::Stdin);
        } else if input.is_dir() {
            match list_dir(input) {
                Ok(files) => sources.extend(files.into_iter().map(Source::File)),
                Err(err) => {
                    let mut outcome = FileOutcome::new(input.display().to_string());
                    outcome.failure = Some(format!("cannot list the directory: {err}"));
                    summary.files.push(outcome);
                }
            }
        } else {
            sources.push(Source::File(input.clone()));
        }
    }
    sources
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_transaction_file(name) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}
