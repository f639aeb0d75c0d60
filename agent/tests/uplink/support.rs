//! Test support: an in-memory outbox with the real one's rules (for the paused-clock tests), a
//! scripted transport, settings, records, and a handle on a running uplink.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use scout_agent::config::Secret;
use scout_agent::outbox::{BufferError, OutboxStats, Record, Settled};
use scout_agent::uplink::{
    Transport, Uplink, UplinkOutbox, UplinkSettings, UplinkState, UplinkStatus, UploadError, Wake,
};
use scout_common::{Heartbeat, IngestResponse, RejectedLine};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub const TOKEN: &str = "scout_test-token";

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Settings for tests: small batches, fast backoff, a seeded jitter, no heartbeat unless asked.
pub fn settings(collector_url: &str) -> UplinkSettings {
    UplinkSettings {
        collector_url: collector_url.to_owned(),
        token: Secret::new(TOKEN),
        ca_file: None,
        batch_max_records: 100.try_into().unwrap(),
        batch_max_bytes: 1024 * 1024,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        request_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_secs(3600),
        idle_poll: Duration::from_secs(3600),
        outbox_path: PathBuf::from("/tmp/outbox.db"),
        agent_version: "9.8.7-test".to_owned(),
        started: std::time::Instant::now(),
        jitter_seed: Some(7),
    }
}

/// A real-shaped ScoutPi transaction with `id` as its transaction id (compact JSON).
pub fn payload(id: &str) -> Vec<u8> {
    let mut v: Value =
        serde_json::from_str(include_str!("../../../common/testdata/scoutpi_clean.json")).unwrap();
    v["transactionId"] = Value::String(id.to_owned());
    serde_json::to_vec(&v).unwrap()
}

/// An outbox in memory that follows the real one's rules (oldest first, at least one row per
/// peek, settle in one step, state written only on change) and counts what the uplink does.
#[derive(Debug, Clone, Default)]
pub struct MemOutbox(Arc<Mutex<Mem>>);

#[derive(Debug, Default)]
pub struct Mem {
    pub pending: BTreeMap<i64, Record>,
    pub dead: Vec<(i64, String, String)>,
    pub state: BTreeMap<&'static str, String>,
    pub state_writes: Vec<(&'static str, Option<String>)>,
    pub peeks: u64,
    pub settles: u64,
    last_seq: i64,
}

impl MemOutbox {
    pub fn with_ids(ids: &[&str]) -> Self {
        let outbox = Self::default();
        for id in ids {
            outbox.push(id);
        }
        outbox
    }

    /// Adds a pending record (what intake would have committed).
    pub fn push(&self, id: &str) -> i64 {
        let mut m = self.0.lock().unwrap();
        m.last_seq += 1;
        let seq = m.last_seq;
        m.pending.insert(
            seq,
            Record {
                seq,
                transaction_id: id.to_owned(),
                captured_at: Utc.with_ymd_and_hms(2026, 11, 27, 1, 0, 0).unwrap()
                    + chrono::Duration::seconds(seq),
                payload: payload(id),
            },
        );
        seq
    }

    pub fn push_raw(&self, id: &str, payload: &[u8]) -> i64 {
        let seq = self.push(id);
        self.0
            .lock()
            .unwrap()
            .pending
            .get_mut(&seq)
            .unwrap()
            .payload = payload.to_vec();
        seq
    }

    pub fn with<R>(&self, f: impl FnOnce(&Mem) -> R) -> R {
        f(&self.0.lock().unwrap())
    }

    pub fn pending_ids(&self) -> Vec<String> {
        self.with(|m| {
            m.pending
                .values()
                .map(|r| r.transaction_id.clone())
                .collect()
        })
    }

    pub fn dead_ids(&self) -> Vec<String> {
        self.with(|m| m.dead.iter().map(|d| d.1.clone()).collect())
    }

    pub fn state(&self, key: &str) -> Option<String> {
        self.with(|m| m.state.get(key).cloned())
    }

    pub fn writes_of(&self, key: &str) -> usize {
        self.with(|m| m.state_writes.iter().filter(|w| w.0 == key).count())
    }
}

impl UplinkOutbox for MemOutbox {
    async fn peek_after(
        &self,
        after_seq: i64,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        let mut m = self.0.lock().unwrap();
        m.peeks += 1;
        let mut out = Vec::new();
        let mut bytes = 0_u64;
        for record in m
            .pending
            .range(after_seq + 1..)
            .map(|(_, r)| r)
            .take(max_records)
        {
            let len = record.payload.len() as u64;
            if !out.is_empty() && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            out.push(record.clone());
        }
        Ok(out)
    }

    async fn settle(
        &self,
        acked: Vec<i64>,
        rejected: Vec<(i64, String)>,
    ) -> Result<Settled, BufferError> {
        let mut m = self.0.lock().unwrap();
        m.settles += 1;
        let mut settled = Settled::default();
        for seq in acked {
            if m.pending.remove(&seq).is_some() {
                settled.acked += 1;
            }
        }
        for (seq, reason) in rejected {
            if let Some(r) = m.pending.remove(&seq) {
                m.dead.push((seq, r.transaction_id, reason));
                settled.dead_lettered += 1;
            }
        }
        Ok(settled)
    }

    async fn set_state(
        &self,
        key: &'static str,
        value: Option<String>,
    ) -> Result<bool, BufferError> {
        let mut m = self.0.lock().unwrap();
        if m.state.get(key) == value.as_ref() {
            return Ok(false);
        }
        m.state_writes.push((key, value.clone()));
        match value {
            Some(v) => m.state.insert(key, v),
            None => m.state.remove(key),
        };
        Ok(true)
    }

