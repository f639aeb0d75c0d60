//! HTTPS termination with rustls: a client that trusts the test CA is served; one that trusts
//! another CA is refused during the handshake and nothing lands.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use scout_collector::{IngestLimits, ServeConfig};
use tokio::sync::oneshot;

use crate::helpers::{TestDb, clean_line, install_crypto, ndjson};

/// A certificate authority and a server certificate for `localhost` and 127.0.0.1.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

pub(crate) fn pki(dir: &Path) -> Pki {
    let ca = ca();
    let server_key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&server_key, &ca).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, server_key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: cert_path,
        key: key_path,
    }
}

fn client_trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_test_ca_and_a_wrong_ca_refused() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let token = scout_collector::devices::new_token().unwrap();
    store
        .add_device(
            "SCOUTPI-0004",
            "104",
            &scout_collector::devices::token_hash(&token),
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = ServeConfig {
        listen: listener.local_addr().unwrap(),
        tls_cert: Some(pki.cert.clone()),
        tls_key: Some(pki.key.clone()),
        drain_secs: 5,
        admin_token: None,
        limits: IngestLimits::default(),
        timeouts: Default::default(),
        pipeline: Default::default(),
        gates: Default::default(),
        files: Default::default(),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(scout_collector::run(
        listener,
        store.clone(),
        config,
        async {
            let _ = rx.await;
        },
    ));
    let url = format!("https://localhost:{port}/v1/ingest");
    let body = ndjson(&[clean_line("7a7a7a7a-0000-4000-8000-000000000001")]);

    let good = client_trusting(&pki.ca_pem)
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);

    let other_ca = ca();
    let refused = client_trusting(&other_ca.pem())
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .await;
    let err = refused.expect_err("a server certificate from another CA must be refused");
    assert!(err.is_connect(), "{err:?}");

    // Plain HTTP to the TLS port gets no answer it can use.
    let plain = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/ingest"))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    assert_eq!(store.bronze_count().await.unwrap(), 1);
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}
