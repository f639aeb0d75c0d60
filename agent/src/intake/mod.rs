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
//!
//! The rules are in `parse.rs` ([`parse_body`]: the format, each item's checks, the bounds),
//! the refusals in `refusal.rs` ([`ItemError`] naming the item's place, [`IntakeError`] for a
//! whole body), storing in `submit.rs` ([`submit`]); `spool.rs` and `files.rs` are two of the
//! three ways in (the HTTP route is `crate::http`'s).

mod files;
mod parse;
mod refusal;
pub mod spool;
mod submit;

use std::fmt;

use scout_common::ndjson::DEFAULT_MAX_LINE_BYTES;

pub use files::{EnqueueSummary, FileOutcome, enqueue_paths, open_outbox_for_enqueue};
pub use parse::{Accepted, BodyFormat, Owner, Parsed, parse_body};
pub use refusal::{IntakeError, ItemError, ItemErrorKind};
pub use submit::{IntakeReport, StoredItem, submit};

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

#[cfg(test)]
mod tests;
