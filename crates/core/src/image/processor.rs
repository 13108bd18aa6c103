//! Image processors as `preprocessor_config.json` describes them: the resize target of each
//! processor family, resolved against the decoded image size, then the common chain (resize →
//! center crop → rescale → normalise → channels first), with EfficientNet's extra steps.
//!
//! Families:
//! - exact `{height, width}` (ViT, DeiT, BEiT, SegFormer, EfficientNet);
//! - `{shortest_edge}` with an optional `max_size` (CLIP, BiT, MobileNet V1/V2 and the
//!   shortest-edge-then-crop processors: `get_resize_output_image_size(default_to_square=False)`;
//!   LeViT's `int(256 / 224 * edge)` and PoolFormer's `int(edge / crop_pct)` edges are resolved
//!   by the caller, from the config alone);
//! - ConvNeXt: `{shortest_edge}` with `crop_pct` (below 384: shortest edge to
//!   `int(shortest_edge / crop_pct)` then a square center crop; otherwise a square warp);
//! - DETR `{shortest_edge, longest_edge}` (`get_size_with_aspect_ratio`);
//! - YOLOS `{shortest_edge, longest_edge}` (its own branch order, sizes rounded down to a
//!   multiple of 16);
//! - DPT `{height, width}` with `keep_aspect_ratio` and `ensure_multiple_of`, and its centered
//!   zero padding to a multiple of `size_divisor` after normalising;
//! - MobileViT's channel flip (RGB to BGR, after the rescale and center crop);
//! - Perceiver's center crop before the resize, of `size / crop_size * min(height, width)`.
//! - MaskFormer `{shortest_edge, longest_edge}` (the shortest-edge rule capped by the longest
//!   edge, sizes rounded up to a multiple of `size_divisor`).

use super::preprocess::{preprocess_with, PreprocessConfig, Tensor};
use super::size::{detr_size, shortest_edge_size};
use super::transform::{center_crop, ExtraNormalization, Normalization};
use super::{Filter, ImageError, RgbImage};

/// How the resize target follows from the image size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResizeMode {
    /// A fixed `width x height`.
    Exact {
        /// Target width.
        width: u32,
        /// Target height.
        height: u32,
    },
    /// Shorter edge to `size`, the longer one in proportion (truncated), capped by `max_size`.
    ShortestEdge {
        /// Target of the shorter edge.
        size: u32,
        /// Cap of the longer edge.
        max_size: Option<u32>,
    },
    /// ConvNeXt's `shortest_edge` + `crop_pct` rule (includes its center crop).
    ConvNext {
        /// `size["shortest_edge"]`.
        shortest_edge: u32,
        /// `crop_pct`.
        crop_pct: f64,
    },
    /// DETR's `get_size_with_aspect_ratio`.
    Detr {
        /// `size["shortest_edge"]`.
        shortest_edge: u32,
        /// `size["longest_edge"]`.
        longest_edge: Option<u32>,
    },
    /// YOLOS's `get_size_with_aspect_ratio` (multiples of `mod_size`, 16 in transformers).
    Yolos {
        /// `size["shortest_edge"]`.
        shortest_edge: u32,
        /// `size["longest_edge"]`.
        longest_edge: Option<u32>,
        /// Both sides are rounded down to a multiple of this.
        mod_size: u32,
    },
    /// DPT's `get_resize_output_image_size`: `{height, width}`, optionally keeping the aspect
    /// ratio (the scale closer to 1 wins), each side rounded to a multiple.
    Dpt {
        /// `size["width"]`.
        width: u32,
        /// `size["height"]`.
        height: u32,
        /// `keep_aspect_ratio`.
        keep_aspect_ratio: bool,
        /// `ensure_multiple_of` (at least 1).
        multiple: u32,
    },
    /// MaskFormer's resize: the `ShortestEdge` rule capped by `longest_edge`, then both sides
    /// rounded up to a multiple of `size_divisor` (0: no rounding).
    MaskFormer {
        /// `size["shortest_edge"]`.
        shortest_edge: u32,
        /// `size["longest_edge"]`.
        longest_edge: u32,
        /// `size_divisor` (32 by default in transformers).
        size_divisor: u32,
    },
}

