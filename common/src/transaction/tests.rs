//! Parser tests on real-shaped ScoutPi payloads and on each field quirk alone.

use serde_json::json;

use super::fields::parse_loose_number;
use super::*;

const CLEAN: &str = include_str!("../../testdata/scoutpi_clean.json");
const QUIRKY: &str = include_str!("../../testdata/scoutpi_quirky.json");

fn kinds(t: &Transaction) -> Vec<(String, RepairKind)> {
    t.repairs
        .iter()
        .map(|r| (r.field.clone(), r.kind))
        .collect()
}

fn has(t: &Transaction, field: &str, kind: RepairKind) -> bool {
    kinds(t).contains(&(field.to_owned(), kind))
}

#[test]
fn clean_transaction_needs_no_repairs() {
    let t = Transaction::parse_line(CLEAN).unwrap();
    assert_eq!(t.repairs, vec![]);
    assert_eq!(t.transaction_id, "4b8c7a36-2f5e-4d1a-9b3c-7e2f1a6d8c90");
    assert!(!t.id_derived);
    assert_eq!(t.device_id.as_ref().unwrap().as_str(), "SCOUTPI-0004");
    assert_eq!(t.store_id.as_deref(), Some("104"));
    assert_eq!(t.items.len(), 2);
    assert_eq!(t.items[0].total_price, Some(57.0));
    assert_eq!(t.detected_brands.get("Safeguard"), Some(&Some(0.91)));
    assert_eq!(t.explicit_mentions, vec!["Safeguard", "Coke"]);
    assert_eq!(t.totals.total_amount, Some(72.0));
    assert_eq!(t.items_amount(), Some(72.0));
    assert_eq!(t.payment_method.as_deref(), Some("cash"));
    assert!(t.consent_timestamp.is_some());
}

#[test]
fn quirky_transaction_is_taken_in_with_every_repair_recorded() {
    let t = Transaction::parse_line(QUIRKY).unwrap();
    assert!(t.id_derived);
    assert!(Uuid::parse_str(&t.transaction_id).is_ok());
    assert_eq!(t.device_id.as_ref().unwrap().as_str(), "SCOUTPI-0006");
    assert_eq!(t.store_id.as_deref(), Some("106"));
    assert_eq!(t.timestamp, None);
    for (field, kind) in [
        ("transactionId", RepairKind::DerivedTransactionId),
        ("deviceId", RepairKind::DeviceIdCase),
        ("storeId", RepairKind::StoreIdNumber),
        ("timestamp", RepairKind::MissingTimestamp),
        ("items[0].brandName", RepairKind::BrandKey),
        ("items[0].quantity", RepairKind::NumberFromString),
        ("items[0].unitPrice", RepairKind::NumberFromString),
        ("items[0].totalPrice", RepairKind::EmptyNumber),
        ("items[0].totalPrice", RepairKind::ComputedTotalPrice),
        ("items[0].confidence", RepairKind::NullNumber),
        ("items[1].productName", RepairKind::ProductKey),
        ("items[1].unitPrice", RepairKind::PriceKey),
        ("items[1].quantity", RepairKind::DefaultQuantity),
        ("items[1].totalPrice", RepairKind::ComputedTotalPrice),
        ("items[2].confidence", RepairKind::NumberFromString),
        ("detectedBrands", RepairKind::DetectedBrandsTopLevel),
        ("detectedBrands.Lucky Me", RepairKind::ConfidenceObject),
        ("detectedBrands.Kopiko", RepairKind::NumberFromString),
        ("totals.totalAmount", RepairKind::NumberFromString),
        ("transactionContext.duration", RepairKind::NumberFromString),
        ("privacy.consentTimestamp", RepairKind::ConsentTimestamp),
    ] {
        assert!(has(&t, field, kind), "missing repair {field} {kind:?}");
    }
    let lucky = &t.items[0];
    assert_eq!(lucky.brand_name.as_deref(), Some("Lucky Me"));
    assert_eq!(lucky.quantity, 3.0);
    assert_eq!(lucky.total_price, Some(42.0));
    let kopiko = &t.items[1];
    assert_eq!(kopiko.product_name.as_deref(), Some("Kopiko Brown"));
    assert_eq!((kopiko.quantity, kopiko.total_price), (1.0, Some(8.0)));
    assert_eq!(t.items[2].is_unbranded, Some(false));
    assert_eq!(t.items_amount(), Some(62.0));
    assert_eq!(t.detected_brands.get("Lucky Me"), Some(&Some(0.82)));
    assert_eq!(t.totals.total_amount, Some(62.0));
    assert_eq!(
        t.consent_timestamp.unwrap().to_rfc3339(),
        "2025-09-13T00:41:13.919830+00:00"
    );
    assert_eq!(t.explicit_mentions, vec!["laki mi", "tayd"]);
    // Unknown fields are kept in the payload.
    assert_eq!(t.payload["firmwareBuild"], "rpi4-2025.08");
}

