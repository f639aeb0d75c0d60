//! The configuration as written: [`AgentConfig`] (every key, with its default) and how the
//! layers are read into it: defaults, then the TOML file, then `SCOUT_AGENT_*` variables
//! ([`AgentConfig::load`]). Nothing is checked here beyond each value's TOML type; that is
//! `check.rs`'s work.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ENV_PREFIX, RESERVED_ENV, Secret};

/// The configuration as written: every key the agent reads, each with its default (the field
/// docs name them). [`AgentConfig::check`] turns it into the [`super::CheckedConfig`] the
/// service runs on.
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use crate::config::test_support::{file, valid};

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
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
}
