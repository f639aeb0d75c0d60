//! Brand detection: which brand a product name, a spoken transcript or a whole transaction is
//! about, from the brand dictionary shipped as data (`collector/data/brands.toml`) plus an
//! optional operator file.
//!
//! **What enters:** text (an item's brand field, a product name such as "Coke Mismo 290ml", an
//! explicit mention, a Taglish transcript such as "pabili po ng dalawang laki mi"), or a parsed
//! [`scout_common::Transaction`].
//!
//! **What leaves:** [`Detection`]s: the brand with its category and parent company, the
//! [`Method`] that found it (exact name, alias, fuzzy, or an ambiguous word confirmed by
//! context, or a parent company's name), a score in 0..1, the words that matched, and the [`Source`] they came from.
//! [`BrandMatcher::detect_transaction`] gives one detection per item, every brand of the explicit
//! mentions and of the transcript, and the brands only the device claimed.
//!
//! **What it guarantees:**
//! - Pure and deterministic: no IO after loading, the same text always gives the same answer.
//!   [`BrandMatcher`] is `Send + Sync`; build it once at start (in an `Arc`) and share it.
//! - "Unknown" rather than a guess: noise ("pabili po", "salamat", an empty string) gives
//!   `None`; an ambiguous word ("smart", "red", "gin", "sabon", "joy") counts only with a context
//!   word near it (load, beer, gin, soap, dishwashing ...) or when the device reported that
//!   brand; fuzzy matching needs five letters or more and a per-length threshold.
//! - The device's own `detectedBrands` are evidence, not truth: they raise a detection's score
//!   by 0.05 and can confirm an ambiguous word (0.1 below what a context word gives), but never
//!   create a detection alone; names nothing else supports are listed apart (`device_only`).
//! - Scores are ordered by method: exact name 1.0 (0.97 inside a longer text) > alias 0.95 >
//!   weak word with context 0.85 > generic product word 0.8; fuzzy is 0.9 × similarity, so never
//!   above an alias. The dictionary may lower an entry's score ("sabon" → Safeguard is 0.6).
//! - A parent company's name used as a product ("Nestlé 250ml", "URC") is the company, method
//!   `company`, score 0.5 (less when misspelled), and only when none of its brands is named
//!   ("Nestlé Bear Brand" is Bear Brand). Its name is matched exactly before anything fuzzy, so
//!   it is never taken for a look-alike sub-brand ("Nestle" is not "Nestea").
//!
//! Order of work per text (see `matcher.rs`): normalise (`normalize.rs`), then at each word the
//! longest dictionary entry starting there (exact name or alias; weak entries need context),
//! then, for the words still unexplained, the fuzzy step: till shorthand first ("SFGRD" is
//! Safeguard, `shorthand.rs`), then similarity (`fuzzy.rs`). A context word may itself be in
//! shorthand ("EDEN CHS"), and a brand's `not_before` words cancel its forms ("century egg").

mod category;
mod dictionary;
mod file;
mod fuzzy;
mod index;
mod load;
mod matcher;
mod merge;
mod normalize;
mod shorthand;
mod suggest;
mod taught;
mod transaction;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use foldhash::fast::RandomState;

use serde::Serialize;
use serde::ser::SerializeStruct;

pub use category::Category;
pub use dictionary::{Dictionary, DictionaryError, SHIPPED, SHIPPED_ORIGIN};
pub use suggest::{SUGGESTION_FLOOR, Suggestion};
pub use taught::{TAUGHT_ORIGIN, TaughtEntry, to_toml};
pub use transaction::{ItemMemo, TransactionBrands};

/// The matcher's maps and sets: every word of every item is looked up in them, so they hash
/// with foldhash rather than SipHash (the keys are the collector's own dictionary, not a
/// caller's).
pub(crate) type Map<K, V> = HashMap<K, V, RandomState>;
pub(crate) type Set<K> = HashSet<K, RandomState>;

/// Environment variable naming an operator's dictionary file, merged over the shipped one.
pub const BRANDS_FILE_ENV: &str = "SCOUT_BRANDS_FILE";

/// A brand of the dictionary, or a parent company matched by its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brand {
    /// Canonical name ("Coca-Cola"; for a company, the company's name).
    pub name: String,
    /// For a company, its brands' category when they share one, else [`Category::Unknown`].
    pub category: Category,
    /// Parent company in the Philippines.
    pub company: String,
    pub kind: BrandKind,
}

