//! Quality-score tests: the real fixtures, each check alone, and a property test that the issues
//! always explain the score.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use scout_common::Transaction;

const CLEAN: &str = include_str!("../../../common/testdata/scoutpi_clean.json");
const QUIRKY: &str = include_str!("../../../common/testdata/scoutpi_quirky.json");

/// A collector clock a few days after the fixtures' sales.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 15, 12, 0, 0).unwrap()
}

fn ctx() -> Context {
    Context::new(now())
}

fn clean_json() -> Value {
    serde_json::from_str(CLEAN).unwrap()
}

fn parse(v: Value) -> Transaction {
    Transaction::parse(v).unwrap()
}

fn score(v: Value) -> QualityScore {
    let q = score_transaction(&parse(v), &ctx());
    assert_explained(&q);
    q
}

fn codes(q: &QualityScore) -> Vec<&'static str> {
    q.issues.iter().map(|i| i.code).collect()
}

/// The issues explain the score, and the dimensions explain it too.
fn assert_explained(q: &QualityScore) {
    assert!((0.0..=1.0).contains(&q.score), "score {}", q.score);
    let charged: f64 = q.issues.iter().map(|i| i.penalty).sum();
    assert!(
        (q.score - (1.0 - charged).clamp(0.0, 1.0)).abs() < 1e-9,
        "score {} but 1 − Σ penalties = {}",
        q.score,
        1.0 - charged
    );
    let weighted: f64 = Dimension::ALL
        .iter()
        .map(|d| d.weight() * q.dimensions.get(*d))
        .sum();
    assert!(
        (q.score - weighted).abs() <= 1e-4 + 1e-12,
        "score {} but Σ weight × dimension = {weighted}",
        q.score
    );
    for d in Dimension::ALL {
        let dim = q.dimensions.get(d);
        assert!((0.0..=1.0).contains(&dim), "{d:?} = {dim}");
        let of_d: f64 = q
            .issues
            .iter()
            .filter(|i| i.dimension == d)
            .map(|i| i.penalty)
            .sum();
        assert!(of_d <= d.weight() + 1e-9, "{d:?} charged {of_d}");
    }
    for issue in &q.issues {
        assert!(issue.penalty > 0.0, "{issue:?}");
        assert!(issue.penalty <= issue.dimension.weight(), "{issue:?}");
        assert!(
            !issue.code.is_empty() && !issue.message.is_empty(),
            "{issue:?}"
        );
        assert_eq!(
            issue.penalty,
            (issue.penalty * 1e4).round() / 1e4,
            "{issue:?}"
        );
    }
    if q.issues.is_empty() {
        assert_eq!(q.score, 1.0);
    }
}

// ── The formula's tables ──────────────────────────────────────────────────────────────────────

#[test]
fn check_weights_add_up_to_their_dimensions_and_to_one() {
    for (name, checks) in [
        ("transaction", &TRANSACTION_CHECKS[..]),
        ("item", &ITEM_CHECKS[..]),
    ] {
        let total: f64 = checks.iter().map(|c| c.weight).sum();
        assert!((total - 1.0).abs() < 1e-9, "{name}: {total}");
        for d in Dimension::ALL {
            let of_d: f64 = checks
                .iter()
                .filter(|c| c.dimension == d)
                .map(|c| c.weight)
                .sum();
            assert!((of_d - d.weight()).abs() < 1e-9, "{name} {d:?}: {of_d}");
        }
        let mut names: Vec<_> = checks.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), checks.len(), "{name}: check names are unique");
    }
    let dims: f64 = Dimension::ALL.iter().map(|d| d.weight()).sum();
    assert!((dims - 1.0).abs() < 1e-9);
}

#[test]
fn credit_is_full_from_0_8_and_half_when_unknown() {
    assert_eq!(credit(Some(0.9)), 1.0);
    assert_eq!(credit(Some(0.8)), 1.0);
    assert!((credit(Some(0.4)) - 0.5).abs() < 1e-12);
    assert_eq!(credit(Some(-1.0)), 0.0);
    assert_eq!(credit(None), UNKNOWN_CREDIT);
    assert_eq!(credit(Some(f64::NAN)), UNKNOWN_CREDIT);
}

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

// ── Items ─────────────────────────────────────────────────────────────────────────────────────

fn clean_item() -> ItemFacts<'static> {
    ItemFacts {
        amount: Some(57.0),
        quantity: Some(2.0),
        unit_price: Some(28.5),
        brand: Some("Safeguard"),
        unbranded: false,
        category: Some("Personal Care"),
        product: Some("Safeguard Pure White 60g"),
        brand_confidence: Some(0.91),
    }
}

fn score_i(item: &ItemFacts<'_>) -> QualityScore {
    let q = score_item(item);
    assert_explained(&q);
    q
}

