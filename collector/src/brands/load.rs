//! Loading the dictionary: the shipped file, and an operator file merged over it.

use std::path::Path;

use super::dictionary::{Dictionary, DictionaryError, SHIPPED, SHIPPED_ORIGIN};
use super::merge::Merger;

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
            merger.add_file(origin, text, file)?;
        }
        merger.finish()
    }
}