#[test]
fn derived_id_is_deterministic_and_content_sensitive() {
    let a = Transaction::parse_line(QUIRKY).unwrap();
    let b = Transaction::parse_line(QUIRKY).unwrap();
    assert_eq!(a.transaction_id, b.transaction_id);
    // Key order does not matter; content does.
    let one =
        Transaction::parse(json!({"deviceId": "P1", "items": [{"product": "x", "price": 1}]}))
            .unwrap();
    let reordered =
        Transaction::parse(json!({"items": [{"price": 1, "product": "x"}], "deviceId": "P1"}))
            .unwrap();
    let other =
        Transaction::parse(json!({"deviceId": "P1", "items": [{"product": "x", "price": 2}]}))
            .unwrap();
    assert_eq!(one.transaction_id, reordered.transaction_id);
    assert_ne!(one.transaction_id, other.transaction_id);
}

#[test]
fn agent_stamp_is_lifted_out_of_the_payload_and_does_not_change_the_derived_id() {
    let bare = Transaction::parse(json!({"deviceId": "P1", "items": []})).unwrap();
    let stamped = Transaction::parse(json!({
        "deviceId": "P1", "items": [],
        "_agent": {"capturedAt": "2026-11-27T01:00:00Z", "seq": 9, "version": "0.1.0"}
    }))
    .unwrap();
    assert_eq!(stamped.agent.as_ref().unwrap().seq, 9);
    assert!(!stamped.payload.contains_key(AGENT_STAMP_KEY));
    assert_eq!(bare.transaction_id, stamped.transaction_id);
}

#[test]
fn timestamps_in_every_shape() {
    for (value, kind) in [
        (json!(1757724073), Some(RepairKind::EpochSeconds)),
        (json!(1757724073000_i64), Some(RepairKind::EpochMillis)),
        (json!("2025-09-13T00:41:13Z"), None),
        (json!("not a time"), Some(RepairKind::InvalidTimestamp)),
    ] {
        let t = Transaction::parse(json!({"transactionId": "t", "timestamp": value})).unwrap();
        match kind {
            Some(kind) => assert!(has(&t, "timestamp", kind), "{value}: {:?}", t.repairs),
            None => assert!(t.repairs.is_empty(), "{value}: {:?}", t.repairs),
        }
        assert_eq!(
            t.timestamp.is_some(),
            kind != Some(RepairKind::InvalidTimestamp)
        );
    }
}

#[test]
fn loose_numbers() {
    assert_eq!(parse_loose_number("₱1,250.50"), Some(1250.5));
    assert_eq!(parse_loose_number("PHP 20"), Some(20.0));
    assert_eq!(parse_loose_number(" 3 "), Some(3.0));
    assert_eq!(parse_loose_number("three"), None);
    assert_eq!(parse_loose_number("NaN"), None);
}

#[test]
fn what_cannot_be_a_transaction_is_rejected_with_a_reason() {
    assert!(matches!(
        Transaction::parse_line("{not json"),
        Err(TransactionError::InvalidJson(_))
    ));
    assert_eq!(
        Transaction::parse_line("[1,2]"),
        Err(TransactionError::NotAnObject("an array"))
    );
    let err = Transaction::parse(json!({"transactionId": {"a": 1}})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `transactionId`: expected a string, found an object"
    );
    let err = Transaction::parse(json!({"transactionId": "t", "deviceId": "pi 4"})).unwrap_err();
    assert!(err.to_string().starts_with("field `deviceId`"), "{err}");
    let err =
        Transaction::parse(json!({"transactionId": "t", "_agent": {"seq": "x"}})).unwrap_err();
    assert!(err.to_string().starts_with("field `_agent`"), "{err}");
}

