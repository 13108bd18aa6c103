//! Bindings for `hf_tasks_core::audio`: decoding, resampling and feature extraction, all on
//! the libuv thread pool (never on the event loop). Errors reach JS as `"<CODE>: <message>"`
//! (an async task can only reject with a napi status); the TS wrapper restores the code.

use hf_tasks_core::audio::{
    self as core, AstConfig, AudioError, DecodeOptions, S2tConfig, WhisperConfig,
};
use napi::bindgen_prelude::{AsyncTask, Float32Array, Result, Uint8Array};
use napi::{Env, Status, Task};
use napi_derive::napi;

use crate::errors::{guard, Code};

/// Decoding options.
#[napi(object)]
#[derive(Default)]
pub struct NativeAudioDecodeOptions {
    /// Output sample rate (default 16000).
    pub sampling_rate: Option<u32>,
    /// Longest accepted duration in seconds (default 3600), checked from the header before
    /// decoding and while decoding.
    pub max_duration_seconds: Option<f64>,
}

/// Decoded audio: mono float32 samples at `samplingRate`.
#[napi(object)]
pub struct NativeDecodedAudio {
    /// Mono samples.
    pub samples: Float32Array,
    /// Their rate (the requested one).
    pub sampling_rate: u32,
    /// The file's own rate.
    pub source_rate: u32,
    /// The file's channel count.
    pub source_channels: u32,
    /// Container: wav, flac, mp3 or ogg.
    pub format: String,
}

/// Feature extraction settings (from the model's `preprocessor_config.json`).
#[napi(object)]
pub struct NativeAudioFeatureConfig {
    /// `wav2vec2` (normalisation only, or the samples as they are), `whisper` (log-mel), `ast`
    /// (the Audio Spectrogram Transformer's Kaldi-style filter bank) or `s2t` (Speech2Text's
    /// filter bank with utterance mean and variance normalisation).
    pub kind: String,
    /// Normalise to zero mean and unit variance (wav2vec2; whisper before the log-mel); ast:
    /// `(x - mean) / (2 std)` on the features (default true).
    pub do_normalize: Option<bool>,
    /// Whisper: mel bins (default 80).
    pub feature_size: Option<u32>,
    /// Whisper, ast and s2t: sampling rate (default 16000).
    pub sampling_rate: Option<u32>,
    /// Whisper: STFT hop (default 160).
    pub hop_length: Option<u32>,
    /// Whisper: STFT window (default 400).
    pub n_fft: Option<u32>,
    /// Whisper: waveform padding value (default 0).
    pub padding_value: Option<f64>,
    /// Whisper: pad (and, with `truncation`, cut) the waveform to this many samples (default
    /// 480000 = 30 s); 0 keeps the input's length (`padding="longest"`).
    pub n_samples: Option<u32>,
    /// Whisper: cut inputs longer than `nSamples` (default true).
    pub truncation: Option<bool>,
    /// ast: mel bins (default 128); s2t: mel bins (default 80).
    pub num_mel_bins: Option<u32>,
    /// ast: frames the features are padded or cut to (default 1024).
    pub max_length: Option<u32>,
    /// ast: normalisation mean (default -4.2677393).
    pub mean: Option<f64>,
    /// ast: normalisation standard deviation (default 4.5689974).
    pub std: Option<f64>,
    /// s2t: utterance-level mean and variance normalisation (default true).
    pub do_ceptral_normalize: Option<bool>,
    /// s2t: subtract each bin's mean over the frames (default true).
    pub normalize_means: Option<bool>,
    /// s2t: divide by each bin's deviation over the frames (default true).
    pub normalize_vars: Option<bool>,
}

/// Features of one input.
#[napi(object)]
pub struct NativeAudioFeatures {
    /// Row-major values: `[1, n]` input_values (wav2vec2), `[1, bins, frames]` input_features
    /// (whisper), `[1, maxLength, numMelBins]` input_values (ast) or `[1, frames, numMelBins]`
    /// input_features (s2t).
    pub values: Float32Array,
    /// The tensor shape.
    pub shape: Vec<u32>,
    /// Whisper: frames covering real samples (the attention mask's ones).
    pub attention_frames: Option<u32>,
}

fn to_napi(e: napi::Error<Code>) -> napi::Error {
    napi::Error::new(
        Status::GenericFailure,
        format!("{}: {}", e.status.0, e.reason),
    )
}

