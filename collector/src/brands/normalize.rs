//! Text normalisation for brand matching: lower case, accents and punctuation removed, pack sizes
//! and stray numbers dropped, so "Nescafé Classic 2g x 3" and "nescafe classic" become the same
//! words.
//!
//! The result keeps the surviving words back to back in one buffer, so any run of consecutive
//! words is a plain `&str` slice (its "compact" form, "lucky" + "me" = "luckyme"): the matcher
//! looks windows up without building strings.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Unit words that follow a quantity ("1.5 L", "85 g", "20 s", "x 3").
const UNITS: &[&str] = &[
    "ml", "l", "lt", "ltr", "ltrs", "liter", "liters", "litre", "litres", "g", "gm", "gms", "gr",
    "gram", "grams", "kg", "kgs", "kilo", "kilos", "mg", "mcg", "oz", "cl", "cc", "s", "pc", "pcs",
    "piece", "pieces", "pk", "pks", "x", "pack", "packs",
];

/// Normalised text: the kept words, back to back in `buf`, delimited by `words`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Normalized {
    buf: String,
    words: Vec<(u32, u32)>,
}

impl Normalized {
    /// Number of kept words.
    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Word `i`.
    pub(crate) fn word(&self, i: usize) -> &str {
        let (s, e) = self.words[i];
        &self.buf[s as usize..e as usize]
    }

    /// Words `start..end` written together ("lucky", "me" → "luckyme").
    pub(crate) fn compact(&self, start: usize, end: usize) -> &str {
        let s = self.words[start].0 as usize;
        let e = self.words[end - 1].1 as usize;
        &self.buf[s..e]
    }

    /// Words `start..end` separated by single spaces (for evidence and messages).
    pub(crate) fn spaced(&self, start: usize, end: usize) -> String {
        let mut out = String::with_capacity(self.compact(start, end).len() + end - start);
        for i in start..end {
            if i > start {
                out.push(' ');
            }
            out.push_str(self.word(i));
        }
        out
    }

    /// All words.
    pub(crate) fn words(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.word(i))
    }
}

/// Normalises `input`. A standalone number is kept only when `keep_number` says so (the
/// dictionary's own numbers, such as "555" or the "7" of "Lucky 7"); quantities with a unit
/// ("1.5L", "290 ml", "x3") are always dropped.
pub(crate) fn normalize(input: &str, keep_number: impl Fn(&str) -> bool) -> Normalized {
    let raw = split_words(input);
    let mut out = Normalized {
        buf: String::with_capacity(raw.buf.len()),
        words: Vec::with_capacity(raw.words.len()),
    };
    let n = raw.len();
    let mut i = 0;
    while i < n {
        let w = raw.word(i);
        let keep = if is_number(w) {
            if keep_number(w) {
                true
            } else {
                // "290 ml": the unit goes with its number.
                if i + 1 < n && UNITS.contains(&raw.word(i + 1)) {
                    i += 1;
                }
                false
            }
        } else if is_quantity(w) {
            false
        } else {
            // "x 3": the multiplication sign goes with the number after it.
            !(w == "x" && i + 1 < n && is_number(raw.word(i + 1)))
        };
        if keep {
            let s = out.buf.len() as u32;
            out.buf.push_str(w);
            out.words.push((s, out.buf.len() as u32));
        }
        i += 1;
    }
    out
}

/// Normalises a dictionary entry: every number is kept (it is part of the name).
pub(crate) fn normalize_key(input: &str) -> Normalized {
    normalize(input, |_| true)
}

