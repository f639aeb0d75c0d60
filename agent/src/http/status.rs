//! `GET /status` (a page a technician reads on a phone, no external assets), `/status.json`,
//! `/healthz` (503 "degraded" when there is a backlog and no progress, a full outbox, or a
//! refused token or certificate) and `/metrics` (Prometheus text).

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use scout_common::metrics::{CONTENT_TYPE, Kind, MetricsText};
use serde_json::json;

use super::AgentState;
use crate::status::{self, DeviceState, StatusReport, human_bytes, human_duration};
use crate::uplink::disk_free_bytes;

/// Builds the current report from the outbox and the live uplink.
pub async fn current(state: &AgentState) -> Result<StatusReport, Response> {
    let stats = state.outbox.stats().await.map_err(|e| {
        tracing::error!(error = %e, "status: cannot read the outbox");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "error": format!("cannot read the outbox: {e}")})),
        )
            .into_response()
    })?;
    let live = state.uplink.borrow().clone();
    Ok(status::build(&status::Inputs {
        subject: &status::Subject::from(&*state.config),
        stats: &stats,
        persisted: &status::Persisted::default(),
        live: Some(&live),
        started_at: Some(state.started_at),
        disk_free_bytes: disk_free_bytes(state.config.outbox_path()),
        now: chrono::Utc::now(),
    }))
}

pub async fn json(State(state): State<AgentState>) -> Response {
    match current(&state).await {
        Ok(report) => Json(report).into_response(),
        Err(response) => response,
    }
}

pub async fn healthz(State(state): State<AgentState>) -> Response {
    match current(&state).await {
        Ok(report) => {
            let degraded = report.degraded();
            let code = if degraded {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            let body = json!({
                "status": if degraded { "degraded" } else { "ok" },
                "state": report.state,
                "reason": report.summary,
                "backlog": report.backlog.count,
            });
            (code, Json(body)).into_response()
        }
        Err(response) => response,
    }
}

pub async fn metrics(State(state): State<AgentState>) -> Response {
    let report = match current(&state).await {
        Ok(report) => report,
        Err(response) => return response,
    };
    let live = state.uplink.borrow().clone();
    let intake = &state.intake;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as f64;
    let mut m = MetricsText::new();
    m.family(
        Kind::Gauge,
        "scout_agent_info",
        "Agent version and device.",
        &[(
            &[
                ("version", report.version.as_str()),
                ("device_id", report.device_id.as_str()),
                ("store_id", report.store_id.as_str()),
            ],
            1.0,
        )],
    );
    m.single(
        Kind::Gauge,
        "scout_agent_outbox_pending",
        "Transactions waiting to be delivered.",
        report.backlog.count as f64,
    );
    m.single(
        Kind::Gauge,
        "scout_agent_outbox_pending_bytes",
        "Payload bytes waiting to be delivered.",
        report.backlog.bytes as f64,
    );
    m.single(
        Kind::Gauge,
        "scout_agent_outbox_oldest_pending_age_seconds",
        "Age of the oldest waiting transaction (0 when none).",
        report.backlog.oldest_age_secs.unwrap_or(0) as f64,
    );
    m.single(
        Kind::Gauge,
        "scout_agent_outbox_used_bytes",
        "Bytes counted against max_outbox_bytes.",
        report.outbox.used_bytes as f64,
    );
    m.single(
        Kind::Gauge,
        "scout_agent_outbox_max_bytes",
        "The outbox cap (max_outbox_bytes).",
        report.outbox.max_bytes.unwrap_or(0) as f64,
    );
    m.single(
        Kind::Gauge,
        "scout_agent_dead_letters",
        "Transactions the collector rejected for good, kept on the device.",
        report.dead_letters as f64,
    );
    m.single(
        Kind::Counter,
        "scout_agent_intake_refused_total",
        "Intake requests refused because the outbox was full (all time).",
        report.refused_total as f64,
    );
    m.single(
        Kind::Counter,
        "scout_agent_intake_accepted_total",
        "Transactions taken in over HTTP since start.",
        load(&intake.accepted),
    );
    m.single(
        Kind::Counter,
        "scout_agent_intake_rejected_items_total",
        "Items refused at HTTP intake since start (malformed, another device).",
        load(&intake.rejected_items),
    );
    m.single(
        Kind::Counter,
        "scout_agent_uploaded_total",
        "Transactions acknowledged by the collector since start.",
        (live.totals.inserted + live.totals.duplicates) as f64,
    );
    m.single(
        Kind::Counter,
        "scout_agent_upload_attempts_total",
        "Upload requests since start.",
        live.totals.attempts as f64,
    );
    m.single(
        Kind::Counter,
        "scout_agent_upload_failures_total",
        "Failed upload requests since start.",
        live.totals.failed_attempts as f64,
    );
    m.single(
        Kind::Counter,
        "scout_agent_upload_wire_bytes_total",
        "Compressed bytes sent to the collector since start.",
        live.totals.wire_bytes as f64,
    );
    m.single(
        Kind::Gauge,
        "scout_agent_last_upload_timestamp_seconds",
        "Unix time of the last successful upload (0 when none).",
        report
            .uplink
            .last_success_at
            .map_or(0.0, |t| t.timestamp() as f64),
    );
    m.single(
        Kind::Gauge,
        "scout_agent_collector_reachable",
        "1 when the collector answered the last request, 0 when not, -1 when not known.",
        match report.uplink.collector_reachable {
            Some(true) => 1.0,
            Some(false) => 0.0,
            None => -1.0,
        },
    );
    m.single(
        Kind::Gauge,
        "scout_agent_degraded",
        "1 when /healthz reports degraded.",
        if report.degraded() { 1.0 } else { 0.0 },
    );
    m.single(
        Kind::Gauge,
        "scout_agent_disk_free_bytes",
        "Free bytes on the outbox's file system (-1 when not known).",
        report.disk_free_bytes.map_or(-1.0, |b| b as f64),
    );
    m.single(
        Kind::Gauge,
        "scout_agent_start_time_seconds",
        "Unix time the service started.",
        state.started_at.timestamp() as f64,
    );
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], m.finish()).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn page(State(state): State<AgentState>) -> Response {
    match current(&state).await {
        Ok(report) => Html(render(&report)).into_response(),
        Err(response) => response,
    }
}

