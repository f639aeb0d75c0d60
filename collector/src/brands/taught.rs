//! Entries operators teach through the database (`scout-collector brands alias|add`), as one
//! more dictionary source merged after the shipped dictionary and the operator file.

use std::path::Path;

use serde::Serialize;

use super::dictionary::{Dictionary, DictionaryError, SHIPPED, SHIPPED_ORIGIN};

/// Where taught entries come from, as errors name it.
pub const TAUGHT_ORIGIN: &str = "metadata.brand_dictionary";

/// One taught entry: an alias for a brand, or a brand of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaughtEntry {
    /// `name` means `brand` (a brand the dictionary knows).
    Alias { name: String, brand: String },
    /// A brand the dictionary lacked.
    Brand {
        name: String,
        category: String,
        company: String,
    },
}

impl TaughtEntry {
    /// `alias` or `brand`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Alias { .. } => "alias",
            Self::Brand { .. } => "brand",
        }
    }

    /// The text the entry teaches (the alias, or the new brand's name).
    pub fn name(&self) -> &str {
        match self {
            Self::Alias { name, .. } | Self::Brand { name, .. } => name,
        }
    }

    /// The brand the entry resolves to.
    pub fn brand(&self) -> &str {
        match self {
            Self::Alias { brand, .. } => brand,
            Self::Brand { name, .. } => name,
        }
    }
}

#[derive(Serialize)]
struct Doc<'a> {
    version: u32,
    brand: Vec<BrandDoc<'a>>,
}

#[derive(Serialize)]
struct BrandDoc<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<&'a str>,
}

/// The entries in the dictionary file format: one `[[brand]]` per brand named, in order of
/// first mention, holding what was taught about it.
pub fn to_toml(entries: &[TaughtEntry]) -> String {
    let mut brands: Vec<BrandDoc<'_>> = Vec::new();
    for e in entries {
        let i = match brands.iter().position(|b| b.name == e.brand()) {
            Some(i) => i,
            None => {
                brands.push(BrandDoc {
                    name: e.brand(),
                    category: None,
                    company: None,
                    aliases: Vec::new(),
                });
                brands.len() - 1
            }
        };
        match e {
            TaughtEntry::Alias { name, .. } => brands[i].aliases.push(name),
            TaughtEntry::Brand {
                category, company, ..
            } => {
                brands[i].category = Some(category);
                brands[i].company = Some(company);
            }
        }
    }
    // Serialising plain strings and arrays cannot fail.
    toml::to_string(&Doc {
        version: 1,
        brand: brands,
    })
    .unwrap_or_default()
}

impl Dictionary {
    /// The shipped dictionary, the operator file at `extension` if given, then `taught`.
    pub fn with_taught(
        extension: Option<&Path>,
        taught: &[TaughtEntry],
    ) -> Result<Self, DictionaryError> {
        let file = match extension {
            Some(path) => Some((
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|source| DictionaryError::Read {
                    path: path.to_owned(),
                    source,
                })?,
            )),
            None => None,
        };
        let taught_text = to_toml(taught);
        let mut sources = vec![(SHIPPED_ORIGIN, SHIPPED)];
        if let Some((origin, text)) = &file {
            sources.push((origin.as_str(), text.as_str()));
        }
        if !taught.is_empty() {
            sources.push((TAUGHT_ORIGIN, taught_text.as_str()));
        }
        Self::from_sources(&sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::brands::BrandMatcher;

    fn alias(name: &str, brand: &str) -> TaughtEntry {
        TaughtEntry::Alias {
            name: name.into(),
            brand: brand.into(),
        }
    }

    #[test]
    fn taught_aliases_and_brands_reach_the_matcher() {
        let shipped = BrandMatcher::shipped().unwrap();
        assert!(shipped.detect("Zorbix Choco Bar").is_none());
        let taught = [
            TaughtEntry::Brand {
                name: "Zorbix".into(),
                category: "Candies".into(),
                company: "Zorbix Foods Inc.".into(),
            },
            alias("zrbx", "Zorbix"),
            alias("Koks \"Zero\"", "Coca-Cola"),
        ];
        let text = to_toml(&taught);
        assert!(text.contains("[[brand]]"), "{text}");
        let m = BrandMatcher::new(&Dictionary::with_taught(None, &taught).unwrap());
        let d = m.detect("Zorbix Choco Bar").unwrap();
        assert_eq!(d.brand.name, "Zorbix");
        assert_eq!(d.brand.company, "Zorbix Foods Inc.");
        assert_eq!(m.detect("zrbx 2pcs").unwrap().brand.name, "Zorbix");
        assert_eq!(m.detect("koks zero 1L").unwrap().brand.name, "Coca-Cola");
        // The shipped brands are all still there.
        assert_eq!(m.stats().brands, shipped.stats().brands + 1);
    }

    #[test]
    fn an_alias_for_an_unknown_brand_is_an_error_naming_the_source() {
        let err = Dictionary::with_taught(None, &[alias("blorp", "No Such Brand")]).unwrap_err();
        assert!(err.to_string().contains(TAUGHT_ORIGIN), "{err}");
    }
}
