//! The silver item row's score: one purchased item with its amount, brand and category as
//! resolved, and how sure the brand detection was.

use scout_common::Item;

use super::{Charges, Check, Dimension, QualityScore, amounts_agree, credit, finite, peso};

use Dimension::{Completeness, Confidence, Validity};

const fn check(name: &'static str, dimension: Dimension, weight: f64) -> Check {
    Check {
        name,
        dimension,
        weight,
    }
}

// Completeness, 0.40.
const AMOUNT: Check = check("amount", Completeness, 0.20);
/// Waived for an item marked unbranded.
const BRAND: Check = check("brand", Completeness, 0.10);
const CATEGORY: Check = check("category", Completeness, 0.06);
/// A product name or a SKU.
const PRODUCT: Check = check("product", Completeness, 0.04);
// Validity, 0.35.
/// The amount is above 0 (zero or negative costs the whole check).
const AMOUNT_POSITIVE: Check = check("amount_positive", Validity, 0.15);
const QUANTITY_POSITIVE: Check = check("quantity_positive", Validity, 0.10);
/// unit price × quantity within `max(₱1, 2%)` of the amount (when all three are known).
const PRICE_CONSISTENT: Check = check("price_consistent", Validity, 0.10);
// Confidence, 0.25.
/// The brand detection's confidence, as credit (unknown when none was reported).
const BRAND_CONFIDENCE: Check = check("brand_confidence", Confidence, 0.25);

/// Every check of the item score, with its weight.
pub const ITEM_CHECKS: [Check; 8] = [
    AMOUNT,
    BRAND,
    CATEGORY,
    PRODUCT,
    AMOUNT_POSITIVE,
    QUANTITY_POSITIVE,
    PRICE_CONSISTENT,
    BRAND_CONFIDENCE,
];

/// What the silver stage knows about one purchased item. Blank texts, and a brand or category
/// of `unknown`, count as absent; non-finite numbers count as absent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ItemFacts<'a> {
    /// The item's total in pesos (silver `amount`).
    pub amount: Option<f64>,
    pub quantity: Option<f64>,
    pub unit_price: Option<f64>,
    /// The resolved brand (silver `brand_name`).
    pub brand: Option<&'a str>,
    /// The item is sold without a brand: no brand is expected.
    pub unbranded: bool,
    /// The resolved category (silver `product_category`).
    pub category: Option<&'a str>,
    /// The product name or SKU.
    pub product: Option<&'a str>,
    /// How sure the brand detection is, 0..1: the brand matcher's score when it resolved the
    /// brand, else the device's confidence.
    pub brand_confidence: Option<f64>,
}

impl<'a> ItemFacts<'a> {
    /// The facts as the device reported them; the silver stage overrides brand, category and
    /// confidence with the matcher's detection.
    pub fn from_item(item: &'a Item) -> Self {
        Self {
            amount: item.total_price,
            quantity: Some(item.quantity),
            unit_price: item.unit_price,
            brand: item.brand_name.as_deref(),
            unbranded: item.is_unbranded == Some(true),
            category: item.category.as_deref(),
            product: item.product_name.as_deref().or(item.sku.as_deref()),
            brand_confidence: item.confidence,
        }
    }
}

/// Scores one silver item row. See the module docs for the formula.
pub fn score_item(item: &ItemFacts<'_>) -> QualityScore {
    let mut c = Charges::default();
    let amount = finite(item.amount);
    let quantity = finite(item.quantity);

    // Completeness.
    if amount.is_none() {
        c.charge(
            &AMOUNT,
            "missing_amount",
            "amount",
            "the item has no amount",
            1.0,
        );
    }
    if !item.unbranded && named(item.brand).is_none() {
        c.charge(
            &BRAND,
            "missing_brand",
            "brand_name",
            "no brand was resolved and the item is not marked unbranded",
            1.0,
        );
    }
    if named(item.category).is_none() {
        c.charge(
            &CATEGORY,
            "missing_category",
            "product_category",
            "no product category was resolved",
            1.0,
        );
    }
    if text(item.product).is_none() {
        c.charge(
            &PRODUCT,
            "missing_product",
            "sku",
            "neither a product name nor a SKU",
            1.0,
        );
    }

    // Validity.
    if let Some(a) = amount.filter(|a| *a <= 0.0) {
        let (code, message) = if a < 0.0 {
            (
                "negative_amount",
                format!("the amount is negative ({})", peso(a)),
            )
        } else {
            ("zero_amount", "the amount is ₱0.00".to_owned())
        };
        c.charge(&AMOUNT_POSITIVE, code, "amount", message, 1.0);
    }
    if let Some(q) = quantity.filter(|q| *q <= 0.0) {
        c.charge(
            &QUANTITY_POSITIVE,
            "non_positive_quantity",
            "quantity",
            format!("the quantity is {q}, not above 0"),
            1.0,
        );
    }
    if let (Some(a), Some(q), Some(unit)) = (amount, quantity, finite(item.unit_price))
        && q > 0.0
        && !amounts_agree(unit * q, a)
    {
        c.charge(
            &PRICE_CONSISTENT,
            "price_mismatch",
            "amount",
            format!(
                "unit price {} × quantity {q} = {}, but the amount is {} (more than max(₱1, 2%) apart)",
                peso(unit),
                peso(unit * q),
                peso(a)
            ),
            1.0,
        );
    }

    // Confidence.
    let got = credit(item.brand_confidence);
    let message = match finite(item.brand_confidence) {
        Some(conf) => format!("the brand detection's confidence is {conf:.2}"),
        None => "no brand-detection confidence was reported".to_owned(),
    };
    c.charge(
        &BRAND_CONFIDENCE,
        "low_brand_confidence",
        "brand_name",
        message,
        1.0 - got,
    );

    c.finish()
}

/// A non-blank text.
fn text(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A non-blank name other than `unknown`.
fn named(s: Option<&str>) -> Option<&str> {
    text(s).filter(|s| !s.eq_ignore_ascii_case("unknown"))
}
