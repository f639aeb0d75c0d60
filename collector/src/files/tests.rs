//! The stage end to end on small inputs: detection, reading, inference, mapping and the
//! payloads the common parser accepts.

use super::*;
use scout_common::transaction::Transaction;

/// The mapped targets, in column order.
fn targets(processed: &Processed) -> Vec<&'static str> {
    processed
        .mapping
        .column_mappings
        .iter()
        .map(|m| m.target.as_str())
        .collect()
}

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
    let targets = targets(&processed);
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
    assert_eq!(stats.returns_centavos, 0);
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
fn returns_are_counted_apart_from_the_net_revenue() {
    let text = "Receipt,Date,Product,Qty,Amount\n\
                R1,2025-03-01,Bear Brand,1,\"1,250.00\"\n\
                R2,2025-03-01,Kopiko,1,(8.00)\n\
                R3,2025-03-02,Safeguard,2,-35.50\n\
                R4,2025-03-02,Piattos,1,20.50\n";
    let (_, payloads, stats) = run(text.as_bytes());
    assert_eq!(payloads.len(), 4);
    assert_eq!(stats.revenue_centavos, 125_000 - 800 - 3_550 + 2_050);
    assert_eq!(stats.returns_centavos, 800 + 3_550);
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

/// Reads a small CSV and returns its proposed (header, target) pairs.
fn mapped(text: &str) -> Vec<(String, &'static str)> {
    let processed = process(text.as_bytes(), &Options::default()).unwrap();
    processed
        .mapping
        .column_mappings
        .iter()
        .map(|m| (m.source.clone(), m.target.as_str()))
        .collect()
}

fn assert_maps(text: &str, want: &[(&str, &str)]) {
    let got = mapped(text);
    for (source, target) in want {
        let found = got.iter().find(|(s, _)| s == source).map(|(_, t)| *t);
        assert_eq!(found, Some(*target), "{source} in {got:?}");
    }
}

#[test]
fn headers_of_pos_exports_in_the_wild() {
    // A receipts export of a cloud POS popular with small shops.
    assert_maps(
        "Date,Receipt number,Receipt type,Category,SKU,Item,Quantity,Gross sales,Discounts,Net sales,POS,Store,Cashier name\n\
         3/14/25 2:05 PM,1-1001,Sale,Beverages,10001,Coke Mismo,2,40.00,0.00,40.00,POS 1,Cubao,Ana\n\
         3/14/25 2:09 PM,1-1002,Sale,Snacks,10002,Piattos,1,19.75,0.00,19.75,POS 1,Cubao,Ana\n",
        &[
            ("Date", "timestamp"),
            ("Receipt number", "transaction_id"),
            ("Category", "category"),
            ("SKU", "sku"),
            ("Item", "product"),
            ("Quantity", "quantity"),
            ("Store", "store_id"),
        ],
    );
    // Upper-case, underscored headers of an ERP extract.
    assert_maps(
        "TRANSACTION_DATE,TXN_REF,ITEM_CODE,ITEM_DESCRIPTION,QTY_SOLD,NET_AMOUNT,BRANCH_CODE\n\
         2025-03-14,A1,100,Kopiko Brown,2,18.00,B01\n2025-03-15,A2,101,Bear Brand,1,12.00,B02\n",
        &[
            ("TRANSACTION_DATE", "timestamp"),
            ("ITEM_CODE", "sku"),
            ("ITEM_DESCRIPTION", "product"),
            ("QTY_SOLD", "quantity"),
            ("NET_AMOUNT", "total_amount"),
            ("BRANCH_CODE", "store_id"),
        ],
    );
    // Units in the cells, Taglish headers, a payment column named oddly.
    assert_maps(
        "Petsa ng Benta,Pangalan ng Produkto,Ilan,Halaga (PHP),Bayad via\n\
         03/14/2025,Lucky Me Pancit Canton,2 pcs,₱33.00,GCash\n03/14/2025,Bear Brand,1 pc,₱12.00,Cash\n\
         03/15/2025,Tide,3 pcs,₱42.00,Maya\n",
        &[
            ("Petsa ng Benta", "timestamp"),
            ("Pangalan ng Produkto", "product"),
            ("Ilan", "quantity"),
            ("Halaga (PHP)", "total_amount"),
            ("Bayad via", "payment_method"),
        ],
    );
}

#[test]
fn headers_of_online_shop_exports() {
    assert_maps(
        "Order #,Order Date,Customer,Product Title,Sold,Unit Price,Subtotal,Payment Gateway\n\
         1001,2025-03-14 09:12:00,Juan,Nescafe 3in1,2,8.50,17.00,GCash\n\
         1002,2025-03-14 09:20:00,Maria,Coke 1.5L,1,75.00,75.00,Cash\n",
        &[
            ("Order #", "transaction_id"),
            ("Order Date", "timestamp"),
            ("Product Title", "product"),
            ("Sold", "quantity"),
            ("Unit Price", "unit_price"),
            ("Subtotal", "total_amount"),
            ("Payment Gateway", "payment_method"),
        ],
    );
}

#[test]
fn values_decide_when_headers_say_nothing() {
    assert_maps(
        "a,b,c,d\n2025-03-14 10:00,Coke,20.00,GCash\n2025-03-14 11:00,Piattos,19.75,cash\n\
         2025-03-15 09:30,Tide,14.00,Maya\n",
        &[("a", "timestamp"), ("d", "payment_method")],
    );
}

#[test]
fn undecided_day_order_is_an_issue_and_options_are_checked() {
    let (processed, _, _) = run(b"date,product,amount\n03/04/2025,A,1.00\n05/06/2025,B,2.00\n");
    assert!(
        processed
            .schema
            .issues
            .iter()
            .any(|i| i.kind == "ambiguous_date_order"),
        "{:?}",
        processed.schema
    );
    let sample = processed.raw_sample(1);
    assert_eq!(sample[0]["product"], "A");
    assert_eq!(sample[0]["_line"], 2);
    let bad = Options {
        delimiter: Some('¦'),
        ..Options::default()
    };
    assert!(matches!(
        process(b"a,b\n1,2\n", &bad),
        Err(FileError::BadOption {
            option: "delimiter",
            ..
        })
    ));
}

#[test]
fn spreadsheet_times_of_day_settlement_amounts_and_material_codes_map() {
    // Times written out as fractions of a day (0.5625 is 13:30), under a "Txn" header.
    let text = "Receipt No,Date,Txn Time,Material Code,Item,Qty,U/P,Amount\n\
                R1,2025-03-01,0.5625,MC-001,Kopiko,2,8.00,16.00\n\
                R2,2025-03-01,0.75,MC-002,Piattos,1,20.00,20.00\n\
                R3,2025-03-02,0.3125,MC-001,Kopiko,1,8.00,8.00\n";
    assert_maps(
        text,
        &[
            ("Txn Time", "time"),
            ("Material Code", "sku"),
            ("U/P", "unit_price"),
            ("Receipt No", "transaction_id"),
        ],
    );
    let (_, payloads, _) = run(text.as_bytes());
    assert_eq!(payloads[0]["timestamp"], "2025-03-01T13:30:00+08:00");

    // A settlement's gross amount is the sale; its net is after the wallet's fee.
    assert_maps(
        "Reference,Date,Amount,Fee,Net Amount\nG1,2025-03-01,100.00,2.00,98.00\n\
         G2,2025-03-01,50.00,1.00,49.00\n",
        &[("Amount", "total_amount"), ("Reference", "transaction_id")],
    );
}

#[test]
fn a_file_without_dates_waits_for_review_and_filipino_totals_are_summaries() {
    let processed = process(
        b"Receipt,Product,Qty,Amount\nR1,Kopiko,2,16.00\nR2,Piattos,1,20.00\n",
        &Options::default(),
    )
    .unwrap();
    assert!(processed.mapping.needs_review, "{:?}", processed.mapping);

    let text = "Petsa,Produkto,Dami,Halaga\n2025-03-01,Kopiko,2,16.00\n\
                2025-03-01,Piattos,1,20.00\nKABUUANG BENTA,,,36.00\n";
    let (_, payloads, stats) = run(text.as_bytes());
    assert_eq!(payloads.len(), 2, "{stats:?}");
}

#[test]
fn filipino_month_names_unix_milliseconds_and_centavo_columns_read_right() {
    let text = "Petsa,Produkto,Dami,Halaga\nMarso 20 2024,Kopiko,2,16.00\n\
                \"Okt 3, 2024\",Piattos,1,20.00\n";
    let (processed, payloads, _) = run(text.as_bytes());
    assert!(!processed.mapping.needs_review, "{:?}", processed.mapping);
    assert_eq!(payloads[0]["timestamp"], "2024-03-20T00:00:00+08:00");
    assert_eq!(payloads[1]["timestamp"], "2024-10-03T00:00:00+08:00");

    // Milliseconds since 1970 under a header that speaks of time; amounts in whole centavos.
    let text = "order_ref,event_time_ms,product,qty,total_centavos\n\
                A1,1710489600000,Kopiko,2,1600\nA2,1710493200000,Piattos,1,2050\n";
    let (processed, payloads, stats) = run(text.as_bytes());
    assert!(!processed.mapping.needs_review, "{:?}", processed.mapping);
    assert_eq!(payloads[0]["timestamp"], "2024-03-15T08:00:00Z");
    assert_eq!(payloads[1]["items"][0]["totalPrice"], 20.5, "{stats:?}");
}

#[test]
fn a_line_items_own_amount_beats_the_orders_total() {
    // Rows are line items: the order's total repeated on each is not an item's amount, even
    // where its header reads as strongly.
    let text = r#"{"orders": [
        {"order_id": "SO-1", "created": "2026-11-02 10:15", "order_total": 95.5,
         "items": [{"name": "Kopiko Brown", "qty": 3, "subtotal": 30.0},
                   {"name": "Bear Brand 33g", "qty": 5, "subtotal": 65.5}]},
        {"order_id": "SO-2", "created": "2026-11-02 11:40", "order_total": 21.0,
         "items": [{"name": "Piattos", "qty": 1, "subtotal": 21.0}]}
    ]}"#;
    let found = mapped(text);
    assert!(
        found.contains(&("items.subtotal".into(), "total_amount")),
        "{found:?}"
    );
    assert!(!found.iter().any(|(s, _)| s == "order_total"), "{found:?}");
    let (_, payloads, stats) = run(text.as_bytes());
    assert_eq!(payloads.len(), 2);
    assert_eq!(stats.revenue_centavos, 9_550 + 2_100);
}

