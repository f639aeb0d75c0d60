//! Silver's rows, each described once for both databases ([`Record`]): a new column is a field
//! here, its name and value in the row's `Record` impl, and the two migrations.

use std::ops::AddAssign;

use chrono::{DateTime, NaiveDate, Utc};

use crate::store::{Arg, Partition, Record, SilverWrite};

/// One silver row (`silver.transactions_cleaned`).
#[derive(Debug, Clone, PartialEq)]
pub struct SilverRow {
    pub id: String,
    pub transaction_id: String,
    pub timestamp: DateTime<Utc>,
    pub transaction_date: NaiveDate,
    pub amount_centavos: i64,
    pub payment_method: String,
    pub product_category: String,
    /// The resolved brand, `Unbranded` for an item marked so, `None` when unresolved.
    pub brand_name: Option<String>,
    pub sku: Option<String>,
    pub customer_id: Option<String>,
    pub store_id: String,
    pub device_id: String,
    pub age_bracket: Option<String>,
    pub gender: Option<String>,
    /// JSON text.
    pub location_data: Option<String>,
    pub data_source: &'static str,
    pub quality_score: f64,
    pub bronze_id: i64,
    pub item_index: i32,
    pub quantity: f64,
    pub unit_price: Option<f64>,
    pub product_name: Option<String>,
    pub device_brand: Option<String>,
    /// `exact`, `alias`, `context`, `fuzzy`, or `none`.
    pub brand_method: &'static str,
    pub brand_source: Option<&'static str>,
    pub brand_score: Option<f64>,
    /// JSON text: the item score's issues.
    pub quality_issues: String,
    pub daypart: &'static str,
    pub day_type: &'static str,
    pub basket_units: f64,
    pub basket_band: &'static str,
    /// The first of the transaction's rows with this brand and category: gold counts the
    /// transaction (and its basket) once per brand × category on it.
    pub first_in_group: bool,
    /// The transaction's first row: customer analytics count the transaction on it.
    pub first_in_basket: bool,
    /// The first of the transaction's rows with this brand: brand × daypart analytics count
    /// the basket once per brand on it.
    pub first_in_brand: bool,
    /// The first of the transaction's rows in this category (counted likewise per category).
    pub first_in_category: bool,
    pub loaded_at: DateTime<Utc>,
}

/// One quarantined record (`silver.transactions_quarantine`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub bronze_id: i64,
    pub transaction_id: String,
    pub device_id: String,
    pub store_id: Option<String>,
    /// `None` when the whole transaction is rejected.
    pub item_index: Option<i32>,
    /// JSON text: `[{code, message}]`.
    pub reasons: String,
    /// JSON text: the item as parsed, or `None` for a whole transaction.
    pub record: Option<String>,
    pub quality_score: f64,
    /// JSON text.
    pub quality_issues: String,
    pub quarantined_at: DateTime<Utc>,
}

/// What one bronze row becomes.
#[derive(Debug, Clone)]
pub struct SilverOutcome {
    pub bronze_id: i64,
    pub rows: Vec<SilverRow>,
    pub rejects: Vec<Reject>,
    /// The transaction's score, for `bronze.quality_score`.
    pub quality_score: f64,
    /// JSON text: the transaction's [`QualityScore`] plus the brands found, merged into bronze's
    /// `processing_metadata` under `quality` and `brands`.
    pub bronze_metadata: String,
    pub scored_at: DateTime<Utc>,
}

impl Record for SilverRow {
    const TABLE: &'static str = "silver.transactions_cleaned";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "transaction_id",
        "timestamp",
        "transaction_date",
        "amount",
        "payment_method",
        "product_category",
        "brand_name",
        "sku",
        "customer_id",
        "store_id",
        "device_id",
        "age_bracket",
        "gender",
        "location_data",
        "data_source",
        "quality_score",
        "loaded_at",
        "bronze_id",
        "item_index",
        "amount_centavos",
        "quantity",
        "unit_price",
        "product_name",
        "device_brand",
        "brand_method",
        "brand_source",
        "brand_score",
        "quality_issues",
        "daypart",
        "day_type",
        "basket_units",
        "basket_band",
        "first_in_group",
        "first_in_basket",
        "first_in_brand",
        "first_in_category",
    ];

    fn values<'a>(&'a self, out: &mut Vec<Arg<'a>>) {
        out.extend([
            Arg::from(&self.id),
            Arg::from(&self.transaction_id),
            Arg::from(self.timestamp),
            Arg::from(self.transaction_date),
            Arg::Centavos(Some(self.amount_centavos)),
            Arg::from(&self.payment_method),
            Arg::from(&self.product_category),
            Arg::from(self.brand_name.as_deref()),
            Arg::from(self.sku.as_deref()),
            Arg::from(self.customer_id.as_deref()),
            Arg::from(&self.store_id),
            Arg::from(&self.device_id),
            Arg::from(self.age_bracket.as_deref()),
            Arg::from(self.gender.as_deref()),
            Arg::Json(self.location_data.as_deref()),
            Arg::from(self.data_source),
            Arg::from(self.quality_score),
            Arg::from(self.loaded_at),
            Arg::from(self.bronze_id),
            Arg::from(self.item_index),
            Arg::from(self.amount_centavos),
            Arg::from(self.quantity),
            // Exact to the centavo, as the column's `numeric(14, 2)` keeps it.
            Arg::Centavos(self.unit_price.map(|p| (p * 100.0).round() as i64)),
            Arg::from(self.product_name.as_deref()),
            Arg::from(self.device_brand.as_deref()),
            Arg::from(self.brand_method),
            Arg::from(self.brand_source),
            Arg::from(self.brand_score),
            Arg::json(&self.quality_issues),
            Arg::from(self.daypart),
            Arg::from(self.day_type),
            Arg::from(self.basket_units),
            Arg::from(self.basket_band),
            Arg::from(self.first_in_group),
            Arg::from(self.first_in_basket),
            Arg::from(self.first_in_brand),
            Arg::from(self.first_in_category),
        ]);
    }
}

