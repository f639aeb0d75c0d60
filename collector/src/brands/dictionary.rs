//! The brand dictionary as data: `collector/data/brands.toml` (embedded at build time) merged with
//! an optional operator file of the same format. Parsing checks every field and names the file,
//! line and field of anything wrong; merging follows the rules in the shipped file's header.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::normalize::normalize_key;

/// The shipped dictionary.
pub const SHIPPED: &str = include_str!("../../data/brands.toml");
/// How the shipped dictionary is named in messages.
pub const SHIPPED_ORIGIN: &str = "collector/data/brands.toml (shipped)";

/// Default scores per kind of entry.
const ALIAS_SCORE: f64 = 0.95;
const GENERIC_SCORE: f64 = 0.8;
const WEAK_SCORE: f64 = 0.85;
/// Longest entry, in words (the matcher looks at most this many words ahead).
pub(crate) const MAX_WORDS: usize = 8;

/// Loading the dictionary failed; the message names the file, line and field.
#[derive(Debug, thiserror::Error)]
pub enum DictionaryError {
    #[error("Failed to read the brand dictionary {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or a field of the wrong type or name (toml's message carries line and column).
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    /// A value that parses but is not allowed.
    #[error("{origin}, line {line}: {what}: {message}")]
    Invalid {
        origin: String,
        line: usize,
        /// The entry and field, e.g. `brand "Foo", field category`.
        what: String,
        message: String,
    },
}

/// The fixed category vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Category {
    Beverages,
    Coffee,
    Dairy,
    #[serde(rename = "Instant Noodles")]
    InstantNoodles,
    Snacks,
    Biscuits,
    Candies,
    #[serde(rename = "Canned Goods")]
    CannedGoods,
    Condiments,
    #[serde(rename = "Cooking Essentials")]
    CookingEssentials,
    #[serde(rename = "Personal Care")]
    PersonalCare,
    #[serde(rename = "Oral Care")]
    OralCare,
    #[serde(rename = "Hair Care")]
    HairCare,
    Laundry,
    Household,
    Tobacco,
    Alcohol,
    #[serde(rename = "Telco Load")]
    TelcoLoad,
    Medicine,
}

impl Category {
    /// Every category, in the dictionary's order.
    pub const ALL: [Category; 19] = [
        Category::Beverages,
        Category::Coffee,
        Category::Dairy,
        Category::InstantNoodles,
        Category::Snacks,
        Category::Biscuits,
        Category::Candies,
        Category::CannedGoods,
        Category::Condiments,
        Category::CookingEssentials,
        Category::PersonalCare,
        Category::OralCare,
        Category::HairCare,
        Category::Laundry,
        Category::Household,
        Category::Tobacco,
        Category::Alcohol,
        Category::TelcoLoad,
        Category::Medicine,
    ];

    /// The category's name as written in the dictionary and in silver.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Beverages => "Beverages",
            Category::Coffee => "Coffee",
            Category::Dairy => "Dairy",
            Category::InstantNoodles => "Instant Noodles",
            Category::Snacks => "Snacks",
            Category::Biscuits => "Biscuits",
            Category::Candies => "Candies",
            Category::CannedGoods => "Canned Goods",
            Category::Condiments => "Condiments",
            Category::CookingEssentials => "Cooking Essentials",
            Category::PersonalCare => "Personal Care",
            Category::OralCare => "Oral Care",
            Category::HairCare => "Hair Care",
            Category::Laundry => "Laundry",
            Category::Household => "Household",
            Category::Tobacco => "Tobacco",
            Category::Alcohol => "Alcohol",
            Category::TelcoLoad => "Telco Load",
            Category::Medicine => "Medicine",
        }
    }

    /// Parses a category name, ignoring case and spacing ("instant noodles", "TelcoLoad").
    pub fn parse(s: &str) -> Option<Category> {
        let squash = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let want = squash(s);
        Category::ALL
            .into_iter()
            .find(|c| squash(c.as_str()) == want)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a dictionary entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// The brand's canonical name.
    Name,
    /// Another name for the brand.
    Alias,
    /// A product-type word that usually means the brand.
    Generic,
}

/// One matchable form of a brand.
#[derive(Debug, Clone)]
pub(crate) struct KeySpec {
    /// Normalised words written together (the lookup key).
    pub(crate) compact: String,
    /// Normalised words with spaces (for evidence).
    pub(crate) spaced: String,
    pub(crate) kind: KeyKind,
    /// Strong keys need no context; weak ones need a context word (or the device's word).
    pub(crate) strong: bool,
    pub(crate) score: f64,
}

