//! Scoring transactions: the real fixtures, then each check alone.

use super::*;

// ── Transactions: the real fixtures ───────────────────────────────────────────────────────────

#[test]
fn clean_fixture_scores_full_marks() {
    let q = score(clean_json());
    assert!(q.score > 0.9, "{q:#?}");
    assert_eq!(
        q.issues,
        vec![],
        "a clean transaction has nothing to explain"
    );
    assert_eq!(q.score, 1.0);
}

#[test]
fn clean_fixture_with_a_matcher_score_stays_above_0_7() {
    for matcher in [1.0, 0.9, 0.6, 0.0] {
        let t = parse(clean_json());
        let q = score_transaction(
            &t,
            &Context {
                matcher_score: Some(matcher),
                ..ctx()
            },
        );
        assert_explained(&q);
        assert!(q.score > 0.7, "matcher {matcher}: {q:#?}");
    }
}

#[test]
fn quirky_fixture_scores_lower_and_its_repairs_are_issues() {
    let clean = score(clean_json());
    let q = score(serde_json::from_str(QUIRKY).unwrap());
    assert!(q.score < clean.score, "{q:#?}");
    assert!(q.score > 0.5, "quirky but usable: {q:#?}");
    for code in [
        "derived_transaction_id",
        "timestamp_missing",
        "parser_repairs",
        "low_item_confidence",
        "low_detected_brand_confidence",
    ] {
        assert!(q.has(code), "{code} missing from {:?}", codes(&q));
    }
    // Its amounts are fine once read: 3 × 14 + 8 + 12 = 62 = the total.
    assert!(!q.has("totals_mismatch"), "{:?}", codes(&q));
    let repairs = q
        .issues
        .iter()
        .find(|i| i.code == "parser_repairs")
        .unwrap();
    assert!(
        repairs.message.contains("number_from_string"),
        "{repairs:?}"
    );
    assert!(repairs.field.contains("storeId"), "{repairs:?}");
    assert!(
        repairs.penalty <= 0.02 + 1e-12,
        "capped at the check's weight"
    );
}

#[test]
fn quirky_fixture_through_an_agent_loses_less_for_its_timestamp() {
    let mut v: Value = serde_json::from_str(QUIRKY).unwrap();
    let without = score(v.clone());
    v["_agent"] = json!({"capturedAt": "2025-09-13T00:41:20Z", "seq": 7, "version": "0.1.0"});
    let with = score(v);
    assert!(with.has("timestamp_from_capture"), "{:?}", codes(&with));
    assert!(!with.has("timestamp_missing"));
    assert!(with.score > without.score);
    assert!((with.penalty_of("timestamp_from_capture") - 0.02).abs() < 1e-12);
}

// ── Transactions: each check alone ───────────────────────────────────────────────────────────

#[test]
fn negative_amounts_lower_the_score_and_say_where() {
    let mut v = clean_json();
    v["items"][0]["totalPrice"] = json!(-57.0);
    v["totals"]["totalAmount"] = json!(-42.0);
    let q = score(v);
    assert!(q.score < 1.0);
    let item = q
        .issues
        .iter()
        .find(|i| i.code == "negative_item_amount")
        .unwrap();
    assert_eq!(item.field, "items[0].totalPrice");
    assert!(item.message.contains("-₱57.00"), "{item:?}");
    assert!(
        (item.penalty - 0.03).abs() < 1e-12,
        "half of 0.06: one of two items"
    );
    assert!(q.has("negative_total_amount"), "{:?}", codes(&q));
    // −57 + 15 = −42: the totals agree, so only the signs are charged.
    assert!(!q.has("totals_mismatch"));
    assert!((q.score - (1.0 - 0.03 - 0.05)).abs() < 1e-9, "{q:#?}");
    assert!(q.dimensions.validity < 1.0 && q.dimensions.completeness == 1.0);
}

#[test]
fn a_negative_unit_price_is_a_negative_item_amount() {
    let mut v = clean_json();
    v["items"][1]["unitPrice"] = json!(-15);
    let q = score(v);
    let issue = q
        .issues
        .iter()
        .find(|i| i.code == "negative_item_amount")
        .unwrap();
    assert_eq!(issue.field, "items[1].unitPrice");
}

