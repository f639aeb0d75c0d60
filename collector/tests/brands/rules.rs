//! The rules a reader of the dictionary relies on: ambiguous words need context, the device is
//! evidence and not truth, methods and scores are ordered, a whole transaction is read source by
//! source.

use scout_collector::brands::{BrandKind, Category, Method, Source};
use scout_common::Transaction;
use serde_json::json;

use crate::{brand_of, matcher};

#[test]
fn smart_is_the_telco_only_with_load_context() {
    assert_eq!(brand_of("smart"), None);
    assert_eq!(brand_of("ang smart mo naman"), None);
    let d = matcher().detect("pa load po smart 50").unwrap();
    assert_eq!(d.brand.name, "Smart");
    assert_eq!(d.method, Method::Context);
    assert_eq!(d.score, 0.85);
    assert_eq!(brand_of("Smart Prepaid Load 100").as_deref(), Some("Smart"));
    assert_eq!(brand_of("smart regular 30").as_deref(), Some("Smart"));
}

#[test]
fn red_alone_is_not_enough() {
    assert_eq!(brand_of("red"), None);
    assert_eq!(brand_of("yung red po"), None);
    assert_eq!(
        brand_of("red po isang grande").as_deref(),
        Some("Red Horse")
    );
    assert_eq!(brand_of("red horse").as_deref(), Some("Red Horse"));
    // The same colour means the cigarette in tobacco context.
    assert_eq!(brand_of("marlboro red").as_deref(), Some("Marlboro"));
}

#[test]
fn sabon_is_soap_in_general() {
    assert_eq!(brand_of("sabon"), None);
    assert_eq!(brand_of("pabili po ng sabon"), None);
    let d = matcher().detect("sabong panligo po yung puti").unwrap();
    assert_eq!(d.brand.name, "Safeguard");
    assert_eq!(d.method, Method::Context);
    assert!(
        d.score <= 0.6,
        "a generic word stays a weak guess: {}",
        d.score
    );
    assert_eq!(brand_of("safeguard").as_deref(), Some("Safeguard"));
}

#[test]
fn gin_needs_context_and_dito_needs_more_than_here() {
    assert_eq!(brand_of("gin"), None);
    assert_eq!(
        brand_of("gin po isang bilog").as_deref(),
        Some("Ginebra San Miguel")
    );
    assert_eq!(brand_of("ginebra").as_deref(), Some("Ginebra San Miguel"));
    assert_eq!(brand_of("load po dito"), None);
    assert_eq!(brand_of("dito sim load 99").as_deref(), Some("DITO"));
}

#[test]
fn one_word_two_brands_context_decides() {
    assert_eq!(
        brand_of("nissin po yung seafood na cup").as_deref(),
        Some("Nissin")
    );
    assert_eq!(
        brand_of("nissin po yung choco na wafer").as_deref(),
        Some("Nissin Wafer")
    );
    assert_eq!(brand_of("nissin po"), None);
    // Two strong-enough brands of one word: both weak, both with context, tie → unknown.
    assert_eq!(brand_of("san mig po"), None);
    assert_eq!(
        brand_of("san mig po na beer").as_deref(),
        Some("San Miguel Pale Pilsen")
    );
    assert_eq!(
        brand_of("san mig po na kape").as_deref(),
        Some("San Mig Coffee")
    );
}

#[test]
fn a_company_name_alone_is_the_company_never_a_sub_brand() {
    let m = matcher();
    for (text, company) in [
        ("Nestle 250ml", "Nestlé Philippines"),
        ("NESTLÉ", "Nestlé Philippines"),
        ("isang nestle po yung maliit", "Nestlé Philippines"),
        ("URC Snack 25g", "Universal Robina Corporation"),
        ("Jack n Jill 28g", "Universal Robina Corporation"),
        ("Monde 10s", "Monde Nissin"),
        ("Unilever Sachet", "Unilever Philippines"),
        ("P&G Promo Pack", "Procter & Gamble Philippines"),
        ("san miguel po isa", "San Miguel Corporation"),
        ("Century Pacific 155g", "Century Pacific Food"),
    ] {
        let d = m
            .detect(text)
            .unwrap_or_else(|| panic!("{text}: no detection"));
        assert_eq!(d.brand.name, company, "{text}");
        assert_eq!(d.brand.kind, BrandKind::Company, "{text}");
        assert_eq!(d.method, Method::Company, "{text}");
        assert!(d.score <= 0.5, "{text}: {}", d.score);
    }
    // The failure this rule exists for: a company's name is never a look-alike sub-brand.
    for text in [
        "Nestle",
        "Nestle 1L",
        "nestle po",
        "NESTLE ICED",
        "nesstle 250ml",
    ] {
        let d = m.detect(text).unwrap();
        assert_ne!(d.brand.name, "Nestea", "{text}");
        assert_eq!(d.brand.name, "Nestlé Philippines", "{text}");
    }
    // A company selling in one category keeps it; a diversified one has none.
    assert_eq!(m.detect("PMFTC").unwrap().brand.category, Category::Tobacco);
    assert_eq!(
        m.detect("nestle").unwrap().brand.category,
        Category::Unknown
    );
    assert!(m.companies().iter().all(|c| c.kind == BrandKind::Company));
    assert!(m.brands().iter().all(|b| b.kind == BrandKind::Brand));
}

