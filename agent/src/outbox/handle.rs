//! `OutboxHandle`: the outbox on its own thread behind a cloneable async handle, so intake,
//! uplink and status share one SQLite connection without blocking the runtime, and concurrent
//! intake requests share one commit (group commit).
//!
//! # Invariants
//!
//! - **One owner thread.** The [`Outbox`] lives on the `scout-outbox` thread; every call is a
//!   message answered on a oneshot channel. Requests are served in arrival order.
//! - **Group commit.** When the thread serves an enqueue, every enqueue request already waiting
//!   behind it joins the same transaction ([`Outbox::enqueue_groups`]), up to
//!   [`GroupLimits`] (1,024 records or 4 MiB by default; a single larger request forms a group of
//!   its own). Each caller is answered only after that commit, with its own request's result: a
//!   request refused by the cap or for an invalid record fails alone. A failure of the commit
//!   itself (disk full, I/O, corruption) fails every request of the group with the same error.
//!   Nothing waits for more requests to arrive: a lone request is committed at once, and
//!   batching comes from the requests that queue up while a commit's fsync is in progress.
//! - **A dropped caller does not undo its request.** A request is committed once the thread
//!   has taken it, even if the caller has stopped waiting; a producer that retries gets
//!   `duplicate: true` for ids still pending.
//! - **Nobody hangs.** Once the thread has stopped ([`OutboxHandle::close`], or it ended
//!   unexpectedly), every call returns [`BufferError::Closed`]. Requests already queued behind
//!   `close` are answered with `Closed` too. When the last handle is dropped without `close`, the
//!   thread closes the outbox the same way and ends.
//! - **Commits are announced.** [`OutboxHandle::enqueued`] changes after every group commit that
//!   stored something, so the uplink can wake without polling SQLite.
//! - **Corruption is visible.** After an operation met corruption, [`OutboxHandle::corruption`]
//!   flips to `true` (the outbox stays marked unclean; the service should restart so the next
//!   start quarantines the file).

use std::thread;

use tokio::sync::{mpsc, oneshot, watch};

#[cfg(doc)]
use super::OutboxReader;
use super::{BufferError, DeadLetter, Enqueued, NewRecord, Outbox, OutboxStats, Record, Settled};

/// Requests that may wait for the outbox thread before callers wait to send (back-pressure).
pub const CHANNEL_CAPACITY: usize = 4096;

/// How large one group commit may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// Most records in one transaction (a single larger request still goes through, alone).
    pub max_records: usize,
    /// Most payload bytes in one transaction (same exception).
    pub max_bytes: u64,
}

