//! The agent's uplink against the real collector library (`scout_collector::run` on
//! 127.0.0.1:0 with a SQLite file in a tempdir): the service's `uplink::run` with the real outbox
//! lands every record in bronze exactly once with its stamp; over TLS, the configured CA is
//! trusted and a certificate from another CA is refused and shown as such.
//!
//! Here rather than in the agent's tests, so that the agent does not depend on the collector;
//! it borrows the agent's uplink test support (in-memory outbox, settings, a running uplink).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[allow(dead_code)] // this suite uses a few of its pieces; the agent's uplink suite uses the rest
#[path = "../../agent/tests/uplink/support.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Parser;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use scout_agent::config::{AgentConfig, Secret};
use scout_agent::outbox::{NewRecord, Outbox, OutboxConfig, OutboxHandle};
use scout_agent::uplink::{self, HttpTransport, UplinkState, UplinkStatus, Wake};
use scout_collector::store::{Store, StoreOptions};
use scout_collector::{ServeConfig, devices};
use tempfile::TempDir;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::support::{MemOutbox, Running, install_crypto, payload, settings};

/// `scout-collector serve`'s settings as its command line would give them.
#[derive(Debug, Parser)]
struct Serve {
    #[command(flatten)]
    config: ServeConfig,
}

/// The real collector, serving in this process.
struct Collector {
    addr: SocketAddr,
    store: Store,
    token: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: TempDir,
}

impl Collector {
    async fn start(tls: Option<(&Path, &Path)>) -> Self {
        install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("collector.db").display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let token = devices::new_token().unwrap();
        assert!(
            store
                .add_device("SCOUTPI-0004", "104", &devices::token_hash(&token))
                .await
                .unwrap()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut args = vec![
            "scout-collector".to_owned(),
            "--listen".to_owned(),
            addr.to_string(),
            "--drain-secs".to_owned(),
            "5".to_owned(),
        ];
        if let Some((cert, key)) = tls {
            args.extend([
                "--tls-cert".to_owned(),
                cert.display().to_string(),
                "--tls-key".to_owned(),
                key.display().to_string(),
            ]);
        }
        let config = Serve::try_parse_from(args).unwrap().config;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(scout_collector::run(
            listener,
            store.clone(),
            config,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            store,
            token,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
        }
    }

    /// Bronze rows: (transaction id, captured_at, device_seq, agent_version).
    async fn bronze(&self) -> Vec<(String, DateTime<Utc>, i64, String)> {
        self.store
            .query(
                "SELECT transaction_id, captured_at, device_seq, agent_version \
                 FROM bronze.scout_raw_transactions ORDER BY device_seq",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row.text(0).unwrap(),
                    row.opt_time(1).unwrap().expect("a readable captured_at"),
                    row.int(2).unwrap(),
                    row.text(3).unwrap(),
                )
            })
            .collect()
    }

    async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

async fn until(
    status: &mut watch::Receiver<UplinkStatus>,
    what: &str,
    cond: impl FnMut(&UplinkStatus) -> bool,
) -> UplinkStatus {
    let found = tokio::time::timeout(Duration::from_secs(30), status.wait_for(cond))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|s| s.clone());
    found.unwrap_or_else(|| panic!("timed out waiting for {what}: {:#?}", *status.borrow()))
}

