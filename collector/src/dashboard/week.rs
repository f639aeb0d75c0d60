//! The weekly report's figures: the last complete Monday–Sunday week (Asia/Manila business
//! days) before a date, against the week before it. KPIs per store and per brand from silver
//! (revenue, transactions, units, average basket), quality, the gates (latest run and the
//! week's runs) and the fleet, all through the store's backend-neutral queries.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use scout_common::timestamp::MANILA_OFFSET_SECS;
use serde::Serialize;

use super::figures::{self, DayTrend, GatesRun};
use crate::routes::fleet::{self, DeviceView, Thresholds};
use crate::store::{Arg, Store, StoreError};

/// The name unresolved brands (NULL in silver) are reported under.
pub const UNKNOWN_BRAND: &str = "Unknown";

/// Monday to Sunday, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Week {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Week {
    /// The last complete Monday–Sunday week before `as_of` (the week holding `as_of` is not
    /// complete yet, even on its Sunday).
    pub fn last_complete(as_of: NaiveDate) -> Self {
        let monday = as_of - TimeDelta::days(i64::from(as_of.weekday().num_days_from_monday()));
        Self::starting(monday - TimeDelta::days(7))
    }

    fn starting(start: NaiveDate) -> Self {
        Self {
            start,
            end: start + TimeDelta::days(6),
        }
    }

    pub fn previous(self) -> Self {
        Self::starting(self.start - TimeDelta::days(7))
    }

    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        (0..7).map(move |i| self.start + TimeDelta::days(i))
    }

    /// The week's bounds in UTC (`[from, until)`), Monday 00:00 to the next Monday 00:00 in
    /// Asia/Manila.
    pub fn utc_bounds(self) -> (DateTime<Utc>, DateTime<Utc>) {
        let offset = TimeDelta::seconds(i64::from(MANILA_OFFSET_SECS));
        let from = self.start.and_time(NaiveTime::MIN).and_utc() - offset;
        (from, from + TimeDelta::days(7))
    }
}

/// One group's figures for a week.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Kpi {
    pub revenue_centavos: i64,
    pub transactions: i64,
    pub units: f64,
}

impl Kpi {
    /// Revenue per transaction, in centavos (rounded).
    pub fn avg_basket_centavos(&self) -> Option<i64> {
        (self.transactions > 0)
            .then(|| (self.revenue_centavos as f64 / self.transactions as f64).round() as i64)
    }
}

/// A store's or brand's week against the week before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiRow {
    pub key: String,
    pub this_week: Kpi,
    pub previous_week: Kpi,
}

impl KpiRow {
    /// Revenue change against the previous week, as a fraction (`None` when there was none).
    pub fn revenue_change(&self) -> Option<f64> {
        change(
            self.this_week.revenue_centavos as f64,
            self.previous_week.revenue_centavos as f64,
        )
    }
}

/// `(now - before) / before`, `None` when `before` is zero.
pub fn change(now: f64, before: f64) -> Option<f64> {
    (before != 0.0).then(|| (now - before) / before)
}

/// A week's data quality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Quality {
    pub items: i64,
    pub avg_score: Option<f64>,
    pub branded_share: Option<f64>,
    /// Items or transactions of the week's sales (by transaction time) in quarantine.
    pub quarantined: i64,
    /// Files whose import failed in the week.
    pub rejected_files: i64,
}

/// A gate's latest status and how its runs in the week ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateWeek {
    pub name: String,
    pub current: Option<String>,
    pub value: Option<f64>,
    /// Runs in the week per status: pass, warn, fail, no_data.
    pub runs: [i64; 4],
}

