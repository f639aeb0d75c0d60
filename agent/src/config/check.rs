//! Checking a configuration once, for good: [`AgentConfig::check`] turns the configuration as
//! written into a [`CheckedConfig`], or lists every [`Problem`] with the key it is about.
//! `scout-agent validate` prints the same list ([`AgentConfig::validate`]).

use std::fmt;
use std::fs;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use scout_common::DeviceId;
use serde::Serialize;

use super::checked::CheckedConfig;
use super::file::AgentConfig;
use super::{MAX_SPOOL_POLL_MS, MIN_OUTBOX_BYTES, MIN_SPOOL_POLL_MS, Secret};

/// How bad a [`Problem`] is: errors make `validate` fail; warnings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding of [`AgentConfig::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.key, self.message)
    }
}

/// Why [`AgentConfig::check`] refused a configuration: every problem found, errors first
/// (warnings too, as `validate` lists them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    pub problems: Vec<Problem>,
}

impl InvalidConfig {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration")?;
        for (i, problem) in self.errors().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{}: {}", problem.key, problem.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidConfig {}

impl AgentConfig {
    /// Checks every key once and returns the configuration as the types the agent runs on,
    /// with the warnings found ([`CheckedConfig::warnings`]); or every problem, errors first,
    /// each naming its key. Reads `token_file` and checks `ca_file` can be opened, so run it
    /// on the device (`scout-agent validate`, systemd's `ExecStartPre`, and `run` before it
    /// starts).
    pub fn check(&self) -> Result<CheckedConfig, InvalidConfig> {
        let mut found = Findings::default();
        let device_id = found.take(
            "device_id",
            DeviceId::parse(&self.device_id).map_err(|e| e.to_string()),
        );
        let store_id = found.take("store_id", self.checked_store_id());
        let url_host = found.take("collector_url", check_url(&self.collector_url));
        let token = self.checked_token(&mut found);
        let ca_file = found.take("ca_file", self.checked_ca_file());
        let outbox_path = found.take("outbox_path", self.checked_outbox_path());
        let spool_dir = found.take("spool_dir", self.checked_spool_dir());
        let spool_poll = found.take("spool_poll_ms", self.checked_spool_poll());
        let max_outbox_bytes = found.take("max_outbox_bytes", self.checked_max_outbox_bytes());
        let batch_max_records = found.take("batch_max_records", self.checked_batch_max_records());
        let batch_max_bytes = found.take("batch_max_bytes", self.checked_batch_max_bytes());
        let backoff_initial = found.take(
            "backoff_initial_ms",
            at_least_one(self.backoff_initial_ms).map(Duration::from_millis),
        );
        let backoff_max = found.take("backoff_max_ms", self.checked_backoff_max());
        let [heartbeat_interval, stall_after, request_timeout] = [
            ("heartbeat_interval_secs", self.heartbeat_interval_secs),
            ("stall_after_secs", self.stall_after_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ]
        .map(|(key, secs)| found.take(key, at_least_one(secs).map(Duration::from_secs)));
        self.warn(&mut found, url_host.as_deref());

        let mut problems = found.0;
        problems.sort_by_key(|p| p.severity != Severity::Error);
        if problems.iter().any(|p| p.severity == Severity::Error) {
            return Err(InvalidConfig { problems });
        }
        // Every value is there: a key without one has an error, and there is none.
        let checked = (|| {
            Some(CheckedConfig {
                device_id: device_id?,
                store_id: store_id?,
                collector_url: self.collector_url.clone(),
                token: token?,
                ca_file: ca_file?,
                outbox_path: outbox_path?,
                max_outbox_bytes: max_outbox_bytes?,
                listen: self.listen,
                spool_dir: spool_dir?,
                spool_archive: self.spool_archive,
                spool_poll: spool_poll?,
                batch_max_records: batch_max_records?,
                batch_max_bytes: batch_max_bytes?,
                backoff_initial: backoff_initial?,
                backoff_max: backoff_max?,
                heartbeat_interval: heartbeat_interval?,
                stall_after: stall_after?,
                request_timeout: request_timeout?,
                warnings: Vec::new(),
            })
        })();
        match checked {
            Some(checked) => Ok(CheckedConfig {
                warnings: problems,
                ..checked
            }),
            None => Err(InvalidConfig { problems }),
        }
    }

    /// Every problem [`AgentConfig::check`] finds, errors first (empty when there is none).
    pub fn validate(&self) -> Vec<Problem> {
        match self.check() {
            Ok(checked) => checked.warnings,
            Err(invalid) => invalid.problems,
        }
    }

    /// True when [`AgentConfig::check`] finds no errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    fn checked_store_id(&self) -> Result<String, String> {
        if self.store_id.trim().is_empty() {
            return Err("store_id is empty".into());
        }
        Ok(self.store_id.clone())
    }

