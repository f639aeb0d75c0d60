//! A fault-injecting HTTP proxy for the link between agent and collector.
//!
//! Each request is forwarded to the upstream, or meets a fault drawn from a seeded plan:
//! a connection reset before any answer, a 503 with `Retry-After`, a slow answer, or a
//! truncated answer (the upstream has processed and committed the request, the client sees the
//! connection drop half-way through the response). Every request is logged with its time and
//! fate, so tests can check that the client backed off.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded, answer returned whole.
    Pass,
    /// Connection dropped before any answer (the upstream never sees the request).
    Reset,
    /// 503 with `Retry-After: <secs>` (the upstream never sees the request).
    Unavailable { retry_after_secs: u64 },
    /// Forwarded after a delay.
    Slow(Duration),
    /// Forwarded; the answer is cut off half-way and the connection dropped.
    Truncate,
}

/// Faults and their relative weights, drawn with a seeded generator.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub weights: Vec<(Fault, u32)>,
    pub seed: u64,
}

impl FaultPlan {
    /// Every request passes.
    pub fn pass() -> Self {
        Self {
            weights: vec![(Fault::Pass, 1)],
            seed: 1,
        }
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct ProxyEvent {
    /// When the proxy answered (or dropped the connection).
    pub at: Instant,
    /// When the request arrived.
    pub started: Instant,
    pub path: String,
    pub fault: Fault,
    /// The upstream's status, when the request reached it.
    pub upstream_status: Option<u16>,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    plan: FaultPlan,
    rng: u64,
    events: Vec<ProxyEvent>,
}

/// A running proxy on 127.0.0.1:0.
#[derive(Debug)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

type ProxyBody = BoxBody<Bytes, io::Error>;

impl FaultProxy {
    /// Starts forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, plan: FaultPlan) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rng: plan.seed.max(1),
            plan,
            events: Vec::new(),
        }));
        let client = reqwest::Client::new();
        let state = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&state);
                let client = client.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        handle(Arc::clone(&state), client.clone(), request)
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points the proxy at another upstream (e.g. a restarted collector).
    pub fn set_upstream(&self, upstream: &str) {
        self.shared.lock().unwrap().upstream = upstream.trim_end_matches('/').to_owned();
    }

    pub fn set_plan(&self, plan: FaultPlan) {
        let mut shared = self.shared.lock().unwrap();
        shared.rng = plan.seed.max(1);
        shared.plan = plan;
    }

    pub fn events(&self) -> Vec<ProxyEvent> {
        self.shared.lock().unwrap().events.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn draw(shared: &mut Shared) -> Fault {
    shared.rng ^= shared.rng << 13;
    shared.rng ^= shared.rng >> 7;
    shared.rng ^= shared.rng << 17;
    let total: u64 = shared.plan.weights.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut pick = shared.rng % total.max(1);
    for (fault, weight) in &shared.plan.weights {
        if pick < u64::from(*weight) {
            return *fault;
        }
        pick -= u64::from(*weight);
    }
    Fault::Pass
}

fn full(status: u16, headers: &[(&str, String)], body: Bytes) -> Response<ProxyBody> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(body).map_err(|e: Infallible| match e {}).boxed())
        .unwrap()
}

async fn handle(
    shared: Arc<Mutex<Shared>>,
    client: reqwest::Client,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, io::Error> {
    let started = Instant::now();
    let (fault, upstream) = {
        let mut s = shared.lock().unwrap();
        (draw(&mut s), s.upstream.clone())
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.to_string());
    let record = |status: Option<u16>| {
        shared.lock().unwrap().events.push(ProxyEvent {
            at: Instant::now(),
            started,
            path: path.clone(),
            fault,
            upstream_status: status,
        });
    };
    match fault {
        Fault::Reset => {
            record(None);
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "injected reset",
            ));
        }
        Fault::Unavailable { retry_after_secs } => {
            record(None);
            return Ok(full(
                503,
                &[("retry-after", retry_after_secs.to_string())],
                Bytes::from_static(b"{\"success\":false,\"error\":\"injected 503\"}"),
            ));
        }
        Fault::Slow(delay) => tokio::time::sleep(delay).await,
        Fault::Pass | Fault::Truncate => {}
    }
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
        .to_bytes();
    let mut forward = client.request(parts.method, format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let answer = match forward.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => {
            record(None);
            return Ok(full(
                502,
                &[],
                Bytes::from(format!("{{\"success\":false,\"error\":\"upstream: {e}\"}}")),
            ));
        }
    };
    let status = answer.status().as_u16();
    let headers: Vec<(String, String)> = answer
        .headers()
        .iter()
        .filter(|(n, _)| *n != "content-length" && *n != "transfer-encoding")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = answer.bytes().await.unwrap_or_default();
    record(Some(status));
    let header_refs: Vec<(&str, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    if fault != Fault::Truncate {
        return Ok(full(status, &header_refs, bytes));
    }
    // Promise the whole length, send half, then fail the body: the connection is dropped.
    let half = bytes.slice(..bytes.len() / 2);
    let frames = stream::iter(vec![
        Ok(Frame::data(half)),
        Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "injected truncation",
        )),
    ]);
    let mut builder = Response::builder()
        .status(status)
        .header("content-length", bytes.len().to_string());
    for (name, value) in &header_refs {
        builder = builder.header(*name, value);
    }
    Ok(builder
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap())
}
