//! Fuzzes the Pillow resampler, the processor resize rules and the segmentation upsampling:
//! arbitrary sizes, channel counts, filters and pixels either fail with a typed error or give
//! buffers of exactly the requested shape; non-negative filters (nearest, box, bilinear,
//! hamming) never leave the input's value range by more than the fixed-point rounding.
#![no_main]

use arbitrary::Arbitrary;
use hf_tasks_core::image::processor::{resize_target, ResizeMode};
use hf_tasks_core::image::resample::resize;
use hf_tasks_core::image::segment::{query_segments, semantic_from_logits, SegmentThresholds};
use hf_tasks_core::image::Filter;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    src_w: u8,
    src_h: u8,
    channels: u8,
    dst_w: u8,
    dst_h: u8,
    filter: u8,
    mode: u8,
    edge: u16,
    longest: u16,
    crop_pct: f32,
    logits: Vec<f32>,
    pixels: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let (sw, sh) = (usize::from(input.src_w % 48), usize::from(input.src_h % 48));
    let channels = usize::from(input.channels % 5);
    let (dw, dh) = (usize::from(input.dst_w % 96), usize::from(input.dst_h % 96));
    let code = i64::from(input.filter % 7);
    let len = sw * sh * channels;
    let mut src = input.pixels.clone();
    src.resize(len, 0x5a);
    match Filter::from_pil(code) {
        Err(_) => assert!(code > 5),
        Ok(filter) => match resize(&src, sw, sh, channels, dw, dh, filter) {
            Ok(out) => {
                assert_eq!(out.len(), dw * dh * channels);
                let monotone = matches!(
                    filter,
                    Filter::Nearest | Filter::Box | Filter::Bilinear | Filter::Hamming
                );
                if monotone && !src.is_empty() {
                    let lo = src.iter().copied().min().unwrap_or(0);
                    let hi = src.iter().copied().max().unwrap_or(255);
                    for &v in &out {
                        assert!(v >= lo.saturating_sub(1) && v <= hi.saturating_add(1));
                    }
                }
            }
            Err(e) => assert_eq!(e.code(), "ERR_INVALID_ARGUMENT", "{e}"),
        },
    }

    // Resize rules on arbitrary image sizes: a target is positive or a typed error.
    let edge = u32::from(input.edge);
    let longest = u32::from(input.longest);
    let mode = match input.mode % 5 {
        0 => ResizeMode::Exact {
            width: edge,
            height: longest,
        },
        1 => ResizeMode::ShortestEdge {
            size: edge,
            max_size: Some(longest),
        },
        2 => ResizeMode::ConvNext {
            shortest_edge: edge,
            crop_pct: f64::from(input.crop_pct),
        },
        3 => ResizeMode::Detr {
            shortest_edge: edge,
            longest_edge: Some(longest),
        },
        _ => ResizeMode::Yolos {
            shortest_edge: edge,
            longest_edge: Some(longest),
            mod_size: 16,
        },
    };
    let (iw, ih) = (
        u32::from(input.src_w) * 37 + 1,
        u32::from(input.src_h) * 41 + 1,
    );
    if let Ok(((w, h), crop)) = resize_target(&mode, iw, ih) {
        assert!(w > 0 && h > 0);
        if let Some((cw, ch)) = crop {
            assert!(cw > 0 && ch > 0);
        }
    }

    // Segmentation upsampling on arbitrary logits (NaN and infinities included).
    let planes = channels.max(1);
    let (ph, pw) = (sh.clamp(1, 8), sw.clamp(1, 8));
    let mut logits = input.logits.clone();
    logits.resize(planes * ph * pw, 0.5);
    let (oh, ow) = (dh.clamp(1, 24), dw.clamp(1, 24));
    if let Ok(segs) = semantic_from_logits(&logits, planes, ph, pw, oh, ow, 1 << 12) {
        assert!(!segs.is_empty());
        for s in &segs {
            assert_eq!(s.mask.len(), oh * ow);
        }
    }
    let class_logits: Vec<f32> = logits
        .iter()
        .take(planes * 3)
        .copied()
        .chain(std::iter::repeat(0.0))
        .take(planes * 3)
        .collect();
    let t = SegmentThresholds {
        threshold: f64::from(input.crop_pct.abs().min(1.0)),
        mask_threshold: 0.5,
        overlap_mask_area_threshold: 0.5,
    };
    if let Ok(segs) = query_segments(
        &class_logits,
        planes,
        3,
        &logits,
        ph,
        pw,
        oh,
        ow,
        t,
        1 << 12,
    ) {
        assert!(segs.len() <= planes);
        for s in &segs {
            assert_eq!(s.mask.len(), oh * ow);
            assert!(s.label_id < 2);
        }
    }
});