/// Whether a [`Brand`] is a brand or a parent company named as a product ("Nestlé").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BrandKind {
    Brand,
    Company,
}

/// How a detection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The brand's canonical name.
    Exact,
    /// An alias: another name, a spoken or misspelled form, or a generic product word.
    Alias,
    /// An ambiguous word confirmed by a context word or by the device's own detection.
    Context,
    /// A misspelling close enough to a name or alias.
    Fuzzy,
    /// A parent company's name (exact or misspelled) with none of its brands named: the
    /// company is known, the brand is not. Scores 0.5 or less.
    Company,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Alias => "alias",
            Method::Context => "context",
            Method::Fuzzy => "fuzzy",
            Method::Company => "company",
        }
    }
}

/// Where the detected text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Text given directly to [`BrandMatcher::detect`].
    Text,
    /// An item's `brandName`.
    ItemBrand,
    /// An item's `productName`.
    ProductName,
    /// One of `brandDetection.explicitMentions`.
    ExplicitMention,
    /// `transactionContext.audioTranscript`.
    Transcript,
}

impl Source {
    /// The name used in JSON and in silver's `brand_source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Text => "text",
            Source::ItemBrand => "item_brand",
            Source::ProductName => "product_name",
            Source::ExplicitMention => "explicit_mention",
            Source::Transcript => "transcript",
        }
    }
}

/// One brand found in a text, with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection<'m> {
    pub brand: &'m Brand,
    pub method: Method,
    /// Confidence, 0..1 (three decimals).
    pub score: f64,
    /// The words of the text that matched, normalised ("koka", "lucky me").
    pub matched: String,
    /// The dictionary entry they matched, normalised ("koka", "coca cola").
    pub key: &'m str,
    pub source: Source,
    /// The device's own `detectedBrands` named this brand too.
    pub device_agrees: bool,
}

impl Serialize for Detection<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Detection", 9)?;
        st.serialize_field("brand", &self.brand.name)?;
        st.serialize_field("category", &self.brand.category)?;
        st.serialize_field("company", &self.brand.company)?;
        st.serialize_field("method", &self.method)?;
        st.serialize_field("score", &self.score)?;
        st.serialize_field("matched", &self.matched)?;
        st.serialize_field("key", self.key)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("device_agrees", &self.device_agrees)?;
        st.end()
    }
}

/// Size of the loaded dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DictionaryStats {
    pub brands: usize,
    /// Parent companies matched by name (`[[company]]` entries).
    pub companies: usize,
    /// Every form other than the canonical names (strong, weak and generic).
    pub aliases: usize,
    /// Of which ambiguous (need context).
    pub weak_aliases: usize,
    /// Distinct categories in use.
    pub categories: usize,
    /// Names and aliases the fuzzy step can match.
    pub fuzzy_keys: usize,
}

/// The brand matcher: the dictionary indexed for matching. Build once, share by reference or
/// `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct BrandMatcher {
    brands: Vec<Brand>,
    index: index::Index,
    stats: DictionaryStats,
}

impl BrandMatcher {
    /// The matcher over the shipped dictionary.
    pub fn shipped() -> Result<Self, DictionaryError> {
        Ok(Self::new(&Dictionary::shipped()?))
    }

    /// The shipped dictionary merged with the operator file at `extension`, if any.
    pub fn load(extension: Option<&Path>) -> Result<Self, DictionaryError> {
        Ok(Self::new(&Dictionary::load(extension)?))
    }

    /// The shipped dictionary, the operator file at `extension` if any, then the entries
    /// operators taught through the database.
    pub fn load_with(
        extension: Option<&Path>,
        taught: &[TaughtEntry],
    ) -> Result<Self, DictionaryError> {
        Ok(Self::new(&Dictionary::with_taught(extension, taught)?))
    }

    /// Like [`load`](Self::load), with the operator file from `SCOUT_BRANDS_FILE` when set.
    pub fn from_env() -> Result<Self, DictionaryError> {
        match std::env::var_os(BRANDS_FILE_ENV) {
            Some(path) if !path.is_empty() => Self::load(Some(Path::new(&path))),
            _ => Self::shipped(),
        }
    }