/// Perceiver's center crop, taken before the resize: `int(size / crop_size * min_dim)` on each
/// axis, `min_dim` the shorter side of the decoded image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreCrop {
    /// `size["height"]`.
    pub size_height: u32,
    /// `size["width"]`.
    pub size_width: u32,
    /// `crop_size["height"]`.
    pub crop_height: u32,
    /// `crop_size["width"]`.
    pub crop_width: u32,
}

/// A processor's settings, independent of any image.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorSpec {
    /// Resize rule; `None` keeps the decoded size.
    pub resize: Option<ResizeMode>,
    /// Pillow filter of the resize.
    pub filter: Filter,
    /// Center crop `(width, height)` after resizing.
    pub center_crop: Option<Size>,
    /// Rescale and normalisation.
    pub normalization: Normalization,
    /// EfficientNet's rescale offset and second std division.
    pub extra: ExtraNormalization,
    /// Perceiver's center crop before the resize.
    pub pre_crop: Option<PreCrop>,
    /// Swap the first and last channels at the end (MobileViT's `do_flip_channel_order`).
    pub flip_channel_order: bool,
    /// DPT's `do_pad`: zero padding of the normalised image, split evenly (the extra pixel at
    /// the bottom / right), up to the next multiple of this on each side.
    pub pad_size_divisor: Option<u32>,
}

/// DPT's `get_resize_output_image_size(image, (height, width), keep_aspect_ratio, multiple)`,
/// in float64 with Python's round-half-to-even. Returns `(height, width)`.
pub fn dpt_size(
    height: u32,
    width: u32,
    out_height: u32,
    out_width: u32,
    keep_aspect_ratio: bool,
    multiple: u32,
) -> Result<(u32, u32), ImageError> {
    if height == 0 || width == 0 || multiple == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "size: image {height}x{width} and ensure_multiple_of {multiple} must be non-zero"
        )));
    }
    let (h, w) = (f64::from(height), f64::from(width));
    let mut scale_height = f64::from(out_height) / h;
    let mut scale_width = f64::from(out_width) / w;
    if keep_aspect_ratio {
        if (1.0 - scale_width).abs() < (1.0 - scale_height).abs() {
            scale_height = scale_width;
        } else {
            scale_width = scale_height;
        }
    }
    let m = f64::from(multiple);
    // `round(val / multiple) * multiple` (the `max_val` and `min_val` checks never bind here).
    let constrain = |v: f64| -> Result<u32, ImageError> {
        let x = (v / m).round_ties_even() * m;
        if (0.0..=f64::from(u32::MAX)).contains(&x) {
            Ok(x as u32)
        } else {
            Err(ImageError::InvalidArgument(format!(
                "size: {x} out of range"
            )))
        }
    };
    Ok((constrain(scale_height * h)?, constrain(scale_width * w)?))
}

/// Perceiver's crop `(width, height)` for an image of `width x height`.
pub fn pre_crop_size(crop: &PreCrop, width: u32, height: u32) -> Result<Size, ImageError> {
    if crop.crop_height == 0 || crop.crop_width == 0 {
        return Err(ImageError::InvalidArgument(
            "crop_size must be positive".into(),
        ));
    }
    let min_dim = f64::from(width.min(height));
    let side = |size: u32, crop_side: u32| -> Result<u32, ImageError> {
        let v = (f64::from(size) / f64::from(crop_side) * min_dim).trunc();
        if (0.0..=f64::from(u32::MAX)).contains(&v) {
            Ok(v as u32)
        } else {
            Err(ImageError::InvalidArgument(format!(
                "center crop: {v} out of range"
            )))
        }
    };
    let (cw, ch) = (
        side(crop.size_width, crop.crop_width)?,
        side(crop.size_height, crop.crop_height)?,
    );
    if cw == 0 || ch == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "an image of {width}x{height} pixels center-crops to {cw}x{ch} under this processor's \
             size and crop_size (height and width must be > 0)"
        )));
    }
    Ok((cw, ch))
}

