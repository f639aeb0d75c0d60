//! The outbox actor through its async handle: group commit under concurrent intake, a cap
//! refusal that stays with its own request, clean close, and callers that never hang.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use scout_agent::outbox::{
    BufferError, NewRecord, Outbox, OutboxConfig, OutboxHandle, QuickCheckReason, StartupCheck,
    state_keys,
};
use tempfile::TempDir;
use tokio::time::timeout;

const MB: u64 = 1024 * 1024;
/// Long enough for any of these calls on a slow CI disk, short enough to fail a hang quickly.
const PATIENCE: Duration = Duration::from_secs(20);

fn rec(id: &str, len: usize) -> NewRecord {
    let mut payload = format!("{{\"transactionId\":\"{id}\",\"pad\":\"").into_bytes();
    while payload.len() + 2 < len {
        payload.push(b'x');
    }
    payload.extend_from_slice(b"\"}");
    NewRecord {
        transaction_id: id.to_owned(),
        captured_at: Utc::now(),
        payload,
    }
}

/// Polls `call` once, which puts its request in the outbox thread's channel (a send on a
/// channel with room completes at once); its answer is awaited later.
async fn send_only<F>(call: &mut F)
where
    F: Future + Unpin,
    F::Output: std::fmt::Debug,
{
    tokio::select! {
        biased;
        answer = call => panic!("answered while SQLite's write lock is held: {answer:?}"),
        () = std::future::ready(()) => {}
    }
}

fn db(dir: &TempDir) -> PathBuf {
    dir.path().join("outbox.db")
}

