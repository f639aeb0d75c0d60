//! A fake collector on 127.0.0.1:0 that speaks the real protocol (the product contract, §2):
//! bearer token, NDJSON content type, gzip, per-line answers with 1-based line numbers, dedup by
//! transaction id, rejections for lines it cannot take, 401/413/429/503 with `Retry-After`; and,
//! when scripted, the faults a real network produces (5xx, slow, cut-off or unbalanced answers).

use std::collections::{BTreeSet, VecDeque};
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use scout_common::protocol::{AGENT_STAMP_KEY, AgentStamp};
use scout_common::{IngestResponse, RejectedLine};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::support::TOKEN;

/// What the fake collector does with one ingest request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Land every line it can (the default once the script is used up).
    Accept,
    /// Answer this status with a JSON error body and, optionally, `Retry-After`.
    Status(u16, Option<&'static str>),
    /// 413 while the body has more than this many lines, else `Accept` (not consumed from the
    /// script until it accepts).
    TooLargeOver(usize),
    /// 200 whose counts do not add up.
    Unbalanced,
    /// 200 with a body that is not an ingest response.
    Garbage,
    /// Wait this long, then `Accept`.
    Slow(Duration),
}

/// One ingest request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub headers: HeaderMap,
    pub lines: Vec<Value>,
    pub status: u16,
}

#[derive(Debug, Default)]
struct Inner {
    script: VecDeque<Reply>,
    requests: Vec<Seen>,
    /// Transaction ids landed ("bronze"), in landing order.
    landed: Vec<String>,
    landed_set: BTreeSet<String>,
    heartbeats: Vec<Value>,
    /// Answer heartbeats with this status instead of storing them.
    heartbeat_status: Option<u16>,
}

/// The running fake collector.
#[derive(Debug)]
pub struct FakeCollector {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeCollector {
    pub async fn start(script: Vec<Reply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/v1/ingest", post(ingest))
            .route("/v1/heartbeat", post(heartbeat))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            inner,
            stop: Some(stop),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().requests.clone()
    }

    pub fn landed(&self) -> Vec<String> {
        self.inner.lock().unwrap().landed.clone()
    }

    pub fn heartbeats(&self) -> Vec<Value> {
        self.inner.lock().unwrap().heartbeats.clone()
    }

    /// Makes heartbeats fail with `status` (`None`: accept them again).
    pub fn heartbeat_status(&self, status: Option<u16>) {
        self.inner.lock().unwrap().heartbeat_status = status;
    }
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"success": false, "error": message})),
    )
        .into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {TOKEN}").as_str())
}

async fn ingest(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    // The real protocol's checks, in the real collector's order.
    let (lines, refusal) = if !authorized(&headers) {
        (
            Vec::new(),
            Some(error(
                StatusCode::UNAUTHORIZED,
                "unknown or revoked device token",
            )),
        )
    } else if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| !scout_common::protocol::is_ndjson_content_type(ct))
    {
        (
            Vec::new(),
            Some(error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send NDJSON")),
        )
    } else {
        let gzip = headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let mut text = String::new();
        if gzip {
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text = String::from_utf8(body.to_vec()).unwrap();
        }
        let lines: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect();
        (lines, None)
    };

    let reply = {
        let mut inner = inner.lock().unwrap();
        match inner.script.front().cloned() {
            Some(Reply::TooLargeOver(n)) if lines.len() <= n => {
                inner.script.pop_front();
                Reply::Accept
            }
            Some(Reply::TooLargeOver(n)) => Reply::TooLargeOver(n),
            Some(_) if refusal.is_some() => Reply::Accept, // keep the script for later
            Some(_) => inner.script.pop_front().unwrap_or(Reply::Accept),
            None => Reply::Accept,
        }
    };
    let response = match (refusal, reply) {
        (Some(refusal), _) => refusal,
        (None, Reply::Accept) => accept(&inner, &lines),
        (None, Reply::Slow(wait)) => {
            tokio::time::sleep(wait).await;
            accept(&inner, &lines)
        }
        (None, Reply::Status(code, retry_after)) => {
            let status = StatusCode::from_u16(code).unwrap();
            let mut response = error(status, "scripted failure");
            if let Some(value) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, value.parse().unwrap());
            }
            response
        }
        (None, Reply::TooLargeOver(n)) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body is larger than {n} lines"),
        ),
        (None, Reply::Unbalanced) => {
            let n = lines.len() as u64;
            axum::Json(IngestResponse {
                success: true,
                device_id: "SCOUTPI-0004".into(),
                lines_seen: n + 1,
                inserted: n + 1,
                duplicates: 0,
                rejected: Vec::new(),
                rejected_omitted: 0,
                records_processed: n + 1,
            })
            .into_response()
        }
        (None, Reply::Garbage) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"success\":tr",
        )
            .into_response(),
    };
    inner.lock().unwrap().requests.push(Seen {
        at,
        headers,
        lines,
        status: response.status().as_u16(),
    });
    response
}

/// Lands every line with a valid stamp and a transaction id not starting with `reject-`.
fn accept(inner: &Mutex<Inner>, lines: &[Value]) -> Response {
    let mut inner = inner.lock().unwrap();
    let mut out = IngestResponse {
        success: true,
        device_id: "SCOUTPI-0004".into(),
        lines_seen: lines.len() as u64,
        inserted: 0,
        duplicates: 0,
        rejected: Vec::new(),
        rejected_omitted: 0,
        records_processed: 0,
    };
    for (i, line) in lines.iter().enumerate() {
        let number = i as u64 + 1;
        let id = line["transactionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let stamp = serde_json::from_value::<AgentStamp>(line[AGENT_STAMP_KEY].clone());
        let reason = if stamp.is_err() {
            Some("missing or invalid _agent stamp".to_owned())
        } else if id.starts_with("reject-") {
            Some(format!("totals.totalAmount is not a number ({id})"))
        } else {
            None
        };
        match reason {
            Some(error) => out.rejected.push(RejectedLine {
                line: number,
                transaction_id: Some(id),
                error,
            }),
            None if inner.landed_set.insert(id.clone()) => {
                inner.landed.push(id);
                out.inserted += 1;
            }
            None => out.duplicates += 1,
        }
    }
    out.records_processed = out.inserted + out.duplicates;
    axum::Json(out).into_response()
}

async fn heartbeat(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unknown or revoked device token");
    }
    let failing = inner.lock().unwrap().heartbeat_status;
    if let Some(code) = failing {
        return error(StatusCode::from_u16(code).unwrap(), "no such route");
    }
    let value: Value = serde_json::from_slice(&body).unwrap();
    // Must be a real heartbeat.
    serde_json::from_value::<scout_common::Heartbeat>(value.clone()).unwrap();
    inner.lock().unwrap().heartbeats.push(value);
    axum::Json(json!({"success": true, "device_id": "SCOUTPI-0004"})).into_response()
}
