//! Conversions between the three ways of indexing a string: UTF-8 bytes (Rust `str`),
//! Unicode code points (Python `str`, the unit of every public `start`/`end`), and UTF-16 code
//! units (JavaScript `String`).
//!
//! A [`TextIndex`] is built once per text and answers conversions in O(1) (code point to
//! anything) or O(log n) (anything to code point).

use crate::error::{Error, Result};

/// The unit an offset is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetUnit {
    /// Unicode code points, as Python `str` indices and the Inference API.
    #[default]
    CodePoint,
    /// UTF-16 code units, as JavaScript `String` indices.
    Utf16,
    /// UTF-8 bytes, as Rust `str` indices.
    Byte,
}

impl OffsetUnit {
    /// Parses `code_points` | `utf16` | `bytes` (also accepting `code_point`, `utf-16`, `byte`).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "code_points" | "code_point" | "codepoints" => Ok(OffsetUnit::CodePoint),
            "utf16" | "utf-16" => Ok(OffsetUnit::Utf16),
            "bytes" | "byte" => Ok(OffsetUnit::Byte),
            _ => Err(Error::InvalidArgument(format!(
                "unknown offset unit {name:?}; expected code_points, utf16 or bytes"
            ))),
        }
    }
}

/// Prefix sums of a text's code points in UTF-8 bytes and UTF-16 units.
#[derive(Debug, Clone)]
pub struct TextIndex {
    /// `byte[i]` = byte offset of code point `i`; one extra entry for the end.
    byte: Vec<usize>,
    /// `utf16[i]` = UTF-16 offset of code point `i`; one extra entry for the end.
    utf16: Vec<usize>,
}

impl TextIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        let mut byte = Vec::with_capacity(text.len() + 1);
        let mut utf16 = Vec::with_capacity(text.len() + 1);
        let mut u = 0usize;
        for (b, c) in text.char_indices() {
            byte.push(b);
            utf16.push(u);
            u += c.len_utf16();
        }
        byte.push(text.len());
        utf16.push(u);
        TextIndex { byte, utf16 }
    }

    /// Number of code points.
    pub fn char_len(&self) -> usize {
        self.byte.len() - 1
    }

    /// Length in UTF-16 units.
    pub fn utf16_len(&self) -> usize {
        self.utf16.last().copied().unwrap_or(0)
    }

    /// Length in bytes.
    pub fn byte_len(&self) -> usize {
        self.byte.last().copied().unwrap_or(0)
    }

    /// The offset of code point `char_idx` (0..=len) in `unit`; `None` past the end.
    pub fn from_char(&self, char_idx: usize, unit: OffsetUnit) -> Option<usize> {
        match unit {
            OffsetUnit::CodePoint => (char_idx <= self.char_len()).then_some(char_idx),
            OffsetUnit::Utf16 => self.utf16.get(char_idx).copied(),
            OffsetUnit::Byte => self.byte.get(char_idx).copied(),
        }
    }

    /// The code point at `offset` counted in `unit`. An offset inside a character (a UTF-8
    /// continuation byte, or between the two halves of a surrogate pair) is `None`.
    pub fn to_char(&self, offset: usize, unit: OffsetUnit) -> Option<usize> {
        let table = match unit {
            OffsetUnit::CodePoint => {
                return (offset <= self.char_len()).then_some(offset);
            }
            OffsetUnit::Utf16 => &self.utf16,
            OffsetUnit::Byte => &self.byte,
        };
        table.binary_search(&offset).ok()
    }

    /// Converts a `(start, end)` pair in code points to `unit`.
    pub fn span_from_chars(
        &self,
        span: (usize, usize),
        unit: OffsetUnit,
    ) -> Result<(usize, usize)> {
        let conv = |i: usize| {
            self.from_char(i, unit).ok_or_else(|| {
                Error::Internal(format!(
                    "offset {i} is past the end of a text of {} code points",
                    self.char_len()
                ))
            })
        };
        Ok((conv(span.0)?, conv(span.1)?))
    }
}

/// The code-point offset of UTF-8 byte offset `byte` in `text`; `None` if it is not on a
/// character boundary or past the end.
pub fn byte_to_char(text: &str, byte: usize) -> Option<usize> {
    if !text.is_char_boundary(byte) {
        return None;
    }
    text.get(..byte).map(|s| s.chars().count())
}

