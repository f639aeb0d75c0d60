//! Reading bodies: each format, each refusal with its place, and the bounds on a body.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use chrono::{DateTime, TimeZone, Utc};
use scout_common::transaction::content_id;
use scout_common::{DeviceId, Transaction};
use serde_json::Value;

use super::*;
use crate::outbox::MAX_TRANSACTION_ID_LEN;

/// This agent: device SCOUTPI-0004 of store 104.
fn owner() -> Owner {
    Owner::new(DeviceId::parse("SCOUTPI-0004").unwrap(), "104")
}

fn at() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_760_000_000_000).unwrap()
}

fn parse(body: &str) -> Parsed {
    parse_body(body.as_bytes(), &owner(), at()).unwrap()
}

fn positions(errors: &[ItemError]) -> Vec<Position> {
    errors.iter().map(|e| e.position).collect()
}

#[test]
fn one_object_is_stored_compact_without_the_agent_stamp() {
    let body = r#"
        { "transactionId": " tx-1 ", "storeId": "104", "deviceId": "scoutpi-0004",
          "items": [ {"brand": "Safeguard", "price": "48.50"} ],
          "_agent": {"capturedAt": "2026-01-01T00:00:00Z", "seq": 9, "version": "0.0.1"} }
    "#;
    let parsed = parse(body);
    assert_eq!(parsed.format, BodyFormat::Object);
    assert!(parsed.rejected.is_empty());
    let item = &parsed.accepted[0];
    assert_eq!(item.position, Position::Body);
    assert_eq!(item.record.transaction_id, "tx-1");
    assert_eq!(item.record.captured_at, at());
    assert!(!item.id_derived);
    let text = std::str::from_utf8(&item.record.payload).unwrap();
    assert!(!text.contains("_agent"), "{text}");
    assert!(!text.contains('\n') && !text.contains(": "), "{text}");
    // Kept as the producer wrote it: the tolerant reading is the collector's business.
    let value: Value = serde_json::from_str(text).unwrap();
    assert_eq!(value["items"][0]["price"], "48.50");
    assert_eq!(value["deviceId"], "scoutpi-0004");
}

#[test]
fn an_array_takes_good_items_and_names_the_index_of_bad_ones() {
    let body = r#"[
        {"transactionId": "a"},
        5,
        {"transactionId": {"nested": true}},
        {"transactionId": "d", "deviceId": "SCOUTPI-0009"},
        {"storeId": "104", "items": []},
        {"transactionId": "f", "deviceId": 7},
        {"transactionId": "g", "_agent": "not a stamp"}
    ]"#;
    let parsed = parse(body);
    assert_eq!(parsed.format, BodyFormat::Array);
    assert_eq!(
        parsed
            .accepted
            .iter()
            .map(|a| a.position)
            .collect::<Vec<_>>(),
        vec![Position::Index(0), Position::Index(4)]
    );
    assert_eq!(
        positions(&parsed.rejected),
        vec![
            Position::Index(1),
            Position::Index(2),
            Position::Index(3),
            Position::Index(5),
            Position::Index(6)
        ]
    );
    let other = &parsed.rejected[2];
    assert!(matches!(other.kind, ItemErrorKind::OtherDevice { .. }));
    assert_eq!(other.transaction_id.as_deref(), Some("d"));
    assert!(
        other
            .to_string()
            .starts_with("index 3: deviceId SCOUTPI-0009"),
        "{other}"
    );
    assert!(
        parsed.rejected[0]
            .to_string()
            .contains("must be a JSON object")
    );
    // Without an id: the collector's derived id.
    let derived = &parsed.accepted[1];
    assert!(derived.id_derived);
    let payload: serde_json::Map<String, Value> =
        serde_json::from_slice(&derived.record.payload).unwrap();
    assert_eq!(derived.record.transaction_id, content_id(&payload));
}