#[test]
fn missing_id_is_derived_and_charged() {
    let mut v = clean_json();
    v.as_object_mut().unwrap().remove("transactionId");
    let q = score(v);
    assert_eq!(codes(&q), vec!["derived_transaction_id"]);
    assert_eq!(q.issues[0].field, "transactionId");
    assert!((q.score - 0.95).abs() < 1e-9, "{q:#?}");
    assert!((q.dimensions.completeness - (1.0 - 0.05 / 0.40)).abs() < 1e-4);
}

#[test]
fn missing_device_and_store_ids_are_charged() {
    let mut v = clean_json();
    v.as_object_mut().unwrap().remove("deviceId");
    v["storeId"] = json!("");
    let q = score(v);
    assert_eq!(codes(&q), vec!["missing_device_id", "missing_store_id"]);
}

#[test]
fn missing_timestamp_costs_more_without_a_capture_time() {
    let mut v = clean_json();
    v["timestamp"] = json!("");
    let bare = score(v.clone());
    assert_eq!(codes(&bare), vec!["timestamp_missing"]);
    assert!((bare.score - 0.95).abs() < 1e-9, "{bare:#?}");

    v["_agent"] = json!({"capturedAt": "2025-09-13T00:41:20Z", "seq": 1, "version": "0.1.0"});
    let captured = score(v.clone());
    assert_eq!(codes(&captured), vec!["timestamp_from_capture"]);
    assert!((captured.score - 0.98).abs() < 1e-9, "{captured:#?}");

    v["timestamp"] = json!("yesterday-ish");
    let unreadable = score(v);
    assert_eq!(codes(&unreadable), vec!["timestamp_unreadable"]);
    assert!((unreadable.score - 0.97).abs() < 1e-9, "{unreadable:#?}");
    assert!(bare.score < unreadable.score && unreadable.score < captured.score);
}

#[test]
fn a_readable_timestamp_in_another_shape_is_not_a_timestamp_issue() {
    let mut v = clean_json();
    v["timestamp"] = json!(1_757_724_073_u64);
    let q = score(v);
    assert_eq!(
        codes(&q),
        vec!["parser_repairs"],
        "epoch seconds: one repair"
    );
    assert!((q.score - 0.998).abs() < 1e-9, "{q:#?}");
}

#[test]
fn totals_mismatch_beyond_the_tolerance_is_charged() {
    let mut v = clean_json();
    // Items sum to ₱72: ₱1 either way is within tolerance (2% of ₱72 is ₱1.44).
    v["totals"]["totalAmount"] = json!(73.4);
    assert!(!score(v.clone()).has("totals_mismatch"));
    v["totals"]["totalAmount"] = json!(80.0);
    let q = score(v);
    assert_eq!(codes(&q), vec!["totals_mismatch"]);
    assert_eq!(q.issues[0].field, "totals.totalAmount");
    assert!(
        q.issues[0].message.contains("₱80.00") && q.issues[0].message.contains("₱72.00"),
        "{:?}",
        q.issues[0]
    );
    assert!((q.score - 0.93).abs() < 1e-9);
}

#[test]
fn totals_tolerance_grows_with_the_amount() {
    let mut v = clean_json();
    v["items"] = json!([{"brandName": "Tide", "productName": "Tide 1kg", "quantity": 1,
        "unitPrice": 1000, "totalPrice": 1000, "category": "Laundry", "confidence": 0.9}]);
    v["totals"]["totalAmount"] = json!(1019.0);
    assert!(!score(v.clone()).has("totals_mismatch"), "within 2%");
    v["totals"]["totalAmount"] = json!(1021.0);
    assert!(score(v).has("totals_mismatch"), "beyond 2%");
}

#[test]
fn unknown_device_is_charged() {
    let t = parse(clean_json());
    let q = score_transaction(
        &t,
        &Context {
            device_known: false,
            ..ctx()
        },
    );
    assert_explained(&q);
    assert_eq!(codes(&q), vec!["unknown_device"]);
    assert!((q.score - 0.93).abs() < 1e-9);
}

