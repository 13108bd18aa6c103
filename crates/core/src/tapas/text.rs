//! Text primitives of the TAPAS tokenizer, with Python `str` semantics where the reference
//! relies on them: `isspace`, `isalnum`, `lower`, `split`, `float()`, and the BERT basic
//! tokenizer plus greedy WordPiece of transformers' slow `TapasTokenizer`.

use std::collections::HashMap;

use unicode_normalization_alignments::UnicodeNormalization;

use super::ucd;

/// Python's `unicodedata.category(c)` (Unicode 14.0.0, the reference's Python 3.11).
pub fn py_category(c: char) -> &'static str {
    let cp = c as u32;
    let run = ucd::RUNS
        .partition_point(|&(start, _)| start <= cp)
        .saturating_sub(1);
    ucd::CATEGORIES[ucd::RUNS[run].1 as usize]
}

/// Python `str.isspace` for one character (White_Space plus the four ASCII separators
/// U+001C..U+001F that Python also counts).
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python `str.isalnum` for one character: a letter (L*) or a number (N*).
pub fn py_isalnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || (!c.is_ascii() && matches!(py_category(c).as_bytes()[0], b'L' | b'N'))
}

/// Python `str.split()` with no argument: runs of whitespace separate, no empty pieces.
pub fn py_split(text: &str) -> Vec<&str> {
    text.split(py_isspace).filter(|s| !s.is_empty()).collect()
}

/// Python `str.lower()` on a whole string (final sigma as Python does it).
pub fn py_lower(text: &str) -> String {
    text.to_lowercase()
}

/// The value 0..=9 of a Unicode decimal digit (category Nd), as Python's `int()`/`float()`
/// read it. Decimal digits come in aligned runs of ten.
pub fn decimal_value(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        return Some(c as u32 - '0' as u32);
    }
    if c.is_ascii() || py_category(c) != "Nd" {
        return None;
    }
    let mut start = c as u32;
    while start > 0 {
        match char::from_u32(start - 1) {
            Some(p) if py_category(p) == "Nd" => start -= 1,
            _ => break,
        }
    }
    Some((c as u32 - start) % 10)
}

/// Python `\d` in a `str` pattern.
pub fn is_py_digit(c: char) -> bool {
    decimal_value(c).is_some()
}

/// Python `float(text)` for a finite or infinite decimal literal (underscores between digits,
/// Unicode decimal digits and surrounding whitespace accepted, like Python). `None` where
/// Python raises `ValueError`.
pub fn py_float(text: &str) -> Option<f64> {
    let trimmed = text.trim_matches(py_isspace);
    let mut ascii = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        if let Some(d) = decimal_value(c) {
            ascii.push(char::from(b'0' + d as u8));
        } else if c.is_ascii() {
            ascii.push(c);
        } else {
            return None;
        }
    }
    let (sign, body) = match ascii.as_bytes().first() {
        Some(b'+') => (1.0, &ascii[1..]),
        Some(b'-') => (-1.0, &ascii[1..]),
        _ => (1.0, &ascii[..]),
    };
    let lowered = body.to_ascii_lowercase();
    if lowered == "inf" || lowered == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lowered == "nan" {
        return Some(f64::NAN);
    }
    // digits [. digits] [e [+-] digits]; underscores only between two digits
    let bytes = lowered.as_bytes();
    let mut cleaned = String::with_capacity(bytes.len());
    let mut mantissa_digits = 0usize;
    let mut i = 0usize;
    let digits = |i: &mut usize, out: &mut String| -> Option<usize> {
        let mut n = 0usize;
        while *i < bytes.len() {
            let b = bytes[*i];
            if b.is_ascii_digit() {
                out.push(char::from(b));
                n += 1;
                *i += 1;
            } else if b == b'_' && n > 0 && bytes.get(*i + 1).is_some_and(|x| x.is_ascii_digit()) {
                *i += 1;
            } else {
                break;
            }
        }
        if *i < bytes.len() && bytes[*i] == b'_' {
            return None;
        }
        Some(n)
    };
    mantissa_digits += digits(&mut i, &mut cleaned)?;
    if i < bytes.len() && bytes[i] == b'.' {
        cleaned.push('.');
        i += 1;
        mantissa_digits += digits(&mut i, &mut cleaned)?;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i < bytes.len() && bytes[i] == b'e' {
        cleaned.push('e');
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            cleaned.push(char::from(bytes[i]));
            i += 1;
        }
        if digits(&mut i, &mut cleaned)? == 0 {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    cleaned.parse::<f64>().ok().map(|v| sign * v)
}

fn is_bert_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || py_category(c) == "Zs"
}

fn is_bert_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    // Python: unicodedata.category(c).startswith("C"), unassigned code points (Cn) included.
    py_category(c).starts_with('C')
}

fn is_bert_punctuation(c: char) -> bool {
    let cp = c as u32;
    (33..=47).contains(&cp)
        || (58..=64).contains(&cp)
        || (91..=96).contains(&cp)
        || (123..=126).contains(&cp)
        || py_category(c).starts_with('P')
}

fn is_chinese_char(c: char) -> bool {
    let cp = c as u32;
    (0x4E00..=0x9FFF).contains(&cp)
        || (0x3400..=0x4DBF).contains(&cp)
        || (0x20000..=0x2A6DF).contains(&cp)
        || (0x2A700..=0x2B73F).contains(&cp)
        || (0x2B740..=0x2B81F).contains(&cp)
        || (0x2B820..=0x2CEAF).contains(&cp)
        || (0xF900..=0xFAFF).contains(&cp)
        || (0x2F800..=0x2FA1F).contains(&cp)
}

