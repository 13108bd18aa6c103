//! Array transforms after resizing, with the numerics of transformers' `image_transforms`:
//! center crop (zero padding when the crop is larger), rescale (`f64` product, stored as
//! `f32`; EfficientNet's optional `- 1` offset in `f32`), normalise (`f32` arithmetic with `f32`
//! mean and std; EfficientNet's extra division by the std), channels-first layout, and
//! bottom/right padding with a pixel mask.

use super::ImageError;

/// Crops the center `crop_height x crop_width` of an interleaved image, as
/// `image_transforms.center_crop` does: `top = (h - ch) // 2`, `left = (w - cw) // 2` (floor
/// division); where the crop is larger than the image, the image is first placed at
/// `ceil((new - old) / 2)` on a zero canvas of `max(crop, old)`.
pub fn center_crop(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    crop_width: usize,
    crop_height: usize,
) -> Result<Vec<u8>, ImageError> {
    if width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels))
        != Some(src.len())
    {
        return Err(ImageError::InvalidArgument(format!(
            "center_crop: buffer of {} bytes does not hold {width}x{height}x{channels} samples",
            src.len()
        )));
    }
    if crop_width == 0 || crop_height == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "center_crop: crop size must be at least 1x1, got {crop_width}x{crop_height}"
        )));
    }
    if crop_width
        .checked_mul(crop_height)
        .and_then(|n| n.checked_mul(channels))
        .is_none()
    {
        return Err(ImageError::InvalidArgument(
            "center_crop: crop size too large".into(),
        ));
    }
    let (w, h, cw, ch) = (
        width as i64,
        height as i64,
        crop_width as i64,
        crop_height as i64,
    );
    let mut top = (h - ch).div_euclid(2);
    let mut left = (w - cw).div_euclid(2);
    let (mut pad_top, mut pad_left) = (0i64, 0i64);
    if !(top >= 0 && top + ch <= h && left >= 0 && left + cw <= w) {
        let new_h = ch.max(h);
        let new_w = cw.max(w);
        pad_top = (new_h - h + 1) / 2;
        pad_left = (new_w - w + 1) / 2;
        top = (top + pad_top).max(0);
        left = (left + pad_left).max(0);
    }
    // Output sample (y, x) reads canvas (top + y, left + x); the canvas holds the image at
    // (pad_top, pad_left) and zeros elsewhere.
    let mut out = vec![0u8; crop_width * crop_height * channels];
    for y in 0..ch {
        let sy = top + y - pad_top;
        if sy < 0 || sy >= h {
            continue;
        }
        for x in 0..cw {
            let sx = left + x - pad_left;
            if sx < 0 || sx >= w {
                continue;
            }
            let s = ((sy * w + sx) as usize) * channels;
            let d = ((y * cw + x) as usize) * channels;
            out[d..d + channels].copy_from_slice(&src[s..s + channels]);
        }
    }
    Ok(out)
}

/// Rescale and normalisation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    /// `rescale_factor` (e.g. `1/255`); `None` skips the rescale.
    pub rescale_factor: Option<f64>,
    /// Per-channel mean and std; `None` skips the normalisation.
    pub mean_std: Option<(Vec<f64>, Vec<f64>)>,
}

/// Steps some processors add around the common rescale and normalisation (EfficientNet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtraNormalization {
    /// Subtract 1 right after the rescale, in `f32` (EfficientNet's `rescale_offset`: with a
    /// factor of `1/127.5`, `[0, 255]` becomes `[-1, 1]`). Ignored without a rescale factor,
    /// as the reference only offsets inside its rescale step.
    pub rescale_offset: bool,
    /// After the normalisation, divide by this per-channel std once more (EfficientNet's
    /// `include_top`: a second `normalize(mean=0, std)`, in `f32`); `None` skips it.
    pub extra_std: Option<Vec<f64>>,
}

/// Per-channel `f32` values of a 1- or `channels`-value list.
fn per_channel(name: &str, v: &[f64], channels: usize) -> Result<Vec<f32>, ImageError> {
    if v.len() != channels && v.len() != 1 {
        return Err(ImageError::InvalidArgument(format!(
            "{name} must have 1 or {channels} values, got {}",
            v.len()
        )));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(ImageError::InvalidArgument(format!(
            "{name} must be finite"
        )));
    }
    Ok((0..channels)
        .map(|c| v[if v.len() == 1 { 0 } else { c }] as f32)
        .collect())
}

