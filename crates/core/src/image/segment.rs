//! Segmentation post-processing of transformers' image processors, producing masks at the
//! original image size without holding every upsampled plane in memory:
//!
//! - [`semantic_from_logits`]: SegFormer-style `post_process_semantic_segmentation` (bilinear
//!   upsampling of per-class logits, `align_corners=False`, then a per-pixel argmax);
//! - [`semantic_from_queries`]: DETR / MaskFormer-style semantic maps (`softmax(class)[..., :-1]`
//!   weighted sum of `sigmoid(mask)` planes, upsampled, argmax);
//! - [`query_segments`]: DETR-style panoptic / instance segmentation (`compute_segments`): keep
//!   queries whose label is not "no object" and whose score is above `threshold`, upsample their
//!   mask probabilities, weight them by the score, assign each pixel to its best query and keep a
//!   query whose won area over its thresholded area is above `overlap_mask_area_threshold`.
//!
//! Upsampling follows `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`
//! in `f32`; softmax and sigmoid are torch's CPU kernels (see [`super::torch_cpu`]).

use super::torch_cpu::{self, softmax};
use super::ImageError;

/// One segment: a class id, its score (`None` for semantic segments) and its pixels
/// (`height * width` bytes, 1 inside).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Class id (`id2label` key).
    pub label_id: u32,
    /// Query score (panoptic / instance), `None` for semantic segments.
    pub score: Option<f32>,
    /// 1 for the segment's pixels, 0 elsewhere, row-major.
    pub mask: Vec<u8>,
}

/// Source indices and weights of one output coordinate.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: f32,
    w1: f32,
}

/// `align_corners=False` taps along one axis, as torch computes them in `f32`.
fn taps(input: usize, output: usize) -> Vec<Tap> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|i| {
            let src = scale * (i as f32 + 0.5) - 0.5;
            let src = if src < 0.0 { 0.0 } else { src };
            let i0 = (src.floor() as usize).min(input - 1);
            let lambda = (src - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            Tap {
                i0,
                i1,
                w0: 1.0 - lambda,
                w1: lambda,
            }
        })
        .collect()
}

#[inline]
fn sample(plane: &[f32], width: usize, ty: &Tap, tx: &Tap) -> f32 {
    let r0 = ty.i0 * width;
    let r1 = ty.i1 * width;
    let top = plane[r0 + tx.i0] * tx.w0 + plane[r0 + tx.i1] * tx.w1;
    let bottom = plane[r1 + tx.i0] * tx.w0 + plane[r1 + tx.i1] * tx.w1;
    top * ty.w0 + bottom * ty.w1
}

fn check_planes(
    what: &str,
    data: &[f32],
    planes: usize,
    height: usize,
    width: usize,
) -> Result<(), ImageError> {
    if height == 0 || width == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "{what}: planes of {height}x{width} are empty"
        )));
    }
    if planes
        .checked_mul(height)
        .and_then(|n| n.checked_mul(width))
        != Some(data.len())
    {
        return Err(ImageError::InvalidArgument(format!(
            "{what}: {} values do not hold {planes}x{height}x{width}",
            data.len()
        )));
    }
    Ok(())
}

pub(super) fn check_target(
    height: usize,
    width: usize,
    max_pixels: u64,
) -> Result<usize, ImageError> {
    let n = height
        .checked_mul(width)
        .filter(|&n| n > 0 && n as u64 <= max_pixels)
        .ok_or_else(|| {
            ImageError::InvalidArgument(format!(
                "target size {width}x{height} must be non-empty and at most {max_pixels} pixels"
            ))
        })?;
    Ok(n)
}

/// The argmax map of `planes` bilinear-upsampled planes (first maximum wins, as torch's
/// `argmax`), `out_height * out_width` plane indices. `value(p, v)` maps the upsampled value of
/// plane `p` before comparison.
fn upsampled_argmax(
    data: &[f32],
    planes: usize,
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
) -> Vec<u32> {
    let ys = taps(height, out_height);
    let xs = taps(width, out_width);
    let plane = height * width;
    let mut out = vec![0u32; out_height * out_width];
    for (y, ty) in ys.iter().enumerate() {
        for (x, tx) in xs.iter().enumerate() {
            let mut best = f32::NEG_INFINITY;
            let mut best_p = 0u32;
            for p in 0..planes {
                let v = sample(&data[p * plane..(p + 1) * plane], width, ty, tx);
                // NaN never wins unless it is first (torch treats NaN as the maximum; a
                // finite network output never has one).
                if v > best || (p == 0 && v.is_nan()) {
                    best = v;
                    best_p = p as u32;
                }
            }
            out[y * out_width + x] = best_p;
        }
    }
    out
}

