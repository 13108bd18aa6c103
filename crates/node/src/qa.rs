//! Bindings for `hf_tasks_core::qa`.

use hf_tasks_core::qa;
use hf_tasks_core::Error;
use napi::bindgen_prelude::{BigInt64Array, Float32Array, Int32Array, Int8Array, Result};
use napi::bindgen_prelude::{Uint32Array, Uint8Array};
use napi_derive::napi;

use crate::errors::{guard, to_usize, Code};

/// Answer candidates of one window, best first.
#[napi(object)]
pub struct QaSpanCandidates {
    /// First token of each candidate.
    pub starts: Uint32Array,
    /// Last token (inclusive) of each candidate.
    pub ends: Uint32Array,
    /// `start_p[s] * end_p[e]` per candidate (f32).
    pub scores: Float32Array,
    /// `start_p[0] * end_p[0]` before position 0 is zeroed (the window's no-answer score).
    pub null_score: f64,
}

/// The QA p_mask of one window: 1 where a token cannot be part of an answer. `clsTokenId`
/// positions stay 0; with `questionFirst` every token outside sequence 1 is masked.
#[napi(js_name = "qaPMask")]
pub fn qa_p_mask(
    sequence_ids: Int8Array,
    input_ids: BigInt64Array,
    cls_token_id: Option<i64>,
    question_first: bool,
) -> Result<Uint8Array, Code> {
    guard(|| {
        qa::p_mask(&sequence_ids, &input_ids, cls_token_id, question_first).map(Uint8Array::new)
    })
}

/// Decodes the answer candidates of one unpadded window (task contract 4.3): masked softmax of
/// both logit rows, candidate matrix banded by `maxAnswerLen`, top `topK` entries, then only
/// candidates on allowed positions. `attentionMask` may be empty.
#[napi(js_name = "qaDecodeSpan")]
pub fn qa_decode_span(
    start_logits: Float32Array,
    end_logits: Float32Array,
    p_mask: Uint8Array,
    attention_mask: BigInt64Array,
    top_k: u32,
    max_answer_len: u32,
) -> Result<QaSpanCandidates, Code> {
    guard(|| {
        let c = qa::decode_span(
            &start_logits,
            &end_logits,
            &p_mask,
            &attention_mask,
            to_usize(top_k),
            to_usize(max_answer_len),
        )?;
        Ok(QaSpanCandidates {
            starts: Uint32Array::new(c.starts),
            ends: Uint32Array::new(c.ends),
            scores: Float32Array::new(c.scores),
            null_score: f64::from(c.null_score),
        })
    })
}

/// Character spans `[start, end)` (pairs, flat) of token spans `starts[i]..=ends[i]` in one
/// window; with `alignToWords` widened to whole words of sequence `sequenceIndex`. `offsets`
/// holds two values per token.
#[napi(js_name = "qaAnswerCharSpans")]
pub fn qa_answer_char_spans(
    word_ids: Int32Array,
    sequence_ids: Int8Array,
    offsets: Uint32Array,
    sequence_index: i32,
    starts: Uint32Array,
    ends: Uint32Array,
    align_to_words: bool,
) -> Result<Uint32Array, Code> {
    guard(|| {
        if starts.len() != ends.len() {
            return Err(Error::Dims(format!(
                "qa char spans: {} starts for {} ends",
                starts.len(),
                ends.len()
            )));
        }
        let sequence_index = i8::try_from(sequence_index).map_err(|_| {
            Error::InvalidArgument(format!(
                "qa char spans: sequence index {sequence_index} is out of range"
            ))
        })?;
        let mut out = Vec::with_capacity(starts.len() * 2);
        for (&s, &e) in starts.iter().zip(ends.iter()) {
            let (a, b) = qa::answer_char_span(
                &word_ids,
                &sequence_ids,
                &offsets,
                sequence_index,
                to_usize(s),
                to_usize(e),
                align_to_words,
            )?;
            out.push(a);
            out.push(b);
        }
        Ok(Uint32Array::new(out))
    })
}
