//! Agent state kept beside the rows (last upload, last error, next retry, the listen address), so
//! `scout-agent status` can say what the service last knew while it is stopped. Written only when
//! a value changes (invariant 10).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{BufferError, Outbox, OutboxReader, from_millis};

/// Names for the agent-state entries `status` shows.
pub mod state_keys {
    /// RFC 3339 time of the last batch the collector answered with 200.
    pub const LAST_UPLOAD_AT: &str = "last_upload_at";
    /// The last upload or heartbeat error, as shown to a technician.
    pub const LAST_ERROR: &str = "last_error";
    /// RFC 3339 time of the next upload attempt while backing off.
    pub const NEXT_RETRY_AT: &str = "next_retry_at";
}

/// One agent-state entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub value: String,
    pub updated_at: DateTime<Utc>,
}

impl OutboxReader {
    /// One agent-state value.
    pub fn state_value(&self, key: &str) -> Result<Option<String>, BufferError> {
        self.observed(|| {
            self.conn
                .prepare_cached("SELECT value FROM agent_state WHERE key = ?1")
                .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
                .map_err(BufferError::during("reading agent state"))
        })
    }

    /// Every agent-state entry, by key.
    pub fn state(&self) -> Result<BTreeMap<String, StateEntry>, BufferError> {
        self.observed(|| {
            let read = || BufferError::during("reading agent state");
            let mut stmt = self
                .conn
                .prepare_cached("SELECT key, value, updated_at_ms FROM agent_state")
                .map_err(read())?;
            let mut rows = stmt.query([]).map_err(read())?;
            let mut out = BTreeMap::new();
            while let Some(row) = rows.next().map_err(read())? {
                let key: String = row.get(0).map_err(read())?;
                let value: String = row.get(1).map_err(read())?;
                let ms: i64 = row.get(2).map_err(read())?;
                out.insert(
                    key,
                    StateEntry {
                        value,
                        updated_at: from_millis(0, ms)?,
                    },
                );
            }
            Ok(out)
        })
    }
}

impl Outbox {
    /// Sets (`Some`) or clears (`None`) an agent-state entry, writing only if the value differs
    /// from the stored one (invariant 10). Returns whether it wrote.
    pub fn set_state(&mut self, key: &str, value: Option<&str>) -> Result<bool, BufferError> {
        if self.state_value(key)?.as_deref() == value {
            return Ok(false);
        }
        let conn = &self.reader.conn;
        self.reader.observed(|| {
            match value {
                Some(value) => conn
                    .prepare_cached(
                        "INSERT INTO agent_state (key, value, updated_at_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                                                         updated_at_ms = excluded.updated_at_ms",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![key, value, Utc::now().timestamp_millis()])
                    }),
                None => conn
                    .prepare_cached("DELETE FROM agent_state WHERE key = ?1")
                    .and_then(|mut stmt| stmt.execute([key])),
            }
            .map_err(BufferError::during("writing agent state"))?;
            Ok(true)
        })
    }
}
