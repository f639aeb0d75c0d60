//! Behaviour of the SQLite outbox through its public API, on real files in temporary folders:
//! ordering, acknowledgement, restarts, the size cap, dead letters and damaged files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use scout_agent::outbox::{
    BufferError, Enqueued, Interrupt, NewRecord, OnCorruption, Outbox, OutboxConfig, OutboxReader,
    QuickCheckReason, Settled, StartupCheck, state_keys,
};
use tempfile::TempDir;

const MB: u64 = 1024 * 1024;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_760_000_000_000 + ms).unwrap()
}

fn rec(id: &str, len: usize) -> NewRecord {
    let mut payload = format!("{{\"transactionId\":\"{id}\",\"pad\":\"").into_bytes();
    while payload.len() + 2 < len {
        payload.push(b'x');
    }
    payload.extend_from_slice(b"\"}");
    NewRecord {
        transaction_id: id.to_owned(),
        captured_at: at(i64::from(id.len() as u32)),
        payload,
    }
}

fn db(dir: &TempDir) -> PathBuf {
    dir.path().join("outbox.db")
}

fn open(path: &Path, max_bytes: u64) -> Outbox {
    let (outbox, report) = Outbox::open(path, OutboxConfig::new(max_bytes)).unwrap();
    assert!(report.quarantined.is_none(), "{report:?}");
    outbox
}

fn seqs(outcome: &[Enqueued]) -> Vec<i64> {
    outcome.iter().map(|e| e.seq).collect()
}

fn peek_ids(outbox: &Outbox) -> Vec<String> {
    outbox
        .peek_batch(usize::MAX, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|r| r.transaction_id)
        .collect()
}

fn assert_consistent(outbox: &OutboxReader) {
    let audit = outbox.audit().unwrap();
    assert!(audit.is_consistent(), "{audit:?}");
}

#[test]
fn enqueue_peek_ack_keeps_order_and_counts() {
    let dir = TempDir::new().unwrap();
    let mut outbox = open(&db(&dir), MB);
    let first = outbox
        .enqueue_batch(&[rec("a", 100), rec("b", 100)])
        .unwrap();
    let second = outbox.enqueue_batch(&[rec("c", 100)]).unwrap();
    assert_eq!(seqs(&first), vec![1, 2]);
    assert_eq!(seqs(&second), vec![3]);
    assert!(first.iter().chain(&second).all(|e| !e.duplicate));

    let batch = outbox.peek_batch(10, u64::MAX).unwrap();
    assert_eq!(
        batch.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(batch[0].payload, rec("a", 100).payload);
    assert_eq!(batch[0].captured_at, rec("a", 100).captured_at);
    // Peeking changes nothing.
    assert_eq!(outbox.peek_batch(10, u64::MAX).unwrap(), batch);
    // Record and byte budgets.
    assert_eq!(outbox.peek_batch(2, u64::MAX).unwrap().len(), 2);
    assert_eq!(outbox.peek_batch(10, 250).unwrap().len(), 2);
    // An oversized head still comes out alone.
    assert_eq!(outbox.peek_batch(10, 1).unwrap().len(), 1);
    assert!(outbox.peek_batch(0, u64::MAX).unwrap().is_empty());
    // Pipelining: peek after a sequence number.
    let after = outbox.peek_batch_after(2, 10, u64::MAX).unwrap();
    assert_eq!(after.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3]);

    let stats = outbox.stats().unwrap();
    assert_eq!(stats.pending_count, 3);
    assert_eq!(stats.pending_bytes, 300);
    assert_eq!(stats.oldest_pending_seq, Some(1));
    assert_eq!(
        stats.oldest_pending_captured_at,
        Some(rec("a", 1).captured_at)
    );
    assert_eq!(stats.last_seq, 3);
    assert_eq!(stats.max_bytes, Some(MB));
    assert!(stats.file_bytes > 0);

    // Acknowledge out of order; unknown and repeated sequence numbers are ignored.
    assert_eq!(outbox.ack(&[2, 99, 2]).unwrap(), 1);
    assert_eq!(peek_ids(&outbox), vec!["a", "c"]);
    assert_eq!(outbox.ack(&[1, 3]).unwrap(), 2);
    assert!(outbox.peek_batch(10, u64::MAX).unwrap().is_empty());
    let stats = outbox.stats().unwrap();
    assert_eq!((stats.pending_count, stats.pending_bytes), (0, 0));
    assert_eq!(stats.oldest_pending_seq, None);
    assert_eq!(stats.last_seq, 3);
    assert_consistent(&outbox);
}

