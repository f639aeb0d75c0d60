//! The dictionary indexed for matching: every form under its compact spelling, the prefixes
//! that let the scan stop early, the numbers that belong to names, the context words, which
//! companies own which brands, and the fuzzy keys.

use std::collections::HashSet;

use super::dictionary::{Category, Dictionary, FuzzySetting, KeyKind, KeySpec};
use super::fuzzy::{FuzzyIndex, default_threshold};
use super::normalize::normalize_key;
use super::shorthand::Shorthand;
use super::{Brand, BrandKind, BrandMatcher, DictionaryStats, Map, Set};

/// Shortest key the fuzzy step compares, in letters written together.
pub(crate) const FUZZY_MIN_LEN: usize = 5;

/// One dictionary entry under its compact form.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) brand: u32,
    pub(crate) kind: KeyKind,
    pub(crate) strong: bool,
    pub(crate) score: f64,
    pub(crate) display: Box<str>,
}

/// The dictionary, indexed. Brand ids `0..stats.brands` are brands; the ids after them are the
/// companies matched by name.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Compact form → entries (one strong brand or company at most; weak ones may share a form).
    pub(crate) keys: Map<Box<str>, Vec<Entry>>,
    /// Every prefix of every compact form (the forms included).
    pub(crate) prefixes: Set<Box<str>>,
    /// Standalone numbers that are part of entries ("555", the "7" of "Lucky 7").
    pub(crate) numbers: Set<Box<str>>,
    /// Per brand, the words that confirm its weak entries.
    pub(crate) context: Vec<Set<Box<str>>>,
    /// Per brand (and company, always empty), the words that cancel its forms when they follow.
    pub(crate) not_before: Vec<Set<Box<str>>>,
    /// Every word of every form and context list: real words, never read as shorthand.
    pub(crate) words: Set<Box<str>>,
    /// Skeletons of the forms and context words, for shorthand (`shorthand.rs`).
    pub(crate) shorthand: Shorthand,
    /// Per brand, the companies (ids) that own it.
    pub(crate) owners: Vec<Vec<u32>>,
    /// Canonical names (compact) of brands and companies → id.
    pub(crate) by_name: Map<Box<str>, u32>,
    /// Words never fuzzy-matched.
    pub(crate) noise: Set<Box<str>>,
    pub(crate) fuzzy: FuzzyIndex,
}

impl Index {
    fn add_key(&mut self, id: u32, key: &KeySpec) {
        for word in normalize_key(&key.spaced).words() {
            if word.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                self.numbers.insert(word.into());
            }
            self.words.insert(word.into());
        }
        if key.strong && key.kind != KeyKind::Generic {
            self.shorthand
                .add_form(id, &key.spaced, key.kind != KeyKind::Company);
        }
        for (i, _) in key.compact.char_indices().skip(1) {
            self.prefixes.insert(key.compact[..i].into());
        }
        self.prefixes.insert(key.compact.as_str().into());
        self.keys
            .entry(key.compact.as_str().into())
            .or_default()
            .push(Entry {
                brand: id,
                kind: key.kind,
                strong: key.strong,
                score: key.score,
                display: key.spaced.as_str().into(),
            });
    }
}

/// Indexes a dictionary.
pub(crate) fn build(dictionary: &Dictionary) -> (Vec<Brand>, Index, DictionaryStats) {
    let mut index = Index::default();
    let mut brands = Vec::with_capacity(dictionary.brands.len() + dictionary.companies.len());
    let mut stats = DictionaryStats {
        brands: dictionary.brands.len(),
        companies: dictionary.companies.len(),
        aliases: 0,
        weak_aliases: 0,
        categories: 0,
        fuzzy_keys: 0,
    };
    let mut categories = HashSet::new();
    for (id, spec) in dictionary.brands.iter().enumerate() {
        let id = id as u32;
        categories.insert(spec.category);
        brands.push(Brand {
            name: spec.name.clone(),
            category: spec.category,
            company: spec.company.clone(),
            kind: BrandKind::Brand,
        });
        for key in &spec.keys {
            if key.kind != KeyKind::Name {
                stats.aliases += 1;
                if !key.strong {
                    stats.weak_aliases += 1;
                }
            } else {
                index.by_name.insert(key.compact.as_str().into(), id);
            }
            index.add_key(id, key);
            if key.strong && key.kind != KeyKind::Generic {
                let threshold = match spec.fuzzy {
                    FuzzySetting::Off => None,
                    FuzzySetting::Default => default_threshold(key.compact.chars().count()),
                    FuzzySetting::Threshold(t) => {
                        (key.compact.chars().count() >= FUZZY_MIN_LEN).then_some(t)
                    }
                };
                if let Some(t) = threshold {
                    index.fuzzy.insert(&key.compact, &key.spaced, id, t);
                }
            }
        }
        index
            .context
            .push(spec.context.iter().map(|w| w.as_str().into()).collect());
        index
            .not_before
            .push(spec.not_before.iter().map(|w| w.as_str().into()).collect());
        index.shorthand.add_context(&spec.context);
        index
            .words
            .extend(spec.context.iter().map(|w| w.as_str().into()));
    }
    index.owners = vec![Vec::new(); dictionary.brands.len()];
    for (k, spec) in dictionary.companies.iter().enumerate() {
        let id = (dictionary.brands.len() + k) as u32;
        // The company's category is its brands' one when they share it.
        let mut cats = spec.brands.iter().map(|&b| dictionary.brands[b].category);
        let first = cats.next().unwrap_or(Category::Unknown);
        let category = if cats.all(|c| c == first) {
            first
        } else {
            Category::Unknown
        };
        brands.push(Brand {
            name: spec.name.clone(),
            category,
            company: spec.name.clone(),
            kind: BrandKind::Company,
        });
        for &b in &spec.brands {
            index.owners[b].push(id);
        }
        for (i, key) in spec.keys.iter().enumerate() {
            if i == 0 {
                index
                    .by_name
                    .entry(key.compact.as_str().into())
                    .or_insert(id);
            }
            index.add_key(id, key);
            if let Some(t) = default_threshold(key.compact.chars().count()) {
                index.fuzzy.insert(&key.compact, &key.spaced, id, t);
            }
        }
        index.context.push(Set::default());
        index.not_before.push(Set::default());
    }
    index.noise = dictionary.noise.iter().map(|w| w.as_str().into()).collect();
    stats.categories = categories.len();
    stats.fuzzy_keys = index.fuzzy.len();
    (brands, index, stats)
}

pub(crate) fn brand_by_name<'m>(m: &'m BrandMatcher, name: &str) -> Option<&'m Brand> {
    let norm = normalize_key(name);
    if norm.is_empty() {
        return None;
    }
    let id = *m.index.by_name.get(norm.compact(0, norm.len()))?;
    Some(&m.brands[id as usize])
}