/// Converts an interleaved 8-bit image to channels-first `f32`, applying
/// `x * rescale_factor` (computed in `f64`, rounded to `f32`) then `(x - mean) / std` in `f32`
/// with `mean` and `std` rounded to `f32` — the order and precision of the reference.
pub fn to_chw_f32(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    norm: &Normalization,
) -> Result<Vec<f32>, ImageError> {
    to_chw_f32_with(
        src,
        width,
        height,
        channels,
        norm,
        &ExtraNormalization::default(),
    )
}

/// [`to_chw_f32`] with the extra steps of `extra`, in the reference's order: rescale
/// (`f64` product rounded to `f32`), offset (`x - 1` in `f32`), normalise, extra std division.
pub fn to_chw_f32_with(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    norm: &Normalization,
    extra: &ExtraNormalization,
) -> Result<Vec<f32>, ImageError> {
    let plane = width.checked_mul(height);
    if plane.and_then(|n| n.checked_mul(channels)) != Some(src.len()) {
        return Err(ImageError::InvalidArgument(format!(
            "normalize: buffer of {} bytes does not hold {width}x{height}x{channels} samples",
            src.len()
        )));
    }
    let plane = plane.unwrap_or(0);
    let (mean, std) = match &norm.mean_std {
        Some((m, s)) => (
            per_channel("image_mean", m, channels)?,
            per_channel("image_std", s, channels)?,
        ),
        None => (vec![0f32; channels], vec![1f32; channels]),
    };
    let extra_std = match &extra.extra_std {
        Some(s) => Some(per_channel("image_std", s, channels)?),
        None => None,
    };
    if let Some(f) = norm.rescale_factor {
        if !f.is_finite() {
            return Err(ImageError::InvalidArgument(
                "rescale_factor must be finite".into(),
            ));
        }
    }
    let mut out = vec![0f32; src.len()];
    for (i, px) in src.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            let mut x = match norm.rescale_factor {
                Some(f) => {
                    let x = (f64::from(v) * f) as f32;
                    if extra.rescale_offset {
                        x - 1.0
                    } else {
                        x
                    }
                }
                None => f32::from(v),
            };
            if norm.mean_std.is_some() {
                x = (x - mean[c]) / std[c];
            }
            if let Some(s) = &extra_std {
                // `(x - 0) / std`: subtracting a zero mean leaves every f32 unchanged.
                x /= s[c];
            }
            out[c * plane + i] = x;
        }
    }
    Ok(out)
}