#[test]
fn pending_transaction_ids_are_stored_once() {
    let dir = TempDir::new().unwrap();
    let mut outbox = open(&db(&dir), MB);
    let out = outbox
        .enqueue_batch(&[rec("a", 50), rec("b", 50), rec("a", 60)])
        .unwrap();
    assert_eq!(seqs(&out), vec![1, 2, 1]);
    assert_eq!(
        out.iter().map(|e| e.duplicate).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    let again = outbox.enqueue_batch(&[rec("b", 50), rec("c", 50)]).unwrap();
    assert_eq!(seqs(&again), vec![2, 3]);
    assert!(again[0].duplicate && !again[1].duplicate);
    assert_eq!(outbox.stats().unwrap().pending_count, 3);

    // Once acknowledged, the id is forgotten: a resend is a new row (the collector dedupes).
    outbox.ack(&[1]).unwrap();
    let resend = outbox.enqueue_batch(&[rec("a", 50)]).unwrap();
    assert_eq!(
        resend,
        vec![Enqueued {
            seq: 4,
            duplicate: false
        }]
    );
    assert_consistent(&outbox);
}

#[test]
fn sequence_numbers_survive_restarts_and_are_never_reused() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    {
        let mut outbox = open(&path, MB);
        outbox
            .enqueue_batch(&[rec("a", 10), rec("b", 10), rec("c", 10)])
            .unwrap();
        outbox.ack(&[1, 2, 3]).unwrap();
        outbox.close().unwrap();
    }
    {
        let mut outbox = open(&path, MB);
        assert_eq!(outbox.stats().unwrap().last_seq, 3);
        let out = outbox.enqueue_batch(&[rec("d", 10)]).unwrap();
        assert_eq!(seqs(&out), vec![4]);
        // Simulate a kill: no close, no checkpoint; the WAL stays behind.
        std::mem::forget(outbox);
    }
    assert!(dir.path().join("outbox.db-wal").exists());
    let mut outbox = open(&path, MB);
    assert_eq!(peek_ids(&outbox), vec!["d"]);
    let out = outbox.enqueue_batch(&[rec("e", 10)]).unwrap();
    assert_eq!(seqs(&out), vec![5]);
    assert_consistent(&outbox);
}

