//! NDJSON framing as a push-based state machine: feed it body chunks as they arrive, take out
//! numbered lines. It never holds more than one partial line (capped), so a 10 MB body streams
//! through in constant memory, and every error names its line.
//!
//! Rules: lines end with `\n` (a preceding `\r` is dropped, and so is a UTF-8 byte-order mark
//! at a line's start, which Windows tools write and JSON never holds); blank lines are counted but not
//! returned; a line longer than the cap is reported once and skipped up to its newline, and the
//! lines after it are read normally; invalid UTF-8 is an error for that line only. A final line
//! without a newline is returned by [`LineFramer::finish`].
//!
//! The framer is sans-IO so the collector's async body reader and the agent's file and HTTP
//! intake share one set of rules.

use std::fmt;

/// Default cap on one NDJSON line (a real transaction is about 3 KB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// One complete, non-blank line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the body.
    pub number: u64,
    pub text: String,
}

/// A line that could not be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub line: u64,
    pub kind: FrameErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameErrorKind {
    TooLong { max: usize },
    InvalidUtf8,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FrameErrorKind::TooLong { max } => write!(f, "line is longer than {max} bytes"),
            FrameErrorKind::InvalidUtf8 => f.write_str("line is not valid UTF-8"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Splits a byte stream into numbered lines; see the module docs for the rules.
#[derive(Debug)]
pub struct LineFramer {
    max_line: usize,
    buf: Vec<u8>,
    /// Start of the unconsumed part of `buf`.
    start: usize,
    /// Bytes of `buf[start..]` already known to hold no newline.
    scanned: usize,
    /// Number of the line that `buf[start..]` begins.
    line_no: u64,
    /// Skipping the rest of an over-long line (already reported).
    discarding: bool,
    /// The over-long line at the head of `buf` still has to be reported.
    overflow_pending: Option<u64>,
    bytes_seen: u64,
}

impl LineFramer {
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            line_no: 1,
            discarding: false,
            overflow_pending: None,
            bytes_seen: 0,
        }
    }

    /// Total bytes pushed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    /// Appends a chunk; take the lines out with [`LineFramer::next_line`] before pushing more.
    pub fn push(&mut self, mut chunk: &[u8]) {
        self.bytes_seen += chunk.len() as u64;
        if self.discarding {
            match chunk.iter().position(|&b| b == b'\n') {
                None => return,
                Some(i) => {
                    chunk = &chunk[i + 1..];
                    self.discarding = false;
                    self.line_no += 1;
                }
            }
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete line, or `None` when more input is needed.
    pub fn next_line(&mut self) -> Option<Result<Line, FrameError>> {
        loop {
            if let Some(line) = self.overflow_pending.take() {
                return Some(Err(FrameError {
                    line,
                    kind: FrameErrorKind::TooLong { max: self.max_line },
                }));
            }
            if self.discarding {
                return None;
            }
            let pending = &self.buf[self.start..];
            let from = self.scanned.min(pending.len());
            match pending[from..].iter().position(|&b| b == b'\n') {
                Some(offset) => {
                    let end = from + offset;
                    let number = self.line_no;
                    self.line_no += 1;
                    self.scanned = 0;
                    let raw_start = self.start;
                    self.start += end + 1;
                    if end > self.max_line {
                        return Some(Err(FrameError {
                            line: number,
                            kind: FrameErrorKind::TooLong { max: self.max_line },
                        }));
                    }
                    let raw = &self.buf[raw_start..raw_start + end];
                    match Self::decode(number, raw) {
                        None => continue,
                        Some(result) => return Some(result),
                    }
                }
                None => {
                    if pending.len() > self.max_line {
                        // Report now, drop what we hold, skip to the next newline.
                        self.overflow_pending = Some(self.line_no);
                        self.buf.clear();
                        self.start = 0;
                        self.scanned = 0;
                        self.discarding = true;
                        continue;
                    }
                    self.scanned = pending.len();
                    return None;
                }
            }
        }
    }

    /// Ends the stream: returns a final line that had no newline, if any.
    pub fn finish(&mut self) -> Option<Result<Line, FrameError>> {
        if let Some(result) = self.next_line() {
            return Some(result);
        }
        if self.discarding {
            self.discarding = false;
            return None;
        }
        let number = self.line_no;
        let raw = std::mem::take(&mut self.buf);
        let raw = &raw[self.start..];
        self.start = 0;
        self.scanned = 0;
        if raw.is_empty() {
            return None;
        }
        self.line_no += 1;
        Self::decode(number, raw)
    }

    fn decode(number: u64, raw: &[u8]) -> Option<Result<Line, FrameError>> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(match std::str::from_utf8(raw) {
            Ok(text) => Ok(Line {
                number,
                text: text.to_owned(),
            }),
            Err(_) => Err(FrameError {
                line: number,
                kind: FrameErrorKind::InvalidUtf8,
            }),
        })
    }
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_BYTES)
    }
}

