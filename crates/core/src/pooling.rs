//! Sentence-embedding pooling over token hidden states `[batch, seq, dim]` with an attention
//! mask `[batch, seq]` (task contract 6.3), as sentence-transformers' Pooling module does it:
//! mean (mask-weighted, divided by `max(sum(mask), 1e-9)`), mean_sqrt_len (divided by the
//! square root of that), weightedmean (token `t` weighs `t + 1`), CLS (first token), last token (the
//! last position whose mask is 1, so left and right padding both work) and max (masked
//! positions count as -1e9). Arithmetic in f32, summing over tokens in order. Sequences must
//! have at least one position; the mask must hold only 0 and 1.

use crate::error::{check_finite, Error, Result};

/// Token hidden states and their attention mask.
#[derive(Debug, Clone, Copy)]
pub struct Hidden<'a> {
    /// `batch * seq * dim` values, row-major.
    pub values: &'a [f32],
    /// Number of sequences.
    pub batch: usize,
    /// Tokens per sequence (padded length).
    pub seq: usize,
    /// Hidden size.
    pub dim: usize,
}

impl Hidden<'_> {
    /// Checks the buffer against the dims and for NaN/Inf; returns `batch * seq`.
    fn validate(&self, what: &str) -> Result<usize> {
        let Hidden {
            values,
            batch,
            seq,
            dim,
        } = *self;
        let tokens = batch
            .checked_mul(seq)
            .ok_or_else(|| Error::Dims(format!("{what}: dims [{batch}, {seq}, {dim}] overflow")))?;
        let want = tokens
            .checked_mul(dim)
            .ok_or_else(|| Error::Dims(format!("{what}: dims [{batch}, {seq}, {dim}] overflow")))?;
        if values.len() != want {
            return Err(Error::Dims(format!(
                "{what}: hidden states have {} values but dims [{batch}, {seq}, {dim}] need {want}",
                values.len()
            )));
        }
        check_finite(values, &format!("{what}: hidden states"))?;
        Ok(tokens)
    }

    /// The `dim` values of token `t` of sequence `b`.
    fn token(&self, b: usize, t: usize) -> &[f32] {
        let at = (b * self.seq + t) * self.dim;
        &self.values[at..at + self.dim]
    }

    /// Pooling needs at least one token per sequence; this also bounds the output size by the
    /// input size.
    fn need_tokens(&self, what: &str) -> Result<()> {
        if self.seq == 0 && self.batch > 0 {
            return Err(Error::Dims(format!(
                "{what}: sequences have no tokens (seq = 0)"
            )));
        }
        Ok(())
    }
}

/// Checks an attention mask `[batch, seq]` of 0/1 values.
fn check_mask(mask: &[i64], tokens: usize, hidden: &Hidden<'_>, what: &str) -> Result<()> {
    if mask.len() != tokens {
        return Err(Error::Dims(format!(
            "{what}: attention mask has {} values but dims [{}, {}] need {tokens}",
            mask.len(),
            hidden.batch,
            hidden.seq
        )));
    }
    match mask.iter().position(|&m| m != 0 && m != 1) {
        None => Ok(()),
        Some(i) => Err(Error::InvalidArgument(format!(
            "{what}: attention mask value at index {i} is {} (expected 0 or 1)",
            mask[i]
        ))),
    }
}

/// `sum(h * mask * w(t)) / denom(sum(mask * w(t)))` per sequence, `w(t)` the weight of
/// position `t`. Returns `[batch, dim]`.
fn weighted_sum_pool(
    hidden: &Hidden<'_>,
    mask: &[i64],
    what: &str,
    weight: impl Fn(usize) -> f32,
    denom: impl Fn(f32) -> f32,
) -> Result<Vec<f32>> {
    let tokens = hidden.validate(what)?;
    hidden.need_tokens(what)?;
    check_mask(mask, tokens, hidden, what)?;
    let mut out = vec![0.0f32; hidden.batch * hidden.dim];
    for (b, row) in out
        .chunks_exact_mut(hidden.dim.max(1))
        .enumerate()
        .take(hidden.batch)
    {
        let mut total = 0.0f32;
        for t in 0..hidden.seq {
            if mask[b * hidden.seq + t] == 1 {
                let w = weight(t);
                total += w;
                for (acc, v) in row.iter_mut().zip(hidden.token(b, t)) {
                    *acc += v * w;
                }
            }
        }
        let d = denom(total);
        row.iter_mut().for_each(|v| *v /= d);
    }
    Ok(out)
}

/// Mean of the unmasked token vectors: `sum(h * mask) / max(sum(mask), 1e-9)`. A sequence
/// with no unmasked token pools to zeros. Returns `[batch, dim]`.
pub fn mean_pool(hidden: &Hidden<'_>, mask: &[i64]) -> Result<Vec<f32>> {
    weighted_sum_pool(hidden, mask, "meanPool", |_| 1.0, |n| n.max(1e-9))
}