#[test]
fn cap_refuses_whole_batches_counts_them_and_resumes_after_ack() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut outbox = open(&path, 1000);
    outbox
        .enqueue_batch(&[rec("a", 400), rec("b", 400)])
        .unwrap();

    let err = outbox
        .enqueue_batch(&[rec("c", 100), rec("d", 150)])
        .unwrap_err();
    match &err {
        BufferError::Full {
            new_records,
            new_bytes,
            pending_bytes,
            max_bytes,
            ..
        } => {
            assert_eq!((*new_records, *new_bytes), (2, 250));
            assert_eq!((*pending_bytes, *max_bytes), (800, 1000));
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert!(err.is_capacity());
    assert!(err.to_string().contains("outbox full"), "{err}");
    // Nothing of the refused batch was stored and no sequence number was consumed.
    assert_eq!(peek_ids(&outbox), vec!["a", "b"]);
    let stats = outbox.stats().unwrap();
    assert_eq!(stats.refused_total, 2);
    assert_eq!(stats.last_seq, 2);

    // A batch of ids already pending adds nothing and is accepted even when full.
    let dup = outbox.enqueue_batch(&[rec("a", 400)]).unwrap();
    assert!(dup[0].duplicate);
    // Exactly at the cap is allowed.
    outbox.enqueue_batch(&[rec("c", 200)]).unwrap();
    assert!(matches!(
        outbox.enqueue_batch(&[rec("d", 1)]),
        Err(BufferError::Full { .. })
    ));

    // Draining makes room again, by itself.
    outbox.ack(&[1]).unwrap();
    let out = outbox.enqueue_batch(&[rec("d", 150)]).unwrap();
    assert_eq!(seqs(&out), vec![4]);
    assert_eq!(outbox.stats().unwrap().refused_total, 3);
    drop(outbox);

    // The refusal count is persisted, also for the read-only status view.
    let ro = Outbox::open_read_only(&path).unwrap();
    assert_eq!(ro.stats().unwrap().refused_total, 3);
    assert_consistent(&ro);
}

#[test]
fn dead_letters_move_list_export_and_count_against_the_cap() {
    let dir = TempDir::new().unwrap();
    let mut outbox = open(&db(&dir), 1000);
    let mut not_json = rec("c", 100);
    not_json.payload = b"not json \xff".to_vec();
    outbox
        .enqueue_batch(&[rec("a", 300), rec("b", 300), not_json])
        .unwrap();

    assert!(outbox.dead_letter(1, "missing items").unwrap());
    assert!(!outbox.dead_letter(1, "again").unwrap(), "already moved");
    assert!(!outbox.dead_letter(42, "unknown").unwrap());
    let settled = outbox.settle(&[2], &[(3, "not JSON".to_owned())]).unwrap();
    assert_eq!(
        settled,
        Settled {
            acked: 1,
            dead_lettered: 1
        }
    );
    assert!(outbox.peek_batch(10, u64::MAX).unwrap().is_empty());

    let listed = outbox.dead_letters(10).unwrap();
    assert_eq!(listed.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![3, 1]);
    assert_eq!(listed[1].reason, "missing items");
    assert_eq!(listed[1].transaction_id, "a");
    assert_eq!(outbox.dead_letters(1).unwrap().len(), 1);

    let stats = outbox.stats().unwrap();
    assert_eq!((stats.pending_count, stats.dead_letter_count), (0, 2));
    assert_eq!(stats.dead_letter_bytes, 300 + 10);
    // Dead letters hold space: 310 of 1000 are taken.
    assert!(matches!(
        outbox.enqueue_batch(&[rec("d", 700)]),
        Err(BufferError::Full {
            dead_letter_bytes: 310,
            ..
        })
    ));

    let mut out = Vec::new();
    let report = outbox.export_dead_letters(&mut out).unwrap();
    assert_eq!((report.count, report.last_seq), (2, Some(3)));
    let lines: Vec<serde_json::Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["reason"], "missing items");
    assert_eq!(lines[0]["payload"]["transactionId"], "a");
    assert!(lines[0]["captured_at"].as_str().unwrap().ends_with('Z'));
    assert!(lines[1]["payload"].is_null());
    assert!(
        lines[1]["payload_text"]
            .as_str()
            .unwrap()
            .starts_with("not json")
    );

    assert_eq!(
        outbox.purge_dead_letters(report.last_seq.unwrap()).unwrap(),
        2
    );
    assert_eq!(outbox.stats().unwrap().dead_letter_count, 0);
    outbox.enqueue_batch(&[rec("d", 700)]).unwrap();
    assert_consistent(&outbox);
}

#[test]
fn invalid_records_reject_the_batch() {
    let dir = TempDir::new().unwrap();
    let mut outbox = open(&db(&dir), MB);
    let mut broken = rec("b", 50);
    broken.payload = b"{\"a\":1}\n{\"b\":2}".to_vec();
    let err = outbox.enqueue_batch(&[rec("a", 50), broken]).unwrap_err();
    assert!(
        matches!(err, BufferError::InvalidRecord { index: 1, .. }),
        "{err:?}"
    );
    let mut empty_id = rec("x", 50);
    empty_id.transaction_id = " ".into();
    assert!(matches!(
        outbox.enqueue_batch(&[empty_id]),
        Err(BufferError::InvalidRecord { index: 0, .. })
    ));
    assert_eq!(outbox.stats().unwrap().pending_count, 0);
    assert!(outbox.enqueue_batch(&[]).unwrap().is_empty());
}