#[test]
fn clean_item_row_scores_above_0_8() {
    let q = score_i(&clean_item());
    assert_eq!(q.score, 1.0, "{q:#?}");
    // Without any confidence reported, still above 0.8.
    let q = score_i(&ItemFacts {
        brand_confidence: None,
        ..clean_item()
    });
    assert_eq!(codes(&q), vec!["low_brand_confidence"]);
    assert!(q.score > 0.8, "{q:#?}");
}

#[test]
fn clean_fixture_items_score_above_0_8() {
    let t = parse(clean_json());
    for item in &t.items {
        let q = score_i(&ItemFacts::from_item(item));
        assert!(q.score > 0.8, "{item:?}: {q:#?}");
    }
}

#[test]
fn quirky_fixture_items_say_what_is_missing() {
    let t = parse(serde_json::from_str(QUIRKY).unwrap());
    let scores: Vec<_> = t
        .items
        .iter()
        .map(|i| score_i(&ItemFacts::from_item(i)))
        .collect();
    // {"product": "Kopiko Brown", "price": "8"}: no brand, no category, no confidence.
    assert_eq!(
        codes(&scores[1]),
        vec!["missing_brand", "missing_category", "low_brand_confidence"]
    );
    assert!(scores[1].score < scores[2].score);
}

#[test]
fn missing_brand_category_or_amount_lower_the_item_score() {
    let clean = score_i(&clean_item()).score;
    for (facts, code, field) in [
        (
            ItemFacts {
                brand: None,
                ..clean_item()
            },
            "missing_brand",
            "brand_name",
        ),
        (
            ItemFacts {
                brand: Some("Unknown"),
                ..clean_item()
            },
            "missing_brand",
            "brand_name",
        ),
        (
            ItemFacts {
                category: Some("  "),
                ..clean_item()
            },
            "missing_category",
            "product_category",
        ),
        (
            ItemFacts {
                amount: None,
                ..clean_item()
            },
            "missing_amount",
            "amount",
        ),
        (
            ItemFacts {
                product: None,
                ..clean_item()
            },
            "missing_product",
            "sku",
        ),
    ] {
        let q = score_i(&facts);
        assert!(q.score < clean, "{code}");
        assert_eq!(codes(&q), vec![code]);
        assert_eq!(q.issues[0].field, field);
    }
}

#[test]
fn an_unbranded_item_needs_no_brand() {
    let q = score_i(&ItemFacts {
        brand: None,
        unbranded: true,
        ..clean_item()
    });
    assert_eq!(q.score, 1.0, "{q:#?}");
}

#[test]
fn negative_or_zero_amounts_and_quantities_are_invalid() {
    let negative = score_i(&ItemFacts {
        amount: Some(-57.0),
        unit_price: Some(-28.5),
        ..clean_item()
    });
    assert_eq!(codes(&negative), vec!["negative_amount"]);
    assert!((negative.score - 0.85).abs() < 1e-9);

    let zero = score_i(&ItemFacts {
        amount: Some(0.0),
        unit_price: Some(0.0),
        ..clean_item()
    });
    assert_eq!(codes(&zero), vec!["zero_amount"]);

    let quantity = score_i(&ItemFacts {
        quantity: Some(0.0),
        ..clean_item()
    });
    assert_eq!(codes(&quantity), vec!["non_positive_quantity"]);
    assert!(quantity.score < 1.0 && quantity.dimensions.validity < 1.0);
}

#[test]
fn unit_price_times_quantity_far_from_the_amount_is_charged() {
    let close = score_i(&ItemFacts {
        amount: Some(57.9),
        ..clean_item()
    });
    assert!(close.issues.is_empty(), "₱0.90 off is within ₱1");
    let far = score_i(&ItemFacts {
        amount: Some(100.0),
        ..clean_item()
    });
    assert_eq!(codes(&far), vec!["price_mismatch"]);
    assert!(
        far.issues[0].message.contains("₱57.00"),
        "{:?}",
        far.issues[0]
    );
}

#[test]
fn low_brand_confidence_lowers_the_item_score() {
    let q = score_i(&ItemFacts {
        brand_confidence: Some(0.2),
        ..clean_item()
    });
    assert_eq!(codes(&q), vec!["low_brand_confidence"]);
    assert!((q.score - (1.0 - 0.25 * 0.75)).abs() < 1e-9);
    assert!((q.dimensions.confidence - 0.25).abs() < 1e-9);
}

// ── Properties: any input, a score in 0..1 that its issues explain ─────────────────────────────

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-200.0f64..2000.0).prop_map(|x| json!((x * 100.0).round() / 100.0)),
        (-5i64..20).prop_map(|x| json!(x)),
        (-50.0f64..500.0).prop_map(|x| json!(format!("{x:.2}"))),
        Just(json!("")),
        Just(Value::Null),
        Just(json!("abc")),
    ]
}

