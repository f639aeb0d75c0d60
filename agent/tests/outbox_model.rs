//! Model test: random sequences of enqueue, peek, ack, dead-letter, purge and reopen (clean or
//! killed) run against the real outbox and against a `VecDeque` model of its documented
//! invariants; after every step the two must agree.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::VecDeque;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use scout_agent::outbox::{BufferError, Enqueued, NewRecord, Outbox, OutboxConfig, Record};
use tempfile::TempDir;

/// Small enough that batches are refused often.
const CAP: u64 = 2_000;
/// Few distinct ids, so duplicates (in a batch, across batches, after ack) are common.
const IDS: u8 = 12;

#[derive(Debug, Clone)]
enum Op {
    /// (id index, payload length) per record.
    Enqueue(Vec<(u8, u16)>),
    /// Several groups in one transaction (group commit): each as if enqueued alone, in order.
    EnqueueGroups(Vec<Vec<(u8, u16)>>),
    Peek {
        max_records: usize,
        max_bytes: u64,
    },
    PeekAfter {
        skip: usize,
        max_records: usize,
    },
    /// Acknowledge the pending rows at these positions (modulo the backlog), plus one unknown
    /// sequence number.
    Ack(Vec<usize>),
    DeadLetter(usize),
    /// Acknowledge and dead-letter in one settlement.
    Settle {
        ack: usize,
        dead: usize,
    },
    PurgeDeadLetters,
    Reopen {
        killed: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0..IDS, 1_u16..400), 0..6).prop_map(Op::Enqueue),
        2 => prop::collection::vec(prop::collection::vec((0..IDS, 1_u16..400), 0..4), 0..5)
            .prop_map(Op::EnqueueGroups),
        2 => (0_usize..6, 0_u64..900)
            .prop_map(|(max_records, max_bytes)| Op::Peek { max_records, max_bytes }),
        1 => (0_usize..5, 1_usize..4)
            .prop_map(|(skip, max_records)| Op::PeekAfter { skip, max_records }),
        3 => prop::collection::vec(0_usize..16, 0..4).prop_map(Op::Ack),
        1 => (0_usize..16).prop_map(Op::DeadLetter),
        1 => (0_usize..16, 0_usize..16).prop_map(|(ack, dead)| Op::Settle { ack, dead }),
        1 => Just(Op::PurgeDeadLetters),
        1 => any::<bool>().prop_map(|killed| Op::Reopen { killed }),
    ]
}

fn captured(step: usize) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_760_000_000_000 + step as i64 * 1_000)
        .unwrap()
}

fn new_record(id: u8, len: u16, step: usize) -> NewRecord {
    NewRecord {
        transaction_id: format!("tx-{id}"),
        captured_at: captured(step),
        payload: vec![b'a' + id; usize::from(len)],
    }
}

/// The outbox as its module doc describes it.
#[derive(Debug, Default)]
struct Model {
    pending: VecDeque<Record>,
    dead: Vec<Record>,
    last_seq: i64,
    /// Refusals counted, and the part of them known to be written (the first refusal of an
    /// instance is written at once; later ones ride on the next commit or the close).
    refused: u64,
    refused_written: u64,
    refusal_written_this_instance: bool,
}

impl Model {
    fn used(&self) -> u64 {
        self.pending
            .iter()
            .chain(&self.dead)
            .map(|r| r.payload.len() as u64)
            .sum()
    }

    fn committed(&mut self) {
        self.refused_written = self.refused;
    }

    fn enqueue(&mut self, batch: &[NewRecord]) -> Result<Vec<Enqueued>, u64> {
        let mut out = Vec::new();
        let mut added: Vec<Record> = Vec::new();
        let mut seq = self.last_seq;
        for r in batch {
            let existing = self
                .pending
                .iter()
                .chain(&added)
                .find(|p| p.transaction_id == r.transaction_id)
                .map(|p| p.seq);
            match existing {
                Some(seq) => out.push(Enqueued {
                    seq,
                    duplicate: true,
                }),
                None => {
                    seq += 1;
                    added.push(Record {
                        seq,
                        transaction_id: r.transaction_id.clone(),
                        captured_at: r.captured_at,
                        payload: r.payload.clone(),
                    });
                    out.push(Enqueued {
                        seq,
                        duplicate: false,
                    });
                }
            }
        }
        let new_bytes: u64 = added.iter().map(|r| r.payload.len() as u64).sum();
        if self.used() + new_bytes > CAP {
            self.refused += added.len() as u64;
            if !self.refusal_written_this_instance && !added.is_empty() {
                self.refusal_written_this_instance = true;
                self.refused_written = self.refused;
            }
            return Err(added.len() as u64);
        }
        if !batch.is_empty() {
            self.last_seq = seq;
            self.pending.extend(added);
            self.committed();
        }
        Ok(out)
    }

