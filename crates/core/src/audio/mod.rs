//! Audio: decoding of encoded files to mono samples at a model's rate, as the reference's
//! ffmpeg call does it, and the feature extractors of the speech models.
//!
//! - [`decode`]: bytes → mono f32 at a target rate (WAV, FLAC, MP3, OGG Vorbis), with a
//!   duration limit checked from the header and while decoding;
//! - [`mix`]: ffmpeg's default down-mix coefficients;
//! - [`resample`]: a port of ffmpeg's default resampler;
//! - [`features`]: Wav2Vec2 normalisation and Whisper's log-mel spectrogram;
//! - [`ast`]: the Audio Spectrogram Transformer's Kaldi-style log-mel filter bank;
//! - [`s2t`]: Speech2Text's filter bank with utterance mean and variance normalisation.

pub mod ast;
pub mod decode;
pub mod error;
pub mod features;
pub mod mix;
pub mod resample;
pub mod s2t;

pub use ast::{ast_fbank, kaldi_mel_filter_bank, AstConfig, AstFeatures};
pub use decode::{convert_raw, decode, DecodeOptions, Decoded, DEFAULT_MAX_DURATION_S};
pub use error::AudioError;
pub use features::{mel_filter_bank, wav2vec2_normalize, whisper_log_mel, LogMel, WhisperConfig};
pub use resample::resample;
pub use s2t::{s2t_fbank, S2tConfig, S2tFeatures};
