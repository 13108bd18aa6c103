//! Bindings for `hf_tasks_core::image`: decoding and preprocessing of encoded images, both on
//! the libuv thread pool (never on the event loop). Errors reach JS as `"<CODE>: <message>"`
//! (an async task can only reject with a napi status); the TS wrapper restores the code.

use hf_tasks_core::image::transform::Normalization;
use hf_tasks_core::image::{self as core, DecodeOptions, Filter, ImageError, PreprocessConfig};
use hf_tasks_core::Error;
use napi::bindgen_prelude::{AsyncTask, Float32Array, Result, Uint8Array};
use napi::{Env, Status, Task};
use napi_derive::napi;

use crate::errors::{guard, Code};

/// Decoding options.
#[napi(object)]
#[derive(Default)]
pub struct NativeDecodeOptions {
    /// Largest accepted `width * height`, checked from the header before decoding
    /// (default 178956970, Pillow's decompression-bomb limit).
    pub max_pixels: Option<f64>,
    /// Apply the EXIF orientation (default true).
    pub apply_exif_orientation: Option<bool>,
}

/// A target size in pixels.
#[napi(object)]
pub struct NativeImageSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Preprocessing steps, applied in this order: resize, center crop, rescale, normalise.
#[napi(object)]
#[derive(Default)]
pub struct NativePreprocessOptions {
    /// Resize target; absent keeps the decoded size.
    pub resize: Option<NativeImageSize>,
    /// Pillow filter code: 0 nearest, 1 lanczos, 2 bilinear (default), 3 bicubic, 4 box,
    /// 5 hamming.
    pub resample: Option<u32>,
    /// Center crop size (zero padding where larger than the image).
    pub center_crop: Option<NativeImageSize>,
    /// Multiply by this (e.g. 1/255); absent skips the rescale.
    pub rescale_factor: Option<f64>,
    /// Per-channel mean (1 or 3 values); with `imageStd`, enables normalisation.
    pub image_mean: Option<Vec<f64>>,
    /// Per-channel std (1 or 3 values).
    pub image_std: Option<Vec<f64>>,
}

/// A decoded image: oriented RGB, row-major, 3 bytes per pixel.
#[napi(object)]
pub struct NativeDecodedImage {
    /// Width after orientation.
    pub width: u32,
    /// Height after orientation.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Uint8Array,
    /// Container format: jpeg, png, webp, gif, bmp or tiff.
    pub format: String,
    /// EXIF orientation found (1..8; 1 when absent or not applied).
    pub orientation: u32,
}

/// A preprocessed image: `pixelValues` of shape `[3, height, width]` plus the decoded size.
#[napi(object)]
pub struct NativePixelValues {
    /// Channels-first float32 values.
    pub pixel_values: Float32Array,
    /// `[3, height, width]`.
    pub shape: Vec<u32>,
    /// Decoded (oriented) width, before resizing.
    pub original_width: u32,
    /// Decoded (oriented) height, before resizing.
    pub original_height: u32,
}

fn decode_options(options: Option<NativeDecodeOptions>) -> hf_tasks_core::Result<DecodeOptions> {
    let options = options.unwrap_or_default();
    let mut out = DecodeOptions::default();
    if let Some(max) = options.max_pixels {
        if !(max.is_finite() && max >= 1.0 && max.fract() == 0.0 && max <= 9_007_199_254_740_991.0)
        {
            return Err(Error::InvalidArgument(format!(
                "maxPixels must be a positive integer, got {max}"
            )));
        }
        out.max_pixels = max as u64;
    }
    if let Some(apply) = options.apply_exif_orientation {
        out.apply_exif_orientation = apply;
    }
    Ok(out)
}