    /// `token`, or `token_file` read; a problem is reported against the key at fault.
    fn checked_token(&self, found: &mut Findings) -> Option<Secret> {
        match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => found.error(
                "token",
                "both token and token_file are set; keep one (an empty SCOUT_AGENT_TOKEN= clears \
                 the file's token)",
            ),
            (None, None) => found.error("token", "no device token: set token or token_file"),
            (Some(token), None) if token.expose().trim().is_empty() => {
                found.error("token", "token is empty");
            }
            (Some(_), None) | (None, Some(_)) => {
                return found.take("token_file", self.token().map_err(|e| e.to_string()));
            }
        }
        None
    }

    fn checked_ca_file(&self) -> Result<Option<PathBuf>, String> {
        if let Some(ca) = &self.ca_file
            && let Err(err) = fs::File::open(ca)
        {
            return Err(format!("cannot read {}: {err}", ca.display()));
        }
        Ok(self.ca_file.clone())
    }

    fn checked_outbox_path(&self) -> Result<PathBuf, String> {
        if self.outbox_path.as_os_str().is_empty() {
            return Err("outbox_path is empty".into());
        }
        if self.outbox_path.is_dir() {
            return Err(format!(
                "{} is a directory; give the database file's path",
                self.outbox_path.display()
            ));
        }
        Ok(self.outbox_path.clone())
    }

    fn checked_spool_dir(&self) -> Result<PathBuf, String> {
        if self.spool_dir.as_os_str().is_empty() {
            return Err("spool_dir is empty".into());
        }
        Ok(self.spool_dir.clone())
    }

    fn checked_spool_poll(&self) -> Result<Duration, String> {
        if !(MIN_SPOOL_POLL_MS..=MAX_SPOOL_POLL_MS).contains(&self.spool_poll_ms) {
            return Err(format!(
                "{} ms is outside {MIN_SPOOL_POLL_MS}..={MAX_SPOOL_POLL_MS}",
                self.spool_poll_ms
            ));
        }
        Ok(Duration::from_millis(self.spool_poll_ms))
    }

    fn checked_max_outbox_bytes(&self) -> Result<u64, String> {
        if self.max_outbox_bytes < MIN_OUTBOX_BYTES {
            return Err(format!(
                "{} bytes is below the minimum of {MIN_OUTBOX_BYTES}",
                self.max_outbox_bytes
            ));
        }
        if self.max_outbox_bytes < self.batch_max_bytes {
            return Err(format!(
                "{} bytes is smaller than batch_max_bytes ({})",
                self.max_outbox_bytes, self.batch_max_bytes
            ));
        }
        Ok(self.max_outbox_bytes)
    }

    fn checked_batch_max_records(&self) -> Result<NonZeroUsize, String> {
        let most_records = scout_common::protocol::MAX_REJECTED_LISTED;
        let records = usize::try_from(self.batch_max_records).unwrap_or(usize::MAX);
        match NonZeroUsize::new(records) {
            None => Err("must be at least 1".into()),
            // The collector names rejected lines one by one only up to this many per request.
            Some(records) if records.get() > most_records => Err(format!(
                "must be at most {most_records} (the collector answers each line by number up to that)"
            )),
            Some(records) => Ok(records),
        }
    }

