//! Scoring silver item rows: clean and quirky items, then each check alone.

use super::*;

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
