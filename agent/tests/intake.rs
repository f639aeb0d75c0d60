//! Intake on real folders: the spool watcher (stable-file rule, remove/archive after the
//! commit, rejected files with their error list, a full outbox), `scout-agent enqueue`'s
//! file reader, and `submit` through the outbox actor; and the real `scout-agent run` process
//! taking 16 MiB bodies of junk in bounded memory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "support/offline.rs"]
mod offline;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use scout_agent::config::AgentConfig;
use scout_agent::intake::spool::{ScanReport, SpoolConfig, SpoolWatcher};
use scout_agent::intake::{
    self, BodyFormat, ItemErrorKind, Owner, Position, enqueue_paths, open_outbox_for_enqueue,
    parse_body,
};
use scout_agent::outbox::{BufferError, Outbox, OutboxConfig, OutboxHandle};
use scout_common::DeviceId;
use tempfile::TempDir;

const MB: u64 = 1024 * 1024;

/// This agent: device SCOUTPI-0004 of store 104.
fn owner() -> Owner {
    Owner::new(DeviceId::parse("SCOUTPI-0004").unwrap(), "104")
}

/// A realistic transaction of about `len` bytes.
fn tx(id: &str, len: usize) -> String {
    let mut text = format!(
        "{{\"transactionId\":\"{id}\",\"storeId\":\"104\",\"deviceId\":\"SCOUTPI-0004\",\
         \"timestamp\":\"\",\"items\":[{{\"brandName\":\"Safeguard\",\"quantity\":1,\
         \"unitPrice\":48.5}}],\"transactionContext\":{{\"audioTranscript\":\""
    );
    while text.len() + 3 < len {
        text.push('x');
    }
    text.push_str("\"}}");
    text
}

struct Spool {
    dir: TempDir,
    handle: OutboxHandle,
    watcher: SpoolWatcher,
}

impl Spool {
    fn new(max_bytes: u64, archive: bool) -> Self {
        let dir = TempDir::new().unwrap();
        let (outbox, _) =
            Outbox::open(dir.path().join("outbox.db"), OutboxConfig::new(max_bytes)).unwrap();
        let handle = OutboxHandle::spawn(outbox);
        let config = SpoolConfig {
            dir: dir.path().join("spool"),
            poll_interval: Duration::from_millis(50),
            archive,
            owner: owner(),
        };
        let watcher = SpoolWatcher::new(config, handle.clone());
        Self {
            dir,
            handle,
            watcher,
        }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    fn drop_file(&self, name: &str, text: &str) -> PathBuf {
        fs::create_dir_all(self.spool()).unwrap();
        let path = self.spool().join(name);
        fs::write(&path, text).unwrap();
        path
    }

    async fn scan(&mut self) -> ScanReport {
        self.watcher.scan().await
    }

    async fn pending_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .handle
            .peek(usize::MAX, u64::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.transaction_id)
            .collect();
        ids.sort();
        ids
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[tokio::test]
async fn stable_files_are_taken_and_removed_after_the_commit() {
    let mut s = Spool::new(100 * MB, false);
    s.drop_file("a.json", &tx("a", 3000));
    s.drop_file(
        "b.ndjson",
        &format!("{}\n\n{}\n", tx("b1", 500), tx("b2", 500)),
    );
    s.drop_file(
        "c.jsonl",
        &format!("[{}, {}]", tx("c1", 300), tx("c2", 300)),
    );

    // First sighting: nothing is read yet.
    let first = s.scan().await;
    assert_eq!((first.waiting, first.taken), (3, 0), "{first:?}");
    assert!(s.pending_ids().await.is_empty());

    let second = s.scan().await;
    assert_eq!(
        (second.taken, second.records, second.waiting),
        (3, 5, 0),
        "{second:?}"
    );
    assert_eq!(s.pending_ids().await, vec!["a", "b1", "b2", "c1", "c2"]);
    assert!(names(&s.spool()).is_empty(), "{:?}", names(&s.spool()));

    // The same file dropped again: its id is still pending, so nothing new is stored.
    s.drop_file("a-again.json", &tx("a", 3000));
    s.scan().await;
    let again = s.scan().await;
    assert_eq!((again.taken, again.records, again.duplicates), (1, 0, 1));
    assert_eq!(s.handle.stats().await.unwrap().pending_count, 5);
}

#[tokio::test]
async fn a_half_written_file_is_not_read_early() {
    let mut s = Spool::new(100 * MB, false);
    let text = tx("slow", 3000);
    let path = s.drop_file("slow.json", &text[..1000]);
    assert_eq!(s.scan().await.waiting, 1);

    // The producer writes more between scans: still not taken.
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&text.as_bytes()[1000..2000])
        .unwrap();
    let report = s.scan().await;
    assert_eq!((report.waiting, report.taken, report.rejected), (1, 0, 0));

    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&text.as_bytes()[2000..])
        .unwrap();
    let report = s.scan().await;
    assert_eq!((report.waiting, report.taken, report.rejected), (1, 0, 0));
    assert!(path.exists());

