//! Scout's wire vocabulary, shared by the agent and the collector: the ScoutPi transaction and
//! its tolerant parser, NDJSON framing, device ids and the ingest protocol types.
//!
//! This crate does no IO (no sockets, files, databases or runtimes): it turns bytes into checked
//! values and back, so both binaries agree on every rule and the rules are unit-testable. The
//! exceptions are opt-in: with the `signal` feature, `shutdown::shutdown_signal` is the
//! SIGINT/SIGTERM future both binaries stop on (it needs tokio's signal handling); with the
//! `serve` feature, `serve` holds the HTTP connection rules both binaries' servers follow.

pub mod device;
pub mod metrics;
pub mod ndjson;
pub mod protocol;
pub mod repair;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "signal")]
pub mod shutdown;
pub mod text;
pub mod timestamp;
pub mod transaction;

pub use device::DeviceId;
pub use protocol::{AgentStamp, Heartbeat, IngestResponse, RejectedLine};
pub use repair::{Repair, RepairKind};
pub use transaction::{Item, Transaction, TransactionError};
