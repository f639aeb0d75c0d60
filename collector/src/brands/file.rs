//! The dictionary file format: what a `[[brand]]`, `[[company]]`, `[context]` and `noise` may
//! hold (unknown fields are refused by serde), and the checks every name and word goes through,
//! each error naming the file, line and field.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::dictionary::{DictionaryError, MAX_WORDS};
use super::normalize::normalize_key;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDoc {
    pub(crate) version: Option<Spanned<i64>>,
    #[serde(default)]
    pub(crate) noise: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) context: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default, rename = "brand")]
    pub(crate) brands: Vec<BrandDoc>,
    #[serde(default, rename = "company")]
    pub(crate) companies: Vec<CompanyDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrandDoc {
    pub(crate) name: Spanned<String>,
    pub(crate) category: Option<Spanned<String>>,
    pub(crate) company: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) aliases: Vec<Spanned<AliasDoc>>,
    #[serde(default)]
    pub(crate) weak: Vec<Spanned<AliasDoc>>,
    #[serde(default)]
    pub(crate) generic: Vec<Spanned<AliasDoc>>,
    #[serde(default)]
    pub(crate) context: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) not_before: Vec<Spanned<String>>,
    pub(crate) fuzzy: Option<Spanned<FuzzyDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompanyDoc {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) aliases: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) covers: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum AliasDoc {
    Plain(String),
    Scored(ScoredAlias),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScoredAlias {
    pub(crate) alias: String,
    pub(crate) score: f64,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum FuzzyDoc {
    Switch(bool),
    Threshold(f64),
}

/// One file being read: its name for messages and its text for line numbers.
pub(crate) struct Source<'a> {
    pub(crate) origin: &'a str,
    pub(crate) text: &'a str,
    pub(crate) file: usize,
}

impl Source<'_> {
    pub(crate) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    pub(crate) fn invalid<T>(
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

/// A name or alias normalised: its compact and spaced forms, checked for length.
pub(crate) fn key_text<T>(
    src: &Source<'_>,
    at: &Spanned<T>,
    text: &str,
    label: &str,
    field: &str,
) -> Result<(String, String), DictionaryError> {
    let norm = normalize_key(text);
    let what = format!("{label}, field {field}");
    if norm.is_empty() {
        return src.invalid(
            at.span(),
            what,
            format!("{text:?} has no letters or digits once normalised"),
        );
    }
    if norm.len() > MAX_WORDS {
        return src.invalid(
            at.span(),
            what,
            format!("{text:?} has more than {MAX_WORDS} words"),
        );
    }
    Ok((
        norm.compact(0, norm.len()).to_owned(),
        norm.spaced(0, norm.len()),
    ))
}

/// A context or noise word: exactly one word once normalised.
pub(crate) fn single_word(
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
