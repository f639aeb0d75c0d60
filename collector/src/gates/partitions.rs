//! The three gates that judge silver per day × store (completeness, revenue consistency, and
//! the gold half of integration) from one read of silver: [`SilverPartitions`] holds, per
//! partition, the figures of each gate's window, and [`GoldPartitions`] gold's revenue per
//! partition with the gold queue and its failures. Reading silver once instead of three times
//! is most of what keeps the gates under a second on a million items.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Bound, GateResult, GatesConfig, MAX_LISTED, round4};
use crate::store::{Arg, Store, StoreError};

/// Silver per partition: `$1` completeness's window start, `$2` revenue consistency's,
/// `$3`/`$4` integration's window (after its grace). Revenue sums every row of a partition.
const SILVER_BY_PARTITION: &str = "SELECT transaction_date::text, store_id, \
       count(CASE WHEN loaded_at > $1 THEN 1 END)::int8, \
       count(CASE WHEN loaded_at > $1 AND brand_name IS NOT NULL THEN 1 END)::int8, \
       coalesce(sum(CASE WHEN loaded_at > $1 THEN amount_centavos END), 0)::int8, \
       coalesce(sum(CASE WHEN loaded_at > $1 AND brand_name IS NULL \
                    THEN amount_centavos END), 0)::int8, \
       coalesce(sum(amount_centavos), 0)::int8, \
       count(CASE WHEN loaded_at > $2 THEN 1 END)::int8, \
       count(CASE WHEN loaded_at > $3 AND loaded_at <= $4 THEN 1 END)::int8 \
     FROM silver.transactions_cleaned GROUP BY transaction_date, store_id \
     ORDER BY transaction_date, store_id";

/// One day × store of silver.
#[derive(Debug, Clone)]
struct Partition {
    date: String,
    store_id: String,
    /// Items, branded items, revenue and unbranded revenue loaded in completeness's window.
    rows: i64,
    branded: i64,
    revenue: i64,
    unbranded_revenue: i64,
    /// All the partition's revenue.
    total_revenue: i64,
    /// Items loaded in revenue consistency's window and in integration's.
    in_revenue_window: bool,
    in_integration_window: bool,
}

/// Silver by day × store, as the three gates see it.
#[derive(Debug, Clone, Default)]
pub struct SilverPartitions {
    partitions: Vec<Partition>,
}

impl SilverPartitions {
    /// Reads silver once for the windows `config` gives each gate at `now`.
    pub async fn read(
        store: &Store,
        config: &GatesConfig,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let until = config.integration_until(now);
        let args = [
            Arg::from(config.since("completeness", now)),
            Arg::from(config.since("revenue_consistency", now)),
            Arg::from(config.since("integration", now)),
            Arg::from(until),
        ];
        let mut partitions = Vec::new();
        for r in store.query(SILVER_BY_PARTITION, &args).await? {
            partitions.push(Partition {
                date: r.text(0)?,
                store_id: r.text(1)?,
                rows: r.int(2)?,
                branded: r.int(3)?,
                revenue: r.int(4)?,
                unbranded_revenue: r.int(5)?,
                total_revenue: r.int(6)?,
                in_revenue_window: r.int(7)? > 0,
                in_integration_window: r.int(8)? > 0,
            });
        }
        Ok(Self { partitions })
    }
}

type Key = (String, String);

/// Gold per day × store: its revenue, the partitions queued for a rebuild and those whose last
/// build failed.
#[derive(Debug, Clone, Default)]
pub struct GoldPartitions {
    revenue: HashMap<Key, i64>,
    queued: HashSet<Key>,
    failures: HashMap<Key, String>,
}

impl GoldPartitions {
    pub async fn read(store: &Store) -> Result<Self, StoreError> {
        let (gold, queued, failures) = tokio::try_join!(
            store.query(
                "SELECT transaction_date::text, store_id, sum(revenue_centavos)::int8 \
                 FROM scout.scout_gold_transactions GROUP BY transaction_date, store_id",
                &[],
            ),
            store.query(
                "SELECT transaction_date::text, store_id FROM metadata.gold_pending",
                &[]
            ),
            store.query(
                "SELECT transaction_date::text, store_id, error FROM metadata.gold_failures",
                &[],
            ),
        )?;
        let mut out = Self::default();
        for r in &gold {
            out.revenue
                .insert((r.text(0)?, r.text(1)?), r.opt_int(2)?.unwrap_or(0));
        }
        for r in &queued {
            out.queued.insert((r.text(0)?, r.text(1)?));
        }
        for r in &failures {
            out.failures
                .insert((r.text(0)?, r.text(1)?), r.opt_text(2)?.unwrap_or_default());
        }
        Ok(out)
    }
}

