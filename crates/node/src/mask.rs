//! Bindings for `hf_tasks_core::mask`.

use hf_tasks_core::mask;
use napi::bindgen_prelude::{Result, Uint8Array};
use napi_derive::napi;

use crate::errors::{dim_arg, guard, Code};

/// Encodes a `[height, width]` mask (any non-zero byte is inside) as a base64 8-bit grayscale
/// PNG with 0/255 pixels, the wire form of an image-segmentation `mask`.
#[napi(js_name = "encodeMaskPng")]
pub fn encode_mask_png(mask: Uint8Array, height: f64, width: f64) -> Result<String, Code> {
    guard(|| mask::encode_mask_png(&mask, dim_arg(height, "height")?, dim_arg(width, "width")?))
}
