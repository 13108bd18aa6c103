//! Images: decoding and the preprocessing of transformers' slow (PIL + numpy) image
//! processors, reproduced bit for bit on 8-bit data.
//!
//! - [`decode`]: bytes → oriented 8-bit RGB (`load_image`: open, `exif_transpose`,
//!   `convert("RGB")`), with a pixel limit checked from the header;
//! - [`resample`]: `PIL.Image.resize` for all six filters;
//! - [`size`]: the resize targets of `shortest_edge` and DETR-style size settings;
//! - [`transform`]: center crop, rescale, normalise, channels-first layout, padding + mask;
//! - [`preprocess`]: the chain resize → center crop → rescale → normalise of one image;
//! - [`processor`]: the resize rules of the processor families (`preprocessor_config.json`);
//! - [`segment`]: semantic and panoptic/instance segmentation post-processing.

pub mod decode;
pub mod error;
pub mod maskformer;
pub mod preprocess;
pub mod processor;
pub mod resample;
pub mod segment;
pub mod size;
pub mod torch_cpu;
pub mod transform;

pub use decode::{decode, DecodeOptions, Decoded, DEFAULT_MAX_PIXELS};
pub use error::ImageError;
pub use preprocess::{preprocess, preprocess_with, PreprocessConfig, Tensor};
pub use resample::{resize, resize_with_order, Filter, PassOrder};

/// An 8-bit RGB image, row-major, three interleaved samples per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl RgbImage {
    /// Wraps `data` (`width * height * 3` bytes).
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self, ImageError> {
        let need = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(3));
        if need != Some(data.len()) {
            return Err(ImageError::InvalidArgument(format!(
                "RGB buffer of {} bytes does not hold {width}x{height} pixels",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The interleaved RGB bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the interleaved RGB bytes.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// Resizes to `width x height` as `PIL.Image.resize(size, filter)` does.
    pub fn resize(&self, width: u32, height: u32, filter: Filter) -> Result<Self, ImageError> {
        let data = resize(
            &self.data,
            self.width as usize,
            self.height as usize,
            3,
            width as usize,
            height as usize,
            filter,
        )?;
        Self::new(width, height, data)
    }
}
