//! `GET /v1/devices`: the fleet view. One line per registered device: registration, last
//! contact, the last heartbeat's figures, bronze rows ingested today, and a computed `health`.
//!
//! One database query per request, whatever the fleet size. "Today" is the calendar day in
//! Asia/Manila (UTC+8, the stores' clock) by `ingested_at`, the collector's receive time. Health,
//! first match wins: `revoked`; `never_seen` (no request ever authenticated); `stale` (no request
//! or heartbeat for more than `stale_after_secs`, default 15 min); `backlog` (the last heartbeat
//! reported a non-empty queue whose oldest line is older than `backlog_after_secs`, default 1 h);
//! else `ok`. With an admin token configured the view needs it (see [`super::auth::admin`]).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use scout_common::timestamp::MANILA_OFFSET_SECS;
use serde::{Deserialize, Serialize};

use super::{AppState, auth};
use crate::error::ApiError;
use crate::store::{FleetRow, Store, StoreError};

/// Default silence after which a device is `stale`: 15 minutes.
pub const DEFAULT_STALE_AFTER_SECS: u64 = 15 * 60;
/// Default age of the oldest queued line after which a device is `backlog`: 1 hour.
pub const DEFAULT_BACKLOG_AFTER_SECS: u64 = 60 * 60;

/// Query parameters of `GET /v1/devices`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Thresholds {
    #[serde(default = "default_stale")]
    pub stale_after_secs: u64,
    #[serde(default = "default_backlog")]
    pub backlog_after_secs: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            stale_after_secs: DEFAULT_STALE_AFTER_SECS,
            backlog_after_secs: DEFAULT_BACKLOG_AFTER_SECS,
        }
    }
}

fn default_stale() -> u64 {
    DEFAULT_STALE_AFTER_SECS
}

fn default_backlog() -> u64 {
    DEFAULT_BACKLOG_AFTER_SECS
}

/// What an operator needs to know about a device first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    Stale,
    Backlog,
    Revoked,
    NeverSeen,
}

impl Health {
    /// The name the JSON answer uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Stale => "stale",
            Self::Backlog => "backlog",
            Self::Revoked => "revoked",
            Self::NeverSeen => "never_seen",
        }
    }
}

/// The answer of `GET /v1/devices`.
#[derive(Debug, Serialize)]
pub struct FleetView {
    pub success: bool,
    pub generated_at: DateTime<Utc>,
    /// The Asia/Manila date `transactions_today` counts.
    pub today: NaiveDate,
    pub stale_after_secs: u64,
    pub backlog_after_secs: u64,
    pub devices: Vec<DeviceView>,
}

/// One device in the fleet view. Heartbeat figures are `null` until the first heartbeat.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub device_id: String,
    pub store_id: String,
    /// `active` or `revoked`.
    pub state: &'static str,
    pub registered_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last authenticated request of any kind (ingest or heartbeat).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When the collector received the last heartbeat.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub agent_version: Option<String>,
    pub uptime_secs: Option<u64>,
    /// Transactions waiting in the device's outbox (the heartbeat's `queue_depth`).
    pub backlog: Option<u64>,
    pub queue_bytes: Option<u64>,
    pub oldest_pending_age_secs: Option<u64>,
    pub dead_letters: Option<u64>,
    pub refused_total: Option<u64>,
    pub disk_free_bytes: Option<u64>,
    pub last_error: Option<String>,
    pub last_upload_at: Option<DateTime<Utc>>,
    pub transactions_today: u64,
    pub health: Health,
}

#[tracing::instrument(name = "fleet", skip_all)]
pub async fn devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Thresholds>, QueryRejection>,
) -> Result<Json<FleetView>, ApiError> {
    auth::admin(&state, &headers)?;
    let Query(thresholds) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(
        fleet_view(&state.store, Utc::now(), thresholds).await?,
    ))
}

/// The fleet view at `now` (one query; what `GET /v1/devices` answers); the control room, the
/// weekly report and `doctor` read it too.
pub async fn fleet_view(
    store: &Store,
    now: DateTime<Utc>,
    thresholds: Thresholds,
) -> Result<FleetView, StoreError> {
    let (today, from, until) = manila_day(now);
    let rows = store.fleet(from, until).await?;
    let devices = rows
        .into_iter()
        .map(|row| view(row, now, thresholds))
        .collect();
    Ok(FleetView {
        success: true,
        generated_at: now,
        today,
        stale_after_secs: thresholds.stale_after_secs,
        backlog_after_secs: thresholds.backlog_after_secs,
        devices,
    })
}

/// The Asia/Manila date at `now`, and that day's bounds in UTC (`[from, until)`).
pub fn manila_day(now: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let offset = TimeDelta::seconds(i64::from(MANILA_OFFSET_SECS));
    let day = (now + offset).date_naive();
    let from = day.and_time(NaiveTime::MIN).and_utc() - offset;
    (day, from, from + TimeDelta::days(1))
}

fn secs(n: u64) -> TimeDelta {
    i64::try_from(n)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .unwrap_or(TimeDelta::MAX)
}

/// The device's health at `now` (see the module doc for the order of the checks).
pub fn health(row: &FleetRow, now: DateTime<Utc>, thresholds: Thresholds) -> Health {
    if row.device.revoked_at.is_some() {
        return Health::Revoked;
    }
    let heard = row.last_heartbeat.as_ref().map(|h| h.received_at);
    let Some(last_contact) = row.device.last_seen_at.max(heard) else {
        return Health::NeverSeen;
    };
    if now.signed_duration_since(last_contact) > secs(thresholds.stale_after_secs) {
        return Health::Stale;
    }
    let backlogged = row.last_heartbeat.as_ref().is_some_and(|h| {
        h.heartbeat.queue_depth > 0
            && h.heartbeat
                .oldest_pending_age_secs
                .is_some_and(|age| age > thresholds.backlog_after_secs)
    });
    if backlogged {
        Health::Backlog
    } else {
        Health::Ok
    }
}