#[test]
fn status_columns_refunds_voids_and_report_lines() {
    // A settlement: refunds printed positive, a failed payment, a report's own lines.
    let text = "Txn ID,Date,Type,Status,Gross Amount,Member No\n\
                A1,2026-11-16 06:10,SALE,SETTLED,79.75,M-100\n\
                A2,2026-11-16 08:36,REFUND,SETTLED,25.50,M-100\n\
                A3,2026-11-16 11:12,SALE,FAILED,18.00,\n\
                A4,2026-11-16 13:12,SALE,SETTLED,361.50,M-207\n\
                Printed by: jdelacruz on 2026-11-17 21:03,,,,,\n\
                Page 1 of 1,,,,,\n\
                *** END OF REPORT ***,,,,,\n";
    let found = mapped(text);
    assert!(found.contains(&("Type".into(), "line_status")), "{found:?}");
    assert!(
        found.contains(&("Member No".into(), "customer_id")),
        "{found:?}"
    );
    let (processed, payloads, stats) = run(text.as_bytes());
    assert!(!processed.needs_review(), "{:?}", processed.mapping);
    // The failed payment is not a sale; the refund is money going back.
    assert_eq!(payloads.len(), 3);
    assert_eq!(stats.voided_rows_skipped, 1);
    assert_eq!(stats.returns_centavos, 2_550);
    assert_eq!(stats.revenue_centavos, 7_975 - 2_550 + 36_150);
    assert_eq!(stats.summary_rows_skipped, 3);
    let t = Transaction::parse(payloads[0].clone()).unwrap();
    assert_eq!(t.transaction_id, "A1");
    assert_eq!(payloads[0]["customer"]["id"], "M-100");

    // `OK`/`VOID` lines of a POS report.
    let text = "Receipt,Date,Product,Qty,Amount,Status\n\
                000656,2026-11-28,Surf 65g,5,47.50,OK\n\
                000657,2026-11-28,Kopiko Brown,2,16.00,VOID\n\
                000658,2026-11-28,Piattos,1,21.00,OK\n";
    let (_, payloads, stats) = run(text.as_bytes());
    assert_eq!(payloads.len(), 2);
    assert_eq!(stats.voided_rows_skipped, 1);
    assert_eq!(stats.revenue_centavos, 4_750 + 2_100);
}

