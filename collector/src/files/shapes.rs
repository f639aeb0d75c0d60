//! The everyday date and time shapes (`2025-03-14`, `14:05`, `14:05:33`, RFC 3339 in Manila
//! time) read and written directly. Chrono's format strings are parsed again on every call and
//! `values.rs` tries up to a dozen of them per cell, which a file of a million rows feels; any
//! other shape (or a value these refuse) goes through the formats as before, so the results are
//! the same.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// `YYYY-MM-DD` exactly (no other date format of `values.rs` reads this shape).
pub(super) fn iso_date(s: &str) -> Option<NaiveDate> {
    let n = numbers(s, &[(0, 4), (5, 2), (8, 2)], 10, &[4, 7], b'-')?;
    NaiveDate::from_ymd_opt(i32::try_from(n[0]).ok()?, n[1], n[2])
}

/// `HH:MM` or `HH:MM:SS` exactly, as a time of day.
pub(super) fn clock(s: &str) -> Option<NaiveTime> {
    let n = numbers(s, &[(0, 2), (3, 2)], 5, &[2], b':')
        .or_else(|| numbers(s, &[(0, 2), (3, 2), (6, 2)], 8, &[2, 5], b':'))?;
    NaiveTime::from_hms_opt(n[0], n[1], n.get(2).copied().unwrap_or(0))
}

/// `YYYY-MM-DDT00:00:00+08:00`, as `%Y-%m-%d` writes it (four-digit years only).
pub(super) fn manila_midnight(d: NaiveDate) -> Option<String> {
    let (y, m, day) = (d.year(), d.month(), d.day());
    (0..=9999)
        .contains(&y)
        .then(|| format!("{y:04}-{m:02}-{day:02}T00:00:00+08:00"))
}

/// `YYYY-MM-DDTHH:MM:SS+08:00`, as `%Y-%m-%dT%H:%M:%S` writes it (four-digit years, no leap
/// second).
pub(super) fn manila_time(t: NaiveDateTime) -> Option<String> {
    let (y, m, d) = (t.year(), t.month(), t.day());
    let (h, mi, s) = (t.hour(), t.minute(), t.second());
    ((0..=9999).contains(&y) && t.nanosecond() < 1_000_000_000)
        .then(|| format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}+08:00"))
}

/// The numbers of `s` when it is exactly `len` bytes with ASCII digits at `fields` (start,
/// width) and `separator` at each of `at`.
fn numbers(
    s: &str,
    fields: &[(usize, usize)],
    len: usize,
    at: &[usize],
    separator: u8,
) -> Option<Vec<u32>> {
    let b = s.as_bytes();
    if b.len() != len || at.iter().any(|&i| b[i] != separator) {
        return None;
    }
    let number = |&(start, width): &(usize, usize)| {
        b[start..start + width].iter().try_fold(0_u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    fields.iter().map(number).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_read_and_write_as_the_formats_do() {
        // What a shape reads is what the formats read; other shapes are left to the formats.
        for s in [
            "2025-03-14",
            "1999-12-31",
            "2025-02-30",
            "2025-3-14",
            "25-03-14x",
        ] {
            let formats = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
            assert_eq!(iso_date(s), formats.filter(|_| s.len() == 10), "{s}");
        }
        for s in [
            "14:05", "08:00", "23:59:59", "24:00", "14:5", "1405", "14:05:6",
        ] {
            let formats = NaiveTime::parse_from_str(s, "%H:%M:%S")
                .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
                .ok();
            assert_eq!(
                clock(s),
                formats.filter(|_| matches!(s.len(), 5 | 8)),
                "{s}"
            );
        }
        let at = NaiveDate::from_ymd_opt(2025, 3, 4)
            .and_then(|d| d.and_hms_opt(7, 5, 9))
            .unwrap_or_default();
        assert_eq!(
            manila_time(at),
            Some(format!("{}+08:00", at.format("%Y-%m-%dT%H:%M:%S")))
        );
        assert_eq!(
            manila_midnight(at.date()),
            Some(format!("{}T00:00:00+08:00", at.date().format("%Y-%m-%d")))
        );
    }
}
