//! The words back offices put in column headers, per canonical field: English, Filipino and
//! Taglish, abbreviations, and how a header is normalised before it is compared (accents, case,
//! camelCase, numbering, units and currency marks, dotted paths).

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// A canonical sales field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    TransactionId,
    /// Date and time together, or the date when a separate time column exists.
    Timestamp,
    /// The date, when the time of day is in a column of its own.
    Date,
    Time,
    StoreId,
    DeviceId,
    Brand,
    Product,
    Sku,
    Category,
    Quantity,
    UnitPrice,
    TotalAmount,
    PaymentMethod,
    CustomerAge,
    Gender,
    /// The customer's id (a loyalty or member number): what counts distinct customers.
    CustomerId,
    /// Whether a row is a sale, a return or a voided line (`SALE`/`REFUND`, `OK`/`VOID`).
    LineStatus,
}

impl Target {
    /// Whether the field belongs to each item rather than to the whole transaction.
    pub fn is_item_level(self) -> bool {
        matches!(
            self,
            Self::Brand
                | Self::Product
                | Self::Sku
                | Self::Category
                | Self::Quantity
                | Self::UnitPrice
                | Self::TotalAmount
        )
    }

    /// Whether several columns may map to it: a file may have both a type (`SALE`/`REFUND`)
    /// and a status (`SETTLED`/`FAILED`), and each says something.
    pub fn repeats(self) -> bool {
        self == Self::LineStatus
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransactionId => "transaction_id",
            Self::Timestamp => "timestamp",
            Self::Date => "date",
            Self::Time => "time",
            Self::StoreId => "store_id",
            Self::DeviceId => "device_id",
            Self::Brand => "brand",
            Self::Product => "product",
            Self::Sku => "sku",
            Self::Category => "category",
            Self::Quantity => "quantity",
            Self::UnitPrice => "unit_price",
            Self::TotalAmount => "total_amount",
            Self::PaymentMethod => "payment_method",
            Self::CustomerAge => "customer_age",
            Self::Gender => "gender",
            Self::CustomerId => "customer_id",
            Self::LineStatus => "line_status",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.trim().to_owned())).ok()
    }

    pub(super) fn numeric(self) -> bool {
        matches!(
            self,
            Self::Quantity | Self::UnitPrice | Self::TotalAmount | Self::CustomerAge
        )
    }
}