/// Completeness: the share of silver rows loaded in the window with a resolved brand
/// (`brand_name IS NOT NULL`); store × day groups below the threshold are listed.
pub fn completeness(silver: &SilverPartitions, config: &GatesConfig) -> GateResult {
    let (mut total, mut branded, mut low) = (0_i64, 0_i64, Vec::new());
    let (mut revenue, mut unbranded_revenue) = (0_i64, 0_i64);
    for p in silver.partitions.iter().filter(|p| p.rows > 0) {
        total += p.rows;
        branded += p.branded;
        revenue += p.revenue;
        unbranded_revenue += p.unbranded_revenue;
        let share = p.branded as f64 / p.rows as f64;
        if share < config.completeness && low.len() < MAX_LISTED {
            low.push(
                json!({"date": p.date, "store_id": p.store_id, "rows": p.rows,
                            "branded": p.branded, "share": round4(share)}),
            );
        }
    }
    let value = (total > 0).then(|| round4(branded as f64 / total as f64));
    let bound = Bound::AtLeast(config.completeness);
    GateResult {
        name: "completeness",
        status: bound.judge(value, config.margin),
        value,
        threshold: bound.threshold(),
        details: json!({"rows": total, "branded": branded, "groups_below": low,
            "revenue_centavos": revenue, "unbranded_revenue_centavos": unbranded_revenue,
            "unbranded_revenue_share": (revenue > 0)
                .then(|| round4(unbranded_revenue as f64 / revenue as f64))}),
        action: "Look at the unbranded items of the listed stores and days \
                 (scout-collector brands unresolved lists them by revenue, with suggestions); \
                 teach the missing brands or aliases (scout-collector brands add / brands \
                 alias), which re-processes exactly the rows they change.",
    }
}

/// Revenue consistency: for every day × store whose silver rows were loaded in the window, gold's
/// revenue summed over all its brand and category rows against silver's sum; the value is the
/// largest relative difference.
pub fn revenue_consistency(
    silver: &SilverPartitions,
    gold: &GoldPartitions,
    config: &GatesConfig,
) -> GateResult {
    let (mut worst, mut off, mut judged) = (None::<f64>, Vec::new(), 0_usize);
    for p in silver.partitions.iter().filter(|p| p.in_revenue_window) {
        judged += 1;
        let key = (p.date.clone(), p.store_id.clone());
        let (silver, gold) = (
            p.total_revenue,
            gold.revenue.get(&key).copied().unwrap_or(0),
        );
        let diff = if silver == 0 {
            if gold == 0 { 0.0 } else { 1.0 }
        } else {
            (gold - silver).unsigned_abs() as f64 / silver.unsigned_abs() as f64
        };
        worst = Some(worst.map_or(diff, |w| w.max(diff)));
        if diff > config.revenue_tolerance && off.len() < MAX_LISTED {
            off.push(json!({"date": p.date, "store_id": p.store_id,
                            "silver_peso": silver as f64 / 100.0, "gold_peso": gold as f64 / 100.0,
                            "difference": round4(diff)}));
        }
    }
    let value = worst.map(round4);
    let bound = Bound::AtMost(config.revenue_tolerance);
    GateResult {
        name: "revenue_consistency",
        status: bound.judge(value, config.margin),
        value,
        threshold: bound.threshold(),
        details: json!({"partitions": judged, "partitions_off": off}),
        action: "Rebuild gold for the listed days and stores (scout-collector process \
                 --rebuild-gold); if they stay off, look for partitions in \
                 metadata.gold_failures and for silver rows loaded after the last rebuild.",
    }
}

/// Integration's gold half: the partitions with silver loaded in its window, how many are
/// queued for gold, and those with no gold rows and not queued (at most [`MAX_LISTED`] listed,
/// with the error of their last failed build).
#[derive(Debug, Clone, Default)]
pub struct GoldFate {
    pub partitions: usize,
    pub queued: i64,
    pub missing: i64,
    pub listed: Vec<serde_json::Value>,
}

pub fn gold_fate(silver: &SilverPartitions, gold: &GoldPartitions) -> GoldFate {
    let mut fate = GoldFate::default();
    for p in silver.partitions.iter().filter(|p| p.in_integration_window) {
        fate.partitions += 1;
        let key = (p.date.clone(), p.store_id.clone());
        if gold.revenue.contains_key(&key) {
            continue;
        }
        if gold.queued.contains(&key) {
            fate.queued += 1;
            continue;
        }
        fate.missing += 1;
        if fate.listed.len() < MAX_LISTED {
            fate.listed
                .push(json!({"date": p.date, "store_id": p.store_id,
                "gold_failure": gold.failures.get(&key)}));
        }
    }
    fate
}
