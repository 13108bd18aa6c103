//! Incremental detokenization for streaming.
//!
//! Each step decodes a short window of recent ids and returns the text it adds to the window's
//! previous decode, holding text back while it ends in U+FFFD (a UTF-8 character split across
//! byte-level tokens) or adds nothing yet (a SentencePiece `▁` that is only a space once a word
//! follows). A run of byte-fallback tokens (`<0x..>`) is held back until a token of another
//! kind ends it: the ByteFallback decoder turns a run that is not valid UTF-8 into one U+FFFD
//! per byte, so text decoded from a run's first bytes (e.g. `<0x0A>` as "\n") can be rewritten
//! by a later byte of the same run. When a window's text does not extend the previous one (a
//! decoder that rewrites earlier text), the whole sequence is decoded instead. The concatenation of all steps plus
//! [`DecodeStream::flush`] equals `decode(all ids, skip_special_tokens, clean_up = false)`.

use crate::tokenize::Tokenizer;
use crate::Result;

/// Streaming state of one sequence.
#[derive(Debug, Clone, Default)]
pub struct DecodeStream {
    skip_special_tokens: bool,
    /// Every id stepped so far.
    all: Vec<u32>,
    /// Start (in `all`) of the decode window.
    window_start: usize,
    /// Start (in `all`) of the ids not yet covered by `prefix`.
    prefix_end: usize,
    /// Decode of `all[window_start..prefix_end]`.
    prefix: String,
    /// Text returned so far.
    emitted: String,
}

impl DecodeStream {
    /// A new stream.
    pub fn new(skip_special_tokens: bool) -> Self {
        Self {
            skip_special_tokens,
            ..Default::default()
        }
    }

    fn decode(&self, tok: &Tokenizer, ids: &[u32]) -> Result<String> {
        tok.decode(ids, self.skip_special_tokens, Some(false))
    }

    /// Adds one id; returns the text it completes ('' while it is incomplete).
    pub fn step(&mut self, tok: &Tokenizer, id: u32) -> Result<String> {
        // Reject bad ids before they enter the state.
        self.decode(tok, &[id])?;
        self.all.push(id);
        if is_byte_token(tok, id) {
            return Ok(String::new());
        }
        let text = self.decode(tok, &self.all[self.window_start..])?;
        if text.len() > self.prefix.len() && !text.ends_with('\u{FFFD}') {
            if let Some(new) = text.strip_prefix(self.prefix.as_str()) {
                let new = new.to_string();
                // Slide the window: keep the ids since the last emission as context.
                self.window_start = self.prefix_end;
                self.prefix_end = self.all.len();
                self.prefix = self.decode(tok, &self.all[self.window_start..self.prefix_end])?;
                self.emitted.push_str(&new);
                return Ok(new);
            }
            return self.full_step(tok);
        }
        Ok(String::new())
    }

    /// Fallback: the whole decode minus what was emitted.
    fn full_step(&mut self, tok: &Tokenizer) -> Result<String> {
        let full = self.decode(tok, &self.all)?;
        if full.ends_with('\u{FFFD}') {
            return Ok(String::new());
        }
        match full.strip_prefix(self.emitted.as_str()) {
            Some(new) if !new.is_empty() => {
                let new = new.to_string();
                self.window_start = self.all.len().saturating_sub(1);
                self.prefix_end = self.all.len();
                self.prefix = self.decode(tok, &self.all[self.window_start..])?;
                self.emitted.push_str(&new);
                Ok(new)
            }
            _ => Ok(String::new()),
        }
    }

    /// Text still held back at the end of the sequence (e.g. a trailing U+FFFD): the part of
    /// the full decode that was not returned yet.
    pub fn flush(&mut self, tok: &Tokenizer) -> Result<String> {
        let full = self.decode(tok, &self.all)?;
        let rest = match full.strip_prefix(self.emitted.as_str()) {
            Some(r) => r.to_string(),
            None => String::new(),
        };
        self.emitted.push_str(&rest);
        Ok(rest)
    }

    /// The ids stepped so far.
    pub fn ids(&self) -> &[u32] {
        &self.all
    }
}

/// Whether `id` is a byte-fallback token (`<0x00>` ... `<0xFF>`).
fn is_byte_token(tok: &Tokenizer, id: u32) -> bool {
    tok.convert_ids_to_tokens(&[id], false)
        .ok()
        .and_then(|t| t.into_iter().next())
        .is_some_and(|t| {
            t.len() == 6
                && t.starts_with("<0x")
                && t.ends_with('>')
                && t[3..5].bytes().all(|b| b.is_ascii_hexdigit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tokenizer(name: &str) -> Tokenizer {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures/tokenizers");
        Tokenizer::from_path(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn steps_concatenate_to_the_full_decode() {
        for name in ["roberta-bpe", "xlmr-unigram"] {
            let tok = tokenizer(name);
            let text = "Stream 😀 世界, naïve — ok";
            let enc = tok
                .encode(text, None, &Default::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let ids: Vec<u32> = enc.input_ids[..enc.lengths[0] as usize]
                .iter()
                .map(|&x| x as u32)
                .collect();
            let mut stream = DecodeStream::new(true);
            let mut out = String::new();
            for &id in &ids {
                let piece = stream.step(&tok, id).unwrap_or_else(|e| panic!("{e}"));
                assert!(!piece.contains('\u{FFFD}'), "{name}: {piece:?}");
                out.push_str(&piece);
            }
            assert_eq!(stream.flush(&tok).unwrap_or_else(|e| panic!("{e}")), "");
            let full = tok
                .decode(&ids, true, Some(false))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(out, full, "{name}");
            assert_eq!(stream.ids(), &ids[..]);
        }
    }

    #[test]
    fn bad_ids_are_errors_and_leave_the_state() {
        let tok = tokenizer("roberta-bpe");
        let mut stream = DecodeStream::new(false);
        assert!(stream.step(&tok, 1_000_000_000).is_err());
        assert!(stream.ids().is_empty());
    }
}