/// DPT's `pad_image`: pads a `[channels, height, width]` tensor with zeros to the next multiple
/// of `divisor` on each side, `pad // 2` before and the rest after; a padded image over
/// `max_pixels` is refused before it is allocated.
pub fn pad_to_multiple(
    tensor: &Tensor,
    divisor: u32,
    max_pixels: u64,
) -> Result<Tensor, ImageError> {
    let &[c, h, w] = tensor.shape.as_slice() else {
        return Err(ImageError::InvalidArgument(
            "pad: expected a [channels, height, width] tensor".into(),
        ));
    };
    if divisor == 0 {
        return Err(ImageError::InvalidArgument(
            "size_divisor must be positive".into(),
        ));
    }
    let d = divisor as usize;
    let (nh, nw) = (h.div_ceil(d) * d, w.div_ceil(d) * d);
    within(nw as u64, nh as u64, max_pixels)?;
    let (top, left) = ((nh - h) / 2, (nw - w) / 2);
    let plane = nh
        .checked_mul(nw)
        .filter(|p| p.checked_mul(c).is_some())
        .ok_or_else(|| ImageError::InvalidArgument("pad: target size too large".into()))?;
    let mut data = vec![0f32; plane * c];
    for ch in 0..c {
        for y in 0..h {
            let s = (ch * h + y) * w;
            let o = ch * plane + (top + y) * nw + left;
            data[o..o + w].copy_from_slice(&tensor.data[s..s + w]);
        }
    }
    Ok(Tensor {
        shape: vec![c, nh, nw],
        data,
    })
}

/// YOLOS's `get_size_with_aspect_ratio(image_size, size, max_size, mod_size)`. Returns
/// `(height, width)`, which may be zero for extreme aspect ratios (the caller rejects it).
pub fn yolos_size(
    height: u32,
    width: u32,
    size: u32,
    max_size: Option<u32>,
    mod_size: u32,
) -> Result<(u32, u32), ImageError> {
    if height == 0 || width == 0 || size == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "size: image {height}x{width} and target {size} must be non-zero"
        )));
    }
    let (h, w) = (f64::from(height), f64::from(width));
    let mut size = f64::from(size);
    let mut raw_size = None;
    if let Some(max) = max_size {
        let max = f64::from(max);
        let (min_orig, max_orig) = (h.min(w), h.max(w));
        if max_orig / min_orig * size > max {
            let raw = max * min_orig / max_orig;
            size = raw.round_ties_even();
            raw_size = Some(raw);
        }
    }
    let (oh, ow) = if width < height {
        (
            raw_size.map_or(size * h / w, |raw| raw * h / w).trunc(),
            size,
        )
    } else if (h <= w && h == size) || (w <= h && w == size) {
        (h, w)
    } else {
        (
            size,
            raw_size.map_or(size * w / h, |raw| raw * w / h).trunc(),
        )
    };
    let fit = |v: f64| -> Result<u32, ImageError> {
        if (0.0..=f64::from(u32::MAX)).contains(&v) {
            let v = v as u32;
            Ok(if mod_size > 0 { v - v % mod_size } else { v })
        } else {
            Err(ImageError::InvalidArgument(format!(
                "size: {v} out of range"
            )))
        }
    };
    Ok((fit(oh)?, fit(ow)?))
}

/// `int(math.ceil(v / divisor) * divisor)` (MaskFormer's `size_divisor`; 0 keeps `v`).
fn round_up(v: u32, divisor: u32) -> Result<u32, ImageError> {
    if divisor == 0 {
        return Ok(v);
    }
    v.div_ceil(divisor)
        .checked_mul(divisor)
        .ok_or_else(|| ImageError::InvalidArgument(format!("size: {v} too large")))
}

/// A size `(width, height)` in pixels.
pub type Size = (u32, u32);

