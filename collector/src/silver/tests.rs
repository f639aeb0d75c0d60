//! Silver's unit tests: dayparts and days in Manila time, basket bands and centavos, the group
//! and basket flags, the quarantine rules (ranges, lengths, years), and what an unparseable or
//! refused row becomes.

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn dayparts_follow_manila_hours() {
    // 05:59 and 06:00 Manila are 21:59 and 22:00 UTC the day before.
    assert_eq!(daypart(at("2026-11-26T21:59:00Z")), "night");
    assert_eq!(daypart(at("2026-11-26T22:00:00Z")), "morning");
    assert_eq!(daypart(at("2026-11-27T03:59:00Z")), "morning");
    assert_eq!(daypart(at("2026-11-27T04:00:00Z")), "afternoon");
    assert_eq!(daypart(at("2026-11-27T10:00:00Z")), "evening");
    assert_eq!(daypart(at("2026-11-27T13:59:00Z")), "evening");
    assert_eq!(daypart(at("2026-11-27T14:00:00Z")), "night");
}

#[test]
fn the_business_day_and_weekend_are_manilas() {
    // Friday 23:30 UTC is Saturday 07:30 in Manila.
    let t = at("2026-11-27T23:30:00Z");
    assert_eq!(business_day(t).to_string(), "2026-11-28");
    assert_eq!(day_type(t), "weekend");
    assert_eq!(day_type(at("2026-11-27T03:00:00Z")), "weekday");
}

#[test]
fn basket_bands() {
    let bands: Vec<_> = [1.0, 2.0, 3.0, 4.0, 6.0, 6.5, 7.0, 40.0]
        .into_iter()
        .map(basket_band)
        .collect();
    assert_eq!(bands, ["1", "2-3", "2-3", "4-6", "4-6", "7+", "7+", "7+"]);
}

#[test]
fn centavos_round_half_away_from_zero() {
    assert_eq!(centavos(14.005), 1401);
    assert_eq!(centavos(0.1 + 0.2), 30);
    assert_eq!(centavos(-12.0), -1200);
}

fn record(payload: &str) -> BronzeRecord {
    BronzeRecord {
        bronze_id: 7,
        transaction_id: "t-1".into(),
        store_id: Some("104".into()),
        device_id: "SCOUTPI-0004".into(),
        transaction_timestamp: at("2026-11-27T01:00:00Z"),
        payload: payload.into(),
        captured_at: None,
        device_seq: None,
        agent_version: None,
        endpoint: None,
    }
}

#[test]
fn groups_and_baskets_are_flagged_once() {
    let matcher = BrandMatcher::shipped().unwrap();
    let payload = json!({
        "transactionId": "t-1", "storeId": "104",
        "items": [
            {"brandName": "Coca-Cola", "productName": "Coke Mismo", "quantity": 2, "unitPrice": 15, "totalPrice": 30},
            {"brandName": "Lucky Me", "productName": "Pancit Canton", "quantity": 1, "unitPrice": 14, "totalPrice": 14},
            {"brandName": "Coca-Cola", "productName": "Coke 1.5L", "quantity": 1, "unitPrice": 65, "totalPrice": 65},
        ],
    });
    let out = build(&record(&payload.to_string()), &matcher, Utc::now());
    let flags: Vec<_> = out
        .rows
        .iter()
        .map(|r| (r.brand_name.as_deref(), r.first_in_group, r.first_in_basket))
        .collect();
    assert_eq!(
        flags,
        [
            (Some("Coca-Cola"), true, true),
            (Some("Lucky Me!"), true, false),
            (Some("Coca-Cola"), false, false)
        ]
    );
    assert!(
        out.rows
            .iter()
            .all(|r| r.basket_units == 4.0 && r.basket_band == "4-6")
    );
    assert_eq!(out.rows[0].id, "SCOUTPI-0004:t-1:0");
}

