//! Scout agent library: everything the `scout-agent` binary does, callable from tests and
//! benches. Modules follow the data's journey on the device.

pub mod config;
pub mod outbox;
