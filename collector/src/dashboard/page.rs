//! The HTML both pages share (layout, style sheet, status badges, number formats) and the
//! control room itself: its page, the fragment the page re-fetches, and the login form. Every
//! value from the data goes through maud's escaping; the only unescaped text is the style sheet
//! and the script beside this file (`page.css`, `page.js`). The script refreshes the figures and
//! runs the Ask box; it builds every answer with `textContent`, never as HTML.

use chrono::{DateTime, TimeDelta, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::figures::{self, Dashboard, TREND_DAYS};
use super::manila_date;
use super::svg::{self, PALETTE, Series};

/// How often the control room re-reads its figures.
pub const REFRESH_MS: u32 = 10_000;

const STYLE: &str = include_str!("page.css");

/// Polls the JSON endpoint and swaps in the fragment it carries; a 401 reloads the page (the
/// login form). Only same-origin requests, so it works without any outside network.
const SCRIPT: &str = include_str!("page.js");

/// A complete page: the shared head and style sheet around `body`.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// A status as a coloured badge (`pass`, `warn`, `fail`, `no_data`, or a device's health).
pub fn badge(status: &str) -> Markup {
    html! { span class={ "badge " (status) } { (status.replace('_', " ")) } }
}

/// Centavos as pesos with thousands separators: `₱12,345.67`.
pub fn peso(centavos: i64) -> String {
    let sign = if centavos < 0 { "-" } else { "" };
    let c = centavos.unsigned_abs();
    format!("{sign}₱{}.{:02}", thousands(c / 100), c % 100)
}

/// An integer with thousands separators.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A count with thousands separators (negative counts do not occur; shown as 0).
pub fn count(n: i64) -> String {
    thousands(u64::try_from(n).unwrap_or(0))
}

/// A share as a percentage with one decimal, or a dash.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_owned(), |s| format!("{:.1}%", s * 100.0))
}

/// How long ago `at` was, for people: `just now`, `12 min ago`, `3 h ago`, `2 d ago`.
pub fn ago(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else {
        return "never".to_owned();
    };
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..172_800 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A gate's details for people, compact and bounded: `rows: 6 · groups below: none`.
pub fn details_text(details: &Value) -> String {
    fn describe(v: &Value, nested: bool) -> String {
        match v {
            Value::Object(m) if m.is_empty() => "–".to_owned(),
            Value::Object(m) => {
                let inner: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.replace('_', " "), describe(v, true)))
                    .collect();
                if nested {
                    format!("({})", inner.join(", "))
                } else {
                    inner.join(" · ")
                }
            }
            Value::Array(a) if a.is_empty() => "none".to_owned(),
            Value::Array(a) => a
                .iter()
                .map(|v| describe(v, true))
                .collect::<Vec<_>>()
                .join(" "),
            Value::String(s) => s.clone(),
            Value::Null => "–".to_owned(),
            other => other.to_string(),
        }
    }
    clipped(describe(details, false), 400)
}

/// `text` cut to at most `max` bytes (with an ellipsis when cut).
pub fn clipped(mut text: String, max: usize) -> String {
    scout_common::text::clip(&mut text, max);
    text
}

/// The control room page: header, the refreshing fragment, the script.
pub fn control_room(dashboard: &Dashboard, can_log_out: bool) -> Markup {
    let body = html! {
        header.top {
            h1 { "Scout control room" }
            span.sub { "Medallion pipeline, quality gates and fleet" }
            span.spacer {}
            span #live.live { "Live" }
            @if can_log_out {
                form method="post" action="/logout" { button type="submit" { "Log out" } }
            }
        }
        main {
            (ask_section())
            div #room data-refresh-ms=(REFRESH_MS) { (room(dashboard)) }
        }
        footer { "Scout collector " (crate::VERSION) " · refreshes every "
            (REFRESH_MS / 1000) " s" }
        script { (PreEscaped(SCRIPT)) }
    };
    layout("Scout control room", body)
}

/// Questions the Ask box offers to start with (English, Filipino, Taglish).
const EXAMPLES: [&str; 4] = [
    "top 5 brands by revenue last 7 days",
    "kita ng bawat tindahan ngayong linggo",
    "GCash vs cash in the evenings",
    "units per category this month",
];

/// The Ask box: a question (and an optional as-of day) sent to `POST /v1/nl2sql` with the
/// page's session; the answer, how the question was read, the SQL and a CSV copy are shown
/// under it. Outside the refreshing part, so an answer stays while the figures refresh.
fn ask_section() -> Markup {
    html! {
        section #ask {
            h2 { "Ask" }
            form #ask-form autocomplete="off" {
                input #ask-question type="text" name="question" maxlength="1000"
                    aria-label="Question" placeholder="e.g. which brand sold best in store 102 last Saturday?";
                input #ask-as-of type="date" name="as_of" aria-label="As of"
                    title="Count periods from this day (default: today in Manila)";
                button type="submit" { "Ask" }
            }
            div.examples {
                "Try: "
                @for q in EXAMPLES { button.example type="button" data-q=(q) { (q) } }
            }
            div #ask-answer aria-live="polite" {}
        }
    }
}

