//! Resizing of 8-bit interleaved images, bit-exact with Pillow's `Image.resize` (no `box`, no
//! `reducing_gap`: the call transformers makes).
//!
//! The convolution filters follow Pillow's separable fixed-point resampler: per axis, the
//! filter support widens with the downscale factor (antialiasing); per output sample the
//! weights are computed in `f64`, normalised to sum 1, then quantised to `i32` with 22
//! fractional bits (rounded half away from zero). Each pass accumulates from `1 << 21` and
//! clips `sum >> 22` to 0..=255. The horizontal pass runs first, over only the rows the
//! vertical pass reads, and its result is stored as 8-bit before the vertical pass — except
//! when the height shrinks by more than twice as many pixels as the width (Pillow 13 then runs
//! the vertical pass first). A pass is skipped when its axis keeps its size.
//!
//! `Nearest` follows Pillow's affine scale: the source coordinate starts at half a step and is
//! advanced by repeated `f64` addition, then truncated.

use super::ImageError;

/// Resampling filters, numbered as `PIL.Image.Resampling` (and `preprocessor_config.json`'s
/// `resample` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// 0: nearest neighbour.
    Nearest,
    /// 1: Lanczos (windowed sinc, support 3).
    Lanczos,
    /// 2: bilinear (triangle, support 1).
    Bilinear,
    /// 3: bicubic (Keys, a = -0.5, support 2).
    Bicubic,
    /// 4: box (support 0.5).
    Box,
    /// 5: Hamming-windowed sinc (support 1).
    Hamming,
}

impl Filter {
    /// The filter for Pillow's integer code.
    pub fn from_pil(code: i64) -> Result<Self, ImageError> {
        Ok(match code {
            0 => Filter::Nearest,
            1 => Filter::Lanczos,
            2 => Filter::Bilinear,
            3 => Filter::Bicubic,
            4 => Filter::Box,
            5 => Filter::Hamming,
            other => {
                return Err(ImageError::InvalidArgument(format!(
                    "unknown resampling filter {other}: expected 0 (nearest), 1 (lanczos), \
                     2 (bilinear), 3 (bicubic), 4 (box) or 5 (hamming)"
                )))
            }
        })
    }

    /// The filter for a lower-case name ("nearest", "bilinear", "bicubic", "lanczos", "box",
    /// "hamming").
    pub fn from_name(name: &str) -> Result<Self, ImageError> {
        Ok(match name {
            "nearest" => Filter::Nearest,
            "lanczos" => Filter::Lanczos,
            "bilinear" => Filter::Bilinear,
            "bicubic" => Filter::Bicubic,
            "box" => Filter::Box,
            "hamming" => Filter::Hamming,
            other => {
                return Err(ImageError::InvalidArgument(format!(
                    "unknown resampling filter \"{other}\": expected nearest, bilinear, bicubic, \
                     lanczos, box or hamming"
                )))
            }
        })
    }

    /// Pillow's integer code of this filter.
    pub fn pil_code(self) -> u8 {
        match self {
            Filter::Nearest => 0,
            Filter::Lanczos => 1,
            Filter::Bilinear => 2,
            Filter::Bicubic => 3,
            Filter::Box => 4,
            Filter::Hamming => 5,
        }
    }

