//! The fuzzy step: a misspelled word or two ("safegard", "kopico", "hed en sholders") against the
//! dictionary's names and strong aliases, by Jaro-Winkler similarity (`strsim`).
//!
//! Both sides are first folded phonetically the way Taglish spelling varies (c/q → k, z → s,
//! v → b, ph → f, y → i, doubled letters once), so "koka" and "coca" meet. Candidates are
//! prefiltered, cheapest first: same first folded letter (the bucket), length within a quarter,
//! and letter sets differing by at most three letters (a 32-bit mask each), so Jaro-Winkler runs
//! on a handful of keys per window. Names shorter than five letters are never fuzzy-matched: at
//! that length one letter changes the word.
//!
//! Jaro-Winkler rewards a shared beginning, so on its own it takes everyday words that start like
//! a brand for the brand ("bagoong" ~ "Baygon", "cleanser" ~ "Clear Men", "pall mall" ~
//! "Palmolive"). A match must therefore also be a few edits away: its Damerau-Levenshtein
//! similarity (edits over the longer length) must reach [`MIN_EDIT_SIMILARITY`]. A misspelling
//! drops, doubles or swaps a letter or two ("safegaurd", "colgte", "marlbro"); a different word
//! differs in many.

/// Default similarity threshold for a key of `len` letters; `None` = not fuzzy-matched.
pub(crate) fn default_threshold(len: usize) -> Option<f64> {
    match len {
        0..=4 => None,
        5 => Some(0.94),
        6 | 7 => Some(0.91),
        _ => Some(0.89),
    }
}

/// Appends the phonetic fold of `s` (ASCII lower case expected; other text is copied as is).
pub(crate) fn fold(s: &str, out: &mut String) {
    if !s.is_ascii() {
        out.push_str(s);
        return;
    }
    let mut prev = 0u8;
    for &b in s.as_bytes() {
        let c = match b {
            b'c' | b'q' => b'k',
            b'z' => b's',
            b'v' => b'b',
            b'y' => b'i',
            other => other,
        };
        if c == b'h' && prev == b'p' {
            out.pop();
            out.push('f');
            prev = b'f';
            continue;
        }
        if c == prev {
            continue;
        }
        out.push(c as char);
        prev = c;
    }
}

/// Letters present (bit per a..z, digits share the rest): a misspelling keeps almost all.
fn letters(s: &str) -> u32 {
    s.bytes().fold(0, |m, b| match b {
        b'a'..=b'z' => m | 1 << (b - b'a'),
        b'0'..=b'9' => m | 1 << (26 + (b - b'0') % 6),
        _ => m,
    })
}

/// Letter-set difference above which two words cannot be a misspelling of each other at the
/// thresholds used here.
const MAX_LETTER_DIFF: u32 = 3;

/// Least Damerau-Levenshtein similarity (1 − edits ÷ longer length) of a fuzzy match: one edit in
/// four letters.
pub(crate) const MIN_EDIT_SIMILARITY: f64 = 0.75;

/// One fuzzy-matchable key.
#[derive(Debug)]
pub(crate) struct FuzzyKey {
    pub(crate) folded: Box<str>,
    letters: u32,
    pub(crate) brand: u32,
    /// The key as written in the dictionary (normalised, spaced).
    pub(crate) display: Box<str>,
    pub(crate) threshold: f64,
}

/// Keys bucketed by their first folded byte.
#[derive(Debug)]
pub(crate) struct FuzzyIndex {
    buckets: Vec<Vec<FuzzyKey>>,
    len: usize,
}

impl Default for FuzzyIndex {
    fn default() -> Self {
        Self {
            buckets: (0..256).map(|_| Vec::new()).collect(),
            len: 0,
        }
    }
}

