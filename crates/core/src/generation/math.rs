//! f32 reductions shaped like torch's CPU kernels (max-shifted exponentials summed in f32).

/// `exp(v - max)`, with the -inf of a removed token mapped straight to 0 (libm's slow path for
/// infinite arguments is costly over a vocabulary of mostly removed tokens).
#[inline]
fn exp_shifted(v: f32, max: f32) -> f32 {
    if v == f32::NEG_INFINITY && max != f32::NEG_INFINITY {
        0.0
    } else {
        (v - max).exp()
    }
}

/// `torch.softmax` over one row, in f32. A row whose values are all -inf gives NaNs, as torch.
pub fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out: Vec<f32> = x.iter().map(|&v| exp_shifted(v, max)).collect();
    let sum: f32 = out.iter().sum();
    for v in &mut out {
        *v /= sum;
    }
    out
}

/// `torch.log_softmax` over one row, in f32: `x - max - ln(Σ exp(x - max))`.
pub fn log_softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = x.iter().map(|&v| exp_shifted(v, max)).sum();
    let lse = sum.ln();
    x.iter().map(|&v| v - max - lse).collect()
}

/// `log_softmax(x)[i]` without building the whole row.
pub fn log_softmax_at(x: &[f32], i: usize) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = x.iter().map(|&v| exp_shifted(v, max)).sum();
    x[i] - max - sum.ln()
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

fn desc_cmp(x: &[f32], a: usize, b: usize) -> std::cmp::Ordering {
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
}

/// Indices of `x` ordered by descending value (NaN first), ties by ascending index: the order
/// `torch.topk` returns for distinct values.
pub fn order_descending(x: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_unstable_by(|&a, &b| desc_cmp(x, a, b));
    idx
}

/// Indices of the `k` largest values, in [`order_descending`] order (a selection, then a sort
/// of the `k` selected: linear in `x.len()`).
pub fn top_k_indices(x: &[f32], k: usize) -> Vec<usize> {
    let k = k.min(x.len());
    if k == 0 {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..x.len()).collect();
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, |&a, &b| desc_cmp(x, a, b));
        idx.truncate(k);
    }
    idx.sort_unstable_by(|&a, &b| desc_cmp(x, a, b));
    idx
}

/// The `k`-th largest value (1-based `k`, NaN counted as largest).
pub fn kth_largest(x: &[f32], k: usize) -> Option<f32> {
    if k == 0 || k > x.len() {
        return None;
    }
    let mut v = x.to_vec();
    let cmp = |a: &f32, b: &f32| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal),
    };
    let (_, kth, _) = v.select_nth_unstable_by(k - 1, cmp);
    Some(*kth)
}

/// Indices ordered by ascending value, ties by ascending index (stable `torch.sort`).
pub fn order_ascending(x: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(a.cmp(&b)));
    idx
}

/// The permutation torch's CPU `sort(stable=False)` produces: libstdc++ `std::sort` (introsort
/// with median-of-three pivots, heapsort past the depth limit, insertion sort below 16
/// elements) over (value, index) pairs compared by value only. Ties therefore come out in the
/// order that algorithm leaves them, which decides e.g. which of several equal logits top-p
/// removes.
pub fn torch_sort(x: &[f32], descending: bool) -> Vec<usize> {
    let mut v: Vec<(f32, usize)> = x.iter().copied().zip(0..).collect();
    let less = |a: &(f32, usize), b: &(f32, usize)| -> bool {
        if descending {
            (a.0.is_nan() && !b.0.is_nan()) || a.0 > b.0
        } else {
            (!a.0.is_nan() && b.0.is_nan()) || a.0 < b.0
        }
    };
    std_sort(&mut v, &less);
    v.into_iter().map(|(_, i)| i).collect()
}

const THRESHOLD: usize = 16;

fn std_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let depth = 2 * (usize::BITS - 1 - n.leading_zeros()) as usize;
    introsort_loop(v, 0, n, depth, less);
    if n > THRESHOLD {
        insertion_sort(v, 0, THRESHOLD, less);
        for i in THRESHOLD..n {
            unguarded_linear_insert(v, i, less);
        }
    } else {
        insertion_sort(v, 0, n, less);
    }
}

fn introsort_loop<T: Copy>(
    v: &mut [T],
    first: usize,
    mut last: usize,
    mut depth: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    while last - first > THRESHOLD {
        if depth == 0 {
            heap_sort(&mut v[first..last], less);
            return;
        }
        depth -= 1;
        let cut = partition_pivot(v, first, last, less);
        introsort_loop(v, cut, last, depth, less);
        last = cut;
    }
}