fn duration_option(v: Option<f64>) -> hf_tasks_core::Result<f64> {
    match v {
        None => Ok(core::DEFAULT_MAX_DURATION_S),
        Some(s) if s.is_finite() && s > 0.0 => Ok(s),
        Some(s) => Err(AudioError::InvalidArgument(format!(
            "maxDurationSeconds must be a positive number, got {s}"
        ))
        .into()),
    }
}

/// Decodes on the thread pool.
pub struct DecodeAudioTask {
    bytes: Vec<u8>,
    options: DecodeOptions,
}

impl Task for DecodeAudioTask {
    type Output = core::Decoded;
    type JsValue = NativeDecodedAudio;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| Ok(core::decode(&self.bytes, &self.options)?)).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, d: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(NativeDecodedAudio {
            sampling_rate: d.sample_rate,
            source_rate: d.source_rate,
            source_channels: u32::try_from(d.source_channels).unwrap_or(u32::MAX),
            format: d.format.to_string(),
            samples: Float32Array::new(d.samples),
        })
    }
}

/// Decodes an encoded audio file (WAV, FLAC, MP3, OGG Vorbis) to mono float32 samples at the
/// requested rate, as `ffmpeg -ac 1 -ar <rate> -f f32le` does, off the event loop.
#[napi(
    js_name = "decodeAudio",
    ts_return_type = "Promise<NativeDecodedAudio>"
)]
pub fn decode_audio(
    bytes: Uint8Array,
    options: Option<NativeAudioDecodeOptions>,
) -> Result<AsyncTask<DecodeAudioTask>, Code> {
    let o = options.unwrap_or_default();
    let options = guard(|| {
        Ok(DecodeOptions {
            target_rate: o.sampling_rate.unwrap_or(16_000),
            max_duration_s: duration_option(o.max_duration_seconds)?,
        })
    })?;
    Ok(AsyncTask::new(DecodeAudioTask {
        bytes: bytes.to_vec(),
        options,
    }))
}

/// Resamples on the thread pool.
pub struct ResampleTask {
    samples: Vec<f32>,
    rate: u32,
    target: u32,
    max_duration_s: f64,
}

impl Task for ResampleTask {
    type Output = Vec<f32>;
    type JsValue = Float32Array;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            Ok(core::convert_raw(
                &self.samples,
                self.rate,
                self.target,
                self.max_duration_s,
            )?)
        })
        .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(Float32Array::new(out))
    }
}

/// Checks raw mono samples (finite, within the duration limit) and resamples them from
/// `samplingRate` to `targetRate` with the decoder's resampler, off the event loop.
#[napi(js_name = "resampleAudio", ts_return_type = "Promise<Float32Array>")]
pub fn resample_audio(
    samples: Float32Array,
    sampling_rate: u32,
    target_rate: u32,
    max_duration_seconds: Option<f64>,
) -> Result<AsyncTask<ResampleTask>, Code> {
    let max_duration_s = guard(|| duration_option(max_duration_seconds))?;
    Ok(AsyncTask::new(ResampleTask {
        samples: samples.to_vec(),
        rate: sampling_rate,
        target: target_rate,
        max_duration_s,
    }))
}

enum FeatureKind {
    Wav2Vec2 {
        normalize: bool,
    },
    Whisper {
        config: WhisperConfig,
        n_samples: usize,
        truncation: bool,
    },
    Ast {
        config: AstConfig,
    },
    S2t {
        config: S2tConfig,
    },
}