#[test]
fn stock_counts_wait_and_two_row_headers_and_unstyled_serials_map() {
    // Stock on hand and its cost are not sales: with no sales figure left, a person decides.
    let text = "Item Code,Description,Qty On Hand,Unit Cost,Stock Value,Count Date\n\
                4800016644290,Lucky Me Pancit Canton 60g,28,11.20,313.60,2026-11-30\n\
                8996001600146,Kopiko Brown Coffee 25g,139,6.40,889.60,2026-11-30\n";
    let processed = process(text.as_bytes(), &Options::default()).unwrap();
    assert!(processed.needs_review(), "{:?}", processed.mapping);
    let targets = targets(&processed);
    assert!(!targets.contains(&"quantity"), "{targets:?}");
    assert!(!targets.contains(&"unit_price"), "{targets:?}");

    // Group labels over the header row, one merged over both rows; dates as spreadsheet day
    // numbers without a date style (46,000.5 is 2025-12-09 at noon).
    let text = "TRANSACTION,,,ITEM,,,Payment Method\n\
                No.,Date,Store,Product,Qty,Amount,\n\
                752,46000.5,501,Lucky Me Pancit Canton,2,28.00,Cash\n\
                752,46000.5,501,Century Tuna,2,76.50,Cash\n\
                768,46000.75,501,Piattos,5,92.50,GCash\n";
    assert_maps(
        text,
        &[
            ("TRANSACTION No.", "transaction_id"),
            ("TRANSACTION Date", "timestamp"),
            ("TRANSACTION Store", "store_id"),
            ("ITEM Product", "product"),
            ("ITEM Qty", "quantity"),
            ("ITEM Amount", "total_amount"),
            ("Payment Method", "payment_method"),
        ],
    );
    let (_, payloads, stats) = run(text.as_bytes());
    assert_eq!(payloads.len(), 2);
    assert_eq!(stats.revenue_centavos, 2_800 + 7_650 + 9_250);
    let t = Transaction::parse(payloads[0].clone()).unwrap();
    assert_eq!(
        t.timestamp.map(|t| t.to_rfc3339()),
        Some("2025-12-09T04:00:00+00:00".to_owned())
    );
}
