//! A throwaway certificate authority and a server certificate for localhost, as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// PEM files of a test CA and a server certificate signed by it.
#[derive(Debug)]
pub struct TestPki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn new_ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Writes `ca.pem`, `server.pem`, `server.key` into `dir` (server valid for localhost and
/// 127.0.0.1).
pub fn create(dir: &Path) -> TestPki {
    let ca = new_ca();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let pki = TestPki {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    };
    std::fs::write(&pki.ca_cert, ca.pem()).unwrap();
    std::fs::write(&pki.server_cert, cert.pem()).unwrap();
    std::fs::write(&pki.server_key, key.serialize_pem()).unwrap();
    pki
}

/// Writes the PEM of an unrelated CA to `path` (for "wrong CA" tests).
pub fn unrelated_ca(path: &Path) {
    std::fs::write(path, new_ca().pem()).unwrap();
}
