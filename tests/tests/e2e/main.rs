//! End-to-end: the real `scout-agent` and `scout-collector` binaries, a real SQLite bronze
//! (PostgreSQL in `postgres_outage`), real signals, and a fault-injecting proxy between them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports failure

mod delivery;
mod device;
mod postgres_outage;
mod support;
