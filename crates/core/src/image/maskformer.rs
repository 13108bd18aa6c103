//! MaskFormer's `post_process_instance_segmentation` (transformers 4.57), on one image:
//!
//! 1. class probabilities without the no-object class (`softmax(class)[:, :-1]`,
//!    `[queries, classes]`), flattened, and their `topk(num_queries, sorted=False)`: the
//!    order of the result is the order torch's CPU kernel leaves them in, which follows
//!    libstdc++'s `std::partial_sort` when `k * 64 <= n` and `std::nth_element` otherwise
//!    (reproduced in [`topk_unsorted`]);
//! 2. each pick's binary mask `mask_logits > 0` of its query, and its score: the class
//!    probability times the mean `sigmoid(mask_logits)` over the mask
//!    (`sum / (area + 1e-6)`, `f32`);
//! 3. the masks upsampled to the output size with `interpolate(mode="nearest")`; a pick whose
//!    upsampled mask is not empty and whose score is `>= threshold` becomes a segment (ids in
//!    pick order), and later segments overwrite earlier ones in the segmentation map, so each
//!    segment's mask holds the pixels it owns last.

use super::segment::{check_queries, check_target, Segment};
use super::torch_cpu::{sigmoid_at, softmax};
use super::ImageError;

/// `comp(a, b)` of torch's `topk` with `largest=True`: NaN first, then larger values first.
#[inline]
fn before(a: &(f32, usize), b: &(f32, usize)) -> bool {
    (a.0.is_nan() && !b.0.is_nan()) || a.0 > b.0
}

type Item = (f32, usize);

fn push_heap(a: &mut [Item], mut hole: usize, top: usize, value: Item) {
    while hole > top {
        let parent = (hole - 1) / 2;
        if !before(&a[parent], &value) {
            break;
        }
        a[hole] = a[parent];
        hole = parent;
    }
    a[hole] = value;
}

fn adjust_heap(a: &mut [Item], mut hole: usize, len: usize, value: Item) {
    let top = hole;
    let mut second = hole;
    while second < len.saturating_sub(1) / 2 {
        second = 2 * (second + 1);
        if before(&a[second], &a[second - 1]) {
            second -= 1;
        }
        a[hole] = a[second];
        hole = second;
    }
    if len & 1 == 0 && len >= 2 && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        a[hole] = a[second - 1];
        hole = second - 1;
    }
    push_heap(a, hole, top, value);
}

fn make_heap(a: &mut [Item]) {
    let len = a.len();
    if len < 2 {
        return;
    }
    let mut parent = (len - 2) / 2;
    loop {
        let value = a[parent];
        adjust_heap(a, parent, len, value);
        if parent == 0 {
            return;
        }
        parent -= 1;
    }
}

/// `__pop_heap(first, last, result)`: the heap is `a[..last]`, `result` an index.
fn pop_heap(a: &mut [Item], last: usize, result: usize) {
    let value = a[result];
    a[result] = a[0];
    adjust_heap(a, 0, last, value);
}

fn heap_select(a: &mut [Item], middle: usize) {
    make_heap(&mut a[..middle]);
    for i in middle..a.len() {
        if before(&a[i], &a[0]) {
            pop_heap(a, middle, i);
        }
    }
}

fn sort_heap(a: &mut [Item]) {
    let mut last = a.len();
    while last > 1 {
        last -= 1;
        pop_heap(a, last, last);
    }
}

fn insertion_sort(a: &mut [Item]) {
    for i in 1..a.len() {
        let value = a[i];
        if before(&value, &a[0]) {
            a.copy_within(0..i, 1);
            a[0] = value;
        } else {
            let mut j = i;
            while before(&value, &a[j - 1]) {
                a[j] = a[j - 1];
                j -= 1;
            }
            a[j] = value;
        }
    }
}

fn move_median_to_first(a: &mut [Item], result: usize, x: usize, y: usize, z: usize) {
    let pick = if before(&a[x], &a[y]) {
        if before(&a[y], &a[z]) {
            y
        } else if before(&a[x], &a[z]) {
            z
        } else {
            x
        }
    } else if before(&a[x], &a[z]) {
        x
    } else if before(&a[y], &a[z]) {
        z
    } else {
        y
    };
    a.swap(result, pick);
}

