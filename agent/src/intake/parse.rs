//! Reading a body: its format (one JSON object, a JSON array read element by element, or
//! NDJSON), each item's checks (what the collector would reject, another device's id or
//! another store's, what the
//! outbox cannot hold), and the bounds on what one body may cost ([`MAX_BODY_ITEMS`],
//! [`MAX_DETAILED_REFUSALS`], [`MAX_ITEM_TEXT_BYTES`], [`MAX_NESTING`]).

use std::fmt;

use chrono::{DateTime, Utc};
use scout_common::ndjson::{FrameError, LineFramer};
use scout_common::{DeviceId, Transaction, TransactionError};
use serde::Serialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::refusal::{IntakeError, ItemError, ItemErrorKind};
use super::{
    MAX_BODY_BYTES, MAX_BODY_ITEMS, MAX_DETAILED_REFUSALS, MAX_ITEM_BYTES, MAX_ITEM_TEXT_BYTES,
    MAX_NESTING, Position,
};
use crate::outbox::{MAX_TRANSACTION_ID_LEN, NewRecord};

/// Whose transactions this agent takes: its device's and its store's. An item naming another
/// of either is refused at intake, where the capture app still hears of it, rather than
/// refused by the collector later and kept aside as a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub device: DeviceId,
    /// `None` (no store check) only where a configuration names no store; the service's
    /// checked configuration always does.
    pub store: Option<String>,
}

impl Owner {
    pub fn new(device: DeviceId, store: &str) -> Self {
        let store = store.trim();
        Self {
            device,
            store: (!store.is_empty()).then(|| store.to_owned()),
        }
    }
}

impl From<&crate::config::CheckedConfig> for Owner {
    fn from(config: &crate::config::CheckedConfig) -> Self {
        Self::new(config.device_id().clone(), config.store_id())
    }
}

/// Bytes fed to the NDJSON framer at a time.
const FRAME_CHUNK: usize = 64 * 1024;

/// How a body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    Object,
    Array,
    Ndjson,
}

/// An item ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub position: Position,
    pub record: NewRecord,
    /// The item had no `transactionId`; the id was derived from its content.
    pub id_derived: bool,
}

/// A body, read: the items to store and the ones refused, each with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub format: BodyFormat,
    pub accepted: Vec<Accepted>,
    /// The first [`MAX_DETAILED_REFUSALS`] refused items, in body order.
    pub rejected: Vec<ItemError>,
    /// Refused items after those: counted, not kept.
    pub rejected_omitted: u64,
}

impl Parsed {
    /// Items seen (taken or not).
    pub fn items(&self) -> u64 {
        self.accepted.len() as u64 + self.refused()
    }

    /// Items refused, detailed or not.
    pub fn refused(&self) -> u64 {
        self.rejected.len() as u64 + self.rejected_omitted
    }
}

/// Reads a body (see the module documentation for the format rules and what is refused).
/// `owner` is this agent's device and store; `captured_at` is stamped on every item.
pub fn parse_body(
    bytes: &[u8],
    owner: &Owner,
    captured_at: DateTime<Utc>,
) -> Result<Parsed, IntakeError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(IntakeError::TooLarge { len: bytes.len() });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut items = Items {
        owner,
        captured_at,
        parsed: Parsed {
            format: BodyFormat::Ndjson,
            accepted: Vec::new(),
            rejected: Vec::new(),
            rejected_omitted: 0,
        },
        scratch: Vec::new(),
    };
    match whole_body(bytes) {
        Some(Whole::Array(text)) => {
            items.parsed.format = BodyFormat::Array;
            read_array(text, &mut items)?;
        }
        Some(Whole::Object(object)) => {
            items.parsed.format = BodyFormat::Object;
            items.take(Position::Body, Item::Value(object))?;
        }
        Some(Whole::LongObject(len)) => {
            items.parsed.format = BodyFormat::Object;
            items.take(Position::Body, Item::TooLong(len))?;
        }
        None => {
            let mut framer = LineFramer::new(MAX_ITEM_TEXT_BYTES);
            for chunk in bytes.chunks(FRAME_CHUNK) {
                framer.push(chunk);
                while let Some(line) = framer.next_line() {
                    items.take_line(line)?;
                }
            }
            while let Some(line) = framer.finish() {
                items.take_line(line)?;
            }
        }
    }
    if items.parsed.items() == 0 {
        return Err(IntakeError::Empty);
    }
    Ok(items.parsed)
}