    // Unchanged across two scans: complete, taken whole.
    let report = s.scan().await;
    assert_eq!((report.taken, report.records, report.rejected), (1, 1, 0));
    assert!(!path.exists());
    let stored = s.handle.peek(1, u64::MAX).await.unwrap();
    assert_eq!(stored[0].transaction_id, "slow");
    assert!(!s.spool().join("rejected").exists());
}

#[tokio::test]
async fn files_in_progress_and_other_files_are_left_alone() {
    let mut s = Spool::new(100 * MB, false);
    for name in [
        ".hidden.json",
        "draft.json.tmp",
        "upload.ndjson.part",
        "notes.txt",
        "json",
        ".json",
    ] {
        s.drop_file(name, &tx(name, 300));
    }
    fs::create_dir_all(s.spool().join("folder.json")).unwrap();
    s.drop_file("empty.json", "");
    for _ in 0..3 {
        let report = s.scan().await;
        assert_eq!(report.taken + report.rejected, 0, "{report:?}");
    }
    assert_eq!(names(&s.spool()).len(), 8);
    assert!(s.pending_ids().await.is_empty());
}

#[tokio::test]
async fn bad_items_are_listed_beside_the_file_in_rejected_and_good_ones_are_taken() {
    let mut s = Spool::new(100 * MB, false);
    let body = format!(
        "{}\n{{\"transactionId\": oops}}\n{}\n{}\n",
        tx("good-1", 300),
        tx("good-2", 300),
        tx("other", 300).replace("SCOUTPI-0004", "SCOUTPI-0009"),
    );
    s.drop_file("mixed.ndjson", &body);
    s.drop_file("garbage.json", "this is not json at all");
    s.drop_file("array.json", &format!("[{}, 42]", tx("good-3", 300)));
    s.scan().await;
    let report = s.scan().await;
    assert_eq!(
        (report.rejected, report.records, report.refused_items),
        (3, 3, 4),
        "{report:?}"
    );
    assert_eq!(s.pending_ids().await, vec!["good-1", "good-2", "good-3"]);
    assert!(
        names(&s.spool()) == vec!["rejected"],
        "{:?}",
        names(&s.spool())
    );
    let rejected = s.spool().join("rejected");
    assert_eq!(
        names(&rejected),
        vec![
            "array.json",
            "array.json.errors.txt",
            "garbage.json",
            "garbage.json.errors.txt",
            "mixed.ndjson",
            "mixed.ndjson.errors.txt"
        ]
    );
    assert_eq!(
        fs::read_to_string(rejected.join("mixed.ndjson")).unwrap(),
        body,
        "kept as it was"
    );
    let errors = fs::read_to_string(rejected.join("mixed.ndjson.errors.txt")).unwrap();
    assert!(errors.contains("refused 2 of 4"), "{errors}");
    assert!(errors.contains("line 2: invalid JSON"), "{errors}");
    assert!(errors.contains("line 4: deviceId SCOUTPI-0009"), "{errors}");
    let errors = fs::read_to_string(rejected.join("array.json.errors.txt")).unwrap();
    assert!(
        errors.contains("index 1: a transaction must be a JSON object"),
        "{errors}"
    );
    let errors = fs::read_to_string(rejected.join("garbage.json.errors.txt")).unwrap();
    assert!(errors.contains("line 1: invalid JSON"), "{errors}");

    // A second file with the same name does not overwrite the first one's evidence.
    s.drop_file("garbage.json", "still not json");
    s.scan().await;
    s.scan().await;
    assert!(rejected.join("garbage-1.json").exists());
    assert!(rejected.join("garbage-1.json.errors.txt").exists());
}

