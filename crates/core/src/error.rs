//! Error type shared by every core module. Each variant carries a stable code that the Node
//! binding exposes as `err.code`, so callers can branch on it without parsing messages.

use thiserror::Error;

/// Result alias used across the core crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Every failure the core can report. Messages are written for the caller: they say what was
/// wrong with the input and what is expected instead.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A buffer length does not match the dimensions it was given with.
    #[error("{0}")]
    Dims(String),
    /// A NaN or infinite value where finite numbers are required.
    #[error("{0}")]
    NonFinite(String),
    /// A token id outside the vocabulary.
    #[error("{0}")]
    TokenId(String),
    /// A parameter outside its allowed set or range.
    #[error("{0}")]
    InvalidArgument(String),
    /// A tokenizer file that cannot be parsed.
    #[error("{0}")]
    TokenizerLoad(String),
    /// The tokenizer rejected an input (e.g. truncation impossible).
    #[error("{0}")]
    Tokenize(String),
    /// Image or audio bytes that cannot be decoded, or an encoder failure.
    #[error("{0}")]
    Codec(String),
    /// An image that cannot be decoded, or a bad image preprocessing parameter.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// Audio that cannot be decoded, or a bad audio parameter.
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
    /// A bug: an internal invariant did not hold. Never caused by input.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Dims(_) => "ERR_DIMS",
            Error::NonFinite(_) => "ERR_NON_FINITE",
            Error::TokenId(_) => "ERR_TOKEN_ID",
            Error::InvalidArgument(_) => "ERR_INVALID_ARGUMENT",
            Error::TokenizerLoad(_) => "ERR_TOKENIZER_LOAD",
            Error::Tokenize(_) => "ERR_TOKENIZE",
            Error::Codec(_) => "ERR_CODEC",
            Error::Image(e) => e.code(),
            Error::Audio(e) => e.code(),
            Error::Internal(_) => "ERR_INTERNAL",
        }
    }
}

/// Checks that `len == rows * cols` and that neither dimension is zero-sized in a way that
/// would make the shape ambiguous. Returns the shape on success.
pub fn check_matrix(len: usize, rows: usize, cols: usize, what: &str) -> Result<(usize, usize)> {
    match rows.checked_mul(cols) {
        Some(n) if n == len => Ok((rows, cols)),
        Some(n) => Err(Error::Dims(format!(
            "{what}: buffer has {len} values but dims [{rows}, {cols}] need {n}"
        ))),
        None => Err(Error::Dims(format!(
            "{what}: dims [{rows}, {cols}] overflow"
        ))),
    }
}

/// Fails with `ERR_NON_FINITE` when any value is NaN or infinite.
pub fn check_finite(values: &[f32], what: &str) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite(format!(
            "{what}: value at index {i} is {} (only finite numbers are accepted)",
            values[i]
        ))),
    }
}
