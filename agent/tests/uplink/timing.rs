//! The retry schedule on a paused tokio clock (no real sleeps): the uplink loop with the
//! in-memory outbox and a scripted transport, so the only timers are the uplink's own and every
//! gap between two requests is exactly the delay it chose (to the timer wheel's millisecond).

use std::time::Duration;

use scout_agent::outbox::state_keys;
use scout_agent::uplink::{Backoff, IN_FLIGHT, UplinkState, UploadError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::support::{
    Answer, Call, MemOutbox, Running, ScriptedTransport, accept_all, fail, server_error, settings,
};

const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn next_call(calls: &mut mpsc::UnboundedReceiver<Call>) -> Call {
    tokio::time::timeout(Duration::from_secs(24 * 3600), calls.recv())
        .await
        .expect("no request within a virtual day")
        .expect("transport dropped")
}

/// The gaps between consecutive requests.
async fn gaps(calls: &mut mpsc::UnboundedReceiver<Call>, requests: usize) -> Vec<Duration> {
    let mut at: Vec<Instant> = Vec::new();
    for _ in 0..requests {
        at.push(next_call(calls).await.at);
    }
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

/// `gap` is `expected` as the tokio timer wheel (1 ms resolution) rounds it up.
fn assert_waited(gap: Duration, expected: Duration, what: &str) {
    assert!(
        gap >= expected && gap <= expected + MS,
        "{what}: waited {gap:?}, expected {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn delays_grow_exponentially_to_the_cap_with_full_jitter() {
    let mut s = settings("http://unused");
    s.backoff_initial = ms(100);
    s.backoff_max = ms(1600);
    s.jitter_seed = Some(11);
    let failures = 12;
    let script: Vec<Answer> = (0..failures).map(|_| fail(server_error)).collect();
    let (transport, mut calls) = ScriptedTransport::new(script);
    let outbox = MemOutbox::with_ids(&["a", "b"]);
    let mut up = Running::spawn(outbox.clone(), transport.clone(), s);

    let gaps = gaps(&mut calls, failures + 1).await;
    // The same policy, drawn with the same seed, gives the delays the loop must have waited.
    let mut policy = Backoff::new(ms(100), ms(1600), Some(11));
    let mut ceilings = Vec::new();
    for (i, gap) in gaps.iter().enumerate() {
        let expected = policy.next_delay();
        ceilings.push(policy.last_ceiling());
        assert_waited(*gap, expected, &format!("retry {}", i + 1));
        assert!(
            *gap <= policy.last_ceiling() + MS,
            "jitter above the ceiling"
        );
        assert!(*gap <= ms(1600) + MS, "delay above the cap");
    }
    assert_eq!(
        ceilings,
        [
            100, 200, 400, 800, 1600, 1600, 1600, 1600, 1600, 1600, 1600, 1600
        ]
        .map(ms)
    );
    // Full jitter: the delays are spread below the ceilings, not pinned to them.
    assert!(
        gaps.iter().zip(&ceilings).any(|(g, c)| *g + ms(50) < *c),
        "{gaps:?}"
    );

    // The same records every time, then delivered; status shows a recovered uplink.
    let st = up.until(60, "delivery", |s| s.totals.batches == 1).await;
    assert_eq!(st.consecutive_failures, 0);
    assert_eq!(st.totals.failed_attempts, failures as u64);
    for call in transport.calls() {
        let ids: Vec<&str> = call
            .lines
            .iter()
            .map(|l| l["transactionId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }
    assert!(outbox.pending_ids().is_empty());
    up.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_capped_at_backoff_max() {
    let mut s = settings("http://unused");
    s.backoff_initial = ms(500);
    s.backoff_max = Duration::from_secs(60);
    let busy = |status: u16, secs: Option<u64>| -> Answer {
        Box::new(move |_| {
            Err(UploadError::Busy {
                status,
                retry_after: secs.map(Duration::from_secs),
                message: "busy".into(),
            })
        })
    };
    let script = vec![
        busy(503, Some(7)),
        busy(429, Some(3600)),
        busy(503, None),
        busy(503, Some(0)),
    ];
    let (transport, mut calls) = ScriptedTransport::new(script);
    let mut up = Running::spawn(MemOutbox::with_ids(&["a"]), transport, s);

    let first = next_call(&mut calls).await;
    let st = up
        .until(1, "backing off", |s| s.state == UplinkState::BackingOff)
        .await;
    assert!(
        st.last_error.as_deref().unwrap().contains("HTTP 503"),
        "{st:?}"
    );
    assert_eq!(st.collector_reachable, Some(true));
    let second = next_call(&mut calls).await;
    assert_waited(
        second.at - first.at,
        Duration::from_secs(7),
        "Retry-After: 7",
    );
    let third = next_call(&mut calls).await;
    assert_waited(
        third.at - second.at,
        Duration::from_secs(60),
        "Retry-After: 3600, capped",
    );
    // Without Retry-After: the first exponential step (Retry-After waits do not advance it).
    let fourth = next_call(&mut calls).await;
    assert!(
        fourth.at - third.at <= ms(500) + MS,
        "{:?}",
        fourth.at - third.at
    );
    let fifth = next_call(&mut calls).await;
    assert_waited(fifth.at - fourth.at, Duration::ZERO, "Retry-After: 0");
    up.until(1, "delivery", |s| s.totals.batches == 1).await;
    up.stop().await;
}

#[tokio::test(start_paused = true)]
async fn backoff_starts_over_after_a_success() {
    let mut s = settings("http://unused");
    s.backoff_initial = ms(100);
    s.backoff_max = Duration::from_secs(10);
    s.jitter_seed = Some(5);
    let script = vec![fail(server_error), fail(server_error), fail(server_error)];
    let (transport, mut calls) = ScriptedTransport::new(script);
    let outbox = MemOutbox::with_ids(&["a"]);
    let mut up = Running::spawn(outbox.clone(), transport.clone(), s);
    let before = gaps(&mut calls, 4).await;
    up.until(1, "delivery", |s| s.totals.batches == 1).await;

    // A new record and two more failures: the ceilings start again at 100 ms.
    transport.push(fail(server_error));
    transport.push(fail(server_error));
    outbox.push("b");
    up.wake.notify();
    let after = gaps(&mut calls, 3).await;

    let mut policy = Backoff::new(ms(100), Duration::from_secs(10), Some(5));
    for (i, gap) in before.iter().enumerate() {
        assert_waited(*gap, policy.next_delay(), &format!("first run, retry {i}"));
    }
    assert_eq!(policy.last_ceiling(), ms(400));
    policy.reset();
    for (i, gap) in after.iter().enumerate() {
        assert_waited(
            *gap,
            policy.next_delay(),
            &format!("after success, retry {i}"),
        );
    }
    assert_eq!(policy.last_ceiling(), ms(200));
    up.stop().await;
}

#[tokio::test(start_paused = true)]
async fn auth_failures_keep_the_rows_and_back_off() {
    let mut s = settings("http://unused");
    s.backoff_initial = ms(1000);
    s.backoff_max = ms(8000);
    let unauthorized = || UploadError::Unauthorized {
        message: "unknown or revoked device token".into(),
    };
    let forbidden = || UploadError::Forbidden {
        message: "lines name another device".into(),
    };
    let script = vec![fail(unauthorized), fail(unauthorized), fail(forbidden)];
    let (transport, mut calls) = ScriptedTransport::new(script);
    let outbox = MemOutbox::with_ids(&["a", "b"]);
    let mut up = Running::spawn(outbox.clone(), transport, s);

    next_call(&mut calls).await;
    let st = up.until_state(1, UplinkState::AuthFailed).await;
    let error = st.last_error.clone().unwrap();
    assert!(
        error.contains("token refused by the collector (HTTP 401"),
        "{error}"
    );
    assert_eq!(outbox.pending_ids(), ["a", "b"]);
    assert_eq!(
        outbox.state(state_keys::LAST_ERROR).as_deref(),
        Some(error.as_str())
    );
    assert!(outbox.state(state_keys::NEXT_RETRY_AT).is_some());

    let g = gaps(&mut calls, 3).await; // the 2nd and 3rd failures, then success
    assert!(g.iter().all(|d| *d <= ms(8000) + MS), "{g:?}");
    up.until(10, "delivery", |s| s.totals.batches == 1).await;
    assert!(outbox.pending_ids().is_empty());
    assert!(outbox.dead_ids().is_empty());
    // Cleared by the success.
    assert_eq!(outbox.state(state_keys::LAST_ERROR), None);
    assert_eq!(outbox.state(state_keys::NEXT_RETRY_AT), None);
    up.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_uplink_sleeps_until_poked_and_writes_nothing() {
    let mut s = settings("http://unused");
    s.idle_poll = Duration::from_secs(30);
    let (transport, mut calls) = ScriptedTransport::new(Vec::new());
    let outbox = MemOutbox::default();
    let mut up = Running::spawn(outbox.clone(), transport.clone(), s);

    // Ten virtual minutes with nothing to send: one look at start, then one per idle_poll.
    tokio::time::sleep(Duration::from_secs(600) + ms(1)).await;
    let peeks = outbox.with(|m| m.peeks);
    assert_eq!(peeks, 1 + 600 / 30, "the outbox was polled {peeks} times");
    assert!(
        outbox.with(|m| m.state_writes.is_empty()),
        "idle uplink wrote state"
    );
    assert!(transport.calls().is_empty());
    assert_eq!(up.status.borrow().state, UplinkState::Idle);

    // Intake pokes: the record goes at once, without waiting for the next idle check.
    outbox.push("a");
    let poked = Instant::now();
    up.wake.notify();
    let call = next_call(&mut calls).await;
    assert_eq!(call.at, poked);
    let st = up.until(1, "delivery", |s| s.totals.batches == 1).await;
    assert_eq!(st.last_batch.as_ref().unwrap().inserted, 1);
    up.until_state(1, UplinkState::Idle).await;
    // One write: the upload time. Nothing else changed.
    assert_eq!(outbox.writes_of(state_keys::LAST_UPLOAD_AT), 1);
    assert_eq!(outbox.with(|m| m.state_writes.len()), 1);

    // Idle again for an hour: still no writes.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(outbox.with(|m| m.state_writes.len()), 1);
    up.stop().await;
}

#[tokio::test(start_paused = true)]
async fn state_is_written_on_change_only_while_failing_and_draining() {
    let mut s = settings("http://unused");
    s.batch_max_records = 1.try_into().unwrap();
    s.backoff_initial = ms(100);
    s.backoff_max = ms(100);
    let script: Vec<Answer> = (0..5).map(|_| fail(server_error)).collect();
    let (transport, _calls) = ScriptedTransport::new(script);
    let ids: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let outbox = MemOutbox::with_ids(&refs);
    let mut up = Running::spawn(outbox.clone(), transport, s);
    up.until(60, "drained", |s| {
        s.totals.batches == 50 && s.state == UplinkState::Idle
    })
    .await;
    // The same error five times: written once, cleared once.
    assert_eq!(outbox.writes_of(state_keys::LAST_ERROR), 2);
    // A retry time per failure, cleared once.
    assert_eq!(outbox.writes_of(state_keys::NEXT_RETRY_AT), 6);
    // 50 batches within a few virtual milliseconds: the upload time once when the first
    // landed and once when the queue emptied, not 50 times.
    assert_eq!(outbox.writes_of(state_keys::LAST_UPLOAD_AT), 2);
    up.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_a_backoff_wait_at_once() {
    let mut s = settings("http://unused");
    s.backoff_initial = Duration::from_secs(3600);
    s.backoff_max = Duration::from_secs(3600);
    s.jitter_seed = Some(1);
    let (transport, mut calls) = ScriptedTransport::new(vec![fail(server_error)]);
    let outbox = MemOutbox::with_ids(&["a"]);
    let mut up = Running::spawn(outbox.clone(), transport, s);
    next_call(&mut calls).await;
    let st = up.until_state(1, UplinkState::BackingOff).await;
    assert!(st.next_retry_at.is_some());
    let asked = Instant::now();
    up.stop().await;
    assert_eq!(Instant::now(), asked, "shutdown waited for the backoff");
    assert_eq!(outbox.pending_ids(), ["a"]);
    assert_eq!(outbox.state(state_keys::NEXT_RETRY_AT), None);
    assert!(outbox.state(state_keys::LAST_ERROR).is_some());
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_the_request_in_flight_finish_and_settles_it() {
    let s = settings("http://unused");
    let (transport, mut calls) = ScriptedTransport::new(Vec::new());
    transport.set_latency(Duration::from_secs(5));
    let outbox = MemOutbox::with_ids(&["a", "b", "c"]);
    let mut up = Running::spawn(outbox.clone(), transport, s);
    let call = next_call(&mut calls).await;
    up.until_state(1, UplinkState::Sending).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    up.stop().await;
    assert_eq!(Instant::now() - call.at, Duration::from_secs(5));
    assert!(
        outbox.pending_ids().is_empty(),
        "the answered batch was not settled"
    );
    assert_eq!(outbox.with(|m| m.settles), 1);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_carry_the_queue_and_the_uplink_state() {
    let mut s = settings("http://unused");
    s.heartbeat_interval = Duration::from_secs(60);
    s.backoff_initial = Duration::from_secs(600);
    s.backoff_max = Duration::from_secs(600);
    let (transport, mut calls) = ScriptedTransport::new(vec![fail(server_error)]);
    let outbox = MemOutbox::with_ids(&["a", "b"]);
    let mut up = Running::spawn(outbox.clone(), transport.clone(), s);
    next_call(&mut calls).await;
    up.until_state(1, UplinkState::BackingOff).await;
    // The first heartbeat goes at start; then one per interval, whatever the uploads do.
    tokio::time::sleep(Duration::from_secs(150)).await;
    let beats = transport.heartbeats();
    assert_eq!(beats.len(), 3, "{beats:?}");
    let last = beats.last().unwrap();
    assert_eq!(last.queue_depth, 2);
    assert!(last.queue_bytes > 0);
    assert_eq!(last.agent_version, "9.8.7-test");
    assert!(last.oldest_pending_age_secs.is_some());
    assert!(
        last.last_error.as_deref().unwrap().contains("HTTP 500"),
        "{last:?}"
    );
    assert_eq!(up.status.borrow().totals.heartbeats, 3);
    up.stop().await;
}

/// The ids of each ingest call's lines.
fn sent_ids(transport: &ScriptedTransport) -> Vec<Vec<String>> {
    transport
        .calls()
        .iter()
        .map(|call| {
            call.lines
                .iter()
                .map(|l| l["transactionId"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn batches_travel_together_after_a_success_and_are_resent_in_order_after_a_failure() {
    let mut s = settings("http://unused");
    s.batch_max_records = 1.try_into().unwrap();
    s.backoff_initial = ms(100);
    s.backoff_max = ms(100);
    // a alone (nothing delivered yet); then b, c, d and e together: b fails, the rest are
    // accepted (answers that are never settled, as b's failed).
    let script: Vec<Answer> = vec![
        Box::new(accept_all),
        fail(server_error),
        Box::new(accept_all),
        Box::new(accept_all),
        Box::new(accept_all),
    ];
    let (transport, mut calls) = ScriptedTransport::new(script);
    transport.set_latency(ms(50));
    let outbox = MemOutbox::with_ids(&["a", "b", "c", "d", "e", "f"]);
    let mut up = Running::spawn(outbox.clone(), transport.clone(), s);
    let st = up
        .until(60, "drained", |s| {
            s.totals.inserted >= 6 && s.state == UplinkState::Idle
        })
        .await;
    let calls_at: Vec<Instant> = std::iter::from_fn(|| calls.try_recv().ok())
        .map(|c| c.at)
        .collect();
    // a; then b, c, d, e at once; after the backoff b alone (one in flight until a delivery),
    // then c, d, e and f at once.
    assert_eq!(
        sent_ids(&transport),
        [
            ["a"],
            ["b"],
            ["c"],
            ["d"],
            ["e"],
            ["b"],
            ["c"],
            ["d"],
            ["e"],
            ["f"]
        ]
        .map(|ids| ids.map(String::from).to_vec())
    );
    assert_eq!(IN_FLIGHT, 4);
    assert!(
        calls_at[1..5].iter().all(|at| *at == calls_at[1]),
        "b, c, d and e were not in flight together: {calls_at:?}"
    );
    assert!(
        calls_at[1] >= calls_at[0] + ms(50),
        "b went before a was answered"
    );
    assert!(
        calls_at[5] >= calls_at[4] + ms(100),
        "no backoff before b again"
    );
    assert!(
        calls_at[6] >= calls_at[5] + ms(50),
        "c went beside b before a delivery"
    );
    assert!(
        calls_at[6..].iter().all(|at| *at == calls_at[6]),
        "the window did not open again: {calls_at:?}"
    );
    assert_eq!(st.totals.failed_attempts, 1);
    assert!(outbox.pending_ids().is_empty());
    assert!(outbox.dead_ids().is_empty());
    // a to f: one settle each; the discarded answers settled nothing.
    assert_eq!(outbox.with(|m| m.settles), 6);
    up.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_429_beside_other_batches_keeps_to_what_the_collector_took() {
    let mut s = settings("http://unused");
    s.batch_max_records = 1.try_into().unwrap();
    s.backoff_initial = ms(100);
    s.backoff_max = ms(100);
    let busy: Answer = Box::new(|_| {
        Err(UploadError::Busy {
            status: 429,
            retry_after: Some(Duration::from_secs(1)),
            message: "device busy".into(),
        })
    });
    // A collector that takes two requests at a time from a device: a alone; b, c and d
    // together, d refused with 429 (two were in flight ahead of it); from then on two at most.
    let script: Vec<Answer> = vec![
        Box::new(accept_all),
        Box::new(accept_all),
        Box::new(accept_all),
        busy,
    ];
    let (transport, _calls) = ScriptedTransport::new(script);
    transport.set_latency(ms(50));
    let ids: Vec<String> = (0..12).map(|i| format!("t{i:02}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let outbox = MemOutbox::with_ids(&id_refs);
    let mut up = Running::spawn(outbox.clone(), transport.clone(), s);
    up.until(60, "drained", |s| {
        s.totals.inserted >= 12 && s.state == UplinkState::Idle
    })
    .await;
    let calls = transport.calls();
    let sent = sent_ids(&transport);
    assert_eq!(
        sent[..4],
        [["t00"], ["t01"], ["t02"], ["t03"]].map(|ids| ids.map(String::from).to_vec())
    );
    assert!(calls[1..4].iter().all(|c| c.at == calls[1].at));
    // After the refusal: t03 again after the collector's wait (its answer came 50 ms after it
    // went, and the 1 s `Retry-After` is capped at `backoff_max`), alone, then pairs.
    let again = sent.iter().rposition(|ids| ids[0] == "t03").unwrap();
    assert!(again > 3);
    assert!(calls[again].at >= calls[3].at + ms(150));
    let after = &calls[again..];
    for three in after.windows(3) {
        assert!(
            three[2].at >= three[0].at + ms(50),
            "three in flight after a 429 that allowed two"
        );
    }
    assert!(
        after.windows(2).any(|pair| pair[0].at == pair[1].at),
        "never two in flight after the 429"
    );
    assert_eq!(sent.last().unwrap()[0], "t11");
    assert!(outbox.pending_ids().is_empty());
    up.stop().await;
}
