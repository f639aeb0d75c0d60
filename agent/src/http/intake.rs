//! `POST /v1/transactions`: a JSON object, a JSON array or NDJSON from the capture app. The
//! answer (202) comes only after the outbox commit; a full outbox answers 507 with the reason.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AgentState;
use crate::intake::{self, IntakeError};

/// Seconds a refused producer is told to wait when the outbox is full.
const FULL_RETRY_AFTER_SECS: u32 = 30;

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"success": false, "error": message}))).into_response()
}

#[tracing::instrument(skip_all, fields(bytes = body.len()))]
pub async fn transactions(State(state): State<AgentState>, body: Bytes) -> Response {
    state.intake.requests.fetch_add(1, Ordering::Relaxed);
    let parsed = match intake::parse_body(&body, &state.device, chrono::Utc::now()) {
        Ok(parsed) => parsed,
        Err(e @ IntakeError::TooLarge { .. }) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string());
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match intake::submit(&state.outbox, parsed).await {
        Ok(report) => {
            let counters = &state.intake;
            counters
                .accepted
                .fetch_add(report.accepted, Ordering::Relaxed);
            counters
                .duplicates
                .fetch_add(report.duplicates, Ordering::Relaxed);
            counters
                .rejected_items
                .fetch_add(report.rejected.len() as u64, Ordering::Relaxed);
            let status = if report.stored.is_empty() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::ACCEPTED
            };
            tracing::debug!(
                accepted = report.accepted,
                duplicates = report.duplicates,
                rejected = report.rejected.len(),
                "intake"
            );
            (status, Json(report)).into_response()
        }
        Err(e) if e.is_capacity() => {
            state.intake.refused_full.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "intake refused: outbox full");
            let mut response = error(StatusCode::INSUFFICIENT_STORAGE, e.to_string());
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(FULL_RETRY_AFTER_SECS),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "intake failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("could not store the transactions: {e}"),
            )
        }
    }
}
