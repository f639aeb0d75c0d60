//! The stage end to end on small inputs: detection, reading, inference, mapping and the
//! payloads the common parser accepts.

use super::*;
use scout_common::transaction::Transaction;

fn run(bytes: &[u8]) -> (Processed, Vec<serde_json::Value>, ConvertStats) {
    let processed = process(bytes, &Options::default()).unwrap();
    let copy = process(bytes, &Options::default()).unwrap();
    let mut transactions = copy.transactions();
    let payloads: Vec<_> = transactions.by_ref().collect::<Result<_, _>>().unwrap();
    let stats = transactions.stats().clone();
    (processed, payloads, stats)
}

#[test]
fn item_rows_group_into_transactions_the_parser_accepts() {
    let text = "Txn ID,Petsa,Oras,Produkto,Dami,Presyo,Paraan ng Bayad\n\
                T1,03/14/2025,2:05 PM,Coke 1.5L,2,₱75.00,GCash\n\
                T1,03/14/2025,2:05 PM,Piattos,1,₱20.50,GCash\n\
                T2,03/15/2025,09:10,Safeguard,1,\"₱1,035.25\",Cash\n";
    let (processed, payloads, stats) = run(text.as_bytes());
    assert_eq!(processed.detection.format, FileFormat::Csv);
    let targets: Vec<&str> = processed
        .mapping
        .column_mappings
        .iter()
        .map(|m| m.target.as_str())
        .collect();
    assert_eq!(
        targets,
        [
            "transaction_id",
            "date",
            "time",
            "product",
            "quantity",
            "unit_price",
            "payment_method"
        ]
    );
    assert!(!processed.needs_review(), "{:?}", processed.mapping);
    assert_eq!(payloads.len(), 2);
    assert_eq!(stats.revenue_centavos, 15_000 + 2_050 + 103_525);
    let t = Transaction::parse(payloads[0].clone()).unwrap();
    assert_eq!(t.transaction_id, "T1");
    assert_eq!(t.items.len(), 2);
    assert_eq!(t.payment_method.as_deref(), Some("GCash"));
    assert_eq!(
        t.timestamp.map(|t| t.to_rfc3339()),
        Some("2025-03-14T06:05:00+00:00".to_owned())
    );
}

#[test]
fn rows_without_ids_get_stable_derived_ids_and_summary_rows_are_skipped() {
    let text =
        "Date;Item;Amount\n2025-03-01;Bear Brand;12,50\n2025-03-01;Kopiko;8,00\nTOTAL;;20,50\n";
    let (_, first, stats) = run(text.as_bytes());
    let (_, again, _) = run(text.as_bytes());
    assert_eq!(first, again);
    assert_eq!(first.len(), 2);
    assert_eq!(stats.summary_rows_skipped, 1);
    assert_eq!(stats.revenue_centavos, 2_050);
    assert!(
        first[0]["transactionId"]
            .as_str()
            .unwrap()
            .starts_with("file-")
    );
}

#[test]
fn a_repeated_transaction_total_is_not_counted_per_line() {
    let text = "receipt no,product,qty,price,total\nR1,A,2,10.00,25.00\nR1,B,1,5.00,25.00\n";
    let (_, payloads, stats) = run(text.as_bytes());
    assert_eq!(payloads.len(), 1);
    assert_eq!(stats.revenue_centavos, 2_500);
}

#[test]
fn bad_inputs_answer_clearly() {
    assert!(matches!(
        process(b"", &Options::default()),
        Err(FileError::Empty)
    ));
    assert!(matches!(
        process(b"date,product,amount\n", &Options::default()),
        Err(FileError::NoRows)
    ));
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let d = detect(&garbage);
    assert_eq!(d.format, FileFormat::Text);
    assert!(d.confidence < 0.8);
}

#[test]
fn the_schema_serialises_as_the_contract_names_it() {
    let (processed, _, _) = run(b"id,amount,qty\n1,-5.00,0\n1,3.00,2\n,4.00,1\n");
    let json = serde_json::to_value(&processed.schema).unwrap();
    assert!(json["qualityScore"].as_f64().unwrap() < 1.0);
    let kinds: Vec<&str> = json["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "missing_values",
        "empty_ids",
        "duplicate_ids",
        "negative_amounts",
        "non_positive_quantities",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}