fn partition_pivot<T: Copy>(
    v: &mut [T],
    first: usize,
    last: usize,
    less: &impl Fn(&T, &T) -> bool,
) -> usize {
    let mid = first + (last - first) / 2;
    // move_median_to_first(first, first + 1, mid, last - 1)
    let (a, b, c) = (first + 1, mid, last - 1);
    let m = if less(&v[a], &v[b]) {
        if less(&v[b], &v[c]) {
            b
        } else if less(&v[a], &v[c]) {
            c
        } else {
            a
        }
    } else if less(&v[a], &v[c]) {
        a
    } else if less(&v[b], &v[c]) {
        c
    } else {
        b
    };
    v.swap(first, m);
    // unguarded_partition(first + 1, last, pivot = first)
    let (mut lo, mut hi) = (first + 1, last);
    loop {
        while less(&v[lo], &v[first]) {
            lo += 1;
        }
        hi -= 1;
        while less(&v[first], &v[hi]) {
            hi -= 1;
        }
        if lo >= hi {
            return lo;
        }
        v.swap(lo, hi);
        lo += 1;
    }
}

fn insertion_sort<T: Copy>(v: &mut [T], first: usize, last: usize, less: &impl Fn(&T, &T) -> bool) {
    if first == last {
        return;
    }
    for i in first + 1..last {
        if less(&v[i], &v[first]) {
            let val = v[i];
            v.copy_within(first..i, first + 1);
            v[first] = val;
        } else {
            unguarded_linear_insert(v, i, less);
        }
    }
}

fn unguarded_linear_insert<T: Copy>(v: &mut [T], mut last: usize, less: &impl Fn(&T, &T) -> bool) {
    let val = v[last];
    while less(&val, &v[last - 1]) {
        v[last] = v[last - 1];
        last -= 1;
    }
    v[last] = val;
}

fn heap_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let len = v.len();
    if len < 2 {
        return;
    }
    // make_heap
    let mut parent = (len - 2) / 2;
    loop {
        let value = v[parent];
        adjust_heap(v, parent, len, value, less);
        if parent == 0 {
            break;
        }
        parent -= 1;
    }
    // sort_heap
    let mut last = len;
    while last > 1 {
        last -= 1;
        let value = v[last];
        v[last] = v[0];
        adjust_heap(&mut v[..last], 0, last, value, less);
    }
}

fn adjust_heap<T: Copy>(
    v: &mut [T],
    mut hole: usize,
    len: usize,
    value: T,
    less: &impl Fn(&T, &T) -> bool,
) {
    let top = hole;
    let mut second = hole;
    while second < (len.saturating_sub(1)) / 2 {
        second = 2 * (second + 1);
        if less(&v[second], &v[second - 1]) {
            second -= 1;
        }
        v[hole] = v[second];
        hole = second;
    }
    if len.is_multiple_of(2) && len >= 2 && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        v[hole] = v[second - 1];
        hole = second - 1;
    }
    // push_heap
    while hole > top {
        let parent = (hole - 1) / 2;
        if !less(&v[parent], &value) {
            break;
        }
        v[hole] = v[parent];
        hole = parent;
    }
    v[hole] = value;
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
        for (i, &l) in lp.iter().enumerate() {
            assert_eq!(log_softmax_at(&x, i), l);
        }
    }

    #[test]
    fn torch_sort_orders_values() {
        let x: Vec<f32> = (0..300).map(|i| ((i * 7919) % 61) as f32 * 0.5).collect();
        for desc in [false, true] {
            let idx = torch_sort(&x, desc);
            let mut seen = vec![false; x.len()];
            for w in idx.windows(2) {
                let (a, b) = (x[w[0]], x[w[1]]);
                assert!(if desc { a >= b } else { a <= b });
            }
            for &i in &idx {
                seen[i] = true;
            }
            assert!(seen.iter().all(|&s| s));
        }
        // Small inputs are insertion-sorted: ties keep their order.
        assert_eq!(
            torch_sort(&[1.0, 2.0, 2.0, 2.0, 0.0, 2.0], false),
            vec![4, 0, 1, 2, 3, 5]
        );
        let mut v: Vec<i32> = (0..100).rev().collect();
        heap_sort(&mut v, &|a: &i32, b: &i32| a < b);
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn orders_break_ties_by_index() {
        assert_eq!(order_descending(&[1.0, 2.0, 2.0, 0.0]), vec![1, 2, 0, 3]);
        assert_eq!(order_ascending(&[1.0, 2.0, 1.0, 0.0]), vec![3, 0, 2, 1]);
        assert_eq!(top_k_indices(&[1.0, 2.0, 2.0, 0.0], 2), vec![1, 2]);
        assert_eq!(top_k_indices(&[1.0, 2.0, 2.0, 0.0], 9), vec![1, 2, 0, 3]);
        let x: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32).collect();
        let mut full = order_descending(&x);
        full.truncate(17);
        assert_eq!(top_k_indices(&x, 17), full);
        assert_eq!(kth_largest(&x, 1), Some(100.0));
        assert_eq!(kth_largest(&[3.0, 1.0, 3.0], 2), Some(3.0));
        assert_eq!(kth_largest(&[3.0], 2), None);
    }
}
