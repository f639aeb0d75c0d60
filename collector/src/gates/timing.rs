//! The gates about time: freshness (how old the newest row of each layer is) and performance
//! (the mean duration of audited operations in the window).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Bound, GateResult, GatesConfig, MAX_LISTED, round4};
use crate::store::{Arg, Store, StoreError};

/// Each layer's newest row: bronze `ingested_at`, silver `loaded_at`, gold `created_at`.
pub async fn layer_newest(
    store: &Store,
) -> Result<Vec<(&'static str, Option<DateTime<Utc>>)>, StoreError> {
    let mut out = Vec::with_capacity(LAYERS.len());
    for (layer, sql) in LAYERS {
        out.push((layer, store.query(sql, &[]).await?[0].opt_time(0)?));
    }
    Ok(out)
}

const LAYERS: [(&str, &str); 3] = [
    (
        "bronze",
        "SELECT max(ingested_at) FROM bronze.raw_transactions",
    ),
    (
        "silver",
        "SELECT max(loaded_at) FROM silver.transactions_cleaned",
    ),
    (
        "gold",
        "SELECT max(created_at) FROM scout.scout_gold_transactions",
    ),
];

/// Freshness: minutes since the newest row of the stalest layer (bronze `ingested_at`, silver
/// `loaded_at`, gold `created_at`); no data while bronze is empty.
pub async fn freshness(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<GateResult, StoreError> {
    let mut details = serde_json::Map::new();
    let mut stalest = None::<f64>;
    let mut bronze_seen = false;
    for (layer, newest) in layer_newest(store).await? {
        let age = newest.map(|t| round4((now - t).num_milliseconds() as f64 / 60_000.0));
        bronze_seen |= layer == "bronze" && newest.is_some();
        // A layer with no rows while bronze has some is as stale as can be.
        let age = age.or(bronze_seen.then_some(f64::INFINITY));
        if let Some(a) = age {
            stalest = Some(stalest.map_or(a, |s| s.max(a)));
        }
        details.insert(
            layer.to_owned(),
            json!({"newest": newest, "age_minutes": age.filter(|a| a.is_finite())}),
        );
    }
    let value = stalest.filter(|_| bronze_seen);
    let bound = Bound::AtMost(config.freshness_minutes);
    Ok(GateResult {
        name: "freshness",
        status: bound.judge(value, config.margin),
        value: value.map(|v| if v.is_finite() { v } else { f64::MAX }),
        threshold: bound.threshold(),
        details: details.into(),
        action: "If bronze is stale, check the devices (scout-collector device list, the fleet \
                 view) and their uplinks; if only silver or gold lag, check that a collector is \
                 running its pipeline (the backlog gauges on /metrics) and run scout-collector \
                 process.",
    })
}

/// Performance: the mean `duration_ms` of the audited calls in the window, in seconds; the
/// slowest operations are listed.
pub async fn performance(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<GateResult, StoreError> {
    let rows = store
        .query(
            "SELECT function_name, count(*), avg(duration_ms)::float8, max(duration_ms)::int8 \
             FROM metadata.function_audit WHERE created_at > $1 \
             GROUP BY function_name ORDER BY 3 DESC, 1",
            &[Arg::from(config.since("performance", now))],
        )
        .await?;
    let (mut calls, mut total_ms, mut listed) = (0_i64, 0.0_f64, Vec::new());
    for r in &rows {
        let (n, avg) = (r.int(1)?, r.float(2)?);
        calls += n;
        total_ms += avg * n as f64;
        if listed.len() < MAX_LISTED {
            listed.push(json!({"function": r.text(0)?, "calls": n,
                               "avg_seconds": round4(avg / 1000.0),
                               "max_seconds": r.int(3)? as f64 / 1000.0}));
        }
    }
    let value = (calls > 0).then(|| round4(total_ms / calls as f64 / 1000.0));
    let bound = Bound::AtMost(config.max_avg_seconds);
    Ok(GateResult {
        name: "performance",
        status: bound.judge(value, config.margin),
        value,
        threshold: bound.threshold(),
        details: json!({"calls": calls, "by_function": listed}),
        action: "Look at the slowest operations listed and their audit rows (errors, row \
                 counts); check the database's load and the pipeline backlog, and whether \
                 devices send unusually large batches.",
    })
}
