//! `scout-agent simulate`: realistic sari-sari store traffic for demos and tests, sent through
//! the same local intake the capture app uses (or printed as NDJSON).
//!
//! Baskets are drawn from a catalogue of what these stores sell (sachets, single sticks,
//! small packs, load), priced in pesos, with Taglish transcripts, and a chosen share of the
//! field quirks of the product contract, §1 (empty or epoch timestamps, `brand` for
//! `brandName`, numbers as strings, confidence objects, `{product, price}` items, lower-case
//! device ids, no id).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// One catalogue line: brand, product, category, price in pesos, what people call it.
struct Product {
    brand: &'static str,
    name: &'static str,
    category: &'static str,
    price: f64,
    spoken: &'static str,
}

const CATALOGUE: &[Product] = &[
    Product {
        brand: "Coca-Cola",
        name: "Coke Mismo 290ml",
        category: "Beverages",
        price: 15.0,
        spoken: "coke mismo",
    },
    Product {
        brand: "Royal",
        name: "Royal Tru-Orange 237ml",
        category: "Beverages",
        price: 14.0,
        spoken: "royal",
    },
    Product {
        brand: "C2",
        name: "C2 Green Tea Apple 230ml",
        category: "Beverages",
        price: 18.0,
        spoken: "C2",
    },
    Product {
        brand: "Kopiko",
        name: "Kopiko Brown Coffee 3in1 27.5g",
        category: "Coffee",
        price: 8.0,
        spoken: "kopiko brown",
    },
    Product {
        brand: "Nescafé",
        name: "Nescafé Classic Stick 2g",
        category: "Coffee",
        price: 3.0,
        spoken: "nescafe",
    },
    Product {
        brand: "Great Taste",
        name: "Great Taste White 30g",
        category: "Coffee",
        price: 9.0,
        spoken: "great taste white",
    },
    Product {
        brand: "Bear Brand",
        name: "Bear Brand Fortified 33g",
        category: "Dairy",
        price: 12.0,
        spoken: "bear brand",
    },
    Product {
        brand: "Alaska",
        name: "Alaska Evaporada 154ml",
        category: "Dairy",
        price: 24.0,
        spoken: "alaska",
    },
    Product {
        brand: "Lucky Me",
        name: "Lucky Me Pancit Canton Original 60g",
        category: "Instant Noodles",
        price: 16.0,
        spoken: "pancit canton",
    },
    Product {
        brand: "Lucky Me",
        name: "Lucky Me Beef Na Beef 55g",
        category: "Instant Noodles",
        price: 12.0,
        spoken: "laki mi beef",
    },
    Product {
        brand: "Nissin",
        name: "Nissin Cup Noodles Seafood 40g",
        category: "Instant Noodles",
        price: 25.0,
        spoken: "cup noodles",
    },
    Product {
        brand: "Piattos",
        name: "Piattos Cheese 40g",
        category: "Snacks",
        price: 20.0,
        spoken: "piattos",
    },
    Product {
        brand: "Nova",
        name: "Nova Country Cheddar 40g",
        category: "Snacks",
        price: 20.0,
        spoken: "nova",
    },
    Product {
        brand: "Boy Bawang",
        name: "Boy Bawang Cornick Garlic 100g",
        category: "Snacks",
        price: 22.0,
        spoken: "boy bawang",
    },
    Product {
        brand: "SkyFlakes",
        name: "SkyFlakes Crackers 25g",
        category: "Biscuits",
        price: 7.0,
        spoken: "skyflakes",
    },
    Product {
        brand: "Rebisco",
        name: "Rebisco Crackers Sandwich 32g",
        category: "Biscuits",
        price: 9.0,
        spoken: "rebisco",
    },
    Product {
        brand: "Maxx",
        name: "Maxx Menthol Candy",
        category: "Candies",
        price: 1.0,
        spoken: "maxx",
    },
    Product {
        brand: "Century Tuna",
        name: "Century Tuna Flakes in Oil 155g",
        category: "Canned Goods",
        price: 38.0,
        spoken: "century tuna",
    },
    Product {
        brand: "Argentina",
        name: "Argentina Corned Beef 100g",
        category: "Canned Goods",
        price: 35.0,
        spoken: "argentina",
    },
    Product {
        brand: "555",
        name: "555 Sardines Tomato Sauce 155g",
        category: "Canned Goods",
        price: 24.0,
        spoken: "sardinas",
    },
    Product {
        brand: "Silver Swan",
        name: "Silver Swan Soy Sauce 200ml",
        category: "Condiments",
        price: 16.0,
        spoken: "toyo",
    },
    Product {
        brand: "Datu Puti",
        name: "Datu Puti Vinegar 200ml",
        category: "Condiments",
        price: 14.0,
        spoken: "suka",
    },
    Product {
        brand: "Magic Sarap",
        name: "Magic Sarap 8g",
        category: "Cooking Essentials",
        price: 5.0,
        spoken: "magic sarap",
    },
    Product {
        brand: "Safeguard",
        name: "Safeguard Pure White 60g",
        category: "Personal Care",
        price: 28.0,
        spoken: "safeguard",
    },
    Product {
        brand: "Palmolive",
        name: "Palmolive Shampoo Sachet 12ml",
        category: "Hair Care",
        price: 7.0,
        spoken: "palmolive",
    },
    Product {
        brand: "Sunsilk",
        name: "Sunsilk Pink Sachet 13ml",
        category: "Hair Care",
        price: 7.0,
        spoken: "sunsilk",
    },
    Product {
        brand: "Colgate",
        name: "Colgate Fresh Gel 22ml",
        category: "Oral Care",
        price: 18.0,
        spoken: "colgate",
    },
    Product {
        brand: "Tide",
        name: "Tide Powder Kalamansi 66g",
        category: "Laundry",
        price: 12.0,
        spoken: "tide",
    },
    Product {
        brand: "Surf",
        name: "Surf Cherry Blossom 70g",
        category: "Laundry",
        price: 10.0,
        spoken: "surf",
    },
    Product {
        brand: "Downy",
        name: "Downy Antibac Sachet 24ml",
        category: "Laundry",
        price: 9.0,
        spoken: "downy",
    },
    Product {
        brand: "Joy",
        name: "Joy Dishwashing Liquid 20ml",
        category: "Household",
        price: 8.0,
        spoken: "joy",
    },
    Product {
        brand: "Marlboro",
        name: "Marlboro Red (stick)",
        category: "Tobacco",
        price: 9.0,
        spoken: "isang stick marlboro",
    },
    Product {
        brand: "Fortune",
        name: "Fortune Menthol (stick)",
        category: "Tobacco",
        price: 7.0,
        spoken: "fortune",
    },
    Product {
        brand: "Red Horse",
        name: "Red Horse Beer 500ml",
        category: "Alcohol",
        price: 65.0,
        spoken: "red horse",
    },
    Product {
        brand: "Ginebra San Miguel",
        name: "Ginebra San Miguel Gin 350ml",
        category: "Alcohol",
        price: 78.0,
        spoken: "gin",
    },
    Product {
        brand: "Smart",
        name: "Smart Regular Load 50",
        category: "Telco Load",
        price: 50.0,
        spoken: "smart load singkwenta",
    },
    Product {
        brand: "TNT",
        name: "TNT Load 20",
        category: "Telco Load",
        price: 20.0,
        spoken: "ka tropa load",
    },
    Product {
        brand: "Globe",
        name: "Globe Load 30",
        category: "Telco Load",
        price: 30.0,
        spoken: "globe load",
    },
    Product {
        brand: "Biogesic",
        name: "Biogesic Paracetamol 500mg (tablet)",
        category: "Medicine",
        price: 6.0,
        spoken: "biogesic",
    },
    Product {
        brand: "Neozep",
        name: "Neozep Forte (tablet)",
        category: "Medicine",
        price: 7.0,
        spoken: "neozep",
    },
];