/// One mask per distinct value of `map`, ascending (`np.unique`), with `score: None`.
fn segments_of_map(map: &[u32], planes: usize) -> Vec<Segment> {
    let mut present = vec![false; planes];
    for &v in map {
        if let Some(p) = present.get_mut(v as usize) {
            *p = true;
        }
    }
    present
        .iter()
        .enumerate()
        .filter(|(_, &p)| p)
        .map(|(label, _)| Segment {
            label_id: label as u32,
            score: None,
            mask: map.iter().map(|&v| u8::from(v as usize == label)).collect(),
        })
        .collect()
}

/// SegFormer's `post_process_semantic_segmentation` on one image: `logits` of shape
/// `[classes, height, width]`, upsampled to `out_height x out_width`, argmax per pixel; one
/// segment per class present, ascending.
pub fn semantic_from_logits(
    logits: &[f32],
    classes: usize,
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
    max_pixels: u64,
) -> Result<Vec<Segment>, ImageError> {
    check_planes("semantic logits", logits, classes, height, width)?;
    if classes == 0 {
        return Err(ImageError::InvalidArgument(
            "semantic logits: no class planes".into(),
        ));
    }
    check_target(out_height, out_width, max_pixels)?;
    let map = upsampled_argmax(logits, classes, height, width, out_height, out_width);
    Ok(segments_of_map(&map, classes))
}

pub(super) fn check_queries(
    class_logits: &[f32],
    queries: usize,
    classes_plus_one: usize,
    mask_logits: &[f32],
    height: usize,
    width: usize,
) -> Result<(), ImageError> {
    if classes_plus_one < 2 {
        return Err(ImageError::InvalidArgument(
            "class logits need at least one class plus the no-object class".into(),
        ));
    }
    if queries.checked_mul(classes_plus_one) != Some(class_logits.len()) {
        return Err(ImageError::InvalidArgument(format!(
            "class logits: {} values do not hold {queries}x{classes_plus_one}",
            class_logits.len()
        )));
    }
    check_planes("mask logits", mask_logits, queries, height, width)
}

/// DETR's `post_process_semantic_segmentation` on one image: class probabilities without the
/// no-object class (`[queries, classes + 1]` logits) weight the sigmoid mask planes
/// (`[queries, height, width]`) into per-class planes, upsampled and argmaxed.
#[allow(clippy::too_many_arguments)]
pub fn semantic_from_queries(
    class_logits: &[f32],
    queries: usize,
    classes_plus_one: usize,
    mask_logits: &[f32],
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
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
    check_target(out_height, out_width, max_pixels)?;
    let classes = classes_plus_one - 1;
    let plane = height * width;
    let probs: Vec<Vec<f32>> = (0..queries)
        .map(|q| softmax(&class_logits[q * classes_plus_one..(q + 1) * classes_plus_one]))
        .collect();
    let masks = torch_cpu::sigmoid_all(mask_logits);
    let mut seg = vec![0f32; classes * plane];
    for c in 0..classes {
        let dst = &mut seg[c * plane..(c + 1) * plane];
        for (q, p) in probs.iter().enumerate() {
            let w = p[c];
            let src = &masks[q * plane..(q + 1) * plane];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += w * s;
            }
        }
    }
    let map = upsampled_argmax(&seg, classes, height, width, out_height, out_width);
    Ok(segments_of_map(&map, classes))
}

/// Thresholds of [`query_segments`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentThresholds {
    /// Keep queries whose score is strictly above this.
    pub threshold: f64,
    /// A pixel belongs to a query's thresholded area when its weighted probability is >= this.
    pub mask_threshold: f64,
    /// A segment is kept when won area / thresholded area is strictly above this.
    pub overlap_mask_area_threshold: f64,
}