fn view(row: FleetRow, now: DateTime<Utc>, thresholds: Thresholds) -> DeviceView {
    let health = health(&row, now, thresholds);
    let FleetRow {
        device,
        last_heartbeat,
        transactions_today,
    } = row;
    let last_heartbeat_at = last_heartbeat.as_ref().map(|h| h.received_at);
    let hb = last_heartbeat.map(|h| h.heartbeat);
    DeviceView {
        device_id: device.device_id,
        store_id: device.store_id,
        state: if device.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        },
        registered_at: device.created_at,
        revoked_at: device.revoked_at,
        last_seen_at: device.last_seen_at.max(last_heartbeat_at),
        last_heartbeat_at,
        agent_version: hb.as_ref().map(|h| h.agent_version.clone()),
        uptime_secs: hb.as_ref().map(|h| h.uptime_secs),
        backlog: hb.as_ref().map(|h| h.queue_depth),
        queue_bytes: hb.as_ref().map(|h| h.queue_bytes),
        oldest_pending_age_secs: hb.as_ref().and_then(|h| h.oldest_pending_age_secs),
        dead_letters: hb.as_ref().map(|h| h.dead_letters),
        refused_total: hb.as_ref().map(|h| h.refused_total),
        disk_free_bytes: hb.as_ref().and_then(|h| h.disk_free_bytes),
        last_error: hb.as_ref().and_then(|h| h.last_error.clone()),
        last_upload_at: hb.as_ref().and_then(|h| h.last_upload_at),
        transactions_today,
        health,
    }
}

#[cfg(test)]
mod tests {
    use scout_common::Heartbeat;

    use super::*;
    use crate::store::{DeviceRecord, HeartbeatRecord};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const T: Thresholds = Thresholds {
        stale_after_secs: 900,
        backlog_after_secs: 3600,
    };

    fn row(last_seen: Option<&str>, queue: Option<(u64, Option<u64>)>) -> FleetRow {
        FleetRow {
            device: DeviceRecord {
                device_id: "SCOUTPI-0004".into(),
                store_id: "104".into(),
                created_at: at("2026-11-27T00:00:00Z"),
                revoked_at: None,
                last_seen_at: last_seen.map(at),
            },
            last_heartbeat: queue.map(|(depth, oldest)| HeartbeatRecord {
                received_at: at("2026-11-27T01:00:00Z"),
                heartbeat: Heartbeat {
                    sent_at: at("2026-11-27T01:00:00Z"),
                    agent_version: "0.1.0".into(),
                    uptime_secs: 10,
                    queue_depth: depth,
                    queue_bytes: depth * 3000,
                    oldest_pending_age_secs: oldest,
                    dead_letters: 0,
                    refused_total: 0,
                    disk_free_bytes: None,
                    last_upload_at: None,
                    last_error: None,
                },
            }),
            transactions_today: 0,
        }
    }

    #[test]
    fn health_rules_in_order() {
        let now = at("2026-11-27T01:10:00Z");
        assert_eq!(health(&row(None, None), now, T), Health::NeverSeen);
        assert_eq!(
            health(&row(Some("2026-11-27T01:05:00Z"), None), now, T),
            Health::Ok
        );
        // A heartbeat counts as contact even when `last_seen_at` is older.
        assert_eq!(
            health(&row(Some("2026-11-26T00:00:00Z"), Some((0, None))), now, T),
            Health::Ok
        );
        assert_eq!(
            health(&row(Some("2026-11-27T00:50:00Z"), None), now, T),
            Health::Stale
        );
        let backlog = row(Some("2026-11-27T01:00:00Z"), Some((5, Some(3601))));
        assert_eq!(health(&backlog, now, T), Health::Backlog);
        let young = row(Some("2026-11-27T01:00:00Z"), Some((5, Some(3600))));
        assert_eq!(health(&young, now, T), Health::Ok);
        let empty = row(Some("2026-11-27T01:00:00Z"), Some((0, Some(9999))));
        assert_eq!(health(&empty, now, T), Health::Ok);
        // Stale wins over backlog: the backlog figure is old news.
        let late = at("2026-11-27T02:00:00Z");
        assert_eq!(health(&backlog, late, T), Health::Stale);
        let mut revoked = backlog;
        revoked.device.revoked_at = Some(now);
        assert_eq!(health(&revoked, now, T), Health::Revoked);
        // Huge thresholds do not overflow.
        let lenient = Thresholds {
            stale_after_secs: u64::MAX,
            backlog_after_secs: u64::MAX,
        };
        let old = row(Some("2000-01-01T00:00:00Z"), Some((5, Some(u64::MAX))));
        assert_eq!(health(&old, now, lenient), Health::Ok);
    }

    #[test]
    fn today_is_the_manila_calendar_day() {
        let (day, from, until) = manila_day(at("2026-11-27T15:59:59Z"));
        assert_eq!(day.to_string(), "2026-11-27");
        assert_eq!(from, at("2026-11-26T16:00:00Z"));
        assert_eq!(until, at("2026-11-27T16:00:00Z"));
        let (day, from, _) = manila_day(at("2026-11-27T16:00:00Z"));
        assert_eq!(day.to_string(), "2026-11-28");
        assert_eq!(from, at("2026-11-27T16:00:00Z"));
    }
}