    fn support(self) -> f64 {
        match self {
            Filter::Nearest => 0.0,
            Filter::Box => 0.5,
            Filter::Bilinear | Filter::Hamming => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Nearest => 0.0,
            Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    // The window constants are single-precision literals in the reference.
                    x.sin() / x * (f64::from(0.54f32) + f64::from(0.46f32) * x.cos())
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Largest target `width * height` [`resize`] accepts (the default decoding pixel limit,
/// Pillow's decompression-bomb threshold); larger targets are refused before any allocation.
pub const MAX_RESIZE_PIXELS: usize = super::decode::DEFAULT_MAX_PIXELS as usize;

/// Per-output-sample source window and fixed-point weights for one axis.
struct Coeffs {
    ksize: usize,
    /// (first source index, number of taps) per output sample.
    bounds: Vec<(usize, usize)>,
    /// `ksize` weights per output sample.
    weights: Vec<i32>,
}

fn precompute(in_size: usize, out_size: usize, filter: Filter) -> Result<Coeffs, ImageError> {
    // The region is given as single-precision floats, as in the reference.
    let in0 = 0f32;
    let in1 = in_size as f32;
    let scale = f64::from(in1 - in0) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = (support.ceil() as usize) * 2 + 1;
    let total = out_size
        .checked_mul(ksize)
        .ok_or_else(|| ImageError::InvalidArgument("resize: coefficient table too large".into()))?;
    let mut weights = vec![0i32; total];
    let mut bounds = Vec::with_capacity(out_size);
    let inv_filterscale = 1.0 / filterscale;
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = f64::from(in0) + (xx as f64 + 0.5) * scale;
        // `(int)` truncates toward zero, then the window is clamped to the image.
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64);
        let n = (xmax - xmin).max(0) as usize;
        let n = n.min(ksize);
        let xmin = xmin as usize;
        let mut ww = 0.0;
        for (x, slot) in k.iter_mut().enumerate().take(n) {
            let w = filter.weight(((x + xmin) as f64 - center + 0.5) * inv_filterscale);
            *slot = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..(xx + 1) * ksize];
        for (x, slot) in row.iter_mut().enumerate().take(n) {
            let mut w = k[x];
            if ww != 0.0 {
                w /= ww;
            }
            let scaled = w * f64::from(1u32 << PRECISION_BITS);
            *slot = if w < 0.0 {
                (-0.5 + scaled) as i32
            } else {
                (0.5 + scaled) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Ok(Coeffs {
        ksize,
        bounds,
        weights,
    })
}

#[inline]
fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

fn check_dims(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    out_width: usize,
    out_height: usize,
) -> Result<(), ImageError> {
    if channels == 0 || channels > 4 {
        return Err(ImageError::InvalidArgument(format!(
            "resize: channels must be 1 to 4, got {channels}"
        )));
    }
    if width == 0 || height == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "resize: source image has zero size ({width}x{height})"
        )));
    }
    if out_width == 0 || out_height == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "resize: target size must be at least 1x1, got {out_width}x{out_height}"
        )));
    }
    let need = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels));
    if need != Some(src.len()) {
        return Err(ImageError::InvalidArgument(format!(
            "resize: buffer of {} bytes does not hold {width}x{height}x{channels} samples",
            src.len()
        )));
    }
    let out = out_width
        .checked_mul(out_height)
        .and_then(|n| n.checked_mul(channels));
    if out.is_none() || out_width > i32::MAX as usize || out_height > i32::MAX as usize {
        return Err(ImageError::InvalidArgument(format!(
            "resize: target size {out_width}x{out_height} is too large"
        )));
    }
    Ok(())
}

/// Which pass runs first when both axes change size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassOrder {
    /// Pillow 13: vertical first when the height shrinks by more than twice as many pixels as
    /// the width, horizontal first otherwise.
    #[default]
    Pillow13,
    /// Pillow 12 and earlier: always horizontal first.
    HorizontalFirst,
}

/// Resizes an interleaved 8-bit image (`channels` samples per pixel, row-major) to
/// `out_width x out_height` with `filter`, as Pillow 13 does for modes L and RGB.
pub fn resize(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    out_width: usize,
    out_height: usize,
    filter: Filter,
) -> Result<Vec<u8>, ImageError> {
    resize_with_order(
        src,
        width,
        height,
        channels,
        out_width,
        out_height,
        filter,
        PassOrder::Pillow13,
    )
}

