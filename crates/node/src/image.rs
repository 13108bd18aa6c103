//! Bindings for `hf_tasks_core::image`: decoding and preprocessing of encoded images, both on
//! the libuv thread pool (never on the event loop). Errors reach JS as `"<CODE>: <message>"`
//! (an async task can only reject with a napi status); the TS wrapper restores the code.

use hf_tasks_core::image::processor::{PreCrop, ProcessorSpec, ResizeMode};
use hf_tasks_core::image::transform::{ExtraNormalization, Normalization};
use hf_tasks_core::image::{
    self as core, maskformer, segment, DecodeOptions, Filter, ImageError, PreprocessConfig,
};
use hf_tasks_core::mask;
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
            let limit = self.options.max_pixels;
            if let Some((w, h, _)) = self.config.resize {
                core::processor::within(u64::from(w), u64::from(h), limit)?;
            }
            if let Some((w, h)) = self.config.center_crop {
                core::processor::within(u64::from(w), u64::from(h), limit)?;
            }
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

/// An image processor's settings (from `preprocessor_config.json`), resolved per image.
#[napi(object)]
#[derive(Default)]
pub struct NativeProcessorSpec {
    /// Resize rule: `exact` (`width`, `height`), `shortest_edge` (`shortestEdge`, optional
    /// `longestEdge` as max size), `convnext` (`shortestEdge`, `cropPct`), `detr` or `yolos`
    /// (`shortestEdge`, optional `longestEdge`), `maskformer` (`shortestEdge`, `longestEdge`,
    /// `sizeDivisor`); absent keeps the decoded size.
    pub resize_mode: Option<String>,
    /// Exact target width.
    pub width: Option<u32>,
    /// Exact target height.
    pub height: Option<u32>,
    /// Target of the shorter edge.
    pub shortest_edge: Option<u32>,
    /// Cap of the longer edge.
    pub longest_edge: Option<u32>,
    /// ConvNeXt `crop_pct`.
    pub crop_pct: Option<f64>,
    /// Pillow filter code (default 2, bilinear).
    pub resample: Option<u32>,
    /// Center crop after resizing.
    pub center_crop: Option<NativeImageSize>,
    /// Multiply by this (e.g. 1/255); absent skips the rescale.
    pub rescale_factor: Option<f64>,
    /// Per-channel mean (1 or 3 values), with `imageStd`.
    pub image_mean: Option<Vec<f64>>,
    /// Per-channel std (1 or 3 values).
    pub image_std: Option<Vec<f64>>,
    /// Subtract 1 after the rescale (EfficientNet's `rescale_offset`); default false.
    pub rescale_offset: Option<bool>,
    /// Divide by this per-channel std (1 or 3 values) once more after normalising
    /// (EfficientNet's `include_top`); absent skips it.
    pub extra_std: Option<Vec<f64>>,
    /// `dpt` mode: keep the aspect ratio (the scale closer to 1 wins); default false.
    pub keep_aspect_ratio: Option<bool>,
    /// `dpt` mode: round each side to a multiple of this (default 1).
    pub ensure_multiple_of: Option<u32>,
    /// Swap the red and blue channels at the end (MobileViT); default false.
    pub flip_channel_order: Option<bool>,
    /// Zero-pad the normalised image, centered, to multiples of this (DPT's `do_pad`).
    pub size_divisor: Option<u32>,
    /// Perceiver's center crop before the resize: `int(size / crop_size * min(height, width))`
    /// per axis, from these four numbers.
    pub pre_crop: Option<NativePreCrop>,
    /// MaskFormer's `size_divisor`: both resized sides rounded up to a multiple (0: none).
    pub resize_divisor: Option<u32>,
}

/// Perceiver's pre-resize crop settings (`size` and `crop_size`).
#[napi(object)]
pub struct NativePreCrop {
    /// `size["height"]`.
    pub size_height: u32,
    /// `size["width"]`.
    pub size_width: u32,
    /// `crop_size["height"]`.
    pub crop_height: u32,
    /// `crop_size["width"]`.
    pub crop_width: u32,
}

fn need(v: Option<u32>, mode: &str, name: &str) -> hf_tasks_core::Result<u32> {
    match v {
        Some(v) if v > 0 => Ok(v),
        _ => Err(ImageError::InvalidArgument(format!(
            "resize mode {mode} needs a positive {name}"
        ))
        .into()),
    }
}

