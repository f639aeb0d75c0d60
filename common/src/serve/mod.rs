//! Serving an axum router on a bound listener with the connection rules both binaries follow
//! (only with the `serve` feature): a new connection must send a whole request header within the
//! header timeout, an idle keep-alive connection is closed after the keep-alive time
//! ([`idle`]), a request body is read under an idle and a total timeout ([`body`]), and a
//! shutdown stops accepting and lets the requests in flight finish within a bound. Without
//! these, a client that opens connections and sends nothing (or half a header, or a body that
//! never comes) holds a file descriptor each for ever, until nobody else is served.
//!
//! What happens between accepting a socket and speaking HTTP on it (TLS on the collector,
//! nothing on the agent) is the caller's `accept` step.

pub mod body;
pub mod idle;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

/// The connection rules of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// How long a request's header may take from its first byte (a new connection's from
    /// being accepted).
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request.
    pub keep_alive: Duration,
    /// How long a shutdown waits for requests in flight.
    pub drain: Duration,
}

/// A socket as the server hands it to the `accept` step: it notes the bytes that move.
pub type Socket = idle::Tracked<TcpStream>;

/// Takes a socket as it comes, for [`serve`]'s `accept` step.
pub async fn plain(socket: Socket, _peer: SocketAddr) -> Option<Socket> {
    Some(socket)
}

/// Serves `app` until `shutdown` completes, then drains for at most `rules.drain`. Each accepted
/// socket goes through `accept` first (a TLS handshake, say; `None` drops the connection), then
/// HTTP/1.1 or HTTP/2 under `rules`.
pub async fn serve<A, F, S>(
    listener: TcpListener,
    app: Router,
    accept: A,
    shutdown: impl Future<Output = ()>,
    rules: Connections,
) where
    A: Fn(Socket, SocketAddr) -> F + Clone + Send + 'static,
    F: Future<Output = Option<S>> + Send,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let clock = idle::Clock::new();
        let socket = idle::Tracked::new(stream, clock.clone());
        let service = TowerToHyperService::new(idle::Counted::new(app.clone(), clock.clone()));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let accept = accept.clone();
        tokio::spawn(async move {
            let served = async move {
                let Some(stream) = accept(socket, peer).await else {
                    return Ok(());
                };
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                watcher.watch(conn.into_owned()).await
            };
            // The connection is dropped (closed) when it expires; no request is in progress
            // then, so nothing is cut short. The header timeout covers the accept step too.
            let result = tokio::select! {
                result = served => result,
                why = idle::watch(clock, rules.header_timeout, rules.keep_alive) => {
                    debug!(%peer, ?why, "closing a connection that sent no request in time");
                    Ok(())
                }
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    info!(
        connections = graceful.count(),
        "shutting down: draining in-flight requests"
    );
    if tokio::time::timeout(rules.drain, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(
            drain = ?rules.drain,
            "drain time passed; closing the remaining connections"
        );
    }
}