#[tokio::test]
async fn archive_mode_keeps_taken_files() {
    let mut s = Spool::new(100 * MB, true);
    s.drop_file("a.json", &tx("a", 300));
    s.scan().await;
    s.scan().await;
    s.drop_file("a.json", &tx("a2", 300));
    s.scan().await;
    s.scan().await;
    assert_eq!(
        names(&s.spool().join("archive")),
        vec!["a-1.json", "a.json"]
    );
    assert_eq!(s.pending_ids().await, vec!["a", "a2"]);
}

#[tokio::test]
async fn a_full_outbox_leaves_files_in_place_until_the_backlog_drains() {
    // 1 MiB cap, nearly filled.
    let mut s = Spool::new(MB, false);
    let filler: Vec<_> = (0..340)
        .map(|i| {
            parse_body(
                tx(&format!("old-{i}"), 3000).as_bytes(),
                &owner(),
                Utc::now(),
            )
            .unwrap()
            .accepted
            .remove(0)
            .record
        })
        .collect();
    s.handle.enqueue(filler).await.unwrap();
    s.drop_file("a.json", &tx("a", 30_000));
    s.drop_file("b.json", &tx("b", 30_000));
    s.scan().await;
    for _ in 0..3 {
        let report = s.scan().await;
        assert_eq!(
            (report.deferred, report.taken, report.rejected),
            (1, 0, 0),
            "{report:?}"
        );
    }
    assert_eq!(names(&s.spool()), vec!["a.json", "b.json"]);
    assert!(s.handle.stats().await.unwrap().refused_total >= 3);

    // The uplink acknowledges the backlog: intake resumes by itself.
    let seqs: Vec<i64> = s
        .handle
        .peek(usize::MAX, u64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    s.handle.settle(seqs, Vec::new()).await.unwrap();
    let report = s.scan().await;
    assert_eq!((report.taken, report.deferred), (2, 0), "{report:?}");
    assert!(names(&s.spool()).is_empty());
    assert_eq!(s.pending_ids().await, vec!["a", "b"]);
}

#[tokio::test]
async fn a_file_larger_than_the_whole_cap_is_rejected_not_retried_forever() {
    let mut s = Spool::new(MB, false);
    let lines: Vec<String> = (0..400).map(|i| tx(&format!("t{i}"), 3000)).collect();
    s.drop_file("huge.ndjson", &lines.join("\n"));
    s.scan().await;
    let report = s.scan().await;
    assert_eq!((report.rejected, report.deferred), (1, 0), "{report:?}");
    let errors = fs::read_to_string(s.spool().join("rejected/huge.ndjson.errors.txt")).unwrap();
    assert!(errors.contains("exceed the whole outbox cap"), "{errors}");
    assert!(s.pending_ids().await.is_empty());
}

#[tokio::test]
async fn the_watcher_polls_until_shutdown() {
    let s = Spool::new(100 * MB, false);
    let path = s.drop_file("a.json", &tx("a", 300));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(s.watcher.run(async {
        let _ = stopped.await;
    }));
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while path.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the file was not taken");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.handle.stats().await.unwrap().pending_count, 1);
}

#[tokio::test]
async fn submit_answers_after_the_commit_with_each_items_fate() {
    let dir = TempDir::new().unwrap();
    let (outbox, _) = Outbox::open(dir.path().join("outbox.db"), OutboxConfig::new(MB)).unwrap();
    let handle = OutboxHandle::spawn(outbox);
    let body = format!(
        "{}\n{}\nnot json\n{}\n",
        tx("a", 300),
        tx("b", 300),
        tx("a", 300)
    );
    let parsed = parse_body(body.as_bytes(), &owner(), Utc::now()).unwrap();
    let report = intake::submit(&handle, parsed).await.unwrap();
    assert_eq!(report.format, BodyFormat::Ndjson);
    assert_eq!((report.accepted, report.duplicates), (2, 1));
    assert_eq!(report.rejected[0].position, Position::Line(3));
    assert_eq!(report.stored[2].seq, report.stored[0].seq);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["rejected"][0]["line"], 3);
    assert_eq!(json["stored"][1]["transaction_id"], "b");

    // A full outbox refuses the request whole.
    let lines: Vec<String> = (0..400).map(|i| tx(&format!("t{i}"), 3000)).collect();
    let parsed = parse_body(lines.join("\n").as_bytes(), &owner(), Utc::now()).unwrap();
    let err = intake::submit(&handle, parsed).await.unwrap_err();
    assert!(matches!(err, BufferError::Full { .. }), "{err:?}");
    assert!(err.is_capacity());
}

