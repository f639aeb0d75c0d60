//! The agent's configuration, in layers: built-in defaults, then the TOML file
//! (`/etc/scout/agent.toml`), then `SCOUT_AGENT_<KEY>` environment variables. Unknown keys, in
//! the file or the environment, are errors, so a typo fails `scout-agent validate` instead of
//! being silently ignored on a device nobody can reach.
//!
//! Environment rules: the variable name is the prefix plus the key in upper case
//! (`SCOUT_AGENT_COLLECTOR_URL`); numbers may use `_` separators; an empty value removes the key,
//! restoring its default (so `SCOUT_AGENT_TOKEN=` can clear a file's token in favour of
//! `SCOUT_AGENT_TOKEN_FILE`). [`RESERVED_ENV`] names are read by the binary, not by this module.

use std::fmt;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use scout_common::DeviceId;
use serde::{Deserialize, Serialize, Serializer};

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

/// Everything the agent reads from its configuration. Field docs name the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// This device's id, e.g. `SCOUTPI-0004` (any case; compared upper-cased). Required.
    pub device_id: String,
    /// The store the device sits in, e.g. `104`. Required.
    pub store_id: String,
    /// Base URL of the collector, `https://…` (or `http://` for a local test). Required.
    pub collector_url: String,
    /// Device token, inline. Exactly one of `token` and `token_file` must be set.
    pub token: Option<Secret>,
    /// File holding the device token (surrounding whitespace ignored).
    pub token_file: Option<PathBuf>,
    /// The SQLite outbox. Default `/var/lib/scout/outbox.db`.
    pub outbox_path: PathBuf,
    /// Cap on payload bytes held (pending plus dead letters). Default 512 MiB.
    pub max_outbox_bytes: u64,
    /// Local intake and status HTTP address. Default `127.0.0.1:8787`.
    pub listen: SocketAddr,
    /// Folder the capture app drops transaction files into. Default `/var/lib/scout/spool`.
    pub spool_dir: PathBuf,
    /// Move taken spool files into `spool_dir/archive/` instead of deleting them. Default false.
    pub spool_archive: bool,
    /// How often the spool folder is scanned, in milliseconds. Default 1 000.
    pub spool_poll_ms: u64,
    /// PEM file of extra CA certificates to trust for the collector.
    pub ca_file: Option<PathBuf>,
    /// Most transactions per upload. Default 500, at most 10,000.
    pub batch_max_records: u64,
    /// Most payload bytes per upload (before gzip). Default 1 MiB.
    pub batch_max_bytes: u64,
    /// First retry delay. Default 500 ms.
    pub backoff_initial_ms: u64,
    /// Longest retry delay. Default 60 000 ms.
    pub backoff_max_ms: u64,
    /// Seconds between heartbeats. Default 60.
    pub heartbeat_interval_secs: u64,
    /// `/healthz` reports degraded when there is a backlog and no upload has succeeded for this
    /// long. Default 600.
    pub stall_after_secs: u64,
    /// Timeout of one upload or heartbeat request. Default 30.
    pub request_timeout_secs: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            device_id: String::new(),
            store_id: String::new(),
            collector_url: String::new(),
            token: None,
            token_file: None,
            outbox_path: PathBuf::from("/var/lib/scout/outbox.db"),
            max_outbox_bytes: 512 * 1024 * 1024,
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            spool_dir: PathBuf::from("/var/lib/scout/spool"),
            spool_archive: false,
            spool_poll_ms: 1000,
            ca_file: None,
            batch_max_records: 500,
            batch_max_bytes: 1024 * 1024,
            backoff_initial_ms: 500,
            backoff_max_ms: 60_000,
            heartbeat_interval_secs: 60,
            stall_after_secs: 600,
            request_timeout_secs: 30,
        }
    }
}

/// How an environment value is turned into a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Bool,
}

