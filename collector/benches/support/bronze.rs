//! Bronze rows for the benchmarks that start from a landed backlog (medallion, platinum): the
//! shared workload's transactions spread over stores and days, landed as ingest would.

use chrono::{Duration as Days, Utc};
use scout_collector::bronze::{BronzeRow, Landing};
use scout_common::Transaction;
use serde_json::json;

use super::workload;

/// Bronze rows holding about `items` items from `stores` stores (device `SCOUTPI-000N`, store
/// `100 + N`), sequence numbers from `first_seq`: over the last `days` days, or over the last
/// ten hours when `today_only`. Returns the rows and the items they hold.
pub fn rows(
    seed: u64,
    items: usize,
    first_seq: usize,
    stores: usize,
    days: i64,
    today_only: bool,
) -> (Vec<BronzeRow>, usize) {
    let mut rng = workload::Rng(seed);
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut count = 0;
    let mut n = first_seq;
    while count < items {
        let device = n % stores;
        let mut v = workload::transaction(&mut rng, device, n);
        let back = if today_only {
            Days::minutes((rng.next() % 600) as i64)
        } else {
            Days::days((rng.next() % days as u64) as i64)
                + Days::minutes((rng.next() % 1440) as i64)
        };
        v["timestamp"] = json!((now - back).to_rfc3339());
        count += v["items"].as_array().map_or(0, Vec::len);
        let t = Transaction::parse(v).expect("the workload's transactions parse");
        let device_id = format!("SCOUTPI-{device:04}");
        let store_id = format!("{}", 100 + device);
        rows.push(BronzeRow::new(
            t,
            Landing {
                device_id: &device_id,
                store_id: &store_id,
                endpoint: "bench",
                received_at: now,
            },
        ));
        n += 1;
    }
    (rows, count)
}
