//! The benchmarks' shared workload: real-shaped ScoutPi transactions from a small deterministic
//! generator, so every run sends the same data.

use chrono::Utc;
use serde_json::{Value, json};

/// A small deterministic generator, so every run sends the same data.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

pub const CATALOG: &[(&str, &str, &str, f64)] = &[
    (
        "Safeguard",
        "Safeguard Pure White 60g",
        "Personal Care",
        28.5,
    ),
    ("Coca-Cola", "Coke Mismo 290ml", "Beverages", 15.0),
    (
        "Lucky Me",
        "Lucky Me Pancit Canton Original 60g",
        "Instant Noodles",
        14.0,
    ),
    ("Kopiko", "Kopiko Brown Coffee 3in1 25g", "Coffee", 8.0),
    ("Tide", "Tide Powder Kalamansi 70g", "Laundry", 12.0),
    ("Piattos", "Piattos Cheese 40g", "Snacks", 18.0),
    ("Bear Brand", "Bear Brand Fortified 33g", "Dairy", 11.0),
    ("Colgate", "Colgate Fresh Gel 22ml", "Oral Care", 16.0),
    ("Marlboro", "Marlboro Red stick", "Tobacco", 9.0),
    ("Smart", "Smart Load 50", "Telco Load", 50.0),
];

pub const PHRASES: &[&str] = &[
    "Ate, pabili po ng isang {b}.",
    "Meron po kayong {b}? Dalawa na lang po.",
    "Kuya, {b} nga, yung malamig.",
    "Pa-load po ng {b}, salamat.",
    "Isa pang {b} tsaka yung sukli po.",
];

pub fn transaction(rng: &mut Rng, device: usize, n: usize) -> Value {
    let count = 3 + (rng.next() % 5) as usize;
    let mut items = Vec::new();
    let mut transcript = String::new();
    let mut detected = serde_json::Map::new();
    let mut mapping = serde_json::Map::new();
    let mut total = 0.0;
    for i in 0..count {
        let (brand, product, category, price) = *rng.pick(CATALOG);
        let quantity = 1 + rng.next() % 3;
        let line_total = price * quantity as f64;
        total += line_total;
        items.push(json!({
            "itemId": format!("item-{n}-{i}"), "brandName": brand, "productName": product,
            "sku": format!("SKU-{}", brand.to_uppercase().replace(' ', "-")),
            "quantity": quantity, "unitPrice": price, "totalPrice": line_total,
            "category": category, "subcategory": null,
            "confidence": 0.6 + (rng.next() % 40) as f64 / 100.0, "isUnbranded": false
        }));
        transcript.push_str(&rng.pick(PHRASES).replace("{b}", brand));
        transcript.push(' ');
        detected.insert(
            brand.to_owned(),
            json!(0.5 + (rng.next() % 50) as f64 / 100.0),
        );
        mapping.insert(category.to_owned(), json!([brand]));
    }
    json!({
        "transactionId": format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", n, device, n % 4096, device, rng.next() & 0xffff_ffff_ffff),
        "storeId": format!("{}", 100 + device),
        "deviceId": format!("SCOUTPI-{:04}", device),
        "timestamp": "",
        "items": items,
        "brandDetection": {
            "detectedBrands": detected,
            "explicitMentions": detected.keys().take(2).collect::<Vec<_>>(),
            "implicitSignals": ["malamig", "sukli"],
            "categoryBrandMapping": mapping,
            "detectionMethods": ["stt_keyword", "vision"]
        },
        "totals": {"totalAmount": total, "totalItems": count, "currency": "PHP"},
        "transactionContext": {
            "duration": 20 + rng.next() % 60, "paymentMethod": *rng.pick(&["cash", "gcash", "maya"]),
            "audioTranscript": transcript.trim_end(), "processingMethods": ["whisper-small", "yolo-n"],
            "timeOfDay": "morning", "dayType": "weekday"
        },
        "privacy": {"audioStored": false, "dataRetentionDays": 30, "consentTimestamp": "2025-09-13T00:41:13.919830.000Z"},
        "edgeVersion": "2.3.1",
        "_agent": {"capturedAt": Utc::now().to_rfc3339(), "seq": n, "version": "0.1.0"}
    })
}
