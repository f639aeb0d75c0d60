//! [`CheckedConfig`]: the configuration the service runs on, each value checked once by
//! [`AgentConfig::check`](super::AgentConfig::check) and held as the type it is used as. Its
//! fields are private to this module and `check.rs`, which alone builds one, so a
//! `CheckedConfig` in hand is a configuration that passed the check; the getters say what each
//! value is guaranteed to be.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use scout_common::DeviceId;

use super::{Problem, Secret};

/// The agent's configuration after [`AgentConfig::check`](super::AgentConfig::check).
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    pub(super) device_id: DeviceId,
    pub(super) store_id: String,
    pub(super) collector_url: String,
    pub(super) token: Secret,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) outbox_path: PathBuf,
    pub(super) max_outbox_bytes: u64,
    pub(super) listen: SocketAddr,
    pub(super) spool_dir: PathBuf,
    pub(super) spool_archive: bool,
    pub(super) spool_poll: Duration,
    pub(super) batch_max_records: NonZeroUsize,
    pub(super) batch_max_bytes: u64,
    pub(super) backoff_initial: Duration,
    pub(super) backoff_max: Duration,
    pub(super) heartbeat_interval: Duration,
    pub(super) stall_after: Duration,
    pub(super) request_timeout: Duration,
    pub(super) warnings: Vec<Problem>,
}

impl CheckedConfig {
    /// `device_id`, canonical (trimmed, upper case).
    pub fn device_id(&self) -> &DeviceId {
        &self.device_id
    }

    /// `store_id` as written (not blank).
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    /// `collector_url`: `http://` or `https://` with a host.
    pub fn collector_url(&self) -> &str {
        &self.collector_url
    }

    /// The device token: `token`, or what `token_file` held when the configuration was checked
    /// (surrounding whitespace removed, not empty).
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// `ca_file`, readable when checked: the only roots trusted for the collector.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// `outbox_path`: not empty, not a directory.
    pub fn outbox_path(&self) -> &Path {
        &self.outbox_path
    }

    /// `max_outbox_bytes`: at least [`MIN_OUTBOX_BYTES`](super::MIN_OUTBOX_BYTES) and
    /// `batch_max_bytes`.
    pub fn max_outbox_bytes(&self) -> u64 {
        self.max_outbox_bytes
    }

    /// `listen`: where local intake and status are served.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// `spool_dir`: not empty.
    pub fn spool_dir(&self) -> &Path {
        &self.spool_dir
    }

    /// `spool_archive`.
    pub fn spool_archive(&self) -> bool {
        self.spool_archive
    }

    /// `spool_poll_ms`, within [`MIN_SPOOL_POLL_MS`](super::MIN_SPOOL_POLL_MS) to
    /// [`MAX_SPOOL_POLL_MS`](super::MAX_SPOOL_POLL_MS).
    pub fn spool_poll(&self) -> Duration {
        self.spool_poll
    }

    /// `batch_max_records`: 1 to [`MAX_REJECTED_LISTED`](scout_common::protocol::MAX_REJECTED_LISTED).
    pub fn batch_max_records(&self) -> NonZeroUsize {
        self.batch_max_records
    }

    /// `batch_max_bytes`: at least 1024.
    pub fn batch_max_bytes(&self) -> u64 {
        self.batch_max_bytes
    }

    /// `backoff_initial_ms`: at least 1 ms.
    pub fn backoff_initial(&self) -> Duration {
        self.backoff_initial
    }

    /// `backoff_max_ms`: at least `backoff_initial`.
    pub fn backoff_max(&self) -> Duration {
        self.backoff_max
    }

    /// `heartbeat_interval_secs`: at least 1 s.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// `stall_after_secs`: at least 1 s.
    pub fn stall_after(&self) -> Duration {
        self.stall_after
    }

    /// `request_timeout_secs`: at least 1 s.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// What the check found risky but workable, for the log.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
}