#[test]
fn a_named_sub_brand_wins_over_its_company() {
    for (text, brand) in [
        ("Nestle Bear Brand Swak 33g", "Bear Brand"),
        ("NESTLE MILO 22G SACHET", "Milo"),
        ("Nestlé All Purpose Cream 250ml", "Nestlé All Purpose Cream"),
        ("Jack 'n Jill Piattos Cheese 85g", "Piattos"),
        ("URC C2 Apple 230ml", "C2"),
        ("Monde Nissin SkyFlakes 10s", "SkyFlakes"),
        ("Monde Special Mamon", "Monde Special Mamon"),
        ("Unilever Surf Powder 65g", "Surf"),
        ("P&G Tide Bar 130g", "Tide"),
        ("San Miguel Pale Pilsen 320ml", "San Miguel Pale Pilsen"),
        (
            "isang san miguel po yung malamig na bote",
            "San Miguel Pale Pilsen",
        ),
    ] {
        assert_eq!(brand_of(text).as_deref(), Some(brand), "{text}");
    }
    // Every brand mentioned, and the company only when none of its brands is.
    let all = |t: &str| -> Vec<String> {
        matcher()
            .detect_all(t)
            .into_iter()
            .map(|d| d.brand.name.clone())
            .collect()
    };
    assert_eq!(all("nestle bear brand po"), ["Bear Brand"]);
    assert_eq!(all("jack n jill chippy tsaka nova"), ["Chippy", "Nova"]);
    assert_eq!(
        all("nestle po tsaka isang coke"),
        ["Nestlé Philippines", "Coca-Cola"]
    );
}

#[test]
fn clear_unambiguous_words_need_nothing() {
    for (text, brand) in [
        ("coke", "Coca-Cola"),
        ("koka", "Coca-Cola"),
        ("tayd", "Tide"),
        ("laki mi", "Lucky Me!"),
        ("ka tropa load", "TNT"),
        ("555", "555"),
        ("cloud 9", "Cloud 9"),
        ("colt 45", "Colt 45"),
    ] {
        assert_eq!(brand_of(text).as_deref(), Some(brand), "{text}");
    }
}

#[test]
fn methods_and_scores_are_ordered() {
    let m = matcher();
    let exact = m.detect("Coca-Cola").unwrap();
    assert_eq!((exact.method, exact.score), (Method::Exact, 1.0));
    let inside = m.detect("Coca-Cola 1.5L Original").unwrap();
    assert_eq!((inside.method, inside.score), (Method::Exact, 0.97));
    let alias = m.detect("coke").unwrap();
    assert_eq!((alias.method, alias.score), (Method::Alias, 0.95));
    let generic = m.detect("pancit canton").unwrap();
    assert_eq!((generic.method, generic.score), (Method::Alias, 0.8));
    let fuzzy = m.detect("safegard").unwrap();
    assert_eq!(fuzzy.method, Method::Fuzzy);
    assert!(fuzzy.score < 0.9 && fuzzy.score > 0.8, "{}", fuzzy.score);
    assert_eq!(fuzzy.key, "safeguard");
}

#[test]
fn generic_word_after_a_brand_belongs_to_it() {
    let all: Vec<_> = matcher()
        .detect_all("payless pancit canton")
        .into_iter()
        .map(|d| d.brand.name.clone())
        .collect();
    assert_eq!(all, ["Payless"]);
}

#[test]
fn accents_pack_sizes_and_case_do_not_matter() {
    let m = matcher();
    let a = m.detect("NESCAFÉ CLASSIC 50G").unwrap();
    let b = m.detect("nescafe classic").unwrap();
    assert_eq!(a.brand, b.brand);
    assert_eq!(a.matched, b.matched);
    assert_eq!(
        brand_of("TRESemmé Keratin 10ml").as_deref(),
        Some("TRESemmé")
    );
    assert_eq!(
        brand_of("Piattos Cheese 85g x 3").as_deref(),
        Some("Piattos")
    );
}