fn processor_spec(spec: NativeProcessorSpec) -> hf_tasks_core::Result<ProcessorSpec> {
    let base = preprocess_config(Some(NativePreprocessOptions {
        resize: None,
        resample: spec.resample,
        center_crop: spec.center_crop,
        rescale_factor: spec.rescale_factor,
        image_mean: spec.image_mean,
        image_std: spec.image_std,
    }))?;
    let filter = Filter::from_pil(i64::from(spec.resample.unwrap_or(2)))?;
    let resize = match spec.resize_mode.as_deref() {
        None => None,
        Some(m @ "exact") => Some(ResizeMode::Exact {
            width: need(spec.width, m, "width")?,
            height: need(spec.height, m, "height")?,
        }),
        Some(m @ "shortest_edge") => Some(ResizeMode::ShortestEdge {
            size: need(spec.shortest_edge, m, "shortestEdge")?,
            max_size: spec.longest_edge,
        }),
        Some(m @ "convnext") => Some(ResizeMode::ConvNext {
            shortest_edge: need(spec.shortest_edge, m, "shortestEdge")?,
            crop_pct: spec.crop_pct.unwrap_or(224.0 / 256.0),
        }),
        Some(m @ "detr") => Some(ResizeMode::Detr {
            shortest_edge: need(spec.shortest_edge, m, "shortestEdge")?,
            longest_edge: spec.longest_edge,
        }),
        Some(m @ "yolos") => Some(ResizeMode::Yolos {
            shortest_edge: need(spec.shortest_edge, m, "shortestEdge")?,
            longest_edge: spec.longest_edge,
            mod_size: 16,
        }),
        Some(m @ "dpt") => Some(ResizeMode::Dpt {
            width: need(spec.width, m, "width")?,
            height: need(spec.height, m, "height")?,
            keep_aspect_ratio: spec.keep_aspect_ratio.unwrap_or(false),
            multiple: need(
                Some(spec.ensure_multiple_of.unwrap_or(1)),
                m,
                "ensureMultipleOf",
            )?,
        }),
        Some(m @ "maskformer") => Some(ResizeMode::MaskFormer {
            shortest_edge: need(spec.shortest_edge, m, "shortestEdge")?,
            longest_edge: need(spec.longest_edge, m, "longestEdge")?,
            size_divisor: spec.resize_divisor.unwrap_or(0),
        }),
        Some(other) => {
            return Err(ImageError::InvalidArgument(format!(
                "unknown resize mode {other:?} (exact, shortest_edge, convnext, detr, yolos, dpt, \
                 maskformer)"
            ))
            .into())
        }
    };
    Ok(ProcessorSpec {
        resize,
        filter,
        center_crop: base.center_crop,
        normalization: base.normalization,
        extra: ExtraNormalization {
            rescale_offset: spec.rescale_offset.unwrap_or(false),
            extra_std: spec.extra_std,
        },
        pre_crop: spec.pre_crop.map(|c| PreCrop {
            size_height: c.size_height,
            size_width: c.size_width,
            crop_height: c.crop_height,
            crop_width: c.crop_width,
        }),
        flip_channel_order: spec.flip_channel_order.unwrap_or(false),
        pad_size_divisor: spec.size_divisor,
    })
}

/// Decodes and runs an image processor on the thread pool.
pub struct ProcessTask {
    bytes: Vec<u8>,
    options: DecodeOptions,
    spec: ProcessorSpec,
}

impl Task for ProcessTask {
    type Output = (core::Tensor, u32, u32);
    type JsValue = NativePixelValues;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            let decoded = core::decode(&self.bytes, &self.options)?;
            let (w, h) = (decoded.image.width(), decoded.image.height());
            Ok((
                core::processor::process(&decoded.image, &self.spec, self.options.max_pixels)?,
                w,
                h,
            ))
        })
        .map_err(to_napi)
    }

    fn resolve(&mut self, env: Env, out: Self::Output) -> napi::Result<Self::JsValue> {
        PreprocessTask::resolve_tensor(env, out)
    }
}

impl PreprocessTask {
    fn resolve_tensor(_env: Env, out: (core::Tensor, u32, u32)) -> napi::Result<NativePixelValues> {
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

/// Decodes an encoded image and runs an image processor on it (resize rule of the processor
/// family, center crop, rescale, normalise), off the event loop.
#[napi(
    js_name = "processImage",
    ts_return_type = "Promise<NativePixelValues>"
)]
pub fn process_image(
    bytes: Uint8Array,
    spec: NativeProcessorSpec,
    options: Option<NativeDecodeOptions>,
) -> Result<AsyncTask<ProcessTask>, Code> {
    let (options, spec) = guard(|| Ok((decode_options(options)?, processor_spec(spec)?)))?;
    Ok(AsyncTask::new(ProcessTask {
        bytes: bytes.to_vec(),
        options,
        spec,
    }))
}

/// One segment of an image-segmentation result.
#[napi(object)]
pub struct NativeSegment {
    /// Class id.
    pub label_id: u32,
    /// Query score (f32 widened), absent for semantic segments.
    pub score: Option<f64>,
    /// Base64 8-bit grayscale PNG, 255 inside, 0 outside.
    pub mask: String,
}