/// The login form, with an error when a wrong token was given.
pub fn login(error: Option<&str>) -> Markup {
    let body = html! {
        form.login method="post" action="/login" autocomplete="off" {
            h1 { "Scout control room" }
            p.muted { "Enter the collector's admin token to continue." }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            label for="token" { "Admin token" }
            input #token type="password" name="token" required autofocus;
            button type="submit" { "Log in" }
        }
    };
    layout("Scout control room · log in", body)
}

/// The part of the page that refreshes: every section.
pub fn room(d: &Dashboard) -> Markup {
    let now = d.generated_at;
    html! {
        div.summary {
            span.muted { "Figures as of " (now.format("%Y-%m-%d %H:%M:%S UTC")) }
            span { "Gates: " (tally(d.gates.gates.iter().map(|g| g.status.as_str()))) }
            span { "Devices: " (tally(d.fleet.iter().map(|f| f.health.as_str()))) }
        }
        section #pipeline {
            h2 { "Pipeline" }
            div.grid {
                @for layer in &d.layers {
                    div.card data-layer=(layer.name) {
                        div.label { (layer.name) }
                        div.big { (count(layer.last_24h)) }
                        div.small { "rows in 24 h · " (count(layer.last_hour)) " in the last hour" }
                        div.small { "newest " (ago(layer.newest, now)) " · " (count(layer.total)) " in all" }
                    }
                }
            }
        }
        (gates_section(d))
        (errors_section(d))
        (fleet_section(&d.fleet, now))
        (brands_section(d))
        (trends_section(d))
    }
}

fn brands_section(d: &Dashboard) -> Markup {
    let q = &d.brand_queue;
    let share = (q.revenue_centavos > 0)
        .then(|| q.unresolved_revenue_centavos as f64 / q.revenue_centavos as f64);
    html! {
        section #brands {
            h2 { "Unresolved brands, last " (figures::QUEUE_DAYS) " days" }
            p.muted { (peso(q.unresolved_revenue_centavos)) " of " (peso(q.revenue_centavos))
                " sold without a brand (" (percent(share)) "). "
                "Teach the matcher with " code { "scout-collector brands alias NAME --brand BRAND" }
                "; " code { "brands unresolved" } " lists suggestions." }
            @if !q.names.is_empty() {
                div.scroll { table {
                    thead { tr { th { "Product name" } th.num { "Items" } th.num { "Revenue" }
                        th.num { "Stores" } th { "Last seen" } } }
                    tbody { @for n in &q.names { tr.unresolved {
                        td { (clipped(n.name.clone(), 80)) }
                        td.num { (count(n.items)) }
                        td.num { (peso(n.revenue_centavos)) }
                        td.num { (count(n.stores)) }
                        td { (ago(n.last_seen, d.generated_at)) }
                    } } }
                } }
            }
        }
    }
}

/// Badges counting each status: `3 pass 1 fail`.
fn tally<'a>(statuses: impl Iterator<Item = &'a str>) -> Markup {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in statuses {
        match counts.iter_mut().find(|(name, _)| *name == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((s, 1)),
        }
    }
    html! {
        @if counts.is_empty() { span.muted { "none" } }
        @for (status, n) in counts {
            span class={ "badge " (status) } { (n) " " (status.replace('_', " ")) } " "
        }
    }
}

fn gates_section(d: &Dashboard) -> Markup {
    html! {
        section #gates {
            h2 { "Quality gates" }
            @if d.gates.gates.is_empty() {
                p.muted { "No gates run yet." }
            } @else {
                p.muted { "Run " (ago(d.gates.run_at, d.generated_at)) " over the last "
                    (d.gates_window_hours) " h." }
                div.scroll { table {
                    thead { tr { th { "Gate" } th { "Status" } th.num { "Value" }
                        th.num { "Threshold" } } }
                    tbody {
                        @for g in &d.gates.gates {
                            tr.gate data-gate=(g.name) {
                                td { (g.name.replace('_', " ")) }
                                td { (badge(&g.status)) }
                                td.num { (g.value.map_or_else(|| "–".to_owned(), |v| format!("{v:.4}"))) }
                                td.num { (g.threshold) }
                            }
                            tr.details { td.detail colspan="4" { (details_text(&g.details)) } }
                        }
                    }
                } }
            }
        }
    }
}

