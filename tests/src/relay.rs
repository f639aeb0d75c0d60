//! An address that exists before the server behind it, with no port race: [`Relay::reserve`]
//! binds 127.0.0.1:0 and keeps the socket bound without listening, so connections to it are
//! refused (a collector that is down, exactly as a client sees one) and no other process can
//! take the port. [`Relay::forward_to`] starts listening on it and splices every connection,
//! byte for byte, to the server's real address (one started on `127.0.0.1:0`); pointing it at a
//! restarted server's new address keeps the client's URL the same.
//!
//! Binding port 0, reading the number, closing the socket and starting the server on that
//! number later is racy: anything on the machine may take the port in between.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A reserved local port that refuses connections until it forwards them.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    /// The bound, not yet listening socket (`None` once forwarding).
    reserved: Mutex<Option<TcpSocket>>,
    upstream: Arc<Mutex<SocketAddr>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Relay {
    /// Reserves a port on 127.0.0.1: bound, not listening (connections are refused).
    pub fn reserve() -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        Self {
            addr,
            reserved: Mutex::new(Some(socket)),
            upstream: Arc::new(Mutex::new(addr)),
            task: Mutex::new(None),
        }
    }

    /// `127.0.0.1:PORT`, the address clients are given.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, connections are accepted and spliced to `upstream` (`HOST:PORT`, e.g. a
    /// [`crate::bins::Process`]'s `addr`). A connection made while nothing listens there is
    /// closed at once. Must be called inside a tokio runtime.
    pub fn forward_to(&self, upstream: &str) {
        *self.upstream.lock().unwrap() = upstream.parse().unwrap();
        if let Some(socket) = self.reserved.lock().unwrap().take() {
            let listener = socket.listen(1024).unwrap();
            let task = tokio::spawn(serve(listener, Arc::clone(&self.upstream)));
            *self.task.lock().unwrap() = Some(task);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// Accepts until aborted; the connections' tasks live in a `JoinSet`, so aborting this task
/// closes them too.
async fn serve(listener: TcpListener, upstream: Arc<Mutex<SocketAddr>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
                let target = *upstream.lock().unwrap();
                connections.spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