#[test]
fn agent_state_is_written_only_when_it_changes() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut outbox = open(&path, MB);
    assert!(
        outbox
            .set_state(state_keys::LAST_ERROR, Some("collector unreachable"))
            .unwrap()
    );
    assert!(
        !outbox
            .set_state(state_keys::LAST_ERROR, Some("collector unreachable"))
            .unwrap()
    );
    assert!(
        outbox
            .set_state(state_keys::LAST_UPLOAD_AT, Some("2026-11-27T09:00:00Z"))
            .unwrap()
    );
    assert!(
        outbox
            .set_state(state_keys::NEXT_RETRY_AT, None)
            .is_ok_and(|w| !w)
    );
    assert!(outbox.set_state(state_keys::LAST_ERROR, None).unwrap());
    assert_eq!(outbox.state_value(state_keys::LAST_ERROR).unwrap(), None);
    drop(outbox);

    // Status reads it with the service stopped.
    let ro = Outbox::open_read_only(&path).unwrap();
    let state = ro.state().unwrap();
    assert_eq!(state.len(), 1);
    assert_eq!(
        state[state_keys::LAST_UPLOAD_AT].value,
        "2026-11-27T09:00:00Z"
    );
}

#[test]
fn read_only_view_follows_a_running_writer() {
    // It cannot write at all: `OutboxReader` has no write methods (the `compile_fail` doctests
    // in `agent/src/outbox/reader.rs` check enqueue, ack, set_state and purge).
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    assert!(matches!(
        Outbox::open_read_only(&path),
        Err(BufferError::NotFound { .. })
    ));
    let mut writer = open(&path, MB);
    let ro = Outbox::open_read_only(&path).unwrap();
    assert_eq!(ro.stats().unwrap().pending_count, 0);
    writer.enqueue_batch(&[rec("a", 10), rec("b", 10)]).unwrap();
    assert_eq!(ro.stats().unwrap().pending_count, 2);
    assert_eq!(ro.peek_batch(10, u64::MAX).unwrap().len(), 2);
    writer.ack(&[1]).unwrap();
    assert_eq!(ro.stats().unwrap().pending_count, 1);
}

#[test]
fn a_second_writer_process_shares_the_file() {
    // `scout-agent enqueue` runs beside the service: both write through SQLite's lock.
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut service = open(&path, MB);
    let mut cli = open(&path, MB);
    service.enqueue_batch(&[rec("a", 10)]).unwrap();
    assert_eq!(
        seqs(&cli.enqueue_batch(&[rec("b", 10), rec("a", 10)]).unwrap()),
        vec![2, 1]
    );
    assert_eq!(
        seqs(&service.enqueue_batch(&[rec("c", 10)]).unwrap()),
        vec![3]
    );
    assert_eq!(peek_ids(&service), vec!["a", "b", "c"]);
    assert_consistent(&service);
}