fn feature_kind(c: NativeAudioFeatureConfig) -> hf_tasks_core::Result<FeatureKind> {
    match c.kind.as_str() {
        "wav2vec2" => Ok(FeatureKind::Wav2Vec2 {
            normalize: c.do_normalize.unwrap_or(true),
        }),
        "whisper" => {
            let d = WhisperConfig::default();
            let padding_value = c.padding_value.unwrap_or(0.0);
            if !padding_value.is_finite() {
                return Err(
                    AudioError::InvalidArgument("paddingValue must be finite".into()).into(),
                );
            }
            Ok(FeatureKind::Whisper {
                config: WhisperConfig {
                    feature_size: c.feature_size.map_or(d.feature_size, |v| v as usize),
                    sampling_rate: c.sampling_rate.unwrap_or(d.sampling_rate),
                    hop_length: c.hop_length.map_or(d.hop_length, |v| v as usize),
                    n_fft: c.n_fft.map_or(d.n_fft, |v| v as usize),
                    padding_value: padding_value as f32,
                    do_normalize: c.do_normalize.unwrap_or(false),
                },
                n_samples: c.n_samples.map_or(480_000, |v| v as usize),
                truncation: c.truncation.unwrap_or(true),
            })
        }
        "ast" => {
            let d = AstConfig::default();
            let config = AstConfig {
                num_mel_bins: c.num_mel_bins.map_or(d.num_mel_bins, |v| v as usize),
                max_length: c.max_length.map_or(d.max_length, |v| v as usize),
                sampling_rate: c.sampling_rate.unwrap_or(d.sampling_rate),
                do_normalize: c.do_normalize.unwrap_or(d.do_normalize),
                mean: c.mean.unwrap_or(d.mean),
                std: c.std.unwrap_or(d.std),
            };
            config.validate()?;
            Ok(FeatureKind::Ast { config })
        }
        "s2t" => {
            let d = S2tConfig::default();
            let config = S2tConfig {
                num_mel_bins: c.num_mel_bins.map_or(d.num_mel_bins, |v| v as usize),
                sampling_rate: c.sampling_rate.unwrap_or(d.sampling_rate),
                do_ceptral_normalize: c.do_ceptral_normalize.unwrap_or(d.do_ceptral_normalize),
                normalize_means: c.normalize_means.unwrap_or(d.normalize_means),
                normalize_vars: c.normalize_vars.unwrap_or(d.normalize_vars),
            };
            config.validate()?;
            Ok(FeatureKind::S2t { config })
        }
        other => Err(AudioError::InvalidArgument(format!(
            "unknown feature extractor kind {other:?} (expected wav2vec2, whisper, ast or s2t)"
        ))
        .into()),
    }
}

/// Extracts features on the thread pool.
pub struct FeaturesTask {
    samples: Vec<f32>,
    kind: FeatureKind,
}

impl Task for FeaturesTask {
    type Output = (Vec<f32>, Vec<u32>, Option<u32>);
    type JsValue = NativeAudioFeatures;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| {
            hf_tasks_core::error::check_finite(&self.samples, "audio samples")?;
            let len = |n: usize| {
                u32::try_from(n).map_err(|_| {
                    hf_tasks_core::Error::from(AudioError::InvalidArgument("input too long".into()))
                })
            };
            match &self.kind {
                FeatureKind::Wav2Vec2 { normalize } => {
                    let values = if *normalize {
                        core::wav2vec2_normalize(&self.samples)
                    } else {
                        self.samples.clone()
                    };
                    let n = len(values.len())?;
                    Ok((values, vec![1, n], None))
                }
                FeatureKind::Whisper {
                    config,
                    n_samples,
                    truncation,
                } => {
                    let out =
                        core::whisper_log_mel(&self.samples, config, *n_samples, *truncation)?;
                    let shape = vec![1, len(out.feature_size)?, len(out.frames)?];
                    Ok((out.values, shape, Some(len(out.attention_frames)?)))
                }
                FeatureKind::Ast { config } => {
                    let out = core::ast_fbank(&self.samples, config)?;
                    let shape = vec![1, len(out.max_length)?, len(out.num_mel_bins)?];
                    Ok((out.values, shape, None))
                }
                FeatureKind::S2t { config } => {
                    let out = core::s2t_fbank(&self.samples, config)?;
                    let shape = vec![1, len(out.frames)?, len(out.num_mel_bins)?];
                    Ok((out.values, shape, None))
                }
            }
        })
        .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<Self::JsValue> {
        let (values, shape, attention_frames) = out;
        Ok(NativeAudioFeatures {
            values: Float32Array::new(values),
            shape,
            attention_frames,
        })
    }
}

/// Computes a speech model's input features from mono samples at the extractor's rate, as
/// transformers' feature extractors do (Wav2Vec2 normalisation; Whisper log-mel; AST and
/// Speech2Text filter banks), off the event loop.
#[napi(
    js_name = "audioFeatures",
    ts_return_type = "Promise<NativeAudioFeatures>"
)]
pub fn audio_features(
    samples: Float32Array,
    config: NativeAudioFeatureConfig,
) -> Result<AsyncTask<FeaturesTask>, Code> {
    let kind = guard(|| feature_kind(config))?;
    Ok(AsyncTask::new(FeaturesTask {
        samples: samples.to_vec(),
        kind,
    }))
}