/// The resize target `(width, height)` for an image of `width x height`, and the center crop the
/// rule itself implies (ConvNeXt).
pub fn resize_target(
    mode: &ResizeMode,
    width: u32,
    height: u32,
) -> Result<(Size, Option<Size>), ImageError> {
    let (h, w) = match *mode {
        ResizeMode::Exact { width, height } => (height, width),
        ResizeMode::ShortestEdge { size, max_size } => {
            shortest_edge_size(height, width, size, max_size)?
        }
        ResizeMode::ConvNext {
            shortest_edge,
            crop_pct,
        } => {
            if shortest_edge < 384 {
                if !(crop_pct.is_finite() && crop_pct > 0.0) {
                    return Err(ImageError::InvalidArgument(format!(
                        "crop_pct must be a positive number, got {crop_pct}"
                    )));
                }
                let resize_edge = f64::from(shortest_edge) / crop_pct;
                if !(1.0..=f64::from(u32::MAX)).contains(&resize_edge) {
                    return Err(ImageError::InvalidArgument(format!(
                        "crop_pct {crop_pct} gives a resize edge of {resize_edge}"
                    )));
                }
                let (h, w) = shortest_edge_size(height, width, resize_edge as u32, None)?;
                return Ok(((w, h), Some((shortest_edge, shortest_edge))));
            }
            (shortest_edge, shortest_edge)
        }
        ResizeMode::Detr {
            shortest_edge,
            longest_edge,
        } => detr_size(height, width, shortest_edge, longest_edge)?,
        ResizeMode::Yolos {
            shortest_edge,
            longest_edge,
            mod_size,
        } => yolos_size(height, width, shortest_edge, longest_edge, mod_size)?,
        ResizeMode::Dpt {
            width: out_width,
            height: out_height,
            keep_aspect_ratio,
            multiple,
        } => dpt_size(
            height,
            width,
            out_height,
            out_width,
            keep_aspect_ratio,
            multiple,
        )?,
        ResizeMode::MaskFormer {
            shortest_edge,
            longest_edge,
            size_divisor,
        } => {
            let (h, w) = shortest_edge_size(height, width, shortest_edge, Some(longest_edge))?;
            (round_up(h, size_divisor)?, round_up(w, size_divisor)?)
        }
    };
    if h == 0 || w == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "an image of {width}x{height} pixels resizes to {w}x{h} under this processor's size \
             setting (height and width must be > 0)"
        )));
    }
    Ok(((w, h), None))
}

/// Runs the processor on one image: `pixel_values` of shape `[3, height, width]`.
/// Refuses an intermediate image of `width` x `height` over `limit` pixels.
pub fn within(width: u64, height: u64, limit: u64) -> Result<(), ImageError> {
    let pixels = width.saturating_mul(height);
    if pixels > limit {
        return Err(ImageError::ProcessedTooLarge {
            width,
            height,
            pixels,
            limit,
        });
    }
    Ok(())
}