impl Record for Reject {
    const TABLE: &'static str = "silver.transactions_quarantine";
    const COLUMNS: &'static [&'static str] = &[
        "bronze_id",
        "transaction_id",
        "device_id",
        "store_id",
        "item_index",
        "reasons",
        "record",
        "quality_score",
        "quality_issues",
        "quarantined_at",
    ];

    fn values<'a>(&'a self, out: &mut Vec<Arg<'a>>) {
        out.extend([
            Arg::from(self.bronze_id),
            Arg::from(&self.transaction_id),
            Arg::from(&self.device_id),
            Arg::from(self.store_id.as_deref()),
            Arg::Int(self.item_index.map(i64::from)),
            Arg::json(&self.reasons),
            Arg::Json(self.record.as_deref()),
            Arg::from(self.quality_score),
            Arg::json(&self.quality_issues),
            Arg::from(self.quarantined_at),
        ]);
    }
}

/// A bronze row's quality, as `bronze.scout_raw_transactions` shows it.
impl Record for SilverOutcome {
    const TABLE: &'static str = "bronze.transaction_quality";
    const COLUMNS: &'static [&'static str] =
        &["bronze_id", "quality_score", "quality", "scored_at"];

    fn values<'a>(&'a self, out: &mut Vec<Arg<'a>>) {
        out.extend([
            Arg::from(self.bronze_id),
            Arg::from(self.quality_score),
            Arg::json(&self.bronze_metadata),
            Arg::from(self.scored_at),
        ]);
    }
}

/// What a batch's outcomes write.
pub fn writes(outcomes: &[SilverOutcome]) -> SilverWrite<'_, SilverRow, Reject, SilverOutcome> {
    let rows: Vec<&SilverRow> = outcomes.iter().flat_map(|o| &o.rows).collect();
    let partitions: Vec<Partition> = rows
        .iter()
        .map(|r| (r.transaction_date, r.store_id.clone()))
        .collect();
    SilverWrite {
        rows,
        rejects: outcomes.iter().flat_map(|o| &o.rejects).collect(),
        scores: outcomes.iter().collect(),
        partitions,
    }
}

/// What one silver batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SilverBatch {
    /// Bronze rows claimed and processed.
    pub bronze_rows: u64,
    pub silver_rows: u64,
    pub quarantined: u64,
    /// (day, store) partitions queued for gold.
    pub partitions_queued: u64,
    /// Sum of the silver rows' quality scores (for the mean).
    pub quality_sum: f64,
}

impl SilverBatch {
    /// The counts of a batch's outcomes.
    pub fn of(outcomes: &[SilverOutcome], partitions_queued: usize) -> Self {
        Self {
            bronze_rows: outcomes.len() as u64,
            silver_rows: outcomes.iter().map(|o| o.rows.len() as u64).sum(),
            quarantined: outcomes.iter().map(|o| o.rejects.len() as u64).sum(),
            partitions_queued: partitions_queued as u64,
            quality_sum: outcomes
                .iter()
                .flat_map(|o| &o.rows)
                .map(|r| r.quality_score)
                .sum(),
        }
    }
}

impl AddAssign for SilverBatch {
    fn add_assign(&mut self, b: Self) {
        self.bronze_rows += b.bronze_rows;
        self.silver_rows += b.silver_rows;
        self.quarantined += b.quarantined;
        self.partitions_queued += b.partitions_queued;
        self.quality_sum += b.quality_sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn width<R: Record>(row: &R) -> usize {
        let mut values = Vec::new();
        row.values(&mut values);
        values.len()
    }

    #[test]
    fn every_record_gives_one_value_per_column() {
        let now = Utc::now();
        let reject = Reject {
            bronze_id: 1,
            transaction_id: "t".into(),
            device_id: "d".into(),
            store_id: None,
            item_index: None,
            reasons: "[]".into(),
            record: None,
            quality_score: 0.0,
            quality_issues: "[]".into(),
            quarantined_at: now,
        };
        assert_eq!(width(&reject), Reject::COLUMNS.len());
        let outcome = SilverOutcome {
            bronze_id: 1,
            rows: Vec::new(),
            rejects: vec![reject],
            quality_score: 0.0,
            bronze_metadata: "{}".into(),
            scored_at: now,
        };
        assert_eq!(width(&outcome), SilverOutcome::COLUMNS.len());
        let row = SilverRow {
            id: "d:t:0".into(),
            transaction_id: "t".into(),
            timestamp: now,
            transaction_date: NaiveDate::default(),
            amount_centavos: 100,
            payment_method: "cash".into(),
            product_category: "Snacks".into(),
            brand_name: Some("Oishi".into()),
            sku: None,
            customer_id: None,
            store_id: "s".into(),
            device_id: "d".into(),
            age_bracket: None,
            gender: None,
            location_data: None,
            data_source: "edge",
            quality_score: 1.0,
            bronze_id: 1,
            item_index: 0,
            quantity: 1.0,
            unit_price: None,
            product_name: None,
            device_brand: None,
            brand_method: "exact",
            brand_source: None,
            brand_score: None,
            quality_issues: "[]".into(),
            daypart: "morning",
            day_type: "weekday",
            basket_units: 1.0,
            basket_band: "1",
            first_in_group: true,
            first_in_basket: true,
            first_in_brand: true,
            first_in_category: true,
            loaded_at: now,
        };
        assert_eq!(width(&row), SilverRow::COLUMNS.len());
    }
}