/// Header phrases per target (normalised spelling) and how strongly each names it.
#[rustfmt::skip] // one row of phrases per line reads better than one phrase per line
pub(super) const VOCABULARY: &[(Target, &[(&str, f64)])] = &[
    (Target::TransactionId, &[
        ("transaction id", 0.97), ("transaction no", 0.95), ("transaction number", 0.95),
        ("txn id", 0.96), ("txn no", 0.95), ("txn", 0.88), ("trx id", 0.95), ("trxn id", 0.95),
        ("trans id", 0.93), ("trans no", 0.92), ("receipt no", 0.93), ("receipt number", 0.93),
        ("receipt id", 0.93), ("receipt", 0.82), ("or no", 0.9), ("or number", 0.9),
        ("invoice no", 0.9), ("invoice number", 0.9), ("invoice id", 0.9), ("invoice", 0.8),
        ("order id", 0.9), ("order no", 0.9), ("order number", 0.9), ("sale id", 0.92),
        ("sales id", 0.9), ("sale no", 0.9), ("ref no", 0.82), ("reference no", 0.82),
        ("reference number", 0.82), ("reference", 0.8),
        ("reference id", 0.84), ("ref id", 0.84), ("resibo", 0.9), ("resibo no", 0.93), ("blg ng resibo", 0.93),
        ("numero ng resibo", 0.93), ("transaction", 0.82), ("transaksyon", 0.88),
        ("transaksyon id", 0.95), ("basket id", 0.9), ("ticket no", 0.88), ("id", 0.62),
        ("doc no", 0.88), ("document no", 0.88), ("document number", 0.88), ("doc number", 0.88),
        ("sales invoice no", 0.92), ("si no", 0.88),
    ]),
    (Target::Timestamp, &[
        ("timestamp", 0.97), ("time stamp", 0.96), ("datetime", 0.95), ("date time", 0.95),
        ("date and time", 0.95), ("date", 0.9), ("transaction date", 0.94), ("txn date", 0.94),
        ("trans date", 0.93), ("sale date", 0.94), ("sales date", 0.94), ("order date", 0.9),
        ("invoice date", 0.9), ("purchase date", 0.92), ("business date", 0.9),
        ("posting date", 0.85), ("created at", 0.88), ("created", 0.75), ("petsa", 0.94),
        ("petsa at oras", 0.96), ("araw", 0.75), ("transaction datetime", 0.96),
        ("date of sale", 0.94), ("sold at", 0.88), ("receipt date", 0.92), ("day", 0.6),
    ]),
    (Target::Time, &[
        ("time", 0.92), ("oras", 0.93), ("transaction time", 0.92), ("txn time", 0.93),
        ("sale time", 0.93), ("time of sale", 0.93), ("hour", 0.65), ("oras ng benta", 0.93),
    ]),
    (Target::StoreId, &[
        ("store id", 0.97), ("store", 0.88), ("store code", 0.95), ("store no", 0.93),
        ("store number", 0.93), ("store name", 0.86), ("branch", 0.88), ("branch id", 0.93),
        ("branch code", 0.93), ("branch name", 0.85), ("outlet", 0.86), ("outlet id", 0.93),
        ("outlet code", 0.93), ("shop", 0.82), ("shop id", 0.9), ("tindahan", 0.92),
        ("tindahan id", 0.95), ("pangalan ng tindahan", 0.9), ("sangay", 0.86), ("site", 0.72),
        ("location", 0.65), ("store location", 0.75), ("sari sari store", 0.85),
    ]),
    (Target::DeviceId, &[
        ("device id", 0.97), ("device", 0.88), ("terminal", 0.88), ("terminal id", 0.94),
        ("terminal no", 0.92), ("pos id", 0.92), ("pos terminal", 0.9), ("pos", 0.72),
        ("register", 0.8), ("register no", 0.86), ("register id", 0.88), ("till", 0.8),
        ("till no", 0.85), ("machine id", 0.86), ("scoutpi", 0.9), ("scoutpi id", 0.95),
        ("kiosk", 0.7), ("device serial", 0.9),
    ]),
    (Target::Brand, &[
        ("brand", 0.96), ("brand name", 0.97), ("tatak", 0.93), ("marka", 0.86), ("brand nm", 0.92),
        ("manufacturer", 0.72), ("make", 0.6), ("product brand", 0.95), ("item brand", 0.95),
    ]),
    (Target::Product, &[
        ("product", 0.93), ("product name", 0.97), ("product description", 0.95), ("item", 0.86),
        ("item name", 0.95), ("item description", 0.94), ("item desc", 0.93), ("description", 0.86),
        ("desc", 0.8), ("sku desc", 0.94), ("sku description", 0.94), ("sku name", 0.93),
        ("produkto", 0.94), ("pangalan ng produkto", 0.96), ("pangalan ng item", 0.94),
        ("paninda", 0.9), ("bilihin", 0.86), ("binili", 0.82), ("article", 0.75), ("goods", 0.7),
        ("particulars", 0.82), ("name", 0.62), ("product nm", 0.92), ("prod name", 0.93),
        ("title", 0.8), ("item title", 0.92), ("product title", 0.95),
        ("prod desc", 0.92), ("variant", 0.6),
    ]),
    (Target::Sku, &[
        ("sku", 0.93), ("sku code", 0.95), ("sku id", 0.94), ("sku no", 0.93), ("item code", 0.92),
        ("product code", 0.92), ("product id", 0.86), ("item id", 0.82), ("barcode", 0.92),
        ("bar code", 0.92), ("upc", 0.9), ("ean", 0.86), ("plu", 0.86), ("code", 0.6),
        ("article no", 0.85), ("material code", 0.9), ("material no", 0.88),
        ("material number", 0.88), ("material", 0.72), ("stock code", 0.88),
    ]),
    (Target::Category, &[
        ("category", 0.96), ("product category", 0.97), ("item category", 0.96),
        ("kategorya", 0.95), ("kategorya ng produkto", 0.96), ("klase", 0.82), ("uri", 0.72),
        ("class", 0.72), ("department", 0.76), ("dept", 0.72), ("product type", 0.82),
        ("item type", 0.8), ("product group", 0.85), ("group", 0.6), ("segment", 0.62),
        ("type", 0.55), ("cat", 0.8),
    ]),
    (Target::Quantity, &[
        ("quantity", 0.97), ("qty", 0.96), ("qty sold", 0.96), ("quantity sold", 0.97),
        ("units sold", 0.94), ("dami", 0.94), ("bilang", 0.9), ("ilan", 0.86), ("pcs", 0.85),
        ("pieces", 0.86), ("piraso", 0.88), ("units", 0.86), ("count", 0.72), ("no of items", 0.86),
        ("number of items", 0.86), ("item count", 0.82), ("volume", 0.6),
        ("sold", 0.8), ("quantity ordered", 0.93), ("qnty", 0.94), ("quant", 0.9), ("dami ng binili", 0.95),
    ]),
    (Target::UnitPrice, &[
        ("unit price", 0.97), ("price", 0.9), ("presyo", 0.93), ("presyo kada isa", 0.96),
        ("presyo bawat isa", 0.96), ("halaga kada isa", 0.94), ("srp", 0.9),
        ("price per unit", 0.96), ("price each", 0.94), ("each", 0.7),
        ("selling price", 0.93), ("retail price", 0.93), ("item price", 0.93), ("rate", 0.62),
        ("unit amt", 0.9), ("unit amount", 0.9), ("u price", 0.9), ("uprice", 0.9),
        ("price per item", 0.95), ("presyo ng item", 0.94),
        // "U/P": its "P" is taken for pesos, as in "Amount (P)".
        ("u", 0.86),
    ]),
    (Target::TotalAmount, &[
        ("total amount", 0.97), ("amount", 0.91), ("amt", 0.89), ("total", 0.9),
        ("total amt", 0.95), ("halaga", 0.93), ("kabuuan", 0.94), ("kabuuang halaga", 0.97),
        ("kabuuang presyo", 0.95), ("kabuuang bayad", 0.92), ("halaga ng benta", 0.95),
        ("line total", 0.94), ("line amount", 0.94), ("subtotal", 0.84), ("sales", 0.86),
        ("sales amount", 0.95), ("sale amount", 0.95), ("net sales", 0.92), ("gross sales", 0.9),
        ("total sales", 0.94), ("revenue", 0.92), ("benta", 0.9), ("total price", 0.95),
        ("net amount", 0.88), ("gross amount", 0.92), ("ext price", 0.9), ("extended price", 0.92),
        ("amount due", 0.9), ("grand total", 0.9), ("value", 0.62), ("amount paid", 0.9),
        ("paid amount", 0.9), ("total value", 0.9), ("halagang binayaran", 0.92),
    ]),
    (Target::PaymentMethod, &[
        ("payment method", 0.97), ("payment", 0.9), ("payment type", 0.96), ("payment mode", 0.96),
        ("mode of payment", 0.97), ("mop", 0.86), ("paraan ng bayad", 0.97),
        ("paraan ng pagbayad", 0.97), ("paraan", 0.7), ("bayad", 0.76),
        ("bayad sa pamamagitan ng", 0.9), ("tender", 0.88), ("tender type", 0.94),
        ("paid via", 0.92), ("paid with", 0.92), ("paid by", 0.9), ("payment channel", 0.94),
        ("pay method", 0.95), ("pay type", 0.94), ("pay mode", 0.94), ("method", 0.62),
        ("payment option", 0.94),
    ]),
    (Target::CustomerAge, &[
        ("age", 0.95), ("edad", 0.95), ("customer age", 0.97), ("age group", 0.92),
        ("age bracket", 0.95), ("age range", 0.93), ("gulang", 0.9), ("buyer age", 0.95),
        ("edad ng customer", 0.96), ("edad ng mamimili", 0.96),
    ]),
    (Target::CustomerId, &[
        ("customer id", 0.95), ("customer no", 0.92), ("customer number", 0.92),
        ("customer code", 0.92), ("member id", 0.92), ("member no", 0.9), ("member number", 0.9),
        ("loyalty id", 0.92), ("loyalty no", 0.9), ("loyalty number", 0.9),
        ("loyalty card", 0.86), ("loyalty card no", 0.9), ("suki id", 0.92), ("suki no", 0.9),
        ("buyer id", 0.92), ("client id", 0.88), ("cust id", 0.92), ("cust no", 0.9),
        ("customer ref", 0.86), ("membership no", 0.9), ("membership id", 0.9),
    ]),
    // A header alone does not make a status column: its values must be sale, return and void
    // words (see `line_kind`).
    (Target::LineStatus, &[
        ("status", 0.72), ("type", 0.62), ("transaction type", 0.8), ("txn type", 0.8),
        ("trans type", 0.8), ("line status", 0.82), ("line type", 0.8), ("sale type", 0.8),
        ("item status", 0.8), ("transaction status", 0.8), ("txn status", 0.8), ("kind", 0.62),
        ("uri ng transaksyon", 0.8), ("estado", 0.72),
    ]),
    (Target::Gender, &[
        ("gender", 0.97), ("sex", 0.95), ("kasarian", 0.97), ("customer gender", 0.97),
        ("customer sex", 0.96), ("buyer gender", 0.96), ("kasarian ng mamimili", 0.97),
    ]),
];

