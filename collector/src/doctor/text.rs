//! The morning check and the incident diagnostics as text for a person on call.

use std::fmt::Write as _;

use serde_json::Value;

use super::{DoctorReport, IncidentReport};
use crate::gates;

/// The report: verdict and reasons first, then each part.
pub fn report_text(r: &DoctorReport) -> String {
    let mut out = String::new();
    let verdict = serde_json::to_value(r.verdict).unwrap_or(Value::Null);
    let _ = writeln!(
        out,
        "Scout morning check, {}",
        r.generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(
        out,
        "verdict: {}",
        verdict.as_str().unwrap_or("?").to_uppercase()
    );
    for reason in &r.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    let _ = writeln!(
        out,
        "\ndatabase: {} answered in {:.2} ms; platinum reads as {}",
        r.database.backend, r.database.answer_ms, r.database.platinum_reader
    );
    let _ = writeln!(out, "\n{:<12} {:>12} newest", "layer", "rows (24 h)");
    for l in &r.layers {
        let newest = l.newest.map_or("-".to_owned(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        });
        let _ = writeln!(out, "{:<12} {:>12} {newest}", l.layer, l.rows_24h);
    }
    let _ = writeln!(out, "\ngates");
    out.push_str(&gates::table(&r.gates));
    let _ = writeln!(
        out,
        "\n{:<22} {:>8} {:>7} {:>10} {:>9} {:>9}",
        "operation (24 h)", "calls", "errors", "avg ms", "p95 ms", "max ms"
    );
    for f in &r.performance {
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>7} {:>10.1} {:>9} {:>9}",
            f.function_name, f.calls, f.errors, f.avg_ms, f.p95_ms, f.max_ms
        );
    }
    let _ = writeln!(
        out,
        "\nfleet: {} devices, {} active",
        r.fleet.devices, r.fleet.active
    );
    for d in &r.fleet.needs_attention {
        let seen = d
            .last_seen_at
            .map_or("never".to_owned(), |t| t.to_rfc3339());
        let _ = writeln!(
            out,
            "  {} (store {}): {:?}, last seen {seen}, backlog {}, dead letters {}",
            d.device_id,
            d.store_id,
            d.health,
            d.backlog.unwrap_or(0),
            d.dead_letters.unwrap_or(0)
        );
    }
    let p = &r.pending;
    let _ = writeln!(
        out,
        "\npending: {} bronze rows for silver, {} partitions for gold, {} failed gold builds, \
         {} quarantined (24 h), {} files failed or for review (24 h), {} device dead letters",
        p.silver_pending,
        p.gold_dirty_partitions,
        p.gold_failures,
        p.quarantined_24h,
        p.files_failed_24h,
        p.device_dead_letters
    );
    out
}

/// The incident's summary and each section's rows, one JSON object a line.
pub fn incident_text(r: &IncidentReport) -> String {
    let mut out = String::new();
    let name = serde_json::to_value(r.incident).unwrap_or(Value::Null);
    let _ = writeln!(
        out,
        "incident {} (window {} h, {})",
        name.as_str().unwrap_or("?"),
        r.window_hours,
        r.generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(out, "summary: {}", r.summary);
    for (title, rows) in &r.sections {
        let _ = writeln!(out, "\n{title}:");
        if rows.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for row in rows {
            let _ = writeln!(out, "  {row}");
        }
    }
    out
}
