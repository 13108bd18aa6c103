//! f32 reductions shaped like torch's CPU kernels (max-shifted exponentials summed in f32).

/// `torch.softmax` over one row, in f32. A row whose values are all -inf gives NaNs, as torch.
pub fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out: Vec<f32> = x.iter().map(|&v| (v - max).exp()).collect();
    let sum: f32 = out.iter().sum();
    for v in &mut out {
        *v /= sum;
    }
    out
}

/// `torch.log_softmax` over one row, in f32: `x - max - ln(Σ exp(x - max))`.
pub fn log_softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = x.iter().map(|&v| (v - max).exp()).sum();
    let lse = sum.ln();
    x.iter().map(|&v| v - max - lse).collect()
}

/// `torch.argmax`: the first index of the largest value (NaN counts as largest).
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0usize;
    for (i, &v) in x.iter().enumerate().skip(1) {
        let b = x[best];
        if b.is_nan() {
            break;
        }
        if v.is_nan() || v > b {
            best = i;
        }
    }
    best
}

/// Indices of `x` ordered by descending value (NaN first), ties by ascending index: the order
/// `torch.topk` returns for distinct values.
pub fn order_descending(x: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| {
        let (va, vb) = (x[a], x[b]);
        match (va.is_nan(), vb.is_nan()) {
            (true, true) => a.cmp(&b),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => vb
                .partial_cmp(&va)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b)),
        }
    });
    idx
}

/// Indices of the `k` largest values, in [`order_descending`] order.
pub fn top_k_indices(x: &[f32], k: usize) -> Vec<usize> {
    let mut idx = order_descending(x);
    idx.truncate(k);
    idx
}

/// Indices ordered by ascending value, ties by ascending index (stable `torch.sort`).
pub fn order_ascending(x: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(a.cmp(&b)));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), 0);
    }

    #[test]
    fn softmax_sums_to_one_and_log_softmax_matches() {
        let x = [0.5f32, -1.0, 2.0, f32::NEG_INFINITY];
        let p = softmax(&x);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(p[3], 0.0);
        let lp = log_softmax(&x);
        for i in 0..3 {
            assert!((lp[i].exp() - p[i]).abs() < 1e-6);
        }
        assert_eq!(lp[3], f32::NEG_INFINITY);
    }

    #[test]
    fn orders_break_ties_by_index() {
        assert_eq!(order_descending(&[1.0, 2.0, 2.0, 0.0]), vec![1, 2, 0, 3]);
        assert_eq!(order_ascending(&[1.0, 2.0, 1.0, 0.0]), vec![3, 0, 2, 1]);
        assert_eq!(top_k_indices(&[1.0, 2.0, 2.0, 0.0], 2), vec![1, 2]);
    }
}
