//! Question → plan without a network: [`tokenizer`] splits, [`safety`] refuses what must not be
//! read at all, [`vocabulary`] knows the words (English, Filipino, Taglish), the brand matcher
//! knows brand names, and [`parser`] builds a [`Plan`](super::Plan) or asks back. A question is
//! never guessed at: an unknown word, a missing measure or an ambiguous word ("linggo": week
//! or Sunday?) gets a clarification, with "did you mean" suggestions where a known word is near.
//! The engine may read a question again with its unknown words taken as product names, when
//! silver has products so named ("sardinas", "pandesal").

pub mod parser;
mod recognise;
pub mod safety;
mod shaping;
pub mod stopwords;
pub mod tokenizer;
pub mod vocabulary;

pub use parser::{products_note, read, read_with_products};
pub use shaping::Reading;

#[cfg(test)]
mod tests;
