//! `POST /v1/nl2sql` (and the compatibility path `/functions/v1/nl2sql`): a question or a plan
//! answered, asked back about or refused; `GET /v1/crosstab`: rows × columns × measure with
//! totals, as JSON or CSV (`Accept: text/csv` or `format=csv`). With an admin token configured
//! both need it, or a control-room session (the page's Ask box; see
//! [`super::auth::admin_or_session`]). Every call is audited in `metadata.ai_sql_audit`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, auth};
use crate::error::ApiError;
use crate::platinum::crosstab::period;
use crate::platinum::{AnswerError, Dimension, Filters, Measure, Plan};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskBody {
    question: Option<String>,
    plan: Option<Plan>,
    as_of: Option<NaiveDate>,
}

fn api_error(e: AnswerError) -> ApiError {
    match e {
        AnswerError::Plan(e) => ApiError::BadRequest(format!("invalid plan: {e}")),
        AnswerError::Store(e) => ApiError::from(e),
    }
}

pub async fn nl2sql(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<AskBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::admin_or_session(&state, &headers)?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    match (body.question, body.plan) {
        (Some(q), None) => {
            if q.len() > 1_000 {
                return Err(ApiError::BadRequest(
                    "question longer than 1,000 bytes".into(),
                ));
            }
            let outcome = state
                .platinum
                .ask(&q, body.as_of)
                .await
                .map_err(api_error)?;
            Ok(Json(json!(outcome)))
        }
        (None, Some(mut plan)) => {
            if body.as_of.is_some() {
                plan.as_of = body.as_of;
            }
            let answer = state
                .platinum
                .answer(&plan, None)
                .await
                .map_err(api_error)?;
            let mut value = json!(answer);
            value["status"] = json!("answered");
            Ok(Json(value))
        }
        _ => Err(ApiError::BadRequest(
            "send either {\"question\": ...} or {\"plan\": ...}".into(),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrosstabQuery {
    rows: String,
    cols: String,
    #[serde(default = "revenue")]
    measure: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    as_of: Option<NaiveDate>,
    format: Option<String>,
}

fn revenue() -> String {
    "revenue".to_owned()
}

fn dimension(name: &str) -> Result<Dimension, ApiError> {
    Dimension::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Dimension::ALL.iter().map(|d| d.name()).collect();
        ApiError::BadRequest(format!(
            "unknown dimension {name:?}; one of {}",
            known.join(", ")
        ))
    })
}

pub async fn crosstab(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CrosstabQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    auth::admin_or_session(&state, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let rows = dimension(&q.rows)?;
    let cols = dimension(&q.cols)?;
    let measure = Measure::parse(&q.measure).ok_or_else(|| {
        let known: Vec<&str> = Measure::ALL.iter().map(|m| m.name()).collect();
        ApiError::BadRequest(format!(
            "unknown measure {:?}; one of {}",
            q.measure,
            known.join(", ")
        ))
    })?;
    let filters = Filters {
        period: period(q.from, q.to),
        ..Filters::default()
    };
    let label = format!(
        "crosstab {} × {} {}",
        rows.name(),
        cols.name(),
        measure.name()
    );
    let table = state
        .platinum
        .crosstab(rows, cols, measure, filters, q.as_of, Some(&label))
        .await
        .map_err(api_error)?;
    let wants_csv = q.format.as_deref() == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let csv = table
            .to_csv()
            .map_err(|e| ApiError::BadRequest(format!("cannot write CSV: {e}")))?;
        Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
    } else {
        Ok(Json(table).into_response())
    }
}