fn corrupt_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".corrupt-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_file_that_is_not_sqlite_is_quarantined_and_replaced() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let garbage: Vec<u8> = (0..64 * 1024_u32).map(|i| (i * 7919 % 251) as u8).collect();
    fs::write(&path, &garbage).unwrap();
    fs::write(dir.path().join("outbox.db-wal"), b"stale wal bytes").unwrap();

    let (mut outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    let q = report.quarantined.clone().expect("quarantined");
    assert!(report.created);
    assert!(q.salvage_complete);
    assert_eq!(q.lost_pending, None, "old counters unreadable");
    assert_eq!(q.salvaged_pending, 0);
    assert!(q.path.exists());
    assert_eq!(fs::read(&q.path).unwrap(), garbage, "kept as it was");
    // The WAL moved with it, untouched (left behind, SQLite could replay it into the new file).
    assert_eq!(
        fs::read(format!("{}-wal", q.path.display())).unwrap(),
        b"stale wal bytes"
    );
    let names = corrupt_files(dir.path());
    // The old high-water mark is unknown, so numbering resumes above a time-derived floor.
    assert!(q.resumed_after_seq > 1_000_000_000_000_000, "{q:?}");

    let out = outbox.enqueue_batch(&[rec("a", 10)]).unwrap();
    assert_eq!(out[0].seq, q.resumed_after_seq + 1);
    assert_eq!(outbox.stats().unwrap().quarantined, Some(q.clone()));
    drop(outbox);

    // Status shows the quarantine after a restart, and a second open does not quarantine again.
    let ro = Outbox::open_read_only(&path).unwrap();
    assert_eq!(ro.stats().unwrap().quarantined, Some(q));
    let (_outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    assert!(report.quarantined.is_none());
    assert_eq!(corrupt_files(dir.path()), names);
}

#[test]
fn a_database_truncated_mid_page_is_quarantined_and_readable_rows_salvaged() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    {
        filled(&path, 2000);
        let mut outbox = open(&path, 100 * MB);
        outbox.dead_letter(1, "bad").unwrap();
        outbox.close().unwrap();
    }
    assert!(
        !dir.path().join("outbox.db-wal").exists(),
        "checkpointed at close"
    );
    let len = fs::metadata(&path).unwrap().len();
    let cut = len / 2 + 1234; // not on a page boundary
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let (mut outbox, report) = Outbox::open(&path, OutboxConfig::new(100 * MB)).unwrap();
    // Closed cleanly, but cut short: the cheap checks catch it (SQLite refuses a file shorter
    // than its header says), so the clean-shutdown marker does not hide it.
    assert_eq!(report.startup_check, StartupCheck::CheapCheckFailed);
    let q = report.quarantined.expect("quarantined");
    assert_eq!(fs::metadata(&q.path).unwrap().len(), cut);
    assert!(q.salvaged_pending < 1999, "{q:?}");
    // Counters live near the start of the file, so the high-water mark survived.
    assert_eq!(q.resumed_after_seq, 2000, "{q:?}");
    assert!(
        q.salvaged_pending > 0,
        "rows before the cut are readable: {q:?}"
    );
    let stats = outbox.stats().unwrap();
    assert_eq!(stats.pending_count, q.salvaged_pending);
    assert_eq!(stats.dead_letter_count, q.salvaged_dead_letters);
    assert_consistent(&outbox);
    // Salvaged rows come out oldest first and intact; a row cut short is a dead letter, never
    // sent with zeros in it.
    let salvaged = outbox.peek_batch(usize::MAX, u64::MAX).unwrap();
    assert_eq!(salvaged[0].seq, 2, "seq 1 was a dead letter");
    for pair in salvaged.windows(2) {
        assert!(pair[0].seq < pair[1].seq);
    }
    for r in &salvaged {
        assert_eq!(r.payload, rec(&r.transaction_id, 600).payload);
    }
    let dead = outbox.dead_letters(100).unwrap();
    assert!(
        dead.iter().any(|d| d.seq == 1 && d.reason == "bad"),
        "{dead:?}"
    );
    let damaged: Vec<_> = dead.iter().filter(|d| d.seq != 1).collect();
    assert_eq!(damaged.len() as u64, q.damaged_pending);
    for d in &damaged {
        assert!(d.reason.starts_with("damaged"), "{d:?}");
    }
    // Every row the old counters promised is accounted for: sent later, dead, or reported lost.
    assert_eq!(
        q.salvaged_pending + q.damaged_pending + q.lost_pending.unwrap(),
        1999,
        "{q:?}"
    );
    let out = outbox.enqueue_batch(&[rec("fresh", 10)]).unwrap();
    assert_eq!(out[0].seq, 2001);
}

/// Fills an outbox with `n` rows of 600 bytes, closes it, and returns the file's size.
fn filled(path: &Path, n: usize) -> u64 {
    let mut outbox = open(path, 100 * MB);
    let batch: Vec<NewRecord> = (0..n).map(|i| rec(&format!("tx-{i:05}"), 600)).collect();
    outbox.enqueue_batch(&batch).unwrap();
    outbox.close().unwrap();
    fs::metadata(path).unwrap().len()
}

/// Scribbles over a page in the middle of the file, as a failing SD card might.
fn scribble_middle_page(path: &Path) {
    let len = fs::metadata(path).unwrap().len();
    let mut bytes = fs::read(path).unwrap();
    let page = (len / 4096 / 2) as usize * 4096;
    for (i, b) in bytes[page..page + 4096].iter_mut().enumerate() {
        *b = (i * 31 % 256) as u8;
    }
    fs::write(path, &bytes).unwrap();
}