fn records(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            transaction_id: format!("6f1c2a9e-3b1d-4c55-9a27-{i:012}"),
            captured_at: Utc::now() - chrono::Duration::minutes(60 - i as i64),
            payload: payload(&format!("6f1c2a9e-3b1d-4c55-9a27-{i:012}")),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_land_in_the_real_collector_exactly_once_with_their_stamp() {
    let collector = Collector::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = AgentConfig {
        device_id: "SCOUTPI-0004".into(),
        store_id: "104".into(),
        collector_url: format!("http://{}", collector.addr),
        token: Some(Secret::new(collector.token.clone())),
        outbox_path: dir.path().join("outbox.db"),
        batch_max_records: 7,
        backoff_initial_ms: 10,
        backoff_max_ms: 200,
        heartbeat_interval_secs: 1,
        ..AgentConfig::default()
    };
    let (outbox, _) = Outbox::open(
        &config.outbox_path,
        OutboxConfig::new(config.max_outbox_bytes),
    )
    .unwrap();
    let handle = OutboxHandle::spawn(outbox);
    let sent = records(30);
    let stored = handle.enqueue(sent.clone()).await.unwrap();

    let (status_tx, mut status) = watch::channel(UplinkStatus::default());
    let wake = Wake::new();
    let (stop, stopped) = oneshot::channel::<()>();
    let uplink = tokio::spawn({
        let (handle, config, wake) = (handle.clone(), config.clone(), wake.clone());
        async move {
            uplink::run(handle, &config, status_tx, wake, async {
                let _ = stopped.await;
            })
            .await;
        }
    });

    let st = until(&mut status, "30 inserted", |s| {
        s.totals.inserted == 30 && s.state == UplinkState::Idle
    })
    .await;
    assert_eq!(st.totals.batches, 5, "30 records in batches of 7");
    let bronze = collector.bronze().await;
    assert_eq!(bronze.len(), 30);
    for ((row, record), enqueued) in bronze.iter().zip(&sent).zip(&stored) {
        assert_eq!(row.0, record.transaction_id);
        // The outbox keeps milliseconds; the stamp carries them to bronze unchanged.
        assert_eq!(
            row.1.timestamp_millis(),
            record.captured_at.timestamp_millis()
        );
        assert_eq!(row.2, enqueued.seq);
        assert_eq!(row.3, uplink::AGENT_VERSION);
    }
    let stats = handle.stats().await.unwrap();
    assert_eq!((stats.pending_count, stats.dead_letter_count), (0, 0));

    // The same transactions again (a producer's resend after they were acknowledged): the
    // outbox takes them as new rows, the collector counts them as duplicates, bronze is
    // unchanged.
    handle.enqueue(sent.clone()).await.unwrap();
    wake.notify();
    let st = until(&mut status, "30 duplicates", |s| {
        s.totals.duplicates == 30 && s.state == UplinkState::Idle
    })
    .await;
    assert_eq!(st.totals.inserted, 30);
    assert_eq!(collector.bronze().await.len(), 30);
    assert_eq!(handle.stats().await.unwrap().pending_count, 0);

    // The collector took the heartbeats.
    until(&mut status, "a heartbeat", |s| s.totals.heartbeats >= 1).await;
    assert_eq!(status.borrow().heartbeat_error, None);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), uplink)
        .await
        .expect("the uplink did not stop")
        .unwrap();
    handle.close().await.unwrap();
    collector.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_problem_is_shown_in_status_and_does_not_stop_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("ca.pem");
    std::fs::write(&garbage, "-----BEGIN NONSENSE-----\n").unwrap();
    let config = AgentConfig {
        device_id: "SCOUTPI-0004".into(),
        store_id: "104".into(),
        collector_url: "https://127.0.0.1:9".into(),
        token: Some(Secret::new("scout_x")),
        outbox_path: dir.path().join("outbox.db"),
        ca_file: Some(garbage),
        ..AgentConfig::default()
    };
    let (outbox, _) = Outbox::open(&config.outbox_path, OutboxConfig::new(1 << 20)).unwrap();
    let handle = OutboxHandle::spawn(outbox);
    let (status_tx, mut status) = watch::channel(UplinkStatus::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let uplink = tokio::spawn({
        let (handle, config) = (handle.clone(), config.clone());
        async move {
            uplink::run(handle, &config, status_tx, Wake::new(), async {
                let _ = stopped.await;
            })
            .await;
        }
    });
    let st = until(&mut status, "tls_failed", |s| {
        s.state == UplinkState::TlsFailed
    })
    .await;
    let error = st.last_error.unwrap();
    assert!(error.contains("holds no usable PEM certificate"), "{error}");
    // Recorded for `scout-agent status`, and the outbox still works.
    let state = Outbox::open_read_only(&config.outbox_path).unwrap();
    assert_eq!(
        state
            .state_value(scout_agent::outbox::state_keys::LAST_ERROR)
            .unwrap(),
        Some(error)
    );
    handle.enqueue(records(1)).await.unwrap();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), uplink)
        .await
        .expect("a waiting setup must stop at once")
        .unwrap();
    handle.close().await.unwrap();
}

/// A CA and a server certificate for `localhost` and 127.0.0.1, as PEM files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn new_ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn pki(dir: &Path) -> Pki {
    let ca = new_ca();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    // A bundle: an unrelated CA first, the right one second (ca_file may hold several).
    let bundle = format!("{}{}", new_ca().pem(), ca.pem());
    std::fs::write(&pki.ca, bundle).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_trusts_the_configured_ca_and_refuses_a_certificate_from_another() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let collector = Collector::start(Some((&pki.cert, &pki.key))).await;
    let url = format!("https://localhost:{}", collector.addr.port());

    // Another CA only: the handshake fails, status says so, the rows stay.
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, new_ca().pem()).unwrap();
    let mut s = settings(&url);
    s.token = Secret::new(collector.token.clone());
    s.ca_file = Some(other);
    let refused = MemOutbox::with_ids(&["6f1c2a9e-3b1d-4c55-9a27-00000000aaaa"]);
    let mut up = Running::spawn(refused.clone(), HttpTransport::new(&s).unwrap(), s.clone());
    let st = up.until_state(10, UplinkState::TlsFailed).await;
    let error = st.last_error.unwrap();
    assert!(
        error.starts_with("TLS: certificate not trusted ("),
        "{error}"
    );
    assert_eq!(st.collector_reachable, Some(false));
    assert_eq!(refused.pending_ids().len(), 1);
    up.stop().await;

    // The collector's CA (in a bundle): delivered.
    s.ca_file = Some(pki.ca.clone());
    let trusted = MemOutbox::with_ids(&["6f1c2a9e-3b1d-4c55-9a27-00000000bbbb"]);
    let mut up = Running::spawn(trusted.clone(), HttpTransport::new(&s).unwrap(), s);
    up.until(10, "delivery", |s| s.totals.inserted == 1).await;
    assert!(trusted.pending_ids().is_empty());
    up.stop().await;

    let bronze = collector.bronze().await;
    assert_eq!(bronze.len(), 1);
    assert_eq!(bronze[0].0, "6f1c2a9e-3b1d-4c55-9a27-00000000bbbb");
    collector.finish().await;
}
