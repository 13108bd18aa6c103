//! The decoding configuration shared by the sampler and beam search (the subset of
//! transformers' `GenerationConfig` that drives the logits processors and warpers).

use crate::{Error, Result};

/// Processor and warper settings. Every field is optional; an absent field disables its
/// processor exactly where transformers 4.57 `_get_logits_processor` would not add it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodingConfig {
    /// `repetition_penalty`: > 0; 1 or absent = off.
    pub repetition_penalty: Option<f64>,
    /// `no_repeat_ngram_size`: 0 or absent = off.
    pub no_repeat_ngram_size: Option<usize>,
    /// `bad_words_ids`: token sequences that must not be generated.
    pub bad_words_ids: Option<Vec<Vec<i32>>>,
    /// `min_length`: EOS is banned while the sequence is shorter (needs `eos_token_ids`).
    pub min_length: Option<usize>,
    /// `min_new_tokens`: EOS is banned while fewer tokens were generated (needs `eos_token_ids`).
    pub min_new_tokens: Option<usize>,
    /// End-of-sequence ids (`generation_config._eos_token_tensor`).
    pub eos_token_ids: Vec<i32>,
    /// `forced_bos_token_id`: forced when the sequence has length 1.
    pub forced_bos_token_id: Option<i32>,
    /// `forced_eos_token_id`: forced when the sequence has length `max_length - 1`.
    pub forced_eos_token_ids: Option<Vec<i32>>,
    /// `max_length`: total length bound (prompt included for decoder-only models).
    pub max_length: Option<usize>,
    /// `suppress_tokens`: always -inf.
    pub suppress_tokens: Option<Vec<i32>>,
    /// `begin_suppress_tokens`: -inf when the sequence length equals the begin index.
    pub begin_suppress_tokens: Option<Vec<i32>>,
    /// Begin index of `begin_suppress_tokens`; absent = as transformers derives it from the
    /// prompt length (`prompt_len`, plus one when the prompt has length 1 and a BOS is forced).
    pub begin_index: Option<usize>,
    /// `do_sample`: enables the warpers below.
    pub do_sample: bool,
    /// `temperature`: > 0; applied when ≠ 1.
    pub temperature: Option<f64>,
    /// `top_k`: 0 or absent = off.
    pub top_k: Option<usize>,
    /// `top_p`: in [0, 1]; applied when < 1.
    pub top_p: Option<f64>,
    /// `min_p`: in [0, 1]; applied whenever present.
    pub min_p: Option<f64>,
    /// `typical_p`: in (0, 1]; applied when < 1.
    pub typical_p: Option<f64>,
    /// `epsilon_cutoff`: applied when in (0, 1) (other values are ignored, as transformers does).
    pub epsilon_cutoff: Option<f64>,
    /// `eta_cutoff`: applied when in (0, 1) (other values are ignored, as transformers does).
    pub eta_cutoff: Option<f64>,
    /// Whisper's timestamp rules (`WhisperTimeStampLogitsProcessor`), applied after every other
    /// processor and before the warpers.
    pub whisper_timestamps: Option<WhisperTimestamps>,
}

/// Settings of Whisper's timestamp processor. Timestamp tokens are the ids from
/// `no_timestamps_token_id + 1` to the end of the vocabulary; generated tokens start at
/// [`DecodingConfig::begin_index`] (else the prompt length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperTimestamps {
    /// `<|notimestamps|>`: never generated while timestamps are on.
    pub no_timestamps_token_id: i32,
    /// The generation config's `eos_token_id` (else `bos_token_id`): after a lone timestamp,
    /// the ids below it (text) are banned.
    pub eos_token_id: i32,
    /// `max_initial_timestamp_index`: the first timestamp may be at most this many steps.
    pub max_initial_timestamp_index: Option<usize>,
}

fn bad(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

fn check_ids(ids: &[i32], name: &str) -> Result<()> {
    match ids.iter().find(|&&t| t < 0) {
        Some(t) => Err(bad(format!(
            "{name} must hold non-negative token ids, got {t}"
        ))),
        None => Ok(()),
    }
}

impl DecodingConfig {
    /// Checks every field against the ranges transformers 4.57 accepts (its processors raise
    /// `ValueError` outside them). Token ids must be non-negative.
    pub fn validate(&self) -> Result<()> {
        if let Some(p) = self.repetition_penalty {
            if !(p.is_finite() && p > 0.0) {
                return Err(bad(format!(
                    "repetitionPenalty has to be a strictly positive number, got {p}"
                )));
            }
        }
        check_ids(&self.eos_token_ids, "eosTokenIds")?;
        if let Some(words) = &self.bad_words_ids {
            if words.is_empty() {
                return Err(bad("badWordsIds has to be a non-empty list".into()));
            }
            for w in words {
                if w.is_empty() {
                    return Err(bad(
                        "badWordsIds entries have to be non-empty id lists".into()
                    ));
                }
                check_ids(w, "badWordsIds")?;
            }
            // transformers drops single-token bad words equal to an EOS id; nothing left is an
            // error there (an empty sequence bias).
            let left = words
                .iter()
                .filter(|w| !(w.len() == 1 && self.eos_token_ids.contains(&w[0])))
                .count();
            if left == 0 {
                return Err(bad(
                    "badWordsIds holds only EOS ids, which are never banned; nothing is left to ban"
                        .into(),
                ));
            }
        }
        if let Some(b) = self.forced_bos_token_id {
            check_ids(&[b], "forcedBosTokenId")?;
        }
        if let Some(e) = &self.forced_eos_token_ids {
            check_ids(e, "forcedEosTokenIds")?;
            if self.max_length.is_none() {
                return Err(bad("forcedEosTokenIds needs maxLength".into()));
            }
        }
        if let Some(t) = self.temperature {
            if self.do_sample && !(t.is_finite() && t > 0.0) {
                return Err(bad(format!(
                    "temperature has to be a strictly positive number, got {t} (use greedy decoding instead of temperature 0)"
                )));
            }
        }
        if let Some(p) = self.top_p {
            if !(0.0..=1.0).contains(&p) {
                return Err(bad(format!("topP has to be in [0, 1], got {p}")));
            }
        }
        if let Some(p) = self.min_p {
            if !(0.0..=1.0).contains(&p) {
                return Err(bad(format!("minP has to be in [0, 1], got {p}")));
            }
        }
        if let Some(p) = self.typical_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(bad(format!("typicalP has to be in (0, 1], got {p}")));
            }
        }
        if let Some(w) = &self.whisper_timestamps {
            check_ids(
                &[w.no_timestamps_token_id, w.eos_token_id],
                "whisperTimestamps",
            )?;
        }
        Ok(())
    }
}
