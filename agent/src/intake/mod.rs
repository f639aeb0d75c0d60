//! Intake: turns what the capture app hands over (an HTTP body, a spool file, a file or stdin
//! given to `scout-agent enqueue`) into outbox records, with one set of rules for all three.
//!
//! What enters: bytes holding one JSON object, a JSON array of objects, or NDJSON (one object
//! per line). The format is decided once per body: if the first non-whitespace byte is `{` or
//! `[` and the whole body is one JSON value (UTF-8, nested at most [`MAX_NESTING`] levels) that
//! reads as an object or an array, it is one; anything else is NDJSON, framed by
//! [`scout_common::ndjson::LineFramer`] (a leading UTF-8 byte-order mark is ignored). What
//! leaves: [`Accepted`] items ready for [`crate::outbox::Outbox`], and an [`ItemError`] for each
//! of the first [`MAX_DETAILED_REFUSALS`] items that cannot be taken (the rest are counted).
//!
//! # Invariants
//!
//! - **Refuse only what could never land.** An item is refused when the collector would reject
//!   it ([`scout_common::Transaction::parse`] fails: invalid JSON, not an object, a
//!   `transactionId`, `deviceId` or `_agent` of the wrong type; its text is over the collector's
//!   default line cap, [`MAX_ITEM_TEXT_BYTES`]), when its `deviceId` names another device than
//!   this agent's `device_id` (the collector answers 403 for it), or when the outbox could not
//!   hold it (a transaction id over 256 bytes, an item over [`MAX_ITEM_BYTES`]). Everything else
//!   the tolerant parser accepts is taken as it is.
//! - **Errors name their place and spare the neighbours.** Each refusal names its line
//!   (NDJSON, 1-based, blank lines counted) or array index (0-based); good items of the same
//!   body are still taken.
//! - **Memory per body is bounded whatever its shape.** Besides the body (held by the caller)
//!   and the accepted items' stored copies (at most about the body's size), intake holds one
//!   item's JSON tree at a time (its text is at most [`MAX_ITEM_TEXT_BYTES`]); an array is read
//!   element by element, borrowed from the body, never as a whole tree; the first
//!   [`MAX_DETAILED_REFUSALS`] refusals in detail, each text in them cut to
//!   [`MAX_REFUSAL_TEXT`] bytes, the rest only counted ([`Parsed::rejected_omitted`]); at most
//!   [`MAX_BODY_ITEMS`] accepted items, a body with more is refused whole
//!   ([`IntakeError::TooManyItems`]). Counts stay exact.
//! - **What is stored is what will be sent.** The payload is the item re-serialised compactly
//!   (serde_json, no newline possible) without any `_agent` key: the uplink adds the agent's
//!   stamp at send time from the record's sequence number and capture time. The transaction id
//!   is the item's `transactionId` (trimmed; a number becomes its decimal text) or, without
//!   one, [`scout_common::transaction::content_id`] of that payload: the same id the collector
//!   derives, so a resend of an id-less item is still recognised as the same transaction.
//! - **Capture time** is the moment of intake (UTC), the same for every item of one body.
//! - **Acknowledged after the commit.** [`submit`] returns only after the outbox committed the
//!   items; callers answer their producer (HTTP 200, deleting a spool file) after that.
//!   Intake never waits on the network.

mod files;
pub mod spool;

use std::fmt;

use chrono::{DateTime, Utc};
use scout_common::ndjson::{DEFAULT_MAX_LINE_BYTES, FrameError, LineFramer};
use scout_common::{DeviceId, Transaction, TransactionError};
use serde::Serialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::ser::SerializeMap as _;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::outbox::{BufferError, MAX_TRANSACTION_ID_LEN, NewRecord, OutboxHandle};

pub use files::{EnqueueSummary, FileOutcome, enqueue_paths, open_outbox_for_enqueue};