/// Appends `line` and a newline to `out`: the one place NDJSON lines are written.
pub fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(framer: &mut LineFramer, chunks: &[&[u8]]) -> Vec<Result<Line, FrameError>> {
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk);
            while let Some(item) = framer.next_line() {
                out.push(item);
            }
        }
        while let Some(item) = framer.finish() {
            out.push(item);
        }
        out
    }

    fn ok(number: u64, text: &str) -> Result<Line, FrameError> {
        Ok(Line {
            number,
            text: text.into(),
        })
    }

    #[test]
    fn splits_across_chunk_boundaries_and_numbers_lines() {
        let mut f = LineFramer::new(100);
        let got = collect(&mut f, &[b"{\"a\"", b":1}\n\n{\"b\":2}\r", b"\n{\"c\":3}"]);
        assert_eq!(
            got,
            vec![ok(1, "{\"a\":1}"), ok(3, "{\"b\":2}"), ok(4, "{\"c\":3}")]
        );
        assert_eq!(f.bytes_seen(), 25);
    }

    #[test]
    fn over_long_line_is_reported_once_and_neighbours_survive() {
        let mut f = LineFramer::new(8);
        let long = [b'x'; 30];
        let got = collect(&mut f, &[b"short\n", &long[..12], &long[12..], b"\nnext\n"]);
        assert_eq!(
            got,
            vec![
                ok(1, "short"),
                Err(FrameError {
                    line: 2,
                    kind: FrameErrorKind::TooLong { max: 8 }
                }),
                ok(3, "next"),
            ]
        );
    }

    #[test]
    fn over_long_line_inside_one_chunk() {
        let mut f = LineFramer::new(4);
        let got = collect(&mut f, &[b"abcdefgh\nok\n"]);
        assert_eq!(got.len(), 2);
        assert!(matches!(got[0], Err(FrameError { line: 1, .. })));
        assert_eq!(got[1], ok(2, "ok"));
    }

    #[test]
    fn byte_order_marks_at_line_starts_are_dropped() {
        let mut framer = LineFramer::new(64);
        let lines = collect(
            &mut framer,
            &[
                b"\xEF\xBB\xBF{\"a\":1}\r\n\xEF",
                b"\xBB\xBF{\"b\":2}\n\xEF\xBB\xBF\n{\"c\":\"\xEF\xBB\xBF\"}",
            ],
        );
        assert_eq!(
            lines,
            vec![
                ok(1, "{\"a\":1}"),
                ok(2, "{\"b\":2}"),
                ok(4, "{\"c\":\"\u{feff}\"}"),
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_a_line_error() {
        let mut f = LineFramer::new(100);
        let got = collect(&mut f, &[b"good\n\xff\xfe\nalso good\n"]);
        assert_eq!(
            got,
            vec![
                ok(1, "good"),
                Err(FrameError {
                    line: 2,
                    kind: FrameErrorKind::InvalidUtf8
                }),
                ok(3, "also good"),
            ]
        );
    }

    #[test]
    fn memory_stays_bounded_by_one_line() {
        let mut f = LineFramer::new(64);
        let line = b"{\"transactionId\":\"0123456789\"}\n";
        for _ in 0..10_000 {
            f.push(line);
            while let Some(item) = f.next_line() {
                assert!(item.is_ok());
            }
            assert!(
                f.buf.capacity() < 1024,
                "buffer grew to {}",
                f.buf.capacity()
            );
        }
        assert_eq!(f.line_no, 10_001);
    }
}