    fn checked_batch_max_bytes(&self) -> Result<u64, String> {
        if self.batch_max_bytes < 1024 {
            return Err("must be at least 1024".into());
        }
        Ok(self.batch_max_bytes)
    }

    fn checked_backoff_max(&self) -> Result<Duration, String> {
        if self.backoff_initial_ms > self.backoff_max_ms {
            return Err(format!(
                "backoff_max_ms ({}) is below backoff_initial_ms ({})",
                self.backoff_max_ms, self.backoff_initial_ms
            ));
        }
        Ok(Duration::from_millis(self.backoff_max_ms))
    }

    /// Settings that work but are risky.
    fn warn(&self, found: &mut Findings, url_host: Option<&str>) {
        if let Some(host) = url_host
            && self.collector_url.starts_with("http://")
            && !is_loopback_host(host)
        {
            found.warn(
                "collector_url",
                "plain http to a remote collector sends the device token unencrypted",
            );
        }
        if !self.listen.ip().is_loopback() {
            found.warn(
                "listen",
                format!(
                    "{} is reachable from the network, and local intake has no authentication",
                    self.listen
                ),
            );
        }
        if self.stall_after_secs.saturating_mul(1000) < self.backoff_max_ms {
            found.warn(
                "stall_after_secs",
                "shorter than backoff_max_ms: /healthz will report degraded during an ordinary \
                 retry wait",
            );
        }
    }
}

/// The problems found so far, in the order the keys are checked.
#[derive(Debug, Default)]
struct Findings(Vec<Problem>);

impl Findings {
    fn error(&mut self, key: &'static str, message: impl Into<String>) {
        self.push(Severity::Error, key, message.into());
    }

    fn warn(&mut self, key: &'static str, message: impl Into<String>) {
        self.push(Severity::Warning, key, message.into());
    }

    fn push(&mut self, severity: Severity, key: &'static str, message: String) {
        self.0.push(Problem {
            severity,
            key,
            message,
        });
    }

    /// The checked value of `key`, or `None` with its error recorded.
    fn take<T>(&mut self, key: &'static str, checked: Result<T, String>) -> Option<T> {
        checked.map_err(|message| self.error(key, message)).ok()
    }
}

/// A count that must be at least 1.
fn at_least_one(value: u64) -> Result<u64, String> {
    if value == 0 {
        return Err("must be at least 1".into());
    }
    Ok(value)
}

