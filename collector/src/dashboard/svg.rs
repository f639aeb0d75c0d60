//! Charts as inline SVG, drawn on the server: grouped bars (revenue per day) and lines on a
//! 0..1 scale (quality scores, shares). No script and no external resource, so the same
//! markup serves the control room and the self-contained weekly report.

use maud::{Markup, html};

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One series of a chart: its name (legend and tooltips), colour and one value per label.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<Option<f64>>,
}

/// Colours of the series, in order.
pub const PALETTE: [&str; 3] = ["#2563eb", "#94a3b8", "#059669"];

fn plot_w() -> f64 {
    W - LEFT - RIGHT
}

fn plot_h() -> f64 {
    H - TOP - BOTTOM
}

/// A round upper bound for the y axis at or above `max`.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10_f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|m| *m >= max)
        .unwrap_or(10.0 * magnitude)
}

fn y_of(v: f64, max: f64) -> f64 {
    TOP + plot_h() * (1.0 - (v / max).clamp(0.0, 1.0))
}

fn legend(series: &[Series]) -> Markup {
    html! {
        div.legend {
            @for s in series {
                span { i style={ "background:" (s.color) } {} (s.name) }
            }
        }
    }
}

/// The axes: horizontal grid lines with labels, and the x labels (every k-th when many).
fn axes(labels: &[String], max: f64, fmt: &dyn Fn(f64) -> String) -> Markup {
    let n = labels.len().max(1);
    let step = n.div_ceil(8);
    let slot = plot_w() / n as f64;
    html! {
        @for i in 0..=4 {
            @let v = max * f64::from(i) / 4.0;
            @let y = y_of(v, max);
            line.grid x1=(LEFT) x2=(W - RIGHT) y1=(y) y2=(y) {}
            text.ylabel x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (fmt(v)) }
        }
        @for (i, label) in labels.iter().enumerate() {
            @if i % step == 0 {
                text.xlabel x=(LEFT + slot * (i as f64 + 0.5)) y=(H - 8.0) text-anchor="middle" {
                    (label)
                }
            }
        }
    }
}

/// Grouped bars: one group per label, one bar per series; `fmt` writes axis and tooltip values.
pub fn bars(
    title: &str,
    labels: &[String],
    series: &[Series],
    fmt: &dyn Fn(f64) -> String,
) -> Markup {
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(0.0, |m, v| f64::max(m, *v)),
    );
    let n = labels.len().max(1);
    let slot = plot_w() / n as f64;
    let group = slot * 0.75;
    let bar = group / series.len().max(1) as f64;
    html! {
        figure.chart {
            figcaption { (title) }
            svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) {
                (axes(labels, max, fmt))
                @for (si, s) in series.iter().enumerate() {
                    @for (i, v) in s.values.iter().enumerate() {
                        @if let Some(v) = v.filter(|v| *v > 0.0) {
                            @let x = LEFT + slot * i as f64 + (slot - group) / 2.0 + bar * si as f64;
                            @let y = y_of(v, max);
                            rect x=(x) y=(y) width=(bar.max(1.0) - 1.0) height=(TOP + plot_h() - y)
                                fill=(s.color) rx="2" {
                                title { (s.name) " " (labels.get(i).map_or("", |l| l)) ": " (fmt(v)) }
                            }
                        }
                    }
                }
                line.axis x1=(LEFT) x2=(W - RIGHT) y1=(TOP + plot_h()) y2=(TOP + plot_h()) {}
            }
            (legend(series))
        }
    }
}

/// Lines on a 0..1 scale (shown as percentages), with an optional dashed threshold.
pub fn lines(title: &str, labels: &[String], series: &[Series], threshold: Option<f64>) -> Markup {
    let n = labels.len().max(1);
    let slot = plot_w() / n as f64;
    let x_of = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    html! {
        figure.chart {
            figcaption { (title) }
            svg viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(title) {
                (axes(labels, 1.0, &pct))
                @if let Some(t) = threshold {
                    line.threshold x1=(LEFT) x2=(W - RIGHT) y1=(y_of(t, 1.0)) y2=(y_of(t, 1.0)) {}
                }
                @for s in series {
                    @let points: Vec<String> = s.values.iter().enumerate()
                        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x_of(i), y_of(v, 1.0))))
                        .collect();
                    polyline points=(points.join(" ")) fill="none" stroke=(s.color)
                        stroke-width="2" {}
                    @for (i, v) in s.values.iter().enumerate() {
                        @if let Some(v) = v {
                            circle cx=(format!("{:.1}", x_of(i))) cy=(format!("{:.1}", y_of(*v, 1.0)))
                                r="3" fill=(s.color) {
                                title { (s.name) " " (labels.get(i).map_or("", |l| l)) ": " (pct(*v)) }
                            }
                        }
                    }
                }
                line.axis x1=(LEFT) x2=(W - RIGHT) y1=(TOP + plot_h()) y2=(TOP + plot_h()) {}
            }
            (legend(series))
        }
    }
}

/// Pesos for an axis or a tooltip: `₱1.2k`, `₱35`.
pub fn peso_short(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("₱{:.1}M", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("₱{:.1}k", v / 1_000.0)
    } else {
        format!("₱{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(1234.0), 2000.0);
        assert_eq!(nice_max(2400.0), 2500.0);
        assert_eq!(nice_max(0.42), 0.5);
    }

    #[test]
    fn names_in_charts_are_escaped() {
        let series = [Series {
            name: "<script>x</script>".into(),
            color: PALETTE[0],
            values: vec![Some(5.0)],
        }];
        let bars = bars("t", &["d".into()], &series, &peso_short).into_string();
        assert!(!bars.contains("<script>"));
        assert!(bars.contains("&lt;script&gt;"));
        let lines = lines("t", &["d".into()], &series, Some(0.8)).into_string();
        assert!(!lines.contains("<script>"));
    }
}