impl FuzzyIndex {
    /// Adds `compact` (a normalised key written together) for `brand`.
    pub(crate) fn insert(&mut self, compact: &str, display: &str, brand: u32, threshold: f64) {
        let mut folded = String::with_capacity(compact.len());
        fold(compact, &mut folded);
        let Some(&first) = folded.as_bytes().first() else {
            return;
        };
        let bucket = &mut self.buckets[first as usize];
        if bucket
            .iter()
            .any(|k| k.brand == brand && *k.folded == *folded)
        {
            return;
        }
        bucket.push(FuzzyKey {
            letters: letters(&folded),
            folded: folded.into_boxed_str(),
            brand,
            display: display.into(),
            threshold,
        });
        self.len += 1;
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The most similar key at or above its threshold, with the similarity.
    pub(crate) fn best(&self, compact: &str, scratch: &mut String) -> Option<(&FuzzyKey, f64)> {
        scratch.clear();
        fold(compact, scratch);
        let q = scratch.as_str();
        let first = *q.as_bytes().first()?;
        let qlen = q.len();
        let qletters = letters(q);
        let mut best: Option<(&FuzzyKey, f64)> = None;
        for key in &self.buckets[first as usize] {
            let klen = key.folded.len();
            if klen.abs_diff(qlen) > (klen.max(qlen) / 4).max(1)
                || (key.letters ^ qletters).count_ones() > MAX_LETTER_DIFF
            {
                continue;
            }
            let sim = strsim::jaro_winkler(q, &key.folded);
            if sim >= key.threshold
                && best.is_none_or(|(_, s)| sim > s)
                && strsim::normalized_damerau_levenshtein(q, &key.folded) >= MIN_EDIT_SIMILARITY
            {
                best = Some((key, sim));
            }
        }
        best
    }
}

impl FuzzyIndex {
    /// Every key at least `floor` similar to `compact` (whatever its own threshold), for
    /// suggestions: the same bucket as [`best`](Self::best), with looser length bounds.
    pub(crate) fn near(
        &self,
        compact: &str,
        floor: f64,
        scratch: &mut String,
    ) -> Vec<(&FuzzyKey, f64)> {
        scratch.clear();
        fold(compact, scratch);
        let q = scratch.as_str();
        let Some(&first) = q.as_bytes().first() else {
            return Vec::new();
        };
        let qlen = q.len();
        self.buckets[first as usize]
            .iter()
            .filter(|key| key.folded.len().abs_diff(qlen) <= key.folded.len().max(qlen) / 3 + 1)
            .map(|key| (key, strsim::jaro_winkler(q, &key.folded)))
            .filter(|(_, sim)| *sim >= floor)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(s: &str) -> String {
        let mut out = String::new();
        fold(s, &mut out);
        out
    }

    #[test]
    fn folding_meets_taglish_spellings() {
        assert_eq!(folded("coca"), folded("koka"));
        assert_eq!(folded("nescafe"), folded("neskafe"));
        assert_eq!(folded("halls"), "hals");
        assert_eq!(folded("zonrox"), folded("sonrox"));
        assert_eq!(folded("philip"), "filip");
    }

    #[test]
    fn best_respects_thresholds() {
        let mut index = FuzzyIndex::default();
        index.insert("safeguard", "safeguard", 1, 0.89);
        index.insert("sunsilk", "sunsilk", 2, 0.91);
        let mut scratch = String::new();
        let (key, sim) = index.best("safegard", &mut scratch).unwrap();
        assert_eq!(key.brand, 1);
        assert!(sim > 0.9);
        assert!(index.best("salamat", &mut scratch).is_none());
        assert!(index.best("sukli", &mut scratch).is_none());
    }

    #[test]
    fn a_shared_beginning_is_not_enough() {
        let mut index = FuzzyIndex::default();
        index.insert("baygon", "baygon", 1, 0.91);
        index.insert("palmolive", "palmolive", 2, 0.89);
        index.insert("clearmen", "clear men", 3, 0.89);
        let mut scratch = String::new();
        for word in ["bagoong", "pallmall", "cleanser"] {
            assert!(index.best(word, &mut scratch).is_none(), "{word}");
        }
        assert_eq!(index.best("baigon", &mut scratch).unwrap().0.brand, 1);
        assert_eq!(index.best("palmoliv", &mut scratch).unwrap().0.brand, 2);
    }
}