/// Splits into lower-case, accent-free alphanumeric words. Apostrophes join ("Johnson's" →
/// "johnsons"); a decimal point or comma between digits stays ("1.5l"); everything else breaks.
fn split_words(input: &str) -> Normalized {
    let mut out = Normalized {
        buf: String::with_capacity(input.len()),
        words: Vec::new(),
    };
    let mut start = 0usize;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                out.buf.push(c.to_ascii_lowercase());
                continue;
            }
            match c {
                '\'' | '`' => continue,
                '.' | ','
                    if out.buf.len() > start
                        && out.buf.as_bytes()[out.buf.len() - 1].is_ascii_digit()
                        && chars.peek().is_some_and(char::is_ascii_digit) =>
                {
                    out.buf.push('.');
                    continue;
                }
                _ => end_word(&mut out, &mut start),
            }
        } else if matches!(c, '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{00B4}') {
            continue; // typographic apostrophes join like '
        } else {
            decompose_compatible(c, |d| {
                if is_combining_mark(d) {
                    return;
                }
                for l in d.to_lowercase() {
                    if l.is_alphanumeric() {
                        out.buf.push(l);
                    } else {
                        end_word(&mut out, &mut start);
                    }
                }
            });
        }
    }
    end_word(&mut out, &mut start);
    out
}

fn end_word(out: &mut Normalized, start: &mut usize) {
    if out.buf.len() > *start {
        out.words.push((*start as u32, out.buf.len() as u32));
        *start = out.buf.len();
    }
}

/// "12", "1.5", "1,000" (commas became points).
fn is_number(w: &str) -> bool {
    let b = w.as_bytes();
    !b.is_empty() && b[0].is_ascii_digit() && b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
}

/// A number with a unit attached ("1.5l", "85g", "20s", "3pcs", "2x") or a multiplier ("x3").
fn is_quantity(w: &str) -> bool {
    let b = w.as_bytes();
    if b.len() >= 2 && b[0] == b'x' && b[1..].iter().all(u8::is_ascii_digit) {
        return true;
    }
    let digits = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'.')
        .count();
    digits > 0 && b[0].is_ascii_digit() && UNITS.contains(&&w[digits..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        let n = normalize(s, |w| w == "555");
        n.words().map(str::to_owned).collect()
    }

    #[test]
    fn case_accents_and_punctuation() {
        assert_eq!(words("Nescafé Classic"), ["nescafe", "classic"]);
        assert_eq!(words("TRESemmé"), ["tresemme"]);
        assert_eq!(words("Marca Piña"), ["marca", "pina"]);
        assert_eq!(words("Johnson’s Baby"), ["johnsons", "baby"]);
        assert_eq!(words("Mama Sita's"), ["mama", "sitas"]);
        assert_eq!(words("Cream-O"), ["cream", "o"]);
        assert_eq!(words("Head & Shoulders!!"), ["head", "shoulders"]);
        assert_eq!(words("  "), Vec::<String>::new());
        assert_eq!(words("ＣＯＫＥ"), ["coke"]); // full-width letters
    }

    #[test]
    fn pack_sizes_and_numbers_are_dropped() {
        assert_eq!(words("Coke 1.5L"), ["coke"]);
        assert_eq!(words("koka 1,5 L"), ["koka"]);
        assert_eq!(words("Piattos Cheese 85g x 3"), ["piattos", "cheese"]);
        assert_eq!(words("Piattos 40g x3"), ["piattos"]);
        assert_eq!(words("Coke Mismo 290 ml"), ["coke", "mismo"]);
        assert_eq!(words("Marlboro Red 20s"), ["marlboro", "red"]);
        assert_eq!(words("Tide 2 pcs"), ["tide"]);
        assert_eq!(words("Lucky Me 12 sachets"), ["lucky", "me", "sachets"]);
        assert_eq!(words("555 Sardines 155g"), ["555", "sardines"]);
        assert_eq!(words("C2 Apple 230ml"), ["c2", "apple"]);
        assert_eq!(words("7Up 1L"), ["7up"]);
        assert_eq!(words("Nescafe 3in1"), ["nescafe", "3in1"]);
    }

    #[test]
    fn compact_windows_are_slices() {
        let n = normalize("Lucky Me! Pancit Canton", |_| false);
        assert_eq!(n.compact(0, 2), "luckyme");
        assert_eq!(n.compact(2, 4), "pancitcanton");
        assert_eq!(n.spaced(0, 4), "lucky me pancit canton");
    }
}
