//! A configuration for a real agent process that works offline: nothing listens on the
//! collector's port (9), intake listens on 127.0.0.1:0, and the outbox and spool live in `dir`.

use std::path::{Path, PathBuf};

/// Writes `dir/agent.toml` and returns its path.
pub fn write_config(dir: &Path) -> PathBuf {
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "device_id = \"SCOUTPI-0004\"\nstore_id = \"104\"\n\
             collector_url = \"http://127.0.0.1:9\"\ntoken = \"scout_test_token\"\n\
             outbox_path = \"{}\"\nspool_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n",
            dir.join("outbox.db").display(),
            dir.join("spool").display(),
        ),
    )
    .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
    config
}