/// The status page: one column, large type, colour for the state, refreshed every 10 s.
pub fn render(r: &StatusReport) -> String {
    let colour = match r.state {
        DeviceState::Ok => "#1b7f3b",
        DeviceState::Sending => "#1f5fa8",
        DeviceState::Offline | DeviceState::Stopped => "#9a6700",
        _ => "#b42318",
    };
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("never".to_owned(), |t| {
            format!(
                "{} ago<br><small>{}</small>",
                human_duration(r.generated_at - t),
                t.format("%Y-%m-%d %H:%M:%S UTC")
            )
        })
    };
    let mut rows = vec![
        (
            "Backlog",
            format!("{} ({})", r.backlog.count, human_bytes(r.backlog.bytes)),
        ),
        (
            "Oldest waiting",
            r.backlog.oldest_age_secs.map_or("-".to_owned(), |s| {
                human_duration(chrono::Duration::seconds(s as i64))
            }),
        ),
        ("Last upload", when(r.uplink.last_success_at)),
        (
            "Last error",
            r.uplink
                .last_error
                .as_deref()
                .map_or("-".to_owned(), escape),
        ),
        (
            "Next retry",
            r.uplink
                .next_retry_at
                .map_or("-".to_owned(), |t| t.format("%H:%M:%S UTC").to_string()),
        ),
        (
            "Collector",
            format!(
                "{}<br><small>{}</small>",
                match r.uplink.collector_reachable {
                    Some(true) => "reachable",
                    Some(false) => "<b>not reachable</b>",
                    None => "not known yet",
                },
                escape(&r.collector_url)
            ),
        ),
        ("Dead letters", r.dead_letters.to_string()),
        ("Refused (outbox full)", r.refused_total.to_string()),
        (
            "Outbox",
            format!(
                "{} of {}",
                human_bytes(r.outbox.used_bytes),
                r.outbox.max_bytes.map_or("no cap".to_owned(), human_bytes)
            ),
        ),
        (
            "Disk free",
            r.disk_free_bytes.map_or("unknown".to_owned(), human_bytes),
        ),
        ("Running since", when(r.started_at)),
        ("Version", escape(&r.version)),
    ];
    if let Some(q) = &r.outbox.quarantined {
        rows.insert(
            0,
            (
                "Outbox quarantined",
                format!(
                    "<b>a damaged outbox was quarantined</b> {}<br><small>kept at {}; {}; {} salvaged, {} damaged</small>",
                    human_duration(r.generated_at - q.at) + " ago",
                    escape(&q.path.display().to_string()),
                    escape(&q.reason),
                    q.salvaged_pending,
                    q.damaged_pending
                ),
            ),
        );
    }
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{v}</td></tr>"))
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta http-equiv=\"refresh\" content=\"10\"><title>Scout {device}</title><style>\
body{{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#111}}\
header{{background:{colour};color:#fff;padding:1rem}}h1{{margin:0;font-size:1.4rem}}\
p{{margin:.3rem 0 0}}table{{width:100%;border-collapse:collapse;background:#fff}}\
th,td{{text-align:left;padding:.7rem 1rem;border-bottom:1px solid #ddd;vertical-align:top}}\
th{{width:40%;font-weight:600;color:#444}}footer{{padding:1rem;color:#666;font-size:.85rem}}\
</style></head><body><header><h1>{device} &middot; store {store}</h1>\
<p><b>{state}</b>: {summary}</p></header><table>{table}</table>\
<footer>Updated {generated} &middot; <a href=\"/status.json\">JSON</a> &middot; \
<a href=\"/metrics\">metrics</a></footer></body></html>",
        device = escape(&r.device_id),
        store = escape(&r.store_id),
        state = r.state.as_str().to_uppercase(),
        summary = escape(&r.summary),
        generated = r.generated_at.format("%H:%M:%S UTC"),
    )
}
