//! Extractive question answering: span decoding for one window of the context (task contract
//! section 4.3) and the token-to-character mapping used to turn a token span into an answer.
//!
//! The arithmetic follows numpy on float32 arrays: masked logits are replaced by -10000, each
//! logit row goes through a max-subtracted softmax whose denominator is numpy's pairwise sum,
//! and a candidate's score is the f32 product `start_p[s] * end_p[e]`.

use crate::error::{check_finite, Error, Result};

/// Logit given to positions that cannot be part of an answer, as the reference pipeline does.
const MASKED_LOGIT: f32 = -10000.0;

/// Candidates decoded from one window, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanCandidates {
    /// Token index of each candidate's first token.
    pub starts: Vec<u32>,
    /// Token index of each candidate's last token (inclusive).
    pub ends: Vec<u32>,
    /// `start_p[s] * end_p[e]`, not renormalised.
    pub scores: Vec<f32>,
    /// `start_p[0] * end_p[0]` before position 0 is zeroed: the "no answer" score of this
    /// window. The caller keeps the minimum over windows when impossible answers are allowed.
    pub null_score: f32,
}

/// The mask of tokens that cannot start or end an answer (1) or can (0).
///
/// With `question_first` (tokenizers that pad on the right) every token whose sequence id is
/// not 1 (the context) is masked; otherwise nothing is. Positions holding `cls_token_id` are
/// always unmasked, since models use them to point at "no answer".
pub fn p_mask(
    sequence_ids: &[i8],
    input_ids: &[i64],
    cls_token_id: Option<i64>,
    question_first: bool,
) -> Result<Vec<u8>> {
    if sequence_ids.len() != input_ids.len() {
        return Err(Error::Dims(format!(
            "qa p_mask: {} sequence ids for {} input ids",
            sequence_ids.len(),
            input_ids.len()
        )));
    }
    Ok(sequence_ids
        .iter()
        .zip(input_ids)
        .map(|(&seq, &id)| {
            if cls_token_id == Some(id) {
                0
            } else {
                u8::from(question_first && seq != 1)
            }
        })
        .collect())
}

