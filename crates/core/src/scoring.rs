//! Row-wise score functions (softmax, sigmoid, identity) in f32, and a stable top-k.
//!
//! The arithmetic mirrors numpy on float32 arrays: softmax subtracts the row maximum, exponentiates,
//! and divides by the row sum, all in f32.

use crate::error::{check_finite, check_matrix, Error, Result};

/// Score function applied to a row of logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreFn {
    Softmax,
    Sigmoid,
    Identity,
}

impl ScoreFn {
    /// Parses the names used by the task contracts (`softmax`, `sigmoid`, `none`), case-insensitively.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "softmax" => Ok(ScoreFn::Softmax),
            "sigmoid" => Ok(ScoreFn::Sigmoid),
            "none" | "identity" => Ok(ScoreFn::Identity),
            _ => Err(Error::InvalidArgument(format!(
                "unknown score function {name:?}; expected one of softmax, sigmoid, none"
            ))),
        }
    }
}

/// Max-subtracted softmax of one row, in place.
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Logistic sigmoid of one value, `1 / (1 + exp(-x))` in f32.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Applies `f` to every row of a `[rows, cols]` matrix and returns the scores.
pub fn apply_rows(values: &[f32], rows: usize, cols: usize, f: ScoreFn) -> Result<Vec<f32>> {
    check_matrix(values.len(), rows, cols, "scores")?;
    check_finite(values, "scores")?;
    let mut out = values.to_vec();
    if cols == 0 {
        return Ok(out);
    }
    match f {
        ScoreFn::Softmax => out.chunks_exact_mut(cols).for_each(softmax_in_place),
        ScoreFn::Sigmoid => out.iter_mut().for_each(|v| *v = sigmoid(*v)),
        ScoreFn::Identity => {}
    }
    Ok(out)
}

/// Up to this `k`, top-k is one pass over the values with a sorted buffer of the best `k`.
const SMALL_K: usize = 64;

/// Indices of the `k` largest values, descending, ties broken by the lower index first
/// (the order of a stable sort on `-value`). `k` larger than the row returns every index.
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    // Total order: larger value first, then lower index; partial selection keeps this O(n + k log k).
    let order = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    if k == 0 {
        return Vec::new();
    }
    if k <= SMALL_K && k < values.len() {
        // One pass keeping the best k in order: most values lose against the current k-th.
        let mut best: Vec<usize> = Vec::with_capacity(k + 1);
        for i in 0..values.len() {
            if best.len() == k {
                match best.last() {
                    Some(last) if order(&i, last) == std::cmp::Ordering::Less => {}
                    _ => continue,
                }
            }
            let at = best.partition_point(|b| order(b, &i) == std::cmp::Ordering::Less);
            best.insert(at, i);
            best.truncate(k);
        }
        return best;
    }
    let mut idx: Vec<usize> = (0..values.len()).collect();
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, order);
        idx.truncate(k);
    }
    idx.sort_unstable_by(order);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let out = apply_rows(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], 2, 3, ScoreFn::Softmax).unwrap();
        assert!((out[0..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(out[0] < out[1] && out[1] < out[2]);
        assert!((out[3] - 1.0 / 3.0).abs() < 1e-7);
    }

    #[test]
    fn softmax_is_max_subtracted() {
        let out = apply_rows(&[1000.0, 1000.0], 1, 2, ScoreFn::Softmax).unwrap();
        assert_eq!(out, vec![0.5, 0.5]);
    }

    #[test]
    fn sigmoid_matches_formula() {
        let out = apply_rows(&[0.0, 2.0], 1, 2, ScoreFn::Sigmoid).unwrap();
        assert_eq!(out[0], 0.5);
        assert!((out[1] - 0.880_797_1).abs() < 1e-7);
    }

    #[test]
    fn rejects_bad_dims_and_non_finite() {
        assert_eq!(
            apply_rows(&[1.0; 5], 2, 3, ScoreFn::Softmax)
                .unwrap_err()
                .code(),
            "ERR_DIMS"
        );
        assert_eq!(
            apply_rows(&[f32::NAN], 1, 1, ScoreFn::Softmax)
                .unwrap_err()
                .code(),
            "ERR_NON_FINITE"
        );
        assert_eq!(
            ScoreFn::parse("relu").unwrap_err().code(),
            "ERR_INVALID_ARGUMENT"
        );
    }

    #[test]
    fn top_k_is_stable_on_ties() {
        assert_eq!(top_k(&[0.1, 0.5, 0.5, 0.2], 3), vec![1, 2, 3]);
        assert_eq!(top_k(&[0.1], 5), vec![0]);
        assert_eq!(top_k(&[0.3, 0.3, 0.3, 0.3], 2), vec![0, 1]);
        assert!(top_k(&[0.3], 0).is_empty());
        let many: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1000) as f32).collect();
        let mut full: Vec<usize> = (0..1000).collect();
        full.sort_by(|&a, &b| many[b].total_cmp(&many[a]));
        assert_eq!(top_k(&many, 10), full[..10].to_vec());
        assert_eq!(top_k(&many, 100), full[..100].to_vec());
        let ties = [1.0, 2.0, 2.0, 1.0, 2.0];
        assert_eq!(top_k(&ties, 4), vec![1, 2, 4, 0]);
    }
}
