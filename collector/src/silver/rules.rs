//! Silver's quarantine rules: what makes a transaction or an item unfit for silver, each as a
//! reason with a code and a message.

use scout_common::{Item, Transaction};
use serde::Serialize;

use super::*;

#[derive(Debug, Serialize)]
pub(super) struct Reason {
    code: &'static str,
    message: String,
    /// The field at fault, for `field_too_long` (`transactionContext.paymentMethod`,
    /// `items[2].sku`).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

/// An item's field as a reason names it (`items[2].sku`), spelled out only when one does.
struct ItemField {
    index: usize,
    name: &'static str,
}

impl std::fmt::Display for ItemField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "items[{}].{}", self.index, self.name)
    }
}

impl Reason {
    pub(super) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// `field_too_long` when `value` is longer than `limit` characters.
    fn too_long(field: impl std::fmt::Display, value: Option<&str>, limit: usize) -> Option<Self> {
        let value = value?;
        // A string of at most `limit` bytes has at most `limit` characters: no count needed.
        if value.len() <= limit {
            return None;
        }
        let length = value.chars().count();
        (length > limit).then(|| {
            let field = field.to_string();
            Self {
                code: "field_too_long",
                message: format!("{field} is {length} characters long; the limit is {limit}"),
                field: Some(field),
            }
        })
    }
}

/// Why the whole transaction cannot go to silver: fields over their limits, a timestamp out of
/// range. Empty when it can.
pub(super) fn transaction_reasons(
    record: &BronzeRecord,
    t: &Transaction,
    customer: &Customer,
    store_id: &str,
) -> Vec<Reason> {
    let mut reasons: Vec<Reason> = [
        Reason::too_long(
            "transactionId",
            Some(&record.transaction_id),
            MAX_TRANSACTION_ID_CHARS,
        ),
        Reason::too_long("storeId", Some(store_id), MAX_STORE_ID_CHARS),
        Reason::too_long(
            "transactionContext.paymentMethod",
            t.payment_method.as_deref().map(str::trim),
            MAX_PAYMENT_METHOD_CHARS,
        ),
        Reason::too_long("customerId", customer.id.as_deref(), MAX_CUSTOMER_ID_CHARS),
        Reason::too_long(
            "ageBracket",
            customer.age_bracket.as_deref(),
            MAX_DEMOGRAPHIC_CHARS,
        ),
        Reason::too_long("gender", customer.gender.as_deref(), MAX_DEMOGRAPHIC_CHARS),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(location) = &customer.location
        && location.len() > MAX_LOCATION_BYTES
    {
        reasons.push(Reason {
            code: "field_too_long",
            message: format!(
                "location is {} bytes of JSON; the limit is {MAX_LOCATION_BYTES}",
                location.len()
            ),
            field: Some("location".into()),
        });
    }
    // The UTC year first: a time near chrono's limits is never moved into Manila time.
    let years = EARLIEST_YEAR..=LATEST_YEAR;
    let at = record.transaction_timestamp;
    if !years.contains(&at.year()) || !years.contains(&business_day(at).year()) {
        reasons.push(Reason::new(
            "timestamp_out_of_range",
            format!(
                "the transaction time {} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}",
                record.transaction_timestamp.to_rfc3339()
            ),
        ));
    }
    reasons
}

/// Why an item cannot be sold in silver. Empty when it can.
pub(super) fn item_reasons(index: usize, item: &Item) -> Vec<Reason> {
    let mut reasons = Vec::new();
    match item.total_price {
        None => reasons.push(Reason::new(
            "missing_amount",
            "the item has neither a total price nor a unit price",
        )),
        Some(a) if a.is_finite() && a < 0.0 => reasons.push(Reason::new(
            "negative_amount",
            format!("the amount is negative (₱{a:.2}); returns and voids are not sales"),
        )),
        // Not finite: unit price × quantity overflowed.
        Some(a) if !a.is_finite() || a > MAX_ITEM_AMOUNT => reasons.push(Reason::new(
            "amount_out_of_range",
            format!(
                "the amount ₱{} is over the limit of ₱{} per item",
                number(a),
                number(MAX_ITEM_AMOUNT)
            ),
        )),
        Some(_) => {}
    }
    let q = item.quantity;
    if q.is_nan() || q <= 0.0 {
        reasons.push(Reason::new(
            "non_positive_quantity",
            format!("the quantity is {}", number(q)),
        ));
    } else if !(MIN_QUANTITY..=MAX_QUANTITY).contains(&q) {
        reasons.push(Reason::new(
            "quantity_out_of_range",
            format!(
                "the quantity {} is outside {MIN_QUANTITY} to {}",
                number(q),
                number(MAX_QUANTITY)
            ),
        ));
    }
    if let Some(p) = item.unit_price
        && (!p.is_finite() || p.abs() > MAX_UNIT_PRICE)
    {
        reasons.push(Reason::new(
            "unit_price_out_of_range",
            format!(
                "the unit price ₱{} is beyond ₱{} either way",
                number(p),
                number(MAX_UNIT_PRICE)
            ),
        ));
    }
    let field = |name| ItemField { index, name };
    reasons.extend(
        [
            Reason::too_long(field("sku"), item.sku.as_deref(), MAX_SKU_CHARS),
            Reason::too_long(
                field("productName"),
                item.product_name.as_deref(),
                MAX_PRODUCT_NAME_CHARS,
            ),
            Reason::too_long(
                field("brandName"),
                item.brand_name.as_deref(),
                MAX_BRAND_CHARS,
            ),
        ]
        .into_iter()
        .flatten(),
    );
    reasons
}

/// A number for a message: plain when it is of a sane size, in exponent form when it is not (a
/// quantity of 1e300 is not written out in 301 digits).
fn number(x: f64) -> String {
    if x.is_finite() && x.abs() < 1e12 {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}