/// The masked sum divided by the square root of the token count:
/// `sum(h * mask) / sqrt(max(sum(mask), 1e-9))` (`mean_sqrt_len`). Returns `[batch, dim]`.
pub fn mean_sqrt_len_pool(hidden: &Hidden<'_>, mask: &[i64]) -> Result<Vec<f32>> {
    weighted_sum_pool(
        hidden,
        mask,
        "meanSqrtLenPool",
        |_| 1.0,
        |n| n.max(1e-9).sqrt(),
    )
}

/// Position-weighted mean (`weightedmean`): token `t` of the padded sequence weighs `t + 1`,
/// `sum(h * mask * w) / max(sum(mask * w), 1e-9)`. Returns `[batch, dim]`.
pub fn weighted_mean_pool(hidden: &Hidden<'_>, mask: &[i64]) -> Result<Vec<f32>> {
    // Positions are below `seq`, itself bounded by the buffer length; f32 holds them exactly
    // up to 2^24, as the reference's float weights do.
    weighted_sum_pool(
        hidden,
        mask,
        "weightedMeanPool",
        |t| (t + 1) as f32,
        |n| n.max(1e-9),
    )
}

/// The first token's vector of each sequence (CLS pooling). Returns `[batch, dim]`.
pub fn cls_pool(hidden: &Hidden<'_>) -> Result<Vec<f32>> {
    hidden.validate("clsPool")?;
    hidden.need_tokens("clsPool")?;
    let mut out = Vec::with_capacity(hidden.batch * hidden.dim);
    for b in 0..hidden.batch {
        out.extend_from_slice(hidden.token(b, 0));
    }
    Ok(out)
}

/// The vector of the last token whose mask is 1 in each sequence, wherever the padding is
/// (left or right); a sequence with an all-zero mask pools to zeros. Returns `[batch, dim]`.
pub fn last_token_pool(hidden: &Hidden<'_>, mask: &[i64]) -> Result<Vec<f32>> {
    let tokens = hidden.validate("lastTokenPool")?;
    hidden.need_tokens("lastTokenPool")?;
    check_mask(mask, tokens, hidden, "lastTokenPool")?;
    let mut out = Vec::with_capacity(hidden.batch * hidden.dim);
    for b in 0..hidden.batch {
        let row = &mask[b * hidden.seq..(b + 1) * hidden.seq];
        match row.iter().rposition(|&m| m == 1) {
            Some(t) => out.extend_from_slice(hidden.token(b, t)),
            None => out.extend(std::iter::repeat_n(0.0f32, hidden.dim)),
        }
    }
    Ok(out)
}