/// Fuzzy setting of a brand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FuzzySetting {
    Default,
    Off,
    Threshold(f64),
}

/// A brand after loading and merging.
#[derive(Debug, Clone)]
pub(crate) struct BrandSpec {
    pub(crate) name: String,
    pub(crate) category: Category,
    pub(crate) company: String,
    pub(crate) keys: Vec<KeySpec>,
    /// Normalised single words that confirm a weak key.
    pub(crate) context: Vec<String>,
    pub(crate) fuzzy: FuzzySetting,
}

/// The merged dictionary, ready to be indexed by the matcher.
#[derive(Debug, Clone)]
pub struct Dictionary {
    pub(crate) brands: Vec<BrandSpec>,
    pub(crate) noise: Vec<String>,
    overrides: Vec<String>,
}

impl Dictionary {
    /// The shipped dictionary alone.
    pub fn shipped() -> Result<Self, DictionaryError> {
        Self::from_sources(&[(SHIPPED_ORIGIN, SHIPPED)])
    }

    /// The shipped dictionary, merged with the operator file at `extension` if given.
    pub fn load(extension: Option<&Path>) -> Result<Self, DictionaryError> {
        match extension {
            None => Self::shipped(),
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| DictionaryError::Read {
                        path: path.to_owned(),
                        source,
                    })?;
                let origin = path.display().to_string();
                Self::from_sources(&[(SHIPPED_ORIGIN, SHIPPED), (&origin, &text)])
            }
        }
    }

    /// Parses and merges dictionaries in order, later ones over earlier ones.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Self, DictionaryError> {
        let mut merger = Merger::default();
        for (file, (origin, text)) in sources.iter().enumerate() {
            let doc: FileDoc = toml::from_str(text).map_err(|e| DictionaryError::Parse {
                origin: (*origin).to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
            let src = Source { origin, text, file };
            merger.add(&src, doc)?;
        }
        merger.finish()
    }

    /// Number of brands.
    pub fn brand_count(&self) -> usize {
        self.brands.len()
    }

    /// Messages for aliases an operator file took from a shipped brand (worth logging).
    pub fn overrides(&self) -> &[String] {
        &self.overrides
    }
}

