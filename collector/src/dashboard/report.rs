//! The weekly report as one self-contained HTML file (style sheet and charts inline, nothing
//! fetched), in the same layout, formats and charts as the control room.

use maud::{Markup, html};

use super::page::{self, badge, count, layout, percent, peso};
use super::svg::{self, PALETTE, Series};
use super::week::{KpiRow, Quality, WeeklyReport, change};

/// Brands listed, at most (by this week's revenue).
pub const MAX_BRANDS: usize = 25;

/// The report as a complete HTML document.
pub fn render(r: &WeeklyReport) -> String {
    let title = format!("Scout weekly report · {} to {}", r.week.start, r.week.end);
    let body = html! {
        header.top {
            h1 { "Scout weekly report" }
            span.sub { (r.week.start.format("%a %d %b %Y")) " – " (r.week.end.format("%a %d %b %Y"))
                " (Asia/Manila) · compared with " (r.previous.start) " – " (r.previous.end) }
        }
        main {
            (headline(r))
            (kpi_section("Stores", "Store", &r.stores, usize::MAX))
            (kpi_section("Brands", "Brand", &r.brands, MAX_BRANDS))
            (charts(r))
            (quality_section(r))
            (gates_section(r))
            (page::fleet_section(&r.fleet, r.generated_at))
        }
        footer { "Generated " (r.generated_at.format("%Y-%m-%d %H:%M UTC")) " by scout-collector "
            (crate::VERSION) " from silver (one row per item sold) and the operations tables." }
    };
    layout(&title, body).into_string()
}

fn delta(now: f64, before: f64) -> Markup {
    match change(now, before) {
        Some(c) if c > 0.0005 => html! { span.up { "▲ " (format!("{:.1}%", c * 100.0)) } },
        Some(c) if c < -0.0005 => html! { span.down { "▼ " (format!("{:.1}%", -c * 100.0)) } },
        Some(_) => html! { span.muted { "0.0%" } },
        None => html! { span.muted { "new" } },
    }
}

fn basket(k: &super::week::Kpi) -> String {
    k.avg_basket_centavos().map_or_else(|| "–".to_owned(), peso)
}

fn headline(r: &WeeklyReport) -> Markup {
    let (t, p) = (&r.total.this_week, &r.total.previous_week);
    html! {
        section #summary {
            h2 { "The week" }
            div.grid {
                div.card { div.label { "Revenue" } div.big { (peso(t.revenue_centavos)) }
                    div.small { (delta(t.revenue_centavos as f64, p.revenue_centavos as f64))
                        " vs " (peso(p.revenue_centavos)) } }
                div.card { div.label { "Transactions" } div.big { (count(t.transactions)) }
                    div.small { (delta(t.transactions as f64, p.transactions as f64))
                        " vs " (count(p.transactions)) } }
                div.card { div.label { "Units" } div.big { (format!("{:.0}", t.units)) }
                    div.small { (delta(t.units, p.units)) " vs " (format!("{:.0}", p.units)) } }
                div.card { div.label { "Average basket" } div.big { (basket(t)) }
                    div.small { "vs " (basket(p)) } }
            }
        }
    }
}

fn kpi_section(title: &str, key: &str, rows: &[KpiRow], max: usize) -> Markup {
    html! {
        section id=(title.to_lowercase()) {
            h2 { (title) }
            @if rows.is_empty() {
                p.muted { "No sales in either week." }
            } @else {
                div.scroll { table {
                    thead { tr { th { (key) } th.num { "Revenue" } th.num { "vs last week" }
                        th.num { "Transactions" } th.num { "Units" } th.num { "Avg basket" }
                        th.num { "Prev. revenue" } } }
                    tbody { @for row in rows.iter().take(max) {
                        @let (t, p) = (&row.this_week, &row.previous_week);
                        tr data-key=(row.key) {
                            td { (row.key) }
                            td.num { (peso(t.revenue_centavos)) }
                            td.num { (delta(t.revenue_centavos as f64, p.revenue_centavos as f64)) }
                            td.num { (count(t.transactions)) }
                            td.num { (format!("{:.0}", t.units)) }
                            td.num { (basket(t)) }
                            td.num { (peso(p.revenue_centavos)) }
                        }
                    } }
                } }
                @if rows.len() > max {
                    p.muted { (rows.len() - max) " more not listed." }
                }
            }
        }
    }
}

fn charts(r: &WeeklyReport) -> Markup {
    let labels: Vec<String> = r
        .days
        .iter()
        .map(|d| d.date.format("%a %d").to_string())
        .collect();
    let revenue = [
        Series {
            name: "This week".into(),
            color: PALETTE[0],
            values: r
                .days
                .iter()
                .map(|d| Some(d.revenue_centavos as f64 / 100.0))
                .collect(),
        },
        Series {
            name: "Previous week".into(),
            color: PALETTE[1],
            values: r
                .previous_days
                .iter()
                .map(|d| Some(d.revenue_centavos as f64 / 100.0))
                .collect(),
        },
    ];
    let quality = [
        Series {
            name: "Mean quality score".into(),
            color: PALETTE[0],
            values: r.days.iter().map(|d| d.avg_quality).collect(),
        },
        Series {
            name: "Branded share".into(),
            color: PALETTE[2],
            values: r.days.iter().map(|d| d.branded_share).collect(),
        },
    ];
    html! {
        section #charts {
            h2 { "Day by day" }
            div.two {
                (svg::bars("Revenue per day", &labels, &revenue, &svg::peso_short))
                (svg::lines("Quality per day", &labels, &quality,
                    Some(crate::gates::GatesConfig::default().completeness)))
            }
        }
    }
}

fn quality_row(label: &str, q: &Quality) -> Markup {
    html! {
        tr {
            td { (label) }
            td.num { (count(q.items)) }
            td.num { (q.avg_score.map_or_else(|| "–".to_owned(), |s| format!("{s:.3}"))) }
            td.num { (percent(q.branded_share)) }
            td.num { (count(q.quarantined)) }
            td.num { (count(q.rejected_files)) }
        }
    }
}

fn quality_section(r: &WeeklyReport) -> Markup {
    html! {
        section #quality {
            h2 { "Data quality" }
            div.scroll { table {
                thead { tr { th { "Week" } th.num { "Items" } th.num { "Mean score" }
                    th.num { "Branded" } th.num { "Quarantined" } th.num { "Rejected files" } } }
                tbody {
                    (quality_row("This week", &r.quality))
                    (quality_row("Previous week", &r.previous_quality))
                }
            } }
            p.muted { "Dead letters held on devices now: " (count(r.dead_letters)) "." }
        }
    }
}

fn gates_section(r: &WeeklyReport) -> Markup {
    html! {
        section #gates {
            h2 { "Quality gates" }
            @if r.gates.is_empty() {
                p.muted { "No gates run." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "Gate" } th { "Now" } th.num { "Value" }
                        th.num { "Runs passed" } th.num { "warned" } th.num { "failed" }
                        th.num { "no data" } } }
                    tbody { @for g in &r.gates { tr data-gate=(g.name) {
                        td { (g.name.replace('_', " ")) }
                        td { @match &g.current { Some(s) => (badge(s)), None => span.muted { "–" } } }
                        td.num { (g.value.map_or_else(|| "–".to_owned(), |v| format!("{v:.4}"))) }
                        @for n in g.runs { td.num { (count(n)) } }
                    } } }
                } }
                p.muted { "Now: the latest run (" (page::ago(r.gates_run.run_at, r.generated_at))
                    "). Runs: the gate runs kept during the week." }
            }
        }
    }
}