/// Settings of the BERT basic tokenizer.
#[derive(Debug, Clone)]
pub struct BasicOptions {
    /// Lowercase (and strip accents unless `strip_accents` is `Some(false)`).
    pub do_lower_case: bool,
    /// `None`: follow `do_lower_case`.
    pub strip_accents: Option<bool>,
    /// Put spaces around CJK ideographs.
    pub tokenize_chinese_chars: bool,
}

fn strip_accents(text: &str) -> String {
    text.nfd()
        .map(|(c, _)| c)
        .filter(|&c| py_category(c) != "Mn")
        .collect()
}

/// transformers' `BasicTokenizer.tokenize`: clean, CJK spacing, NFC, whitespace split,
/// lowercase/accent stripping, punctuation split.
pub fn basic_tokenize(text: &str, opts: &BasicOptions) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        let cp = c as u32;
        if cp == 0 || cp == 0xFFFD || is_bert_control(c) {
            continue;
        }
        if opts.tokenize_chinese_chars && is_chinese_char(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else if is_bert_whitespace(c) {
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    let normalized: String = cleaned.nfc().map(|(c, _)| c).collect();
    let mut pieces: Vec<String> = Vec::new();
    for token in py_split(&normalized) {
        let mut token = token.to_string();
        if opts.do_lower_case {
            token = py_lower(&token);
            if opts.strip_accents != Some(false) {
                token = strip_accents(&token);
            }
        } else if opts.strip_accents == Some(true) {
            token = strip_accents(&token);
        }
        let mut current = String::new();
        for c in token.chars() {
            if is_bert_punctuation(c) {
                if !current.is_empty() {
                    pieces.push(std::mem::take(&mut current));
                }
                pieces.push(c.to_string());
            } else {
                current.push(c);
            }
        }
        if !current.is_empty() {
            pieces.push(current);
        }
    }
    // join with spaces and split again (accent stripping can leave whitespace-only pieces)
    let joined = pieces.join(" ");
    py_split(&joined).into_iter().map(str::to_string).collect()
}

/// Greedy longest-match-first WordPiece of one basic token list.
pub fn wordpiece(
    words: &[String],
    vocab: &HashMap<String, u32>,
    unk: &str,
    max_chars: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for word in words {
        for token in py_split(word) {
            let chars: Vec<char> = token.chars().collect();
            if chars.len() > max_chars {
                out.push(unk.to_string());
                continue;
            }
            let mut start = 0usize;
            let mut sub = Vec::new();
            let mut bad = false;
            while start < chars.len() {
                let mut end = chars.len();
                let mut found = None;
                while start < end {
                    let mut piece: String = chars[start..end].iter().collect();
                    if start > 0 {
                        piece.insert_str(0, "##");
                    }
                    if vocab.contains_key(&piece) {
                        found = Some(piece);
                        break;
                    }
                    end -= 1;
                }
                match found {
                    Some(p) => {
                        sub.push(p);
                        start = end;
                    }
                    None => {
                        bad = true;
                        break;
                    }
                }
            }
            if bad {
                out.push(unk.to_string());
            } else {
                out.extend(sub);
            }
        }
    }
    out
}

/// `format_text` of the reference: is this cell text "empty" (n/a, ?, nan, or nothing but
/// non-word characters)?
pub fn is_empty_text(text: &str) -> bool {
    let lowered = py_lower(text);
    let stripped = lowered.trim_matches(py_isspace);
    if stripped == "n/a" || stripped == "?" || stripped == "nan" {
        return true;
    }
    !stripped.chars().any(py_isalnum)
}

/// `normalize_for_match`: lowercase, whitespace runs to one space, trimmed.
pub fn normalize_for_match(text: &str) -> String {
    py_split(&py_lower(text)).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float() {
        assert_eq!(py_float("1,5"), None);
        assert_eq!(py_float(" 12 "), Some(12.0));
        assert_eq!(py_float("1_000"), Some(1000.0));
        assert_eq!(py_float("1__0"), None);
        assert_eq!(py_float("_1"), None);
        assert_eq!(py_float("1e5"), Some(100000.0));
        assert_eq!(py_float("."), None);
        assert_eq!(py_float(".5"), Some(0.5));
        assert_eq!(py_float("5."), Some(5.0));
        assert_eq!(py_float("-3.5"), Some(-3.5));
        assert_eq!(py_float("١٢"), Some(12.0));
        assert_eq!(py_float("inf"), Some(f64::INFINITY));
        assert!(py_float("nan").is_some_and(f64::is_nan));
        assert_eq!(py_float("1e"), None);
        assert_eq!(py_float("0x10"), None);
        assert_eq!(py_float("²"), None);
    }

    #[test]
    fn empty_text() {
        assert!(is_empty_text(""));
        assert!(is_empty_text(" N/A "));
        assert!(is_empty_text("?"));
        assert!(is_empty_text("--"));
        assert!(is_empty_text("_"));
        assert!(!is_empty_text("a"));
        assert!(!is_empty_text("nan1"));
    }

    #[test]
    fn basic() {
        let o = BasicOptions {
            do_lower_case: true,
            strip_accents: None,
            tokenize_chinese_chars: true,
        };
        assert_eq!(
            basic_tokenize("Zoë's café 東京!", &o),
            vec!["zoe", "'", "s", "cafe", "東", "京", "!"]
        );
    }
}
