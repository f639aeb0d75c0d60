//! Values as back offices write them: money (`₱1,234.50`, `PHP 1,234.50`, `P1,234.50`,
//! `(1,234.50)`, `1.234,50`) as exact integer centavos, plain numbers, and dates and times
//! (ISO, `MM/DD/YYYY` or `DD/MM/YYYY` decided per column, month names, Excel serials, epoch
//! seconds or milliseconds). How a column is read (decimal comma, day order) is decided once
//! over its values ([`ColumnReading::decide`]), never per value.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Serialize;

use super::{Cell, shapes};
use scout_common::timestamp;

/// Which number comes first in a slashed date of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// `03/14/2025`: the usual Philippine and US order, and the default when nothing decides.
    #[default]
    Mdy,
    /// `14/03/2025`.
    Dmy,
}

/// How one column's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnReading {
    /// `1.234,50`: the comma is the decimal mark.
    pub decimal_comma: bool,
    pub date_order: DateOrder,
    /// Slashed dates that no value decided (every day ≤ 12): the order is the default, a guess.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub date_order_guessed: bool,
    /// Amounts in whole centavos, as the column's header says (`total_centavos`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub centavos: bool,
}

/// The reading of every column of a table.
pub type ColumnReadings = Vec<ColumnReading>;

impl ColumnReading {
    /// Decides from the column's values: a comma followed by one or two digits at the end
    /// (`12,50`) or a dot followed by exactly three (`1.234`) against the opposite shapes; a first
    /// number above 12 in a slashed date means day first, a second above 12 month first.
    pub fn decide<'a>(values: impl Iterator<Item = &'a Cell>) -> Self {
        let (mut comma, mut dot, mut day_first, mut month_first, mut slashed) = (0, 0, 0, 0, 0);
        for cell in values {
            let Cell::Text(s) = cell else { continue };
            let s = s.trim();
            match decimal_evidence(s) {
                Some(true) => comma += 1,
                Some(false) => dot += 1,
                None => {}
            }
            if let Some((a, b)) = slashed_pair(s) {
                slashed += 1;
                if a > 12 && b <= 12 {
                    day_first += 1;
                } else if b > 12 && a <= 12 {
                    month_first += 1;
                }
            }
        }
        Self {
            decimal_comma: comma > dot,
            date_order: if day_first > month_first {
                DateOrder::Dmy
            } else {
                DateOrder::Mdy
            },
            date_order_guessed: slashed > 0 && day_first == 0 && month_first == 0,
            centavos: false,
        }
    }
}

/// `Some(true)` for a decimal comma shape, `Some(false)` for a decimal dot shape.
fn decimal_evidence(s: &str) -> Option<bool> {
    let digits_only = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let body = s.trim_end_matches([')', '-']).trim();
    if let Some(i) = body.rfind(',') {
        let tail = &body[i + 1..];
        let head_has_dot = body[..i].contains('.');
        if digits_only(tail) && (tail.len() <= 2 || head_has_dot) {
            return Some(true);
        }
    }
    if let Some(i) = body.rfind('.') {
        let tail = &body[i + 1..];
        let head_has_comma = body[..i].contains(',');
        if digits_only(tail) && (tail.len() != 3 || head_has_comma) {
            return Some(false);
        }
        // `1.234` with no comma before it: thousands under a decimal comma (or 1.234 units).
        if digits_only(tail) && tail.len() == 3 && body[..i].contains('.') {
            return Some(true);
        }
    }
    None
}

fn slashed_pair(s: &str) -> Option<(u32, u32)> {
    let date = s.split([' ', 'T']).next()?;
    let mut parts = date.split(['/', '-', '.']);
    let a = parts.next()?;
    let b = parts.next()?;
    let c = parts.next()?;
    if a.len() > 2 || b.len() > 2 || !(c.len() == 4 || c.len() == 2) || parts.next().is_some() {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Reads money as integer centavos. `decimal_comma` says how the column writes decimals.
/// Fractions beyond centavos are rounded half away from zero; anything else than a currency
/// mark, sign, parentheses, digits and separators makes it unreadable (`None`).
pub fn parse_money(raw: &str, decimal_comma: bool) -> Option<i64> {
    let (negative, digits) = money_body(raw)?;
    let (int_part, frac_part) = split_number(digits, decimal_comma)?;
    let whole: i64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut frac: i64 = 0;
    let mut round_up = false;
    for (i, b) in frac_part.bytes().enumerate() {
        let d = i64::from(b - b'0');
        match i {
            0 => frac += d * 10,
            1 => frac += d,
            2 => round_up = d >= 5,
            _ => {}
        }
    }
    let centavos = whole
        .checked_mul(100)?
        .checked_add(frac + i64::from(round_up))?;
    Some(if negative { -centavos } else { centavos })
}

/// Unit words a quantity may carry (`2 pcs`, `1.5 kg`, `3x`).
const QUANTITY_UNITS: [&str; 16] = [
    "pcs", "pc", "piece", "pieces", "piraso", "kg", "kgs", "g", "ml", "l", "x", "pack", "packs",
    "sachet", "sachets", "bottles",
];

/// Reads a plain number (quantities, ages) written with the column's decimal mark, with or
/// without a unit word after it.
pub fn parse_number(raw: &str, decimal_comma: bool) -> Option<f64> {
    let trimmed = raw.trim();
    let unitless = match trimmed.rfind(|c: char| c.is_ascii_digit()) {
        Some(i) if i + 1 < trimmed.len() => {
            let unit = trimmed[i + 1..]
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if QUANTITY_UNITS.contains(&unit.as_str()) {
                &trimmed[..=i]
            } else {
                trimmed
            }
        }
        _ => trimmed,
    };
    let (negative, digits) = money_body(unitless)?;
    let (int_part, frac_part) = split_number(digits, decimal_comma)?;
    let text = format!(
        "{}{}.{}",
        if negative { "-" } else { "" },
        if int_part.is_empty() {
            "0"
        } else {
            int_part.as_str()
        },
        if frac_part.is_empty() {
            "0"
        } else {
            frac_part.as_str()
        }
    );
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Strips currency marks, spaces and signs: (negative, the digits and separators).
fn money_body(raw: &str) -> Option<(bool, &str)> {
    let mut s = raw.trim();
    if s.is_empty() {
        return None;
    }
    let mut negative = false;
    if let Some(inner) = s.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        negative = true;
        s = inner.trim();
    }
    if let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_prefix('−')) {
        negative = !negative;
        s = rest.trim_start();
    } else if let Some(rest) = s.strip_suffix('-') {
        negative = !negative;
        s = rest.trim_end();
    }
    s = strip_currency(s);
    if let Some(rest) = s.strip_prefix('-') {
        negative = !negative;
        s = rest.trim_start();
    }
    if s.is_empty() || !s.bytes().next()?.is_ascii_digit() && !s.starts_with(['.', ',']) {
        return None;
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b',' | b'.' | b' ' | b'\''))
    {
        return None;
    }
    Some((negative, s))
}