fn spawn(path: &Path, max_bytes: u64) -> OutboxHandle {
    let (outbox, _) = Outbox::open(path, OutboxConfig::new(max_bytes)).unwrap();
    OutboxHandle::spawn(outbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_record_enqueues_share_commits_and_survive_a_restart() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let handle = spawn(&path, 100 * MB);
    const N: usize = 400;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let handle = handle.clone();
            tokio::spawn(async move {
                let id = format!("tx-{i:04}");
                let out = handle.enqueue(vec![rec(&id, 3000)]).await.unwrap();
                (id, out[0].seq)
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.push(timeout(PATIENCE, task).await.unwrap().unwrap());
    }
    let stats = handle.commit_stats().await.unwrap();
    assert_eq!(stats.requests, N as u64);
    assert_eq!(stats.records, N as u64);
    assert!(
        stats.commits * 4 <= N as u64,
        "group commit should share fsyncs: {stats:?}"
    );
    assert!(stats.largest_group > 1, "{stats:?}");
    let seqs: HashSet<i64> = acknowledged.iter().map(|(_, seq)| *seq).collect();
    assert_eq!(seqs.len(), N, "every record got its own sequence number");
    handle.close().await.unwrap();

    // Everything acknowledged is there after a restart, with the sequence it was given.
    let (outbox, report) = Outbox::open(&path, OutboxConfig::new(100 * MB)).unwrap();
    assert_eq!(report.startup_check, StartupCheck::CleanShutdown);
    let stored: HashSet<(String, i64)> = outbox
        .peek_batch(usize::MAX, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|r| (r.transaction_id, r.seq))
        .collect();
    assert_eq!(stored, acknowledged.into_iter().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cap_refuses_only_the_request_that_does_not_fit() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let handle = spawn(&path, 1000);

    // Hold SQLite's write lock from another connection. The thread takes a state write first
    // and waits for the lock; the enqueue requests sent meanwhile queue up behind it and, once
    // the lock is free, form one group.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut write = Box::pin(handle.set_state(state_keys::LAST_ERROR, Some("held".into())));
    send_only(&mut write).await;
    let mut queued: Vec<_> = [("a", 100), ("b", 100), ("c", 950), ("d", 100)]
        .into_iter()
        .map(|(id, len)| (id, Box::pin(handle.enqueue(vec![rec(id, len)]))))
        .collect();
    for (_, call) in &mut queued {
        send_only(call).await;
    }
    blocker.execute_batch("ROLLBACK").unwrap();

    assert!(timeout(PATIENCE, write).await.unwrap().unwrap());
    for (id, call) in queued {
        let result = timeout(PATIENCE, call).await.unwrap();
        match id {
            // Served in arrival order: a and b take 200, and 200 + 950 > 1000: refused,
            // alone (d still fits).
            "c" => assert!(
                matches!(result, Err(BufferError::Full { new_records: 1, .. })),
                "{result:?}"
            ),
            _ => assert!(result.is_ok(), "{id}: {result:?}"),
        }
    }
    let commits = handle.commit_stats().await.unwrap();
    assert_eq!(commits.requests, 4);
    assert_eq!(commits.commits, 1, "{commits:?}");
    assert_eq!(commits.largest_group, 4, "{commits:?}");
    let stats = handle.stats().await.unwrap();
    assert_eq!((stats.pending_count, stats.pending_bytes), (3, 300));
    assert_eq!(stats.refused_total, 1);
    handle.close().await.unwrap();
}

#[tokio::test]
async fn the_handle_serves_every_operation() {
    let dir = TempDir::new().unwrap();
    let handle = spawn(&db(&dir), MB);
    let mut enqueued = handle.enqueued();
    assert_eq!(*enqueued.borrow_and_update(), 0);
    let out = handle
        .enqueue(vec![rec("a", 50), rec("b", 50), rec("a", 50)])
        .await
        .unwrap();
    assert_eq!(
        out.iter().map(|e| (e.seq, e.duplicate)).collect::<Vec<_>>(),
        vec![(1, false), (2, false), (1, true)]
    );
    assert!(enqueued.has_changed().unwrap());
    assert_eq!(*enqueued.borrow_and_update(), 2);
    assert!(handle.enqueue(Vec::new()).await.unwrap().is_empty());
    handle.enqueue(vec![rec("a", 50)]).await.unwrap(); // a duplicate stores nothing
    assert!(!enqueued.has_changed().unwrap());
    let batch = handle.peek(10, u64::MAX).await.unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(handle.peek_after(1, 10, u64::MAX).await.unwrap().len(), 1);
    let settled = handle
        .settle(vec![1], vec![(2, "missing items".into())])
        .await
        .unwrap();
    assert_eq!((settled.acked, settled.dead_lettered), (1, 1));
    let dead = handle.dead_letters(10).await.unwrap();
    assert_eq!(dead[0].reason, "missing items");
    assert!(
        handle
            .set_state(state_keys::LAST_ERROR, Some("timeout".into()))
            .await
            .unwrap()
    );
    assert!(
        !handle
            .set_state(state_keys::LAST_ERROR, Some("timeout".into()))
            .await
            .unwrap()
    );
    let stats = handle.stats().await.unwrap();
    assert_eq!((stats.pending_count, stats.dead_letter_count), (0, 1));
    // An invalid record refuses its own request.
    let mut broken = rec("x", 50);
    broken.payload = b"a\nb".to_vec();
    assert!(matches!(
        handle.enqueue(vec![broken]).await,
        Err(BufferError::InvalidRecord { .. })
    ));
    assert!(!handle.corruption_seen());
    handle.close().await.unwrap();
}

#[tokio::test]
async fn calls_after_close_get_a_clear_error_and_the_session_closed_cleanly() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let handle = spawn(&path, MB);
    handle.enqueue(vec![rec("a", 10)]).await.unwrap();
    let other = handle.clone();
    handle.close().await.unwrap();

    for result in [
        other.enqueue(vec![rec("b", 10)]).await.map(|_| ()),
        other.peek(1, 1).await.map(|_| ()),
        other.stats().await.map(|_| ()),
        other.close().await,
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, BufferError::Closed), "{err:?}");
        assert!(err.to_string().contains("closed"), "{err}");
    }
    let (outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    assert_eq!(report.startup_check, StartupCheck::CleanShutdown);
    assert_eq!(outbox.stats().unwrap().pending_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_racing_close_are_answered_not_left_hanging() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let handle = spawn(&path, 100 * MB);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.enqueue(vec![rec(&format!("t{i}"), 500)]).await })
        })
        .collect();
    let closer = tokio::spawn({
        let handle = handle.clone();
        async move { handle.close().await }
    });
    let mut stored = 0;
    for task in tasks {
        match timeout(PATIENCE, task).await.unwrap().unwrap() {
            Ok(_) => stored += 1,
            Err(BufferError::Closed) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    timeout(PATIENCE, closer).await.unwrap().unwrap().unwrap();
    // Whatever was acknowledged before the close is there.
    let (outbox, _) = Outbox::open(&path, OutboxConfig::new(100 * MB)).unwrap();
    assert_eq!(outbox.stats().unwrap().pending_count, stored);
}

#[tokio::test]
async fn dropping_every_handle_closes_the_outbox_cleanly() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let handle = spawn(&path, MB);
    handle.enqueue(vec![rec("a", 10)]).await.unwrap();
    drop(handle);
    // The thread closes the connection, which removes the WAL file.
    let wal = dir.path().join("outbox.db-wal");
    let waited = timeout(PATIENCE, async {
        while wal.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the outbox thread did not close the file");
    let (outbox, report) = Outbox::open(&path, OutboxConfig::new(MB)).unwrap();
    assert_eq!(report.startup_check, StartupCheck::CleanShutdown);
    assert_eq!(outbox.stats().unwrap().pending_count, 1);
}

#[tokio::test]
async fn corruption_met_through_the_handle_is_signalled_and_quarantined_at_the_next_start() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    {
        let (mut outbox, _) = Outbox::open(&path, OutboxConfig::new(100 * MB)).unwrap();
        let batch: Vec<NewRecord> = (0..1000).map(|i| rec(&format!("tx-{i:05}"), 600)).collect();
        outbox.enqueue_batch(&batch).unwrap();
        outbox.close().unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let mut bytes = std::fs::read(&path).unwrap();
    let page = (len / 4096 / 2) as usize * 4096;
    for (i, b) in bytes[page..page + 4096].iter_mut().enumerate() {
        *b = (i * 31 % 256) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();

    let handle = spawn(&path, 100 * MB);
    let mut corruption = handle.corruption();
    assert!(!*corruption.borrow());
    let err = handle.peek(usize::MAX, u64::MAX).await.unwrap_err();
    assert!(err.is_corruption(), "{err:?}");
    timeout(PATIENCE, corruption.wait_for(|seen| *seen))
        .await
        .unwrap()
        .unwrap();
    assert!(handle.corruption_seen());
    handle.close().await.unwrap();

    let (_outbox, report) = Outbox::open(&path, OutboxConfig::new(100 * MB)).unwrap();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::UncleanShutdown)
    );
    assert!(report.quarantined.is_some());
}
