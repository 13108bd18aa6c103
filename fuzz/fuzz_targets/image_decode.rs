//! Fuzzes image decoding and preprocessing: arbitrary bytes (any of the supported formats,
//! usually broken) either fail with a typed image error or decode to a consistent RGB buffer
//! within the pixel limit, which then resizes with every filter and preprocesses to a tensor
//! of the requested shape.
#![no_main]

use hf_tasks_core::image::transform::{center_crop, Normalization};
use hf_tasks_core::image::{decode, preprocess, DecodeOptions, Filter, PreprocessConfig};
use libfuzzer_sys::fuzz_target;

const MAX_PIXELS: u64 = 64 * 64;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the target size; the rest is the file.
    let (params, bytes) = data.split_at(data.len().min(2));
    let (tw, th) = match params {
        [a, b] => (u32::from(*a % 40) + 1, u32::from(*b % 40) + 1),
        _ => (7, 5),
    };
    let options = DecodeOptions {
        max_pixels: MAX_PIXELS,
        ..DecodeOptions::default()
    };
    let decoded = match decode(bytes, &options) {
        Ok(d) => d,
        Err(e) => {
            assert!(e.code().starts_with("ERR_IMAGE_"), "{e}");
            return;
        }
    };
    let image = decoded.image;
    let (w, h) = (image.width(), image.height());
    assert!(w > 0 && h > 0);
    assert!(u64::from(w) * u64::from(h) <= MAX_PIXELS);
    assert_eq!(image.data().len(), w as usize * h as usize * 3);
    assert!((1..=8).contains(&decoded.orientation));
    for code in 0..=5 {
        let filter = Filter::from_pil(code).expect("known filter");
        let out = image.resize(tw, th, filter).expect("resize");
        assert_eq!(out.data().len(), tw as usize * th as usize * 3);
    }
    let crop = center_crop(
        image.data(),
        w as usize,
        h as usize,
        3,
        th as usize,
        tw as usize,
    )
    .expect("crop");
    assert_eq!(crop.len(), tw as usize * th as usize * 3);
    let config = PreprocessConfig {
        resize: Some((tw, th, Filter::Bicubic)),
        center_crop: Some((th, tw)),
        normalization: Normalization {
            rescale_factor: Some(1.0 / 255.0),
            mean_std: Some((vec![0.5, 0.4, 0.3], vec![0.2, 0.3, 0.4])),
        },
    };
    let t = preprocess(&image, &config).expect("preprocess");
    assert_eq!(t.shape, vec![3, tw as usize, th as usize]);
    assert!(t.data.iter().all(|v| v.is_finite()));
});
