//! Dates and times as back offices write them: ISO, `MM/DD/YYYY` or `DD/MM/YYYY` (the order
//! decided per column, [`ColumnReading::decide`]), month names in English or Filipino
//! (`Marso 20, 2024`), Excel serials and fractions of a day, epoch seconds or milliseconds;
//! naive times are Manila's.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use scout_common::timestamp;

use super::values::{ColumnReading, DateOrder};
use super::{Cell, shapes};

/// A point in time as a file gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// A date without a time of day.
    Date(NaiveDate),
    /// Wall-clock time in Asia/Manila.
    Local(NaiveDateTime),
    Instant(DateTime<Utc>),
}

impl When {
    /// RFC 3339 text: local times with Manila's +08:00, instants in UTC.
    pub fn to_rfc3339(self) -> String {
        match self {
            When::Date(d) => shapes::manila_midnight(d)
                .unwrap_or_else(|| format!("{}T00:00:00+08:00", d.format("%Y-%m-%d"))),
            When::Local(t) => shapes::manila_time(t)
                .unwrap_or_else(|| format!("{}+08:00", t.format("%Y-%m-%dT%H:%M:%S"))),
            When::Instant(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    pub fn has_time(self) -> bool {
        !matches!(self, When::Date(_))
    }
}

const DATE_FORMATS_MDY: [&str; 4] = ["%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y", "%m.%d.%Y"];
const DATE_FORMATS_DMY: [&str; 4] = ["%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y"];
const DATE_FORMATS_NAMED: [&str; 9] = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %B %Y",
    "%b %d %Y",
    "%B %d %Y",
];
const TIME_FORMATS: [&str; 6] = [
    "%H:%M:%S",
    "%H:%M",
    "%I:%M:%S %p",
    "%I:%M %p",
    "%I:%M:%S%p",
    "%I:%M%p",
];

/// Reads a date or time of day written in text.
pub fn parse_when(raw: &str, order: DateOrder) -> Option<When> {
    let s = raw.trim();
    if s.len() < 6 || s.len() > 40 || !s.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    // Cheap refusals before any format is tried: a date starts with a digit or a month or day
    // name, and a date written in digits alone has separators (`/`, `-`, `.`) but no comma.
    let first = s.as_bytes()[0];
    if !first.is_ascii_digit() && !starts_with_calendar_word(s) {
        return None;
    }
    if !s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.contains(',')
        && !s.contains(['/', '-', ':'])
    {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        // Epoch seconds or milliseconds only: a bare 8-digit number is read as a date elsewhere.
        if s.len() >= 9 {
            return instant(timestamp::parse_str(s));
        }
        return NaiveDate::parse_from_str(s, "%Y%m%d")
            .ok()
            .filter(plausible_date)
            .map(When::Date);
    }
    if (s.contains('T') || (s.len() > 19 && s.as_bytes().get(4) == Some(&b'-')))
        && let Some(w) = instant(timestamp::parse_str(s))
    {
        return Some(w);
    }
    let (date_part, time_part) = split_date_time(s);
    let date = parse_date(date_part, order)?;
    match time_part {
        None => Some(When::Date(date)),
        Some(t) => parse_time(t).map(|time| When::Local(date.and_time(time))),
    }
}

/// Filipino month names and their usual abbreviations, with the English name chrono reads.
const FILIPINO_MONTHS: [(&str, &str); 24] = [
    ("enero", "January"),
    ("pebrero", "February"),
    ("marso", "March"),
    ("abril", "April"),
    ("mayo", "May"),
    ("hunyo", "June"),
    ("hulyo", "July"),
    ("agosto", "August"),
    ("setyembre", "September"),
    ("oktubre", "October"),
    ("nobyembre", "November"),
    ("disyembre", "December"),
    ("ene", "Jan"),
    ("peb", "Feb"),
    ("mar", "Mar"),
    ("abr", "Apr"),
    ("hun", "Jun"),
    ("hul", "Jul"),
    ("ago", "Aug"),
    ("set", "Sep"),
    ("sept", "Sep"),
    ("okt", "Oct"),
    ("nob", "Nov"),
    ("dis", "Dec"),
];

/// The date text with a Filipino month name (`Marso 20, 2024`, `20-Okt-2024`) in English;
/// `None` when it has none.
fn english_month(s: &str) -> Option<String> {
    let start = s.find(|c: char| c.is_ascii_alphabetic())?;
    let len = s[start..]
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len() - start);
    let word = s[start..start + len].to_ascii_lowercase();
    let (_, english) = FILIPINO_MONTHS
        .iter()
        .find(|(f, e)| *f == word && !e.eq_ignore_ascii_case(&word))?;
    Some(format!("{}{english}{}", &s[..start], &s[start + len..]))
}

fn starts_with_calendar_word(s: &str) -> bool {
    const WORDS: [&str; 29] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "mon",
        "tue", "wed", "thu", "fri", "sat", "sun", "ene", "peb", "abr", "hun", "hul", "ago", "set",
        "okt", "nob", "dis",
    ];
    s.get(..3)
        .is_some_and(|p| WORDS.iter().any(|w| p.eq_ignore_ascii_case(w)))
}

