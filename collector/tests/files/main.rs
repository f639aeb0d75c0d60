//! File ingestion's pure stage from outside the module, over the corpus in
//! `collector/tests/data/files/` (written by its `generate.py`, expectations in
//! `manifest.toml`): detection, reading, inference, mapping and conversion of every file, with
//! detection and mapping accuracy printed, then every expected value asserted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // tests report by panicking

mod corpus;
mod limits;