const OPENERS: &[&str] = &[
    "Ate, pabili po",
    "Kuya, pabili",
    "Pabili nga po",
    "Meron po ba kayong",
    "Pa-order po",
];
const CLOSERS: &[&str] = &[
    "Salamat po.",
    "Magkano lahat?",
    "Yung sukli po.",
    "Pakilagay sa plastik.",
    "Sige po, salamat.",
];

/// A small deterministic generator (xorshift), so a seed replays the same traffic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Generates store traffic for one device.
#[derive(Debug, Clone)]
pub struct StoreTraffic {
    pub device_id: String,
    pub store_id: String,
    /// Share of transactions with field quirks, 0..=1.
    pub quirk_rate: f64,
    rng: Rng,
    count: u64,
}

impl StoreTraffic {
    pub fn new(device_id: &str, store_id: &str, quirk_rate: f64, seed: u64) -> Self {
        Self {
            device_id: device_id.to_owned(),
            store_id: store_id.to_owned(),
            quirk_rate: quirk_rate.clamp(0.0, 1.0),
            rng: Rng::new(seed),
            count: 0,
        }
    }

    fn uuid(&mut self) -> String {
        let a = self.rng.next_u64();
        let b = self.rng.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48 & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// The next transaction, as the capture app would write it at `now`.
    pub fn next_transaction(&mut self, now: DateTime<Utc>) -> Value {
        self.count += 1;
        let quirky = self.rng.unit() < self.quirk_rate;
        let lines = 1 + self.rng.below(4);
        let mut items = Vec::new();
        let mut detected = Map::new();
        let mut mentions = Vec::new();
        let mut spoken = Vec::new();
        let mut total = 0.0;
        for i in 0..lines {
            let p = self.rng.pick(CATALOGUE);
            let quantity = if p.price >= 30.0 {
                1
            } else {
                1 + self.rng.below(3)
            } as f64;
            let line_total = p.price * quantity;
            total += line_total;
            let confidence = ((0.55 + self.rng.unit() * 0.44) * 100.0).round() / 100.0;
            let item = if quirky && self.rng.unit() < 0.25 {
                json!({"product": p.name, "price": p.price.to_string()})
            } else if quirky && self.rng.unit() < 0.4 {
                json!({"brand": p.brand, "productName": p.name, "quantity": quantity.to_string(),
                       "unitPrice": format!("{:.2}", p.price), "totalPrice": "", "category": p.category,
                       "confidence": null})
            } else {
                json!({"itemId": format!("{}-{i}", self.count), "brandName": p.brand, "productName": p.name,
                       "sku": format!("{}-{}", p.brand.to_uppercase().replace(' ', ""), i),
                       "quantity": quantity, "unitPrice": p.price, "totalPrice": line_total,
                       "category": p.category, "confidence": confidence, "isUnbranded": false})
            };
            items.push(item);
            let value = if quirky && self.rng.unit() < 0.5 {
                json!({"confidence": confidence})
            } else {
                json!(confidence)
            };
            detected.insert(p.brand.to_owned(), value);
            if self.rng.unit() < 0.6 {
                mentions.push(p.spoken);
            }
            spoken.push(if quantity > 1.0 {
                format!(
                    "{} na {}",
                    ["", "isa", "dalawang", "tatlong"][quantity as usize],
                    p.spoken
                )
            } else {
                p.spoken.to_owned()
            });
        }
        let transcript = format!(
            "{} {}. {}",
            self.rng.pick(OPENERS),
            spoken.join(", tsaka "),
            self.rng.pick(CLOSERS)
        );
        let payment = match self.rng.below(20) {
            0..=15 => "cash",
            16..=18 => "gcash",
            _ => "maya",
        };
        let timestamp = match (quirky, self.rng.below(4)) {
            (false, _) => json!(now.to_rfc3339()),
            (true, 0) => json!(""),
            (true, 1) => json!(now.timestamp()),
            (true, 2) => json!(now.timestamp_millis()),
            (true, _) => json!(now.to_rfc3339()),
        };
        let device_id = if quirky && self.rng.unit() < 0.5 {
            self.device_id.to_lowercase()
        } else {
            self.device_id.clone()
        };
        let mut t = json!({
            "transactionId": self.uuid(),
            "storeId": self.store_id,
            "deviceId": device_id,
            "timestamp": timestamp,
            "items": items,
            "brandDetection": {
                "detectedBrands": detected,
                "explicitMentions": mentions,
                "implicitSignals": [],
                "categoryBrandMapping": {},
                "detectionMethods": ["stt_keyword", "vision"]
            },
            "totals": {"totalAmount": (total * 100.0_f64).round() / 100.0, "totalItems": lines, "currency": "PHP"},
            "transactionContext": {
                "duration": 10 + self.rng.below(80),
                "paymentMethod": payment,
                "audioTranscript": transcript,
            },
            "privacy": {"audioStored": false, "dataRetentionDays": 30,
                        "consentTimestamp": now.to_rfc3339()},
            "edgeVersion": "2.3.1"
        });
        if quirky
            && self.rng.unit() < 0.3
            && let Some(map) = t.as_object_mut()
        {
            map.remove("transactionId");
        }
        if quirky && self.rng.unit() < 0.2 {
            t["totals"]["totalAmount"] = json!(format!("{total:.2}"));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_common::Transaction;

    #[test]
    fn traffic_parses_and_quirks_show_up_as_repairs() {
        let mut store = StoreTraffic::new("SCOUTPI-0004", "104", 0.5, 7);
        let now = Utc::now();
        let mut repaired = 0;
        for _ in 0..200 {
            let t = Transaction::parse(store.next_transaction(now)).unwrap();
            assert!(!t.items.is_empty());
            assert!(
                t.items
                    .iter()
                    .all(|i| i.total_price.is_some_and(|p| p > 0.0))
            );
            assert_eq!(t.device_id.unwrap().as_str(), "SCOUTPI-0004");
            if !t.repairs.is_empty() {
                repaired += 1;
            }
        }
        assert!((50..=150).contains(&repaired), "{repaired} of 200 repaired");
    }

    #[test]
    fn the_same_seed_replays_the_same_traffic() {
        let now = Utc::now();
        let mut a = StoreTraffic::new("P1", "1", 0.3, 42);
        let mut b = StoreTraffic::new("P1", "1", 0.3, 42);
        for _ in 0..20 {
            assert_eq!(a.next_transaction(now), b.next_transaction(now));
        }
    }
}
