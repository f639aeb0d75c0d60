//! Prometheus text exposition (format 0.0.4), written by hand because some metric names are a
//! contract with existing alert rules (`etl_processing_errors` is a counter without the
//! `_total` suffix that OpenMetrics encoders insist on). Pure formatting: the caller gathers
//! the values and serves the text.

use std::fmt::Write as _;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Kinds of metric families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// One labelled series of a histogram: cumulative bucket counts by upper bound, sum, count.
#[derive(Debug, Clone)]
pub struct HistogramSeries<'a> {
    pub labels: &'a [(&'a str, &'a str)],
    pub buckets: &'a [(f64, u64)],
    pub sum: f64,
    pub count: u64,
}

/// Builds one exposition page.
#[derive(Debug, Default)]
pub struct MetricsText {
    out: String,
}

impl MetricsText {
    pub fn new() -> Self {
        Self::default()
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, kind: Kind, name: &str, help: &str, value: f64) -> &mut Self {
        self.family(kind, name, help, &[(&[], value)])
    }

    /// A family with labelled samples.
    pub fn family(
        &mut self,
        kind: Kind,
        name: &str,
        help: &str,
        samples: &[(&[(&str, &str)], f64)],
    ) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            self.out.push_str(name);
            if !labels.is_empty() {
                self.out.push('{');
                for (i, (key, val)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    let _ = write!(self.out, "{key}=\"{}\"", escape_label(val));
                }
                self.out.push('}');
            }
            let _ = writeln!(self.out, " {}", format_value(*value));
        }
        self
    }

    /// A histogram family: per labelled series, cumulative counts per upper bound (`le`, in
    /// ascending order, without `+Inf`), the sum and the count of observations.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        series: &[HistogramSeries<'_>],
    ) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} histogram");
        for s in series {
            let labels = |extra: Option<&str>| {
                let mut parts: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                if let Some(le) = extra {
                    parts.push(format!("le=\"{le}\""));
                }
                if parts.is_empty() {
                    String::new()
                } else {
                    format!("{{{}}}", parts.join(","))
                }
            };
            for (bound, count) in s.buckets {
                let le = format_value(*bound);
                let _ = writeln!(self.out, "{name}_bucket{} {count}", labels(Some(&le)));
            }
            let _ = writeln!(
                self.out,
                "{name}_bucket{} {}",
                labels(Some("+Inf")),
                s.count
            );
            let _ = writeln!(
                self.out,
                "{name}_sum{} {}",
                labels(None),
                format_value(s.sum)
            );
            let _ = writeln!(self.out, "{name}_count{} {}", labels(None), s.count);
        }
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_with_escaped_labels() {
        let mut m = MetricsText::new();
        m.single(Kind::Counter, "etl_processing_errors", "Errors.", 3.0);
        m.family(
            Kind::Gauge,
            "scout_queue",
            "Queue\nby state.",
            &[(&[("state", "pen\"ding")], 1.5), (&[], f64::NAN)],
        );
        assert_eq!(
            m.finish(),
            "# HELP etl_processing_errors Errors.\n# TYPE etl_processing_errors counter\n\
             etl_processing_errors 3\n# HELP scout_queue Queue\\nby state.\n\
             # TYPE scout_queue gauge\nscout_queue{state=\"pen\\\"ding\"} 1.5\nscout_queue NaN\n"
        );
    }
}
