//! The published date conventions. Every period is a closed range of business days (Asia/Manila)
//! counted from the plan's `as_of` (default: today in Manila): "yesterday" is the day before,
//! "last 7 days" includes `as_of`, weeks run Monday to Sunday, months are calendar months.

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// Manila's offset from UTC (the Philippines keeps no daylight saving time).
const MANILA_OFFSET_HOURS: i64 = 8;
/// The longest period a plan may name (about ten years).
const MAX_DAYS: i64 = 3_700;

/// A period, before it is pinned to dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Period {
    Today,
    Yesterday,
    /// The last `days` days, `as_of` included.
    LastDays {
        days: u32,
    },
    /// Monday to Sunday of `as_of`'s week.
    ThisWeek,
    LastWeek,
    ThisMonth,
    LastMonth,
    /// From `from` to `to`, both included.
    Between {
        from: NaiveDate,
        to: NaiveDate,
    },
}

/// Today in Asia/Manila.
pub fn manila_today() -> NaiveDate {
    (Utc::now() + Duration::hours(MANILA_OFFSET_HOURS)).date_naive()
}

/// The Monday that starts `day`'s week.
pub fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The most recent `weekday` strictly before `as_of` ("last Saturday").
pub fn last_weekday(as_of: NaiveDate, weekday: Weekday) -> NaiveDate {
    let back = (7 + as_of.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    as_of - Duration::days(if back == 0 { 7 } else { i64::from(back) })
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The first and last day of `month` of `year`, if such a month exists.
pub fn month_range(year: i32, month: u32) -> Option<(NaiveDate, NaiveDate)> {
    let from = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((from, next - Duration::days(1)))
}

impl Period {
    /// Whether the period is well formed.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Self::LastDays { days } if days == 0 || i64::from(days) > MAX_DAYS => {
                Err(format!("last_days must be 1..{MAX_DAYS}, not {days}"))
            }
            Self::Between { from, to } if from > to => Err(format!("{from} is after {to}")),
            Self::Between { from, to } if (to - from).num_days() > MAX_DAYS => {
                Err(format!("{from} to {to} is longer than {MAX_DAYS} days"))
            }
            _ => Ok(()),
        }
    }

    /// The first and last business day of the period, counted from `as_of`.
    pub fn resolve(&self, as_of: NaiveDate) -> (NaiveDate, NaiveDate) {
        let day = Duration::days(1);
        match *self {
            Self::Today => (as_of, as_of),
            Self::Yesterday => (as_of - day, as_of - day),
            Self::LastDays { days } => {
                let days = i64::from(days.max(1)).min(MAX_DAYS);
                (as_of - Duration::days(days - 1), as_of)
            }
            Self::ThisWeek => {
                let monday = monday_of(as_of);
                (monday, monday + Duration::days(6))
            }
            Self::LastWeek => {
                let monday = monday_of(as_of) - Duration::days(7);
                (monday, monday + Duration::days(6))
            }
            Self::ThisMonth => {
                let first = first_of_month(as_of);
                month_range(first.year(), first.month()).unwrap_or((first, as_of))
            }
            Self::LastMonth => {
                let last = first_of_month(as_of) - day;
                (first_of_month(last), last)
            }
            Self::Between { from, to } => (from, to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_count_from_as_of() {
        // 2026-12-05 is a Saturday.
        let as_of = d("2026-12-05");
        let cases = [
            (Period::Today, "2026-12-05", "2026-12-05"),
            (Period::Yesterday, "2026-12-04", "2026-12-04"),
            (Period::LastDays { days: 7 }, "2026-11-29", "2026-12-05"),
            (Period::ThisWeek, "2026-11-30", "2026-12-06"),
            (Period::LastWeek, "2026-11-23", "2026-11-29"),
            (Period::ThisMonth, "2026-12-01", "2026-12-31"),
            (Period::LastMonth, "2026-11-01", "2026-11-30"),
        ];
        for (period, from, to) in cases {
            assert_eq!(period.resolve(as_of), (d(from), d(to)), "{period:?}");
        }
        // A Monday's week starts that day; January's last month is December.
        assert_eq!(Period::ThisWeek.resolve(d("2026-11-30")).0, d("2026-11-30"));
        assert_eq!(
            Period::LastMonth.resolve(d("2027-01-15")),
            (d("2026-12-01"), d("2026-12-31"))
        );
    }

    #[test]
    fn last_weekday_is_strictly_before() {
        let saturday = d("2026-12-05");
        assert_eq!(last_weekday(saturday, Weekday::Sat), d("2026-11-28"));
        assert_eq!(last_weekday(saturday, Weekday::Fri), d("2026-12-04"));
        assert_eq!(last_weekday(saturday, Weekday::Sun), d("2026-11-29"));
        assert_eq!(
            month_range(2026, 2),
            Some((d("2026-02-01"), d("2026-02-28")))
        );
        assert_eq!(month_range(2026, 13), None);
    }
}