fn instant(parsed: timestamp::Parsed) -> Option<When> {
    match parsed {
        timestamp::Parsed::Ok { at, .. } => Some(When::Instant(at)),
        _ => None,
    }
}

fn plausible_date(d: &NaiveDate) -> bool {
    (1990..=2100).contains(&d.year())
}

/// Splits `03/14/2025 2:05 PM` into date and time text.
fn split_date_time(s: &str) -> (&str, Option<&str>) {
    let Some(colon) = s.find(':') else {
        return (s, None);
    };
    let before = &s[..colon];
    match before.rfind([' ', 'T']) {
        Some(space) => (
            s[..space].trim_end_matches(',').trim(),
            Some(s[space + 1..].trim()),
        ),
        None => (s, None),
    }
}

fn parse_date(s: &str, order: DateOrder) -> Option<NaiveDate> {
    if let Some(d) = shapes::iso_date(s).filter(plausible_date) {
        return Some(d);
    }
    if let Some(english) = english_month(s) {
        return parse_date(&english, order);
    }
    let numeric = match order {
        DateOrder::Mdy => DATE_FORMATS_MDY.iter().chain(DATE_FORMATS_DMY.iter()),
        DateOrder::Dmy => DATE_FORMATS_DMY.iter().chain(DATE_FORMATS_MDY.iter()),
    };
    numeric
        .chain(DATE_FORMATS_NAMED.iter())
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
        .map(|d| {
            // `%y` years come out as 0025 with some inputs; two-digit years are this century.
            if d.year() < 100 {
                d.with_year(d.year() + 2000).unwrap_or(d)
            } else {
                d
            }
        })
        .filter(plausible_date)
}

/// Reads a time of day (`14:05`, `2:05 PM`, `14:05:33`).
pub fn parse_time(raw: &str) -> Option<NaiveTime> {
    let s = raw.trim();
    if let Some(t) = shapes::clock(s) {
        return Some(t);
    }
    let upper = s.to_ascii_uppercase();
    let upper = upper.replace("A.M.", "AM").replace("P.M.", "PM");
    TIME_FORMATS
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(&upper, f).ok())
        .or_else(|| {
            // `14:05:33.250` and `14:05:33+08:00` keep their clock part.
            upper
                .get(..8)
                .and_then(|t| NaiveTime::parse_from_str(t, "%H:%M:%S").ok())
        })
}

/// An Excel serial day number (days since 1899-12-30, fraction = time of day) as Manila time.
pub fn excel_serial(serial: f64) -> Option<When> {
    if !(20_000.0..=80_000.0).contains(&serial) {
        return None;
    }
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let millis = (serial * 86_400_000.0).round() as i64;
    let at = base.checked_add_signed(Duration::milliseconds(millis))?;
    Some(if serial.fract() == 0.0 {
        When::Date(at.date())
    } else {
        When::Local(at)
    })
}