    /// Indexes a loaded dictionary.
    pub fn new(dictionary: &Dictionary) -> Self {
        let (brands, index, stats) = index::build(dictionary);
        Self {
            brands,
            index,
            stats,
        }
    }

    /// The best brand in `text` (a product name, a mention, a sentence), or `None` when nothing
    /// in it is a known brand.
    pub fn detect(&self, text: &str) -> Option<Detection<'_>> {
        self.detect_in(text, Source::Text, &transaction::DeviceEvidence::default())
    }

    /// Every brand in `text` (a transcript), once each with its best evidence, in order of
    /// first mention.
    pub fn detect_all(&self, text: &str) -> Vec<Detection<'_>> {
        self.detect_all_in(text, Source::Text, &transaction::DeviceEvidence::default())
    }

    /// The brand of one purchased item: its brand field first, then its product name; each field
    /// is context for the other ("Smart" + "Regular Load 50").
    pub fn detect_item(
        &self,
        brand_name: Option<&str>,
        product_name: Option<&str>,
    ) -> Option<Detection<'_>> {
        self.item_in(
            brand_name,
            product_name,
            None,
            &transaction::DeviceEvidence::default(),
        )
    }

    /// All brands of a transaction, from its sources in order: item brand, product name,
    /// explicit mentions, transcript; the device's `detectedBrands` as evidence.
    pub fn detect_transaction(&self, tx: &scout_common::Transaction) -> TransactionBrands<'_> {
        transaction::detect(self, tx, &mut ItemMemo::new())
    }

    /// [`Self::detect_transaction`], reusing the item detections `memo` already holds (the same
    /// answers, found once per distinct item across a batch).
    pub fn detect_transaction_with<'m>(
        &'m self,
        tx: &scout_common::Transaction,
        memo: &mut ItemMemo<'m>,
    ) -> TransactionBrands<'m> {
        transaction::detect(self, tx, memo)
    }

    /// Every brand of the dictionary.
    pub fn brands(&self) -> &[Brand] {
        &self.brands[..self.stats.brands]
    }

    /// Every parent company matched by name.
    pub fn companies(&self) -> &[Brand] {
        &self.brands[self.stats.brands..]
    }

    /// The brand or company whose canonical name is `name` (compared normalised: "coca cola"
    /// finds "Coca-Cola").
    pub fn brand(&self, name: &str) -> Option<&Brand> {
        index::brand_by_name(self, name)
    }

    /// Size of the dictionary.
    pub fn stats(&self) -> DictionaryStats {
        self.stats
    }

    /// What `scout-collector brand "TEXT"` prints: the best detection (or `brand: null,
    /// method: "unknown"`) and every brand mentioned.
    pub fn report<'a>(&'a self, text: &'a str) -> BrandReport<'a> {
        let best = self.detect(text);
        BrandReport {
            input: text,
            brand: best.as_ref().map(|d| d.brand.name.as_str()),
            category: best.as_ref().map(|d| d.brand.category),
            company: best.as_ref().map(|d| d.brand.company.as_str()),
            method: best.as_ref().map_or("unknown", |d| d.method.as_str()),
            score: best.as_ref().map_or(0.0, |d| d.score),
            matched: best.map(|d| d.matched),
            mentions: self.detect_all(text),
        }
    }
}

/// The brand command's answer for one text (field order as printed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrandReport<'a> {
    pub input: &'a str,
    pub brand: Option<&'a str>,
    pub category: Option<Category>,
    pub company: Option<&'a str>,
    /// exact, alias, context, fuzzy, or unknown.
    pub method: &'static str,
    pub score: f64,
    pub matched: Option<String>,
    /// Every brand in the text (a transcript may name several).
    pub mentions: Vec<Detection<'a>>,
}

/// Three decimals, so scores print as written (0.95, not 0.9500000000000001).
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<BrandMatcher>();
        check::<std::sync::Arc<BrandMatcher>>();
    }

    #[test]
    fn example_from_the_contract() {
        let m = BrandMatcher::shipped().unwrap();
        let d = m.detect("koka 1.5L").unwrap();
        assert_eq!(d.brand.name, "Coca-Cola");
        assert_eq!(d.brand.category, Category::Beverages);
        assert_eq!(d.method, Method::Alias);
        assert_eq!(d.score, 0.95);
        assert_eq!(d.matched, "koka");
    }
}