#[test]
fn item_fields_are_context_for_each_other() {
    let m = matcher();
    let d = m
        .detect_item(Some("Smart"), Some("Regular Load 50"))
        .unwrap();
    assert_eq!(d.brand.name, "Smart");
    assert_eq!(d.source, Source::ItemBrand);
    // A brand field that says exactly an ambiguous brand name is that brand.
    let d = m.detect_item(Some("Joy"), None).unwrap();
    assert_eq!((d.brand.name.as_str(), d.method), ("Joy", Method::Exact));
    // No brand field: the product name.
    let d = m
        .detect_item(None, Some("Lucky Me Pancit Canton 60g"))
        .unwrap();
    assert_eq!(d.source, Source::ProductName);
    // A brand the dictionary does not know, and a product name with none: unknown.
    assert!(
        m.detect_item(Some("Aling Nena's"), Some("Kakanin"))
            .is_none()
    );
    assert!(m.detect_item(Some(""), None).is_none());
}

fn transaction(v: serde_json::Value) -> Transaction {
    Transaction::parse(v).unwrap()
}

#[test]
fn a_transaction_is_read_source_by_source() {
    let tx = transaction(json!({
        "transactionId": "6f1c2a9e-3b1d-4c55-9a27-0d4f8e2b7a10",
        "storeId": "104",
        "deviceId": "SCOUTPI-0004",
        "timestamp": "",
        "items": [
            {"brandName": "Safeguard", "productName": "Safeguard Pure White 60g", "quantity": 1,
             "unitPrice": 28.5, "totalPrice": 28.5, "category": "Personal Care", "confidence": 0.9},
            {"productName": "Kopiko Brown 3in1", "quantity": 2, "unitPrice": 8, "totalPrice": 16},
            {"brandName": "Local", "productName": "Pandesal", "quantity": 10, "unitPrice": 2,
             "totalPrice": 20}
        ],
        "brandDetection": {
            "detectedBrands": {"Safeguard": 0.68, "Smart": 0.4, "Marlboro": 0.3},
            "explicitMentions": ["Safeguard", "coke"]
        },
        "transactionContext": {
            "audioTranscript": "isang gard po tsaka kopiko, tapos smart na lang",
            "paymentMethod": "cash"
        }
    }));
    let b = matcher().detect_transaction(&tx);

    assert_eq!(b.items.len(), 3);
    let first = b.items[0].as_ref().unwrap();
    assert_eq!(first.brand.name, "Safeguard");
    assert_eq!(first.source, Source::ItemBrand);
    assert!(first.device_agrees);
    assert_eq!(first.score, 1.0);
    let second = b.items[1].as_ref().unwrap();
    assert_eq!(
        (second.brand.name.as_str(), second.source),
        ("Kopiko", Source::ProductName)
    );
    assert!(!second.device_agrees);
    assert!(b.items[2].is_none());

    let mentions: Vec<_> = b.mentions.iter().map(|d| d.brand.name.as_str()).collect();
    assert_eq!(mentions, ["Safeguard", "Coca-Cola"]);

    // "gard" and "smart" are ambiguous alone; the device's own word confirms them, at a lower
    // score than a context word would.
    let transcript: Vec<_> = b
        .transcript
        .iter()
        .map(|d| (d.brand.name.as_str(), d.method, d.score))
        .collect();
    assert_eq!(
        transcript,
        [
            ("Safeguard", Method::Context, 0.75),
            ("Kopiko", Method::Exact, 0.97),
            ("Smart", Method::Context, 0.75),
        ]
    );

    // The device said Marlboro; nothing else did: recorded, not detected.
    assert_eq!(b.device_only, ["Marlboro"]);
    let brands: Vec<_> = b.brands().iter().map(|d| d.brand.name.as_str()).collect();
    assert_eq!(brands, ["Safeguard", "Kopiko", "Coca-Cola", "Smart"]);
    assert_eq!(b.brands()[0].brand.category, Category::PersonalCare);
}

#[test]
fn device_evidence_alone_detects_nothing() {
    let tx = transaction(json!({
        "transactionId": "1b7f0f3e-9b59-4a43-8d0f-3f2d6f0f7a11",
        "items": [],
        "brandDetection": {"detectedBrands": {"Coca-Cola": 0.99}},
        "transactionContext": {"audioTranscript": "salamat po"}
    }));
    let b = matcher().detect_transaction(&tx);
    assert!(b.brands().is_empty());
    assert_eq!(b.device_only, ["Coca-Cola"]);
}