#[test]
fn enqueue_reads_files_directories_and_stdin_and_reports_each() {
    let dir = TempDir::new().unwrap();
    let config = AgentConfig {
        device_id: "SCOUTPI-0004".into(),
        outbox_path: dir.path().join("var/outbox.db"),
        max_outbox_bytes: MB,
        ..AgentConfig::default()
    };
    // The service holds the file open meanwhile.
    let (service, _) = Outbox::open(&config.outbox_path, OutboxConfig::new(MB)).unwrap();

    let inbox = dir.path().join("inbox");
    fs::create_dir_all(&inbox).unwrap();
    fs::write(inbox.join("1.json"), tx("d1", 300)).unwrap();
    fs::write(
        inbox.join("2.ndjson"),
        format!("{}\nbroken\n", tx("d2", 300)),
    )
    .unwrap();
    fs::write(inbox.join("3.json.tmp"), tx("skipped", 300)).unwrap();
    fs::write(inbox.join(".4.json"), tx("skipped", 300)).unwrap();
    let single = dir.path().join("single.txt");
    fs::write(&single, format!("[{}]", tx("s1", 300))).unwrap();
    let empty = dir.path().join("empty.json");
    fs::write(&empty, "").unwrap();
    let missing = dir.path().join("missing.json");
    let mut stdin = format!("{}\n{}\n", tx("in1", 300), tx("d1", 300)).into_bytes();

    let mut outbox = open_outbox_for_enqueue(&config).unwrap();
    let mut out = Vec::new();
    let summary = enqueue_paths(
        &mut outbox,
        &owner(),
        &[inbox.clone(), single, PathBuf::from("-"), empty, missing],
        &mut stdin.as_slice(),
        &mut out,
    );
    stdin.clear();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(summary.files.len(), 6, "{summary:?}\n{out}");
    assert_eq!(summary.accepted(), 4, "{out}");
    assert_eq!(summary.duplicates(), 1, "{out}");
    assert_eq!(summary.rejected_items(), 1, "{out}");
    assert_eq!(summary.failed_files(), 2, "{out}");
    assert!(!summary.all_taken());
    assert!(
        out.contains("1.json: 1 enqueued, 0 already queued, 0 refused"),
        "{out}"
    );
    assert!(out.contains("  line 2: invalid JSON"), "{out}");
    assert!(
        out.contains("-: 1 enqueued, 1 already queued, 0 refused"),
        "{out}"
    );
    assert!(
        out.contains("empty.json: not enqueued: no transactions"),
        "{out}"
    );
    assert!(
        out.contains("missing.json: not enqueued: cannot read"),
        "{out}"
    );
    assert!(
        out.contains("total: 4 enqueued, 1 already queued, 1 refused, 2 input(s) not taken"),
        "{out}"
    );
    assert_eq!(outbox.enqueue_commits(), 1, "one transaction for all files");
    outbox.close().unwrap();

    let ids: Vec<String> = service
        .peek_batch(usize::MAX, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|r| r.transaction_id)
        .collect();
    assert_eq!(ids, vec!["d1", "d2", "s1", "in1"]);
}