/// `__unguarded_partition(first, last, pivot)` with the pivot at index 0 and `first = 1`.
fn unguarded_partition(a: &mut [Item], mut first: usize, mut last: usize) -> usize {
    loop {
        while before(&a[first], &a[0]) {
            first += 1;
        }
        last -= 1;
        while before(&a[0], &a[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        a.swap(first, last);
        first += 1;
    }
}

/// libstdc++'s `__introselect` on `a` (the whole range), `nth` relative to it.
fn introselect(a: &mut [Item], nth: usize, mut depth: u32) {
    let (mut first, mut last) = (0usize, a.len());
    while last - first > 3 {
        let range = &mut a[first..last];
        let n = nth - first;
        if depth == 0 {
            heap_select(range, n + 1);
            range.swap(0, n);
            return;
        }
        depth -= 1;
        let len = range.len();
        move_median_to_first(range, 0, 1, len / 2, len - 1);
        let cut = first + unguarded_partition(range, 1, len);
        if cut <= nth {
            first = cut;
        } else {
            last = cut;
        }
    }
    insertion_sort(&mut a[first..last]);
}

/// Indices of torch's CPU `values.topk(k, sorted=False)` (largest), in the order torch
/// returns them.
pub fn topk_unsorted(values: &[f32], k: usize) -> Vec<usize> {
    let n = values.len();
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let mut a: Vec<Item> = values.iter().copied().zip(0..).collect();
    if k.saturating_mul(64) <= n {
        heap_select(&mut a, k);
        sort_heap(&mut a[..k]);
    } else {
        // `std::nth_element(first, first + k - 1, last)`, depth limit `2 * floor(log2(n))`.
        introselect(&mut a, k - 1, 2 * n.ilog2());
    }
    a.truncate(k);
    a.into_iter().map(|(_, i)| i).collect()
}

/// Nearest-neighbour source indices of `interpolate(mode="nearest")` along one axis.
fn nearest(input: usize, output: usize) -> Vec<usize> {
    if output == input {
        return (0..output).collect();
    }
    if output == 2 * input {
        return (0..output).map(|i| i >> 1).collect();
    }
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|i| ((i as f32 * scale).floor() as usize).min(input - 1))
        .collect()
}

/// MaskFormer's `post_process_instance_segmentation` on one image: `class_logits` of
/// `[queries, classes + 1]`, `mask_logits` of `[queries, height, width]`, masks at
/// `out_height x out_width`. Segments in order of their ids.
#[allow(clippy::too_many_arguments)]
pub fn instance_segments(
    class_logits: &[f32],
    queries: usize,
    classes_plus_one: usize,
    mask_logits: &[f32],
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
    threshold: f64,
    max_pixels: u64,
) -> Result<Vec<Segment>, ImageError> {
    check_queries(
        class_logits,
        queries,
        classes_plus_one,
        mask_logits,
        height,
        width,
    )?;
    let plane = height * width;
    let pixels = check_target(out_height, out_width, max_pixels)?;
    let classes = classes_plus_one - 1;
    let mut scores = Vec::with_capacity(queries * classes);
    for q in 0..queries {
        let probs = softmax(&class_logits[q * classes_plus_one..(q + 1) * classes_plus_one]);
        scores.extend_from_slice(&probs[..classes]);
    }
    let picks = topk_unsorted(&scores, queries);
    let ys = nearest(height, out_height);
    let xs = nearest(width, out_width);
    // Source rows and columns that some output pixel samples.
    let mut row_hit = vec![false; height];
    for &y in &ys {
        row_hit[y] = true;
    }
    let mut col_hit = vec![false; width];
    for &x in &xs {
        col_hit[x] = true;
    }
    // Mean mask probability of each query over its positive pixels, and whether its
    // upsampled mask has a pixel. The sigmoid runs on the picked masks stacked in pick order:
    // the last pick's plane may end in the scalar tail of torch's loop, so it gets its own.
    let numel = picks.len() * plane;
    let mut mean = vec![None::<(f32, bool)>; queries];
    let mut last_mean = None::<(f32, bool)>;
    // (query, class, score) of the segments, in id order.
    let mut kept: Vec<(usize, usize, f32)> = Vec::new();
    for (j, &i) in picks.iter().enumerate() {
        let (q, class) = (i / classes, i % classes);
        let measure = || {
            let logits = &mask_logits[q * plane..(q + 1) * plane];
            let mut sum = 0f64;
            let mut area = 0f32;
            let mut visible = false;
            for (p, &v) in logits.iter().enumerate() {
                if v > 0.0 {
                    sum += f64::from(sigmoid_at(v, j * plane + p, numel));
                    area += 1.0;
                    visible = visible || (row_hit[p / width] && col_hit[p % width]);
                }
            }
            ((sum as f32) / (area + 1e-6f32), visible)
        };
        let (mask_score, visible) = if j + 1 == picks.len() && !numel.is_multiple_of(32) {
            *last_mean.get_or_insert_with(measure)
        } else {
            *mean[q].get_or_insert_with(measure)
        };
        let score = scores[i] * mask_score;
        if visible && f64::from(score) >= threshold {
            kept.push((q, class, score));
        }
    }
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    // The last segment whose query's mask covers each source pixel.
    let mut owner = vec![u32::MAX; plane];
    for (k, &(q, _, _)) in kept.iter().enumerate() {
        for (o, &v) in owner
            .iter_mut()
            .zip(&mask_logits[q * plane..(q + 1) * plane])
        {
            if v > 0.0 {
                *o = k as u32;
            }
        }
    }
    let mut map = vec![u32::MAX; pixels];
    for (y, &sy) in ys.iter().enumerate() {
        let src = &owner[sy * width..(sy + 1) * width];
        for (d, &sx) in map[y * out_width..(y + 1) * out_width].iter_mut().zip(&xs) {
            *d = src[sx];
        }
    }
    Ok(kept
        .iter()
        .enumerate()
        .map(|(k, &(_, class, score))| Segment {
            label_id: class as u32,
            score: Some(score),
            mask: map.iter().map(|&v| u8::from(v == k as u32)).collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_orders_as_torch_cpu() {
        // torch.topk(torch.tensor([...]), k, sorted=False).indices, torch 2.x on CPU.
        let v = [0.1, 0.9, 0.3, 0.7, 0.5, 0.2, 0.8, 0.4, 0.6, 0.0];
        let k = topk_unsorted(&v, 4);
        let mut sorted = k.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![1, 3, 6, 8]);
        // The partial-sort path (k * 64 <= n) is sorted best first.
        let many: Vec<f32> = (0..130).map(|i| ((i * 37) % 130) as f32).collect();
        let top = topk_unsorted(&many, 2);
        assert_eq!(top.len(), 2);
        assert!(many[top[0]] >= many[top[1]]);
        assert_eq!(many[top[0]], 129.0);
        assert!(topk_unsorted(&[], 3).is_empty());
        assert_eq!(topk_unsorted(&[1.0, 2.0], 5).len(), 2);
    }

    #[test]
    fn nearest_matches_torch_indices() {
        assert_eq!(nearest(2, 4), vec![0, 0, 1, 1]);
        assert_eq!(nearest(3, 3), vec![0, 1, 2]);
        // 3 -> 5: floor(i * 0.6).
        assert_eq!(nearest(3, 5), vec![0, 0, 1, 1, 2]);
        assert_eq!(nearest(4, 2), vec![0, 2]);
    }

    #[test]
    fn later_segments_overwrite_earlier_ones() {
        // Two queries, one class: query 1 covers everything, query 0 the left pixel.
        let class_logits = [5.0, -5.0, 6.0, -6.0];
        let mask_logits = [9.0, -9.0, 9.0, 9.0];
        let segs =
            instance_segments(&class_logits, 2, 2, &mask_logits, 1, 2, 1, 2, 0.0, 100).expect("ok");
        assert_eq!(segs.len(), 2);
        let total: usize = segs
            .iter()
            .map(|s| s.mask.iter().map(|&v| usize::from(v)).sum::<usize>())
            .sum();
        assert_eq!(total, 2);
        assert!(
            instance_segments(&class_logits, 2, 2, &mask_logits, 2, 2, 1, 2, 0.0, 100).is_err()
        );
        assert!(
            instance_segments(&class_logits, 2, 2, &mask_logits, 1, 2, 0, 2, 0.0, 100).is_err()
        );
        assert!(
            instance_segments(&class_logits, 2, 2, &mask_logits, 1, 2, 1, 2, 1.0, 100)
                .expect("ok")
                .is_empty()
        );
    }
}
