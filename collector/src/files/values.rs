//! Values as back offices write them: money (`₱1,234.50`, `PHP 1,234.50`, `P1,234.50`,
//! `(1,234.50)`, `1.234,50`) as exact integer centavos and plain numbers; dates and times are
//! `when.rs`'s. How a column is read (decimal comma, day order) is decided once over its values
//! ([`ColumnReading::decide`]), never per value.

use serde::Serialize;

use super::Cell;

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
    fn numbers_with_their_units() {
        assert_eq!(parse_number("2 pcs", false), Some(2.0));
        assert_eq!(parse_number("1,5 kg", true), Some(1.5));
        assert_eq!(parse_number("2 boxes of 12", false), None);
    }
}
