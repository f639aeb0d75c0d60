//! Brand detection from outside the module: accuracy on the labelled set
//! (`collector/tests/data/brand_labels.tsv`), the ambiguous-word rules, whole transactions, the
//! operator's extension file, till shorthand, and the `scout-collector brand` command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // tests report by panicking

mod generic;
mod labelled;
mod operator;
mod rules;
mod shorthand;

use std::sync::OnceLock;

use scout_collector::brands::BrandMatcher;

/// The shipped matcher, built once for the whole binary.
pub fn matcher() -> &'static BrandMatcher {
    static M: OnceLock<BrandMatcher> = OnceLock::new();
    M.get_or_init(|| BrandMatcher::shipped().expect("the shipped dictionary loads"))
}

/// The brand name `text` resolves to, if any.
pub fn brand_of(text: &str) -> Option<String> {
    matcher().detect(text).map(|d| d.brand.name.clone())
}