/// A body that is one JSON value.
enum Whole<'a> {
    Object(Value),
    /// A single object over [`MAX_ITEM_TEXT_BYTES`], not parsed: its length.
    LongObject(usize),
    /// The array's text, checked: its elements are read one by one by [`read_array`].
    Array(&'a str),
}

/// The body as one JSON object or array, if it is one (else it is read as NDJSON). Checked
/// without building anything: UTF-8, nesting depth, then serde_json skipping over it.
fn whole_body(bytes: &[u8]) -> Option<Whole<'_>> {
    let first = *bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if first != b'{' && first != b'[' {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if nested_deeper_than(bytes, MAX_NESTING) || serde_json::from_str::<IgnoredAny>(text).is_err() {
        return None;
    }
    if first == b'[' {
        return Some(Whole::Array(text));
    }
    let len = text.trim().len();
    if len > MAX_ITEM_TEXT_BYTES {
        return Some(Whole::LongObject(len));
    }
    // Deep but within MAX_NESTING can still pass serde_json's own limit: then it is NDJSON,
    // as a body that is not one readable value.
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
        .map(Whole::Object)
}

/// Whether `[`/`{` nest deeper than `limit` anywhere outside strings (a quick scan; the text
/// need not be valid JSON).
fn nested_deeper_than(bytes: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0_usize, false, false);
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Reads a checked JSON array element by element, each borrowed from the body as serde_json
/// reaches it, so memory holds one element's tree at a time.
fn read_array(text: &str, items: &mut Items<'_>) -> Result<(), IntakeError> {
    struct Elements<'i, 'd> {
        items: &'i mut Items<'d>,
        stopped: Option<IntakeError>,
    }
    impl<'de> Visitor<'de> for &mut Elements<'_, '_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            while let Some(element) = seq.next_element::<&'de RawValue>()? {
                let element = element.get();
                let item = if element.len() > MAX_ITEM_TEXT_BYTES {
                    Item::TooLong(element.len())
                } else {
                    Item::Text(element)
                };
                if let Err(err) = self.items.take(Position::Index(index), item) {
                    self.stopped = Some(err);
                    return Err(de::Error::custom("intake stopped"));
                }
                index += 1;
            }
            Ok(())
        }
    }
    let mut elements = Elements {
        items,
        stopped: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let read = de::Deserializer::deserialize_seq(&mut de, &mut elements);
    if let Some(err) = elements.stopped {
        return Err(err);
    }
    if let Err(err) = read {
        // Not expected: whole_body checked the text. Say so rather than lose it silently.
        tracing::warn!(error = %err, "an array that passed the check could not be read");
        elements.items.refuse(
            ItemErrorKind::Transaction(TransactionError::InvalidJson(err.to_string()))
                .at(Position::Body, None),
        );
    }
    Ok(())
}

/// One item as found in a body, not yet checked.
enum Item<'a> {
    Text(&'a str),
    Value(Value),
    /// Text over [`MAX_ITEM_TEXT_BYTES`] (its length), not parsed.
    TooLong(usize),
}

/// What a body yielded so far, with the rules that bound it.
struct Items<'d> {
    owner: &'d Owner,
    captured_at: DateTime<Utc>,
    parsed: Parsed,
    /// Where each accepted item is serialised before its payload is copied out.
    scratch: Vec<u8>,
}

