//! Output sizes of the resize step, computed as transformers 4.57 does (float64 arithmetic,
//! truncation with `int()`, banker's rounding with `round()`).

use super::ImageError;

fn check(height: u32, width: u32, size: u32) -> Result<(), ImageError> {
    if height == 0 || width == 0 || size == 0 {
        return Err(ImageError::InvalidArgument(format!(
            "size: image {height}x{width} and target {size} must be non-zero"
        )));
    }
    Ok(())
}

/// `image_transforms.get_resize_output_image_size(image, size, default_to_square=False,
/// max_size)`: the shorter edge becomes `size`, the longer one `int(size * long / short)`;
/// when that exceeds `max_size`, the longer edge becomes `max_size` and the shorter one
/// `int(max_size * short / long)`. Returns `(height, width)`.
pub fn shortest_edge_size(
    height: u32,
    width: u32,
    size: u32,
    max_size: Option<u32>,
) -> Result<(u32, u32), ImageError> {
    check(height, width, size)?;
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let mut new_short = u64::from(size);
    let mut new_long = ((u64::from(size) * u64::from(long)) as f64 / f64::from(short)) as u64;
    if let Some(max) = max_size {
        if max <= size {
            return Err(ImageError::InvalidArgument(format!(
                "max_size = {max} must be strictly greater than the requested size for the \
                 smaller edge size = {size}"
            )));
        }
        if new_long > u64::from(max) {
            new_short = ((u64::from(max) * new_short) as f64 / new_long as f64) as u64;
            new_long = u64::from(max);
        }
    }
    let fit = |v: u64| {
        u32::try_from(v).map_err(|_| ImageError::InvalidArgument(format!("size: {v} too large")))
    };
    let (new_short, new_long) = (fit(new_short)?, fit(new_long)?);
    Ok(if width <= height {
        (new_long, new_short)
    } else {
        (new_short, new_long)
    })
}

/// DETR's `get_size_with_aspect_ratio(image_size, size, max_size)` (also used by YOLOS,
/// Conditional/Deformable DETR): `size` for the shorter edge unless the longer one would exceed
/// `max_size`; an image whose shorter edge already equals the size keeps its size. Returns
/// `(height, width)`.
pub fn detr_size(
    height: u32,
    width: u32,
    size: u32,
    max_size: Option<u32>,
) -> Result<(u32, u32), ImageError> {
    check(height, width, size)?;
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
    let (oh, ow) = if (h <= w && h == size) || (w <= h && w == size) {
        (h, w)
    } else if w < h {
        (
            raw_size.map_or(size * h / w, |raw| raw * h / w).trunc(),
            size,
        )
    } else {
        (
            size,
            raw_size.map_or(size * w / h, |raw| raw * w / h).trunc(),
        )
    };
    let fit = |v: f64| {
        if (0.0..=f64::from(u32::MAX)).contains(&v) {
            Ok(v as u32)
        } else {
            Err(ImageError::InvalidArgument(format!(
                "size: {v} out of range"
            )))
        }
    };
    Ok((fit(oh)?, fit(ow)?))
}