#[test]
fn the_matcher_is_shared_across_threads() {
    let m = std::sync::Arc::new(scout_collector::brands::BrandMatcher::shipped().unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || m.detect("koka").map(|d| d.brand.name.clone()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().as_deref(), Some("Coca-Cola"));
    }
}

#[test]
fn shipped_dictionary_meets_the_brief() {
    let m = matcher();
    let s = m.stats();
    assert!(s.brands >= 450, "{s:?}");
    assert!(s.companies >= 10, "{s:?}");
    assert_eq!(s.categories, Category::ALL.len(), "{s:?}");
    for b in m.brands() {
        assert!(!b.company.trim().is_empty(), "{} has no company", b.name);
    }
}

proptest::proptest! {
    /// Any text at all: no panic, scores within 0..1, and the same answer twice.
    #[test]
    fn any_text_is_safe_and_deterministic(text in "\\PC{0,60}", extra in "[a-zA-Zñé0-9 .,'&-]{0,40}") {
        let m = matcher();
        let joined = format!("{text} {extra}");
        for t in [text.as_str(), extra.as_str(), joined.as_str()] {
            let one = m.detect(t);
            proptest::prop_assert_eq!(&one, &m.detect(t));
            for d in one.iter().chain(m.detect_all(t).iter()) {
                proptest::prop_assert!(d.score > 0.0 && d.score <= 1.0, "{:?}", d);
            }
            let _ = m.detect_item(Some(t), Some(&extra));
        }
    }
}

/// Reusing item detections across a batch gives exactly the answers detecting each transaction
/// afresh gives: the same items under different device evidence, brand fields and categories
/// are told apart, and a field's text cannot pose as two fields.
#[test]
fn a_batch_memo_answers_as_fresh_detection_does() {
    let m = matcher();
    let items = [
        json!({"productName": "Smart Regular Load 50"}),
        json!({"productName": "smart"}),
        json!({"brandName": "Smart", "productName": "Load 50"}),
        json!({"productName": "Load 50", "category": "Telecom"}),
        json!({"productName": "SFGRD PURE WHT 60G"}),
        json!({"productName": "Safeguard Pure White 60g", "category": "Personal Care"}),
        json!({"brandName": "1:x", "productName": "y"}),
        json!({"brandName": "1", "productName": ":xy"}),
        json!({"productName": "kopiko brwn 3in1"}),
        json!({"productName": "Pandesal"}),
        json!({"productName": "gard"}),
    ];
    let devices = [
        json!({}),
        json!({"Smart": 0.4}),
        json!({"Safeguard": 0.7, "Smart": 0.2}),
    ];
    let mut memo = scout_collector::brands::ItemMemo::new();
    let mut seen = 0;
    for round in 0..3 {
        for (d, device) in devices.iter().enumerate() {
            let tx = transaction(json!({
                "transactionId": format!("memo-{round}-{d}"),
                "storeId": "104",
                "deviceId": "SCOUTPI-0004",
                "timestamp": "",
                "items": items.iter().map(|i| {
                    let mut i = i.clone();
                    i["quantity"] = json!(1);
                    i["unitPrice"] = json!(10);
                    i
                }).collect::<Vec<_>>(),
                "brandDetection": {"detectedBrands": device},
            }));
            let fresh = m.detect_transaction(&tx);
            let reused = m.detect_transaction_with(&tx, &mut memo);
            assert_eq!(fresh, reused, "round {round}, device evidence {device}");
            seen += fresh.items.iter().flatten().count();
        }
    }
    assert!(seen > 0, "the items name brands");
    // The device's word changes the answer for an ambiguous item, so the memo must not mix them.
    let mut smart = |device: serde_json::Value| {
        let tx = transaction(json!({
            "transactionId": "memo-smart", "storeId": "104", "deviceId": "SCOUTPI-0004",
            "timestamp": "", "items": [{"productName": "smart", "quantity": 1, "unitPrice": 10}],
            "brandDetection": {"detectedBrands": device},
        }));
        m.detect_transaction_with(&tx, &mut memo).items[0]
            .as_ref()
            .map(|d| d.brand.name.clone())
    };
    assert_eq!(smart(json!({})), None);
    assert_eq!(smart(json!({"Smart": 0.4})).as_deref(), Some("Smart"));
    assert_eq!(smart(json!({})), None);
}
