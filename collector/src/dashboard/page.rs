//! The HTML both pages share (layout, style sheet, status badges, number formats) and the
//! control room itself: its page, the fragment the page re-fetches, and the login form. Every
//! value from the data goes through maud's escaping; the only unescaped text is this file's own
//! style sheet and script.

use chrono::{DateTime, TimeDelta, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::figures::{self, Dashboard, TREND_DAYS};
use super::manila_date;
use super::svg::{self, PALETTE, Series};

/// How often the control room re-reads its figures.
pub const REFRESH_MS: u32 = 10_000;

const STYLE: &str = r#"
:root{--bg:#f4f6f9;--card:#fff;--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--ok:#059669;
--warn:#d97706;--fail:#dc2626;--none:#94a3b8;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
header.top{background:#0f172a;color:#fff;padding:12px 20px;display:flex;flex-wrap:wrap;
align-items:center;gap:8px 16px}
header.top h1{font-size:18px;margin:0;font-weight:600;letter-spacing:.2px}
header.top .sub{color:#cbd5e1;font-size:13px}
header.top .spacer{flex:1}
header.top form{margin:0}
header.top button{background:transparent;color:#e2e8f0;border:1px solid #475569;border-radius:6px;
padding:4px 10px;font:inherit;cursor:pointer}
main{max-width:1200px;margin:0 auto;padding:16px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;
margin:0 0 16px}
section h2{font-size:15px;margin:0 0 10px;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
.card .big{font-size:24px;font-weight:600;margin:2px 0}
.card .small{color:var(--muted);font-size:12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:500;font-size:12px;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.detail{color:var(--muted);font-size:12px;overflow-wrap:anywhere}
tr.gate td{border-bottom:0;padding-bottom:2px}tr.details td{padding-top:0}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;
color:#fff;background:var(--none);white-space:nowrap}
.badge.pass,.badge.ok{background:var(--ok)}.badge.warn,.badge.backlog{background:var(--warn)}
.badge.fail,.badge.stale,.badge.revoked{background:var(--fail)}
.up{color:var(--ok)}.down{color:var(--fail)}.muted{color:var(--muted)}
.live{font-size:12px;border-radius:999px;padding:2px 10px;background:#1e293b;color:#a7f3d0}
.live.err{color:#fecaca}
figure.chart{margin:0}
figure.chart figcaption{font-weight:600;font-size:13px;margin-bottom:4px}
figure.chart svg{width:100%;height:auto;display:block}
svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:#94a3b8;stroke-width:1}
svg .threshold{stroke:var(--fail);stroke-dasharray:5 4;stroke-width:1}
svg text{font-size:11px;fill:var(--muted)}
.legend{display:flex;gap:14px;font-size:12px;color:var(--muted);margin-top:2px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.login{max-width:380px;margin:12vh auto;background:var(--card);border:1px solid var(--line);
border-radius:12px;padding:24px}
.login h1{font-size:20px;margin:0 0 4px}
.login input{width:100%;padding:9px 10px;border:1px solid #cbd5e1;border-radius:6px;font:inherit;
margin:10px 0}
.login button{width:100%;padding:9px;border:0;border-radius:6px;background:var(--accent);
color:#fff;font:inherit;font-weight:600;cursor:pointer}
.error{background:#fef2f2;color:#991b1b;border:1px solid #fecaca;border-radius:6px;padding:8px 10px}
.summary{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;margin:0 0 12px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:8px 0 24px}
@media (max-width:600px){main{padding:10px}section{padding:12px}.card .big{font-size:20px}
.grid{grid-template-columns:repeat(2,minmax(0,1fr))}header.top .sub{display:none}
header.top{padding:10px 12px}}
"#;

/// Polls the JSON endpoint and swaps in the fragment it carries; a 401 reloads the page (the
/// login form). Only same-origin requests, so it works without any outside network.
const SCRIPT: &str = r#"
(function(){
  var room=document.getElementById('room'),live=document.getElementById('live');
  var every=Number(room.getAttribute('data-refresh-ms'))||10000;
  function tick(){
    fetch('/v1/dashboard',{credentials:'same-origin',headers:{'Accept':'application/json'}})
      .then(function(r){if(r.status===401){location.reload();return null;}
        if(!r.ok){throw new Error('HTTP '+r.status);}return r.json();})
      .then(function(d){if(!d){return;}room.innerHTML=d.html;
        live.textContent='Live \u00b7 updated '+new Date().toLocaleTimeString();live.className='live';})
      .catch(function(){live.textContent='Offline \u00b7 retrying';live.className='live err';});
  }
  setInterval(tick,every);
})();
"#;

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
        main #room data-refresh-ms=(REFRESH_MS) { (room(dashboard)) }
        footer { "Scout collector " (crate::VERSION) " · refreshes every "
            (REFRESH_MS / 1000) " s" }
        script { (PreEscaped(SCRIPT)) }
    };
    layout("Scout control room", body)
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