/// Segmentation post-processing settings.
#[napi(object)]
pub struct NativeSegmentOptions {
    /// `semantic_logits` (SegFormer: `logits` of `[classes, height, width]`), `semantic`,
    /// `panoptic` or `instance` (DETR-style `[queries, classes + 1]` class logits and
    /// `[queries, height, width]` mask logits), `maskformer_instance` (MaskFormer's instance
    /// post-processing on the same inputs).
    pub mode: String,
    /// Queries (query modes) or classes (`semantic_logits`).
    pub planes: u32,
    /// Classes + 1 (query modes).
    pub classes_plus_one: Option<u32>,
    /// Height of the model's planes.
    pub height: u32,
    /// Width of the model's planes.
    pub width: u32,
    /// Output (original image) height.
    pub out_height: u32,
    /// Output (original image) width.
    pub out_width: u32,
    /// Score threshold (query modes).
    pub threshold: Option<f64>,
    /// Mask threshold (query modes).
    pub mask_threshold: Option<f64>,
    /// Overlap mask area threshold (query modes).
    pub overlap_mask_area_threshold: Option<f64>,
    /// Largest output size in pixels (default: Pillow's decompression-bomb limit).
    pub max_pixels: Option<f64>,
}

/// Runs segmentation post-processing and mask encoding on the thread pool.
pub struct SegmentTask {
    planes: Vec<f32>,
    class_logits: Vec<f32>,
    options: NativeSegmentOptions,
}

fn run_segments(task: &SegmentTask) -> hf_tasks_core::Result<Vec<NativeSegment>> {
    let o = &task.options;
    let (planes, h, w) = (o.planes as usize, o.height as usize, o.width as usize);
    let (oh, ow) = (o.out_height as usize, o.out_width as usize);
    let max_pixels = match o.max_pixels {
        Some(m) if m.is_finite() && m >= 1.0 => m as u64,
        Some(m) => {
            return Err(ImageError::InvalidArgument(format!(
                "maxPixels must be a positive integer, got {m}"
            ))
            .into())
        }
        None => core::DEFAULT_MAX_PIXELS,
    };
    let cp1 = || -> hf_tasks_core::Result<usize> {
        o.classes_plus_one.map(|c| c as usize).ok_or_else(|| {
            ImageError::InvalidArgument("query modes need classesPlusOne".into()).into()
        })
    };
    let segments = match o.mode.as_str() {
        "semantic_logits" => {
            segment::semantic_from_logits(&task.planes, planes, h, w, oh, ow, max_pixels)?
        }
        "semantic" => segment::semantic_from_queries(
            &task.class_logits,
            planes,
            cp1()?,
            &task.planes,
            h,
            w,
            oh,
            ow,
            max_pixels,
        )?,
        "panoptic" | "instance" => segment::query_segments(
            &task.class_logits,
            planes,
            cp1()?,
            &task.planes,
            h,
            w,
            oh,
            ow,
            segment::SegmentThresholds {
                threshold: o.threshold.unwrap_or(0.9),
                mask_threshold: o.mask_threshold.unwrap_or(0.5),
                overlap_mask_area_threshold: o.overlap_mask_area_threshold.unwrap_or(0.5),
            },
            max_pixels,
        )?,
        "maskformer_instance" => maskformer::instance_segments(
            &task.class_logits,
            planes,
            cp1()?,
            &task.planes,
            h,
            w,
            oh,
            ow,
            o.threshold.unwrap_or(0.9),
            max_pixels,
        )?,
        other => {
            return Err(
                ImageError::InvalidArgument(format!("unknown segmentation mode {other:?}")).into(),
            )
        }
    };
    segments
        .into_iter()
        .map(|s| {
            Ok(NativeSegment {
                label_id: s.label_id,
                score: s.score.map(f64::from),
                mask: mask::encode_mask_png(&s.mask, oh, ow)?,
            })
        })
        .collect()
}

impl Task for SegmentTask {
    type Output = Vec<NativeSegment>;
    type JsValue = Vec<NativeSegment>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| run_segments(self)).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(out)
    }
}

/// Segmentation post-processing (semantic, panoptic, instance) with the masks encoded as base64
/// PNGs at the output size, off the event loop. `planes` holds the per-class logits
/// (`semantic_logits`) or the per-query mask logits; `classLogits` the per-query class logits.
#[napi(js_name = "segmentImage", ts_return_type = "Promise<NativeSegment[]>")]
pub fn segment_image(
    planes: Float32Array,
    class_logits: Option<Float32Array>,
    options: NativeSegmentOptions,
) -> Result<AsyncTask<SegmentTask>, Code> {
    Ok(AsyncTask::new(SegmentTask {
        planes: planes.to_vec(),
        class_logits: class_logits.map(|c| c.to_vec()).unwrap_or_default(),
        options,
    }))
}