/// Checks an http(s) URL enough to catch configuration mistakes; returns its host.
fn check_url(url: &str) -> Result<String, String> {
    if url.trim().is_empty() {
        return Err("collector_url is not set".into());
    }
    if url.chars().any(char::is_whitespace) {
        return Err(format!("{url:?} contains whitespace"));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with https:// (or http:// for local tests)"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(host.to_ascii_lowercase())
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use crate::config::test_support::{file, valid};

    #[test]
    fn a_complete_config_validates() {
        let problems = valid().validate();
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn validate_reports_each_problem_clearly() {
        let cfg = AgentConfig {
            device_id: String::new(),
            store_id: " ".into(),
            collector_url: "ftp://collector".into(),
            token: Some(Secret::new("a")),
            token_file: Some("/t".into()),
            backoff_initial_ms: 10_000,
            backoff_max_ms: 1_000,
            batch_max_records: 0,
            max_outbox_bytes: 10,
            spool_poll_ms: 0,
            ..AgentConfig::default()
        };
        let problems = cfg.validate();
        let keys: Vec<&str> = problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| p.key)
            .collect();
        for key in [
            "device_id",
            "store_id",
            "collector_url",
            "token",
            "backoff_max_ms",
            "batch_max_records",
            "max_outbox_bytes",
            "spool_poll_ms",
        ] {
            assert!(keys.contains(&key), "{key} missing from {problems:?}");
        }
        let both = problems.iter().find(|p| p.key == "token").unwrap();
        assert!(both.message.contains("both token and token_file"), "{both}");
        assert!(!cfg.is_valid());
    }

    #[test]
    fn token_file_is_read_and_checked() {
        let f = file("  secret-from-file\n");
        let cfg = AgentConfig {
            token: None,
            token_file: Some(f.path().to_path_buf()),
            ..valid()
        };
        assert_eq!(cfg.token().unwrap().expose(), "secret-from-file");
        assert!(cfg.is_valid());

        let empty = file("\n");
        let cfg = AgentConfig {
            token: None,
            token_file: Some(empty.path().to_path_buf()),
            ..valid()
        };
        let problems = cfg.validate();
        assert!(
            problems.iter().any(|p| p.key == "token_file"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_checked_config_holds_the_checked_types() {
        let token = file("  secret-from-file\n");
        let cfg = AgentConfig {
            token: None,
            token_file: Some(token.path().to_path_buf()),
            batch_max_records: 7,
            spool_poll_ms: 250,
            backoff_initial_ms: 20,
            backoff_max_ms: 4_000,
            request_timeout_secs: 9,
            ..valid()
        };
        let checked = cfg.check().unwrap();
        assert_eq!(checked.device_id().as_str(), "SCOUTPI-0004");
        assert_eq!(checked.token().expose(), "secret-from-file");
        assert_eq!(checked.batch_max_records().get(), 7);
        assert_eq!(checked.spool_poll(), Duration::from_millis(250));
        assert_eq!(checked.backoff_initial(), Duration::from_millis(20));
        assert_eq!(checked.backoff_max(), Duration::from_secs(4));
        assert_eq!(checked.request_timeout(), Duration::from_secs(9));
        assert_eq!(checked.stall_after(), Duration::from_secs(600));
        assert!(checked.warnings().is_empty());
    }

    #[test]
    fn an_invalid_config_names_each_key_at_fault() {
        let cfg = AgentConfig {
            device_id: "scout pi".into(),
            batch_max_records: 0,
            listen: "0.0.0.0:8787".parse().unwrap(),
            ..valid()
        };
        let err = cfg.check().unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("invalid configuration: device_id: device id contains ' '"),
            "{text}"
        );
        assert!(
            text.ends_with("; batch_max_records: must be at least 1"),
            "{text}"
        );
        // The warning is listed with the errors, after them, as `validate` prints it.
        assert_eq!(err.problems, cfg.validate());
        assert_eq!(err.problems.last().unwrap().key, "listen");
    }

    #[test]
    fn url_checks() {
        assert_eq!(check_url("https://a.b:443/x").unwrap(), "a.b");
        assert_eq!(check_url("http://[::1]:8080").unwrap(), "::1");
        assert_eq!(check_url("https://user@host").unwrap(), "host");
        assert!(check_url("https://").is_err());
        assert!(check_url("collector:8080").is_err());
        assert!(check_url("https://a b").is_err());
    }

    #[test]
    fn risky_but_legal_settings_are_warnings() {
        let cfg = AgentConfig {
            collector_url: "http://collector.example".into(),
            listen: "0.0.0.0:8787".parse().unwrap(),
            ..valid()
        };
        let problems = cfg.validate();
        assert!(cfg.is_valid(), "{problems:?}");
        let warned: Vec<&str> = problems.iter().map(|p| p.key).collect();
        assert!(warned.contains(&"collector_url"), "{problems:?}");
        assert!(warned.contains(&"listen"), "{problems:?}");

        let local = AgentConfig {
            collector_url: "http://127.0.0.1:8080".into(),
            ..valid()
        };
        assert!(local.validate().is_empty());
    }
}