impl Items<'_> {
    fn take_line(
        &mut self,
        line: Result<scout_common::ndjson::Line, FrameError>,
    ) -> Result<(), IntakeError> {
        match line {
            Ok(line) => self.take(Position::Line(line.number), Item::Text(&line.text)),
            Err(err) => {
                let position = Position::Line(err.line);
                self.refuse(ItemErrorKind::Frame(err).at(position, None));
                Ok(())
            }
        }
    }

    /// Checks one item; fails only when the body has more than [`MAX_BODY_ITEMS`] to take.
    fn take(&mut self, position: Position, item: Item<'_>) -> Result<(), IntakeError> {
        let value = match item {
            Item::Value(value) => value,
            Item::Text(text) => match serde_json::from_str::<Value>(text) {
                Ok(value) => value,
                Err(err) => {
                    self.refuse_with(|| {
                        ItemErrorKind::Transaction(TransactionError::InvalidJson(err.to_string()))
                            .at(position, None)
                    });
                    return Ok(());
                }
            },
            Item::TooLong(len) => {
                self.refuse(ItemErrorKind::TextTooLong { len }.at(position, None));
                return Ok(());
            }
        };
        match accept(
            value,
            position,
            self.owner,
            self.captured_at,
            &mut self.scratch,
        ) {
            Ok(accepted) => {
                if self.parsed.accepted.len() >= MAX_BODY_ITEMS {
                    return Err(IntakeError::TooManyItems);
                }
                self.parsed.accepted.push(accepted);
            }
            Err(refused) => self.refuse(refused),
        }
        Ok(())
    }

    fn refuse(&mut self, refused: ItemError) {
        self.refuse_with(|| refused);
    }

    /// Keeps a refusal in detail while there is room, else counts it (without building it).
    fn refuse_with(&mut self, refused: impl FnOnce() -> ItemError) {
        if self.parsed.rejected.len() < MAX_DETAILED_REFUSALS {
            self.parsed.rejected.push(refused());
        } else {
            self.parsed.rejected_omitted += 1;
        }
    }
}

/// Checks one item and turns it into an outbox record. The payload is serialised into
/// `scratch` (reused from item to item) and copied out at its exact size: serialising
/// straight into a new buffer leaves it up to twice the payload's size.
fn accept(
    value: Value,
    position: Position,
    owner: &Owner,
    captured_at: DateTime<Utc>,
    scratch: &mut Vec<u8>,
) -> Result<Accepted, ItemError> {
    let transaction = Transaction::parse(value)
        .map_err(|err| ItemErrorKind::Transaction(err).at(position, None))?;
    let transaction_id = transaction.transaction_id;
    if let Some(found) = &transaction.device_id
        && *found != owner.device
    {
        return Err(ItemErrorKind::OtherDevice {
            found: found.to_string(),
            expected: owner.device.to_string(),
        }
        .at(position, Some(transaction_id)));
    }
    if let (Some(found), Some(expected)) = (&transaction.store_id, &owner.store)
        && found != expected
    {
        return Err(ItemErrorKind::OtherStore {
            found: found.clone(),
            expected: expected.clone(),
        }
        .at(position, Some(transaction_id)));
    }
    if transaction_id.len() > MAX_TRANSACTION_ID_LEN {
        return Err(ItemErrorKind::IdTooLong {
            len: transaction_id.len(),
        }
        .at(position, None));
    }
    scratch.clear();
    let payload = match serde_json::to_writer(&mut *scratch, &transaction.payload) {
        Ok(()) => scratch.as_slice().to_vec(),
        Err(err) => {
            return Err(
                ItemErrorKind::Serialise(err.to_string()).at(position, Some(transaction_id))
            );
        }
    };
    if payload.len() > MAX_ITEM_BYTES {
        return Err(
            ItemErrorKind::TooLarge { len: payload.len() }.at(position, Some(transaction_id))
        );
    }
    Ok(Accepted {
        position,
        record: NewRecord {
            transaction_id,
            captured_at,
            payload,
        },
        id_derived: transaction.id_derived,
    })
}
