//! Scout agent library: everything the `scout-agent` binary does, callable from tests and
//! benches. Modules follow the data's journey on the device: `intake` → `outbox` → `uplink`,
//! with `status` and `http` for the technician, `service` tying them together and `systemd`
//! reporting readiness and liveness to the service manager.

pub mod cli;
pub mod config;
pub mod http;
pub mod intake;
pub mod outbox;
pub mod service;
pub mod simulate;
pub mod status;
pub mod systemd;
pub mod uplink;

pub use service::run;

/// This build's version: stamped on every line sent, sent in heartbeats, shown in status.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