#[test]
fn rows_say_which_way_their_transaction_came_in() {
    let matcher = BrandMatcher::shipped().unwrap();
    let payload = json!({
        "transactionId": "t-1",
        "items": [{"productName": "Coke Mismo", "quantity": 1, "totalPrice": 15}],
    })
    .to_string();
    let mut from_file = record(&payload);
    from_file.endpoint = Some(FILE_ENDPOINT.into());
    let mut from_device = record(&payload);
    from_device.endpoint = Some("/v1/ingest".into());
    let source = |r: &BronzeRecord| build(r, &matcher, Utc::now()).rows[0].data_source;
    assert_eq!(source(&from_file), DATA_SOURCE_DRIVE);
    assert_eq!(source(&from_device), DATA_SOURCE_EDGE);
    assert_eq!(source(&record(&payload)), DATA_SOURCE_EDGE);
}

#[test]
fn an_unparseable_payload_is_quarantined_whole() {
    let matcher = BrandMatcher::shipped().unwrap();
    let out = build(&record("[1, 2]"), &matcher, Utc::now());
    assert!(out.rows.is_empty());
    assert_eq!(out.rejects.len(), 1);
    assert!(out.rejects[0].reasons.contains("unparseable_payload"));
    assert_eq!(out.quality_score, 0.0);
    let meta: Value = serde_json::from_str(&out.bronze_metadata).unwrap();
    assert_eq!(meta["quality"]["issues"][0]["code"], "unparseable_payload");
}

fn reasons_of(reject: &Reject) -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(&reject.reasons).unwrap()
}