    async fn stats(&self) -> Result<OutboxStats, BufferError> {
        let m = self.0.lock().unwrap();
        let head = m.pending.values().next();
        Ok(OutboxStats {
            pending_count: m.pending.len() as u64,
            pending_bytes: m.pending.values().map(|r| r.payload.len() as u64).sum(),
            oldest_pending_seq: head.map(|r| r.seq),
            oldest_pending_captured_at: head.map(|r| r.captured_at),
            dead_letter_count: m.dead.len() as u64,
            dead_letter_bytes: 0,
            refused_total: 0,
            last_seq: m.last_seq,
            max_bytes: None,
            file_bytes: 0,
            quarantined: None,
        })
    }
}

/// What a scripted transport answers to one ingest request.
pub type Answer = Box<dyn FnOnce(&[Value]) -> Result<IngestResponse, UploadError> + Send>;

/// Accepts every line as inserted.
pub fn accept_all(lines: &[Value]) -> Result<IngestResponse, UploadError> {
    let n = lines.len() as u64;
    Ok(IngestResponse {
        success: true,
        device_id: "SCOUTPI-0004".into(),
        lines_seen: n,
        inserted: n,
        duplicates: 0,
        rejected: Vec::<RejectedLine>::new(),
        rejected_omitted: 0,
        records_processed: n,
    })
}

pub fn fail(make: fn() -> UploadError) -> Answer {
    Box::new(move |_| Err(make()))
}

pub fn server_error() -> UploadError {
    UploadError::Server {
        status: 500,
        message: "boom".into(),
    }
}

/// One ingest request a scripted transport saw.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: tokio::time::Instant,
    pub lines: Vec<Value>,
}

/// A transport that answers from a script (then accepts everything), reporting each call.
/// Clones share the script and the record of calls.
#[derive(Clone, Default)]
pub struct ScriptedTransport(Arc<Scripted>);

#[derive(Default)]
struct Scripted {
    script: Mutex<VecDeque<Answer>>,
    /// How long each ingest takes (on the tokio clock).
    latency: Mutex<Duration>,
    calls: Mutex<Vec<Call>>,
    notify: Mutex<Option<mpsc::UnboundedSender<Call>>>,
    heartbeats: Mutex<Vec<Heartbeat>>,
}

impl std::fmt::Debug for ScriptedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedTransport").finish_non_exhaustive()
    }
}

impl ScriptedTransport {
    /// The transport and a channel that receives every ingest call as it starts.
    pub fn new(script: Vec<Answer>) -> (Self, mpsc::UnboundedReceiver<Call>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let t = Self::default();
        *t.0.script.lock().unwrap() = script.into();
        *t.0.notify.lock().unwrap() = Some(tx);
        (t, rx)
    }

    pub fn push(&self, answer: Answer) {
        self.0.script.lock().unwrap().push_back(answer);
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.0.latency.lock().unwrap() = latency;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.calls.lock().unwrap().clone()
    }

    pub fn heartbeats(&self) -> Vec<Heartbeat> {
        self.0.heartbeats.lock().unwrap().clone()
    }
}

impl Transport for ScriptedTransport {
    async fn ingest(&self, gzip_body: Vec<u8>) -> Result<IngestResponse, UploadError> {
        let lines = decode(&gzip_body);
        let call = Call {
            at: tokio::time::Instant::now(),
            lines: lines.clone(),
        };
        self.0.calls.lock().unwrap().push(call.clone());
        if let Some(tx) = &*self.0.notify.lock().unwrap() {
            let _ = tx.send(call);
        }
        let latency = *self.0.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let answer = self.0.script.lock().unwrap().pop_front();
        match answer {
            Some(answer) => answer(&lines),
            None => accept_all(&lines),
        }
    }

    async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), UploadError> {
        self.0.heartbeats.lock().unwrap().push(heartbeat.clone());
        Ok(())
    }
}

/// The NDJSON lines of a gzip body.
pub fn decode(gzip_body: &[u8]) -> Vec<Value> {
    use std::io::Read as _;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gzip_body)
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "body must end with a newline"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An uplink running in a task, with its controls.
pub struct Running {
    pub status: watch::Receiver<UplinkStatus>,
    pub wake: Wake,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    pub fn spawn<O, T>(outbox: O, transport: T, settings: UplinkSettings) -> Self
    where
        O: UplinkOutbox + 'static,
        T: Transport + 'static,
    {
        let (status_tx, status) = watch::channel(UplinkStatus::default());
        let wake = Wake::new();
        let (stop, stopped) = oneshot::channel::<()>();
        let uplink = Uplink::new(outbox, transport, settings, status_tx, wake.clone());
        let task = tokio::spawn(uplink.run(async {
            let _ = stopped.await;
        }));
        Self {
            status,
            wake,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Waits (up to `secs` on the tokio clock) until the status satisfies `cond`.
    pub async fn until(
        &mut self,
        secs: u64,
        what: &str,
        cond: impl FnMut(&UplinkStatus) -> bool,
    ) -> UplinkStatus {
        let found = tokio::time::timeout(Duration::from_secs(secs), self.status.wait_for(cond))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|status| status.clone());
        found.unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; status: {:#?}",
                *self.status.borrow()
            )
        })
    }

    pub async fn until_state(&mut self, secs: u64, state: UplinkState) -> UplinkStatus {
        self.until(secs, state.as_str(), |s| s.state == state).await
    }

    /// Signals shutdown and waits for the uplink to return.
    pub fn stop(&mut self) -> impl Future<Output = ()> + use<> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take();
        async move {
            if let Some(task) = task {
                task.await.unwrap();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
