//! The brand dictionary as data: `collector/data/brands.toml` (embedded at build time) merged with
//! an optional operator file of the same format. This file holds what a loaded dictionary is;
//! `merge.rs` reads the files, checks every field (naming the file, line and field of anything
//! wrong) and merges them by the rules in the shipped file's header.

use std::path::PathBuf;

pub use super::category::Category;

/// The shipped dictionary.
pub const SHIPPED: &str = include_str!("../../data/brands.toml");
/// How the shipped dictionary is named in messages.
pub const SHIPPED_ORIGIN: &str = "collector/data/brands.toml (shipped)";

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

/// What a dictionary entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// The brand's canonical name.
    Name,
    /// Another name for the brand.
    Alias,
    /// A product-type word that usually means the brand.
    Generic,
    /// A parent company's name or another name for it (a `[[company]]` entry).
    Company,
}

/// One matchable form of a brand or company.
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
    /// Normalised single words that, right after one of the brand's forms, mean the form is
    /// something else ("century egg" is not Century Tuna).
    pub(crate) not_before: Vec<String>,
    pub(crate) fuzzy: FuzzySetting,
}

/// A parent company whose name people use as a product name ("Nestlé", "URC"): matched as the
/// company, with a low score, only when no brand of it is named.
#[derive(Debug, Clone)]
pub(crate) struct CompanySpec {
    pub(crate) name: String,
    /// Its name and aliases, all of kind [`KeyKind::Company`].
    pub(crate) keys: Vec<KeySpec>,
    /// The `company` values of the brands it owns (its own name by default).
    pub(crate) covers: Vec<String>,
    /// Indices of those brands in [`Dictionary::brands`], filled when merging ends.
    pub(crate) brands: Vec<usize>,
}

/// The merged dictionary, ready to be indexed by the matcher.
#[derive(Debug, Clone)]
pub struct Dictionary {
    pub(crate) brands: Vec<BrandSpec>,
    pub(crate) companies: Vec<CompanySpec>,
    pub(crate) noise: Vec<String>,
    pub(crate) overrides: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

impl Dictionary {
    /// Number of brands.
    pub fn brand_count(&self) -> usize {
        self.brands.len()
    }

    /// Number of parent companies matched by name.
    pub fn company_count(&self) -> usize {
        self.companies.len()
    }

    /// Messages for aliases an operator file took from a shipped brand (worth logging).
    pub fn overrides(&self) -> &[String] {
        &self.overrides
    }

    /// Harmless but untidy entries, each with its file and line: a form listed twice for one
    /// brand, or a weak form that another brand's strong form hides. The shipped file has none.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(extra: &str) -> Result<Dictionary, DictionaryError> {
        Dictionary::from_sources(&[(SHIPPED_ORIGIN, SHIPPED), ("operator.toml", extra)])
    }

    #[test]
    fn shipped_dictionary_loads_without_duplicates_or_conflicts() {
        let d = Dictionary::shipped().unwrap();
        assert!(d.brand_count() >= 450, "{} brands", d.brand_count());
        assert!(d.company_count() >= 10, "{} companies", d.company_count());
        assert!(d.overrides().is_empty(), "{:?}", d.overrides());
        assert!(d.warnings().is_empty(), "{:#?}", d.warnings());
        // Every strong form means one brand or one company (loading refuses a second owner in
        // one file; this says the same thing from the loaded side).
        let mut owner: HashMap<&str, &str> = HashMap::new();
        let strong = d
            .brands
            .iter()
            .flat_map(|b| {
                b.keys
                    .iter()
                    .filter(|k| k.strong)
                    .map(move |k| (k, &b.name))
            })
            .chain(
                d.companies
                    .iter()
                    .flat_map(|c| c.keys.iter().map(move |k| (k, &c.name))),
            );
        for (key, name) in strong {
            if let Some(other) = owner.insert(&key.compact, name) {
                assert_eq!(other, name, "{:?} means two things", key.spaced);
            }
        }
        for c in &d.companies {
            assert!(!c.brands.is_empty(), "company {} owns no brand", c.name);
        }
        let used: std::collections::HashSet<_> = d.brands.iter().map(|b| b.category).collect();
        assert_eq!(used.len(), Category::ALL.len(), "every category has brands");
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
    fn company_alias_may_not_take_a_brand_form_in_one_file() {
        let e = load(
            "[[brand]]\nname = \"A Cola\"\ncategory = \"Beverages\"\ncompany = \"A Inc.\"\n\
             aliases = [\"acme\"]\n\n[[company]]\nname = \"A Inc.\"\naliases = [\"acme\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("line 9") && e.contains("already belongs to brand \"A Cola\""),
            "{e}"
        );
    }

    #[test]
    fn company_must_own_a_brand() {
        let e = load("[[company]]\nname = \"Nobody Inc.\"\naliases = [\"nobody\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("operator.toml, line 2") && e.contains("no brand has company"),
            "{e}"
        );
        let e = load("[[company]]\nname = \"Acme\"\ncovers = [\"Acme Foods\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("\"Acme Foods\""), "{e}");
    }

    #[test]
    fn duplicate_forms_are_warnings() {
        let d = load(
            "[[brand]]\nname = \"Sari Cola\"\ncategory = \"Beverages\"\ncompany = \"S\"\n\
             aliases = [\"sari kola\", \"Sari-Kola\"]\n",
        )
        .unwrap();
        assert_eq!(d.warnings().len(), 1, "{:?}", d.warnings());
        assert!(
            d.warnings()[0].contains("operator.toml, line 5"),
            "{:?}",
            d.warnings()
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
