//! The real `scout-agent` as a process: a config file in a tempdir, `run`, `status --json`,
//! real signals.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bins::{Process, binary};

/// What an agent's config file says; `extra` lines are raw TOML (`key = value`).
#[derive(Debug, Clone)]
pub struct AgentSetup {
    pub dir: PathBuf,
    pub device_id: String,
    pub store_id: String,
    pub collector_url: String,
    pub token: String,
    pub extra: Vec<String>,
}

impl AgentSetup {
    /// Device SCOUTPI-0004 of store 104, fast retries, files under `dir`.
    pub fn new(dir: &Path, collector_url: &str, token: &str) -> Self {
        Self {
            dir: dir.to_owned(),
            device_id: "SCOUTPI-0004".into(),
            store_id: "104".into(),
            collector_url: collector_url.to_owned(),
            token: token.to_owned(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, line: impl Into<String>) -> Self {
        self.extra.push(line.into());
        self
    }

    pub fn outbox_path(&self) -> PathBuf {
        self.dir.join("outbox.db")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.dir.join("spool")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("agent.toml")
    }

    /// Writes the config file and returns its path.
    pub fn write(&self) -> PathBuf {
        std::fs::create_dir_all(self.spool_dir()).unwrap();
        let mut text = format!(
            "device_id = \"{}\"\nstore_id = \"{}\"\ncollector_url = \"{}\"\ntoken = \"{}\"\n\
             outbox_path = \"{}\"\nspool_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n",
            self.device_id,
            self.store_id,
            self.collector_url,
            self.token,
            self.outbox_path().display(),
            self.spool_dir().display(),
        );
        let defaults = [
            ("backoff_initial_ms", "50"),
            ("backoff_max_ms", "1000"),
            ("heartbeat_interval_secs", "2"),
            ("request_timeout_secs", "5"),
            ("spool_poll_ms", "100"),
        ];
        for (key, value) in defaults {
            if !self.extra.iter().any(|l| l.trim_start().starts_with(key)) {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        for line in &self.extra {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(self.config_path(), text).unwrap();
        self.config_path()
    }
}

/// Writes the config and starts `scout-agent run`; returns once it listens.
pub fn start_agent(setup: &AgentSetup) -> Process {
    let config = setup.write();
    let args = [
        OsStr::new("run"),
        OsStr::new("--config"),
        config.as_os_str(),
    ];
    Process::start(
        &binary("scout-agent"),
        args,
        &[("SCOUT_AGENT_LOG", "info")],
        &setup.dir,
    )
}

/// Runs `scout-agent <args> --config <config>`.
pub fn agent_command(config: &Path, args: &[&str]) -> Output {
    Command::new(binary("scout-agent"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

/// `scout-agent status --json`, parsed.
pub fn status(config: &Path) -> Value {
    let out = agent_command(config, &["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Polls `status --json` until `done` holds or `timeout` passes; returns the last status.
pub fn wait_status(config: &Path, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let s = status(config);
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "status never got there: {s:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
