//! Typed failures of image decoding and preprocessing.

use thiserror::Error;

/// Why an image could not be decoded or preprocessed. Each variant has a stable code
/// ([`ImageError::code`]) that the bindings expose, so callers can tell bad input (a corrupt or
/// oversized file) from a bad parameter.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// The byte buffer is empty.
    #[error("image data is empty (0 bytes)")]
    Empty,
    /// The bytes start with no signature of a supported format.
    #[error("unrecognised image format: expected JPEG, PNG, WebP, GIF, BMP or TIFF data")]
    UnknownFormat,
    /// A recognised format using a feature the decoder does not support.
    #[error("unsupported {format} image: {detail}")]
    Unsupported {
        /// The container format (e.g. "png").
        format: String,
        /// What the decoder refused.
        detail: String,
    },
    /// The data ends before the image is complete.
    #[error("truncated {format} image: the data ends before the image is complete")]
    Truncated {
        /// The container format.
        format: String,
    },
    /// The data is malformed.
    #[error("corrupt {format} image: {detail}")]
    Corrupt {
        /// The container format.
        format: String,
        /// What the decoder reported.
        detail: String,
    },
    /// The header declares more pixels than the configured limit (checked before decoding).
    #[error(
        "image of {width}x{height} = {pixels} pixels exceeds the limit of {limit} pixels \
         (raise maxPixels to accept it)"
    )]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// width × height.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },
    /// Decoding would need more memory than the configured limit allows.
    #[error("image too large to decode within the memory limit: {0}")]
    MemoryLimit(String),
    /// The header declares a zero width or height.
    #[error("image has zero size ({width}x{height})")]
    ZeroSize {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// An image processor would make an image larger than the pixel limit (a size setting of
    /// the processor's config, or an image whose aspect makes a computed size huge).
    #[error(
        "the image processor would make a {width}x{height} = {pixels} pixel image, over the limit \
         of {limit} pixels (check the sizes in preprocessor_config.json, or raise maxPixels)"
    )]
    ProcessedTooLarge {
        /// Target width.
        width: u64,
        /// Target height.
        height: u64,
        /// width × height.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A preprocessing parameter outside its allowed range.
    #[error("{0}")]
    InvalidArgument(String),
}

impl ImageError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::Empty => "ERR_IMAGE_EMPTY",
            ImageError::UnknownFormat => "ERR_IMAGE_FORMAT",
            ImageError::Unsupported { .. } => "ERR_IMAGE_UNSUPPORTED",
            ImageError::Truncated { .. } => "ERR_IMAGE_TRUNCATED",
            ImageError::Corrupt { .. } => "ERR_IMAGE_CORRUPT",
            ImageError::TooManyPixels { .. }
            | ImageError::MemoryLimit(_)
            | ImageError::ProcessedTooLarge { .. } => "ERR_IMAGE_TOO_LARGE",
            ImageError::ZeroSize { .. } => "ERR_IMAGE_CORRUPT",
            ImageError::InvalidArgument(_) => "ERR_INVALID_ARGUMENT",
        }
    }

    /// Whether the error is caused by the image data (as opposed to a parameter).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, ImageError::InvalidArgument(_))
    }
}
