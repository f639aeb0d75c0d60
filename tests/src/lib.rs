//! End-to-end test support: the real `scout-agent` and `scout-collector` binaries as processes,
//! a fault-injecting HTTP proxy to put between them, a reserved port that forwards once the
//! server behind it is up, throwaway PostgreSQL databases, and a throwaway certificate
//! authority.
//!
//! The binaries are the ones `cargo test --workspace` builds next to this crate's test
//! executables (`target/<profile>/`); `SCOUT_AGENT_BIN` and `SCOUT_COLLECTOR_BIN` override.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a panic is the report

pub mod agent;
pub mod bins;
pub mod pg;
pub mod pki;
pub mod proxy;
pub mod relay;
