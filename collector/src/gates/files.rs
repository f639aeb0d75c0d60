//! The gates over imported files (`staging.universal_file_ingestion`, rows created in the
//! window): format detection (`detection_confidence`), schema quality
//! (`schema_inference->>'qualityScore'`) and mapping confidence
//! (`column_mappings->>'mapping_confidence'`), each the mean over the files that carry the
//! figure, with the files below the threshold listed.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Bound, GateResult, GatesConfig, MAX_LISTED, round4};
use crate::store::{Arg, Store, StoreError};

/// One file gate: its name, the figure's SQL, its threshold and the operator's action.
struct FileGate {
    name: &'static str,
    figure: &'static str,
    threshold: fn(&GatesConfig) -> f64,
    action: &'static str,
}

const GATES: [FileGate; 3] = [
    FileGate {
        name: "format_detection",
        figure: "detection_confidence::float8",
        threshold: |c| c.format_detection,
        action: "Open the listed files: a format detected with low confidence is often a wrong \
                 extension, an unusual delimiter or an encoding problem; re-export them in a \
                 plain format (CSV with a header row, JSON) and import again.",
    },
    FileGate {
        name: "schema_quality",
        figure: "(schema_inference->>'qualityScore')::float8",
        threshold: |c| c.schema_quality,
        action: "Look at the listed files' schema_inference issues (missing headers, mixed \
                 types, empty columns); fix the source export and import again.",
    },
    FileGate {
        name: "mapping_confidence",
        figure: "(column_mappings->>'mapping_confidence')::float8",
        threshold: |c| c.mapping_confidence,
        action: "Review and confirm the listed files' column mappings \
                 (staging.confirmed_mappings); a confirmed mapping is reused for the next file \
                 with the same headers.",
    },
];

/// Format detection, schema quality and mapping confidence, in that order.
pub async fn file_gates(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<Vec<GateResult>, StoreError> {
    let mut out = Vec::with_capacity(GATES.len());
    for gate in &GATES {
        out.push(file_gate(store, config, now, gate).await?);
    }
    Ok(out)
}

async fn file_gate(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
    gate: &FileGate,
) -> Result<GateResult, StoreError> {
    let figure = gate.figure;
    let rows = store
        .query(
            &format!(
                "SELECT file_name, {figure} FROM staging.universal_file_ingestion \
                 WHERE created_at > $1 AND {figure} IS NOT NULL ORDER BY 2, id"
            ),
            &[Arg::from(config.since(gate.name, now))],
        )
        .await?;
    let threshold = (gate.threshold)(config);
    let (mut sum, mut below) = (0.0, Vec::new());
    for r in &rows {
        let v = r.float(1)?;
        sum += v;
        if v < threshold && below.len() < MAX_LISTED {
            below.push(json!({"file_name": r.text(0)?, "value": round4(v)}));
        }
    }
    let value = (!rows.is_empty()).then(|| round4(sum / rows.len() as f64));
    let bound = Bound::AtLeast(threshold);
    Ok(GateResult {
        name: gate.name,
        status: bound.judge(value, config.margin),
        value,
        threshold,
        details: json!({"files": rows.len(), "files_below": below}),
        action: gate.action,
    })
}