#[test]
fn odd_items_are_kept_or_skipped_visibly() {
    let t = Transaction::parse(
        json!({"transactionId": "t", "items": ["Piattos", 7, {"product": "Nova"}]}),
    )
    .unwrap();
    assert_eq!(t.items.len(), 2);
    assert_eq!(t.items[0].product_name.as_deref(), Some("Piattos"));
    assert!(has(&t, "items[0]", RepairKind::ItemFromString));
    assert!(has(&t, "items[1]", RepairKind::SkippedItem));
    assert_eq!(t.items[1].total_price, None);
}

#[test]
fn nul_characters_are_refused_with_their_path() {
    let err = Transaction::parse_line(
        r#"{"transactionId": "t", "items": [{"productName": "Coke\u0000Zero"}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        TransactionError::BadField {
            field: "items[0].productName".into(),
            reason: "contains a NUL character (\\u0000), which cannot be stored".into()
        }
    );
    // In a key, as a line or as a value.
    let key = r#"{"transactionId": "t", "transactionContext": {"note\u0000": 1}}"#;
    for err in [
        Transaction::parse_line(key).unwrap_err(),
        Transaction::parse(serde_json::from_str(key).unwrap()).unwrap_err(),
    ] {
        assert!(
            matches!(&err, TransactionError::BadField { field, .. } if field == "transactionContext.note\0"),
            "{err:?}"
        );
    }
    // An escaped backslash before `u0000` is text, not a NUL.
    let t =
        Transaction::parse_line(r#"{"transactionId": "t", "edgeVersion": "a\\u0000"}"#).unwrap();
    assert_eq!(t.edge_version.as_deref(), Some("a\\u0000"));
}

/// Bronze stores what the parser accepted as text, and its view reads it as `jsonb`, which
/// refuses a lone UTF-16 surrogate; so does the parser, for the whole line.
#[test]
fn unpaired_surrogates_are_refused() {
    for line in [
        r#"{"transactionId": "t", "note": "\ud800"}"#,
        r#"{"transactionId": "t", "note": "\udc00 tail"}"#,
        r#"{"transactionId": "t", "items": [{"productName": "a\ud83d"}]}"#,
    ] {
        assert!(Transaction::parse_line(line).is_err(), "{line}");
    }
    // A pair is one character.
    let t = Transaction::parse_line(r#"{"transactionId": "t\ud83d\ude00"}"#).unwrap();
    assert_eq!(t.transaction_id, "t\u{1F600}");
}

#[test]
fn a_uuid_id_is_read_in_lower_case_and_other_ids_as_written() {
    let read = |id: &str| Transaction::parse(serde_json::json!({ "transactionId": id })).unwrap();
    let upper = read(" 0D0D0D0D-ABCD-4000-8000-00000000000F ");
    assert_eq!(upper.transaction_id, "0d0d0d0d-abcd-4000-8000-00000000000f");
    assert!(
        upper
            .repairs
            .iter()
            .any(|r| r.kind == RepairKind::TransactionIdCase),
        "{:?}",
        upper.repairs
    );
    let lower = read("0d0d0d0d-abcd-4000-8000-00000000000f");
    assert_eq!(lower.transaction_id, upper.transaction_id);
    assert!(
        !lower
            .repairs
            .iter()
            .any(|r| r.kind == RepairKind::TransactionIdCase),
        "{:?}",
        lower.repairs
    );
    // Not UUIDs: a receipt number, a UUID without its hyphens, one digit short.
    for id in [
        "POS-RECEIPT-ABC",
        "0D0D0D0DABCD4000800000000000000F",
        "0D0D0D0D-ABCD-4000-8000-00000000000",
    ] {
        assert_eq!(read(id).transaction_id, id);
    }
}
