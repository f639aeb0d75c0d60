//! The one thing no database here can store: a NUL character, in a key or a string at any
//! depth. A payload holding one is rejected with the path of the first.

use serde_json::{Map, Value};

use super::fields::join;

/// Whether any key or string of `map`, at any depth, holds a NUL character.
pub(super) fn holds_nul(map: &Map<String, Value>) -> bool {
    map.iter()
        .any(|(key, value)| key.contains('\0') || value_holds_nul(value))
}

fn value_holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(value_holds_nul),
        Value::Object(map) => holds_nul(map),
        _ => false,
    }
}

/// The path of the first key or string holding a NUL character (databases cannot store it).
pub(super) fn find_nul(map: &Map<String, Value>, prefix: &str) -> Option<String> {
    map.iter().find_map(|(key, value)| {
        let path = join(prefix, key);
        if key.contains('\0') {
            return Some(path);
        }
        find_nul_value(value, path)
    })
}

fn find_nul_value(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_nul_value(v, format!("{path}[{i}]"))),
        Value::Object(map) => find_nul(map, &path),
        _ => None,
    }
}