fn codes_of(reject: &Reject) -> Vec<String> {
    reasons_of(reject)
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

fn one_item_sale(item: Value) -> Value {
    json!({
        "transactionId": "t-1", "storeId": "104",
        "items": [
            item,
            {"brandName": "Coca-Cola", "productName": "Coke Mismo", "quantity": 1, "unitPrice": 15, "totalPrice": 15},
        ],
    })
}

#[test]
fn out_of_range_numbers_quarantine_the_item_and_its_neighbours_sell() {
    let matcher = BrandMatcher::shipped().unwrap();
    let cases = [
        (
            json!({"productName": "Coke", "quantity": 1, "totalPrice": 1e17}),
            "amount_out_of_range",
        ),
        (
            json!({"productName": "Coke", "quantity": 1e300, "unitPrice": 15, "totalPrice": 15}),
            "quantity_out_of_range",
        ),
        (
            json!({"productName": "Coke", "quantity": 1e-9, "totalPrice": 15}),
            "quantity_out_of_range",
        ),
        (
            json!({"productName": "Coke", "quantity": 1, "unitPrice": 1e15, "totalPrice": 15}),
            "unit_price_out_of_range",
        ),
        (
            json!({"productName": "Coke", "quantity": 1, "unitPrice": -1e15, "totalPrice": 15}),
            "unit_price_out_of_range",
        ),
    ];
    for (item, code) in cases {
        let out = build(
            &record(&one_item_sale(item.clone()).to_string()),
            &matcher,
            Utc::now(),
        );
        assert_eq!(out.rejects.len(), 1, "{item}");
        assert_eq!(out.rejects[0].item_index, Some(0));
        assert_eq!(codes_of(&out.rejects[0]), [code], "{item}");
        assert!((0.0..=1.0).contains(&out.rejects[0].quality_score));
        assert_eq!(out.rows.len(), 1, "the Coke beside it sells");
        assert_eq!(out.rows[0].amount_centavos, 1500);
        assert_eq!(out.rows[0].basket_units, 1.0, "{item}");
    }
}

#[test]
fn an_amount_that_overflows_is_out_of_range_not_missing() {
    // unit price × quantity = inf: every bound it breaks is named.
    let matcher = BrandMatcher::shipped().unwrap();
    let item = json!({"productName": "Coke", "quantity": 1e300, "unitPrice": 1e300});
    let out = build(
        &record(&one_item_sale(item).to_string()),
        &matcher,
        Utc::now(),
    );
    assert_eq!(
        codes_of(&out.rejects[0]),
        [
            "amount_out_of_range",
            "quantity_out_of_range",
            "unit_price_out_of_range"
        ]
    );
    let message = reasons_of(&out.rejects[0])[1]["message"].clone();
    assert_eq!(message, "the quantity 1e300 is outside 0.001 to 10000");
}

#[test]
fn the_bounds_themselves_are_sales() {
    let matcher = BrandMatcher::shipped().unwrap();
    for item in [
        json!({"productName": "Load", "quantity": 1, "unitPrice": MAX_UNIT_PRICE, "totalPrice": MAX_ITEM_AMOUNT}),
        json!({"productName": "Candy", "quantity": MAX_QUANTITY, "unitPrice": 1, "totalPrice": 10000}),
        json!({"productName": "Rice", "quantity": MIN_QUANTITY, "unitPrice": 50, "totalPrice": 0.05}),
        json!({"productName": "Promo", "quantity": 1, "unitPrice": -5, "totalPrice": 0}),
    ] {
        let out = build(
            &record(&one_item_sale(item.clone()).to_string()),
            &matcher,
            Utc::now(),
        );
        assert!(out.rejects.is_empty(), "{item}: {:?}", out.rejects);
        assert_eq!(out.rows.len(), 2);
    }
    let out = build(
        &record(
            &one_item_sale(
                json!({"productName": "Load", "quantity": 1, "totalPrice": MAX_ITEM_AMOUNT}),
            )
            .to_string(),
        ),
        &matcher,
        Utc::now(),
    );
    assert_eq!(out.rows[0].amount_centavos, 100_000_000);
}

#[test]
fn long_item_texts_quarantine_the_item() {
    let matcher = BrandMatcher::shipped().unwrap();
    let long = "x".repeat(3000);
    for (key, field, limit) in [
        ("sku", "items[0].sku", MAX_SKU_CHARS),
        (
            "productName",
            "items[0].productName",
            MAX_PRODUCT_NAME_CHARS,
        ),
        ("brandName", "items[0].brandName", MAX_BRAND_CHARS),
    ] {
        let mut item = json!({"productName": "Coke", "quantity": 1, "totalPrice": 15});
        item[key] = json!(long);
        let out = build(
            &record(&one_item_sale(item).to_string()),
            &matcher,
            Utc::now(),
        );
        assert_eq!(out.rows.len(), 1, "{key}");
        let reasons = reasons_of(&out.rejects[0]);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert_eq!(reasons[0]["code"], "field_too_long");
        assert_eq!(reasons[0]["field"], field);
        assert_eq!(
            reasons[0]["message"],
            format!("{field} is 3000 characters long; the limit is {limit}")
        );
    }
}

#[test]
fn long_transaction_fields_quarantine_the_whole_transaction() {
    let matcher = BrandMatcher::shipped().unwrap();
    let long = "y".repeat(3000);
    let cases = [
        (
            json!({"transactionContext": {"paymentMethod": long}}),
            "transactionContext.paymentMethod",
        ),
        (json!({"customerId": long}), "customerId"),
        (json!({"customer": {"id": long}}), "customerId"),
        (json!({"demographics": {"ageBracket": long}}), "ageBracket"),
        (json!({"gender": long}), "gender"),
        (
            json!({"location": {"barangay": long.repeat(2), "lat": 14.6}}),
            "location",
        ),
        (json!({"storeId": long}), "storeId"),
    ];
    for (extra, field) in cases {
        let mut payload =
            one_item_sale(json!({"productName": "Kopiko", "quantity": 2, "totalPrice": 16}));
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        let mut rec = record(&payload.to_string());
        if field == "storeId" {
            rec.store_id = None; // the payload's store id stands
        }
        let out = build(&rec, &matcher, Utc::now());
        assert!(out.rows.is_empty(), "{field}");
        assert_eq!(out.rejects.len(), 1, "{field}");
        assert_eq!(out.rejects[0].item_index, None);
        assert_eq!(out.rejects[0].record, None);
        let reasons = reasons_of(&out.rejects[0]);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert_eq!(reasons[0]["code"], "field_too_long");
        assert_eq!(reasons[0]["field"], field);
        assert!(
            reasons[0]["message"].as_str().unwrap().starts_with(field),
            "{reasons:?}"
        );
    }
    // The transaction id is bronze's.
    let mut rec =
        record(&one_item_sale(json!({"productName": "Kopiko", "totalPrice": 8})).to_string());
    rec.transaction_id = "t".repeat(MAX_TRANSACTION_ID_CHARS + 1);
    let out = build(&rec, &matcher, Utc::now());
    assert_eq!(codes_of(&out.rejects[0]), ["field_too_long"]);
    assert!(out.rows.is_empty());
}

#[test]
fn lengths_are_counted_in_characters() {
    let matcher = BrandMatcher::shipped().unwrap();
    let at_limit = "ñ".repeat(MAX_PAYMENT_METHOD_CHARS); // 128 bytes, 64 characters
    let mut payload = one_item_sale(json!({"productName": "Kopiko", "totalPrice": 8}));
    payload["transactionContext"] = json!({"paymentMethod": at_limit});
    let out = build(&record(&payload.to_string()), &matcher, Utc::now());
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    payload["transactionContext"] = json!({"paymentMethod": format!("{at_limit}ñ")});
    let out = build(&record(&payload.to_string()), &matcher, Utc::now());
    assert_eq!(
        reasons_of(&out.rejects[0])[0]["message"],
        "transactionContext.paymentMethod is 65 characters long; the limit is 64"
    );
}

#[test]
fn timestamps_outside_the_years_quarantine_the_transaction() {
    let matcher = BrandMatcher::shipped().unwrap();
    let payload = one_item_sale(json!({"productName": "Kopiko", "totalPrice": 8})).to_string();
    for (ts, kept) in [
        ("1970-01-01T00:00:00Z", true), // a clock never set: kept
        ("2100-12-31T15:59:59Z", true),
        ("2100-12-31T16:00:00Z", false), // 2101 in Manila
        ("1969-12-31T15:59:59Z", false), // 23:59 in Manila, still 1969
        ("9999-12-31T23:59:59Z", false),
        ("0001-01-01T00:00:00Z", false),
        ("max", false),
    ] {
        let mut rec = record(&payload);
        rec.transaction_timestamp = if ts == "max" {
            DateTime::<Utc>::MAX_UTC
        } else {
            at(ts)
        };
        let out = build(&rec, &matcher, Utc::now());
        if kept {
            assert_eq!(out.rows.len(), 2, "{ts}");
        } else {
            assert!(out.rows.is_empty(), "{ts}");
            assert_eq!(
                codes_of(&out.rejects[0]),
                ["timestamp_out_of_range"],
                "{ts}"
            );
            assert_eq!(out.rejects[0].item_index, None);
        }
    }
}

#[test]
fn a_storage_failure_is_quarantined_whole() {
    let rec = record("{}");
    let out = storage_failed(&rec, &"boom ".repeat(1000), Utc::now());
    assert!(out.rows.is_empty());
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(out.rejects[0].item_index, None);
    assert_eq!(codes_of(&out.rejects[0]), ["storage_failed"]);
    let message = reasons_of(&out.rejects[0])[0]["message"].clone();
    let message = message.as_str().unwrap();
    assert!(message.starts_with("the database refused this transaction's silver rows: boom"));
    assert!(message.chars().count() < MAX_FAILURE_MESSAGE_CHARS + 100);
    assert_eq!(out.quality_score, 0.0);
    let meta: Value = serde_json::from_str(&out.bronze_metadata).unwrap();
    assert_eq!(meta["quality"]["issues"][0]["code"], "storage_failed");
}