/// [`resize`] with an explicit pass order (the results of the orders differ by rounding).
#[allow(clippy::too_many_arguments)]
pub fn resize_with_order(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    out_width: usize,
    out_height: usize,
    filter: Filter,
    order: PassOrder,
) -> Result<Vec<u8>, ImageError> {
    check_dims(src, width, height, channels, out_width, out_height)?;
    if width == out_width && height == out_height {
        return Ok(src.to_vec());
    }
    if filter == Filter::Nearest {
        return Ok(resize_nearest(
            src, width, height, channels, out_width, out_height,
        ));
    }
    let need_horizontal = out_width != width;
    let need_vertical = out_height != height;
    if !need_vertical {
        let horiz = precompute(width, out_width, filter)?;
        return Ok(horizontal_pass(src, width, channels, 0..height, &horiz));
    }
    let vert = precompute(height, out_height, filter)?;
    if !need_horizontal {
        return Ok(vertical_pass(src, width, channels, 0, &vert));
    }
    let horiz = precompute(width, out_width, filter)?;
    // Pillow 13 runs the vertical pass first when the height shrinks by more than twice as
    // many pixels as the width does; otherwise the horizontal pass comes first.
    let (w, h, ow, oh) = (
        width as i64,
        height as i64,
        out_width as i64,
        out_height as i64,
    );
    if order == PassOrder::Pillow13 && oh < h && (h - oh) > 2 * (w - ow) {
        let tmp = vertical_pass(src, width, channels, 0, &vert);
        Ok(horizontal_pass(
            &tmp,
            width,
            channels,
            0..out_height,
            &horiz,
        ))
    } else {
        // Only the source rows the vertical pass reads go through the horizontal pass.
        let first_row = vert.bounds.first().map_or(0, |b| b.0);
        let last_row = vert
            .bounds
            .iter()
            .map(|b| b.0 + b.1)
            .max()
            .unwrap_or(height)
            .min(height);
        let tmp = horizontal_pass(src, width, channels, first_row..last_row, &horiz);
        Ok(vertical_pass(&tmp, out_width, channels, first_row, &vert))
    }
}

/// Convolves the rows `rows` of `src` (`width` pixels each) horizontally.
fn horizontal_pass(
    src: &[u8],
    width: usize,
    channels: usize,
    rows: std::ops::Range<usize>,
    horiz: &Coeffs,
) -> Vec<u8> {
    let out_width = horiz.bounds.len();
    let mut out = vec![0u8; rows.len() * out_width * channels];
    for (out_row, y) in out.chunks_exact_mut(out_width * channels).zip(rows) {
        let in_row = &src[y * width * channels..(y + 1) * width * channels];
        for (xx, &(xmin, n)) in horiz.bounds.iter().enumerate() {
            let k = &horiz.weights[xx * horiz.ksize..xx * horiz.ksize + n];
            for c in 0..channels {
                let mut ss: i64 = 1 << (PRECISION_BITS - 1);
                for (x, &w) in k.iter().enumerate() {
                    ss += i64::from(in_row[(x + xmin) * channels + c]) * i64::from(w);
                }
                out_row[xx * channels + c] = clip8(ss);
            }
        }
    }
    out
}

/// Convolves `src` (`width` pixels per row, its first row being source row `row_offset`)
/// vertically.
fn vertical_pass(
    src: &[u8],
    width: usize,
    channels: usize,
    row_offset: usize,
    vert: &Coeffs,
) -> Vec<u8> {
    let stride = width * channels;
    let mut out = vec![0u8; vert.bounds.len() * stride];
    for (yy, out_row) in out.chunks_exact_mut(stride).enumerate() {
        let (ymin, n) = vert.bounds[yy];
        let ymin = ymin - row_offset;
        let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + n];
        for (i, slot) in out_row.iter_mut().enumerate() {
            let mut ss: i64 = 1 << (PRECISION_BITS - 1);
            for (y, &w) in k.iter().enumerate() {
                ss += i64::from(src[(y + ymin) * stride + i]) * i64::from(w);
            }
            *slot = clip8(ss);
        }
    }
    out
}

/// Source index per output index for nearest neighbour, or `None` where the reference
/// leaves the output sample at 0 (a coordinate outside the image).
fn nearest_table(in_size: usize, out_size: usize) -> Vec<Option<usize>> {
    let step = f64::from(in_size as f32) / out_size as f64;
    let mut pos = step * 0.5;
    let mut table = Vec::with_capacity(out_size);
    for _ in 0..out_size {
        let idx = if pos < 0.0 { -1 } else { pos as i64 };
        table.push(if idx >= 0 && (idx as usize) < in_size {
            Some(idx as usize)
        } else {
            None
        });
        pos += step;
    }
    table
}

