//! The watched inbox (`serve --inbox DIR`): sales files dropped into a folder — by a back office,
//! or by a sync tool such as rclone mirroring a Drive folder — are imported as
//! `scout-collector import` imports them ([`crate::import`]) and moved out of the way:
//!
//! - `DIR/done/NAME` when it landed (or its content had landed before);
//! - `DIR/review/NAME` with `NAME.review.json` (the report and proposed mapping) when its
//!   mapping needs an operator (nothing landed; the staging row keeps the proposal);
//! - `DIR/failed/NAME` with `NAME.error.txt` (the reason, then the report) when it could not be
//!   read.
//!
//! **Polling, not change notifications:** every `poll` the folder is listed, and a file is taken
//! once its size and modification time are the same as at the previous look. Notifications do
//! not reach a process on network and FUSE-mounted folders (rclone mount, SMB, NFS), and a
//! notification says a file was touched, not that its writer is done; a look every 2 s costs a
//! directory listing and answers both.
//!
//! **Ignored:** hidden names (`.NAME`, where rclone and most tools write partial files),
//! temporary names (`*.partial`, `*.part`, `*.tmp`, `*.crdownload`, `*.download`), Excel's lock
//! files (`~$NAME`), the inbox's own folders and anything that is not a regular file.
//!
//! **Restart-safe:** a file found at start-up is taken like a new one. A file is moved only
//! after its import finished, so a crash mid-import leaves it in the inbox to be imported again,
//! and the content hash and bronze's key make that land nothing twice. When the database fails,
//! the file stays where it is and is tried again at the next look.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tracing::{info, warn};

use crate::import::{self, ImportOptions, ImportReport};
use crate::store::Store;

/// Where files go after their import.
pub const DONE: &str = "done";
pub const REVIEW: &str = "review";
pub const FAILED: &str = "failed";

/// Name endings of files still being written by some tool.
const TEMPORARY_ENDINGS: [&str; 5] = [".partial", ".part", ".tmp", ".crdownload", ".download"];

/// Whether the inbox leaves a file of this name alone.
pub fn ignored(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with("~$")
        || TEMPORARY_ENDINGS.iter().any(|end| lower.ends_with(end))
}

/// A file's size and modification time at one look.
type Seen = (u64, Option<SystemTime>);

/// Creates the inbox's folders (`serve` calls it before serving, so a wrong path stops it).
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    for sub in [DONE, REVIEW, FAILED] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    Ok(())
}

/// Watches `dir` (see [`prepare`]) until `stop` completes. Errors listing the folder are logged
/// and retried.
pub async fn watch(
    store: Store,
    dir: PathBuf,
    poll: Duration,
    wake: Arc<Notify>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    info!(inbox = %dir.display(), "watching the inbox for files");
    tokio::pin!(stop);
    let mut previous: HashMap<PathBuf, Seen> = HashMap::new();
    loop {
        let listed = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || list(&dir)).await?
        };
        match listed {
            Ok(now) => {
                for (path, seen) in &now {
                    if previous.get(path) == Some(seen) {
                        take(&store, &dir, path, &wake).await;
                    }
                }
                previous = now;
            }
            Err(e) => warn!(inbox = %dir.display(), error = %e, "cannot list the inbox"),
        }
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// The inbox's candidate files with their size and modification time.
fn list(dir: &Path) -> std::io::Result<HashMap<PathBuf, Seen>> {
    let mut found = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(meta) = entry.metadata() else { continue };
        let name = entry.file_name();
        if !meta.is_file() || name.to_str().is_none_or(ignored) {
            continue;
        }
        found.insert(entry.path(), (meta.len(), meta.modified().ok()));
    }
    Ok(found)
}

/// Imports one settled file and moves it where its outcome says.
async fn take(store: &Store, dir: &Path, path: &Path, wake: &Notify) {
    if !path.exists() {
        return; // Taken away since the look.
    }
    let report = match import::import_file(store, path, &ImportOptions::default()).await {
        Ok(report) => report,
        Err(e) => {
            warn!(file = %path.display(), error = %e,
                "the database failed importing an inbox file; it stays for the next look");
            return;
        }
    };
    if report.inserted > 0 {
        wake.notify_one();
    }
    info!(file = %path.display(), status = report.status, inserted = report.inserted,
        "inbox file imported");
    let moved = tokio::task::spawn_blocking({
        let (dir, path) = (dir.to_path_buf(), path.to_path_buf());
        move || file_away(&dir, &path, &report)
    })
    .await;
    match moved {
        Ok(Ok(to)) => info!(file = %path.display(), to = %to.display(), "inbox file moved"),
        Ok(Err(e)) => warn!(file = %path.display(), error = %e, "cannot move an inbox file"),
        Err(e) => warn!(file = %path.display(), error = %e, "moving an inbox file failed"),
    }
}

/// Moves the file to `done/`, `review/` or `failed/` (never over another file: a name taken
/// there gets a numbered one) and writes its note beside it. Returns where it went.
fn file_away(dir: &Path, path: &Path, report: &ImportReport) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let (sub, note) = match report.status {
        "needs_review" => (REVIEW, Some("review.json")),
        "failed" => (FAILED, Some("error.txt")),
        _ => (DONE, None),
    };
    let target = free_name(&dir.join(sub), &name);
    std::fs::rename(path, &target)?;
    if let Some(ending) = note {
        let json = serde_json::to_string_pretty(report).unwrap_or_default();
        let text = if ending == "error.txt" {
            format!(
                "{name}: {}\n\n{json}\n",
                report.error.as_deref().unwrap_or("the import failed")
            )
        } else {
            json
        };
        let note_name = format!(
            "{}.{ending}",
            target.file_name().unwrap_or_default().to_string_lossy()
        );
        std::fs::write(dir.join(sub).join(note_name), text)?;
    }
    Ok(target)
}

/// `folder/name`, or `folder/name.1`, `.2`… when that is taken.
fn free_name(folder: &Path, name: &str) -> PathBuf {
    let first = folder.join(name);
    if !first.exists() {
        return first;
    }
    (1_u32..)
        .map(|n| folder.join(format!("{name}.{n}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_and_hidden_names_are_ignored() {
        for name in [
            ".sales.csv.x7Yq.partial",
            "sales.csv.partial",
            "report.xlsx.tmp",
            "~$branch_report.xlsx",
            ".DS_Store",
            "export.csv.crdownload",
            "SALES.CSV.PART",
        ] {
            assert!(ignored(name), "{name}");
        }
        for name in [
            "sales.csv",
            "branch report.xlsx",
            "orders.json",
            "tmp_sales.csv",
        ] {
            assert!(!ignored(name), "{name}");
        }
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_name(dir.path(), "a.csv"), dir.path().join("a.csv"));
        std::fs::write(dir.path().join("a.csv"), "x").unwrap();
        assert_eq!(free_name(dir.path(), "a.csv"), dir.path().join("a.csv.1"));
    }
}