/// Pads a channels-first `f32` image at the bottom and right to `out_height x out_width` with
/// `value`, returning the padded data and the pixel mask (1 for image pixels, 0 for padding),
/// as DETR-style processors do.
pub fn pad_chw(
    src: &[f32],
    channels: usize,
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
    value: f32,
) -> Result<(Vec<f32>, Vec<u8>), ImageError> {
    if channels
        .checked_mul(height)
        .and_then(|n| n.checked_mul(width))
        != Some(src.len())
    {
        return Err(ImageError::InvalidArgument(format!(
            "pad: buffer of {} values does not hold {channels}x{height}x{width}",
            src.len()
        )));
    }
    if out_height < height || out_width < width {
        return Err(ImageError::InvalidArgument(format!(
            "pad: target {out_height}x{out_width} is smaller than the image {height}x{width}"
        )));
    }
    let plane = out_height
        .checked_mul(out_width)
        .filter(|p| p.checked_mul(channels).is_some())
        .ok_or_else(|| ImageError::InvalidArgument("pad: target size too large".into()))?;
    let mut out = vec![value; plane * channels];
    let mut mask = vec![0u8; plane];
    for c in 0..channels {
        for y in 0..height {
            let s = (c * height + y) * width;
            let d = c * plane + y * out_width;
            out[d..d + width].copy_from_slice(&src[s..s + width]);
        }
    }
    for y in 0..height {
        mask[y * out_width..y * out_width + width].fill(1);
    }
    Ok((out, mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_larger_than_the_image_pads_with_zeros_centered() {
        // 1x1 image into 3x3: the pixel lands in the middle.
        let out = center_crop(&[9, 8, 7], 1, 1, 3, 3, 3).expect("crop");
        let mut want = vec![0u8; 27];
        want[12..15].copy_from_slice(&[9, 8, 7]);
        assert_eq!(out, want);
        // Width 2 into 3: ceil(1/2) = 1 column of padding on the left.
        let out = center_crop(&[1, 2], 2, 1, 1, 3, 1).expect("crop");
        assert_eq!(out, vec![0, 1, 2]);
        // Odd shrink: floor((5 - 2) / 2) = 1.
        let out = center_crop(&[1, 2, 3, 4, 5], 5, 1, 1, 2, 1).expect("crop");
        assert_eq!(out, vec![2, 3]);
        assert!(center_crop(&[1, 2], 2, 1, 1, 0, 1).is_err());
        assert!(center_crop(&[1, 2], 3, 1, 1, 1, 1).is_err());
    }

    #[test]
    fn rescale_and_normalize_follow_numpy_precision() {
        let norm = Normalization {
            rescale_factor: Some(1.0 / 255.0),
            mean_std: Some((vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225])),
        };
        let out = to_chw_f32(&[0, 128, 255, 10, 20, 30], 2, 1, 3, &norm).expect("normalize");
        // Channel-first: [r0, r1, g0, g1, b0, b1].
        let r1 = ((10.0f64 / 255.0) as f32 - 0.485f32) / 0.229f32;
        assert_eq!(out[1], r1);
        let g0 = ((128.0f64 * (1.0 / 255.0)) as f32 - 0.456f32) / 0.224f32;
        assert_eq!(out[2], g0);
        let bad = Normalization {
            rescale_factor: None,
            mean_std: Some((vec![0.5; 2], vec![0.5; 2])),
        };
        assert!(to_chw_f32(&[0; 3], 1, 1, 3, &bad).is_err());
        let nan = Normalization {
            rescale_factor: Some(f64::NAN),
            mean_std: None,
        };
        assert!(to_chw_f32(&[0; 3], 1, 1, 3, &nan).is_err());
        let none = Normalization {
            rescale_factor: None,
            mean_std: None,
        };
        assert_eq!(
            to_chw_f32(&[3, 4, 5], 1, 1, 3, &none).expect("plain"),
            vec![3.0, 4.0, 5.0]
        );
    }

    #[test]
    fn rescale_offset_and_extra_std_follow_efficientnet() {
        let norm = Normalization {
            rescale_factor: Some(1.0 / 127.5),
            mean_std: Some((
                vec![0.485, 0.456, 0.406],
                vec![0.47853944, 0.4732864, 0.47434163],
            )),
        };
        let extra = ExtraNormalization {
            rescale_offset: true,
            extra_std: Some(vec![0.47853944, 0.4732864, 0.47434163]),
        };
        let out =
            to_chw_f32_with(&[0, 128, 255, 10, 20, 30], 2, 1, 3, &norm, &extra).expect("normalize");
        // ((f32(v / 127.5) - 1) - mean) / std / std, every step in f32.
        let step =
            |v: u8, m: f32, s: f32| ((((f64::from(v) * (1.0 / 127.5)) as f32 - 1.0) - m) / s) / s;
        assert_eq!(out[0], step(0, 0.485, 0.47853944));
        assert_eq!(out[3], step(20, 0.456, 0.4732864));
        assert_eq!(out[4], step(255, 0.406, 0.47434163));
        // Without a rescale factor there is no offset; the extra std still divides.
        let plain = Normalization {
            rescale_factor: None,
            mean_std: None,
        };
        let out = to_chw_f32_with(&[3, 4, 5], 1, 1, 3, &plain, &extra).expect("plain");
        assert_eq!(
            out,
            vec![3.0 / 0.47853944f32, 4.0 / 0.4732864f32, 5.0 / 0.47434163f32]
        );
        let bad = ExtraNormalization {
            rescale_offset: false,
            extra_std: Some(vec![0.5; 2]),
        };
        assert!(to_chw_f32_with(&[0; 3], 1, 1, 3, &plain, &bad).is_err());
        // The default extras change nothing.
        assert_eq!(
            to_chw_f32_with(&[7, 8, 9], 1, 1, 3, &norm, &ExtraNormalization::default()),
            to_chw_f32(&[7, 8, 9], 1, 1, 3, &norm)
        );
    }

    #[test]
    fn pad_fills_bottom_right_and_masks() {
        let (out, mask) = pad_chw(&[1.0, 2.0], 2, 1, 1, 2, 2, 0.0).expect("pad");
        assert_eq!(out, vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0]);
        assert_eq!(mask, vec![1, 0, 0, 0]);
        assert!(pad_chw(&[1.0], 1, 1, 1, 0, 1, 0.0).is_err());
        assert!(pad_chw(&[1.0, 2.0], 1, 1, 1, 1, 1, 0.0).is_err());
    }
}