    fn peek(&self, after: i64, max_records: usize, max_bytes: u64) -> Vec<Record> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for r in self
            .pending
            .iter()
            .filter(|r| r.seq > after)
            .take(max_records)
        {
            let len = r.payload.len() as u64;
            if !out.is_empty() && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            out.push(r.clone());
        }
        out
    }

    fn seq_at(&self, position: usize) -> Option<i64> {
        if self.pending.is_empty() {
            None
        } else {
            Some(self.pending[position % self.pending.len()].seq)
        }
    }

    /// Returns (acked, dead-lettered).
    fn settle(&mut self, acked: &[i64], dead: &[i64]) -> (u64, u64) {
        let mut counts = (0, 0);
        for seq in acked {
            if let Some(i) = self.pending.iter().position(|r| r.seq == *seq) {
                self.pending.remove(i);
                counts.0 += 1;
            }
        }
        for seq in dead {
            if let Some(i) = self.pending.iter().position(|r| r.seq == *seq) {
                let r = self.pending.remove(i).unwrap();
                self.dead.push(r);
                counts.1 += 1;
            }
        }
        if counts != (0, 0) {
            self.committed();
        }
        counts
    }
}

struct Harness {
    dir: TempDir,
    outbox: Option<Outbox>,
    model: Model,
}