// ─── the file format ───────────────────────────────────────────────────────────────────────

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    version: Option<Spanned<i64>>,
    #[serde(default)]
    noise: Vec<Spanned<String>>,
    #[serde(default)]
    context: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default, rename = "brand")]
    brands: Vec<BrandDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrandDoc {
    name: Spanned<String>,
    category: Option<Spanned<String>>,
    company: Option<Spanned<String>>,
    #[serde(default)]
    aliases: Vec<Spanned<AliasDoc>>,
    #[serde(default)]
    weak: Vec<Spanned<AliasDoc>>,
    #[serde(default)]
    generic: Vec<Spanned<AliasDoc>>,
    #[serde(default)]
    context: Vec<Spanned<String>>,
    fuzzy: Option<Spanned<FuzzyDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AliasDoc {
    Plain(String),
    Scored(ScoredAlias),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoredAlias {
    alias: String,
    score: f64,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FuzzyDoc {
    Switch(bool),
    Threshold(f64),
}

// ─── merging ───────────────────────────────────────────────────────────────────────────────

struct Source<'a> {
    origin: &'a str,
    text: &'a str,
    file: usize,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn invalid<T>(
        &self,
        span: std::ops::Range<usize>,
        what: impl Into<String>,
        message: impl Into<String>,
    ) -> Result<T, DictionaryError> {
        Err(DictionaryError::Invalid {
            origin: self.origin.to_owned(),
            line: self.line(span.start),
            what: what.into(),
            message: message.into(),
        })
    }
}

/// Where a strong key was defined (for conflict messages).
#[derive(Debug, Clone)]
struct Owner {
    brand: usize,
    file: usize,
    origin: String,
    line: usize,
}

/// A context reference still to resolve (groups may be extended by later files).
#[derive(Debug)]
struct PendingContext {
    brand: usize,
    word: String,
    origin: String,
    line: usize,
}

#[derive(Debug, Default)]
struct Merger {
    brands: Vec<BrandSpec>,
    /// Normalised name → brand index, and the file that defined it.
    by_name: HashMap<String, (usize, usize)>,
    strong_owner: HashMap<String, Owner>,
    groups: HashMap<String, Vec<String>>,
    noise: Vec<String>,
    pending: Vec<PendingContext>,
    overrides: Vec<String>,
}

impl Merger {
    fn add(&mut self, src: &Source<'_>, doc: FileDoc) -> Result<(), DictionaryError> {
        if let Some(v) = &doc.version
            && *v.get_ref() != 1
        {
            return src.invalid(
                v.span(),
                "field version",
                format!(
                    "unsupported version {} (this build reads version 1)",
                    v.get_ref()
                ),
            );
        }
        for word in &doc.noise {
            let w = single_word(src, word, "noise")?;
            self.noise.push(w);
        }
        for (group, words) in &doc.context {
            let mut list = Vec::with_capacity(words.len());
            for word in words {
                list.push(single_word(src, word, &format!("context group {group:?}"))?);
            }
            self.groups.entry(group.clone()).or_default().extend(list);
        }
        for brand in doc.brands {
            self.add_brand(src, brand)?;
        }
        Ok(())
    }

    fn add_brand(&mut self, src: &Source<'_>, doc: BrandDoc) -> Result<(), DictionaryError> {
        let raw_name = doc.name.get_ref().trim();
        let name_line = src.line(doc.name.span().start);
        let label = format!("brand {raw_name:?}");
        let name_key = normalize_key(raw_name);
        if name_key.is_empty() {
            return src.invalid(
                doc.name.span(),
                format!("{label}, field name"),
                "the name has no letters or digits",
            );
        }
        if name_key.len() > MAX_WORDS {
            return src.invalid(
                doc.name.span(),
                format!("{label}, field name"),
                format!("the name has more than {MAX_WORDS} words"),
            );
        }
        let name_compact = name_key.compact(0, name_key.len()).to_owned();
        let category = match &doc.category {
            None => None,
            Some(c) => Some(Category::parse(c.get_ref()).map_or_else(
                || {
                    let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                    src.invalid(
                        c.span(),
                        format!("{label}, field category"),
                        format!(
                            "unknown category {:?} (expected one of: {})",
                            c.get_ref(),
                            all.join(", ")
                        ),
                    )
                },
                Ok,
            )?),
        };
        let company = match &doc.company {
            None => None,
            Some(c) if c.get_ref().trim().is_empty() => {
                return src.invalid(c.span(), format!("{label}, field company"), "empty company");
            }
            Some(c) => Some(c.get_ref().trim().to_owned()),
        };
        let fuzzy = match &doc.fuzzy {
            None => None,
            Some(f) => Some(match f.get_ref() {
                FuzzyDoc::Switch(false) => FuzzySetting::Off,
                FuzzyDoc::Switch(true) => FuzzySetting::Default,
                FuzzyDoc::Threshold(t) if *t > 0.0 && *t <= 1.0 => FuzzySetting::Threshold(*t),
                FuzzyDoc::Threshold(t) => {
                    return src.invalid(
                        f.span(),
                        format!("{label}, field fuzzy"),
                        format!("threshold {t} is not within 0..1 (or write false)"),
                    );
                }
            }),
        };

        let index = match self.by_name.get(&name_compact) {
            Some(&(index, file)) if file == src.file => {
                return src.invalid(
                    doc.name.span(),
                    format!("{label}, field name"),
                    format!(
                        "brand {:?} is defined twice in this file",
                        self.brands[index].name
                    ),
                );
            }
            Some(&(index, _)) => {
                // Extending a brand from an earlier file.
                let b = &mut self.brands[index];
                if let Some(c) = category {
                    b.category = c;
                }
                if let Some(c) = company {
                    b.company = c;
                }
                if let Some(f) = fuzzy {
                    b.fuzzy = f;
                }
                index
            }
            None => {
                let (Some(category), Some(company)) = (category, company) else {
                    let field = if doc.category.is_none() {
                        "category"
                    } else {
                        "company"
                    };
                    return src.invalid(
                        doc.name.span(),
                        format!("{label}, field {field}"),
                        format!("a new brand needs a {field}"),
                    );
                };
                self.brands.push(BrandSpec {
                    name: raw_name.to_owned(),
                    category,
                    company,
                    keys: Vec::new(),
                    context: Vec::new(),
                    fuzzy: fuzzy.unwrap_or(FuzzySetting::Default),
                });
                let index = self.brands.len() - 1;
                self.by_name.insert(name_compact.clone(), (index, src.file));
                index
            }
        };

        // Weak forms first: a name equal to one of its weak aliases is weak itself.
        let mut weak_compacts: Vec<String> = Vec::new();
        let mut keys: Vec<(KeySpec, usize)> = Vec::new();
        for (field, list, kind, strong, default_score) in [
            ("weak", &doc.weak, KeyKind::Alias, false, WEAK_SCORE),
            ("aliases", &doc.aliases, KeyKind::Alias, true, ALIAS_SCORE),
            (
                "generic",
                &doc.generic,
                KeyKind::Generic,
                true,
                GENERIC_SCORE,
            ),
        ] {
            for alias in list {
                let (text, score) = match alias.get_ref() {
                    AliasDoc::Plain(t) => (t.as_str(), default_score),
                    AliasDoc::Scored(s) => (s.alias.as_str(), s.score),
                };
                let what = format!("{label}, field {field}");
                if !(score > 0.0 && score <= 1.0) {
                    return src.invalid(
                        alias.span(),
                        what,
                        format!("score {score} for {text:?} is not within 0..1"),
                    );
                }
                let norm = normalize_key(text);
                if norm.is_empty() {
                    return src.invalid(
                        alias.span(),
                        what,
                        format!("{text:?} has no letters or digits once normalised"),
                    );
                }
                if norm.len() > MAX_WORDS {
                    return src.invalid(
                        alias.span(),
                        what,
                        format!("{text:?} has more than {MAX_WORDS} words"),
                    );
                }
                let compact = norm.compact(0, norm.len()).to_owned();
                if !strong && !weak_compacts.contains(&compact) {
                    weak_compacts.push(compact.clone());
                } else if strong && weak_compacts.contains(&compact) {
                    return src.invalid(
                        alias.span(),
                        what,
                        format!("{text:?} is listed both as weak and as {field}"),
                    );
                }
                keys.push((
                    KeySpec {
                        compact,
                        spaced: norm.spaced(0, norm.len()),
                        kind,
                        strong,
                        score,
                    },
                    src.line(alias.span().start),
                ));
            }
        }
        keys.insert(
            0,
            (
                KeySpec {
                    compact: name_compact.clone(),
                    spaced: name_key.spaced(0, name_key.len()),
                    kind: KeyKind::Name,
                    strong: true,
                    score: 1.0,
                },
                name_line,
            ),
        );
        for (key, line) in keys {
            self.add_key(src, index, key, line, &label)?;
        }
        for word in &doc.context {
            let w = word.get_ref().trim();
            let line = src.line(word.span().start);
            if let Some(group) = w.strip_prefix('@') {
                self.pending.push(PendingContext {
                    brand: index,
                    word: format!("@{group}"),
                    origin: src.origin.to_owned(),
                    line,
                });
            } else {
                let w = single_word(src, word, &format!("{label}, field context"))?;
                self.brands[index].context.push(w);
            }
        }
        Ok(())
    }

    fn add_key(
        &mut self,
        src: &Source<'_>,
        brand: usize,
        key: KeySpec,
        line: usize,
        label: &str,
    ) -> Result<(), DictionaryError> {
        let existing = self.brands[brand]
            .keys
            .iter()
            .position(|k| k.compact == key.compact);
        if let Some(pos) = existing {
            // The same form twice for one brand ("7 up" and "7up"): keep the stronger reading.
            let k = &mut self.brands[brand].keys[pos];
            if k.kind == KeyKind::Name && !key.strong {
                // "Smart" is the name and ambiguous on its own: the name needs context too (a
                // brand field that says exactly "Smart" is still read as the brand).
                k.strong = false;
                k.score = key.score;
                if self
                    .strong_owner
                    .get(&key.compact)
                    .is_some_and(|o| o.brand == brand)
                {
                    self.strong_owner.remove(&key.compact);
                }
                return Ok(());
            }
            if key.strong && !k.strong && k.kind != KeyKind::Name {
                *k = key.clone();
            } else {
                k.score = k.score.max(key.score);
                return Ok(());
            }
        }
        if key.strong {
            if let Some(owner) = self.strong_owner.get(&key.compact).cloned()
                && owner.brand != brand
            {
                let other = self.brands[owner.brand].name.clone();
                if owner.file == src.file {
                    return Err(DictionaryError::Invalid {
                        origin: src.origin.to_owned(),
                        line,
                        what: label.to_owned(),
                        message: format!(
                            "{:?} already belongs to brand {other:?} ({}, line {})",
                            key.spaced, owner.origin, owner.line
                        ),
                    });
                }
                // A later file takes the form over.
                self.brands[owner.brand]
                    .keys
                    .retain(|k| k.compact != key.compact);
                self.overrides.push(format!(
                    "{}, line {line}: {:?} now means {:?} instead of {other:?}",
                    src.origin, key.spaced, self.brands[brand].name
                ));
            }
            self.strong_owner.insert(
                key.compact.clone(),
                Owner {
                    brand,
                    file: src.file,
                    origin: src.origin.to_owned(),
                    line,
                },
            );
        }
        if existing.is_none() {
            self.brands[brand].keys.push(key);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Dictionary, DictionaryError> {
        for p in std::mem::take(&mut self.pending) {
            let group = &p.word[1..];
            let Some(words) = self.groups.get(group) else {
                let mut known: Vec<&str> = self.groups.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(DictionaryError::Invalid {
                    origin: p.origin,
                    line: p.line,
                    what: format!("brand {:?}, field context", self.brands[p.brand].name),
                    message: format!(
                        "unknown context group {:?} (defined: {})",
                        p.word,
                        known.join(", ")
                    ),
                });
            };
            self.brands[p.brand].context.extend(words.iter().cloned());
        }
        for b in &mut self.brands {
            b.context.sort_unstable();
            b.context.dedup();
        }
        self.noise.sort_unstable();
        self.noise.dedup();
        Ok(Dictionary {
            brands: self.brands,
            noise: self.noise,
            overrides: self.overrides,
        })
    }
}

/// A context or noise word: exactly one word once normalised.
fn single_word(
    src: &Source<'_>,
    word: &Spanned<String>,
    what: &str,
) -> Result<String, DictionaryError> {
    let norm = normalize_key(word.get_ref());
    if norm.len() != 1 {
        return src.invalid(
            word.span(),
            what.to_owned(),
            format!("{:?} must be a single word", word.get_ref()),
        );
    }
    Ok(norm.word(0).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<Dictionary, DictionaryError> {
        Dictionary::from_sources(&[(SHIPPED_ORIGIN, SHIPPED), ("operator.toml", extra)])
    }

    #[test]
    fn shipped_dictionary_loads() {
        let d = Dictionary::shipped().unwrap();
        assert!(d.brand_count() >= 120, "{} brands", d.brand_count());
        assert!(d.overrides().is_empty());
    }

    #[test]
    fn categories_parse_loosely() {
        assert_eq!(
            Category::parse("instant noodles"),
            Some(Category::InstantNoodles)
        );
        assert_eq!(Category::parse("TelcoLoad"), Some(Category::TelcoLoad));
        assert_eq!(Category::parse("Drinks"), None);
    }

    #[test]
    fn unknown_category_names_file_line_and_field() {
        let e =
            load("\n\n[[brand]]\nname = \"Sari Cola\"\ncategory = \"Drinks\"\ncompany = \"X\"\n")
                .unwrap_err()
                .to_string();
        assert!(
            e.starts_with("operator.toml, line 5: brand \"Sari Cola\", field category"),
            "{e}"
        );
        assert!(e.contains("unknown category \"Drinks\""), "{e}");
    }

    #[test]
    fn syntax_and_unknown_fields_are_reported_with_lines() {
        let e = load("[[brand]]\nname = \"X\"\naliasses = [\"y\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("operator.toml") && e.contains("line 3"), "{e}");
        assert!(e.contains("aliasses"), "{e}");
        let e = load("[[brand]\nname = ").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn new_brand_needs_category_and_company() {
        let e = load("[[brand]]\nname = \"Sari Cola\"\ncategory = \"Beverages\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("field company") && e.contains("needs a company"),
            "{e}"
        );
    }

    #[test]
    fn conflicting_alias_in_one_file_is_an_error() {
        let e = load(
            "[[brand]]\nname = \"A Cola\"\ncategory = \"Beverages\"\ncompany = \"A\"\naliases = [\"ac\"]\n\
             [[brand]]\nname = \"B Cola\"\ncategory = \"Beverages\"\ncompany = \"B\"\naliases = [\"ac\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("line 10") && e.contains("already belongs to brand \"A Cola\""),
            "{e}"
        );
    }

    #[test]
    fn unknown_context_group_is_an_error() {
        let e = load("[[brand]]\nname = \"Tide\"\ncontext = [\"@nope\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown context group \"@nope\""), "{e}");
    }

    #[test]
    fn operator_alias_overrides_shipped_owner() {
        let d = load(
            "[[brand]]\nname = \"Sari Cola\"\ncategory = \"Beverages\"\ncompany = \"Sari Inc.\"\naliases = [\"koka\"]\n",
        )
        .unwrap();
        assert_eq!(d.overrides().len(), 1, "{:?}", d.overrides());
        let coke = d.brands.iter().find(|b| b.name == "Coca-Cola").unwrap();
        assert!(!coke.keys.iter().any(|k| k.compact == "koka"));
    }
}