#[test]
fn enqueue_never_quarantines_and_reports_a_full_outbox_per_file() {
    let dir = TempDir::new().unwrap();
    let config = AgentConfig {
        device_id: "SCOUTPI-0004".into(),
        outbox_path: dir.path().join("outbox.db"),
        max_outbox_bytes: MB,
        ..AgentConfig::default()
    };
    let big = dir.path().join("big.json");
    fs::write(&big, tx("big", 900_000)).unwrap();
    let also_big = dir.path().join("also-big.json");
    fs::write(&also_big, tx("also-big", 900_000)).unwrap();
    let mut outbox = open_outbox_for_enqueue(&config).unwrap();
    let mut out = Vec::new();
    let summary = enqueue_paths(
        &mut outbox,
        &owner(),
        &[big, also_big],
        &mut std::io::empty(),
        &mut out,
    );
    let out = String::from_utf8(out).unwrap();
    // The first fits; the second is refused alone.
    assert_eq!(
        (summary.accepted(), summary.failed_files()),
        (1, 1),
        "{out}"
    );
    assert!(
        out.contains("also-big.json: not enqueued: outbox full"),
        "{out}"
    );
    drop(outbox);

    fs::write(&config.outbox_path, b"this is not a database, and it is long enough to have a header ......................................").unwrap();
    let err = open_outbox_for_enqueue(&config).unwrap_err();
    assert!(err.is_corruption(), "{err:?}");
    assert!(matches!(err, BufferError::CorruptFile { .. }));
    assert!(
        fs::read(&config.outbox_path)
            .unwrap()
            .starts_with(b"this is not")
    );
}

#[test]
fn an_item_for_another_device_is_refused_clearly() {
    let parsed = parse_body(
        tx("x", 300)
            .replace("SCOUTPI-0004", "scoutpi-0005")
            .as_bytes(),
        &owner(),
        Utc::now(),
    )
    .unwrap();
    let err = &parsed.rejected[0];
    assert!(matches!(err.kind, ItemErrorKind::OtherDevice { .. }));
    assert_eq!(
        err.to_string(),
        "body: deviceId SCOUTPI-0005 is another device; this agent is SCOUTPI-0004 (the \
         collector would refuse it)"
    );
}

#[test]
fn an_item_for_another_store_is_refused_clearly() {
    // Store 105's line beside this store's (a number where the capture app sends one: the
    // same store): the one is refused, the others taken.
    let body = format!(
        "{}\n{}\n{}\n",
        tx("a", 300),
        tx("b", 300).replace("\"104\"", "\"105\""),
        tx("c", 300).replace("\"104\"", "104"),
    );
    let parsed = parse_body(body.as_bytes(), &owner(), Utc::now()).unwrap();
    assert_eq!(parsed.accepted.len(), 2, "{:?}", parsed.rejected);
    let err = &parsed.rejected[0];
    assert!(matches!(err.kind, ItemErrorKind::OtherStore { .. }));
    assert_eq!(err.transaction_id.as_deref(), Some("b"));
    assert_eq!(
        err.to_string(),
        "line 2: storeId 105 is another store; this agent is configured for store 104 (the \
         collector would refuse it)"
    );
    // A configuration that names no store checks none.
    let unset = Owner::new(owner().device, " ");
    let parsed = parse_body(body.as_bytes(), &unset, Utc::now()).unwrap();
    assert_eq!(parsed.accepted.len(), 3);
}

#[tokio::test]
async fn an_oversized_spool_file_is_rejected_without_being_read() {
    let mut s = Spool::new(100 * MB, false);
    let path = s.drop_file("big.ndjson", "");
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(intake::MAX_BODY_BYTES as u64 + 1)
        .unwrap();
    s.scan().await;
    let report = s.scan().await;
    assert_eq!(report.rejected, 1, "{report:?}");
    let errors = fs::read_to_string(s.spool().join("rejected/big.ndjson.errors.txt")).unwrap();
    assert!(errors.contains("the limit is"), "{errors}");
}