/// Everything the weekly report shows.
#[derive(Debug, Clone, Serialize)]
pub struct WeeklyReport {
    pub week: Week,
    pub previous: Week,
    pub generated_at: DateTime<Utc>,
    pub total: KpiRow,
    pub stores: Vec<KpiRow>,
    pub brands: Vec<KpiRow>,
    pub quality: Quality,
    pub previous_quality: Quality,
    /// The week's days, then the previous week's.
    pub days: Vec<DayTrend>,
    pub previous_days: Vec<DayTrend>,
    pub gates: Vec<GateWeek>,
    pub gates_run: GatesRun,
    /// Dead letters the devices report now (their last heartbeats), summed.
    pub dead_letters: i64,
    pub fleet: Vec<DeviceView>,
}

/// Reads the report of the last complete week before `as_of`; `now` dates the fleet view.
pub async fn weekly_report(
    store: &Store,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<WeeklyReport, StoreError> {
    let week = Week::last_complete(as_of);
    let previous = week.previous();
    let total = |key: &str| KpiRow {
        key: key.to_owned(),
        this_week: Kpi::default(),
        previous_week: Kpi::default(),
    };
    let mut total_row = total("All stores");
    total_row.this_week = kpis(store, week, None)
        .await?
        .remove("")
        .unwrap_or_default();
    total_row.previous_week = kpis(store, previous, None)
        .await?
        .remove("")
        .unwrap_or_default();
    let gates_run = figures::latest_gates(store).await?;
    let (from, until) = week.utc_bounds();
    Ok(WeeklyReport {
        week,
        previous,
        generated_at: now,
        total: total_row,
        stores: paired(store, week, previous, Some("store_id")).await?,
        brands: paired(store, week, previous, Some("brand_name")).await?,
        quality: quality(store, week).await?,
        previous_quality: quality(store, previous).await?,
        days: figures::every_day(
            &figures::trends(store, week.start, week.end + TimeDelta::days(1)).await?,
            week.start,
            7,
        ),
        previous_days: figures::every_day(
            &figures::trends(store, previous.start, previous.end + TimeDelta::days(1)).await?,
            previous.start,
            7,
        ),
        gates: gate_weeks(&gates_run, &figures::gate_trend(store, from, until).await?),
        gates_run,
        dead_letters: store
            .query_int(
                "SELECT sum(dead_letters)::int8 FROM metadata.device_heartbeats",
                &[],
            )
            .await?,
        fleet: fleet::fleet_view(store, now, Thresholds::default())
            .await?
            .devices,
    })
}

/// KPIs per `group` column (`store_id`, `brand_name`; `None`: one row keyed "") for a week.
async fn kpis(
    store: &Store,
    week: Week,
    group: Option<&str>,
) -> Result<BTreeMap<String, Kpi>, StoreError> {
    let key = match group {
        Some("brand_name") => format!("coalesce(brand_name, '{UNKNOWN_BRAND}')"),
        Some(_) => "store_id".to_owned(),
        None => "''".to_owned(),
    };
    let sql = format!(
        "SELECT {key} AS k, sum(amount_centavos)::int8, \
           count(DISTINCT device_id || ':' || transaction_id), sum(quantity)::float8 \
         FROM silver.transactions_cleaned \
         WHERE transaction_date >= $1 AND transaction_date <= $2 GROUP BY 1"
    );
    let rows = store
        .query(&sql, &[Arg::from(week.start), Arg::from(week.end)])
        .await?;
    let mut out = BTreeMap::new();
    for r in &rows {
        out.insert(
            r.text(0)?,
            Kpi {
                revenue_centavos: r.int(1)?,
                transactions: r.int(2)?,
                units: r.float(3)?,
            },
        );
    }
    Ok(out)
}

/// Both weeks' KPIs per group, by this week's revenue (highest first), then name.
async fn paired(
    store: &Store,
    week: Week,
    previous: Week,
    group: Option<&str>,
) -> Result<Vec<KpiRow>, StoreError> {
    let this = kpis(store, week, group).await?;
    let mut before = kpis(store, previous, group).await?;
    let mut rows: Vec<KpiRow> = this
        .into_iter()
        .map(|(key, k)| KpiRow {
            previous_week: before.remove(&key).unwrap_or_default(),
            this_week: k,
            key,
        })
        .collect();
    rows.extend(before.into_iter().map(|(key, k)| KpiRow {
        key,
        this_week: Kpi::default(),
        previous_week: k,
    }));
    rows.sort_by(|a, b| {
        b.this_week
            .revenue_centavos
            .cmp(&a.this_week.revenue_centavos)
            .then_with(|| a.key.cmp(&b.key))
    });
    Ok(rows)
}

async fn quality(store: &Store, week: Week) -> Result<Quality, StoreError> {
    let rows = store
        .query(
            "SELECT count(*), avg(quality_score)::float8, count(brand_name) \
             FROM silver.transactions_cleaned \
             WHERE transaction_date >= $1 AND transaction_date <= $2",
            &[Arg::from(week.start), Arg::from(week.end)],
        )
        .await?;
    let (items, branded) = (rows[0].int(0)?, rows[0].int(2)?);
    let (from, until) = week.utc_bounds();
    let window = [Arg::from(from), Arg::from(until)];
    Ok(Quality {
        items,
        avg_score: rows[0].opt_float(1)?,
        branded_share: (items > 0).then(|| branded as f64 / items as f64),
        quarantined: store
            .query_int(
                "SELECT count(*) FROM silver.transactions_quarantine q \
                 JOIN bronze.raw_transactions b ON b.id = q.bronze_id \
                 WHERE b.transaction_timestamp >= $1 AND b.transaction_timestamp < $2",
                &window,
            )
            .await?,
        rejected_files: store
            .query_int(
                "SELECT count(*) FROM staging.universal_file_ingestion \
                 WHERE status = 'failed' AND created_at >= $1 AND created_at < $2",
                &window,
            )
            .await?,
    })
}

/// Each gate of the latest run or of the week's runs, with its runs per status.
fn gate_weeks(latest: &GatesRun, trend: &[(String, String, i64)]) -> Vec<GateWeek> {
    let mut out: Vec<GateWeek> = latest
        .gates
        .iter()
        .map(|g| GateWeek {
            name: g.name.clone(),
            current: Some(g.status.clone()),
            value: g.value,
            runs: [0; 4],
        })
        .collect();
    for (gate, status, n) in trend {
        let i = match status.as_str() {
            "pass" => 0,
            "warn" => 1,
            "fail" => 2,
            _ => 3,
        };
        if let Some(g) = out.iter_mut().find(|g| &g.name == gate) {
            g.runs[i] += n;
        } else {
            let mut runs = [0; 4];
            runs[i] = *n;
            out.push(GateWeek {
                name: gate.clone(),
                current: None,
                value: None,
                runs,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_last_complete_week_ends_on_the_sunday_before() {
        // 2026-12-07 is a Monday.
        for as_of in ["2026-12-07", "2026-12-09", "2026-12-13"] {
            let w = Week::last_complete(d(as_of));
            assert_eq!(
                (w.start, w.end),
                (d("2026-11-30"), d("2026-12-06")),
                "{as_of}"
            );
        }
        let w = Week::last_complete(d("2026-12-06"));
        assert_eq!(w.start, d("2026-11-23"));
        assert_eq!(w.previous().start, d("2026-11-16"));
        let (from, until) = Week::last_complete(d("2026-12-07")).utc_bounds();
        assert_eq!(from.to_rfc3339(), "2026-11-29T16:00:00+00:00");
        assert_eq!(until.to_rfc3339(), "2026-12-06T16:00:00+00:00");
    }

    #[test]
    fn changes_and_baskets() {
        assert_eq!(change(150.0, 100.0), Some(0.5));
        assert_eq!(change(5.0, 0.0), None);
        let k = Kpi {
            revenue_centavos: 1000,
            transactions: 3,
            units: 4.0,
        };
        assert_eq!(k.avg_basket_centavos(), Some(333));
        assert_eq!(Kpi::default().avg_basket_centavos(), None);
    }
}
