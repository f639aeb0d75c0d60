//! `deploy/agent.toml.example`, the file technicians start from, against the real config
//! loader: it parses, it names every key, and the defaults it shows in comments are the real
//! ones (uncommented, they change nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test reports failure

use std::path::Path;

use scout_agent::config::AgentConfig;

const EXAMPLE: &str = include_str!("../../deploy/agent.toml.example");

/// Keys the example sets to a placeholder or shows with a non-default value on purpose.
const NOT_DEFAULTS: &[&str] = &[
    "device_id",
    "store_id",
    "collector_url",
    "token",
    "token_file",
    "ca_file",
];

fn load(text: &str) -> AgentConfig {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    AgentConfig::load(Some(Path::new(file.path())), Vec::new())
        .unwrap_or_else(|e| panic!("the example does not load: {e}\n{text}"))
}

/// `key` of a `key = value` or `#key = value` line.
fn key_of(line: &str) -> Option<&str> {
    let line = line.strip_prefix('#').unwrap_or(line);
    let (key, _) = line.split_once(" = ")?;
    key.chars()
        .all(|c| c.is_ascii_lowercase() || c == '_')
        .then_some(key)
}

#[test]
fn the_example_loads_and_names_every_key() {
    let config = load(EXAMPLE);
    assert_eq!(config.device_id, "SCOUTPI-0000");
    assert_eq!(
        config.token_file.as_deref(),
        Some(Path::new("/etc/scout/token"))
    );

    let documented: Vec<&str> = EXAMPLE.lines().filter_map(key_of).collect();
    let serde_json::Value::Object(fields) = serde_json::to_value(AgentConfig::default()).unwrap()
    else {
        panic!("the config does not serialise to an object")
    };
    for key in fields.keys() {
        assert!(
            documented.contains(&key.as_str()),
            "deploy/agent.toml.example does not mention `{key}`"
        );
    }
    for key in &documented {
        assert!(
            fields.contains_key(*key),
            "deploy/agent.toml.example mentions `{key}`, which is not a config key"
        );
    }
}

#[test]
fn the_defaults_shown_in_comments_are_the_real_ones() {
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match key_of(line) {
            Some(key) if line.starts_with('#') && !NOT_DEFAULTS.contains(&key) => &line[1..],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let shown = serde_json::to_value(load(&uncommented)).unwrap();
    let real = serde_json::to_value(AgentConfig::default()).unwrap();
    for (key, value) in real.as_object().unwrap() {
        if !NOT_DEFAULTS.contains(&key.as_str()) {
            assert_eq!(
                &shown[key], value,
                "the example's `{key}` is not the default"
            );
        }
    }
}
