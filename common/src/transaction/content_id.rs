//! The deterministic id of a transaction that arrives without one: a UUID v5 over canonical
//! JSON (keys sorted at every level), written out by hand so that a serde feature enabled
//! elsewhere in the build (`preserve_order`, say) cannot change it.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::CONTENT_ID_NAMESPACE;

/// The deterministic id of a payload: a UUID v5 over its canonical JSON (keys sorted at every
/// level), so the same content always gets the same id, whichever side computes it.
pub fn content_id(payload: &Map<String, Value>) -> String {
    let mut canonical = String::with_capacity(1024);
    write_canonical_object(payload, &mut canonical);
    Uuid::new_v5(&CONTENT_ID_NAMESPACE, canonical.as_bytes()).to_string()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => write_canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn write_canonical_object(map: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable();
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:", Value::String(key.clone()));
        write_canonical(&map[key], out);
    }
    out.push('}');
}