/// Largest body (HTTP request, spool file, enqueued file) intake reads: about 5,000
/// transactions. Bounded because a body is held in memory while it is read (with the stored
/// copy of its items, about twice its size at the peak), on a device with little of it.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Largest stored item: the collector's default line cap less room for the agent's stamp.
pub const MAX_ITEM_BYTES: usize = DEFAULT_MAX_LINE_BYTES - 1024;

/// Longest text of one item as it stands in the body (an NDJSON line, an array element, a
/// single object): the collector's default line cap. Longer items are refused unread, so one
/// item's JSON tree (up to about 16 times its text for an array of small numbers) stays
/// bounded.
pub const MAX_ITEM_TEXT_BYTES: usize = DEFAULT_MAX_LINE_BYTES;

/// Refused items kept in detail per body (line or index, id, reason); those after are only
/// counted. A normal body has a handful; a body of junk has millions, and holding (and
/// echoing) each would cost many times the body.
pub const MAX_DETAILED_REFUSALS: usize = 1_000;

/// Longest text in a refusal, in bytes: each free text in its reason (a parser message, a
/// field path) is cut to this, ending in `…`. A reason can quote the item (serde's "invalid
/// type: string …"), and an item can be 1 MiB.
pub const MAX_REFUSAL_TEXT: usize = 240;

/// Most items one body may have taken. Each costs a record and an answer entry besides its
/// bytes (a few hundred bytes in all); real transactions are 1 to 3 KB, so a full body holds
/// 5,000 to 16,000 of them. A body with more (a 16 MiB array of `{}`: 5.6 million) is refused
/// whole, before its items are stored.
pub const MAX_BODY_ITEMS: usize = 20_000;

/// Deepest nesting of a body read as one JSON value: serde_json reads an item at most 127
/// levels deep, plus one for the array around it. A deeper body is read as NDJSON; checked
/// before parsing, because skipping over a value keeps one byte per open level.
pub const MAX_NESTING: usize = 128;

/// Bytes fed to the NDJSON framer at a time.
const FRAME_CHUNK: usize = 64 * 1024;

/// Where an item sat in its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Position {
    /// The body was one JSON object.
    Body,
    /// 0-based index in a JSON array.
    Index(usize),
    /// 1-based NDJSON line number (blank lines counted).
    Line(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body => f.write_str("body"),
            Self::Index(i) => write!(f, "index {i}"),
            Self::Line(n) => write!(f, "line {n}"),
        }
    }
}

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

/// Why one item was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemErrorKind {
    /// An NDJSON line that could not be framed (too long, not UTF-8).
    #[error("{0}")]
    Frame(FrameError),
    /// Not a transaction the collector would accept.
    #[error("{0}")]
    Transaction(TransactionError),
    /// The item names another device.
    #[error(
        "deviceId {found} is another device; this agent is {expected} \
         (the collector would refuse it)"
    )]
    OtherDevice { found: String, expected: String },
    #[error("transactionId is {len} bytes; the limit is {MAX_TRANSACTION_ID_LEN}")]
    IdTooLong { len: usize },
    #[error("transaction is {len} bytes; the limit is {MAX_ITEM_BYTES}")]
    TooLarge { len: usize },
    /// An array element or a single object whose text is over [`MAX_ITEM_TEXT_BYTES`] (an
    /// NDJSON line that long is a [`ItemErrorKind::Frame`] error).
    #[error("transaction text is {len} bytes; the limit is {MAX_ITEM_TEXT_BYTES}")]
    TextTooLong { len: usize },
    #[error("could not serialise the transaction: {0}")]
    Serialise(String),
}

/// One refused item, naming where it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{position}: {kind}")]
pub struct ItemError {
    pub position: Position,
    /// The item's transaction id, when it got far enough to have one (and it is at most
    /// [`MAX_TRANSACTION_ID_LEN`] bytes).
    pub transaction_id: Option<String>,
    pub kind: ItemErrorKind,
}