#[test]
fn ndjson_errors_name_their_line_and_neighbours_survive() {
    let body = b"{\"transactionId\":\"a\"}\n\n{\"transactionId\": \r\n[1,2]\n\"text\"\n{\"transactionId\":\"b\",\"deviceId\":\"ScoutPi-0004\"}\r\n\xff\n{\"transactionId\":\"c\"}";
    let parsed = parse_body(body, &owner(), at()).unwrap();
    assert_eq!(parsed.format, BodyFormat::Ndjson);
    assert_eq!(
        parsed
            .accepted
            .iter()
            .map(|a| (a.position, a.record.transaction_id.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (Position::Line(1), "a"),
            (Position::Line(6), "b"),
            (Position::Line(8), "c")
        ]
    );
    assert_eq!(
        positions(&parsed.rejected),
        vec![
            Position::Line(3),
            Position::Line(4),
            Position::Line(5),
            Position::Line(7)
        ]
    );
    assert!(
        parsed.rejected[0]
            .to_string()
            .starts_with("line 3: invalid JSON")
    );
    assert!(matches!(parsed.rejected[3].kind, ItemErrorKind::Frame(_)));
}

#[test]
fn objects_on_several_lines_are_ndjson_and_a_broken_array_is_named() {
    let parsed = parse("{\"transactionId\":\"a\"}\n{\"transactionId\":\"b\"}\n");
    assert_eq!(parsed.format, BodyFormat::Ndjson);
    assert_eq!(parsed.accepted.len(), 2);

    let parsed = parse("[{\"transactionId\":\"a\"}, {\"transactionId\":");
    assert_eq!(parsed.format, BodyFormat::Ndjson);
    assert!(parsed.accepted.is_empty());
    assert_eq!(positions(&parsed.rejected), vec![Position::Line(1)]);
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let body = b"\xEF\xBB\xBF{\"transactionId\":\"a\"}";
    let parsed = parse_body(body, &owner(), at()).unwrap();
    assert_eq!(parsed.format, BodyFormat::Object);
    assert_eq!(parsed.accepted.len(), 1);
}

#[test]
fn empty_bodies_are_refused_whole() {
    for body in ["", "  \n\r\n ", "[]", " [ ] "] {
        assert_eq!(
            parse_body(body.as_bytes(), &owner(), at()),
            Err(IntakeError::Empty),
            "{body:?}"
        );
    }
}

#[test]
fn numeric_ids_and_the_collectors_reading_agree() {
    let parsed =
        parse(r#"[{"transactionId": 12345}, {"items": [{"product": "Kopiko", "price": 7}]}]"#);
    assert_eq!(parsed.accepted[0].record.transaction_id, "12345");
    // What the collector computes from the line the uplink sends (payload + stamp).
    for item in &parsed.accepted {
        let mut line: serde_json::Map<String, Value> =
            serde_json::from_slice(&item.record.payload).unwrap();
        line.insert(
            "_agent".into(),
            serde_json::json!({"capturedAt": "2026-01-01T00:00:00Z", "seq": 1, "version": "0.1.0"}),
        );
        let collector = Transaction::parse(Value::Object(line)).unwrap();
        assert_eq!(collector.transaction_id, item.record.transaction_id);
    }
}

#[test]
fn what_the_outbox_cannot_hold_is_refused_per_item() {
    let long_id = "x".repeat(MAX_TRANSACTION_ID_LEN + 1);
    let big = "y".repeat(MAX_ITEM_BYTES);
    let body = format!(
        "{{\"transactionId\":\"{long_id}\"}}\n{{\"transactionId\":\"big\",\"pad\":\"{big}\"}}\n{{\"transactionId\":\"ok\"}}\n"
    );
    let parsed = parse(&body);
    assert_eq!(parsed.accepted.len(), 1);
    assert!(matches!(
        parsed.rejected[0].kind,
        ItemErrorKind::IdTooLong { .. }
    ));
    assert!(matches!(
        parsed.rejected[1].kind,
        ItemErrorKind::TooLarge { .. }
    ));
    assert_eq!(parsed.rejected[1].transaction_id.as_deref(), Some("big"));
}

#[test]
fn item_errors_serialise_like_the_collectors_rejections() {
    let parsed = parse("{\"transactionId\":\"a\"}\nnope\n");
    let json = serde_json::to_value(&parsed.rejected).unwrap();
    assert_eq!(json[0]["line"], 2);
    assert!(
        json[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    assert!(json[0].get("transaction_id").is_none());
}

#[test]
fn junk_keeps_the_first_refusals_in_detail_and_counts_the_rest() {
    let body = "x\n".repeat(MAX_DETAILED_REFUSALS + 2_500) + "{\"transactionId\":\"last\"}\n";
    let parsed = parse(&body);
    assert_eq!(parsed.format, BodyFormat::Ndjson);
    assert_eq!(parsed.rejected.len(), MAX_DETAILED_REFUSALS);
    assert_eq!(parsed.rejected_omitted, 2_500);
    assert_eq!(parsed.refused(), MAX_DETAILED_REFUSALS as u64 + 2_500);
    assert_eq!(parsed.items(), MAX_DETAILED_REFUSALS as u64 + 2_501);
    assert_eq!(parsed.rejected[0].position, Position::Line(1));
    assert_eq!(
        parsed.rejected.last().unwrap().position,
        Position::Line(MAX_DETAILED_REFUSALS as u64)
    );
    // A good item after the junk is still taken.
    assert_eq!(parsed.accepted.len(), 1);
    assert_eq!(
        parsed.accepted[0].position,
        Position::Line(MAX_DETAILED_REFUSALS as u64 + 2_501)
    );
}

#[test]
fn an_array_is_read_element_by_element_with_the_same_bounds() {
    let body = format!("[{}{{\"transactionId\":\"a\"}}]", "1,".repeat(3_000));
    let parsed = parse(&body);
    assert_eq!(parsed.format, BodyFormat::Array);
    assert_eq!(parsed.rejected.len(), MAX_DETAILED_REFUSALS);
    assert_eq!(parsed.rejected_omitted, 2_000);
    assert_eq!(parsed.rejected[999].position, Position::Index(999));
    assert_eq!(parsed.accepted[0].position, Position::Index(3_000));
    assert!(
        parsed.rejected[0]
            .to_string()
            .starts_with("index 0: a transaction must be a JSON object"),
        "{}",
        parsed.rejected[0]
    );
}

#[test]
fn a_body_with_more_items_to_take_than_the_limit_is_refused_whole() {
    let body = format!("[{}{{}}]", "{},".repeat(MAX_BODY_ITEMS));
    assert_eq!(
        parse_body(body.as_bytes(), &owner(), at()),
        Err(IntakeError::TooManyItems)
    );
    // Exactly the limit is fine; refused items do not count towards it.
    let body = format!("[{}{{}}, 1, 2]", "{},".repeat(MAX_BODY_ITEMS - 1));
    let parsed = parse(&body);
    assert_eq!(
        (parsed.accepted.len(), parsed.rejected.len()),
        (MAX_BODY_ITEMS, 2)
    );
}

#[test]
fn refusal_texts_are_bounded() {
    // serde quotes the offending value, which can be as long as the item.
    let stamp = "s".repeat(100_000);
    let long_id = "i".repeat(100_000);
    let body = format!(
        "{{\"transactionId\":\"a\",\"_agent\":\"{stamp}\"}}\n\
         {{\"transactionId\":\"{long_id}\",\"deviceId\":\"SCOUTPI-0009\"}}\n"
    );
    let parsed = parse(&body);
    assert_eq!(parsed.rejected.len(), 2);
    let text = parsed.rejected[0].to_string();
    assert!(
        text.len() < 2 * MAX_REFUSAL_TEXT + 64,
        "{} bytes",
        text.len()
    );
    assert!(text.contains("_agent") && text.ends_with('…'), "{text}");
    let other = &parsed.rejected[1];
    assert!(matches!(other.kind, ItemErrorKind::OtherDevice { .. }));
    assert_eq!(
        other.transaction_id, None,
        "an id over the limit is left out"
    );
}

#[test]
fn an_item_text_over_the_line_cap_is_refused_unread() {
    let pad = " ".repeat(MAX_ITEM_TEXT_BYTES);
    // Compact it would fit; as it stands it is longer than the collector's line cap.
    let object = format!("{{\"transactionId\":\"a\",{pad}\"x\":1}}");
    let parsed = parse(&object);
    assert_eq!(parsed.format, BodyFormat::Object);
    assert!(matches!(
        parsed.rejected[0].kind,
        ItemErrorKind::TextTooLong { .. }
    ));
    let parsed = parse(&format!("[{{\"transactionId\":\"b\"}}, {object}]"));
    assert_eq!(parsed.format, BodyFormat::Array);
    assert_eq!(parsed.accepted.len(), 1);
    assert_eq!(parsed.rejected[0].position, Position::Index(1));
    assert!(matches!(
        parsed.rejected[0].kind,
        ItemErrorKind::TextTooLong { .. }
    ));
}

#[test]
fn a_body_nested_deeper_than_the_limit_is_read_as_ndjson() {
    let deep = format!(
        "{}{}",
        "[".repeat(MAX_NESTING + 1),
        "]".repeat(MAX_NESTING + 1)
    );
    let parsed = parse(&deep);
    assert_eq!(parsed.format, BodyFormat::Ndjson);
    assert_eq!(positions(&parsed.rejected), vec![Position::Line(1)]);
    // Brackets inside strings do not count.
    let body = format!(
        "[{{\"transactionId\":\"a\",\"note\":\"{}\"}}]",
        "[".repeat(500)
    );
    let parsed = parse(&body);
    assert_eq!(parsed.format, BodyFormat::Array);
    assert_eq!(parsed.accepted.len(), 1);
}
