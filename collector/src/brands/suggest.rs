//! "Did you mean": brands whose names or aliases look like part of a text the matcher could not
//! resolve, for the operator's queue of unresolved names.

use std::collections::HashMap;

use serde::Serialize;

use super::{BrandMatcher, Category, round3};

/// Lowest similarity worth showing an operator (the matcher itself needs 0.89 to 0.94).
pub const SUGGESTION_FLOOR: f64 = 0.8;
/// Longest run of words compared with the dictionary's forms.
const MAX_WINDOW: usize = 3;

/// A brand that may be what a text means.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub brand: String,
    pub category: Category,
    /// Jaro-Winkler similarity of the closest form to the closest run of words, 0..1.
    pub similarity: f64,
    /// The dictionary form that was close.
    pub form: String,
    /// The words of the text it was close to.
    pub words: String,
}

impl BrandMatcher {
    /// How many words of `text` the matcher can match on: not a number or a pack size, not one
    /// of the dictionary's noise words ("po", "isang", "pabili"). A taught form needs one.
    pub fn content_words(&self, text: &str) -> usize {
        super::normalize::normalize(text, |_| false)
            .words()
            .filter(|w| !self.index.noise.contains(*w))
            .count()
    }

    /// Up to `limit` brands whose forms are similar (at least [`SUGGESTION_FLOOR`]) to a run of
    /// up to three words of `text`, most similar first.
    pub fn suggest(&self, text: &str, limit: usize) -> Vec<Suggestion> {
        let norm = self.normalize(text);
        let mut best: HashMap<u32, Suggestion> = HashMap::new();
        let mut scratch = String::new();
        for start in 0..norm.len() {
            for end in start + 1..=(start + MAX_WINDOW).min(norm.len()) {
                let compact = norm.compact(start, end);
                if compact.chars().count() < 4 {
                    continue;
                }
                for (key, sim) in self
                    .index
                    .fuzzy
                    .near(compact, SUGGESTION_FLOOR, &mut scratch)
                {
                    if key.brand as usize >= self.stats.brands {
                        continue; // a company: the matcher names those exactly or not at all
                    }
                    let brand = self.brand_at(key.brand);
                    let candidate = Suggestion {
                        brand: brand.name.clone(),
                        category: brand.category,
                        similarity: round3(sim),
                        form: key.display.to_string(),
                        words: norm.spaced(start, end),
                    };
                    best.entry(key.brand)
                        .and_modify(|s| {
                            if candidate.similarity > s.similarity {
                                *s = candidate.clone();
                            }
                        })
                        .or_insert(candidate);
                }
            }
        }
        let mut out: Vec<Suggestion> = best.into_values().collect();
        out.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then_with(|| a.brand.cmp(&b.brand))
        });
        out.truncate(limit);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_is_suggested_and_noise_is_not() {
        let m = BrandMatcher::shipped().unwrap();
        let s = m.suggest("Cloe-Up Lemon 1L", 3);
        assert_eq!(
            s.first().map(|s| s.brand.as_str()),
            Some("Close Up"),
            "{s:?}"
        );
        assert!(s[0].similarity >= SUGGESTION_FLOOR && s[0].similarity < 1.0);
        assert!(m.suggest("xqzvw plmk", 3).is_empty());
        assert!(m.suggest("", 3).is_empty());
    }

    #[test]
    fn the_limit_holds_and_the_order_is_by_similarity() {
        let m = BrandMatcher::shipped().unwrap();
        let s = m.suggest("Pantenne Safegard Colgat", 2);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].similarity >= s[1].similarity);
    }
}