/// Element-wise max over the token vectors, masked tokens counting as -1e9 (so an all-zero mask
/// pools to -1e9 everywhere, as sentence-transformers). Returns `[batch, dim]`.
pub fn max_pool(hidden: &Hidden<'_>, mask: &[i64]) -> Result<Vec<f32>> {
    let tokens = hidden.validate("maxPool")?;
    hidden.need_tokens("maxPool")?;
    check_mask(mask, tokens, hidden, "maxPool")?;
    const MASKED: f32 = -1e9;
    let mut out = vec![f32::NEG_INFINITY; hidden.batch * hidden.dim];
    for (b, row) in out
        .chunks_exact_mut(hidden.dim.max(1))
        .enumerate()
        .take(hidden.batch)
    {
        for t in 0..hidden.seq {
            let keep = mask[b * hidden.seq + t] == 1;
            for (acc, &v) in row.iter_mut().zip(hidden.token(b, t)) {
                let v = if keep { v } else { MASKED };
                if v > *acc {
                    *acc = v;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two sequences of three tokens, dim 2.
    const H: [f32; 12] = [
        1.0, 2.0, 3.0, 4.0, 5.0, -6.0, // sequence 0
        -1.0, 0.5, 7.0, 8.0, 2.0, 2.0, // sequence 1
    ];

    fn h() -> Hidden<'static> {
        Hidden {
            values: &H,
            batch: 2,
            seq: 3,
            dim: 2,
        }
    }

    #[test]
    fn mean_ignores_masked_tokens() {
        let out = mean_pool(&h(), &[1, 1, 0, 0, 1, 1]).unwrap();
        assert_eq!(out, vec![2.0, 3.0, 4.5, 5.0]);
    }

    #[test]
    fn mean_of_an_all_masked_sequence_is_zero() {
        let out = mean_pool(&h(), &[0, 0, 0, 1, 1, 1]).unwrap();
        assert_eq!(&out[..2], &[0.0, 0.0]);
        assert!((out[2] - 8.0 / 3.0).abs() < 1e-6);
        assert!((out[3] - 3.5).abs() < 1e-6);
    }

    #[test]
    fn mean_sqrt_len_divides_by_the_root_of_the_count() {
        let out = mean_sqrt_len_pool(&h(), &[1, 1, 0, 0, 0, 1]).unwrap();
        let r = 2.0f32.sqrt();
        assert_eq!(out, vec![4.0 / r, 6.0 / r, 2.0, 2.0]);
        let out = mean_sqrt_len_pool(&h(), &[0, 0, 0, 1, 1, 1]).unwrap();
        assert_eq!(&out[..2], &[0.0, 0.0]);
    }

    #[test]
    fn weighted_mean_weighs_positions() {
        // Sequence 0: tokens 0 and 2 (weights 1 and 3); sequence 1: token 1 alone.
        let out = weighted_mean_pool(&h(), &[1, 0, 1, 0, 1, 0]).unwrap();
        assert_eq!(out, vec![(1.0 + 15.0) / 4.0, (2.0 - 18.0) / 4.0, 7.0, 8.0]);
        let out = weighted_mean_pool(&h(), &[0, 0, 0, 1, 1, 1]).unwrap();
        assert_eq!(&out[..2], &[0.0, 0.0]);
        assert_eq!(
            weighted_mean_pool(&h(), &[1, 1, 1]).unwrap_err().code(),
            "ERR_DIMS"
        );
    }

    #[test]
    fn cls_takes_the_first_token() {
        assert_eq!(cls_pool(&h()).unwrap(), vec![1.0, 2.0, -1.0, 0.5]);
    }

    #[test]
    fn last_token_handles_right_and_left_padding() {
        // Sequence 0 right-padded (last real token 1), sequence 1 left-padded (last token 2).
        let out = last_token_pool(&h(), &[1, 1, 0, 0, 1, 1]).unwrap();
        assert_eq!(out, vec![3.0, 4.0, 2.0, 2.0]);
        let out = last_token_pool(&h(), &[0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!(out, vec![0.0, 0.0, -1.0, 0.5]);
    }

    #[test]
    fn max_uses_minus_1e9_for_masked_tokens() {
        let out = max_pool(&h(), &[1, 0, 1, 0, 0, 1]).unwrap();
        assert_eq!(out, vec![5.0, 2.0, 2.0, 2.0]);
        let out = max_pool(&h(), &[0, 0, 0, 1, 1, 1]).unwrap();
        assert_eq!(out, vec![-1e9, -1e9, 7.0, 8.0]);
    }

    #[test]
    fn empty_batch_and_zero_dim() {
        let empty = Hidden {
            values: &[],
            batch: 0,
            seq: 4,
            dim: 8,
        };
        assert!(mean_pool(&empty, &[]).unwrap().is_empty());
        assert!(cls_pool(&empty).unwrap().is_empty());
        let no_dim = Hidden {
            values: &[],
            batch: 2,
            seq: 1,
            dim: 0,
        };
        assert!(max_pool(&no_dim, &[1, 1]).unwrap().is_empty());
        assert!(mean_pool(&no_dim, &[1, 0]).unwrap().is_empty());
        let no_tokens = Hidden {
            values: &[],
            batch: 2,
            seq: 0,
            dim: 3,
        };
        // No tokens: rejected (the output size would not be backed by any input).
        assert_eq!(mean_pool(&no_tokens, &[]).unwrap_err().code(), "ERR_DIMS");
        assert_eq!(cls_pool(&no_tokens).unwrap_err().code(), "ERR_DIMS");
        let huge = Hidden {
            values: &[],
            batch: u32::MAX as usize,
            seq: 0,
            dim: u32::MAX as usize,
        };
        assert_eq!(max_pool(&huge, &[]).unwrap_err().code(), "ERR_DIMS");
    }

    #[test]
    fn rejects_bad_input() {
        let bad = Hidden {
            values: &H[..11],
            ..h()
        };
        assert_eq!(cls_pool(&bad).unwrap_err().code(), "ERR_DIMS");
        assert_eq!(mean_pool(&h(), &[1, 1, 1]).unwrap_err().code(), "ERR_DIMS");
        assert_eq!(
            mean_pool(&h(), &[1, 1, 1, 1, 1, 2]).unwrap_err().code(),
            "ERR_INVALID_ARGUMENT"
        );
        assert_eq!(
            max_pool(&h(), &[1, 1, 1, 1, 1, -1]).unwrap_err().code(),
            "ERR_INVALID_ARGUMENT"
        );
        let huge = Hidden {
            values: &[],
            batch: usize::MAX,
            seq: 2,
            dim: 1,
        };
        assert_eq!(mean_pool(&huge, &[]).unwrap_err().code(), "ERR_DIMS");
        let huge = Hidden {
            values: &[],
            batch: 1 << 40,
            seq: 1 << 20,
            dim: 1 << 20,
        };
        assert_eq!(last_token_pool(&huge, &[]).unwrap_err().code(), "ERR_DIMS");
        let mut nan = H;
        nan[11] = f32::NAN;
        let nan = Hidden {
            values: &nan,
            ..h()
        };
        assert_eq!(
            mean_pool(&nan, &[1; 6]).unwrap_err().code(),
            "ERR_NON_FINITE"
        );
    }
}