/// numpy's pairwise summation of a float32 array (`np.add.reduce`): blocks of 8 partial sums
/// up to 128 values, halving above that, starting from 0.
fn pairwise_sum(values: &[f32]) -> f32 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        values.iter().fold(-0.0f32, |acc, v| acc + v)
    } else if n <= BLOCK {
        let mut r = [0.0f32; 8];
        r.copy_from_slice(&values[..8]);
        let whole = n - n % 8;
        for chunk in values[8..whole].chunks_exact(8) {
            for (acc, v) in r.iter_mut().zip(chunk) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &values[whole..] {
            res += v;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

/// Masked, max-subtracted softmax of one logit row in f32.
fn masked_softmax(logits: &[f32], allowed: &[bool]) -> Vec<f32> {
    let mut out: Vec<f32> = logits
        .iter()
        .zip(allowed)
        .map(|(&v, &ok)| if ok { v } else { MASKED_LOGIT })
        .collect();
    let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in out.iter_mut() {
        *v = (*v - max).exp();
    }
    let sum = 0.0f32 + pairwise_sum(&out);
    for v in out.iter_mut() {
        *v /= sum;
    }
    out
}

/// Decodes the answer candidates of one window.
///
/// `start_logits` and `end_logits` are the model outputs for the window's tokens (no padding),
/// `p_mask` comes from [`p_mask`], `attention_mask` is the window's mask (or empty when the
/// model takes none). A position is allowed when it is unmasked and attended. Steps: masked
/// softmax of both rows, null score from position 0, position 0 zeroed, candidate matrix
/// `M[s, e] = start_p[s] * end_p[e]` for `s <= e <= s + max_answer_len - 1` (0 elsewhere), the
/// `top_k` largest entries (ties: lower flat index first), and then only pairs whose start and
/// end are both allowed survive. As in the reference, position 0 counts as allowed whenever any
/// position is, so zero-score candidates at position 0 can survive.
pub fn decode_span(
    start_logits: &[f32],
    end_logits: &[f32],
    p_mask: &[u8],
    attention_mask: &[i64],
    top_k: usize,
    max_answer_len: usize,
) -> Result<SpanCandidates> {
    let n = start_logits.len();
    if n == 0 {
        return Err(Error::Dims("qa decode: the window has no tokens".into()));
    }
    if end_logits.len() != n || p_mask.len() != n {
        return Err(Error::Dims(format!(
            "qa decode: start logits ({n}), end logits ({}) and p_mask ({}) must have the same length",
            end_logits.len(),
            p_mask.len()
        )));
    }
    if !attention_mask.is_empty() && attention_mask.len() != n {
        return Err(Error::Dims(format!(
            "qa decode: attention mask has {} values for a window of {n} tokens",
            attention_mask.len()
        )));
    }
    if top_k == 0 {
        return Err(Error::InvalidArgument(
            "qa decode: top_k must be at least 1".into(),
        ));
    }
    if max_answer_len == 0 {
        return Err(Error::InvalidArgument(
            "qa decode: max_answer_len must be at least 1".into(),
        ));
    }
    check_finite(start_logits, "qa start logits")?;
    check_finite(end_logits, "qa end logits")?;

    let allowed: Vec<bool> = (0..n)
        .map(|i| p_mask[i] == 0 && attention_mask.get(i).is_none_or(|&m| m != 0))
        .collect();
    let mut start_p = masked_softmax(start_logits, &allowed);
    let mut end_p = masked_softmax(end_logits, &allowed);
    let null_score = start_p[0] * end_p[0];
    start_p[0] = 0.0;
    end_p[0] = 0.0;

    let picked = top_candidates(&start_p, &end_p, top_k, max_answer_len);

    // Membership as numpy's `isin(x, mask.nonzero())` on a [1, n] mask: the row indices (all 0)
    // join the column indices, so 0 is a member as soon as any position is allowed.
    let any_allowed = allowed.iter().any(|&a| a);
    let member = |i: usize| allowed[i] || (i == 0 && any_allowed);

    let mut out = SpanCandidates {
        starts: Vec::new(),
        ends: Vec::new(),
        scores: Vec::new(),
        null_score,
    };
    for (s, e, score) in picked {
        if member(s) && member(e) {
            out.starts.push(s as u32);
            out.ends.push(e as u32);
            out.scores.push(score);
        }
    }
    Ok(out)
}

/// The `k` largest entries of the banded candidate matrix, best first, ties by flat index.
fn top_candidates(
    start_p: &[f32],
    end_p: &[f32],
    k: usize,
    max_answer_len: usize,
) -> Vec<(usize, usize, f32)> {
    let n = start_p.len();
    let k = k.min(n.saturating_mul(n));
    // Every entry outside the band is 0, so the positive entries all lie inside it.
    let mut positive: Vec<(usize, usize, f32)> = Vec::new();
    for (s, &sp) in start_p.iter().enumerate() {
        let last = s.saturating_add(max_answer_len - 1).min(n - 1);
        for (e, &ep) in end_p.iter().enumerate().take(last + 1).skip(s) {
            let m = sp * ep;
            if m > 0.0 {
                positive.push((s, e, m));
            }
        }
    }
    // Flat index order (s, e) is the insertion order, so a stable sort breaks ties by it.
    positive.sort_by(|a, b| b.2.total_cmp(&a.2));
    if positive.len() >= k {
        positive.truncate(k);
        return positive;
    }
    // Not enough positive entries: fill with zero entries in flat index order.
    let mut out = positive;
    let mut is_positive = vec![false; n * n];
    for &(s, e, _) in &out {
        is_positive[s * n + e] = true;
    }
    for (flat, &pos) in is_positive.iter().enumerate() {
        if out.len() >= k {
            break;
        }
        if !pos {
            out.push((flat / n, flat % n, 0.0));
        }
    }
    out
}

/// Character span `[start, end)` of the answer spanning tokens `s..=e` of one window.
///
/// With `align_to_words` the span widens to whole words: the first character of the word
/// holding token `s` to the last character of the word holding token `e`, both looked up among
/// the tokens of sequence `sequence_index` (the tokenizers `word_to_chars` rules). When either
/// token has no word, or the word is not found there, plain token offsets are used. `offsets`
/// holds `[start, end)` pairs per token, relative to the sequence each token belongs to.
pub fn answer_char_span(
    word_ids: &[i32],
    sequence_ids: &[i8],
    offsets: &[u32],
    sequence_index: i8,
    s: usize,
    e: usize,
    align_to_words: bool,
) -> Result<(u32, u32)> {
    let n = word_ids.len();
    if sequence_ids.len() != n || offsets.len() != n.saturating_mul(2) {
        return Err(Error::Dims(format!(
            "qa char span: {n} word ids, {} sequence ids and {} offsets (need 2 per token)",
            sequence_ids.len(),
            offsets.len()
        )));
    }
    if s >= n || e >= n {
        return Err(Error::InvalidArgument(format!(
            "qa char span: token {} is outside the window of {n} tokens",
            s.max(e)
        )));
    }
    let token_offsets = || (offsets[2 * s], offsets[2 * e + 1]);
    if !align_to_words {
        return Ok(token_offsets());
    }
    let word_of = |t: usize| (word_ids[t] >= 0 && sequence_ids[t] >= 0).then_some(word_ids[t]);
    let (Some(start_word), Some(end_word)) = (word_of(s), word_of(e)) else {
        return Ok(token_offsets());
    };
    let range = sequence_range(sequence_ids, sequence_index);
    let start = word_tokens(word_ids, &range, start_word).map(|(first, _)| offsets[2 * first]);
    let end = word_tokens(word_ids, &range, end_word).map(|(_, last)| offsets[2 * last + 1]);
    match (start, end) {
        (Some(start), Some(end)) => Ok((start, end)),
        _ => Ok(token_offsets()),
    }
}

/// The token range of one sequence: first to last token carrying its id, or the whole window
/// when no token does (the tokenizers fallback).
fn sequence_range(sequence_ids: &[i8], sequence_index: i8) -> std::ops::Range<usize> {
    let first = sequence_ids.iter().position(|&q| q == sequence_index);
    let last = sequence_ids.iter().rposition(|&q| q == sequence_index);
    match (first, last) {
        (Some(first), Some(last)) => first..last + 1,
        _ => 0..sequence_ids.len(),
    }
}

/// First and last token (inclusive) of `word` inside `range`, scanning while word ids do not
/// exceed it (tokens without a word do not stop the scan), as tokenizers' `word_to_tokens`.
fn word_tokens(
    word_ids: &[i32],
    range: &std::ops::Range<usize>,
    word: i32,
) -> Option<(usize, usize)> {
    let mut found: Option<(usize, usize)> = None;
    for t in range.clone() {
        let w = word_ids[t];
        if w > word {
            break;
        }
        if w == word {
            found = Some(match found {
                None => (t, t),
                Some((first, _)) => (first, t),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn softmax64(row: &[f64]) -> Vec<f64> {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        exps.iter().map(|v| v / sum).collect()
    }

    #[test]
    fn pairwise_sum_matches_plain_sum_closely_at_every_size() {
        for n in [1usize, 7, 8, 9, 64, 128, 129, 300, 1000] {
            let v: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 11) as f32) * 0.1 + 0.01)
                .collect();
            let exact: f64 = v.iter().map(|&x| f64::from(x)).sum();
            assert!((f64::from(pairwise_sum(&v)) - exact).abs() < 1e-3, "n={n}");
        }
        // Fewer than 8 values add left to right.
        assert_eq!(pairwise_sum(&[1.0, 2.0, 3.0]), 6.0);
    }

    #[test]
    fn p_mask_keeps_context_and_cls_only() {
        // [CLS] q q [SEP] c c [SEP]
        let seq = [-1, 0, 0, -1, 1, 1, -1];
        let ids = [101, 7, 8, 102, 9, 10, 102];
        assert_eq!(
            p_mask(&seq, &ids, Some(101), true).unwrap(),
            vec![0, 1, 1, 1, 0, 0, 1]
        );
        // Context-first tokenizers mask nothing.
        assert_eq!(p_mask(&seq, &ids, Some(101), false).unwrap(), vec![0; 7]);
        assert_eq!(
            p_mask(&seq[..3], &ids, None, true).unwrap_err().code(),
            "ERR_DIMS"
        );
    }

    #[test]
    fn scores_are_products_of_masked_softmaxes() {
        let start = [0.5f32, 1.0, -2.0, 2.0, 0.3];
        let end = [0.1f32, 0.2, 3.0, 1.0, 0.7];
        let p = [0u8, 1, 1, 0, 0];
        let got = decode_span(&start, &end, &p, &[1; 5], 3, 15).unwrap();
        let masked = |row: &[f32]| -> Vec<f64> {
            row.iter()
                .zip(&p)
                .map(|(&v, &m)| if m == 1 { -10000.0 } else { f64::from(v) })
                .collect()
        };
        let sp = softmax64(&masked(&start));
        let ep = softmax64(&masked(&end));
        assert!((f64::from(got.null_score) - sp[0] * ep[0]).abs() < 1e-6);
        // Allowed (s, e) with s >= 1: (3,3), (3,4), (4,4).
        let mut want = [
            (3, 3, sp[3] * ep[3]),
            (3, 4, sp[3] * ep[4]),
            (4, 4, sp[4] * ep[4]),
        ];
        want.sort_by(|a, b| b.2.total_cmp(&a.2));
        assert_eq!(got.starts.len(), 3);
        for (i, (s, e, score)) in want.iter().enumerate() {
            assert_eq!(got.starts[i], *s);
            assert_eq!(got.ends[i], *e);
            assert!((f64::from(got.scores[i]) - score).abs() < 1e-6);
        }
    }

    #[test]
    fn max_answer_len_bounds_the_band() {
        // End logit peaks far from the start peak: with a band of 2 they cannot pair.
        let start = [0.0f32, 5.0, 0.0, 0.0, 0.0, 0.0];
        let end = [0.0f32, 0.0, 0.0, 0.0, 0.0, 5.0];
        let p = [0u8; 6];
        let wide = decode_span(&start, &end, &p, &[], 1, 15).unwrap();
        assert_eq!((wide.starts[0], wide.ends[0]), (1, 5));
        let narrow = decode_span(&start, &end, &p, &[], 5, 2).unwrap();
        assert_eq!(narrow.starts.len(), 5);
        for i in 0..5 {
            let (s, e) = (narrow.starts[i], narrow.ends[i]);
            assert!(e >= s && e - s < 2, "({s}, {e}) is outside the band");
            assert!(narrow.scores[i] > 0.0);
        }
    }

    #[test]
    fn unattended_positions_are_masked() {
        let start = [0.0f32, 1.0, 9.0];
        let end = [0.0f32, 1.0, 9.0];
        let got = decode_span(&start, &end, &[0, 0, 0], &[1, 1, 0], 1, 15).unwrap();
        assert_eq!((got.starts[0], got.ends[0]), (1, 1));
    }

    #[test]
    fn null_score_is_taken_before_position_zero_is_zeroed() {
        let start = [4.0f32, 0.0, 0.0];
        let end = [4.0f32, 0.0, 0.0];
        let got = decode_span(&start, &end, &[0, 0, 0], &[1, 1, 1], 1, 15).unwrap();
        let p0 = (4.0f64).exp() / ((4.0f64).exp() + 2.0);
        assert!((f64::from(got.null_score) - p0 * p0).abs() < 1e-6);
        // Position 0 never wins: the best candidate is a real token.
        assert_ne!(got.starts[0], 0);
    }

    #[test]
    fn zero_score_candidates_fill_top_k_and_position_zero_survives() {
        // Only token 2 is context: one positive candidate (2, 2).
        let start = [1.0f32, 1.0, 1.0, 1.0];
        let end = [1.0f32, 1.0, 1.0, 1.0];
        let p = [0u8, 1, 0, 1];
        let got = decode_span(&start, &end, &p, &[1; 4], 6, 15).unwrap();
        assert_eq!((got.starts[0], got.ends[0]), (2, 2));
        assert!(got.scores[0] > 0.0);
        // Then zero entries in flat order, members {0, 2}: (0,0), (0,2); (1,*) dropped.
        assert_eq!(&got.starts[1..], &[0, 0]);
        assert_eq!(&got.ends[1..], &[0, 2]);
        assert!(got.scores[1..].iter().all(|&s| s == 0.0));
    }

    #[test]
    fn nothing_allowed_leaves_no_candidate() {
        let got = decode_span(&[1.0, 2.0], &[1.0, 2.0], &[1, 1], &[1, 1], 3, 15).unwrap();
        assert!(got.starts.is_empty());
        // Uniform softmax over masked logits.
        assert!((got.null_score - 0.25).abs() < 1e-7);
    }

    #[test]
    fn top_k_larger_than_the_matrix_is_capped() {
        let got = decode_span(&[1.0], &[1.0], &[0], &[1], usize::MAX, usize::MAX).unwrap();
        assert_eq!(got.starts, vec![0]);
        assert_eq!(got.scores, vec![0.0]);
    }

    #[test]
    fn decode_rejects_bad_input() {
        let e = |r: Result<SpanCandidates>| r.unwrap_err().code();
        assert_eq!(e(decode_span(&[], &[], &[], &[], 1, 15)), "ERR_DIMS");
        assert_eq!(
            e(decode_span(&[1.0], &[1.0, 2.0], &[0], &[], 1, 15)),
            "ERR_DIMS"
        );
        assert_eq!(
            e(decode_span(&[1.0], &[1.0], &[0, 0], &[], 1, 15)),
            "ERR_DIMS"
        );
        assert_eq!(
            e(decode_span(&[1.0], &[1.0], &[0], &[1, 1], 1, 15)),
            "ERR_DIMS"
        );
        assert_eq!(
            e(decode_span(&[1.0], &[1.0], &[0], &[], 0, 15)),
            "ERR_INVALID_ARGUMENT"
        );
        assert_eq!(
            e(decode_span(&[1.0], &[1.0], &[0], &[], 1, 0)),
            "ERR_INVALID_ARGUMENT"
        );
        assert_eq!(
            e(decode_span(&[f32::NAN], &[1.0], &[0], &[], 1, 15)),
            "ERR_NON_FINITE"
        );
        assert_eq!(
            e(decode_span(&[1.0], &[f32::INFINITY], &[0], &[], 1, 15)),
            "ERR_NON_FINITE"
        );
    }

    // [CLS] what ? [SEP] new york ##er city [SEP]; context "New Yorker city"
    const WORDS: [i32; 9] = [-1, 0, 1, -1, 0, 1, 1, 2, -1];
    const SEQS: [i8; 9] = [-1, 0, 0, -1, 1, 1, 1, 1, -1];
    const OFFS: [u32; 18] = [0, 0, 0, 4, 4, 5, 0, 0, 0, 3, 4, 8, 8, 10, 11, 15, 0, 0];

    #[test]
    fn char_span_aligns_to_whole_words() {
        // Token 6 (##er) widens to "Yorker".
        assert_eq!(
            answer_char_span(&WORDS, &SEQS, &OFFS, 1, 6, 6, true).unwrap(),
            (4, 10)
        );
        assert_eq!(
            answer_char_span(&WORDS, &SEQS, &OFFS, 1, 5, 7, true).unwrap(),
            (4, 15)
        );
        // Without alignment, token offsets.
        assert_eq!(
            answer_char_span(&WORDS, &SEQS, &OFFS, 1, 6, 6, false).unwrap(),
            (8, 10)
        );
    }

    #[test]
    fn char_span_falls_back_to_offsets_without_words() {
        // Token 0 ([CLS]) has no word: token offsets for the whole span.
        assert_eq!(
            answer_char_span(&WORDS, &SEQS, &OFFS, 1, 0, 6, true).unwrap(),
            (0, 10)
        );
        assert_eq!(
            answer_char_span(&WORDS, &SEQS, &OFFS, 1, 0, 0, true).unwrap(),
            (0, 0)
        );
    }

    #[test]
    fn char_span_looks_words_up_in_the_given_sequence() {
        // Word 0 of sequence 1 is "New" even when asked from token 1 (word 0 of the question).
        assert_eq!(
            answer_char_span(&WORDS, &SEQS, &OFFS, 1, 1, 1, true).unwrap(),
            (0, 3)
        );
        // A window that starts mid-context: its words start above 0.
        let words = [-1, 0, -1, 3, 3, 4, -1];
        let seqs = [-1, 0, -1, 1, 1, 1, -1];
        let offs = [0, 0, 0, 2, 0, 0, 20, 23, 23, 25, 26, 30, 0, 0];
        assert_eq!(
            answer_char_span(&words, &seqs, &offs, 1, 4, 5, true).unwrap(),
            (20, 30)
        );
        // A word missing from the sequence falls back to offsets.
        assert_eq!(
            answer_char_span(&words, &seqs, &offs, 0, 4, 5, true).unwrap(),
            (23, 30)
        );
    }

    #[test]
    fn char_span_rejects_bad_input() {
        assert_eq!(
            answer_char_span(&WORDS, &SEQS, &OFFS[..4], 1, 0, 0, true)
                .unwrap_err()
                .code(),
            "ERR_DIMS"
        );
        assert_eq!(
            answer_char_span(&WORDS, &SEQS, &OFFS, 1, 2, 9, true)
                .unwrap_err()
                .code(),
            "ERR_INVALID_ARGUMENT"
        );
    }
}