/// The UTF-8 byte offset of code point `char_idx` in `text` (`text.len()` at the end).
pub fn char_to_byte(text: &str, char_idx: usize) -> Option<usize> {
    if char_idx == 0 {
        return Some(0);
    }
    let mut it = text.char_indices();
    match it.nth(char_idx) {
        Some((b, _)) => Some(b),
        None => (text.chars().count() == char_idx).then_some(text.len()),
    }
}

/// The UTF-16 offset of code point `char_idx` in `text`.
pub fn char_to_utf16(text: &str, char_idx: usize) -> Option<usize> {
    let mut units = 0usize;
    let mut count = 0usize;
    for c in text.chars() {
        if count == char_idx {
            return Some(units);
        }
        units += c.len_utf16();
        count += 1;
    }
    (count == char_idx).then_some(units)
}

/// Slices `text` by code points `[start, end)`; `None` when the range is out of bounds or
/// reversed.
pub fn slice_chars(text: &str, start: usize, end: usize) -> Option<&str> {
    if start > end {
        return None;
    }
    let b0 = char_to_byte(text, start)?;
    let b1 = char_to_byte(text, end)?;
    text.get(b0..b1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ascii_and_astral() {
        // "a😀é" : a (1 byte, 1 unit), 😀 (4 bytes, 2 units), é (2 bytes, 1 unit)
        let t = "a😀é";
        let ix = TextIndex::new(t);
        assert_eq!(ix.char_len(), 3);
        assert_eq!(ix.utf16_len(), 4);
        assert_eq!(ix.byte_len(), 7);
        assert_eq!(ix.from_char(2, OffsetUnit::Utf16), Some(3));
        assert_eq!(ix.from_char(2, OffsetUnit::Byte), Some(5));
        assert_eq!(ix.from_char(3, OffsetUnit::Utf16), Some(4));
        assert_eq!(ix.from_char(4, OffsetUnit::Utf16), None);
        assert_eq!(ix.to_char(3, OffsetUnit::Utf16), Some(2));
        // Inside the surrogate pair / inside the UTF-8 sequence.
        assert_eq!(ix.to_char(2, OffsetUnit::Utf16), None);
        assert_eq!(ix.to_char(2, OffsetUnit::Byte), None);
        assert_eq!(
            ix.span_from_chars((1, 2), OffsetUnit::Utf16).ok(),
            Some((1, 3))
        );
        assert!(ix.span_from_chars((1, 9), OffsetUnit::Utf16).is_err());
    }

    #[test]
    fn empty_text() {
        let ix = TextIndex::new("");
        assert_eq!(ix.char_len(), 0);
        assert_eq!(ix.from_char(0, OffsetUnit::Utf16), Some(0));
        assert_eq!(ix.from_char(1, OffsetUnit::Utf16), None);
    }

    #[test]
    fn free_functions() {
        let t = "x👩‍💻y";
        assert_eq!(char_to_byte(t, 0), Some(0));
        assert_eq!(char_to_byte(t, 1), Some(1));
        assert_eq!(char_to_byte(t, 5), Some(t.len()));
        assert_eq!(char_to_byte(t, 6), None);
        assert_eq!(byte_to_char(t, 1), Some(1));
        assert_eq!(byte_to_char(t, 2), None);
        assert_eq!(char_to_utf16(t, 4), Some(6));
        assert_eq!(char_to_utf16(t, 5), Some(7));
        assert_eq!(char_to_utf16(t, 6), None);
        assert_eq!(slice_chars(t, 4, 5), Some("y"));
        assert_eq!(slice_chars(t, 5, 4), None);
        assert_eq!(slice_chars("héllo", 1, 3), Some("él"));
    }

    #[test]
    fn parse_units() {
        assert_eq!(OffsetUnit::parse("utf16").ok(), Some(OffsetUnit::Utf16));
        assert_eq!(
            OffsetUnit::parse("code_points").ok(),
            Some(OffsetUnit::CodePoint)
        );
        assert!(OffsetUnit::parse("chars").is_err());
    }
}
