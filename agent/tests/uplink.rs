//! The uplink, from outside: its retry schedule on a paused tokio clock (`timing`), its HTTP
//! behaviour against a scripted fake collector on 127.0.0.1 (`http`), and runs against the real
//! collector library, over plain HTTP and TLS (`collector`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "uplink/collector.rs"]
mod collector;
#[path = "uplink/fake.rs"]
mod fake;
#[path = "uplink/http.rs"]
mod http;
#[path = "uplink/support.rs"]
mod support;
#[path = "uplink/timing.rs"]
mod timing;