impl Default for GroupLimits {
    fn default() -> Self {
        Self {
            max_records: 1024,
            max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What group commit has done since the thread started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Enqueue requests served (refused ones included).
    pub requests: u64,
    /// Records in those requests.
    pub records: u64,
    /// SQLite transactions committed for them.
    pub commits: u64,
    /// Most requests that shared one transaction.
    pub largest_group: u64,
}

type Reply<T> = oneshot::Sender<Result<T, BufferError>>;

enum Command {
    Enqueue {
        records: Vec<NewRecord>,
        reply: Reply<Vec<Enqueued>>,
    },
    Peek {
        after_seq: i64,
        max_records: usize,
        max_bytes: u64,
        reply: Reply<Vec<Record>>,
    },
    Settle {
        acked: Vec<i64>,
        rejected: Vec<(i64, String)>,
        reply: Reply<Settled>,
    },
    SetState {
        key: &'static str,
        value: Option<String>,
        reply: Reply<bool>,
    },
    Stats {
        reply: Reply<OutboxStats>,
    },
    DeadLetters {
        limit: usize,
        reply: Reply<Vec<DeadLetter>>,
    },
    CommitStats {
        reply: Reply<CommitStats>,
    },
    Close {
        reply: Reply<()>,
    },
}

impl Command {
    /// Answers the request with [`BufferError::Closed`] without doing it.
    fn refuse(self) {
        // A caller that stopped waiting is not an error.
        match self {
            Self::Enqueue { reply, .. } => drop(reply.send(Err(BufferError::Closed))),
            Self::Peek { reply, .. } => drop(reply.send(Err(BufferError::Closed))),
            Self::Settle { reply, .. } => drop(reply.send(Err(BufferError::Closed))),
            Self::SetState { reply, .. } => drop(reply.send(Err(BufferError::Closed))),
            Self::Stats { reply } => drop(reply.send(Err(BufferError::Closed))),
            Self::DeadLetters { reply, .. } => drop(reply.send(Err(BufferError::Closed))),
            Self::CommitStats { reply } => drop(reply.send(Err(BufferError::Closed))),
            Self::Close { reply } => drop(reply.send(Err(BufferError::Closed))),
        }
    }
}

/// A cloneable, async handle to the outbox thread. See the module documentation.
#[derive(Clone, Debug)]
pub struct OutboxHandle {
    tx: mpsc::Sender<Command>,
    corrupted: watch::Receiver<bool>,
    enqueued: watch::Receiver<i64>,
}

impl OutboxHandle {
    /// Starts the outbox thread with the default [`GroupLimits`].
    pub fn spawn(outbox: Outbox) -> Self {
        Self::spawn_with(outbox, GroupLimits::default())
    }

    /// Starts the outbox thread. If the operating system refuses a thread, the error is logged
    /// and every call on the returned handle answers [`BufferError::Closed`].
    pub fn spawn_with(outbox: Outbox, limits: GroupLimits) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (corrupted_tx, corrupted) = watch::channel(false);
        let (enqueued_tx, enqueued) = watch::channel(0);
        let path = outbox.path().to_path_buf();
        let actor = Actor {
            limits,
            stats: CommitStats::default(),
            corrupted: corrupted_tx,
            enqueued: enqueued_tx,
        };
        let spawned = thread::Builder::new()
            .name("scout-outbox".into())
            .spawn(move || actor.run(outbox, rx));
        if let Err(err) = spawned {
            tracing::error!(
                path = %path.display(),
                error = %err,
                "could not start the outbox thread; the outbox is unavailable"
            );
        }
        Self {
            tx,
            corrupted,
            enqueued,
        }
    }

    /// Stores `records` durably (one producer request): answered after the group commit that
    /// holds them. Per record, its sequence number and whether its id was already pending.
    pub async fn enqueue(&self, records: Vec<NewRecord>) -> Result<Vec<Enqueued>, BufferError> {
        self.call(|reply| Command::Enqueue { records, reply }).await
    }

    /// The oldest pending rows ([`OutboxReader::peek_batch`]).
    pub async fn peek(
        &self,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        self.peek_after(0, max_records, max_bytes).await
    }

    /// Pending rows after `after_seq` ([`OutboxReader::peek_batch_after`]), for an uplink that
    /// keeps more than one batch in flight.
    pub async fn peek_after(
        &self,
        after_seq: i64,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        self.call(|reply| Command::Peek {
            after_seq,
            max_records,
            max_bytes,
            reply,
        })
        .await
    }

    /// Applies one collector response ([`Outbox::settle`]).
    pub async fn settle(
        &self,
        acked: Vec<i64>,
        rejected: Vec<(i64, String)>,
    ) -> Result<Settled, BufferError> {
        self.call(|reply| Command::Settle {
            acked,
            rejected,
            reply,
        })
        .await
    }

    /// Sets or clears an agent-state entry ([`Outbox::set_state`]); true if it wrote.
    pub async fn set_state(
        &self,
        key: &'static str,
        value: Option<String>,
    ) -> Result<bool, BufferError> {
        self.call(|reply| Command::SetState { key, value, reply })
            .await
    }

    /// The outbox at a glance ([`OutboxReader::stats`]).
    pub async fn stats(&self) -> Result<OutboxStats, BufferError> {
        self.call(|reply| Command::Stats { reply }).await
    }

    /// The most recent dead letters, newest first ([`OutboxReader::dead_letters`]).
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, BufferError> {
        self.call(|reply| Command::DeadLetters { limit, reply })
            .await
    }

    /// Group-commit counters since the thread started (for metrics and tests).
    pub async fn commit_stats(&self) -> Result<CommitStats, BufferError> {
        self.call(|reply| Command::CommitStats { reply }).await
    }

    /// Serves everything queued before it, closes the outbox cleanly (marking the session
    /// clean unless corruption was seen) and stops the thread. Calls after it, including a
    /// second `close`, get [`BufferError::Closed`].
    pub async fn close(&self) -> Result<(), BufferError> {
        self.call(|reply| Command::Close { reply }).await
    }

    /// True once an operation met corruption (see [`BufferError::is_corruption`]).
    pub fn corruption_seen(&self) -> bool {
        *self.corrupted.borrow()
    }

    /// A receiver that flips to `true` when an operation meets corruption, for a service loop
    /// to `wait_for` and restart on.
    pub fn corruption(&self) -> watch::Receiver<bool> {
        self.corrupted.clone()
    }

    /// A receiver holding the highest sequence number stored by this actor's enqueues (0 before
    /// the first); it changes after every group commit that stored something. The uplink can
    /// `changed().await` on it instead of polling (records written by another process, such as
    /// `scout-agent enqueue`, are not announced).
    pub fn enqueued(&self) -> watch::Receiver<i64> {
        self.enqueued.clone()
    }

    async fn call<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, BufferError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(command(reply))
            .await
            .map_err(|_| BufferError::Closed)?;
        answer.await.map_err(|_| BufferError::Closed)?
    }
}

