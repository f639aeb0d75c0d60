//! XML sales files: records are the element that repeats most under one parent
//! (`<transaction>` under `<transactions>`); fields are its attributes and its child elements'
//! text; a repeated child (`<items><item>…`) becomes line items, as in JSON. The document is
//! turned into JSON values and goes through the JSON table builder.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::{FileError, Table, json};

/// One element of the document.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
    line: u64,
}

pub(super) fn read(text: &str) -> Result<Table, FileError> {
    let root = parse(text)?;
    let (records, record_name) = find_records(&root);
    let layout = serde_json::json!({ "recordElement": record_name });
    let values = records.iter().map(|n| (n.line, to_json(n))).collect();
    json::table_from_records(values, layout)
}

fn line_at(text: &str, pos: usize) -> u64 {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
        + 1
}

fn parse(text: &str) -> Result<Node, FileError> {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        // Where the next markup starts (the reader stands before the white space leading to it).
        let at = reader.buffer_position() as usize;
        let pos = at + text.get(at..).and_then(|t| t.find('<')).unwrap_or(0);
        let event = reader.read_event().map_err(|e| FileError::Syntax {
            line: line_at(text, reader.error_position() as usize),
            reason: format!("XML does not parse: {e}"),
        })?;
        match event {
            Event::Start(start) => stack.push(open(&start, line_at(text, pos))?),
            Event::Empty(start) => {
                let node = open(&start, line_at(text, pos))?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(node);
                }
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err(FileError::Syntax {
                        line: line_at(text, pos),
                        reason: "a closing tag without its opening tag".into(),
                    });
                }
                if let Some(node) = stack.pop()
                    && let Some(parent) = stack.last_mut()
                {
                    parent.children.push(node);
                }
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match r.into_inner().as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        _ => String::new(),
                    },
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        let open = stack.last();
        return Err(FileError::Syntax {
            line: open.map_or_else(|| line_at(text, text.len()), |n| n.line),
            reason: format!(
                "the document ends inside <{}>, opened on this line (truncated?)",
                open.map_or("", |n| n.name.as_str())
            ),
        });
    }
    stack
        .pop()
        .and_then(|mut doc| doc.children.pop())
        .ok_or_else(|| FileError::NoRecords("the XML document holds no elements".into()))
}

fn local_name(name: &str) -> String {
    name.rsplit(':').next().unwrap_or_default().to_owned()
}

fn open(start: &BytesStart<'_>, line: u64) -> Result<Node, FileError> {
    let mut node = Node {
        name: local_name(start.name().as_ref()),
        line,
        ..Node::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| FileError::Syntax {
            line,
            reason: format!("a bad attribute: {e}"),
        })?;
        let key = local_name(attribute.key.as_ref());
        if attribute.key.as_ref().starts_with("xmlns") {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|v| v.into_owned())
            .unwrap_or_else(|_| attribute.value.clone().into_owned());
        node.attributes.push((key, value));
    }
    Ok(node)
}

/// The record elements: the most repeated element name among one parent's children, searched
/// breadth first so records win over their own line items.
fn find_records(root: &Node) -> (Vec<&Node>, String) {
    let mut best: Option<(usize, usize, &Node, &str)> = None;
    let mut queue = std::collections::VecDeque::from([(root, 0usize)]);
    while let Some((node, depth)) = queue.pop_front() {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for child in &node.children {
            match counts.iter_mut().find(|(n, _)| *n == child.name) {
                Some((_, c)) => *c += 1,
                None => counts.push((&child.name, 1)),
            }
            queue.push_back((child, depth + 1));
        }
        for (name, count) in counts {
            let has_fields = node
                .children
                .iter()
                .any(|c| c.name == name && (!c.children.is_empty() || !c.attributes.is_empty()));
            if !has_fields {
                continue;
            }
            let better = match best {
                None => true,
                Some((c, d, _, _)) => depth < d && count * 2 >= c || count > c * 2,
            };
            if better {
                best = Some((count, depth, node, name));
            }
        }
    }
    match best {
        Some((_, _, parent, name)) => (
            parent.children.iter().filter(|c| c.name == name).collect(),
            name.to_owned(),
        ),
        None => (vec![root], root.name.clone()),
    }
}

fn to_json(node: &Node) -> Value {
    let mut map = Map::new();
    for (k, v) in &node.attributes {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    let mut names: Vec<&str> = Vec::new();
    for child in &node.children {
        if !names.contains(&child.name.as_str()) {
            names.push(&child.name);
        }
    }
    for name in names {
        let same: Vec<&Node> = node.children.iter().filter(|c| c.name == name).collect();
        let value = if same.len() > 1 {
            Value::Array(same.iter().map(|n| to_json(n)).collect())
        } else if let [only] = same.as_slice() {
            // A wrapper of repeated elements (`<items><item/><item/></items>`) is their list.
            let inner_names: Vec<&str> = only.children.iter().map(|c| c.name.as_str()).collect();
            let same = !inner_names.is_empty() && inner_names.iter().all(|n| *n == inner_names[0]);
            let plural = inner_names
                .first()
                .is_some_and(|n| only.name.len() > n.len() && only.name.starts_with(n));
            let repeated = same && (inner_names.len() > 1 || plural);
            if repeated && only.attributes.is_empty() && only.text.trim().is_empty() {
                Value::Array(only.children.iter().map(to_json).collect())
            } else {
                to_json(only)
            }
        } else {
            Value::Null
        };
        map.insert(name.to_owned(), value);
    }
    if map.is_empty() {
        let t = node.text.trim();
        return if t.is_empty() {
            Value::Null
        } else {
            Value::String(t.to_owned())
        };
    }
    if !node.text.trim().is_empty() {
        map.insert("value".into(), Value::String(node.text.trim().to_owned()));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{Cell, Row};

    #[test]
    fn records_as_attributes_or_children_with_items() {
        let text = r#"<?xml version="1.0"?>
<sales store="S1">
  <sale id="T1" date="2025-03-01"><items><item sku="A" qty="2" price="10.00"/><item sku="B" qty="1" price="5.50"/></items></sale>
  <sale id="T2" date="2025-03-02"><items><item sku="C" qty="1" price="7.25"/></items></sale>
</sales>"#;
        let table = read(text).unwrap();
        // JSON objects keep their keys sorted, so record columns come in name order.
        assert_eq!(
            table.columns,
            ["date", "id", "items.price", "items.qty", "items.sku"]
        );
        let rows: Vec<Row> = table.rows.collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].cells[2], Cell::Text("7.25".into()));
    }

    #[test]
    fn a_truncated_document_names_its_line() {
        let text = "<rows>\n<row><a>1</a></row>\n<row><a>2</a>";
        assert!(matches!(read(text), Err(FileError::Syntax { line: 3, .. })));
    }
}
