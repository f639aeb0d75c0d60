//! The agent's configuration, in layers: built-in defaults, then the TOML file
//! (`/etc/scout/agent.toml`), then `SCOUT_AGENT_<KEY>` environment variables. Unknown keys, in
//! the file or the environment, are errors, so a typo fails `scout-agent validate` instead of
//! being silently ignored on a device nobody can reach.
//!
//! Environment rules: the variable name is the prefix plus the key in upper case
//! (`SCOUT_AGENT_COLLECTOR_URL`); numbers may use `_` separators; an empty value removes the key,
//! restoring its default (so `SCOUT_AGENT_TOKEN=` can clear a file's token in favour of
//! `SCOUT_AGENT_TOKEN_FILE`). [`RESERVED_ENV`] names are read by the binary, not by this module.
//!
//! Two stages, one file each:
//! - `file.rs`: [`AgentConfig`], the configuration as written (every key, with its default),
//!   and how the layers are read into it ([`AgentConfig::load`], [`ConfigError`]).
//! - `check.rs`: [`AgentConfig::check`] checks every key once and turns the configuration into
//!   a [`CheckedConfig`] (`checked.rs`), whose values are already the types the agent works
//!   with: a [`scout_common::DeviceId`], the token read from `token_file`, [`std::time::Duration`]s,
//!   a non-zero batch size. Or it reports every [`Problem`], naming its key
//!   ([`InvalidConfig`]); `scout-agent validate` prints the same list.
//!
//! The service (`scout-agent run`) starts only from a [`CheckedConfig`], so nothing after the
//! check sees an unchecked value. The short commands read only the keys they need from the
//! configuration as written, so that they still work on a device whose configuration is
//! incomplete: `status` and `dead-letters` read the outbox, `enqueue` writes to it (parsing
//! `device_id`, which it stamps), `simulate` posts to the local intake.

mod check;
mod checked;
mod file;

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

pub use check::{InvalidConfig, Problem, Severity};
pub use checked::CheckedConfig;
pub use file::{AgentConfig, ConfigError};

/// Where the service looks for its file unless told otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/scout/agent.toml";

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "SCOUT_AGENT_";

/// Variables that carry the prefix but are not config keys (read by the binary).
pub const RESERVED_ENV: &[&str] = &["SCOUT_AGENT_CONFIG", "SCOUT_AGENT_LOG"];

/// Smallest accepted `max_outbox_bytes`.
pub const MIN_OUTBOX_BYTES: u64 = 1024 * 1024;

/// Accepted range of `spool_poll_ms`: faster wastes the card's and the CPU's time, slower
/// makes the capture app wait minutes for its files to be taken.
pub const MIN_SPOOL_POLL_MS: u64 = 50;
pub const MAX_SPOOL_POLL_MS: u64 = 60_000;

/// A secret that never appears in `Debug` output or serialised config.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// What the configuration's unit tests share: a config file on disk, and a valid configuration.
#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
pub(crate) mod test_support {
    use std::io::Write as _;

    use super::{AgentConfig, Secret};

    pub(crate) fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    pub(crate) fn valid() -> AgentConfig {
        AgentConfig {
            device_id: "scoutpi-0004".into(),
            store_id: "104".into(),
            collector_url: "https://collector.example:8443/".into(),
            token: Some(Secret::new("t0ken")),
            ..AgentConfig::default()
        }
    }
}