#[tokio::test]
async fn a_junk_spool_file_lists_the_first_refusals_and_counts_the_rest() {
    let mut s = Spool::new(100 * MB, false);
    let detailed = intake::MAX_DETAILED_REFUSALS;
    let body = format!("{}\n{}", tx("good", 300), "x\n".repeat(detailed + 500));
    s.drop_file("junk.ndjson", &body);
    s.scan().await;
    let report = s.scan().await;
    assert_eq!(
        (report.rejected, report.records, report.refused_items),
        (1, 1, detailed as u64 + 500),
        "{report:?}"
    );
    let errors = fs::read_to_string(s.spool().join("rejected/junk.ndjson.errors.txt")).unwrap();
    assert!(
        errors.contains(&format!("refused {} of {}", detailed + 500, detailed + 501)),
        "{errors}"
    );
    assert!(errors.contains("the other 1 were taken"), "{errors}");
    assert!(errors.contains("line 2: invalid JSON"), "{errors}");
    assert!(
        errors.contains(&format!("line {}: invalid JSON", detailed + 1)),
        "{errors}"
    );
    assert!(
        !errors.contains(&format!("line {}:", detailed + 2)),
        "only the first {detailed} are listed"
    );
    assert!(
        errors.contains("… and 500 more refused item(s), not listed"),
        "{errors}"
    );
    assert_eq!(errors.lines().count(), 2 + detailed + 1);
}

#[test]
fn enqueue_lists_the_first_refusals_and_counts_the_rest() {
    let dir = TempDir::new().unwrap();
    let config = AgentConfig {
        device_id: "SCOUTPI-0004".into(),
        outbox_path: dir.path().join("outbox.db"),
        max_outbox_bytes: MB,
        ..AgentConfig::default()
    };
    let detailed = intake::MAX_DETAILED_REFUSALS;
    let stdin = format!("[{}{}]", "7,".repeat(detailed + 199), tx("ok", 300));
    let mut outbox = open_outbox_for_enqueue(&config).unwrap();
    let mut out = Vec::new();
    let summary = enqueue_paths(
        &mut outbox,
        &owner(),
        &[PathBuf::from("-")],
        &mut stdin.as_bytes(),
        &mut out,
    );
    let out = String::from_utf8(out).unwrap();
    assert_eq!(summary.accepted(), 1, "{out}");
    assert_eq!(summary.rejected_items(), detailed as u64 + 199);
    assert_eq!(summary.files[0].rejected.len(), detailed);
    assert_eq!(summary.files[0].rejected_omitted, 199);
    assert!(
        out.contains(&format!(
            "-: 1 enqueued, 0 already queued, {} refused",
            detailed + 199
        )),
        "{out}"
    );
    assert!(
        out.contains("  … and 199 more refused, not listed"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "total: 1 enqueued, 0 already queued, {} refused",
            detailed + 199
        )),
        "{out}"
    );
}