fn errors_section(d: &Dashboard) -> Markup {
    let e = &d.errors;
    html! {
        section #errors {
            h2 { "Errors" }
            div.grid {
                div.card { div.label { "Failed calls, 24 h" } div.big { (count(e.failed_calls_24h)) } }
                div.card { div.label { "Quarantined, 24 h" } div.big { (count(e.quarantined_24h)) }
                    div.small { (count(e.quarantined_total)) " in all" } }
                div.card { div.label { "Dead letters on devices" } div.big { (count(e.dead_letters)) } }
                div.card { div.label { "Rejected files" } div.big { (count(e.rejected_files_total)) } }
                div.card { div.label { "Gold partitions set aside" } div.big { (count(e.gold_failures)) } }
            }
            @if !e.recent_failures.is_empty() {
                h2 style="margin-top:14px" { "Recent failures" }
                div.scroll { table {
                    thead { tr { th { "When" } th { "Operation" } th { "Device" } th { "Error" } } }
                    tbody { @for f in &e.recent_failures { tr {
                        td { (ago(f.created_at, d.generated_at)) }
                        td { (f.function_name) }
                        td { (f.device_id.as_deref().unwrap_or("–")) }
                        td.detail { (clipped(f.error.clone(), 300)) }
                    } } }
                } }
            }
            @if !e.rejected_files.is_empty() {
                h2 style="margin-top:14px" { "Rejected files" }
                div.scroll { table {
                    thead { tr { th { "When" } th { "File" } th { "Error" } } }
                    tbody { @for f in &e.rejected_files { tr {
                        td { (ago(f.created_at, d.generated_at)) }
                        td { (f.file_name) }
                        td.detail { (f.error.as_deref().unwrap_or("")) }
                    } } }
                } }
            }
        }
    }
}

/// The fleet table (the control room and the weekly report).
pub fn fleet_section(fleet: &[crate::routes::fleet::DeviceView], now: DateTime<Utc>) -> Markup {
    html! {
        section #fleet {
            h2 { "Fleet" }
            @if fleet.is_empty() {
                p.muted { "No devices registered." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "Device" } th { "Store" } th { "Health" } th { "Last seen" }
                        th.num { "Backlog" } th.num { "Today" } th.num { "Dead letters" }
                        th { "Version" } } }
                    tbody { @for dev in fleet { tr data-device=(dev.device_id) {
                        td { (dev.device_id) }
                        td { (dev.store_id) }
                        td { (badge(dev.health.as_str())) }
                        td { (ago(dev.last_seen_at, now)) }
                        td.num { (dev.backlog.map_or_else(|| "–".to_owned(), thousands)) }
                        td.num { (thousands(dev.transactions_today)) }
                        td.num { (dev.dead_letters.map_or_else(|| "–".to_owned(), thousands)) }
                        td { (dev.agent_version.as_deref().unwrap_or("–")) }
                    } } }
                } }
            }
        }
    }
}

fn trends_section(d: &Dashboard) -> Markup {
    let from = manila_date(d.generated_at) - TimeDelta::days(TREND_DAYS - 1);
    let days = figures::every_day(&d.trends, from, TREND_DAYS);
    let labels: Vec<String> = days
        .iter()
        .map(|t| t.date.format("%m-%d").to_string())
        .collect();
    let revenue = [Series {
        name: "Revenue".into(),
        color: PALETTE[0],
        values: days
            .iter()
            .map(|t| Some(t.revenue_centavos as f64 / 100.0))
            .collect(),
    }];
    let quality = [
        Series {
            name: "Mean quality score".into(),
            color: PALETTE[0],
            values: days.iter().map(|t| t.avg_quality).collect(),
        },
        Series {
            name: "Branded share".into(),
            color: PALETTE[2],
            values: days.iter().map(|t| t.branded_share).collect(),
        },
    ];
    html! {
        section #trends {
            h2 { "Trends, last " (TREND_DAYS) " days" }
            div.two {
                (svg::bars("Revenue per day (silver)", &labels, &revenue, &svg::peso_short))
                (svg::lines("Quality per day", &labels, &quality,
                    Some(d.completeness_threshold)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_details_read_as_text() {
        let details = serde_json::json!({"rows": 6, "groups_below": [],
            "by_function": [{"function": "ingest-stream", "calls": 2}], "newest": null});
        assert_eq!(
            details_text(&details),
            "by function: (calls: 2, function: ingest-stream) · groups below: none · newest: – \
             · rows: 6"
        );
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(peso(123_456_789), "₱1,234,567.89");
        assert_eq!(peso(-5), "-₱0.05");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(percent(Some(0.8126)), "81.3%");
        assert_eq!(percent(None), "–");
        let now: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        assert_eq!(ago(None, now), "never");
        assert_eq!(ago(Some(now - TimeDelta::minutes(12)), now), "12 min ago");
        assert_eq!(ago(Some(now - TimeDelta::days(3)), now), "3 d ago");
    }
}