/// Every key, with how to read it from the environment. A test keeps it in step with the struct.
const KEYS: &[(&str, Kind)] = &[
    ("device_id", Kind::Text),
    ("store_id", Kind::Text),
    ("collector_url", Kind::Text),
    ("token", Kind::Text),
    ("token_file", Kind::Text),
    ("outbox_path", Kind::Text),
    ("max_outbox_bytes", Kind::Integer),
    ("listen", Kind::Text),
    ("spool_dir", Kind::Text),
    ("spool_archive", Kind::Bool),
    ("spool_poll_ms", Kind::Integer),
    ("ca_file", Kind::Text),
    ("batch_max_records", Kind::Integer),
    ("batch_max_bytes", Kind::Integer),
    ("backoff_initial_ms", Kind::Integer),
    ("backoff_max_ms", Kind::Integer),
    ("heartbeat_interval_secs", Kind::Integer),
    ("stall_after_secs", Kind::Integer),
    ("request_timeout_secs", Kind::Integer),
];

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("config file {} is invalid: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("unknown environment variable {var}: no config key `{key}` (known keys: {known})")]
    UnknownEnv {
        var: String,
        key: String,
        known: String,
    },
    #[error("environment variable {var} is not valid UTF-8")]
    EnvNotUnicode { var: String },
    #[error("environment variable {var}={value:?}: {reason}")]
    EnvValue {
        var: String,
        value: String,
        reason: String,
    },
    #[error("environment overrides make the config invalid: {0}")]
    Merged(#[source] Box<toml::de::Error>),
    #[error("failed to read token_file {}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("token_file {} is empty", path.display())]
    EmptyTokenFile { path: PathBuf },
    #[error("no device token configured (set token or token_file)")]
    NoToken,
}

/// How bad a [`Problem`] is: errors make `validate` fail; warnings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding of [`AgentConfig::validate`].
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

impl AgentConfig {
    /// Defaults, then the file at `path` (if given), then the `SCOUT_AGENT_*` entries of `env`.
    /// The environment is passed in so tests do not touch the process's own.
    pub fn load<I>(path: Option<&Path>, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut table = match path {
            Some(path) => {
                let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                // Typed first, for errors that point at the line; then as a table to merge.
                let file_error = |source| ConfigError::File {
                    path: path.to_path_buf(),
                    source: Box::new(source),
                };
                toml::from_str::<Self>(&text).map_err(file_error)?;
                toml::from_str::<toml::Table>(&text).map_err(file_error)?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        toml::Value::Table(table)
            .try_into::<Self>()
            .map_err(|err| ConfigError::Merged(Box::new(err)))
    }

    /// [`AgentConfig::load`] with this process's environment.
    pub fn load_from_process(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut env = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(ENV_PREFIX) {
                continue;
            }
            let value = value
                .into_string()
                .map_err(|_| ConfigError::EnvNotUnicode {
                    var: name.to_owned(),
                })?;
            env.push((name.to_owned(), value));
        }
        Self::load(path, env)
    }

    /// The device token, from `token` or by reading `token_file`.
    pub fn token(&self) -> Result<Secret, ConfigError> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let path = self.token_file.as_ref().ok_or(ConfigError::NoToken)?;
        let text = fs::read_to_string(path).map_err(|source| ConfigError::TokenFile {
            path: path.clone(),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ConfigError::EmptyTokenFile { path: path.clone() });
        }
        Ok(Secret::new(token))
    }

    /// Every problem found, errors first. Reads `token_file` and checks `ca_file` exists, so run
    /// it on the device (`scout-agent validate`, systemd's `ExecStartPre`).
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut error = |key, message: String| {
            problems.push(Problem {
                severity: Severity::Error,
                key,
                message,
            })
        };

        if let Err(err) = DeviceId::parse(&self.device_id) {
            error("device_id", err.to_string());
        }
        if self.store_id.trim().is_empty() {
            error("store_id", "store_id is empty".into());
        }
        let url_host = match check_url(&self.collector_url) {
            Ok(host) => Some(host),
            Err(message) => {
                error("collector_url", message);
                None
            }
        };

        match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => error(
                "token",
                "both token and token_file are set; keep one (an empty SCOUT_AGENT_TOKEN= clears \
                 the file's token)"
                    .into(),
            ),
            (None, None) => error("token", "no device token: set token or token_file".into()),
            (Some(token), None) if token.expose().trim().is_empty() => {
                error("token", "token is empty".into());
            }
            (None, Some(_)) => {
                if let Err(err) = self.token() {
                    error("token_file", err.to_string());
                }
            }
            (Some(_), None) => {}
        }
        if let Some(ca) = &self.ca_file
            && let Err(err) = fs::File::open(ca)
        {
            error("ca_file", format!("cannot read {}: {err}", ca.display()));
        }

        if self.outbox_path.as_os_str().is_empty() {
            error("outbox_path", "outbox_path is empty".into());
        } else if self.outbox_path.is_dir() {
            error(
                "outbox_path",
                format!(
                    "{} is a directory; give the database file's path",
                    self.outbox_path.display()
                ),
            );
        }
        if self.spool_dir.as_os_str().is_empty() {
            error("spool_dir", "spool_dir is empty".into());
        }
        if !(MIN_SPOOL_POLL_MS..=MAX_SPOOL_POLL_MS).contains(&self.spool_poll_ms) {
            error(
                "spool_poll_ms",
                format!(
                    "{} ms is outside {MIN_SPOOL_POLL_MS}..={MAX_SPOOL_POLL_MS}",
                    self.spool_poll_ms
                ),
            );
        }
        if self.max_outbox_bytes < MIN_OUTBOX_BYTES {
            error(
                "max_outbox_bytes",
                format!(
                    "{} bytes is below the minimum of {MIN_OUTBOX_BYTES}",
                    self.max_outbox_bytes
                ),
            );
        } else if self.max_outbox_bytes < self.batch_max_bytes {
            error(
                "max_outbox_bytes",
                format!(
                    "{} bytes is smaller than batch_max_bytes ({})",
                    self.max_outbox_bytes, self.batch_max_bytes
                ),
            );
        }
        let most_records = scout_common::protocol::MAX_REJECTED_LISTED as u64;
        if self.batch_max_records == 0 {
            error("batch_max_records", "must be at least 1".into());
        } else if self.batch_max_records > most_records {
            // The collector names rejected lines one by one only up to this many per request.
            error(
                "batch_max_records",
                format!(
                    "must be at most {most_records} (the collector answers each line by number up to that)"
                ),
            );
        }
        if self.batch_max_bytes < 1024 {
            error("batch_max_bytes", "must be at least 1024".into());
        }
        if self.backoff_initial_ms == 0 {
            error("backoff_initial_ms", "must be at least 1".into());
        }
        if self.backoff_initial_ms > self.backoff_max_ms {
            error(
                "backoff_max_ms",
                format!(
                    "backoff_max_ms ({}) is below backoff_initial_ms ({})",
                    self.backoff_max_ms, self.backoff_initial_ms
                ),
            );
        }
        for (key, value) in [
            ("heartbeat_interval_secs", self.heartbeat_interval_secs),
            ("stall_after_secs", self.stall_after_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ] {
            if value == 0 {
                error(key, "must be at least 1".into());
            }
        }

        let mut warn = |key, message: String| {
            problems.push(Problem {
                severity: Severity::Warning,
                key,
                message,
            })
        };
        if let Some(host) = &url_host
            && self.collector_url.starts_with("http://")
            && !is_loopback_host(host)
        {
            warn(
                "collector_url",
                "plain http to a remote collector sends the device token unencrypted".into(),
            );
        }
        if !self.listen.ip().is_loopback() {
            warn(
                "listen",
                format!(
                    "{} is reachable from the network, and local intake has no authentication",
                    self.listen
                ),
            );
        }
        if self.stall_after_secs.saturating_mul(1000) < self.backoff_max_ms {
            warn(
                "stall_after_secs",
                "shorter than backoff_max_ms: /healthz will report degraded during an ordinary \
                 retry wait"
                    .into(),
            );
        }
        problems.sort_by_key(|p| p.severity != Severity::Error);
        problems
    }

    /// True when [`AgentConfig::validate`] finds no errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.validate()
            .iter()
            .all(|p| p.severity != Severity::Error)
    }
}

