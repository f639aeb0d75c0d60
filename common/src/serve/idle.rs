//! Closing connections that hold a slot without using it: a client that connects and sends
//! nothing, sends half a request header, or keeps an idle keep-alive connection open for ever.
//!
//! Each connection gets a [`Clock`] shared by three parts: [`Tracked`], the socket wrapper that
//! notes when bytes move; [`Counted`], the service wrapper that notes when a request is being
//! handled; and [`watch`], a timer that ends the connection when, with no request in progress,
//! either nothing has arrived for the keep-alive time, or a request began arriving (its first
//! byte) longer ago than the header timeout. While a request is handled the connection is never
//! closed from here: a stalled *body* is the handler's to time out (it answers 408), so a slow
//! database commit is never cut short.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Why [`watch`] ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Nothing arrived for the keep-alive time while no request was in progress.
    Idle,
    /// A request's header did not arrive whole within the header timeout.
    Header,
}

#[derive(Debug)]
struct State {
    /// Requests being handled on this connection.
    in_flight: usize,
    /// When the connection last became idle (accepted, or its last request finished), or last
    /// wrote while idle (a response still being flushed).
    idle_since: Instant,
    /// When the first byte of the next request arrived, while idle.
    first_byte: Option<Instant>,
}

/// One connection's activity, shared by its socket, its service and its watchdog.
#[derive(Debug, Clone)]
pub struct Clock(Arc<Mutex<State>>);

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// The clock of a connection accepted now. A new connection counts as having started its
    /// first request: it must send a whole header within the header timeout of connecting.
    pub fn new() -> Self {
        let now = Instant::now();
        Self(Arc::new(Mutex::new(State {
            in_flight: 0,
            idle_since: now,
            first_byte: Some(now),
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn read(&self) {
        self.with(|s| {
            if s.in_flight == 0 && s.first_byte.is_none() {
                s.first_byte = Some(Instant::now());
            }
        });
    }

    fn wrote(&self) {
        self.with(|s| {
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
            }
        });
    }

    fn begin(&self) -> InFlight {
        self.with(|s| s.in_flight += 1);
        InFlight(self.clone())
    }

    /// When the connection expires if nothing changes, and why; `None` while a request is in
    /// progress.
    fn deadline(&self, header: Duration, keep_alive: Duration) -> Option<(Instant, Expired)> {
        self.with(|s| {
            if s.in_flight > 0 {
                return None;
            }
            Some(match s.first_byte {
                Some(first) => (first + header, Expired::Header),
                None => (s.idle_since + keep_alive, Expired::Idle),
            })
        })
    }
}

/// A request in progress; the connection is idle again when the last one is dropped.
#[derive(Debug)]
pub struct InFlight(Clock);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
                s.first_byte = None;
            }
        });
    }
}

/// Resolves when the connection has expired (see the module documentation). It only reads the
/// clock, so it may start after the connection has already served requests.
pub async fn watch(clock: Clock, header: Duration, keep_alive: Duration) -> Expired {
    // While a request is in progress nothing can expire; look again this often.
    let busy_poll = header.min(keep_alive).max(Duration::from_millis(50));
    loop {
        match clock.deadline(header, keep_alive) {
            Some((at, why)) if at <= Instant::now() => return why,
            Some((at, _)) => tokio::time::sleep_until(at).await,
            None => tokio::time::sleep(busy_poll).await,
        }
    }
}

/// A socket that tells its [`Clock`] when bytes arrive or leave.
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    clock: Clock,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, clock: Clock) -> Self {
        Self { inner, clock }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A service that tells its [`Clock`] while it is handling a request.
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    clock: Clock,
}

impl<S> Counted<S> {
    pub fn new(inner: S, clock: Clock) -> Self {
        Self { inner, clock }
    }
}

impl<S, R> tower::Service<R> for Counted<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let in_flight = self.clock.begin();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(in_flight);
            response
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_new_connection_expires_after_the_header_timeout() {
        let clock = Clock::new();
        let started = Instant::now();
        let why = watch(clock, Duration::from_secs(10), Duration::from_secs(60)).await;
        assert_eq!(why, Expired::Header);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_keep_alive_and_never_during_a_request() {
        let clock = Clock::new();
        let watcher = tokio::spawn(watch(
            clock.clone(),
            Duration::from_secs(10),
            Duration::from_secs(60),
        ));
        // A request arrives and is handled for 5 minutes: nothing expires meanwhile.
        tokio::time::advance(Duration::from_secs(1)).await;
        let request = clock.begin();
        tokio::time::advance(Duration::from_secs(300)).await;
        tokio::task::yield_now().await;
        assert!(!watcher.is_finished());
        let done = Instant::now();
        drop(request);
        let why = watcher.await.unwrap();
        assert_eq!(why, Expired::Idle);
        assert!(done.elapsed() >= Duration::from_secs(60));
        assert!(done.elapsed() < Duration::from_secs(61));
    }

    #[tokio::test(start_paused = true)]
    async fn half_a_header_expires_after_the_header_timeout_from_its_first_byte() {
        let clock = Clock::new();
        let watcher = tokio::spawn(watch(
            clock.clone(),
            Duration::from_secs(10),
            Duration::from_secs(60),
        ));
        tokio::task::yield_now().await;
        // The first request is done; then 30 s idle; then a byte of the next header.
        clock.read();
        drop(clock.begin());
        tokio::time::advance(Duration::from_secs(30)).await;
        clock.read();
        let first = Instant::now();
        let why = watcher.await.unwrap();
        assert_eq!(why, Expired::Header);
        assert!(first.elapsed() >= Duration::from_secs(10));
        assert!(first.elapsed() < Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_served_before_the_watch_starts_leaves_the_connection_idle() {
        // The task serving a connection may handle a whole request before its watch is first
        // polled: the connection is then idle, not half-way through a header.
        let clock = Clock::new();
        clock.read();
        drop(clock.begin());
        let done = Instant::now();
        let why = watch(clock, Duration::from_secs(10), Duration::from_secs(60)).await;
        assert_eq!(why, Expired::Idle);
        assert_eq!(done.elapsed(), Duration::from_secs(60));
    }
}