#[test]
fn garbage_written_over_a_page_after_an_unclean_stop_is_quarantined_at_start() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    {
        let mut outbox = open(&path, 100 * MB);
        let batch: Vec<NewRecord> = (0..1000).map(|i| rec(&format!("tx-{i:05}"), 600)).collect();
        outbox.enqueue_batch(&batch).unwrap();
        drop(outbox); // no close: the session stays marked unclean
    }
    scribble_middle_page(&path);

    let (mut outbox, report) = Outbox::open(&path, OutboxConfig::new(100 * MB)).unwrap();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::UncleanShutdown)
    );
    let q = report.quarantined.expect("quarantined");
    assert_eq!(q.resumed_after_seq, 1000);
    assert!(q.salvaged_pending > 0 && q.salvaged_pending < 1000, "{q:?}");
    for r in outbox.peek_batch(usize::MAX, u64::MAX).unwrap() {
        assert_eq!(r.payload, rec(&r.transaction_id, 600).payload);
    }
    assert_consistent(&outbox);
    assert_eq!(
        outbox.enqueue_batch(&[rec("new", 10)]).unwrap()[0].seq,
        1001
    );
}

#[test]
fn corruption_met_while_running_is_recognisable_and_quarantined_at_the_next_start() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    filled(&path, 1000); // closed cleanly
    scribble_middle_page(&path);

    // Marked clean and the right length: the start skips quick_check and does not notice.
    let (mut outbox, report) = Outbox::open(&path, OutboxConfig::new(100 * MB)).unwrap();
    assert_eq!(report.startup_check, StartupCheck::CleanShutdown);
    assert!(report.quarantined.is_none());
    assert!(!outbox.corruption_seen());
    // Reading through the damaged page surfaces as a distinct, recognisable error.
    let err = outbox.peek_batch(usize::MAX, u64::MAX).unwrap_err();
    assert!(err.is_corruption(), "{err:?}");
    assert!(matches!(err, BufferError::Corrupt { .. }), "{err:?}");
    assert!(!err.is_capacity());
    assert!(outbox.corruption_seen());
    // Other work may still succeed; a clean close does not vouch for the file.
    let _ = outbox.enqueue_batch(&[rec("after", 10)]);
    outbox.close().unwrap();

    let (_outbox, report) = Outbox::open(&path, OutboxConfig::new(100 * MB)).unwrap();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::UncleanShutdown)
    );
    let q = report.quarantined.expect("quarantined at the next start");
    assert!(q.salvaged_pending > 0 && q.salvaged_pending < 1000, "{q:?}");
}

#[test]
fn the_full_check_runs_only_after_an_unclean_stop_or_for_an_unknown_file() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let reopen = || Outbox::open(&path, OutboxConfig::new(MB)).unwrap();

    let (outbox, report) = reopen();
    assert_eq!(report.startup_check, StartupCheck::NewFile);
    outbox.close().unwrap();
    let (mut outbox, report) = reopen();
    assert_eq!(report.startup_check, StartupCheck::CleanShutdown);
    outbox.enqueue_batch(&[rec("a", 10)]).unwrap();
    drop(outbox); // dropped without close: as after a crash
    let (outbox, report) = reopen();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::UncleanShutdown)
    );
    std::mem::forget(outbox); // killed: no close, no checkpoint
    let (outbox, report) = reopen();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::UncleanShutdown)
    );
    outbox.close().unwrap();

    // A writer beside the service does only the cheap checks, and leaves the file marked for
    // a full check by the service even when it closes cleanly itself.
    let guest = OutboxConfig {
        on_corruption: OnCorruption::Fail,
        ..OutboxConfig::new(MB)
    };
    let (mut cli, report) = Outbox::open(&path, guest).unwrap();
    assert_eq!(report.startup_check, StartupCheck::NotOwner);
    cli.enqueue_batch(&[rec("b", 10)]).unwrap();
    cli.close().unwrap();
    let (outbox, report) = reopen();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::UncleanShutdown)
    );
    outbox.close().unwrap();

    // A file without the marker (an older agent's) gets the full check once, then the marker.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE session; PRAGMA user_version = 1;")
            .unwrap();
    }
    let (outbox, report) = reopen();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::NoMarker)
    );
    assert_eq!(outbox.stats().unwrap().pending_count, 2);
    outbox.close().unwrap();
    let (outbox, report) = reopen();
    assert_eq!(report.startup_check, StartupCheck::CleanShutdown);
    outbox.close().unwrap();

    // Marked clean, but the length is not whole pages (bytes appended): the full check runs,
    // and finds nothing wrong with the database itself.
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0_u8; 100])
        .unwrap();
    let (outbox, report) = reopen();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::SizeMismatch)
    );
    assert!(report.quarantined.is_none());
    assert_eq!(outbox.stats().unwrap().pending_count, 2);
}