fn strip_currency(s: &str) -> &str {
    let s = s.trim();
    for prefix in ["₱", "PHP", "Php", "php", "PhP", "P", "Rs"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let rest = rest.trim_start_matches(['.', ' ']);
            if prefix != "Rs" && rest.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                return rest.trim();
            }
        }
    }
    for suffix in ["₱", "PHP", "php", "Php"] {
        if let Some(rest) = s.strip_suffix(suffix) {
            return rest.trim();
        }
    }
    s
}

/// Splits digits into integer and fraction digits, checking the separators.
fn split_number(s: &str, decimal_comma: bool) -> Option<(String, String)> {
    let (decimal, thousands) = if decimal_comma {
        (',', ['.', ' ', '\''])
    } else {
        ('.', [',', ' ', '\''])
    };
    let (int_raw, frac_raw) = match s.rfind(decimal) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    if !frac_raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let groups: Vec<&str> = int_raw.split(|c| thousands.contains(&c)).collect();
    if groups.len() > 1 && groups[1..].iter().any(|g| g.len() != 3) {
        return None;
    }
    let int: String = groups.concat();
    if !int.bytes().all(|b| b.is_ascii_digit()) || (int.is_empty() && frac_raw.is_empty()) {
        return None;
    }
    Some((int, frac_raw.to_owned()))
}

/// Money from a typed cell: floats round to the nearest centavo.
pub fn cell_money(cell: &Cell, reading: ColumnReading) -> Option<i64> {
    if reading.centavos {
        return cell_number(cell, reading)
            .filter(|f| f.abs() < 1e17)
            .map(|f| f.round() as i64);
    }
    match cell {
        Cell::Int(i) => i.checked_mul(100),
        Cell::Float(f) if f.is_finite() && f.abs() < 1e15 => Some((f * 100.0).round() as i64),
        Cell::Text(s) => parse_money(s, reading.decimal_comma),
        _ => None,
    }
}

/// A number from a typed cell.
pub fn cell_number(cell: &Cell, reading: ColumnReading) -> Option<f64> {
    match cell {
        Cell::Int(i) => Some(*i as f64),
        Cell::Float(f) if f.is_finite() => Some(*f),
        Cell::Text(s) => parse_number(s, reading.decimal_comma),
        _ => None,
    }
}

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

/// Centavos as pesos text (`123456` → `1234.56`), for evidence and reports.
pub fn format_centavos(centavos: i64) -> String {
    let sign = if centavos < 0 { "-" } else { "" };
    let abs = centavos.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_as_filipinos_write_it() {
        for (text, want) in [
            ("₱1,234.50", 123_450),
            ("PHP 1,234.50", 123_450),
            ("Php1,234.5", 123_450),
            ("P1,234.50", 123_450),
            ("(1,234.50)", -123_450),
            ("-₱12", -1_200),
            ("₱ 0.75", 75),
            ("1234", 123_400),
            ("12.345", 1_235),
            (".50", 50),
        ] {
            assert_eq!(parse_money(text, false), Some(want), "{text}");
        }
        assert_eq!(parse_money("1.234,50", true), Some(123_450));
        assert_eq!(parse_money("₱ 12,5", true), Some(1_250));
        for bad in ["", "abc", "12abc", "1,23.4", "PHP", "P-", "Pepsi 1.5"] {
            assert_eq!(parse_money(bad, false), None, "{bad}");
        }
    }

    #[test]
    fn a_column_decides_its_decimal_mark_and_day_order() {
        let cells = |v: &[&str]| {
            v.iter()
                .map(|s| Cell::Text(s.to_string()))
                .collect::<Vec<_>>()
        };
        let comma = ColumnReading::decide(cells(&["1.234,50", "12,00", "7"]).iter());
        assert!(comma.decimal_comma);
        let dot = ColumnReading::decide(cells(&["1,234.50", "12.00", "1,000"]).iter());
        assert!(!dot.decimal_comma);
        let dmy = ColumnReading::decide(cells(&["03/04/2025", "25/04/2025"]).iter());
        assert_eq!(dmy.date_order, DateOrder::Dmy);
        let mdy = ColumnReading::decide(cells(&["03/04/2025", "04/25/2025"]).iter());
        assert_eq!(mdy.date_order, DateOrder::Mdy);
    }

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
        assert_eq!(parse_number("2 pcs", false), Some(2.0));
        assert_eq!(parse_number("1,5 kg", true), Some(1.5));
        assert_eq!(parse_number("2 boxes of 12", false), None);
    }
}
