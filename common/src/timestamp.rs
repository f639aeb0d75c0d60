//! Reading the many timestamp shapes ScoutPi producers send: `""`, ISO-8601 with or without an
//! offset, epoch seconds or milliseconds (as numbers or strings), and the malformed
//! double-fraction form (`2025-09-13T00:41:13.919830.000Z`).

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use crate::repair::RepairKind;

/// Philippine Standard Time (no daylight saving): how a naive store timestamp is read.
pub const MANILA_OFFSET_SECS: i32 = 8 * 3600;

/// Earliest and latest plausible transaction years.
const MIN_YEAR: i32 = 2015;
const MAX_YEAR: i32 = 2100;

/// The outcome of reading a timestamp field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Absent, null or empty.
    Missing,
    /// Usable; `repair` says what had to be interpreted.
    Ok {
        at: DateTime<Utc>,
        repair: Option<RepairKind>,
    },
    /// Present but unusable (garbage or implausible).
    Invalid,
}

/// Reads a JSON value as a timestamp.
pub fn parse_value(value: Option<&Value>) -> Parsed {
    match value {
        None | Some(Value::Null) => Parsed::Missing,
        Some(Value::Number(n)) => n.as_f64().map_or(Parsed::Invalid, from_epoch),
        Some(Value::String(s)) => parse_str(s),
        Some(_) => Parsed::Invalid,
    }
}

/// Reads a string as a timestamp.
pub fn parse_str(raw: &str) -> Parsed {
    let s = raw.trim();
    if s.is_empty() {
        return Parsed::Missing;
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().map_or(Parsed::Invalid, from_epoch);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return plausible(at.with_timezone(&Utc), None);
    }
    if let Some(fixed) = drop_second_fraction(s)
        && let Ok(at) = DateTime::parse_from_rfc3339(&fixed)
    {
        return plausible(at.with_timezone(&Utc), Some(RepairKind::MalformedTimestamp));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return from_manila(naive);
        }
    }
    if let Ok(at) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return plausible(at.with_timezone(&Utc), None);
    }
    Parsed::Invalid
}

fn from_manila(naive: NaiveDateTime) -> Parsed {
    let Some(offset) = FixedOffset::east_opt(MANILA_OFFSET_SECS) else {
        return Parsed::Invalid;
    };
    match offset.from_local_datetime(&naive).single() {
        Some(at) => plausible(at.with_timezone(&Utc), Some(RepairKind::NaiveTimestamp)),
        None => Parsed::Invalid,
    }
}

fn from_epoch(n: f64) -> Parsed {
    if !n.is_finite() || n <= 0.0 {
        return Parsed::Invalid;
    }
    // Seconds reach 1e11 only in the year 5138; milliseconds pass 1e11 in 1973.
    let (millis, repair) = if n < 1e11 {
        (n * 1000.0, RepairKind::EpochSeconds)
    } else {
        (n, RepairKind::EpochMillis)
    };
    match Utc.timestamp_millis_opt(millis.round() as i64).single() {
        Some(at) => plausible(at, Some(repair)),
        None => Parsed::Invalid,
    }
}

fn plausible(at: DateTime<Utc>, repair: Option<RepairKind>) -> Parsed {
    use chrono::Datelike;
    if (MIN_YEAR..=MAX_YEAR).contains(&at.year()) {
        Parsed::Ok { at, repair }
    } else {
        Parsed::Invalid
    }
}

/// `…:13.919830.000Z` → `…:13.919830Z`: keeps the first fraction of the seconds.
fn drop_second_fraction(s: &str) -> Option<String> {
    let t = s.find('T').or_else(|| s.find(' '))?;
    let time = &s[t..];
    let first = time.find('.')?;
    let after_first = &time[first + 1..];
    let digits = after_first.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &after_first[digits..];
    let second = rest.strip_prefix('.')?;
    let extra = second.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &second[extra..];
    Some(format!("{}{tail}", &s[..t + first + 1 + digits]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn empty_and_null_are_missing() {
        assert_eq!(parse_value(None), Parsed::Missing);
        assert_eq!(parse_value(Some(&json!(null))), Parsed::Missing);
        assert_eq!(parse_value(Some(&json!(""))), Parsed::Missing);
        assert_eq!(parse_value(Some(&json!("  "))), Parsed::Missing);
    }

    #[test]
    fn iso_with_offset_and_zulu() {
        let want = at("2025-09-13T00:41:13Z");
        for s in ["2025-09-13T00:41:13Z", "2025-09-13T08:41:13+08:00"] {
            assert_eq!(
                parse_str(s),
                Parsed::Ok {
                    at: want,
                    repair: None
                }
            );
        }
    }

    #[test]
    fn epoch_seconds_and_millis_as_numbers_or_strings() {
        let want = at("2025-09-13T00:41:13Z");
        let secs = Parsed::Ok {
            at: want,
            repair: Some(RepairKind::EpochSeconds),
        };
        let millis = Parsed::Ok {
            at: want,
            repair: Some(RepairKind::EpochMillis),
        };
        assert_eq!(parse_value(Some(&json!(1757724073))), secs);
        assert_eq!(parse_value(Some(&json!("1757724073"))), secs);
        assert_eq!(parse_value(Some(&json!(1757724073000_i64))), millis);
        assert_eq!(parse_value(Some(&json!("1757724073000"))), millis);
    }

    #[test]
    fn double_fraction_is_repaired() {
        assert_eq!(
            parse_str("2025-09-13T00:41:13.919830.000Z"),
            Parsed::Ok {
                at: at("2025-09-13T00:41:13.919830Z"),
                repair: Some(RepairKind::MalformedTimestamp)
            }
        );
    }

    #[test]
    fn naive_time_is_read_as_manila() {
        assert_eq!(
            parse_str("2025-09-13 08:41:13"),
            Parsed::Ok {
                at: at("2025-09-13T00:41:13Z"),
                repair: Some(RepairKind::NaiveTimestamp)
            }
        );
    }

    #[test]
    fn garbage_and_implausible_are_invalid() {
        assert_eq!(parse_str("yesterday"), Parsed::Invalid);
        assert_eq!(parse_value(Some(&json!(12))), Parsed::Invalid);
        assert_eq!(parse_value(Some(&json!(-5))), Parsed::Invalid);
        assert_eq!(parse_value(Some(&json!({"t": 1}))), Parsed::Invalid);
        assert_eq!(parse_str("1999-01-01T00:00:00Z"), Parsed::Invalid);
    }
}