#[test]
fn groups_share_one_commit_and_are_refused_alone() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut outbox = open(&path, 1000);
    let mut broken = rec("bad", 50);
    broken.payload = b"two\nlines".to_vec();
    let groups: Vec<Vec<NewRecord>> = vec![
        vec![rec("a", 300)],
        vec![rec("b", 100), broken],        // invalid: refused alone
        vec![rec("c", 400), rec("d", 400)], // over the cap: refused alone
        vec![rec("e", 300), rec("a", 300)], // fits; "a" is already pending from group 0
        vec![],
        vec![rec("f", 401)], // over the cap now (600 + 401 > 1000)
    ];
    let before = outbox.enqueue_commits();
    let results = outbox.enqueue_groups(&groups).unwrap();
    assert_eq!(outbox.enqueue_commits(), before + 1, "one transaction");
    assert_eq!(results.len(), 6);
    assert_eq!(
        results[0].as_ref().unwrap(),
        &vec![Enqueued {
            seq: 1,
            duplicate: false
        }]
    );
    assert!(matches!(
        results[1],
        Err(BufferError::InvalidRecord { index: 1, .. })
    ));
    match &results[2] {
        Err(BufferError::Full {
            new_records,
            new_bytes,
            pending_bytes,
            ..
        }) => assert_eq!((*new_records, *new_bytes, *pending_bytes), (2, 800, 300)),
        other => panic!("expected Full, got {other:?}"),
    }
    // The refused group consumed no sequence numbers.
    assert_eq!(
        results[3].as_ref().unwrap(),
        &vec![
            Enqueued {
                seq: 2,
                duplicate: false
            },
            Enqueued {
                seq: 1,
                duplicate: true
            }
        ]
    );
    assert!(results[4].as_ref().unwrap().is_empty());
    assert!(matches!(results[5], Err(BufferError::Full { .. })));
    assert_eq!(peek_ids(&outbox), vec!["a", "e"]);
    let stats = outbox.stats().unwrap();
    assert_eq!(stats.refused_total, 3);
    assert_eq!(stats.last_seq, 2);
    assert_consistent(&outbox);

    // Every group refused: no commit, refusals still counted.
    let results = outbox.enqueue_groups(&[vec![rec("g", 900)]]).unwrap();
    assert!(matches!(results[0], Err(BufferError::Full { .. })));
    assert_eq!(outbox.enqueue_commits(), before + 1);
    assert_eq!(outbox.stats().unwrap().refused_total, 4);
    outbox.close().unwrap();
    let ro = Outbox::open_read_only(&path).unwrap();
    assert_eq!(ro.stats().unwrap().refused_total, 4, "persisted at close");
}

#[test]
fn an_interrupted_salvage_is_completed_at_the_next_open() {
    // The state a crash (or a full disk) leaves between recording a quarantine and copying
    // its rows: the fresh file knows about the old one, but holds none of its rows yet.
    let dir = TempDir::new().unwrap();
    let old = dir.path().join("outbox.db.corrupt-1");
    filled(&old, 10);
    let path = db(&dir);
    open(&path, MB).close().unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO quarantine (id, at_ms, path, reason, old_pending_count,
                                     resumed_after_seq, salvage_done)
             VALUES (1, 0, ?1, 'test', 10, 10, 0)",
            [old.to_string_lossy()],
        )
        .unwrap();
        conn.execute("UPDATE counters SET last_seq = 10", [])
            .unwrap();
    }
    let (mut outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    let q = report.quarantined.expect("salvage completed now");
    assert!(q.salvage_complete);
    assert_eq!((q.salvaged_pending, q.lost_pending), (10, Some(0)));
    assert_eq!(outbox.stats().unwrap().pending_count, 10);
    assert_consistent(&outbox);
    assert_eq!(outbox.enqueue_batch(&[rec("new", 10)]).unwrap()[0].seq, 11);
    drop(outbox);
    // Done once: the next open has nothing to salvage.
    let (_outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    assert!(report.quarantined.is_none());
}

/// Holds an exclusive lock on the outbox at `path`, as a process stuck in the middle of a write
/// might: anyone else reading it waits for up to their busy timeout.
fn lock_exclusively(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    conn
}

#[test]
fn a_raised_interrupt_ends_the_start_up_check_and_its_lock_wait_leaving_the_file_as_it_was() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut outbox = open(&path, MB);
    outbox
        .enqueue_batch(&[rec("a", 100), rec("b", 100)])
        .unwrap();
    drop(outbox); // as after a crash: the full check is due at the next start
    let holder = lock_exclusively(&path);
    let interrupt = Interrupt::new();
    let raiser = {
        let interrupt = interrupt.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            interrupt.raise();
        })
    };
    let config = OutboxConfig {
        busy_timeout: Duration::from_secs(60),
        ..OutboxConfig::new(MB)
    };
    let started = Instant::now();
    let err = Outbox::open_interruptible(&path, config, &interrupt).unwrap_err();
    let took = started.elapsed();
    raiser.join().unwrap();
    assert!(matches!(err, BufferError::Interrupted), "{err:?}");
    assert!(
        took < Duration::from_secs(10),
        "the wait for the lock was not cut short: {took:?}"
    );
    drop(holder);
    // Nothing changed: every row is there, and the full check is still due.
    let (outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::UncleanShutdown)
    );
    assert_eq!(peek_ids(&outbox), ["a", "b"]);
    assert_consistent(&outbox);
}

