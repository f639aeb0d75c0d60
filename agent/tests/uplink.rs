//! The uplink, from outside: its retry schedule on a paused tokio clock (`timing`) and its HTTP
//! behaviour against a scripted fake collector on 127.0.0.1 (`http`). Runs against the real
//! collector library are in scout-tests (`tests/tests/uplink_collector.rs`), which shares
//! `uplink/support.rs`: the agent does not depend on the collector.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "uplink/fake.rs"]
mod fake;
#[path = "uplink/http.rs"]
mod http;
#[path = "uplink/support.rs"]
mod support;
#[path = "uplink/timing.rs"]
mod timing;
