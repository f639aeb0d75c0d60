//! Delivery through outages: collector down, agent killed, collector killed, a flaky link.
//! Every acknowledged transaction must reach bronze exactly once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use scout_tests::agent::{AgentSetup, agent_command, start_agent, status, wait_status};
use scout_tests::proxy::{Fault, FaultPlan, FaultProxy};

use crate::support::{
    Central, client, drained, id, offline_setup, post, spawn_feeder, transaction,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_for_the_first_half_then_up() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let (setup, relay) = offline_setup(dir.path(), &central);

    let agent = start_agent(&setup);
    let client = client();
    let mut acknowledged = HashSet::new();
    for batch in 0..10 {
        let ids: Vec<String> = (0..30).map(|n| id(0x0d0e, batch * 30 + n)).collect();
        acknowledged.extend(post(&client, &agent.url("/v1/transactions"), &ids).await);
    }
    assert_eq!(acknowledged.len(), 300);
    let down = wait_status(&setup.config_path(), Duration::from_secs(20), |s| {
        s["uplink"]["last_error"].is_string()
    });
    assert_eq!(down["backlog"]["count"], 300, "{down:#}");
    assert_eq!(down["uplink"]["collector_reachable"], false, "{down:#}");

    // Second half: the collector comes up on the address the agent was given.
    let collector = central.start("127.0.0.1:0", &[]);
    relay.forward_to(&collector.addr);
    for batch in 10..20 {
        let ids: Vec<String> = (0..30).map(|n| id(0x0d0e, batch * 30 + n)).collect();
        acknowledged.extend(post(&client, &agent.url("/v1/transactions"), &ids).await);
    }
    let done = wait_status(&setup.config_path(), Duration::from_secs(60), drained);
    assert!(done["uplink"]["last_success_at"].is_string(), "{done:#}");
    central.assert_exactly_once(&acknowledged).await;
    assert_eq!(central.bronze_ids().await.len(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_20_times_during_intake_and_upload() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let collector = central.start("127.0.0.1:0", &[]);
    let setup = AgentSetup::new(dir.path(), &collector.url(""), &central.token)
        .with("batch_max_records = 40");
    let client = client();
    let mut acknowledged = HashSet::new();
    let mut next = 0_usize;
    let mut seed = 0x2545_f491_u64;
    for _ in 0..20 {
        let agent = start_agent(&setup);
        let intake = agent.url("/v1/transactions");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let lifetime = Duration::from_millis(80 + seed % 400);
        let started = Instant::now();
        let poster = spawn_feeder(&client, intake, 0x0c11, next, 5);
        tokio::time::sleep(lifetime.saturating_sub(started.elapsed())).await;
        agent.kill();
        let (acked, n) = poster.await.unwrap();
        acknowledged.extend(acked);
        next = n;
    }
    assert!(
        acknowledged.len() >= 100,
        "too little traffic: {}",
        acknowledged.len()
    );
    // A last, undisturbed run drains what is left.
    let agent = start_agent(&setup);
    let done = wait_status(&setup.config_path(), Duration::from_secs(90), drained);
    assert_eq!(done["dead_letters"], 0, "{done:#}");
    drop(agent);
    central.assert_exactly_once(&acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_mid_batch() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let (setup, relay) = offline_setup(dir.path(), &central);
    let setup = setup.with("batch_max_records = 200");
    // A backlog taken in with `scout-agent enqueue` while the service is stopped.
    let config = setup.write();
    let file = dir.path().join("backlog.ndjson");
    let ids: Vec<String> = (0..3000).map(|n| id(0x0c0c, n)).collect();
    let body: String = ids
        .iter()
        .map(|i| format!("{}\n", transaction(i)))
        .collect();
    std::fs::write(&file, body).unwrap();
    let out = agent_command(&config, &["enqueue", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(status(&config)["backlog"]["count"], 3000);

    let agent = start_agent(&setup);
    // Each collector lives until it has committed part of a batch (bronze grew; a request
    // is 200 lines, a commit 25), then is killed.
    let mut kills = 0;
    for _ in 0..5 {
        let before = central.bronze_count().await;
        if before == ids.len() {
            break;
        }
        let collector = central.start("127.0.0.1:0", &["--batch-rows", "25"]);
        relay.forward_to(&collector.addr);
        let deadline = Instant::now() + Duration::from_secs(30);
        while central.bronze_count().await == before {
            assert!(Instant::now() < deadline, "the collector committed nothing");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        collector.kill();
        kills += 1;
    }
    assert!(kills >= 3, "the backlog drained before the kills: {kills}");
    let collector = central.start("127.0.0.1:0", &[]);
    relay.forward_to(&collector.addr);
    wait_status(&config, Duration::from_secs(90), drained);
    drop(agent);
    central
        .assert_exactly_once(&ids.into_iter().collect())
        .await;
    assert_eq!(central.bronze_ids().await.len(), 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_link_loses_nothing_and_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let collector = central.start("127.0.0.1:0", &[]);
    let plan = FaultPlan {
        weights: vec![
            (Fault::Pass, 4),
            (Fault::Reset, 1),
            (
                Fault::Unavailable {
                    retry_after_secs: 1,
                },
                1,
            ),
            (Fault::Slow(Duration::from_millis(300)), 1),
            (Fault::Truncate, 2),
        ],
        seed: 0x5c0,
    };
    let proxy = FaultProxy::start(&collector.url(""), plan).await;
    let setup = AgentSetup::new(dir.path(), &proxy.url(), &central.token)
        .with("batch_max_records = 10")
        .with("heartbeat_interval_secs = 3600");
    let agent = start_agent(&setup);
    let client = client();
    let mut acknowledged = HashSet::new();
    for batch in 0..20 {
        let ids: Vec<String> = (0..40).map(|n| id(0x0f1a, batch * 40 + n)).collect();
        acknowledged.extend(post(&client, &agent.url("/v1/transactions"), &ids).await);
    }
    wait_status(&setup.config_path(), Duration::from_secs(120), drained);
    central.assert_exactly_once(&acknowledged).await;
    assert_eq!(central.bronze_ids().await.len(), 800);

    let events: Vec<_> = proxy
        .events()
        .into_iter()
        .filter(|e| e.path.starts_with("/v1/ingest"))
        .collect();
    let count = |f: fn(&Fault) -> bool| events.iter().filter(|e| f(&e.fault)).count();
    assert!(
        count(|f| matches!(f, Fault::Reset)) > 0,
        "no reset was injected"
    );
    assert!(
        count(|f| matches!(f, Fault::Truncate)) > 0,
        "no truncation was injected"
    );
    let unavailable = count(|f| matches!(f, Fault::Unavailable { .. }));
    assert!(unavailable > 0, "no 503 was injected");
    // Retry-After: 1 was honoured after every 503: no request started within it. The agent
    // keeps several batches in flight, so a request already in flight beside the refused one may
    // still finish, and one it sent while the 503 was on its way to it (a few ms) may arrive.
    let on_its_way = Duration::from_millis(20);
    for refused in events
        .iter()
        .filter(|e| matches!(e.fault, Fault::Unavailable { .. }))
    {
        for next in events
            .iter()
            .filter(|e| e.started > refused.at + on_its_way)
        {
            let gap = next.started - refused.at;
            assert!(
                gap >= Duration::from_millis(900),
                "retried after {gap:?} despite Retry-After: 1"
            );
        }
    }
    drop(agent);
}