fn preprocess_config(
    options: Option<NativePreprocessOptions>,
) -> hf_tasks_core::Result<PreprocessConfig> {
    let o = options.unwrap_or_default();
    let filter = Filter::from_pil(i64::from(o.resample.unwrap_or(2)))?;
    let mean_std = match (o.image_mean, o.image_std) {
        (Some(m), Some(s)) => Some((m, s)),
        (None, None) => None,
        _ => {
            return Err(ImageError::InvalidArgument(
                "imageMean and imageStd must be given together".into(),
            )
            .into())
        }
    };
    Ok(PreprocessConfig {
        resize: o.resize.map(|s| (s.width, s.height, filter)),
        center_crop: o.center_crop.map(|s| (s.width, s.height)),
        normalization: Normalization {
            rescale_factor: o.rescale_factor,
            mean_std,
        },
    })
}

fn to_napi(e: napi::Error<Code>) -> napi::Error {
    napi::Error::new(
        Status::GenericFailure,
        format!("{}: {}", e.status.0, e.reason),
    )
}

/// Decodes on the thread pool.
pub struct DecodeTask {
    bytes: Vec<u8>,
    options: DecodeOptions,
}

impl Task for DecodeTask {
    type Output = core::Decoded;
    type JsValue = NativeDecodedImage;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| Ok(core::decode(&self.bytes, &self.options)?)).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, d: Self::Output) -> napi::Result<Self::JsValue> {
        let (width, height) = (d.image.width(), d.image.height());
        Ok(NativeDecodedImage {
            width,
            height,
            data: Uint8Array::new(d.image.into_data()),
            format: d.format.to_string(),
            orientation: u32::from(d.orientation),
        })
    }
}

/// Decodes and preprocesses on the thread pool.
pub struct PreprocessTask {
    bytes: Vec<u8>,
    options: DecodeOptions,
    config: PreprocessConfig,
}

impl Task for PreprocessTask {
    type Output = (core::Tensor, u32, u32);
    type JsValue = NativePixelValues;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            let decoded = core::decode(&self.bytes, &self.options)?;
            let (w, h) = (decoded.image.width(), decoded.image.height());
            Ok((core::preprocess(&decoded.image, &self.config)?, w, h))
        })
        .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<Self::JsValue> {
        let (tensor, original_width, original_height) = out;
        let shape = tensor
            .shape
            .iter()
            .map(|&d| u32::try_from(d))
            .collect::<std::result::Result<Vec<u32>, _>>()
            .map_err(|_| {
                napi::Error::new(Status::GenericFailure, "ERR_INTERNAL: shape overflow")
            })?;
        Ok(NativePixelValues {
            pixel_values: Float32Array::new(tensor.data),
            shape,
            original_width,
            original_height,
        })
    }
}

/// Decodes an encoded image (JPEG, PNG, WebP, GIF first frame, BMP, TIFF) to oriented RGB,
/// off the event loop.
#[napi(
    js_name = "decodeImage",
    ts_return_type = "Promise<NativeDecodedImage>"
)]
pub fn decode_image(
    bytes: Uint8Array,
    options: Option<NativeDecodeOptions>,
) -> Result<AsyncTask<DecodeTask>, Code> {
    let options = guard(|| decode_options(options))?;
    Ok(AsyncTask::new(DecodeTask {
        bytes: bytes.to_vec(),
        options,
    }))
}

/// Decodes an encoded image and preprocesses it as transformers' slow image processors do
/// (Pillow-exact resize, center crop, rescale, normalise), off the event loop.
#[napi(
    js_name = "preprocessImage",
    ts_return_type = "Promise<NativePixelValues>"
)]
pub fn preprocess_image(
    bytes: Uint8Array,
    preprocess: Option<NativePreprocessOptions>,
    options: Option<NativeDecodeOptions>,
) -> Result<AsyncTask<PreprocessTask>, Code> {
    let (options, config) =
        guard(|| Ok((decode_options(options)?, preprocess_config(preprocess)?)))?;
    Ok(AsyncTask::new(PreprocessTask {
        bytes: bytes.to_vec(),
        options,
        config,
    }))
}
