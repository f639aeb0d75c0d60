//! `scout-agent run` told to stop (SIGTERM) while it is still starting. The signal handler is in
//! place before the outbox opens, so the signal stops the start-up where the next start picks
//! it up again, and the agent exits cleanly, instead of being killed by the signal's default
//! action in the middle of its start-up check.
//!
//! The start-up is made slow the same way every run: the test holds an exclusive lock on the
//! outbox, so the agent's start-up check waits for it (up to its 5 s busy timeout, far longer
//! than the signal takes to arrive).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports failure

#[path = "support/offline.rs"]
mod offline;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use scout_agent::outbox::{NewRecord, Outbox, OutboxConfig, QuickCheckReason, StartupCheck};

const BIN: &str = env!("CARGO_BIN_EXE_scout-agent");
const MB: u64 = 1024 * 1024;

/// Kills and reaps the agent if the test fails half-way.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn records(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            transaction_id: format!("tx-{i:04}"),
            captured_at: Utc::now(),
            payload: format!("{{\"transactionId\":\"tx-{i:04}\"}}").into_bytes(),
        })
        .collect()
}

/// Waits until the log holds `needle`, and returns the log.
fn wait_for_log(log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for_exit(agent: &mut Agent) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = agent.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the agent did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_during_a_slow_start_up_stops_the_agent_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let outbox_path = dir.path().join("outbox.db");
    // An outbox with a backlog, left as after a crash: the full check is due at the next start.
    let (mut outbox, _) = Outbox::open(&outbox_path, OutboxConfig::new(MB)).unwrap();
    outbox.enqueue_batch(&records(50)).unwrap();
    drop(outbox);
    // Another process holds the file locked: the agent's start-up check has to wait.
    let holder = rusqlite::Connection::open(&outbox_path).unwrap();
    holder
        .pragma_update(None, "locking_mode", "EXCLUSIVE")
        .unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let log = dir.path().join("agent.log");
    let mut agent = Agent(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(offline::write_config(dir.path()))
            .env("SCOUT_AGENT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for_log(&log, "opening the outbox");
    let sent = Instant::now();
    let pid = agent.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_for_exit(&mut agent);
    let took = sent.elapsed();
    let text = std::fs::read_to_string(&log).unwrap();
    // Exit code 0: the signal was handled, not its default action (which kills the process).
    assert!(status.success(), "exit status {status}:\n{text}");
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} to stop: the wait for the lock was not cut short\n{text}"
    );
    assert!(
        text.contains("stopped before the outbox opened"),
        "no word of the stop:\n{text}"
    );
    assert!(!text.contains("listening"), "it served after all:\n{text}");

    // The file is as it was: every row is there, and the full check is still due.
    drop(holder);
    let (outbox, report) = Outbox::open(&outbox_path, OutboxConfig::new(MB)).unwrap();
    assert_eq!(
        report.startup_check,
        StartupCheck::QuickCheck(QuickCheckReason::UncleanShutdown)
    );
    assert_eq!(outbox.stats().unwrap().pending_count, 50);
    outbox.close().unwrap();
}