/// `scout-agent run` as a real process on 127.0.0.1:0, its collector an unreachable port;
/// SIGKILLed and reaped when dropped.
struct AgentProcess {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl AgentProcess {
    fn start(dir: &Path) -> Self {
        let config = offline::write_config(dir);
        let log = dir.join("agent.log");
        let child = Command::new(env!("CARGO_BIN_EXE_scout-agent"))
            .args(["run", "--config"])
            .arg(&config)
            .env("SCOUT_AGENT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut agent = Self {
            child,
            addr: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = fs::read_to_string(&agent.log).unwrap_or_default();
            if let Some(rest) = text.split("listening address=").nth(1) {
                agent.addr = rest.split_whitespace().next().unwrap().to_owned();
                return agent;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one body cost a fresh agent.
struct Measured {
    status: u16,
    answer: serde_json::Value,
    /// `VmHWM` once started and after the answer, in KiB.
    at_rest_kib: u64,
    peak_kib: u64,
    metrics: String,
}

/// Starts a fresh agent, posts `body` to `/v1/transactions`, and reads the agent's peak RSS
/// and `/metrics` afterwards.
async fn post_to_fresh_agent(shape: &str, body: Vec<u8>) -> Measured {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = TempDir::new().unwrap();
    let agent = AgentProcess::start(dir.path());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let at_rest_kib = agent.peak_rss_kib();
    let bytes = body.len();
    let started = Instant::now();
    let response = client
        .post(agent.url("/v1/transactions"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: serde_json::Value = response.json().await.unwrap();
    let took = started.elapsed();
    let peak_kib = agent.peak_rss_kib();
    let metrics = client
        .get(agent.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    eprintln!(
        "{shape} ({bytes} bytes): HTTP {status} in {:.1} s; agent peak RSS {at_rest_kib} KiB \
         at rest, {peak_kib} KiB after",
        took.as_secs_f64()
    );
    Measured {
        status,
        answer,
        at_rest_kib,
        peak_kib,
        metrics,
    }
}

/// Peak RSS the agent may reach with a 16 MiB body of junk: the process at rest (about 20 MB,
/// debug build), the body (16.8 MB) and intake's bounded overhead (about 1 MB measured: the
/// first refusals in detail, one line or element at a time).
const JUNK_PEAK_LIMIT_KIB: u64 = 48 * 1024;

/// The same with a full body of real-sized transactions at the item limit: besides the process
/// and the body, the stored copy of its items (16 MB) and each item's record (about 2 MB);
/// measured at about 57 MB in all.
const FULL_BODY_PEAK_LIMIT_KIB: u64 = 72 * 1024;

fn assert_junk_answer(m: &Measured, format: &str, refused: usize, position: &str) {
    let detailed = intake::MAX_DETAILED_REFUSALS;
    let answer = &m.answer;
    assert_eq!(m.status, 422, "{answer}");
    assert_eq!(answer["format"], format);
    assert_eq!(answer["accepted"], 0);
    assert_eq!(answer["duplicates"], 0);
    assert_eq!(answer["stored"].as_array().map(Vec::len), Some(0));
    let rejected = answer["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), detailed);
    let first = if position == "line" { 1 } else { 0 };
    assert_eq!(rejected[0][position], first);
    assert_eq!(rejected[detailed - 1][position], detailed - 1 + first);
    assert_eq!(
        answer["rejected_omitted"].as_u64(),
        Some((refused - detailed) as u64)
    );
    // The counter stays exact.
    assert!(
        m.metrics.contains(&format!(
            "scout_agent_intake_rejected_items_total {refused}\n"
        )),
        "{}",
        m.metrics
    );
    assert!(
        m.peak_kib < JUNK_PEAK_LIMIT_KIB,
        "peak RSS {} KiB (at rest {} KiB): over {JUNK_PEAK_LIMIT_KIB} KiB",
        m.peak_kib,
        m.at_rest_kib
    );
}

#[tokio::test]
async fn the_real_agent_answers_16_mib_of_junk_lines_in_bounded_memory() {
    let lines = intake::MAX_BODY_BYTES / 2;
    let m = post_to_fresh_agent("one-character lines", b"x\n".repeat(lines)).await;
    assert_junk_answer(&m, "ndjson", lines, "line");
    let first = m.answer["rejected"][0]["error"].as_str().unwrap();
    assert!(first.starts_with("invalid JSON"), "{first}");
}

#[tokio::test]
async fn the_real_agent_answers_a_16_mib_array_of_tiny_bad_elements_in_bounded_memory() {
    let elements = intake::MAX_BODY_BYTES / 2 - 1;
    let mut body = Vec::with_capacity(intake::MAX_BODY_BYTES);
    body.push(b'[');
    body.extend(b"1,".repeat(elements - 1));
    body.extend(b"1]");
    assert!(body.len() <= intake::MAX_BODY_BYTES);
    let m = post_to_fresh_agent("an array of 1s", body).await;
    assert_junk_answer(&m, "array", elements, "index");
}

#[tokio::test]
async fn the_real_agent_refuses_a_16_mib_array_of_empty_objects_in_bounded_memory() {
    // Every `{}` could be taken (with a derived id): the body is refused whole once it passes
    // the item limit, before anything is stored.
    let mut body = Vec::with_capacity(intake::MAX_BODY_BYTES);
    body.push(b'[');
    body.extend(b"{},".repeat(intake::MAX_BODY_BYTES / 3 - 1));
    body.extend(b"{}]");
    let m = post_to_fresh_agent("an array of {}", body).await;
    assert_eq!(m.status, 413, "{}", m.answer);
    let error = m.answer["error"].as_str().unwrap();
    assert!(error.contains("more than"), "{error}");
    assert!(
        m.metrics.contains("scout_agent_outbox_pending 0\n"),
        "nothing stored:\n{}",
        m.metrics
    );
    assert!(
        m.peak_kib < JUNK_PEAK_LIMIT_KIB,
        "peak RSS {} KiB (at rest {} KiB): over {JUNK_PEAK_LIMIT_KIB} KiB",
        m.peak_kib,
        m.at_rest_kib
    );
}

#[tokio::test]
async fn the_real_agent_stores_a_full_body_at_the_item_limit_in_bounded_memory() {
    // As many transactions as a body may hold, each as large as fills 16 MiB with them.
    let items = intake::MAX_BODY_ITEMS;
    let len = intake::MAX_BODY_BYTES / items - 1;
    let mut body = Vec::with_capacity(intake::MAX_BODY_BYTES);
    for i in 0..items {
        body.extend(tx(&format!("t{i:06}"), len).as_bytes());
        body.push(b'\n');
    }
    assert!(body.len() <= intake::MAX_BODY_BYTES);
    let m = post_to_fresh_agent("transactions at the item limit", body).await;
    assert_eq!(m.status, 202, "{}", m.answer);
    assert_eq!(m.answer["accepted"].as_u64(), Some(items as u64));
    assert_eq!(m.answer["stored"].as_array().map(Vec::len), Some(items));
    assert_eq!(m.answer["rejected_omitted"], 0);
    assert!(
        m.peak_kib < FULL_BODY_PEAK_LIMIT_KIB,
        "peak RSS {} KiB (at rest {} KiB): over {FULL_BODY_PEAK_LIMIT_KIB} KiB",
        m.peak_kib,
        m.at_rest_kib
    );
}

#[tokio::test]
async fn a_web_page_of_another_origin_cannot_post_transactions() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = TempDir::new().unwrap();
    let agent = AgentProcess::start(dir.path());
    let client = reqwest::Client::new();
    let url = agent.url("/v1/transactions");
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    // What a browser sends for a form or `fetch` of a page elsewhere: refused before reading.
    for origin in ["https://evil.example", "http://localhost:9", "null"] {
        let response = client
            .post(&url)
            .header("Origin", origin)
            .header("Content-Type", "text/plain")
            .body(tx("cross-origin", 200))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{origin}");
    }
    // A page of the agent itself, and the capture app (no `Origin`), are taken.
    for (id, origin) in [
        ("same-origin", Some(format!("http://{host}"))),
        ("app", None),
    ] {
        let mut request = client.post(&url).body(tx(id, 200));
        if let Some(o) = &origin {
            request = request.header("Origin", o);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 202, "{origin:?}");
    }
}

/// Sends `head` and `body` on a new connection and reads until the agent closes it (or `limit`
/// passes): what came back, and how long the agent took.
fn stall(addr: &str, head: &str, body: &[u8], limit: Duration) -> (String, Duration) {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn connections_that_stall_are_closed_and_the_agent_keeps_serving() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = TempDir::new().unwrap();
    let agent = AgentProcess::start(dir.path());
    let addr = agent.addr.clone();
    let limit = Duration::from_secs(40);
    // Half a request header, a body promised and never sent, and a connection that says
    // nothing: each is closed by the agent within its timeouts (10 s), together.
    let cases = [
        (
            "POST /v1/transactions HTTP/1.1\r\nHost: x\r\n".to_owned(),
            Vec::new(),
        ),
        (
            format!(
                "POST /v1/transactions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: \
                 application/x-ndjson\r\nContent-Length: 100000\r\n\r\n"
            ),
            tx("stalled", 300).into_bytes(),
        ),
        (String::new(), Vec::new()),
    ];
    let stalls: Vec<_> = cases
        .into_iter()
        .map(|(head, body)| {
            let addr = addr.clone();
            std::thread::spawn(move || stall(&addr, &head, &body, limit))
        })
        .collect();
    let answers: Vec<_> = stalls.into_iter().map(|t| t.join().unwrap()).collect();
    for (answer, took) in &answers {
        assert!(*took < Duration::from_secs(25), "{took:?}: {answer}");
    }
    assert_eq!(answers[0].0, "", "half a header gets no answer");
    assert!(answers[1].0.starts_with("HTTP/1.1 408"), "{}", answers[1].0);
    assert!(answers[1].0.contains("stalled"), "{}", answers[1].0);
    assert_eq!(answers[2].0, "");
    // Nothing of the stalled body was taken, and the agent still serves.
    let response = reqwest::Client::new()
        .post(agent.url("/v1/transactions"))
        .body(tx("after", 200))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let status: serde_json::Value = reqwest::get(agent.url("/status.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["backlog"]["count"], 1, "{status}");
}