/// Unit and currency words dropped from a header that has other words (`Amount PHP`).
const UNIT_WORDS: [&str; 12] = [
    "php", "peso", "pesos", "pcs", "pc", "kg", "ml", "in", "p", "x", "no.", "piso",
];

/// Last path segments too generic to stand alone (`store.id` means the store's id).
const GENERIC_LEAVES: [&str; 8] = [
    "id", "name", "code", "no", "number", "type", "method", "value",
];

/// A header reduced to lowercase ASCII words: accents stripped, camelCase split, numbering
/// (`1.`, `(a)`) and unit marks removed, a dotted path cut to its meaningful tail.
/// Whether a money column's header says its values are whole centavos (`total_centavos`,
/// `Amount (cents)`, `Halaga sa sentimo`).
pub(super) fn names_centavos(header: &str) -> bool {
    normalise(header)
        .split(' ')
        .any(|w| matches!(w, "centavos" | "centavo" | "cents" | "sentimo" | "sentimos"))
}

pub(super) fn normalise(header: &str) -> String {
    let stripped: String = header.nfd().filter(char::is_ascii).collect();
    let leaf = dotted_leaf(&stripped);
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in leaf.chars() {
        if c == '#' {
            // `Order #`, `Receipt #`: the sign reads as "number".
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            words.push("no".into());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            current.push(c.to_ascii_lowercase());
        } else {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    // Leading numbering: `1. Date`, `02 Amount`.
    while words.len() > 1 && words[0].bytes().all(|b| b.is_ascii_digit()) {
        words.remove(0);
    }
    if words.len() > 1 {
        let kept: Vec<String> = words
            .iter()
            .filter(|w| !UNIT_WORDS.contains(&w.as_str()))
            .cloned()
            .collect();
        if !kept.is_empty() {
            words = kept;
        }
    }
    words.join(" ")
}

/// `items.price` → `price`; `store.id` → `store id`; `items.name` → `item name`.
fn dotted_leaf(header: &str) -> String {
    let parts: Vec<&str> = header.split('.').filter(|p| !p.trim().is_empty()).collect();
    // `1. Date` and `No.` are numbering and abbreviation, not paths.
    let is_path = parts.len() > 1
        && parts.iter().all(|p| {
            let t = p.trim();
            !t.contains(' ') && t.chars().any(|c| c.is_ascii_alphabetic())
        });
    if !is_path {
        return header.to_owned();
    }
    let leaf = parts[parts.len() - 1];
    if GENERIC_LEAVES.contains(&leaf.to_ascii_lowercase().as_str()) {
        let parent = parts[parts.len() - 2];
        let singular = parent.strip_suffix('s').unwrap_or(parent);
        format!("{singular} {leaf}")
    } else {
        leaf.to_owned()
    }
}

/// Payment methods as people write them, lower case.
pub(super) const PAYMENT_VALUES: [&str; 24] = [
    "cash",
    "gcash",
    "g-cash",
    "maya",
    "paymaya",
    "card",
    "credit card",
    "debit card",
    "credit",
    "debit",
    "utang",
    "credit (utang)",
    "bank transfer",
    "bank",
    "qr",
    "qr ph",
    "qrph",
    "grabpay",
    "shopeepay",
    "coins.ph",
    "check",
    "cheque",
    "e-wallet",
    "ewallet",
];

/// What a row is, by its status or type column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Sale,
    /// A return or refund: its amount counts against sales.
    Return,
    /// A voided, cancelled or failed line: not a sale at all.
    Void,
}

/// A status or type value's meaning (`SALE`, `Refunded`, `VOID`, `Cancelled`), in any case.
pub(super) fn line_kind(value: &str) -> Option<LineKind> {
    let v = value.trim().to_lowercase();
    let v = v.trim_matches(|c: char| !c.is_alphanumeric());
    Some(match v {
        "sale" | "sales" | "sold" | "ok" | "okay" | "completed" | "complete" | "paid"
        | "success" | "successful" | "settled" | "posted" | "approved" | "valid" | "normal"
        | "done" | "purchase" | "payment" | "closed" | "finalized" | "benta" | "nabenta"
        | "bayad" => LineKind::Sale,
        "refund" | "refunded" | "return" | "returned" | "returns" | "chargeback"
        | "credit memo" | "ibinalik" | "sauli" | "isinauli" => LineKind::Return,
        "void" | "voided" | "cancelled" | "canceled" | "cancel" | "reversed" | "reversal"
        | "failed" | "declined" | "rejected" | "expired" | "kanselado" => LineKind::Void,
        _ => return None,
    })
}

/// Genders as people write them, lower case.
pub(super) const GENDER_VALUES: [&str; 12] = [
    "m", "f", "male", "female", "lalaki", "babae", "man", "woman", "other", "others", "l", "b",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_normalise_to_their_words() {
        assert_eq!(normalise("Amount (₱)"), "amount");
        assert_eq!(normalise("1. Date"), "date");
        assert_eq!(normalise("Txn ID"), "txn id");
        assert_eq!(normalise("transactionId"), "transaction id");
        assert_eq!(normalise("items.price"), "price");
        assert_eq!(normalise("store.id"), "store id");
        assert_eq!(normalise("items.name"), "item name");
        assert_eq!(normalise("Qty (pcs)"), "qty");
        assert_eq!(normalise("Paraan ng Bayad"), "paraan ng bayad");
        assert_eq!(normalise("Receipt No."), "receipt no");
        assert_eq!(normalise("Total Sales PHP"), "total sales");
        assert_eq!(normalise("Order #"), "order no");
        assert_eq!(normalise("#"), "no");
    }
}
