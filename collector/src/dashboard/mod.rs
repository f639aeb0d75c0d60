//! What people read: the control room page at `GET /` and the weekly report file. What
//! enters: the database (every layer, the audit, the gates' kept results, the fleet view).
//! What leaves: figures (`figures.rs`, `week.rs`: backend-neutral queries through the store,
//! serialisable for `GET /v1/dashboard`) and HTML (`page.rs`, `report.rs`) with charts as
//! inline SVG (`svg.rs`). Guarantees: one implementation of charts, layout and formats for
//! both pages; every value from the data is escaped (maud); the pages load nothing from
//! outside (no CDN, no web font, no script library).

pub mod figures;
pub mod page;
pub mod report;
pub mod svg;
pub mod week;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use scout_common::timestamp::MANILA_OFFSET_SECS;

pub use figures::{Dashboard, dashboard};
pub use week::{WeeklyReport, weekly_report};

/// The Asia/Manila calendar date at `now` (the stores' business day).
pub fn manila_date(now: DateTime<Utc>) -> NaiveDate {
    (now + TimeDelta::seconds(i64::from(MANILA_OFFSET_SECS))).date_naive()
}
