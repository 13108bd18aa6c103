//! Typed failures of audio decoding and feature extraction.

use thiserror::Error;

/// Why audio could not be decoded or turned into features. Each variant has a stable code
/// ([`AudioError::code`]) that the bindings expose, so callers can tell bad input (a corrupt,
/// unsupported or oversized file) from a bad parameter.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AudioError {
    /// The byte buffer is empty.
    #[error("audio data is empty (0 bytes)")]
    Empty,
    /// The bytes are not in any supported container format.
    #[error(
        "Soundfile is either not in the correct format or is malformed: unrecognised audio format \
         (supported: WAV, FLAC, MP3, OGG Vorbis)"
    )]
    UnknownFormat,
    /// A recognised container holding a codec or feature the decoder does not support.
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    /// The data is malformed or decodes to no samples.
    #[error("Soundfile is either not in the correct format or is malformed: {0}")]
    Corrupt(String),
    /// The audio is longer than the configured limit.
    #[error(
        "audio of {seconds:.2} s exceeds the limit of {limit:.2} s (raise maxDurationSeconds to accept it)"
    )]
    TooLong {
        /// Duration found (declared by the header, or decoded so far).
        seconds: f64,
        /// The configured limit in seconds.
        limit: f64,
    },
    /// A parameter outside its allowed range.
    #[error("{0}")]
    InvalidArgument(String),
}

impl AudioError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AudioError::Empty => "ERR_AUDIO_EMPTY",
            AudioError::UnknownFormat => "ERR_AUDIO_FORMAT",
            AudioError::Unsupported(_) => "ERR_AUDIO_UNSUPPORTED",
            AudioError::Corrupt(_) => "ERR_AUDIO_CORRUPT",
            AudioError::TooLong { .. } => "ERR_AUDIO_TOO_LONG",
            AudioError::InvalidArgument(_) => "ERR_INVALID_ARGUMENT",
        }
    }

    /// Whether the error is caused by the audio data (as opposed to a parameter).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, AudioError::InvalidArgument(_))
    }
}
