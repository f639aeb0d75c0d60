//! The uplink over real HTTP (reqwest → a fake collector on 127.0.0.1:0 that speaks the
//! protocol): what is sent, and what each answer does to the outbox and the status. Real time,
//! with millisecond backoff; every wait is on a condition with a timeout, not a sleep.

use std::time::Duration;

use chrono::DateTime;
use scout_agent::outbox::state_keys;
use scout_agent::uplink::{HttpTransport, UplinkState, UploadError};

use crate::fake::{FakeCollector, Reply};
use crate::support::{MemOutbox, Running, TOKEN, install_crypto, settings};

fn ids(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

fn outbox_with(ids: &[String]) -> MemOutbox {
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    MemOutbox::with_ids(&refs)
}

fn spawn(
    fake: &FakeCollector,
    outbox: &MemOutbox,
    tweak: impl FnOnce(&mut scout_agent::uplink::UplinkSettings),
) -> Running {
    install_crypto();
    let mut s = settings(&fake.url());
    tweak(&mut s);
    let transport = HttpTransport::new(&s).unwrap();
    Running::spawn(outbox.clone(), transport, s)
}

#[tokio::test]
async fn a_batch_is_stamped_gzipped_and_acked_after_200() {
    let fake = FakeCollector::start(Vec::new()).await;
    let outbox = outbox_with(&ids(3, "ok-"));
    let expected: Vec<_> = outbox.with(|m| m.pending.values().cloned().collect());
    let mut up = spawn(&fake, &outbox, |_| {});
    let st = up.until(10, "delivery", |s| s.totals.batches == 1).await;

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    assert_eq!(r.headers["content-encoding"], "gzip");
    assert_eq!(
        r.headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    assert!(
        r.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("scout-agent/9.8.7-test")
    );
    assert_eq!(r.lines.len(), 3);
    for (line, record) in r.lines.iter().zip(&expected) {
        assert_eq!(line["transactionId"], record.transaction_id.as_str());
        let stamp = &line["_agent"];
        assert_eq!(stamp["seq"], record.seq);
        assert_eq!(stamp["version"], "9.8.7-test");
        let captured = DateTime::parse_from_rfc3339(stamp["capturedAt"].as_str().unwrap()).unwrap();
        assert_eq!(captured, record.captured_at);
        assert!(stamp["capturedAt"].as_str().unwrap().ends_with('Z'));
        // The payload itself is untouched.
        let mut without = line.clone();
        without.as_object_mut().unwrap().remove("_agent");
        let original: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
        assert_eq!(without, original);
    }
    assert!(outbox.pending_ids().is_empty());
    assert_eq!(fake.landed(), ids(3, "ok-"));
    let batch = st.last_batch.clone().unwrap();
    assert_eq!(
        (
            batch.lines,
            batch.inserted,
            batch.duplicates,
            batch.rejected
        ),
        (3, 3, 0, 0)
    );
    assert!(batch.wire_bytes < batch.raw_bytes, "{batch:?}");
    assert_eq!(st.collector_reachable, Some(true));
    assert!(st.last_success_at.is_some());
    up.until_state(5, UplinkState::Idle).await;
    assert!(outbox.state(state_keys::LAST_UPLOAD_AT).is_some());
    up.stop().await;
}

#[tokio::test]
async fn rejected_lines_become_dead_letters_with_the_reason_and_are_not_resent() {
    let fake = FakeCollector::start(Vec::new()).await;
    let outbox = MemOutbox::with_ids(&["good-1", "reject-1", "good-2", "reject-2"]);
    let mut up = spawn(&fake, &outbox, |_| {});
    let st = up.until(10, "delivery", |s| s.totals.batches == 1).await;
    assert_eq!(st.last_batch.as_ref().unwrap().rejected, 2);
    assert_eq!(st.totals.dead_lettered, 2);
    assert!(outbox.pending_ids().is_empty());
    let dead = outbox.with(|m| m.dead.clone());
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].1, "reject-1");
    assert!(
        dead[0]
            .2
            .starts_with("collector: totals.totalAmount is not a number"),
        "{dead:?}"
    );
    assert_eq!(dead[1].1, "reject-2");

    // More work later: the dead letters are not sent again.
    outbox.push("good-3");
    up.wake.notify();
    up.until(10, "second delivery", |s| s.totals.batches == 2)
        .await;
    let sent: Vec<String> = fake
        .requests()
        .iter()
        .flat_map(|r| {
            r.lines
                .iter()
                .map(|l| l["transactionId"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(sent, ["good-1", "reject-1", "good-2", "reject-2", "good-3"]);
    assert_eq!(fake.landed(), ["good-1", "good-2", "good-3"]);
    up.stop().await;
}

#[tokio::test]
async fn server_errors_are_retried_until_delivered_without_loss_or_duplicates() {
    let fake = FakeCollector::start(vec![
        Reply::Status(500, None),
        Reply::Status(502, None),
        Reply::Status(504, None),
        Reply::Garbage,
        Reply::Unbalanced,
    ])
    .await;
    let all = ids(25, "t-");
    let outbox = outbox_with(&all);
    let mut up = spawn(&fake, &outbox, |s| {
        s.batch_max_records = 10.try_into().unwrap()
    });
    let st = up
        .until(20, "drained", |s| {
            s.totals.batches == 3 && s.state == UplinkState::Idle
        })
        .await;
    assert_eq!(st.totals.failed_attempts, 5);
    assert_eq!(fake.landed(), all);
    assert!(outbox.pending_ids().is_empty());
    // The same first batch was sent six times before anything else.
    let requests = fake.requests();
    assert_eq!(requests.len(), 8);
    for r in &requests[..6] {
        assert_eq!(r.lines, requests[0].lines);
    }
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 502, 504, 200, 200, 200, 200, 200]
    );
    up.stop().await;
}

#[tokio::test]
async fn an_unbalanced_answer_acknowledges_nothing() {
    let fake = FakeCollector::start(vec![Reply::Unbalanced]).await;
    let outbox = MemOutbox::with_ids(&["a", "b"]);
    let mut up = spawn(&fake, &outbox, |s| {
        s.backoff_initial = Duration::from_secs(3600);
        s.backoff_max = Duration::from_secs(3600);
    });
    let st = up.until_state(10, UplinkState::BackingOff).await;
    let error = st.last_error.unwrap();
    assert!(
        error.contains("does not account for the batch: sent 2 lines, it saw 3"),
        "{error}"
    );
    assert_eq!(outbox.pending_ids(), ["a", "b"]);
    assert_eq!(outbox.with(|m| m.settles), 0);
    up.stop().await;
}

#[tokio::test]
async fn retry_after_on_503_is_honoured() {
    let fake = FakeCollector::start(vec![Reply::Status(503, Some("1"))]).await;
    let outbox = MemOutbox::with_ids(&["a"]);
    // Without Retry-After the next attempt would come within 10 ms.
    let mut up = spawn(&fake, &outbox, |s| s.backoff_max = Duration::from_secs(5));
    let st = up.until_state(10, UplinkState::BackingOff).await;
    let wait = st.next_retry_at.unwrap() - st.last_error_at.unwrap();
    assert!((wait.num_milliseconds() - 1000).abs() <= 1, "{wait:?}");
    up.until(10, "delivery", |s| s.totals.batches == 1).await;
    let r = fake.requests();
    assert_eq!(r.len(), 2);
    assert!(
        r[1].at - r[0].at >= Duration::from_secs(1),
        "{:?}",
        r[1].at - r[0].at
    );
    up.stop().await;
}

#[tokio::test]
async fn too_large_halves_the_batch_until_it_fits() {
    let fake = FakeCollector::start(vec![Reply::TooLargeOver(2)]).await;
    let all = ids(8, "big-");
    let outbox = outbox_with(&all);
    let mut up = spawn(&fake, &outbox, |s| {
        s.batch_max_records = 8.try_into().unwrap()
    });
    let st = up
        .until(10, "drained", |s| {
            s.totals.inserted == 8 && s.state == UplinkState::Idle
        })
        .await;
    let sizes: Vec<usize> = fake.requests().iter().map(|r| r.lines.len()).collect();
    // 8 and 4 refused, 2 fits; the smaller limit sticks for the rest of the backlog.
    assert_eq!(sizes, [8, 4, 2, 2, 2, 2]);
    assert_eq!(st.batch_limit, 2);
    assert_eq!(
        st.totals.failed_attempts, 0,
        "413 is not a failure to back off from"
    );
    // Each record exactly once. The 2-record batches are pipelined (the next is sent while the
    // one before awaits its answer), so they may land in either order.
    let mut landed = fake.landed();
    landed.sort();
    assert_eq!(landed, all);
    assert!(outbox.dead_ids().is_empty());
    up.stop().await;
}

#[tokio::test]
async fn a_single_record_refused_as_too_large_becomes_a_dead_letter() {
    let fake = FakeCollector::start(vec![Reply::Status(413, None)]).await;
    let outbox = MemOutbox::with_ids(&["huge"]);
    let mut up = spawn(&fake, &outbox, |_| {});
    up.until(10, "dead letter", |s| s.totals.dead_lettered == 1)
        .await;
    let dead = outbox.with(|m| m.dead.clone());
    assert_eq!(dead[0].1, "huge");
    assert!(
        dead[0].2.contains("too large (HTTP 413: scripted failure)"),
        "{dead:?}"
    );
    outbox.push("small");
    up.wake.notify();
    up.until(10, "delivery", |s| s.totals.batches == 1).await;
    assert_eq!(fake.landed(), ["small"]);
    up.stop().await;
}

#[tokio::test]
async fn a_payload_that_is_not_an_object_is_dead_lettered_without_being_sent() {
    let fake = FakeCollector::start(Vec::new()).await;
    let outbox = MemOutbox::with_ids(&["a"]);
    outbox.push_raw("array", b"[1,2,3]");
    outbox.push("b");
    let mut up = spawn(&fake, &outbox, |_| {});
    let st = up
        .until(10, "drained", |s| {
            s.totals.batches == 1 && s.state == UplinkState::Idle
        })
        .await;
    assert_eq!(st.totals.dead_lettered, 1);
    let dead = outbox.with(|m| m.dead.clone());
    assert_eq!(dead[0].1, "array");
    assert!(
        dead[0].2.starts_with("agent: payload is not a JSON object"),
        "{dead:?}"
    );
    assert_eq!(fake.landed(), ["a", "b"]);
    assert_eq!(fake.requests()[0].lines.len(), 2);
    up.stop().await;
}

#[tokio::test]
async fn a_refused_token_keeps_the_rows_and_says_auth_failed() {
    let fake = FakeCollector::start(Vec::new()).await;
    let outbox = MemOutbox::with_ids(&["a", "b"]);
    let mut up = spawn(&fake, &outbox, |s| {
        s.token = scout_agent::config::Secret::new("scout_wrong");
    });
    let st = up.until_state(10, UplinkState::AuthFailed).await;
    let error = st.last_error.unwrap();
    assert!(
        error.starts_with(
            "token refused by the collector (HTTP 401: unknown or revoked device token)"
        ),
        "{error}"
    );
    assert_eq!(st.collector_reachable, Some(true));
    // It keeps trying (with backoff), and keeps the rows.
    up.until(10, "a few retries", |s| s.consecutive_failures >= 3)
        .await;
    assert_eq!(outbox.pending_ids(), ["a", "b"]);
    assert!(fake.landed().is_empty());
    assert_eq!(
        outbox.state(state_keys::LAST_ERROR).as_deref(),
        Some(error.as_str())
    );
    up.stop().await;
}

#[tokio::test]
async fn a_415_is_reported_as_a_format_problem_and_retried() {
    let fake = FakeCollector::start(vec![Reply::Status(415, None)]).await;
    let outbox = MemOutbox::with_ids(&["a"]);
    let mut up = spawn(&fake, &outbox, |s| {
        s.backoff_initial = Duration::from_secs(3600);
        s.backoff_max = Duration::from_secs(3600);
    });
    let st = up.until_state(10, UplinkState::BackingOff).await;
    assert!(st.last_error.unwrap().contains("HTTP 415"));
    assert_eq!(outbox.pending_ids(), ["a"]);
    up.stop().await;
}

#[tokio::test]
async fn a_closed_port_reads_connection_refused() {
    install_crypto();
    // Bound but not listening: connections are refused, and the port stays ours (no other
    // process can start listening on it while the test runs).
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let s = settings(&format!("http://127.0.0.1:{port}"));
    let transport = HttpTransport::new(&s).unwrap();
    let outbox = MemOutbox::with_ids(&["a"]);
    let mut up = Running::spawn(outbox.clone(), transport, s);
    let st = up.until_state(10, UplinkState::BackingOff).await;
    assert_eq!(
        st.last_error.as_deref(),
        Some(format!("connection refused by 127.0.0.1:{port} (collector not running, or the port is closed)").as_str())
    );
    assert_eq!(st.collector_reachable, Some(false));
    assert_eq!(outbox.pending_ids(), ["a"]);
    up.stop().await;
    drop(closed);
}

#[tokio::test]
async fn a_slow_collector_reads_timeout_and_the_batch_is_sent_again() {
    let fake = FakeCollector::start(vec![Reply::Slow(Duration::from_secs(30))]).await;
    let outbox = MemOutbox::with_ids(&["a", "b"]);
    let mut up = spawn(&fake, &outbox, |s| {
        s.request_timeout = Duration::from_secs(1)
    });
    let st = up.until_state(10, UplinkState::BackingOff).await;
    assert_eq!(
        st.last_error.as_deref(),
        Some("timeout: no answer from the collector within 1 s")
    );
    assert_eq!(st.collector_reachable, Some(false));
    up.until(10, "delivery", |s| s.totals.batches == 1).await;
    assert_eq!(fake.landed(), ["a", "b"]);
    assert!(outbox.pending_ids().is_empty());
    up.stop().await;
}

#[tokio::test]
async fn heartbeats_reach_the_collector() {
    let fake = FakeCollector::start(Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = MemOutbox::default();
    let mut up = spawn(&fake, &outbox, |s| {
        s.outbox_path = dir.path().join("outbox.db");
    });
    up.until(10, "a heartbeat", |s| s.totals.heartbeats == 1)
        .await;
    let beat = &fake.heartbeats()[0];
    assert_eq!(beat["agent_version"], "9.8.7-test");
    assert_eq!(beat["queue_depth"], 0);
    assert!(beat["disk_free_bytes"].as_u64().unwrap() > 0, "{beat}");
    assert!(beat["uptime_secs"].is_u64());
    assert!(up.status.borrow().last_heartbeat_at.is_some());
    up.stop().await;
}

#[tokio::test]
async fn heartbeat_failures_show_in_status_and_do_not_hold_up_uploads() {
    let fake = FakeCollector::start(Vec::new()).await;
    // An older collector without /v1/heartbeat.
    fake.heartbeat_status(Some(404));
    let outbox = MemOutbox::with_ids(&["a"]);
    let mut up = spawn(&fake, &outbox, |s| {
        s.heartbeat_interval = Duration::from_millis(50)
    });
    let st = up
        .until(10, "failed heartbeats", |s| {
            s.totals.heartbeat_failures >= 3
        })
        .await;
    let error = st.heartbeat_error.clone().unwrap();
    assert!(error.contains("HTTP 404"), "{error}");
    assert_eq!(st.totals.batches, 1, "uploads went on");
    assert_eq!(
        st.last_error, None,
        "a heartbeat failure is not an upload error"
    );
    assert_eq!(fake.landed(), ["a"]);

    fake.heartbeat_status(None);
    let st = up
        .until(10, "a heartbeat", |s| s.totals.heartbeats >= 1)
        .await;
    assert_eq!(st.heartbeat_error, None);
    up.stop().await;
}

#[tokio::test]
async fn the_transport_refuses_unusable_settings_up_front() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings("ftp://collector");
    assert!(matches!(
        HttpTransport::new(&s),
        Err(UploadError::CollectorUrl { .. })
    ));
    s.collector_url = "https://collector.example".into();
    s.ca_file = Some(dir.path().join("missing.pem"));
    let err = HttpTransport::new(&s).unwrap_err();
    assert!(matches!(err, UploadError::CaFile { .. }), "{err}");
    assert!(err.is_tls());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    s.ca_file = Some(garbage);
    let err = HttpTransport::new(&s).unwrap_err();
    assert!(matches!(err, UploadError::CaCertificates { .. }), "{err}");
    assert!(
        err.to_string().contains("no usable PEM certificate"),
        "{err}"
    );
}