/// DETR's `post_process_panoptic_segmentation` / `post_process_instance_segmentation` on one
/// image (no label fusing): segments in query order, ids from 1 (the order of the result).
#[allow(clippy::too_many_arguments)]
pub fn query_segments(
    class_logits: &[f32],
    queries: usize,
    classes_plus_one: usize,
    mask_logits: &[f32],
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
    thresholds: SegmentThresholds,
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
    let pixels = check_target(out_height, out_width, max_pixels)?;
    let no_object = classes_plus_one - 1;
    let plane = height * width;
    // (query, label, score) of the kept queries, in query order.
    let mut kept: Vec<(usize, usize, f32)> = Vec::new();
    for q in 0..queries {
        let probs = softmax(&class_logits[q * classes_plus_one..(q + 1) * classes_plus_one]);
        let mut best = 0usize;
        for (c, &p) in probs.iter().enumerate() {
            if p > probs[best] {
                best = c;
            }
        }
        let score = probs[best];
        if best != no_object && f64::from(score) > thresholds.threshold {
            kept.push((q, best, score));
        }
    }
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    let numel = mask_logits.len();
    let probs: Vec<Vec<f32>> = kept
        .iter()
        .map(|&(q, _, _)| {
            mask_logits[q * plane..(q + 1) * plane]
                .iter()
                .enumerate()
                .map(|(p, &v)| torch_cpu::sigmoid_at(v, q * plane + p, numel))
                .collect()
        })
        .collect();
    let ys = taps(height, out_height);
    let xs = taps(width, out_width);
    let mut winner = vec![0u32; pixels];
    let mut won = vec![0u64; kept.len()];
    let mut above = vec![0u64; kept.len()];
    for (y, ty) in ys.iter().enumerate() {
        for (x, tx) in xs.iter().enumerate() {
            let mut best = f32::NEG_INFINITY;
            let mut best_k = 0usize;
            for (k, (plane_k, &(_, _, score))) in probs.iter().zip(&kept).enumerate() {
                let v = sample(plane_k, width, ty, tx) * score;
                if f64::from(v) >= thresholds.mask_threshold {
                    above[k] += 1;
                }
                if v > best || (k == 0 && v.is_nan()) {
                    best = v;
                    best_k = k;
                }
            }
            winner[y * out_width + x] = best_k as u32;
            won[best_k] += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &(_, label, score)) in kept.iter().enumerate() {
        if won[k] == 0 || above[k] == 0 {
            continue;
        }
        let ratio = won[k] as f32 / above[k] as f32;
        if f64::from(ratio) <= thresholds.overlap_mask_area_threshold {
            continue;
        }
        out.push(Segment {
            label_id: label as u32,
            score: Some(score),
            mask: winner.iter().map(|&w| u8::from(w as usize == k)).collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_match_torch_half_pixel_centres() {
        // 2 -> 4: sources -0.25 (clamped 0), 0.25, 0.75, 1.25 (index 1 at the edge).
        let t = taps(2, 4);
        assert_eq!((t[0].i0, t[0].i1, t[0].w1), (0, 1, 0.0));
        assert_eq!((t[1].i0, t[1].i1, t[1].w1), (0, 1, 0.25));
        assert_eq!((t[2].i0, t[2].i1, t[2].w1), (0, 1, 0.75));
        assert_eq!((t[3].i0, t[3].i1, t[3].w1), (1, 1, 0.25));
    }

    #[test]
    fn semantic_argmax_upsamples_and_lists_present_classes() {
        // Two classes on a 1x2 grid: class 1 wins on the right half.
        let logits = [1.0, 0.0, 0.0, 1.0];
        let segs = semantic_from_logits(&logits, 2, 1, 2, 2, 4, 1 << 20).expect("semantic");
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].label_id, 0);
        assert_eq!(segs[0].mask, vec![1, 1, 0, 0, 1, 1, 0, 0]);
        assert_eq!(segs[1].mask, vec![0, 0, 1, 1, 0, 0, 1, 1]);
        assert!(segs[0].score.is_none());
        // A class absent everywhere gets no segment.
        let segs = semantic_from_logits(&[5.0, 5.0, 0.0, 0.0, 0.0, 0.0], 3, 1, 2, 1, 2, 100)
            .expect("semantic");
        assert_eq!(segs.len(), 1);
        assert!(semantic_from_logits(&logits, 2, 1, 2, 1000, 1000, 100).is_err());
        assert!(semantic_from_logits(&logits, 3, 1, 2, 1, 2, 100).is_err());
    }

    #[test]
    fn query_segments_keep_confident_winning_queries() {
        // Query 0: class 0, confident, mask on the left; query 1: no-object; query 2: class 1,
        // confident, mask on the right.
        let class_logits = [9.0, 0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 9.0, 0.0];
        let mask_logits = [8.0, -8.0, 0.0, 0.0, -8.0, 8.0];
        let t = SegmentThresholds {
            threshold: 0.9,
            mask_threshold: 0.5,
            overlap_mask_area_threshold: 0.5,
        };
        let segs = query_segments(&class_logits, 3, 3, &mask_logits, 1, 2, 1, 2, t, 100)
            .expect("segments");
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].label_id, 0);
        assert_eq!(segs[0].mask, vec![1, 0]);
        assert_eq!(segs[1].label_id, 1);
        assert_eq!(segs[1].mask, vec![0, 1]);
        // Nothing above a threshold of 1.
        let none = SegmentThresholds {
            threshold: 1.0,
            ..t
        };
        assert!(
            query_segments(&class_logits, 3, 3, &mask_logits, 1, 2, 1, 2, none, 100)
                .expect("segments")
                .is_empty()
        );
        assert!(query_segments(&class_logits, 3, 3, &mask_logits, 2, 2, 1, 2, t, 100).is_err());
    }
}