impl Harness {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let outbox = Self::open(dir.path());
        Self {
            dir,
            outbox: Some(outbox),
            model: Model::default(),
        }
    }

    fn open(dir: &Path) -> Outbox {
        let (outbox, report) = Outbox::open(dir.join("outbox.db"), OutboxConfig::new(CAP)).unwrap();
        assert!(report.quarantined.is_none());
        outbox
    }

    fn outbox(&mut self) -> &mut Outbox {
        self.outbox.as_mut().unwrap()
    }

    fn step(&mut self, step: usize, op: &Op) {
        match op {
            Op::Enqueue(spec) => {
                let batch: Vec<NewRecord> = spec
                    .iter()
                    .map(|&(id, len)| new_record(id, len, step))
                    .collect();
                let expected = self.model.enqueue(&batch);
                let actual = self.outbox().enqueue_batch(&batch);
                match (expected, actual) {
                    (Ok(e), Ok(a)) => assert_eq!(a, e),
                    (Err(refused), Err(BufferError::Full { new_records, .. })) => {
                        assert_eq!(new_records, refused);
                    }
                    (e, a) => panic!("model {e:?} but outbox {a:?}"),
                }
            }
            Op::EnqueueGroups(groups) => {
                let groups: Vec<Vec<NewRecord>> = groups
                    .iter()
                    .map(|g| {
                        g.iter()
                            .map(|&(id, len)| new_record(id, len, step))
                            .collect()
                    })
                    .collect();
                let expected: Vec<_> = groups.iter().map(|g| self.model.enqueue(g)).collect();
                let actual = self.outbox().enqueue_groups(&groups).unwrap();
                assert_eq!(actual.len(), expected.len());
                for (e, a) in expected.into_iter().zip(actual) {
                    match (e, a) {
                        (Ok(e), Ok(a)) => assert_eq!(a, e),
                        (Err(refused), Err(BufferError::Full { new_records, .. })) => {
                            assert_eq!(new_records, refused);
                        }
                        (e, a) => panic!("model {e:?} but outbox {a:?}"),
                    }
                }
            }
            Op::Peek {
                max_records,
                max_bytes,
            } => {
                let expected = self.model.peek(0, *max_records, *max_bytes);
                let actual = self.outbox().peek_batch(*max_records, *max_bytes).unwrap();
                assert_eq!(actual, expected);
            }
            Op::PeekAfter { skip, max_records } => {
                let after = self
                    .model
                    .pending
                    .get(*skip)
                    .map_or(self.model.last_seq, |r| r.seq);
                let expected = self.model.peek(after, *max_records, u64::MAX);
                let actual = self
                    .outbox()
                    .peek_batch_after(after, *max_records, u64::MAX)
                    .unwrap();
                assert_eq!(actual, expected);
            }
            Op::Ack(positions) => {
                let mut seqs: Vec<i64> = positions
                    .iter()
                    .filter_map(|&p| self.model.seq_at(p))
                    .collect();
                seqs.push(self.model.last_seq + 7); // never issued: ignored
                let expected = self.model.settle(&seqs, &[]).0;
                assert_eq!(self.outbox().ack(&seqs).unwrap(), expected);
            }
            Op::DeadLetter(position) => {
                let seq = self
                    .model
                    .seq_at(*position)
                    .unwrap_or(self.model.last_seq + 1);
                let expected = self.model.settle(&[], &[seq]).1 == 1;
                assert_eq!(
                    self.outbox()
                        .dead_letter(seq, "rejected by collector")
                        .unwrap(),
                    expected
                );
            }
            Op::Settle { ack, dead } => {
                let acked: Vec<i64> = self.model.seq_at(*ack).into_iter().collect();
                let dead: Vec<i64> = self.model.seq_at(*dead).into_iter().collect();
                let expected = self.model.settle(&acked, &dead);
                let rejected: Vec<(i64, &str)> = dead.iter().map(|&s| (s, "bad line")).collect();
                let settled = self.outbox().settle(&acked, &rejected).unwrap();
                assert_eq!((settled.acked, settled.dead_lettered), expected);
            }
            Op::PurgeDeadLetters => {
                let mut sink = Vec::new();
                let report = self.outbox().export_dead_letters(&mut sink).unwrap();
                assert_eq!(report.count, self.model.dead.len() as u64);
                assert_eq!(report.last_seq, self.model.dead.iter().map(|r| r.seq).max());
                let purged = self
                    .outbox()
                    .purge_dead_letters(report.last_seq.unwrap_or(0))
                    .unwrap();
                assert_eq!(purged, self.model.dead.len() as u64);
                if purged > 0 {
                    self.model.committed();
                }
                self.model.dead.clear();
            }
            Op::Reopen { killed } => {
                let outbox = self.outbox.take().unwrap();
                if *killed {
                    // No close, no Drop: as after SIGKILL or a power cut. Committed rows stay;
                    // refusals not yet written may be lost (invariant 8), within known bounds.
                    std::mem::forget(outbox);
                    let reopened = Self::open(self.dir.path());
                    let refused = reopened.stats().unwrap().refused_total;
                    assert!(
                        (self.model.refused_written..=self.model.refused).contains(&refused),
                        "refused {refused} outside {}..={}",
                        self.model.refused_written,
                        self.model.refused
                    );
                    self.model.refused = refused;
                    self.outbox = Some(reopened);
                } else {
                    outbox.close().unwrap();
                    self.outbox = Some(Self::open(self.dir.path()));
                }
                self.model.refused_written = self.model.refused;
                self.model.refusal_written_this_instance = false;
            }
        }
        self.check();
    }

    fn check(&mut self) {
        let model = &self.model;
        let outbox = self.outbox.as_ref().unwrap();
        let stats = outbox.stats().unwrap();
        assert_eq!(stats.pending_count, model.pending.len() as u64);
        assert_eq!(
            stats.pending_bytes,
            model
                .pending
                .iter()
                .map(|r| r.payload.len() as u64)
                .sum::<u64>()
        );
        assert_eq!(
            stats.oldest_pending_seq,
            model.pending.front().map(|r| r.seq)
        );
        assert_eq!(
            stats.oldest_pending_captured_at,
            model.pending.front().map(|r| r.captured_at)
        );
        assert_eq!(stats.dead_letter_count, model.dead.len() as u64);
        assert_eq!(
            stats.dead_letter_bytes,
            model
                .dead
                .iter()
                .map(|r| r.payload.len() as u64)
                .sum::<u64>()
        );
        assert_eq!(stats.last_seq, model.last_seq);
        assert_eq!(stats.refused_total, model.refused);
        assert!(stats.accounted_bytes() <= CAP);
        let audit = outbox.audit().unwrap();
        assert!(audit.is_consistent(), "{audit:?}");

        let mut dead = outbox.dead_letters(usize::MAX).unwrap();
        dead.reverse();
        let dead: Vec<(i64, String, Vec<u8>)> = dead
            .into_iter()
            .map(|d| (d.seq, d.transaction_id, d.payload))
            .collect();
        let mut expected: Vec<(i64, String, Vec<u8>)> = model
            .dead
            .iter()
            .map(|r| (r.seq, r.transaction_id.clone(), r.payload.clone()))
            .collect();
        expected.sort();
        assert_eq!(dead, expected);
    }
}

proptest! {
    // 64 cases by default (about a second); PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn outbox_agrees_with_its_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut harness = Harness::new();
        for (step, op) in ops.iter().enumerate() {
            harness.step(step, op);
        }
        // Drain everything: every accepted transaction comes out exactly once, in order.
        let outbox = harness.outbox();
        let mut drained = Vec::new();
        loop {
            let batch = outbox.peek_batch(4, 700).unwrap();
            if batch.is_empty() {
                break;
            }
            let seqs: Vec<i64> = batch.iter().map(|r| r.seq).collect();
            outbox.ack(&seqs).unwrap();
            drained.extend(seqs);
        }
        let expected: Vec<i64> = harness.model.pending.iter().map(|r| r.seq).collect();
        prop_assert_eq!(drained, expected);
    }
}
