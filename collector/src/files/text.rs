//! Text encodings: which one a file is in (BOM, the zero-byte pattern of UTF-16, valid UTF-8,
//! else `chardetng`'s guess among the legacy encodings), and decoding to UTF-8 whole or as a
//! stream.

use std::borrow::Cow;
use std::io::{self, Read};

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The encoding of `head` (the first bytes of a file) and how it was decided.
pub(super) fn sniff(head: &[u8]) -> (&'static Encoding, &'static str) {
    if let Some((encoding, _)) = Encoding::for_bom(head) {
        return (encoding, "byte-order mark");
    }
    if let Some(encoding) = utf16_without_bom(head) {
        return (
            encoding,
            "zero bytes in every other position (UTF-16 without a BOM)",
        );
    }
    // A cut multi-byte character at the end of the head is not evidence against UTF-8.
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    if valid {
        return (UTF_8, "valid UTF-8");
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(head, true);
    let guess = detector.guess(Some(b"ph"), chardetng::Utf8Detection::Deny);
    // Back offices in the Philippines write Windows-1252 (Excel's "CSV" on Windows); the
    // detector's other western answers are read as it, which is their superset.
    if guess.name().starts_with("windows-125") || guess.name().starts_with("ISO-8859") {
        (
            WINDOWS_1252,
            "not UTF-8; a legacy western encoding (Windows-1252)",
        )
    } else {
        (guess, "not UTF-8; the legacy encoding the detector guessed")
    }
}

fn utf16_without_bom(head: &[u8]) -> Option<&'static Encoding> {
    let sample = &head[..head.len().min(4096) & !1];
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.len() / 2;
    let even = sample.iter().step_by(2).filter(|b| **b == 0).count();
    let odd = sample
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|b| **b == 0)
        .count();
    if odd * 10 >= pairs * 7 && even * 10 <= pairs {
        Some(UTF_16LE)
    } else if even * 10 >= pairs * 7 && odd * 10 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Decodes a whole file (its BOM removed; malformed sequences become U+FFFD).
pub(super) fn decode_all<'a>(bytes: &'a [u8], encoding: &'static Encoding) -> Cow<'a, str> {
    let (text, _) = encoding.decode_with_bom_removal(bytes);
    text
}

/// A reader giving the UTF-8 text of a reader in another encoding, chunk by chunk, with
/// Windows line ends (`\r\n`) turned into `\n` (so every line end counts once in line numbers).
pub(super) struct DecodingReader {
    inner: Box<dyn Read + Send>,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    done: bool,
    /// A `\r` ending the previous chunk, written once the next byte is known.
    carried_cr: bool,
}

impl DecodingReader {
    pub(super) fn new(inner: Box<dyn Read + Send>, encoding: &'static Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 32 * 1024],
            output: Vec::with_capacity(96 * 1024 + 16),
            out_pos: 0,
            done: false,
            carried_cr: false,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        self.output.clear();
        self.out_pos = 0;
        while self.output.is_empty() && !self.done {
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            let needed = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
            self.output.resize(needed, 0);
            let (_, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.output, last);
            debug_assert_eq!(read, n);
            self.output.truncate(written);
            self.done = last;
            self.fold_line_ends();
        }
        Ok(())
    }
}

impl DecodingReader {
    fn fold_line_ends(&mut self) {
        let mut folded = Vec::with_capacity(self.output.len() + 1);
        if std::mem::take(&mut self.carried_cr) && self.output.first() != Some(&b'\n') {
            folded.push(b'\r');
        }
        let mut bytes = self.output.iter().copied().peekable();
        while let Some(b) = bytes.next() {
            if b == b'\r' {
                match bytes.peek() {
                    Some(b'\n') => continue,
                    None if !self.done => {
                        self.carried_cr = true;
                        continue;
                    }
                    _ => {}
                }
            }
            folded.push(b);
        }
        self.output = folded;
    }
}

impl Read for DecodingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out_pos >= self.output.len() {
            self.fill()?;
        }
        let available = &self.output[self.out_pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// Whether decoded text looks like binary data: many control characters or replacement marks.
pub(super) fn looks_binary(text: &str) -> bool {
    let mut total = 0usize;
    let mut odd = 0usize;
    for c in text.chars().take(8192) {
        total += 1;
        if (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}')) || c == '\u{fffd}' {
            odd += 1;
        }
    }
    total > 0 && odd * 20 > total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_and_utf16_patterns() {
        assert_eq!(sniff(b"\xef\xbb\xbfa,b\n").0, UTF_8);
        assert_eq!(sniff(b"\xff\xfea\0,\0b\0").0, UTF_16LE);
        assert_eq!(sniff(b"\xfe\xff\0a\0,\0b").0, UTF_16BE);
        assert_eq!(sniff(b"a\0,\0b\0\n\0c\0").0, UTF_16LE);
        assert_eq!(sniff("Peña,₱5".as_bytes()).0, UTF_8);
        assert_eq!(sniff(b"Pe\xf1a,Caf\xe9 con leche,\x80 5\n").0, WINDOWS_1252);
    }

    #[test]
    fn the_stream_decodes_like_the_whole() {
        let mut bytes = vec![0xff, 0xfe];
        for unit in "Petsa,Halaga\n2025-03-01,₱12.50\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let mut out = String::new();
        DecodingReader::new(Box::new(io::Cursor::new(bytes.clone())), UTF_16LE)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "Petsa,Halaga\n2025-03-01,₱12.50\n");
        assert_eq!(decode_all(&bytes, UTF_16LE), out);
        let mut folded = String::new();
        DecodingReader::new(Box::new(io::Cursor::new(b"a\r\nb\rc\r\n".to_vec())), UTF_8)
            .read_to_string(&mut folded)
            .unwrap();
        assert_eq!(folded, "a\nb\rc\n");
    }
}
