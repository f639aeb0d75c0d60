//! Refusals: [`ItemError`] for one item (naming its line or index, with its transaction id when
//! it got that far), [`IntakeError`] for a whole body. Every free text in a refusal is cut to
//! [`MAX_REFUSAL_TEXT`] bytes, since a reason can quote an item of up to a megabyte.

use scout_common::TransactionError;
use scout_common::ndjson::FrameError;
use serde::Serialize;
use serde::ser::SerializeMap as _;

use super::{
    MAX_BODY_BYTES, MAX_BODY_ITEMS, MAX_ITEM_BYTES, MAX_ITEM_TEXT_BYTES, MAX_REFUSAL_TEXT, Position,
};
use crate::outbox::MAX_TRANSACTION_ID_LEN;

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
    /// The item names another store.
    #[error(
        "storeId {found} is another store; this agent is configured for store {expected} \
         (the collector would refuse it)"
    )]
    OtherStore { found: String, expected: String },
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

/// Cuts `text` to [`MAX_REFUSAL_TEXT`] bytes (on a character boundary, ending in `…`) and
/// frees the rest.
fn clip(mut text: String) -> String {
    scout_common::text::clip(&mut text, MAX_REFUSAL_TEXT);
    text
}

impl ItemErrorKind {
    /// The refusal of the item at `position`, its texts cut to [`MAX_REFUSAL_TEXT`] and an
    /// id over [`MAX_TRANSACTION_ID_LEN`] left out.
    pub(super) fn at(self, position: Position, transaction_id: Option<String>) -> ItemError {
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
            Self::OtherStore { found, expected } => Self::OtherStore {
                found: clip(found),
                expected: clip(expected),
            },
            Self::Serialise(message) => Self::Serialise(clip(message)),
            other => other,
        }
    }
}
