//! From cell-selection logits to answer cells (`convert_logits_to_predictions` of the
//! reference) and the previous-answer labels of sequential (conversational) inference.

use std::collections::HashMap;

use super::TOKEN_TYPES;
use crate::{Error, Result};

/// Lowest logit the reference lets through the sigmoid.
const MIN_LOGIT: f32 = -88.7;

fn check(logits: &[f32], attention_mask: &[i64], token_type_ids: &[i64]) -> Result<()> {
    if attention_mask.len() != logits.len() || token_type_ids.len() != logits.len() * TOKEN_TYPES {
        return Err(Error::Dims(format!(
            "TAPAS post-processing needs one attention mask value and {TOKEN_TYPES} token type ids per logit; got {} logits, {} mask values, {} token type ids",
            logits.len(),
            attention_mask.len(),
            token_type_ids.len()
        )));
    }
    if let Some(bad) = logits.iter().find(|v| v.is_nan()) {
        return Err(Error::NonFinite(format!(
            "the model returned a non-finite cell logit ({bad})"
        )));
    }
    Ok(())
}

/// Mean token probability of every table cell of one sequence: `((column, row), p)` with
/// 0-based data rows, in the order cells first appear. Token probability =
/// sigmoid(max(logit, -88.7)) in f32 times the attention mask; only table tokens (segment 1,
/// column > 0, row > 0) count; the mean is taken in f64 as numpy does.
pub fn cell_probabilities(
    logits: &[f32],
    attention_mask: &[i64],
    token_type_ids: &[i64],
) -> Result<Vec<((usize, usize), f64)>> {
    check(logits, attention_mask, token_type_ids)?;
    let mut order: Vec<(usize, usize)> = Vec::new();
    let mut sums: HashMap<(usize, usize), (f64, usize)> = HashMap::new();
    for (i, &logit) in logits.iter().enumerate() {
        let tt = &token_type_ids[i * TOKEN_TYPES..(i + 1) * TOKEN_TYPES];
        let (segment, col, row) = (tt[0], tt[1] - 1, tt[2] - 1);
        if segment != 1 || col < 0 || row < 0 {
            continue;
        }
        let x = logit.max(MIN_LOGIT);
        let p = 1.0f32 / (1.0f32 + (-x).exp());
        let p = f64::from(p) * attention_mask[i] as f64;
        let key = (col as usize, row as usize);
        let e = sums.entry(key).or_insert_with(|| {
            order.push(key);
            (0.0, 0)
        });
        e.0 += p;
        e.1 += 1;
    }
    Ok(order
        .into_iter()
        .map(|k| {
            let (s, n) = sums.get(&k).copied().unwrap_or((0.0, 1));
            (k, s / n as f64)
        })
        .collect())
}

/// Answer coordinates `(row, column)` of one sequence: cells whose mean probability is above
/// `threshold` (0.5 in the reference), sorted.
pub fn predict_coordinates(
    logits: &[f32],
    attention_mask: &[i64],
    token_type_ids: &[i64],
    threshold: f64,
) -> Result<Vec<(usize, usize)>> {
    let mut out: Vec<(usize, usize)> = cell_probabilities(logits, attention_mask, token_type_ids)?
        .into_iter()
        .filter(|(_, p)| *p > threshold)
        .map(|((col, row), _)| (row, col))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Sequential inference: writes the previous-label token type (index 3) of the next
/// sequence from the previous sequence's answer (cells with mean probability above 0.5).
/// Cells the previous sequence did not contain get 0.
pub fn previous_answer_labels(
    prev_logits: &[f32],
    prev_attention_mask: &[i64],
    prev_token_type_ids: &[i64],
    next_token_type_ids: &mut [i64],
) -> Result<()> {
    let probs = cell_probabilities(prev_logits, prev_attention_mask, prev_token_type_ids)?;
    let answers: HashMap<(usize, usize), bool> =
        probs.into_iter().map(|(k, p)| (k, p > 0.5)).collect();
    if !next_token_type_ids.len().is_multiple_of(TOKEN_TYPES) {
        return Err(Error::Dims(format!(
            "token type ids come in groups of {TOKEN_TYPES}; got {}",
            next_token_type_ids.len()
        )));
    }
    for tt in next_token_type_ids.chunks_mut(TOKEN_TYPES) {
        let (segment, col, row) = (tt[0], tt[1] - 1, tt[2] - 1);
        tt[3] = if segment == 1 && col >= 0 && row >= 0 {
            i64::from(
                answers
                    .get(&(col as usize, row as usize))
                    .copied()
                    .unwrap_or(false),
            )
        } else {
            0
        };
    }
    Ok(())
}

/// numpy `argmax`: index of the first maximum (a NaN wins, as in numpy).
pub fn argmax(values: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in values.iter().enumerate() {
        if v.is_nan() {
            return Some(i);
        }
        match best {
            Some((_, b)) if v <= b => {}
            _ => best = Some((i, v)),
        }
    }
    best.map(|(i, _)| i)
}