/// Runs the processor's chain on a decoded image. Every image it makes (resized, cropped,
/// padded) is held to `max_pixels`, so that a processor config with huge sizes is refused
/// before anything of that size is allocated.
pub fn process(
    image: &RgbImage,
    spec: &ProcessorSpec,
    max_pixels: u64,
) -> Result<Tensor, ImageError> {
    let pre_cropped;
    let mut image = image;
    if let Some(crop) = &spec.pre_crop {
        let (cw, ch) = pre_crop_size(crop, image.width(), image.height())?;
        within(u64::from(cw), u64::from(ch), max_pixels)?;
        let data = center_crop(
            image.data(),
            image.width() as usize,
            image.height() as usize,
            3,
            cw as usize,
            ch as usize,
        )?;
        pre_cropped = RgbImage::new(cw, ch, data)?;
        image = &pre_cropped;
    }
    let mut resize = None;
    let mut crop = spec.center_crop;
    if let Some(mode) = &spec.resize {
        let ((w, h), implied_crop) = resize_target(mode, image.width(), image.height())?;
        within(u64::from(w), u64::from(h), max_pixels)?;
        resize = Some((w, h, spec.filter));
        if implied_crop.is_some() {
            crop = implied_crop;
        }
    }
    if let Some((cw, ch)) = crop {
        within(u64::from(cw), u64::from(ch), max_pixels)?;
    }
    let mut tensor = preprocess_with(
        image,
        &PreprocessConfig {
            resize,
            center_crop: crop,
            normalization: spec.normalization.clone(),
        },
        &spec.extra,
    )?;
    if spec.flip_channel_order {
        // RGB to BGR: the last plane first (the tensor always has 3 channels).
        let plane = tensor.data.len() / 3;
        let (first, rest) = tensor.data.split_at_mut(plane);
        first.swap_with_slice(&mut rest[plane..]);
    }
    if let Some(divisor) = spec.pad_size_divisor {
        tensor = pad_to_multiple(&tensor, divisor, max_pixels)?;
    }
    Ok(tensor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolos_rounds_down_to_multiples_and_checks_width_first() {
        // 480x640 (h x w), shortest 800, longest 1333: 1333/480*... not capped: 800 x 1066 -> 1056.
        assert_eq!(
            yolos_size(480, 640, 800, Some(1333), 16).ok(),
            Some((800, 1056))
        );
        // Portrait: the width branch comes first even when the width already equals the size.
        assert_eq!(yolos_size(100, 64, 64, None, 16).ok(), Some((96, 64)));
        // Square image whose side equals the size keeps it (then rounds down).
        assert_eq!(yolos_size(70, 70, 70, None, 16).ok(), Some((64, 64)));
        // Extreme ratio: the short side rounds to zero.
        assert_eq!(yolos_size(1, 1000, 64, Some(96), 16).ok(), Some((0, 96)));
        assert!(yolos_size(0, 10, 64, None, 16).is_err());
    }

    #[test]
    fn convnext_crops_below_384_and_warps_above() {
        let mode = ResizeMode::ConvNext {
            shortest_edge: 224,
            crop_pct: 0.875,
        };
        // 300x200 (w x h): shorter edge to int(224 / 0.875) = 256, width int(256*300/200) = 384.
        assert_eq!(
            resize_target(&mode, 300, 200).ok(),
            Some(((384, 256), Some((224, 224))))
        );
        let big = ResizeMode::ConvNext {
            shortest_edge: 384,
            crop_pct: 0.875,
        };
        assert_eq!(resize_target(&big, 300, 200).ok(), Some(((384, 384), None)));
        let bad = ResizeMode::ConvNext {
            shortest_edge: 224,
            crop_pct: 0.0,
        };
        assert!(resize_target(&bad, 300, 200).is_err());
    }

    #[test]
    fn maskformer_rounds_up_to_the_size_divisor() {
        let mode = ResizeMode::MaskFormer {
            shortest_edge: 64,
            longest_edge: 96,
            size_divisor: 32,
        };
        // 300x200 (w x h): 96x64 within the cap; already multiples of 32.
        assert_eq!(resize_target(&mode, 300, 200).ok(), Some(((96, 64), None)));
        // 1000x30: long side capped at 96, short side int(96 * 64 / 2133) = 2, rounded up to 32.
        assert_eq!(resize_target(&mode, 1000, 30).ok(), Some(((96, 32), None)));
        // 70x50: 89x64 -> 96x64.
        assert_eq!(resize_target(&mode, 70, 50).ok(), Some(((96, 64), None)));
        let plain = ResizeMode::MaskFormer {
            shortest_edge: 64,
            longest_edge: 96,
            size_divisor: 0,
        };
        assert_eq!(resize_target(&plain, 70, 50).ok(), Some(((89, 64), None)));
    }

    #[test]
    fn outputs_over_the_pixel_limit_are_refused_before_allocating() {
        let image = RgbImage::new(4, 3, vec![7u8; 4 * 3 * 3]).expect("image");
        let mut spec = ProcessorSpec {
            resize: Some(ResizeMode::Exact {
                width: 100_000,
                height: 100_000,
            }),
            filter: Filter::Bilinear,
            center_crop: None,
            normalization: Normalization {
                rescale_factor: None,
                mean_std: None,
            },
            extra: ExtraNormalization::default(),
            pre_crop: None,
            flip_channel_order: false,
            pad_size_divisor: None,
        };
        let err = process(&image, &spec, 1_000_000).expect_err("too large");
        assert_eq!(err.code(), "ERR_IMAGE_TOO_LARGE");
        assert!(err.to_string().contains("100000x100000"), "{err}");
        spec.resize = Some(ResizeMode::Exact {
            width: 8,
            height: 8,
        });
        spec.center_crop = Some((50_000, 50_000));
        assert!(process(&image, &spec, 1_000_000).is_err());
        spec.center_crop = None;
        spec.pad_size_divisor = Some(1_000_000);
        assert!(process(&image, &spec, 1_000_000).is_err());
        spec.pad_size_divisor = Some(16);
        let t = process(&image, &spec, 1_000_000).expect("within the limit");
        assert_eq!(t.shape, vec![3, 16, 16]);
    }

    #[test]
    fn zero_sized_targets_are_rejected() {
        let mode = ResizeMode::Detr {
            shortest_edge: 64,
            longest_edge: Some(96),
        };
        assert!(resize_target(&mode, 1000, 1).is_err());
        assert_eq!(resize_target(&mode, 96, 64).ok(), Some(((96, 64), None)));
    }

    #[test]
    fn process_runs_the_chain() {
        let image = RgbImage::new(4, 2, (0..24).collect()).expect("image");
        let spec = ProcessorSpec {
            resize: Some(ResizeMode::Exact {
                width: 2,
                height: 2,
            }),
            filter: Filter::Nearest,
            center_crop: None,
            normalization: Normalization {
                rescale_factor: None,
                mean_std: None,
            },
            extra: ExtraNormalization::default(),
            pre_crop: None,
            flip_channel_order: false,
            pad_size_divisor: None,
        };
        let t = process(&image, &spec, u64::MAX).expect("process");
        assert_eq!(t.shape, vec![3, 2, 2]);
        // The extra steps reach the tensor: offset after the rescale, then the std division.
        let spec = ProcessorSpec {
            resize: None,
            normalization: Normalization {
                rescale_factor: Some(1.0 / 127.5),
                mean_std: None,
            },
            extra: ExtraNormalization {
                rescale_offset: true,
                extra_std: Some(vec![0.5]),
            },
            ..spec
        };
        let t = process(&image, &spec, u64::MAX).expect("process");
        assert_eq!(t.shape, vec![3, 2, 4]);
        // Pixel (0, 1) holds 3, 4, 5; the green plane starts at 8.
        assert_eq!(t.data[1], ((3.0f64 / 127.5) as f32 - 1.0) / 0.5);
        assert_eq!(t.data[8], ((1.0f64 / 127.5) as f32 - 1.0) / 0.5);
    }

    #[test]
    fn dpt_sizes_keep_the_aspect_and_round_to_multiples() {
        // Exact size: (32 / 48) * 48 rounds back to 32.
        assert_eq!(dpt_size(48, 64, 32, 32, false, 1).ok(), Some((32, 32)));
        // Keep aspect: the height scale 32/48 is closer to 1 than the width one 32/64, so it
        // wins: width 64 * 2/3 = 42.67, a multiple of 8 -> 40.
        assert_eq!(dpt_size(48, 64, 32, 32, true, 8).ok(), Some((32, 40)));
        // Half-way values round to even multiples: 36 / 8 = 4.5 -> 4 -> 32.
        assert_eq!(dpt_size(36, 36, 36, 36, false, 8).ok(), Some((32, 32)));
        assert!(dpt_size(0, 10, 32, 32, true, 8).is_err());
    }

    #[test]
    fn dpt_padding_is_centered_and_perceiver_crops_first() {
        let t = Tensor {
            shape: vec![3, 1, 2],
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        let p = pad_to_multiple(&t, 4, u64::MAX).expect("pad");
        assert_eq!(p.shape, vec![3, 4, 4]);
        // Row 1 (pad 3: 1 above, 2 below), columns 1..3 (pad 2: 1 each side).
        assert_eq!(&p.data[4..8], &[0.0, 1.0, 2.0, 0.0]);
        assert_eq!(p.data.iter().filter(|&&v| v != 0.0).count(), 6);
        let crop = PreCrop {
            size_height: 224,
            size_width: 224,
            crop_height: 256,
            crop_width: 256,
        };
        // int(224 / 256 * 48) = 42.
        assert_eq!(pre_crop_size(&crop, 64, 48).ok(), Some((42, 42)));
        assert!(pre_crop_size(&crop, 1, 1).is_err());
    }

    #[test]
    fn channel_flip_swaps_red_and_blue_planes() {
        let image = RgbImage::new(1, 1, vec![10, 20, 30]).expect("image");
        let spec = ProcessorSpec {
            resize: None,
            filter: Filter::Nearest,
            center_crop: None,
            normalization: Normalization {
                rescale_factor: None,
                mean_std: None,
            },
            extra: ExtraNormalization::default(),
            pre_crop: None,
            flip_channel_order: true,
            pad_size_divisor: None,
        };
        assert_eq!(
            process(&image, &spec, u64::MAX).expect("process").data,
            vec![30.0, 20.0, 10.0]
        );
    }
}
