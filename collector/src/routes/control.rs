//! The control room: `GET /` (the page, or the login form when an admin token is configured
//! and the browser holds no session), `POST /login` (the token as a form field, never in a
//! URL; a session cookie on success, the form again with a 401 otherwise), `POST /logout`, and
//! `GET /v1/dashboard` (the figures as JSON plus the refreshed fragment; a session cookie or
//! the admin bearer token). Without an admin token everything here is open, as the other
//! admin endpoints are (see [`super::auth::admin`]).

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{AppState, auth, session};
use crate::dashboard::{self, Dashboard, page};
use crate::error::ApiError;

/// Whether the request may see the control room: no admin token configured, a live session,
/// or the admin token as a bearer.
fn admitted(state: &AppState, headers: &HeaderMap) -> bool {
    auth::admin_or_session(state, headers).is_ok()
}

/// The page's answers are never cached and never framed.
fn html(status: StatusCode, markup: maud::Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    );
    response
}

#[tracing::instrument(name = "control_room", skip_all)]
pub async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !admitted(&state, &headers) {
        return Ok(html(StatusCode::OK, page::login(None)));
    }
    let figures = dashboard::dashboard(&state.store, &state.gates, Utc::now()).await?;
    Ok(html(
        StatusCode::OK,
        page::control_room(&figures, state.admin.is_some()),
    ))
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct Login {
    #[serde(default)]
    token: String,
}

pub async fn login(
    State(state): State<AppState>,
    form: Result<Form<Login>, FormRejection>,
) -> Response {
    let Some(expected) = &state.admin else {
        return see_other("/", None);
    };
    let token = form.map(|Form(f)| f.token).unwrap_or_default();
    if !expected.matches(token.trim()) {
        return html(
            StatusCode::UNAUTHORIZED,
            page::login(Some("That is not the admin token.")),
        );
    }
    match state.sessions.start() {
        Some(id) => see_other(
            "/",
            Some(session::set_cookie(Some(&id), state.secure_cookies)),
        ),
        None => html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::login(Some("Could not start a session; try again.")),
        ),
    }
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.sessions.end(&headers);
    see_other("/", Some(session::set_cookie(None, state.secure_cookies)))
}

fn see_other(to: &'static str, cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /v1/dashboard`: the figures, and the page fragment they render to.
#[derive(Debug, Serialize)]
pub struct DashboardAnswer {
    #[serde(flatten)]
    pub figures: Dashboard,
    /// The control room's refreshing part, rendered (escaped) HTML.
    pub html: String,
}

#[tracing::instrument(name = "dashboard", skip_all)]
pub async fn figures(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !admitted(&state, &headers) {
        return Err(ApiError::AdminTokenRequired);
    }
    let figures = dashboard::dashboard(&state.store, &state.gates, Utc::now()).await?;
    let html = page::room(&figures).into_string();
    let mut response = Json(DashboardAnswer { figures, html }).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
