//! How `scout-collector ask` prints an outcome: an aligned table (default), CSV, or JSON.

use serde_json::Value;

use super::question::Outcome;

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The answer as a table under a line saying how the question was read; a clarification or a
/// refusal as its sentence.
pub fn table(outcome: &Outcome) -> String {
    let (answer, notes) = match outcome {
        Outcome::Answered { answer, notes } => (answer, notes),
        Outcome::Clarify {
            clarification,
            suggestions,
        } => {
            let mut out = format!("{clarification}\n");
            if !suggestions.is_empty() {
                out.push_str(&format!("suggestions: {}\n", suggestions.join(", ")));
            }
            return out;
        }
        Outcome::Refused { refused } => return format!("{refused}\n"),
    };
    let mut out = String::new();
    let plan = serde_json::to_string(&answer.plan).unwrap_or_default();
    out.push_str(&format!("read as: {}\n", answer.reading));
    out.push_str(&format!("plan: {plan}\n"));
    for n in notes {
        out.push_str(&format!("note: {n}\n"));
    }
    let rows: Vec<Vec<String>> = answer
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let widths: Vec<usize> = answer
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    out.push_str(&line(
        answer.columns.iter().map(|c| c.to_string()).collect(),
    ));
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for r in rows {
        out.push_str(&line(r));
    }
    out.push_str(&format!("({} rows)\n", answer.rows.len()));
    out
}

/// The answer's columns and rows as CSV; a clarification or refusal has none (`None`).
pub fn csv(outcome: &Outcome) -> Option<Result<String, csv::Error>> {
    let Outcome::Answered { answer, .. } = outcome else {
        return None;
    };
    let write = || {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&answer.columns)?;
        for r in &answer.rows {
            w.write_record(r.iter().map(cell))?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    Some(write())
}
