//! `GET /v1/gates`: runs the quality gates now and answers their results as the `gates --json`
//! command prints them (the run is kept and audited like the command's). With an admin token
//! configured it needs that token (see [`super::auth::admin`]).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::Utc;

use super::{AppState, auth};
use crate::error::ApiError;
use crate::gates::{self, GateResult};

pub async fn gates(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<GateResult>>, ApiError> {
    auth::admin(&state, &headers)?;
    let results = gates::run_all(&state.store, &state.gates, Utc::now()).await?;
    Ok(Json(results))
}