/// JSON shape: `{"line": 3, "transaction_id": "…", "error": "…"}` (`index` for arrays, neither
/// for a single object), like the collector's per-line rejections.
impl Serialize for ItemError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self.position {
            Position::Body => {}
            Position::Index(i) => map.serialize_entry("index", &i)?,
            Position::Line(n) => map.serialize_entry("line", &n)?,
        }
        if let Some(id) = &self.transaction_id {
            map.serialize_entry("transaction_id", id)?;
        }
        map.serialize_entry("error", &self.kind.to_string())?;
        map.end()
    }
}

/// Why a whole body was refused (per-item problems are [`ItemError`]s instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("no transactions: the body is empty (or only blank lines, or an empty array)")]
    Empty,
    #[error("the body is {len} bytes; the limit is {MAX_BODY_BYTES}")]
    TooLarge { len: usize },
    #[error(
        "the body holds more than {MAX_BODY_ITEMS} transactions; send at most \
         {MAX_BODY_ITEMS} per body"
    )]
    TooManyItems,
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
/// `device` is this agent's id; `captured_at` is stamped on every item.
pub fn parse_body(
    bytes: &[u8],
    device: &DeviceId,
    captured_at: DateTime<Utc>,
) -> Result<Parsed, IntakeError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(IntakeError::TooLarge { len: bytes.len() });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut items = Items {
        device,
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
    device: &'d DeviceId,
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
            self.device,
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

/// Cuts `text` to [`MAX_REFUSAL_TEXT`] bytes (on a character boundary, ending in `…`) and
/// frees the rest.
fn clip(mut text: String) -> String {
    scout_common::text::clip(&mut text, MAX_REFUSAL_TEXT);
    text
}

impl ItemErrorKind {
    /// The refusal of the item at `position`, its texts cut to [`MAX_REFUSAL_TEXT`] and an
    /// id over [`MAX_TRANSACTION_ID_LEN`] left out.
    fn at(self, position: Position, transaction_id: Option<String>) -> ItemError {
        ItemError {
            position,
            transaction_id: transaction_id.filter(|id| id.len() <= MAX_TRANSACTION_ID_LEN),
            kind: self.clipped(),
        }
    }

    fn clipped(self) -> Self {
        match self {
            Self::Transaction(TransactionError::InvalidJson(message)) => {
                Self::Transaction(TransactionError::InvalidJson(clip(message)))
            }
            Self::Transaction(TransactionError::BadField { field, reason }) => {
                Self::Transaction(TransactionError::BadField {
                    field: clip(field),
                    reason: clip(reason),
                })
            }
            Self::OtherDevice { found, expected } => Self::OtherDevice {
                found: clip(found),
                expected: clip(expected),
            },
            Self::Serialise(message) => Self::Serialise(clip(message)),
            other => other,
        }
    }
}

/// Checks one item and turns it into an outbox record. The payload is serialised into
/// `scratch` (reused from item to item) and copied out at its exact size: serialising
/// straight into a new buffer leaves it up to twice the payload's size.
fn accept(
    value: Value,
    position: Position,
    device: &DeviceId,
    captured_at: DateTime<Utc>,
    scratch: &mut Vec<u8>,
) -> Result<Accepted, ItemError> {
    let transaction = Transaction::parse(value)
        .map_err(|err| ItemErrorKind::Transaction(err).at(position, None))?;
    let transaction_id = transaction.transaction_id;
    if let Some(found) = &transaction.device_id
        && found != device
    {
        return Err(ItemErrorKind::OtherDevice {
            found: found.to_string(),
            expected: device.to_string(),
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

/// One stored item, for the producer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredItem {
    #[serde(skip)]
    pub position: Position,
    pub transaction_id: String,
    pub seq: i64,
    /// Already pending: nothing new was stored.
    pub duplicate: bool,
}

/// The outcome of [`submit`]: what was stored and what was refused. Serialises as the local
/// intake API's answer body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntakeReport {
    pub format: BodyFormat,
    /// Items stored now.
    pub accepted: u64,
    /// Items whose transaction id was already pending (acknowledged, nothing new stored).
    pub duplicates: u64,
    /// The first [`MAX_DETAILED_REFUSALS`] refused items.
    pub rejected: Vec<ItemError>,
    /// Refused items after those, counted only.
    pub rejected_omitted: u64,
    pub stored: Vec<StoredItem>,
}

impl IntakeReport {
    /// Items refused, detailed or not.
    pub fn refused(&self) -> u64 {
        self.rejected.len() as u64 + self.rejected_omitted
    }
}

/// Stores a parsed body's accepted items through the outbox actor (one request, so one group
/// of a group commit) and returns after the commit. Refused items are carried over into the
/// report. An outbox refusal (full, disk full, closed) stores none of the items.
pub async fn submit(handle: &OutboxHandle, parsed: Parsed) -> Result<IntakeReport, BufferError> {
    let Parsed {
        format,
        accepted,
        rejected,
        rejected_omitted,
    } = parsed;
    let mut positions = Vec::with_capacity(accepted.len());
    let mut records = Vec::with_capacity(accepted.len());
    for item in accepted {
        positions.push(item.position);
        records.push(item.record);
    }
    let ids: Vec<String> = records.iter().map(|r| r.transaction_id.clone()).collect();
    let outcome = if records.is_empty() {
        Vec::new()
    } else {
        handle.enqueue(records).await?
    };
    let stored: Vec<StoredItem> = outcome
        .into_iter()
        .zip(positions)
        .zip(ids)
        .map(|((enqueued, position), transaction_id)| StoredItem {
            position,
            transaction_id,
            seq: enqueued.seq,
            duplicate: enqueued.duplicate,
        })
        .collect();
    let duplicates = stored.iter().filter(|s| s.duplicate).count() as u64;
    Ok(IntakeReport {
        format,
        accepted: stored.len() as u64 - duplicates,
        duplicates,
        rejected,
        rejected_omitted,
        stored,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use chrono::TimeZone;
    use scout_common::transaction::content_id;

    fn device() -> DeviceId {
        DeviceId::parse("SCOUTPI-0004").unwrap()
    }

    fn at() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_760_000_000_000).unwrap()
    }

    fn parse(body: &str) -> Parsed {
        parse_body(body.as_bytes(), &device(), at()).unwrap()
    }

    fn positions(errors: &[ItemError]) -> Vec<Position> {
        errors.iter().map(|e| e.position).collect()
    }

    #[test]
    fn one_object_is_stored_compact_without_the_agent_stamp() {
        let body = r#"
            { "transactionId": " tx-1 ", "storeId": "104", "deviceId": "scoutpi-0004",
              "items": [ {"brand": "Safeguard", "price": "48.50"} ],
              "_agent": {"capturedAt": "2026-01-01T00:00:00Z", "seq": 9, "version": "0.0.1"} }
        "#;
        let parsed = parse(body);
        assert_eq!(parsed.format, BodyFormat::Object);
        assert!(parsed.rejected.is_empty());
        let item = &parsed.accepted[0];
        assert_eq!(item.position, Position::Body);
        assert_eq!(item.record.transaction_id, "tx-1");
        assert_eq!(item.record.captured_at, at());
        assert!(!item.id_derived);
        let text = std::str::from_utf8(&item.record.payload).unwrap();
        assert!(!text.contains("_agent"), "{text}");
        assert!(!text.contains('\n') && !text.contains(": "), "{text}");
        // Kept as the producer wrote it: the tolerant reading is the collector's business.
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(value["items"][0]["price"], "48.50");
        assert_eq!(value["deviceId"], "scoutpi-0004");
    }

    #[test]
    fn an_array_takes_good_items_and_names_the_index_of_bad_ones() {
        let body = r#"[
            {"transactionId": "a"},
            5,
            {"transactionId": {"nested": true}},
            {"transactionId": "d", "deviceId": "SCOUTPI-0009"},
            {"storeId": "104", "items": []},
            {"transactionId": "f", "deviceId": 7},
            {"transactionId": "g", "_agent": "not a stamp"}
        ]"#;
        let parsed = parse(body);
        assert_eq!(parsed.format, BodyFormat::Array);
        assert_eq!(
            parsed
                .accepted
                .iter()
                .map(|a| a.position)
                .collect::<Vec<_>>(),
            vec![Position::Index(0), Position::Index(4)]
        );
        assert_eq!(
            positions(&parsed.rejected),
            vec![
                Position::Index(1),
                Position::Index(2),
                Position::Index(3),
                Position::Index(5),
                Position::Index(6)
            ]
        );
        let other = &parsed.rejected[2];
        assert!(matches!(other.kind, ItemErrorKind::OtherDevice { .. }));
        assert_eq!(other.transaction_id.as_deref(), Some("d"));
        assert!(
            other
                .to_string()
                .starts_with("index 3: deviceId SCOUTPI-0009"),
            "{other}"
        );
        assert!(
            parsed.rejected[0]
                .to_string()
                .contains("must be a JSON object")
        );
        // Without an id: the collector's derived id.
        let derived = &parsed.accepted[1];
        assert!(derived.id_derived);
        let payload: serde_json::Map<String, Value> =
            serde_json::from_slice(&derived.record.payload).unwrap();
        assert_eq!(derived.record.transaction_id, content_id(&payload));
    }

    #[test]
    fn ndjson_errors_name_their_line_and_neighbours_survive() {
        let body = b"{\"transactionId\":\"a\"}\n\n{\"transactionId\": \r\n[1,2]\n\"text\"\n{\"transactionId\":\"b\",\"deviceId\":\"ScoutPi-0004\"}\r\n\xff\n{\"transactionId\":\"c\"}";
        let parsed = parse_body(body, &device(), at()).unwrap();
        assert_eq!(parsed.format, BodyFormat::Ndjson);
        assert_eq!(
            parsed
                .accepted
                .iter()
                .map(|a| (a.position, a.record.transaction_id.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (Position::Line(1), "a"),
                (Position::Line(6), "b"),
                (Position::Line(8), "c")
            ]
        );
        assert_eq!(
            positions(&parsed.rejected),
            vec![
                Position::Line(3),
                Position::Line(4),
                Position::Line(5),
                Position::Line(7)
            ]
        );
        assert!(
            parsed.rejected[0]
                .to_string()
                .starts_with("line 3: invalid JSON")
        );
        assert!(matches!(parsed.rejected[3].kind, ItemErrorKind::Frame(_)));
    }

    #[test]
    fn objects_on_several_lines_are_ndjson_and_a_broken_array_is_named() {
        let parsed = parse("{\"transactionId\":\"a\"}\n{\"transactionId\":\"b\"}\n");
        assert_eq!(parsed.format, BodyFormat::Ndjson);
        assert_eq!(parsed.accepted.len(), 2);

        let parsed = parse("[{\"transactionId\":\"a\"}, {\"transactionId\":");
        assert_eq!(parsed.format, BodyFormat::Ndjson);
        assert!(parsed.accepted.is_empty());
        assert_eq!(positions(&parsed.rejected), vec![Position::Line(1)]);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let body = b"\xEF\xBB\xBF{\"transactionId\":\"a\"}";
        let parsed = parse_body(body, &device(), at()).unwrap();
        assert_eq!(parsed.format, BodyFormat::Object);
        assert_eq!(parsed.accepted.len(), 1);
    }

    #[test]
    fn empty_bodies_are_refused_whole() {
        for body in ["", "  \n\r\n ", "[]", " [ ] "] {
            assert_eq!(
                parse_body(body.as_bytes(), &device(), at()),
                Err(IntakeError::Empty),
                "{body:?}"
            );
        }
    }

    #[test]
    fn numeric_ids_and_the_collectors_reading_agree() {
        let parsed =
            parse(r#"[{"transactionId": 12345}, {"items": [{"product": "Kopiko", "price": 7}]}]"#);
        assert_eq!(parsed.accepted[0].record.transaction_id, "12345");
        // What the collector computes from the line the uplink sends (payload + stamp).
        for item in &parsed.accepted {
            let mut line: serde_json::Map<String, Value> =
                serde_json::from_slice(&item.record.payload).unwrap();
            line.insert(
                "_agent".into(),
                serde_json::json!({"capturedAt": "2026-01-01T00:00:00Z", "seq": 1, "version": "0.1.0"}),
            );
            let collector = Transaction::parse(Value::Object(line)).unwrap();
            assert_eq!(collector.transaction_id, item.record.transaction_id);
        }
    }

    #[test]
    fn what_the_outbox_cannot_hold_is_refused_per_item() {
        let long_id = "x".repeat(MAX_TRANSACTION_ID_LEN + 1);
        let big = "y".repeat(MAX_ITEM_BYTES);
        let body = format!(
            "{{\"transactionId\":\"{long_id}\"}}\n{{\"transactionId\":\"big\",\"pad\":\"{big}\"}}\n{{\"transactionId\":\"ok\"}}\n"
        );
        let parsed = parse(&body);
        assert_eq!(parsed.accepted.len(), 1);
        assert!(matches!(
            parsed.rejected[0].kind,
            ItemErrorKind::IdTooLong { .. }
        ));
        assert!(matches!(
            parsed.rejected[1].kind,
            ItemErrorKind::TooLarge { .. }
        ));
        assert_eq!(parsed.rejected[1].transaction_id.as_deref(), Some("big"));
    }

    #[test]
    fn item_errors_serialise_like_the_collectors_rejections() {
        let parsed = parse("{\"transactionId\":\"a\"}\nnope\n");
        let json = serde_json::to_value(&parsed.rejected).unwrap();
        assert_eq!(json[0]["line"], 2);
        assert!(
            json[0]["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid JSON")
        );
        assert!(json[0].get("transaction_id").is_none());
    }

    #[test]
    fn junk_keeps_the_first_refusals_in_detail_and_counts_the_rest() {
        let body = "x\n".repeat(MAX_DETAILED_REFUSALS + 2_500) + "{\"transactionId\":\"last\"}\n";
        let parsed = parse(&body);
        assert_eq!(parsed.format, BodyFormat::Ndjson);
        assert_eq!(parsed.rejected.len(), MAX_DETAILED_REFUSALS);
        assert_eq!(parsed.rejected_omitted, 2_500);
        assert_eq!(parsed.refused(), MAX_DETAILED_REFUSALS as u64 + 2_500);
        assert_eq!(parsed.items(), MAX_DETAILED_REFUSALS as u64 + 2_501);
        assert_eq!(parsed.rejected[0].position, Position::Line(1));
        assert_eq!(
            parsed.rejected.last().unwrap().position,
            Position::Line(MAX_DETAILED_REFUSALS as u64)
        );
        // A good item after the junk is still taken.
        assert_eq!(parsed.accepted.len(), 1);
        assert_eq!(
            parsed.accepted[0].position,
            Position::Line(MAX_DETAILED_REFUSALS as u64 + 2_501)
        );
    }

    #[test]
    fn an_array_is_read_element_by_element_with_the_same_bounds() {
        let body = format!("[{}{{\"transactionId\":\"a\"}}]", "1,".repeat(3_000));
        let parsed = parse(&body);
        assert_eq!(parsed.format, BodyFormat::Array);
        assert_eq!(parsed.rejected.len(), MAX_DETAILED_REFUSALS);
        assert_eq!(parsed.rejected_omitted, 2_000);
        assert_eq!(parsed.rejected[999].position, Position::Index(999));
        assert_eq!(parsed.accepted[0].position, Position::Index(3_000));
        assert!(
            parsed.rejected[0]
                .to_string()
                .starts_with("index 0: a transaction must be a JSON object"),
            "{}",
            parsed.rejected[0]
        );
    }

    #[test]
    fn a_body_with_more_items_to_take_than_the_limit_is_refused_whole() {
        let body = format!("[{}{{}}]", "{},".repeat(MAX_BODY_ITEMS));
        assert_eq!(
            parse_body(body.as_bytes(), &device(), at()),
            Err(IntakeError::TooManyItems)
        );
        // Exactly the limit is fine; refused items do not count towards it.
        let body = format!("[{}{{}}, 1, 2]", "{},".repeat(MAX_BODY_ITEMS - 1));
        let parsed = parse(&body);
        assert_eq!(
            (parsed.accepted.len(), parsed.rejected.len()),
            (MAX_BODY_ITEMS, 2)
        );
    }

    #[test]
    fn refusal_texts_are_bounded() {
        // serde quotes the offending value, which can be as long as the item.
        let stamp = "s".repeat(100_000);
        let long_id = "i".repeat(100_000);
        let body = format!(
            "{{\"transactionId\":\"a\",\"_agent\":\"{stamp}\"}}\n\
             {{\"transactionId\":\"{long_id}\",\"deviceId\":\"SCOUTPI-0009\"}}\n"
        );
        let parsed = parse(&body);
        assert_eq!(parsed.rejected.len(), 2);
        let text = parsed.rejected[0].to_string();
        assert!(
            text.len() < 2 * MAX_REFUSAL_TEXT + 64,
            "{} bytes",
            text.len()
        );
        assert!(text.contains("_agent") && text.ends_with('…'), "{text}");
        let other = &parsed.rejected[1];
        assert!(matches!(other.kind, ItemErrorKind::OtherDevice { .. }));
        assert_eq!(
            other.transaction_id, None,
            "an id over the limit is left out"
        );
    }

    #[test]
    fn an_item_text_over_the_line_cap_is_refused_unread() {
        let pad = " ".repeat(MAX_ITEM_TEXT_BYTES);
        // Compact it would fit; as it stands it is longer than the collector's line cap.
        let object = format!("{{\"transactionId\":\"a\",{pad}\"x\":1}}");
        let parsed = parse(&object);
        assert_eq!(parsed.format, BodyFormat::Object);
        assert!(matches!(
            parsed.rejected[0].kind,
            ItemErrorKind::TextTooLong { .. }
        ));
        let parsed = parse(&format!("[{{\"transactionId\":\"b\"}}, {object}]"));
        assert_eq!(parsed.format, BodyFormat::Array);
        assert_eq!(parsed.accepted.len(), 1);
        assert_eq!(parsed.rejected[0].position, Position::Index(1));
        assert!(matches!(
            parsed.rejected[0].kind,
            ItemErrorKind::TextTooLong { .. }
        ));
    }

    #[test]
    fn a_body_nested_deeper_than_the_limit_is_read_as_ndjson() {
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_NESTING + 1),
            "]".repeat(MAX_NESTING + 1)
        );
        let parsed = parse(&deep);
        assert_eq!(parsed.format, BodyFormat::Ndjson);
        assert_eq!(positions(&parsed.rejected), vec![Position::Line(1)]);
        // Brackets inside strings do not count.
        let body = format!(
            "[{{\"transactionId\":\"a\",\"note\":\"{}\"}}]",
            "[".repeat(500)
        );
        let parsed = parse(&body);
        assert_eq!(parsed.format, BodyFormat::Array);
        assert_eq!(parsed.accepted.len(), 1);
    }
}
