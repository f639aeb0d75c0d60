//! `POST /v1/heartbeat`: a device reports its health (`scout_common::Heartbeat`, JSON).
//!
//! The device is admitted exactly as for ingest (bearer token, 401 when unknown or revoked). The
//! report becomes the device's one latest-heartbeat row, replacing the previous one whatever its
//! `sent_at` (a Pi has no real-time clock, so the order of arrival is the one to trust), and is
//! appended to a history bounded per device. The report is kept as received, unknown fields
//! included. 400 for a body that is not a heartbeat (with serde's reason), 413 over
//! [`MAX_HEARTBEAT_BYTES`] (declared or counted, before or after gunzip), 415 for an encoding
//! other than identity or gzip. The `Content-Type` is not checked: the body must parse as JSON.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SubsecRound as _, Utc};
use scout_common::Heartbeat;
use serde::{Deserialize as _, Serialize};
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use super::body::{
    body_error, body_reader, closing, content_encoding, refuse_declared_length_over,
};
use super::{AppState, auth};
use crate::error::ApiError;

/// Largest heartbeat body, in bytes, on the wire and after gunzip. A real one is under 1 KiB.
pub const MAX_HEARTBEAT_BYTES: u64 = 64 * 1024;

/// The 200 answer.
#[derive(Debug, Serialize)]
pub struct HeartbeatAck {
    pub success: bool,
    pub device_id: String,
    /// When the collector stored the report (microsecond precision, as stored).
    pub received_at: DateTime<Utc>,
}

#[tracing::instrument(name = "heartbeat", skip_all, fields(device = tracing::field::Empty))]
pub async fn heartbeat(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(&state, &headers, body)
        .await
        .map_or_else(closing, IntoResponse::into_response)
}

async fn receive(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<HeartbeatAck>, ApiError> {
    let token = auth::bearer(headers)?;
    let encoding = content_encoding(headers)?;
    refuse_declared_length_over(headers, MAX_HEARTBEAT_BYTES)?;
    let device = auth::device(state, token).await?;
    tracing::Span::current().record("device", device.device_id.as_str());

    let mut raw = Vec::new();
    body_reader(body, encoding, MAX_HEARTBEAT_BYTES, &state.limits)
        .take(MAX_HEARTBEAT_BYTES + 1)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| body_error(e, MAX_HEARTBEAT_BYTES))?;
    if raw.len() as u64 > MAX_HEARTBEAT_BYTES {
        return Err(ApiError::TooLarge {
            limit: MAX_HEARTBEAT_BYTES,
        });
    }
    let (heartbeat, payload) = parse(&raw)?;

    let received_at = Utc::now().trunc_subsecs(6);
    state
        .store
        .record_heartbeat(&device.device_id, &heartbeat, &payload, received_at)
        .await?;
    tracing::debug!(
        queue_depth = heartbeat.queue_depth,
        oldest_pending_age_secs = heartbeat.oldest_pending_age_secs,
        dead_letters = heartbeat.dead_letters,
        agent_version = heartbeat.agent_version,
        "heartbeat stored"
    );
    Ok(Json(HeartbeatAck {
        success: true,
        device_id: device.device_id,
        received_at,
    }))
}

/// The typed report and the JSON to store (the body as received, re-serialised compactly).
fn parse(raw: &[u8]) -> Result<(Heartbeat, String), ApiError> {
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| ApiError::BadRequest(format!("heartbeat body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "heartbeat must be a JSON object (scout_common::Heartbeat)".to_owned(),
        ));
    }
    let heartbeat = Heartbeat::deserialize(&value)
        .map_err(|e| ApiError::BadRequest(format!("invalid heartbeat: {e}")))?;
    let payload = value.to_string();
    // PostgreSQL text and jsonb cannot hold U+0000; refuse it here rather than fail with a 500.
    if payload.contains("\\u0000") {
        return Err(ApiError::BadRequest(
            "heartbeat strings must not contain NUL (U+0000) characters".to_owned(),
        ));
    }
    Ok((heartbeat, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"sent_at":"2026-11-27T01:00:00Z","agent_version":"0.1.0",
        "uptime_secs":60,"queue_depth":0,"queue_bytes":0,"dead_letters":0,"future_field":1}"#;

    #[test]
    fn a_heartbeat_parses_and_keeps_unknown_fields() {
        let (hb, payload) = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(hb.uptime_secs, 60);
        assert_eq!(hb.oldest_pending_age_secs, None);
        assert!(payload.contains("\"future_field\":1"), "{payload}");
    }

    #[test]
    fn malformed_bodies_say_why() {
        let message = |raw: &str| match parse(raw.as_bytes()) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected 400, got {other:?}"),
        };
        assert!(message("").starts_with("heartbeat body is not valid JSON"));
        assert!(message("[1]").starts_with("heartbeat must be a JSON object"));
        assert!(message(r#"{"sent_at":"2026-11-27T01:00:00Z"}"#).contains("missing field"));
        let negative = GOOD.replace("\"uptime_secs\":60", "\"uptime_secs\":-1");
        assert!(message(&negative).contains("expected u64"));
        let nul = GOOD.replace("0.1.0", "0.1.0\\u0000");
        assert!(message(&nul).contains("NUL"));
    }
}