#[test]
fn an_interrupt_raised_before_a_quarantine_leaves_the_damaged_file_where_it_is() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let garbage: Vec<u8> = (0..64 * 1024_u32).map(|i| (i * 7919 % 251) as u8).collect();
    fs::write(&path, &garbage).unwrap();
    let interrupt = Interrupt::new();
    interrupt.raise();
    let err = Outbox::open_interruptible(&path, OutboxConfig::new(MB), &interrupt).unwrap_err();
    assert!(matches!(err, BufferError::Interrupted), "{err:?}");
    assert!(corrupt_files(dir.path()).is_empty());
    assert_eq!(fs::read(&path).unwrap(), garbage);
    // The next open quarantines it as usual.
    let (_outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    assert!(report.quarantined.is_some());
}

#[test]
fn short_lived_writers_can_refuse_to_quarantine() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    fs::write(&path, b"definitely not sqlite, but long enough to have a header ....................................").unwrap();
    let config = OutboxConfig {
        on_corruption: OnCorruption::Fail,
        ..OutboxConfig::new(MB)
    };
    let err = Outbox::open(&path, config).unwrap_err();
    assert!(matches!(err, BufferError::CorruptFile { .. }), "{err:?}");
    assert!(corrupt_files(dir.path()).is_empty());
    assert!(
        fs::read(&path)
            .unwrap()
            .starts_with(b"definitely not sqlite")
    );
}

#[test]
fn status_reads_after_a_kill_without_recovering_by_writing() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut outbox = open(&path, MB);
    outbox.enqueue_batch(&[rec("a", 10), rec("b", 10)]).unwrap();
    outbox
        .set_state(state_keys::LAST_ERROR, Some("timeout"))
        .unwrap();
    std::mem::forget(outbox); // killed: WAL not checkpointed
    let ro = Outbox::open_read_only(&path).unwrap();
    assert_eq!(ro.stats().unwrap().pending_count, 2);
    assert_eq!(
        ro.state_value(state_keys::LAST_ERROR).unwrap().as_deref(),
        Some("timeout")
    );
}

#[test]
fn an_outbox_from_a_newer_agent_is_left_alone() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    {
        let (outbox, _) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
        outbox.close().unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Outbox::open(&path, OutboxConfig::new(MB)).unwrap_err();
    assert!(
        matches!(err, BufferError::UnsupportedSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(corrupt_files(dir.path()).is_empty());
}

#[test]
fn errors_that_are_not_corruption_do_not_quarantine() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    fs::create_dir(&path).unwrap(); // cannot be opened as a file
    let err = Outbox::open(&path, OutboxConfig::new(MB)).unwrap_err();
    assert!(
        matches!(err, BufferError::Io { .. } | BufferError::Sqlite { .. }),
        "{err:?}"
    );
    assert!(!err.is_corruption());
    assert!(path.is_dir());
    assert!(corrupt_files(dir.path()).is_empty());
}

#[test]
fn open_creates_missing_directories() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("var/lib/scout/outbox.db");
    let (_outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    assert!(report.created);
    assert!(path.exists());
}