/// A date or time from a typed cell (`serials` says numbers are Excel day numbers).
pub fn cell_when(cell: &Cell, reading: ColumnReading, serials: bool) -> Option<When> {
    match cell {
        Cell::Naive(t) if t.time() == NaiveTime::MIN => Some(When::Date(t.date())),
        Cell::Naive(t) => Some(When::Local(*t)),
        Cell::Instant(t) => Some(When::Instant(*t)),
        Cell::Text(s) => parse_when(s, reading.date_order).or_else(|| {
            let n: f64 = s.trim().parse().ok()?;
            if serials { excel_serial(n) } else { None }
        }),
        Cell::Int(i) if *i > 1_000_000_000 => instant(timestamp::parse_str(&i.to_string())),
        Cell::Int(i) if serials => excel_serial(*i as f64),
        Cell::Float(f) if *f > 1e9 => instant(timestamp::parse_str(&format!("{f:.0}"))),
        Cell::Float(f) if serials => excel_serial(*f),
        _ => None,
    }
}

/// A time of day from a typed cell (Excel stores times as fractions of a day).
pub fn cell_time(cell: &Cell) -> Option<NaiveTime> {
    match cell {
        Cell::Text(s) => parse_time(s).or_else(|| {
            // A spreadsheet's time of day written out as its fraction of a day.
            s.trim()
                .parse::<f64>()
                .ok()
                .and_then(|f| cell_time(&Cell::Float(f)))
        }),
        Cell::Naive(t) => Some(t.time()),
        Cell::Float(f) if (0.0..1.0).contains(f) => {
            let secs = (f * 86_400.0).round() as u32;
            NaiveTime::from_num_seconds_from_midnight_opt(secs % 86_400, 0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_in_many_shapes() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let local =
            |s: &str| When::Local(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap());
        assert_eq!(
            parse_when("2025-03-14", DateOrder::Mdy),
            Some(When::Date(d(2025, 3, 14)))
        );
        assert_eq!(
            parse_when("03/04/2025", DateOrder::Dmy),
            Some(When::Date(d(2025, 4, 3)))
        );
        assert_eq!(
            parse_when("03/04/2025", DateOrder::Mdy),
            Some(When::Date(d(2025, 3, 4)))
        );
        assert_eq!(
            parse_when("3/14/2025 2:05 PM", DateOrder::Mdy),
            Some(local("2025-03-14 14:05:00"))
        );
        assert_eq!(
            parse_when("Mar 14, 2025", DateOrder::Mdy),
            Some(When::Date(d(2025, 3, 14)))
        );
        assert_eq!(
            parse_when("14-Mar-2025", DateOrder::Mdy),
            Some(When::Date(d(2025, 3, 14)))
        );
        assert_eq!(
            parse_when("2025-03-14 08:00:00", DateOrder::Mdy),
            Some(local("2025-03-14 08:00:00"))
        );
        let epoch = parse_when("1741910400", DateOrder::Mdy).unwrap();
        assert_eq!(epoch.to_rfc3339(), "2025-03-14T00:00:00Z");
        assert_eq!(excel_serial(45730.5), Some(local("2025-03-14 12:00:00")));
        assert_eq!(parse_when("hello world", DateOrder::Mdy), None);
        assert_eq!(parse_when("12.50", DateOrder::Mdy), None);
        assert_eq!(parse_time("2:05 p.m."), NaiveTime::from_hms_opt(14, 5, 0));
        assert_eq!(
            parse_when("14-Mar-25", DateOrder::Mdy),
            Some(When::Date(d(2025, 3, 14)))
        );
        assert_eq!(
            parse_when("3/14/25", DateOrder::Mdy),
            Some(When::Date(d(2025, 3, 14)))
        );
    }
}
