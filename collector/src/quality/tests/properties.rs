//! Properties: any input, transaction or item, gets a score in 0..1 that its issues explain.

use proptest::prelude::*;

use super::*;

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
