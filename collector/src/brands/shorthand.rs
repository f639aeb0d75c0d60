//! Shorthand as till receipts print it: words with their vowels dropped ("SFGRD" for Safeguard,
//! "PCNT CNTN" for pancit canton) or cut short ("EVAP", "COND").
//!
//! A word is written in shorthand when it is letters only and keeps at most one vowel after its
//! first letter ("sfgrd", "alska", "chs", "ld"); its skeleton is its first letter and then its
//! consonants. Brands are found by the skeletons of their names and strong aliases, word by word,
//! only when the skeleton belongs to one brand and has three consonants or more in the text; a
//! shorthand word next to an ambiguous word confirms it when its skeleton (or, four letters or
//! more, its beginning) is one of the brand's context words.

use super::{Map, Set};

/// Vowels dropped from a skeleton.
fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Whether `word` looks like shorthand: ASCII letters only, two or more, and at most one vowel
/// after the first letter.
pub(crate) fn is_shorthand(word: &str) -> bool {
    let b = word.as_bytes();
    b.len() >= 2
        && b.iter().all(u8::is_ascii_lowercase)
        && b[1..].iter().filter(|c| is_vowel(**c)).count() <= 1
}

/// The first letter, then the consonants ("safeguard" → "sfgrd", "alaska" → "alsk"); `None` for
/// a word that is not letters only.
pub(crate) fn skeleton(word: &str) -> Option<String> {
    let b = word.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_lowercase) {
        return None;
    }
    let mut out = String::with_capacity(b.len());
    out.push(b[0] as char);
    out.extend(b[1..].iter().filter(|c| !is_vowel(**c)).map(|c| *c as char));
    Some(out)
}

/// Consonants in `word` ("alska" has three).
pub(crate) fn consonants(word: &str) -> usize {
    word.bytes().filter(|b| !is_vowel(*b)).count()
}

/// Shortest dictionary word (letters) whose skeleton stands for it on its own: shorter names
/// ("Tide", "Nido") lose too much to be recognised without their vowels.
const MIN_WORD_LEN: usize = 5;
/// A cut-short word ("evap") needs this many letters to stand for a longer context word.
const MIN_PREFIX_LEN: usize = 4;

/// One brand form under its skeleton.
#[derive(Debug)]
pub(crate) struct SkeletonKey {
    pub(crate) brand: u32,
    /// The form as written in the dictionary (normalised, spaced).
    pub(crate) display: Box<str>,
}

/// Skeletons of the dictionary's names and strong aliases, and of each brand's context words.
#[derive(Debug, Default)]
pub(crate) struct Shorthand {
    /// Per-word skeletons joined by spaces ("grt tst") → the one brand with that skeleton;
    /// `None` when two brands (or a brand and a company) share it.
    forms: Map<Box<str>, Option<SkeletonKey>>,
    /// Longest form, in words.
    max_words: usize,
    /// Per brand, the skeletons of its context words.
    context: Vec<Set<Box<str>>>,
}

impl Shorthand {
    /// Records the form `spaced` (normalised words) of `brand`. Forms with digits or with a word
    /// too short to stand for itself are left out; a company's form only makes a brand's
    /// skeleton ambiguous (`usable` false).
    pub(crate) fn add_form(&mut self, brand: u32, spaced: &str, usable: bool) {
        let words: Vec<&str> = spaced.split(' ').collect();
        let mut skel = String::with_capacity(spaced.len());
        for w in &words {
            let Some(s) = skeleton(w) else { return };
            if s.len() < 2 || (words.len() == 1 && w.len() < MIN_WORD_LEN) {
                return;
            }
            if !skel.is_empty() {
                skel.push(' ');
            }
            skel.push_str(&s);
        }
        if consonants(&skel.replace(' ', "")) < 3 {
            return;
        }
        self.max_words = self.max_words.max(words.len());
        let entry = self.forms.entry(skel.into_boxed_str());
        match entry {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(usable.then(|| SkeletonKey {
                    brand,
                    display: spaced.into(),
                }));
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if o.get().as_ref().is_none_or(|k| k.brand != brand) || !usable {
                    o.insert(None);
                }
            }
        }
    }

    /// Records the context words of the next brand (brands in id order).
    pub(crate) fn add_context(&mut self, words: &[String]) {
        self.context.push(
            words
                .iter()
                .filter_map(|w| skeleton(w))
                .filter(|s| s.len() >= 2)
                .map(String::into_boxed_str)
                .collect(),
        );
    }

    /// Longest form, in words.
    pub(crate) fn max_words(&self) -> usize {
        self.max_words
    }

    /// The brand whose form has the skeleton of `words` (each one shorthand, with three or more
    /// consonants in all), if exactly one has it.
    pub(crate) fn brand_of<'a>(
        &self,
        words: impl Iterator<Item = &'a str>,
    ) -> Option<&SkeletonKey> {
        let mut skel = String::new();
        let mut count = 0;
        for w in words {
            if !is_shorthand(w) {
                return None;
            }
            if !skel.is_empty() {
                skel.push(' ');
            }
            skel.push_str(&skeleton(w)?);
            count += consonants(w);
        }
        if count < 3 {
            return None;
        }
        self.forms.get(skel.as_str())?.as_ref()
    }

    /// Whether the shorthand `word` stands for one of `brand`'s context words `set`: the same
    /// skeleton ("chs" = cheese, "ld" = load), or, four letters or more, the beginning of a
    /// longer one ("evap" = evaporada, "cond" = condensed).
    pub(crate) fn confirms(&self, brand: u32, set: &Set<Box<str>>, word: &str) -> bool {
        if !is_shorthand(word) {
            return false;
        }
        let skeletons = &self.context[brand as usize];
        if skeleton(word).is_some_and(|s| skeletons.contains(s.as_str())) {
            return true;
        }
        word.len() >= MIN_PREFIX_LEN
            && set
                .iter()
                .any(|c| c.len() >= word.len() + 2 && c.starts_with(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_words_and_skeletons() {
        assert_eq!(skeleton("safeguard").as_deref(), Some("sfgrd"));
        assert_eq!(skeleton("alaska").as_deref(), Some("alsk"));
        assert_eq!(skeleton("alska").as_deref(), Some("alsk"));
        assert_eq!(skeleton("cheese").as_deref(), Some("chs"));
        assert_eq!(skeleton("3in1"), None);
        for w in [
            "sfgrd", "alska", "pcnt", "cntn", "chlmnsi", "chs", "ld", "evap",
        ] {
            assert!(is_shorthand(w), "{w}");
        }
        for w in ["safeguard", "cheese", "pandesal", "tubig", "a", "3in1"] {
            assert!(!is_shorthand(w), "{w}");
        }
    }

    #[test]
    fn a_skeleton_two_brands_share_means_neither() {
        let mut s = Shorthand::default();
        s.add_form(0, "safeguard", true);
        s.add_form(1, "great taste", true);
        s.add_form(2, "sprite", true);
        s.add_form(3, "sprout", true); // same skeleton as sprite
        s.add_form(4, "tide", true); // too short to stand for itself
        let one = |t: &str| s.brand_of(t.split(' ')).map(|k| k.brand);
        assert_eq!(one("sfgrd"), Some(0));
        assert_eq!(one("grt tst"), Some(1));
        assert_eq!(one("sprt"), None);
        assert_eq!(one("td"), None);
        // Not shorthand, or too few consonants.
        assert_eq!(one("safeguard"), None);
        assert_eq!(one("sf"), None);
    }
}
