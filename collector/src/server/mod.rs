//! Serving the router on an already-bound listener, plain or TLS (rustls, ring), under the
//! connection rules both binaries share ([`scout_common::serve`]: header and keep-alive
//! timeouts, one graceful shutdown path that lets in-flight requests finish within a bound).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use scout_common::serve::{self, Connections, Socket};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::config::ConnectionTimeouts;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a TLS acceptor from PEM files, using the ring provider.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("Failed to open certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("Failed to read certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("Failed to read private key {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("Failed to choose TLS versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("Failed to use the certificate and key")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` until `shutdown` completes, then drains for at most `drain`, under the
/// connection rules of [`scout_common::serve`]; with `tls`, each connection's handshake first
/// (within [`HANDSHAKE_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    timeouts: ConnectionTimeouts,
) -> anyhow::Result<()> {
    let rules = Connections {
        header_timeout: timeouts.header(),
        keep_alive: timeouts.keep_alive(),
        drain,
    };
    match tls {
        None => serve::serve(listener, app, serve::plain, shutdown, rules).await,
        Some(acceptor) => {
            let handshake = move |socket: Socket, peer: SocketAddr| {
                let acceptor = acceptor.clone();
                async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => Some(stream),
                        Ok(Err(e)) => {
                            debug!(%peer, error = %e, "TLS handshake failed");
                            None
                        }
                        Err(_) => {
                            debug!(%peer, "TLS handshake timed out");
                            None
                        }
                    }
                }
            };
            serve::serve(listener, app, handshake, shutdown, rules).await;
        }
    }
    Ok(())
}