/// The outbox thread's state besides the outbox itself.
struct Actor {
    limits: GroupLimits,
    stats: CommitStats,
    corrupted: watch::Sender<bool>,
    enqueued: watch::Sender<i64>,
}

impl Actor {
    fn run(mut self, mut outbox: Outbox, mut rx: mpsc::Receiver<Command>) {
        tracing::debug!(path = %outbox.path().display(), "outbox thread started");
        let mut next: Option<Command> = None;
        loop {
            let command = match next.take() {
                Some(command) => command,
                None => match rx.blocking_recv() {
                    Some(command) => command,
                    None => {
                        tracing::debug!("every outbox handle dropped; closing the outbox");
                        if let Err(err) = outbox.close() {
                            tracing::warn!(error = %err, "closing the outbox failed");
                        }
                        return;
                    }
                },
            };
            match command {
                Command::Enqueue { records, reply } => {
                    next = self.group_commit(&mut outbox, records, reply, &mut rx);
                }
                Command::Close { reply } => {
                    rx.close();
                    let result = outbox.close();
                    if let Err(err) = &result {
                        tracing::warn!(error = %err, "closing the outbox failed");
                    }
                    drop(reply.send(result));
                    while let Ok(late) = rx.try_recv() {
                        late.refuse();
                    }
                    tracing::debug!("outbox thread stopped");
                    return;
                }
                other => self.serve(&mut outbox, other),
            }
            if outbox.corruption_seen() && !*self.corrupted.borrow() {
                self.corrupted.send_replace(true);
            }
        }
    }

    /// Commits `records` together with every enqueue request waiting behind it (within the
    /// limits) and answers each. Returns the first request that did not join, to serve next.
    fn group_commit(
        &mut self,
        outbox: &mut Outbox,
        records: Vec<NewRecord>,
        reply: Reply<Vec<Enqueued>>,
        rx: &mut mpsc::Receiver<Command>,
    ) -> Option<Command> {
        let (mut count, mut bytes) = size(&records);
        let mut groups = vec![records];
        let mut replies = vec![reply];
        let mut next = None;
        while count < self.limits.max_records && bytes < self.limits.max_bytes {
            match rx.try_recv() {
                Ok(Command::Enqueue { records, reply }) => {
                    let (n, b) = size(&records);
                    if count + n > self.limits.max_records || bytes + b > self.limits.max_bytes {
                        next = Some(Command::Enqueue { records, reply });
                        break;
                    }
                    count += n;
                    bytes += b;
                    groups.push(records);
                    replies.push(reply);
                }
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }

        let commits_before = outbox.enqueue_commits();
        let outcome = outbox.enqueue_groups(&groups);
        self.stats.requests += groups.len() as u64;
        self.stats.records += count as u64;
        self.stats.commits += outbox.enqueue_commits() - commits_before;
        self.stats.largest_group = self.stats.largest_group.max(groups.len() as u64);
        tracing::trace!(
            requests = groups.len(),
            records = count,
            bytes,
            "group commit"
        );
        match outcome {
            Ok(results) => {
                let stored = results
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .flatten()
                    .filter(|e| !e.duplicate)
                    .map(|e| e.seq)
                    .max();
                // Announced before anyone is answered: a caller that has its answer can count
                // on the announcement having been made.
                if let Some(seq) = stored {
                    self.enqueued.send_replace(seq);
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    drop(reply.send(result));
                }
            }
            Err(err) => {
                tracing::warn!(
                    requests = replies.len(),
                    records = count,
                    error = %err,
                    "group commit failed"
                );
                for reply in replies {
                    drop(reply.send(Err(err.replicate())));
                }
            }
        }
        next
    }

    fn serve(&mut self, outbox: &mut Outbox, command: Command) {
        // Sends fail only when the caller stopped waiting, which is not an error.
        match command {
            Command::Peek {
                after_seq,
                max_records,
                max_bytes,
                reply,
            } => drop(reply.send(outbox.peek_batch_after(after_seq, max_records, max_bytes))),
            Command::Settle {
                acked,
                rejected,
                reply,
            } => drop(reply.send(outbox.settle(&acked, &rejected))),
            Command::SetState { key, value, reply } => {
                drop(reply.send(outbox.set_state(key, value.as_deref())));
            }
            Command::Stats { reply } => drop(reply.send(outbox.stats())),
            Command::DeadLetters { limit, reply } => drop(reply.send(outbox.dead_letters(limit))),
            Command::CommitStats { reply } => drop(reply.send(Ok(self.stats))),
            // Served by `run`; listed so a new command cannot be forgotten here.
            Command::Enqueue { .. } | Command::Close { .. } => command.refuse(),
        }
    }
}

/// Records and payload bytes of one request.
fn size(records: &[NewRecord]) -> (usize, u64) {
    let bytes = records.iter().map(|r| r.payload.len() as u64).sum();
    (records.len(), bytes)
}