fn confidence_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-0.5f64..1.5).prop_map(|x| json!(x)),
        (0.0f64..1.0).prop_map(|x| json!({ "confidence": x })),
        Just(Value::Null),
        Just(json!("0.7")),
    ]
}

fn text_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[A-Za-z ]{0,12}".prop_map(Value::String),
        Just(Value::Null),
        (0i64..999).prop_map(|x| json!(x)),
    ]
}

fn item_value() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(text_value()),
        proptest::option::of(text_value()),
        proptest::option::of(number()),
        proptest::option::of(number()),
        proptest::option::of(number()),
        proptest::option::of(text_value()),
        proptest::option::of(confidence_value()),
    )
        .prop_map(|(brand, product, quantity, unit, total, category, conf)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("brandName", brand),
                ("productName", product),
                ("quantity", quantity),
                ("unitPrice", unit),
                ("totalPrice", total),
                ("category", category),
                ("confidence", conf),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

fn timestamp_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        Just(json!("garbage")),
        (1_300_000_000i64..2_100_000_000).prop_map(|s| json!(s)),
        (1_300_000_000i64..2_100_000_000)
            .prop_map(|s| { json!(Utc.timestamp_opt(s, 0).single().unwrap().to_rfc3339()) }),
    ]
}

fn transaction_value() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(prop_oneof![
            "[0-9a-f]{8}".prop_map(Value::String),
            Just(json!("")),
            (0i64..99999).prop_map(|x| json!(x)),
        ]),
        proptest::option::of("(scoutpi|SCOUTPI)-000[0-9]".prop_map(Value::String)),
        proptest::option::of(text_value()),
        proptest::option::of(timestamp_value()),
        proptest::collection::vec(item_value(), 0..6),
        proptest::collection::btree_map("[A-Z][a-z]{1,6}", confidence_value(), 0..4),
        any::<bool>(),
        proptest::option::of(number()),
        proptest::option::of(0i64..2_200_000_000),
    )
        .prop_map(
            |(id, device, store, ts, items, brands, top_level, total, captured)| {
                let mut m = serde_json::Map::new();
                for (k, v) in [
                    ("transactionId", id),
                    ("deviceId", device),
                    ("storeId", store),
                    ("timestamp", ts),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                m.insert("items".into(), Value::Array(items));
                let brands = json!(brands);
                if top_level {
                    m.insert("detectedBrands".into(), brands);
                } else {
                    m.insert("brandDetection".into(), json!({ "detectedBrands": brands }));
                }
                if let Some(total) = total {
                    m.insert("totals".into(), json!({ "totalAmount": total }));
                }
                if let Some(secs) = captured {
                    let at = Utc.timestamp_opt(secs, 0).single().unwrap();
                    m.insert(
                        "_agent".into(),
                        json!({"capturedAt": at.to_rfc3339(), "seq": 1, "version": "0.1.0"}),
                    );
                }
                Value::Object(m)
            },
        )
}

fn any_f64() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(prop_oneof![
        -1000.0f64..1000.0,
        Just(0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        any::<f64>(),
    ])
}

fn any_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        "[A-Za-z ]{0,8}",
        Just("unknown".to_owned()),
        Just(String::new()),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_transaction_scores_in_0_1_and_its_issues_explain_it(
        v in transaction_value(),
        now_secs in 1_400_000_000i64..2_100_000_000,
        device_known in any::<bool>(),
        matcher_score in any_f64(),
    ) {
        let Ok(t) = Transaction::parse(v) else { return Ok(()); };
        let ctx = Context {
            now: Utc.timestamp_opt(now_secs, 0).single().unwrap(),
            device_known,
            matcher_score,
        };
        let q = score_transaction(&t, &ctx);
        assert_explained(&q);
        prop_assert_eq!(&q, &score_transaction(&t, &ctx), "deterministic");
        prop_assert!(serde_json::to_string(&q).is_ok());
    }

    #[test]
    fn any_item_scores_in_0_1_and_its_issues_explain_it(
        amount in any_f64(),
        quantity in any_f64(),
        unit_price in any_f64(),
        brand in any_text(),
        unbranded in any::<bool>(),
        category in any_text(),
        product in any_text(),
        brand_confidence in any_f64(),
    ) {
        let facts = ItemFacts {
            amount,
            quantity,
            unit_price,
            brand: brand.as_deref(),
            unbranded,
            category: category.as_deref(),
            product: product.as_deref(),
            brand_confidence,
        };
        let q = score_item(&facts);
        assert_explained(&q);
        prop_assert!(serde_json::to_string(&q).is_ok());
    }
}
