//! Life on the device: a full disk, a corrupted outbox, TLS, SIGTERM, the spool folder, and
//! status for the technician whether or not the service runs.

use std::collections::HashSet;
use std::time::Duration;

use scout_tests::agent::{AgentSetup, agent_command, start_agent, status, wait_status};
use scout_tests::pki;

use crate::support::{
    Central, client, drained, id, offline_setup, post, spawn_feeder, transaction,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_cap_refuses_intake_then_resumes_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let (setup, relay) = offline_setup(dir.path(), &central);
    let setup = setup.with("max_outbox_bytes = 1048576");
    let agent = start_agent(&setup);
    let client = client();
    let intake = agent.url("/v1/transactions");
    let mut acknowledged = HashSet::new();
    let mut refused = None;
    for n in 0..5_000 {
        let response = client
            .post(&intake)
            .header("content-type", "application/json")
            .body(transaction(&id(0x0d15, n)).to_string())
            .send()
            .await
            .unwrap();
        if response.status().is_success() {
            acknowledged.insert(id(0x0d15, n));
            continue;
        }
        refused = Some((response.status().as_u16(), response.text().await.unwrap()));
        break;
    }
    let (code, body) = refused.expect("the 1 MiB cap was never reached");
    assert_eq!(code, 507, "{body}");
    assert!(body.contains("full"), "the refusal must say why: {body}");
    assert!(acknowledged.len() > 300, "{}", acknowledged.len());
    let s = status(&setup.config_path());
    assert!(s["refused_total"].as_u64().unwrap() >= 1, "{s:#}");
    assert_eq!(s["state"], "outbox_full", "{s:#}");

    // The collector comes back: the backlog drains and intake resumes without a restart.
    let collector = central.start("127.0.0.1:0", &[]);
    relay.forward_to(&collector.addr);
    wait_status(&setup.config_path(), Duration::from_secs(60), drained);
    let more: Vec<String> = (0..20).map(|n| id(0x0d16, n)).collect();
    acknowledged.extend(post(&client, &intake, &more).await);
    wait_status(&setup.config_path(), Duration::from_secs(30), drained);
    central.assert_exactly_once(&acknowledged).await;
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_outbox_is_quarantined_and_the_agent_runs() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let collector = central.start("127.0.0.1:0", &[]);
    let setup = AgentSetup::new(dir.path(), &collector.url(""), &central.token);
    let garbage: Vec<u8> = (0..64 * 1024_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(setup.outbox_path(), garbage).unwrap();

    let agent = start_agent(&setup);
    let s = status(&setup.config_path());
    let quarantined = &s["outbox"]["quarantined"];
    assert!(quarantined.is_object(), "{s:#}");
    let kept = quarantined["path"].as_str().unwrap();
    assert!(
        std::path::Path::new(kept).exists(),
        "the damaged file is kept at {kept}"
    );
    let ids: Vec<String> = (0..10).map(|n| id(0x0bad, n)).collect();
    let acknowledged: HashSet<String> = post(&client(), &agent.url("/v1/transactions"), &ids)
        .await
        .into_iter()
        .collect();
    assert_eq!(acknowledged.len(), 10);
    wait_status(&setup.config_path(), Duration::from_secs(30), drained);
    central.assert_exactly_once(&acknowledged).await;
    let page = client()
        .get(agent.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("quarantined"), "the status page must show it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_test_ca_and_a_wrong_ca_refused() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let certs = pki::create(dir.path());
    let collector = central.start(
        "127.0.0.1:0",
        &[
            "--tls-cert",
            certs.server_cert.to_str().unwrap(),
            "--tls-key",
            certs.server_key.to_str().unwrap(),
        ],
    );
    let port = collector.addr.rsplit(':').next().unwrap().to_owned();
    let url = format!("https://localhost:{port}");

    let good_dir = dir.path().join("good");
    std::fs::create_dir_all(&good_dir).unwrap();
    let good = AgentSetup::new(&good_dir, &url, &central.token)
        .with(format!("ca_file = \"{}\"", certs.ca_cert.display()));
    let agent = start_agent(&good);
    let ids: Vec<String> = (0..5).map(|n| id(0x7150, n)).collect();
    let acknowledged: HashSet<String> = post(&client(), &agent.url("/v1/transactions"), &ids)
        .await
        .into_iter()
        .collect();
    wait_status(&good.config_path(), Duration::from_secs(30), drained);
    central.assert_exactly_once(&acknowledged).await;
    drop(agent);

    let wrong_dir = dir.path().join("wrong");
    std::fs::create_dir_all(&wrong_dir).unwrap();
    let wrong_ca = wrong_dir.join("other-ca.pem");
    pki::unrelated_ca(&wrong_ca);
    let wrong = AgentSetup::new(&wrong_dir, &url, &central.token)
        .with(format!("ca_file = \"{}\"", wrong_ca.display()));
    let agent = start_agent(&wrong);
    post(&client(), &agent.url("/v1/transactions"), &[id(0x7151, 0)]).await;
    let s = wait_status(&wrong.config_path(), Duration::from_secs(30), |s| {
        s["uplink"]["state"] == "tls_failed"
    });
    assert_eq!(s["backlog"]["count"], 1, "{s:#}");
    let error = s["uplink"]["last_error"].as_str().unwrap().to_lowercase();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(central.bronze_ids().await.len(), 5);
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_commit_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let (setup, relay) = offline_setup(dir.path(), &central);

    let agent = start_agent(&setup);
    let client = client();
    let intake = agent.url("/v1/transactions");
    let poster = spawn_feeder(&client, intake, 0x0517, 0, 10);
    // SIGTERM while intake is busy: once a good number of requests have been committed.
    wait_status(&setup.config_path(), Duration::from_secs(30), |s| {
        s["backlog"]["count"].as_u64().unwrap() >= 100
    });
    let exit = agent.terminate(Duration::from_secs(15));
    assert!(exit.success(), "exit status {exit:?}");
    let acknowledged: HashSet<String> = poster.await.unwrap().0.into_iter().collect();
    assert!(!acknowledged.is_empty());
    // Everything acknowledged is in the outbox, and gets delivered after the restart.
    let s = status(&setup.config_path());
    assert_eq!(s["service_running"], false, "{s:#}");
    assert_eq!(s["backlog"]["count"], acknowledged.len(), "{s:#}");
    let collector = central.start("127.0.0.1:0", &[]);
    relay.forward_to(&collector.addr);
    let agent = start_agent(&setup);
    wait_status(&setup.config_path(), Duration::from_secs(60), drained);
    central.assert_exactly_once(&acknowledged).await;
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_files_are_taken_in_and_status_works_while_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::new(dir.path());
    let collector = central.start("127.0.0.1:0", &[]);
    let setup = AgentSetup::new(dir.path(), &collector.url(""), &central.token);
    let agent = start_agent(&setup);
    let spool = setup.spool_dir();
    let mut expected = HashSet::new();
    for n in 0..12 {
        let tx = id(0x5b00, n);
        // The capture app's way: write aside, then rename into place.
        let tmp = spool.join(format!(".tx-{n}.json.tmp"));
        std::fs::write(&tmp, transaction(&tx).to_string()).unwrap();
        std::fs::rename(&tmp, spool.join(format!("tx-{n}.json"))).unwrap();
        expected.insert(tx);
    }
    let array: Vec<serde_json::Value> = (12..20).map(|n| transaction(&id(0x5b00, n))).collect();
    expected.extend((12..20).map(|n| id(0x5b00, n)));
    std::fs::write(
        spool.join("batch.json"),
        serde_json::to_string(&array).unwrap(),
    )
    .unwrap();
    wait_status(&setup.config_path(), Duration::from_secs(30), |s| {
        s["backlog"]["count"] == 0 && s["uplink"]["last_success_at"].is_string()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while central.bronze_ids().await.len() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "spool files were not delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    central.assert_exactly_once(&expected).await;
    let left: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .collect();
    assert!(left.is_empty(), "taken files are removed: {left:?}");

    // Stopped service: status still reads the outbox and says the service is not running.
    let exit = agent.terminate(Duration::from_secs(15));
    assert!(exit.success());
    let s = status(&setup.config_path());
    assert_eq!(s["service_running"], false, "{s:#}");
    assert_eq!(s["backlog"]["count"], 0);
    let text = agent_command(&setup.config_path(), &["status"]);
    assert!(text.status.success());
    let table = String::from_utf8(text.stdout).unwrap();
    assert!(
        table.contains("SCOUTPI-0004") && table.contains("not running"),
        "{table}"
    );
}