#[test]
fn future_timestamps_beyond_the_skew_are_charged() {
    let mut v = clean_json();
    let ahead = |mins: i64| (now() + chrono::Duration::minutes(mins)).to_rfc3339();
    v["timestamp"] = json!(ahead(9));
    assert!(score(v.clone()).issues.is_empty(), "within the skew");
    v["timestamp"] = json!(ahead(11));
    let q = score(v);
    assert_eq!(codes(&q), vec!["future_timestamp"]);
    assert_eq!(q.issues[0].field, "timestamp");
    assert!((q.score - 0.97).abs() < 1e-9);
}

#[test]
fn a_capture_time_before_2015_is_implausible() {
    // A Pi that has not yet heard from NTP believes it is 1970.
    let mut v = clean_json();
    v["timestamp"] = json!("");
    v["_agent"] = json!({"capturedAt": "1970-01-01T00:03:00Z", "seq": 1, "version": "0.1.0"});
    let q = score(v);
    assert_eq!(
        codes(&q),
        vec!["timestamp_from_capture", "timestamp_before_2015"]
    );
    assert_eq!(q.issues[1].field, "_agent.capturedAt");
}

#[test]
fn no_items_falls_below_the_well_formed_mark() {
    let mut v = clean_json();
    v["items"] = json!([]);
    let q = score(v);
    for code in ["no_items", "totals_mismatch", "low_item_confidence"] {
        assert!(q.has(code), "{code}: {:?}", codes(&q));
    }
    assert!(q.score <= 0.7, "{q:#?}");
}

#[test]
fn zero_quantities_and_missing_amounts_are_charged_per_item() {
    let mut v = clean_json();
    v["items"][0]["quantity"] = json!(0);
    v["items"][1] = json!({"productName": "Yelo", "category": "Ice", "confidence": 0.9});
    let q = score(v);
    let zero = q
        .issues
        .iter()
        .find(|i| i.code == "non_positive_quantity")
        .unwrap();
    assert_eq!(zero.field, "items[0].quantity");
    assert!((zero.penalty - 0.025).abs() < 1e-12);
    let missing = q
        .issues
        .iter()
        .find(|i| i.code == "missing_item_amount")
        .unwrap();
    assert_eq!(missing.field, "items[1].totalPrice");
    assert!((missing.penalty - 0.02).abs() < 1e-12);
    // With an item amount unknown, the totals are not judged.
    assert!(!q.has("totals_mismatch"));
}

#[test]
fn low_confidences_lower_the_confidence_dimension_only() {
    let mut v = clean_json();
    v["items"][0]["confidence"] = json!(0.2);
    v["items"][1]["confidence"] = json!(0.4);
    v["brandDetection"]["detectedBrands"] = json!({"Safeguard": 0.3, "Coca-Cola": 0.5});
    let q = score(v);
    assert_eq!(
        codes(&q),
        vec!["low_item_confidence", "low_detected_brand_confidence"]
    );
    assert!(q.dimensions.confidence < 0.6, "{q:#?}");
    assert_eq!(q.dimensions.completeness, 1.0);
    assert_eq!(q.dimensions.validity, 1.0);
    assert!(
        q.issues[1].message.contains("Safeguard"),
        "{:?}",
        q.issues[1]
    );
}

#[test]
fn a_low_matcher_score_is_charged_and_shares_the_confidence_weight() {
    let t = parse(clean_json());
    let q = score_transaction(
        &t,
        &Context {
            matcher_score: Some(0.4),
            ..ctx()
        },
    );
    assert_explained(&q);
    assert_eq!(codes(&q), vec!["low_matcher_confidence"]);
    // 0.07 × (1 − 0.4 / 0.8)
    assert!((q.issues[0].penalty - 0.035).abs() < 1e-12, "{q:#?}");
}

#[test]
fn a_score_serialises_for_processing_metadata() {
    let mut v = clean_json();
    v["totals"]["totalAmount"] = json!(-5);
    let q = score(v);
    let json = serde_json::to_value(&q).unwrap();
    assert_eq!(json["formulaVersion"], FORMULA_VERSION);
    assert!(json["score"].as_f64().unwrap() < 1.0);
    assert!(json["dimensions"]["validity"].as_f64().unwrap() < 1.0);
    let issue = &json["issues"][0];
    for key in ["code", "dimension", "field", "message", "penalty"] {
        assert!(issue.get(key).is_some(), "{key} in {issue}");
    }
    assert_eq!(issue["dimension"], "validity");
}