fn resize_nearest(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    out_width: usize,
    out_height: usize,
) -> Vec<u8> {
    let xs = nearest_table(width, out_width);
    let ys = nearest_table(height, out_height);
    let stride = out_width * channels;
    let mut out = vec![0u8; out_height * stride];
    for (out_row, y) in out.chunks_exact_mut(stride).zip(&ys) {
        let Some(y) = *y else { continue };
        let in_row = &src[y * width * channels..(y + 1) * width * channels];
        for (px, x) in out_row.chunks_exact_mut(channels).zip(&xs) {
            if let Some(x) = *x {
                px.copy_from_slice(&in_row[x * channels..(x + 1) * channels]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_codes_round_trip_and_unknown_ones_are_refused() {
        for code in 0..=5 {
            assert_eq!(
                i64::from(Filter::from_pil(code).expect("known").pil_code()),
                code
            );
        }
        assert_eq!(
            Filter::from_pil(6).expect_err("unknown").code(),
            "ERR_INVALID_ARGUMENT"
        );
        assert_eq!(Filter::from_name("bilinear"), Ok(Filter::Bilinear));
        assert!(Filter::from_name("cubic").is_err());
    }

    #[test]
    fn bad_dimensions_are_refused() {
        let px = [0u8; 12];
        let bad = |r: Result<Vec<u8>, ImageError>| r.expect_err("refused").code();
        assert_eq!(
            bad(resize(&px, 2, 2, 3, 0, 1, Filter::Bilinear)),
            "ERR_INVALID_ARGUMENT"
        );
        assert_eq!(
            bad(resize(&px, 2, 2, 3, 1, 0, Filter::Nearest)),
            "ERR_INVALID_ARGUMENT"
        );
        assert_eq!(
            bad(resize(&px, 0, 2, 3, 1, 1, Filter::Box)),
            "ERR_INVALID_ARGUMENT"
        );
        assert_eq!(
            bad(resize(&px, 2, 3, 3, 1, 1, Filter::Box)),
            "ERR_INVALID_ARGUMENT"
        );
        assert_eq!(
            bad(resize(&px, 2, 2, 5, 1, 1, Filter::Box)),
            "ERR_INVALID_ARGUMENT"
        );
        let huge = usize::MAX / 2;
        assert_eq!(
            bad(resize(&px, 2, 2, 3, huge, huge, Filter::Box)),
            "ERR_INVALID_ARGUMENT"
        );
    }

    #[test]
    fn constant_images_stay_constant_for_every_filter() {
        let px = vec![77u8; 9 * 4 * 3];
        for code in 0..=5 {
            let filter = Filter::from_pil(code).expect("filter");
            for (w, h) in [(1, 1), (5, 2), (20, 9), (9, 13)] {
                let out = resize(&px, 9, 4, 3, w, h, filter).expect("resize");
                assert_eq!(out.len(), w * h * 3);
                assert!(out.iter().all(|&v| v == 77), "{filter:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn pass_orders_match_two_single_axis_resizes() {
        let px: Vec<u8> = (0..40 * 30 * 3).map(|i| ((i * 37) % 251) as u8).collect();
        for code in 1..=5 {
            let f = Filter::from_pil(code).expect("filter");
            let hv = resize(&px, 40, 30, 3, 30, 30, f).expect("h");
            let hv = resize(&hv, 30, 30, 3, 30, 4, f).expect("v");
            let vh = resize(&px, 40, 30, 3, 40, 4, f).expect("v");
            let vh = resize(&vh, 40, 4, 3, 30, 4, f).expect("h");
            assert_ne!(hv, vh, "{f:?}: the orders should differ on this input");
            // The height shrinks by 26 > 2 * (40 - 30): Pillow 13 goes vertical first.
            assert_eq!(resize(&px, 40, 30, 3, 30, 4, f).expect("13"), vh, "{f:?}");
            let legacy = resize_with_order(&px, 40, 30, 3, 30, 4, f, PassOrder::HorizontalFirst);
            assert_eq!(legacy.expect("12"), hv, "{f:?}");
        }
    }

    #[test]
    fn same_size_is_a_copy_and_one_channel_works() {
        let px: Vec<u8> = (0..20).collect();
        assert_eq!(
            resize(&px, 5, 4, 1, 5, 4, Filter::Lanczos).expect("copy"),
            px
        );
        let out = resize(&px, 5, 4, 1, 10, 8, Filter::Nearest).expect("nearest");
        assert_eq!(&out[..4], &[0, 0, 1, 1]);
    }
}
