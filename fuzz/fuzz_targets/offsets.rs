//! Fuzzes the offset conversions between code points, UTF-16 units and UTF-8 bytes: round
//! trips on every character boundary, `None` (never a panic) for offsets inside a character
//! or past the end, and agreement between `TextIndex` and the free functions.
#![no_main]

use arbitrary::{Result as ArbResult, Unstructured};
use hf_tasks_core::offsets::{
    byte_to_char, char_to_byte, char_to_utf16, slice_chars, OffsetUnit, TextIndex,
};
use libfuzzer_sys::fuzz_target;

const UNITS: [OffsetUnit; 3] = [OffsetUnit::CodePoint, OffsetUnit::Utf16, OffsetUnit::Byte];

fn run(u: &mut Unstructured<'_>) -> ArbResult<()> {
    let text: String = u.arbitrary()?;
    let ix = TextIndex::new(&text);
    let chars: Vec<char> = text.chars().collect();
    assert_eq!(ix.char_len(), chars.len());
    assert_eq!(ix.byte_len(), text.len());
    assert_eq!(ix.utf16_len(), text.encode_utf16().count());

    // Every code point boundary round-trips in every unit and agrees with the free functions.
    for c in 0..=chars.len() {
        for unit in UNITS {
            let off = ix.from_char(c, unit).expect("boundary in range");
            assert_eq!(ix.to_char(off, unit), Some(c));
        }
        let b = ix.from_char(c, OffsetUnit::Byte);
        assert_eq!(char_to_byte(&text, c), b);
        assert_eq!(b.and_then(|b| byte_to_char(&text, b)), Some(c));
        assert_eq!(char_to_utf16(&text, c), ix.from_char(c, OffsetUnit::Utf16));
    }
    for unit in UNITS {
        assert_eq!(ix.from_char(chars.len() + 1, unit), None);
    }

    // Arbitrary offsets: a boundary maps back exactly, anything else is None.
    for _ in 0..8 {
        let off = u.int_in_range(0..=text.len() + 4)?;
        match byte_to_char(&text, off) {
            Some(c) => assert_eq!(char_to_byte(&text, c), Some(off)),
            None => assert!(off > text.len() || !text.is_char_boundary(off)),
        }
        assert_eq!(ix.to_char(off, OffsetUnit::Byte), byte_to_char(&text, off));
        if let Some(c) = ix.to_char(off, OffsetUnit::Utf16) {
            assert_eq!(ix.from_char(c, OffsetUnit::Utf16), Some(off));
        }
        let start = u.int_in_range(0..=chars.len() + 2)?;
        let end = u.int_in_range(0..=chars.len() + 2)?;
        let want: Option<String> =
            (start <= end && end <= chars.len()).then(|| chars[start..end].iter().collect());
        assert_eq!(slice_chars(&text, start, end).map(str::to_string), want);
        match ix.span_from_chars((start, end), OffsetUnit::Utf16) {
            Ok((a, b)) => {
                assert!(start <= chars.len() && end <= chars.len());
                assert_eq!(ix.to_char(a, OffsetUnit::Utf16), Some(start));
                assert_eq!(ix.to_char(b, OffsetUnit::Utf16), Some(end));
            }
            Err(_) => assert!(start > chars.len() || end > chars.len()),
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
