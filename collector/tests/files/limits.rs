//! Inputs the corpus cannot hold: a large CSV read as a stream, the same file twice, forced
//! formats and a confirmed mapping.

use std::io::Read;

use scout_collector::files::{self, FileFormat, MappingProposal, Options, Target};

/// A reader that makes up a CSV of `rows` rows as it is read, so the test never holds it.
struct GeneratedCsv {
    rows: u64,
    next: u64,
    pending: Vec<u8>,
    at: usize,
}

impl Read for GeneratedCsv {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.pending.len() {
            self.pending.clear();
            self.at = 0;
            if self.next == 0 {
                self.pending
                    .extend_from_slice(b"Txn ID,Date,Product,Qty,Price,Payment\n");
            }
            while self.pending.len() < 32 * 1024 && self.next < self.rows {
                let n = self.next;
                let line = format!(
                    "T{},2025-03-{:02} 10:{:02},Coke Mismo 290ml,{},20.50,GCash\n",
                    n / 2,
                    n % 28 + 1,
                    n % 60,
                    n % 3 + 1
                );
                self.pending.extend_from_slice(line.as_bytes());
                self.next += 1;
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_large_csv_streams_through_the_converter() {
    let rows = 200_000;
    let reader = GeneratedCsv {
        rows,
        next: 0,
        pending: Vec::new(),
        at: 0,
    };
    let processed =
        files::process_reader(Box::new(reader), "ab".repeat(32), &Options::default()).unwrap();
    assert_eq!(processed.detection.format, FileFormat::Csv);
    assert_eq!(processed.sample.len(), files::SAMPLE_ROWS);
    let mut transactions = processed.transactions();
    let mut count = 0u64;
    for t in transactions.by_ref() {
        t.unwrap();
        count += 1;
    }
    let stats = transactions.stats();
    assert_eq!(stats.rows, rows);
    assert_eq!(count, rows / 2);
    // Quantities cycle 1, 2, 3 at ₱20.50.
    let units: i64 = (0..rows as i64).map(|n| n % 3 + 1).sum();
    assert_eq!(stats.revenue_centavos, units * 2_050);
}

#[test]
fn the_same_bytes_give_the_same_transactions() {
    let bytes =
        std::fs::read(super::corpus::corpus_dir().join("numbered_headers_no_id.csv")).unwrap();
    let once: Vec<_> = files::process(&bytes, &Options::default())
        .unwrap()
        .transactions()
        .map(|t| t.unwrap())
        .collect();
    let twice: Vec<_> = files::process(&bytes, &Options::default())
        .unwrap()
        .transactions()
        .map(|t| t.unwrap())
        .collect();
    assert_eq!(once, twice);
    assert!(
        once.iter()
            .all(|t| t["transactionId"].as_str().unwrap().starts_with("file-"))
    );
}

#[test]
fn a_forced_format_and_delimiter_win_over_detection() {
    let bytes = b"a|b\n1;2|3\n";
    let options = Options {
        force_format: Some(FileFormat::Csv),
        delimiter: Some(';'),
        ..Options::default()
    };
    let processed = files::process(bytes, &options).unwrap();
    assert_eq!(processed.detection.confidence, 1.0);
    assert_eq!(processed.columns.len(), 2);
}

#[test]
fn a_confirmed_mapping_replaces_the_proposal() {
    let bytes = b"col a,col b,col c\nR1,Kopiko,9.00\nR2,Piattos,19.75\n";
    let processed = files::process(bytes, &Options::default()).unwrap();
    assert!(processed.needs_review(), "{:?}", processed.mapping);
    let confirmed = MappingProposal::confirmed(
        &processed.columns,
        &[
            ("col a".into(), Target::TransactionId),
            ("col b".into(), Target::Product),
            ("col c".into(), Target::TotalAmount),
        ],
    )
    .unwrap();
    assert_eq!(
        confirmed.header_fingerprint,
        processed.mapping.header_fingerprint
    );
    // As a landing stores it and reads it back for the next file with the same header.
    let stored = serde_json::to_string(&confirmed).unwrap();
    let restored: MappingProposal = serde_json::from_str(&stored).unwrap();
    let mut transactions = processed.transactions_with(restored).unwrap();
    let ids: Vec<String> = transactions
        .by_ref()
        .map(|t| t.unwrap()["transactionId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["R1", "R2"]);
    assert_eq!(transactions.stats().revenue_centavos, 2_875);
    let elsewhere = MappingProposal::confirmed(
        &["Receipt".to_owned(), "Amount".to_owned()],
        &[("Receipt".into(), Target::TransactionId)],
    )
    .unwrap();
    let again = files::process(bytes, &Options::default()).unwrap();
    match again.transactions_with(elsewhere) {
        Err(e) => assert_eq!(e.kind(), "bad_option", "{e}"),
        Ok(_) => panic!("a mapping naming a column the file lacks was taken"),
    }
}

#[test]
fn every_prefix_of_every_corpus_file_answers_without_panicking() {
    let dir = super::corpus::corpus_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".py") && !n.ends_with(".toml"))
        .collect();
    names.sort();
    let (mut read, mut refused) = (0, 0);
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        // Cuts at a spread of places, the header and the tail included.
        let cuts = [
            1,
            2,
            7,
            64,
            300,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len().saturating_sub(1),
        ];
        for cut in cuts.into_iter().filter(|c| *c < bytes.len()) {
            match files::process(&bytes[..cut], &Options::default()) {
                Ok(processed) => {
                    let mut transactions = processed.transactions();
                    for t in transactions.by_ref() {
                        if let Err(e) = t {
                            assert!(!e.to_string().is_empty(), "{name}[..{cut}]");
                        }
                    }
                    read += 1;
                }
                Err(e) => {
                    assert!(
                        !e.to_string().is_empty(),
                        "{name}[..{cut}]: an empty message"
                    );
                    refused += 1;
                }
            }
        }
    }
    println!("cut files: {read} read, {refused} refused with a message");
    assert!(read > 0 && refused > 0);
}
