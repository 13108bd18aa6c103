//! One image through the slow image processor chain: resize → center crop → rescale →
//! normalise → channels first (the order of `BaseImageProcessor` subclasses such as ViT,
//! DeiT, ConvNeXt, CLIP and DETR before padding).

use super::transform::{center_crop, to_chw_f32_with, ExtraNormalization, Normalization};
use super::{Filter, ImageError, RgbImage};

/// Preprocessing settings (already resolved to pixel sizes by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    /// Target `(width, height)` and filter; `None` keeps the size.
    pub resize: Option<(u32, u32, Filter)>,
    /// Center crop `(width, height)`; `None` skips it.
    pub center_crop: Option<(u32, u32)>,
    /// Rescale factor and mean/std.
    pub normalization: Normalization,
}

impl PreprocessConfig {
    /// The `ViTImageProcessor` defaults: 224x224 bilinear, `1/255`, mean = std = 0.5.
    pub fn vit_defaults() -> Self {
        Self {
            resize: Some((224, 224, Filter::Bilinear)),
            center_crop: None,
            normalization: Normalization {
                rescale_factor: Some(1.0 / 255.0),
                mean_std: Some((vec![0.5; 3], vec![0.5; 3])),
            },
        }
    }
}

/// A dense `f32` tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

/// Runs the chain on one RGB image and returns `pixel_values` of shape `[3, height, width]`.
pub fn preprocess(image: &RgbImage, config: &PreprocessConfig) -> Result<Tensor, ImageError> {
    preprocess_with(image, config, &ExtraNormalization::default())
}

/// [`preprocess`] with a processor's extra rescale/normalisation steps (EfficientNet's
/// `rescale_offset` and `include_top`).
pub fn preprocess_with(
    image: &RgbImage,
    config: &PreprocessConfig,
    extra: &ExtraNormalization,
) -> Result<Tensor, ImageError> {
    let resized;
    let mut current = image;
    if let Some((w, h, filter)) = config.resize {
        resized = image.resize(w, h, filter)?;
        current = &resized;
    }
    let (mut width, mut height) = (current.width() as usize, current.height() as usize);
    let cropped;
    let mut pixels = current.data();
    if let Some((cw, ch)) = config.center_crop {
        cropped = center_crop(pixels, width, height, 3, cw as usize, ch as usize)?;
        pixels = &cropped;
        width = cw as usize;
        height = ch as usize;
    }
    let data = to_chw_f32_with(pixels, width, height, 3, &config.normalization, extra)?;
    Ok(Tensor {
        shape: vec![3, height, width],
        data,
    })
}