/// Overlays `SCOUT_AGENT_*` variables onto the file's table.
fn apply_env<I>(table: &mut toml::Table, env: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    for (var, value) in env {
        let Some(suffix) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if RESERVED_ENV.contains(&var.as_str()) {
            continue;
        }
        let key = suffix.to_ascii_lowercase();
        let Some(&(name, kind)) = KEYS.iter().find(|(name, _)| *name == key) else {
            return Err(ConfigError::UnknownEnv {
                var,
                key,
                known: KEYS
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if value.trim().is_empty() {
            table.remove(name);
            continue;
        }
        let parsed = match kind {
            Kind::Text => toml::Value::String(value),
            Kind::Integer => match value.trim().replace('_', "").parse::<i64>() {
                Ok(n) if n >= 0 => toml::Value::Integer(n),
                _ => {
                    return Err(ConfigError::EnvValue {
                        var,
                        value,
                        reason: "expected a whole number of zero or more".into(),
                    });
                }
            },
            Kind::Bool => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
                "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
                _ => {
                    return Err(ConfigError::EnvValue {
                        var,
                        value,
                        reason: "expected true or false".into(),
                    });
                }
            },
        };
        table.insert(name.to_owned(), parsed);
    }
    Ok(())
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
    use std::io::Write as _;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn valid() -> AgentConfig {
        AgentConfig {
            device_id: "scoutpi-0004".into(),
            store_id: "104".into(),
            collector_url: "https://collector.example:8443/".into(),
            token: Some(Secret::new("t0ken")),
            ..AgentConfig::default()
        }
    }

    #[test]
    fn defaults_apply_without_file_or_env() {
        let cfg = AgentConfig::load(None, env(&[])).unwrap();
        assert_eq!(cfg, AgentConfig::default());
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8787");
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        let f = file(
            r#"
            device_id = "SCOUTPI-0004"
            store_id = "104"
            collector_url = "https://from-file"
            batch_max_records = 100
            listen = "127.0.0.1:9000"
            "#,
        );
        let cfg = AgentConfig::load(
            Some(f.path()),
            env(&[
                ("SCOUT_AGENT_COLLECTOR_URL", "https://from-env"),
                ("SCOUT_AGENT_SPOOL_ARCHIVE", "yes"),
                ("SCOUT_AGENT_BATCH_MAX_BYTES", "2_000_000"),
                ("UNRELATED", "ignored"),
                ("SCOUT_AGENT_CONFIG", "/reserved/for/the/binary"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.device_id, "SCOUTPI-0004"); // file
        assert_eq!(cfg.collector_url, "https://from-env"); // env beats file
        assert_eq!(cfg.batch_max_records, 100); // file beats default
        assert_eq!(cfg.batch_max_bytes, 2_000_000); // env beats default
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.backoff_max_ms, 60_000); // default
        assert!(cfg.spool_archive); // env, a boolean
        assert_eq!(cfg.spool_poll_ms, 1000); // default
    }

    #[test]
    fn empty_env_value_restores_the_default() {
        let f = file("token = \"abc\"\nbatch_max_records = 7\n");
        let cfg = AgentConfig::load(
            Some(f.path()),
            env(&[
                ("SCOUT_AGENT_TOKEN", ""),
                ("SCOUT_AGENT_TOKEN_FILE", "/run/secrets/token"),
                ("SCOUT_AGENT_BATCH_MAX_RECORDS", " "),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.token, None);
        assert_eq!(cfg.token_file, Some(PathBuf::from("/run/secrets/token")));
        assert_eq!(cfg.batch_max_records, 500);
    }

    #[test]
    fn unknown_file_key_is_an_error_naming_the_key() {
        let f = file("device_id = \"X\"\ncolector_url = \"https://typo\"\n");
        let err = AgentConfig::load(Some(f.path()), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("colector_url"), "{text}");
        assert!(text.contains("line 2") || text.contains("2:"), "{text}");
    }

    #[test]
    fn unknown_env_key_is_an_error() {
        let err =
            AgentConfig::load(None, env(&[("SCOUT_AGENT_COLECTOR_URL", "https://x")])).unwrap_err();
        match err {
            ConfigError::UnknownEnv { var, key, known } => {
                assert_eq!(var, "SCOUT_AGENT_COLECTOR_URL");
                assert_eq!(key, "colector_url");
                assert!(known.contains("collector_url"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_env_values_are_errors() {
        let err =
            AgentConfig::load(None, env(&[("SCOUT_AGENT_MAX_OUTBOX_BYTES", "lots")])).unwrap_err();
        assert!(matches!(err, ConfigError::EnvValue { .. }), "{err:?}");
        let err =
            AgentConfig::load(None, env(&[("SCOUT_AGENT_LISTEN", "not an address")])).unwrap_err();
        assert!(matches!(err, ConfigError::Merged(_)), "{err:?}");
        let err =
            AgentConfig::load(None, env(&[("SCOUT_AGENT_SPOOL_ARCHIVE", "maybe")])).unwrap_err();
        assert!(matches!(err, ConfigError::EnvValue { .. }), "{err:?}");
    }

    #[test]
    fn wrong_type_in_file_is_an_error() {
        let f = file("batch_max_records = \"many\"\n");
        let err = AgentConfig::load(Some(f.path()), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err:?}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err =
            AgentConfig::load(Some(Path::new("/nonexistent/agent.toml")), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }

    #[test]
    fn every_struct_key_is_overridable_from_env() {
        // Serialising a config with every option set lists the struct's keys; KEYS must match.
        let mut all = valid();
        all.token_file = Some("/t".into());
        all.ca_file = Some("/ca.pem".into());
        let table = toml::Table::try_from(&all).unwrap();
        let mut struct_keys: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut env_keys: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
        struct_keys.sort_unstable();
        env_keys.sort_unstable();
        assert_eq!(struct_keys, env_keys);
        for (key, kind) in KEYS {
            let expected = if table[*key].is_integer() {
                Kind::Integer
            } else if table[*key].is_bool() {
                Kind::Bool
            } else {
                Kind::Text
            };
            assert_eq!(*kind, expected, "{key}");
        }
    }

    #[test]
    fn secrets_do_not_leak_into_debug_or_serialisation() {
        let cfg = valid();
        assert!(!format!("{cfg:?}").contains("t0ken"));
        assert!(!toml::to_string(&cfg).unwrap().contains("t0ken"));
        assert_eq!(cfg.token().unwrap().expose(), "t0ken");
    }

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
