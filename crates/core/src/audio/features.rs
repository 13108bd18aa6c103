//! Feature extractors of transformers 4.57, on mono f32 samples at the extractor's rate.
//!
//! - [`wav2vec2_normalize`]: `Wav2Vec2FeatureExtractor` zero-mean unit-variance normalisation
//!   (`(x − mean) / sqrt(var + 1e-7)`), the only transformation it applies to one input;
//! - [`whisper_log_mel`]: `WhisperFeatureExtractor`'s log-mel spectrogram: pad (or truncate) to
//!   `n_samples`, centred STFT (reflect padding, periodic Hann window, `n_fft`, `hop_length`),
//!   power spectrum, Slaney-normalised mel filters on 0–8 kHz ([`mel_filter_bank`]), `log10`
//!   of `max(·, 1e-10)`, the last frame dropped, values below `max − 8` raised to it, then
//!   `(x + 4) / 4`. Computed in f64 (the reference runs torch's STFT in f32 or numpy's in f64;
//!   both agree with this within 1e-5).

use std::f64::consts::PI;

use realfft::RealFftPlanner;

use super::AudioError;

/// `(x − mean) / sqrt(var + 1e-7)` over the whole input (population variance), as
/// `Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm` normalises an unpadded input.
pub fn wav2vec2_normalize(samples: &[f32]) -> Vec<f32> {
    if samples.is_empty() {
        return Vec::new();
    }
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = samples
        .iter()
        .map(|&v| {
            let d = f64::from(v) - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    let scale = 1.0 / (var + 1e-7).sqrt();
    samples
        .iter()
        .map(|&v| ((f64::from(v) - mean) * scale) as f32)
        .collect()
}

fn hertz_to_mel_slaney(freq: f64) -> f64 {
    let min_log_hertz = 1000.0;
    let min_log_mel = 15.0;
    let logstep = 27.0 / 6.4f64.ln();
    if freq >= min_log_hertz {
        min_log_mel + (freq / min_log_hertz).ln() * logstep
    } else {
        3.0 * freq / 200.0
    }
}

fn mel_to_hertz_slaney(mel: f64) -> f64 {
    let min_log_hertz = 1000.0;
    let min_log_mel = 15.0;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hertz * (logstep * (mel - min_log_mel)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

/// `np.linspace(start, stop, points)` for `points >= 2`: `start + i * step`, the last point exactly
/// `stop`.
pub(crate) fn linspace(start: f64, stop: f64, points: usize) -> Vec<f64> {
    let step = (stop - start) / (points - 1) as f64;
    (0..points)
        .map(|i| {
            if i == points - 1 {
                stop
            } else {
                start + i as f64 * step
            }
        })
        .collect()
}

/// `transformers.audio_utils.mel_filter_bank(num_frequency_bins, num_mel_filters, min_frequency,
/// max_frequency, sampling_rate, norm="slaney", mel_scale="slaney")`: row-major
/// `[num_frequency_bins, num_mel_filters]`.
pub fn mel_filter_bank(
    num_frequency_bins: usize,
    num_mel_filters: usize,
    min_frequency: f64,
    max_frequency: f64,
    sampling_rate: u32,
) -> Vec<f64> {
    let filter_freqs: Vec<f64> = linspace(
        hertz_to_mel_slaney(min_frequency),
        hertz_to_mel_slaney(max_frequency),
        num_mel_filters + 2,
    )
    .into_iter()
    .map(mel_to_hertz_slaney)
    .collect();
    let nyquist = f64::from(sampling_rate / 2);
    let fft_step = if num_frequency_bins > 1 {
        nyquist / (num_frequency_bins - 1) as f64
    } else {
        0.0
    };
    let fft_freqs: Vec<f64> = (0..num_frequency_bins)
        .map(|i| {
            if i + 1 == num_frequency_bins {
                nyquist
            } else {
                i as f64 * fft_step
            }
        })
        .collect();
    let diff: Vec<f64> = filter_freqs.windows(2).map(|w| w[1] - w[0]).collect();
    let mut out = vec![0f64; num_frequency_bins * num_mel_filters];
    for (b, &f) in fft_freqs.iter().enumerate() {
        for m in 0..num_mel_filters {
            let down = -(filter_freqs[m] - f) / diff[m];
            let up = (filter_freqs[m + 2] - f) / diff[m + 1];
            let enorm = 2.0 / (filter_freqs[m + 2] - filter_freqs[m]);
            out[b * num_mel_filters + m] = down.min(up).max(0.0) * enorm;
        }
    }
    out
}

/// `WhisperFeatureExtractor` settings (its `preprocessor_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperConfig {
    /// Mel bins (80 or 128).
    pub feature_size: usize,
    /// Sampling rate (16000).
    pub sampling_rate: u32,
    /// STFT hop (160).
    pub hop_length: usize,
    /// STFT window size (400).
    pub n_fft: usize,
    /// Padding value of the waveform (0.0).
    pub padding_value: f32,
    /// Normalise the waveform (zero mean, unit variance over the real samples) first.
    pub do_normalize: bool,
}

impl Default for WhisperConfig {
    fn default() -> Self {
        Self {
            feature_size: 80,
            sampling_rate: 16_000,
            hop_length: 160,
            n_fft: 400,
            padding_value: 0.0,
            do_normalize: false,
        }
    }
}

/// Output of [`whisper_log_mel`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    /// Row-major `[feature_size, frames]`.
    pub values: Vec<f32>,
    /// Mel bins.
    pub feature_size: usize,
    /// Frames.
    pub frames: usize,
    /// Frames covering real samples: the `attention_mask` of the reference has this many ones
    /// followed by zeros (`frames` long).
    pub attention_frames: usize,
}

/// The most samples Whisper features are computed over (one hour at 48 kHz).
pub const WHISPER_MAX_SAMPLES: usize = 3600 * 48_000;
/// The most log-mel values one input may make (1 GiB of `f32`).
pub const WHISPER_MAX_VALUES: usize = 1 << 28;

/// Whisper's log-mel features. `target_len`: the waveform is padded with `padding_value` (or,
/// with `truncate`, cut) to this many samples (the reference pads to `chunk_length ·
/// sampling_rate`, or to the input's own length with `padding="longest"`).
pub fn whisper_log_mel(
    samples: &[f32],
    config: &WhisperConfig,
    target_len: usize,
    truncate: bool,
) -> Result<LogMel, AudioError> {
    let WhisperConfig {
        feature_size,
        hop_length,
        n_fft,
        ..
    } = *config;
    if feature_size == 0 || hop_length == 0 || n_fft < 2 || feature_size > 1024 || n_fft > 65_536 {
        return Err(AudioError::InvalidArgument(format!(
            "invalid Whisper feature settings: feature_size {feature_size}, hop_length {hop_length}, n_fft {n_fft}"
        )));
    }
    let real = if truncate {
        samples.len().min(target_len)
    } else {
        samples.len()
    };
    let len = real.max(target_len);
    // A config's window (`n_samples`) or hop could ask for more than memory holds: refuse
    // before allocating.
    if len > WHISPER_MAX_SAMPLES {
        return Err(AudioError::InvalidArgument(format!(
            "Whisper features over {len} samples (the input or the config's n_samples) exceed the limit of {WHISPER_MAX_SAMPLES}"
        )));
    }
    let frames = len / hop_length + 1;
    if frames.saturating_mul(feature_size) > WHISPER_MAX_VALUES {
        return Err(AudioError::InvalidArgument(format!(
            "Whisper features of {frames} frames x {feature_size} bins exceed the limit of {WHISPER_MAX_VALUES} values (check hop_length and feature_size)"
        )));
    }
    let mut wave: Vec<f64> = Vec::with_capacity(len);
    if config.do_normalize {
        wave.extend(
            wav2vec2_normalize(&samples[..real])
                .iter()
                .map(|&v| f64::from(v)),
        );
    } else {
        wave.extend(samples[..real].iter().map(|&v| f64::from(v)));
    }
    wave.resize(len, f64::from(config.padding_value));
    let pad = n_fft / 2;
    if len <= pad {
        return Err(AudioError::InvalidArgument(format!(
            "audio too short for Whisper features: {len} samples (more than {pad} needed)"
        )));
    }
    // Reflect padding (numpy/torch "reflect": the edge sample is not repeated).
    let mut padded = Vec::with_capacity(len + 2 * pad);
    for k in (1..=pad).rev() {
        padded.push(wave[k]);
    }
    padded.extend_from_slice(&wave);
    for k in 1..=pad {
        padded.push(wave[len - 1 - k]);
    }
    let total_frames = 1 + len / hop_length;
    let frames = total_frames - 1;
    let bins = n_fft / 2 + 1;
    let window: Vec<f64> = (0..n_fft)
        .map(|n| 0.5 - 0.5 * (2.0 * PI * n as f64 / n_fft as f64).cos())
        .collect();
    let filters = mel_filter_bank(bins, feature_size, 0.0, 8000.0, config.sampling_rate);
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n_fft);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut power = vec![0f64; bins];
    let mut log_spec = vec![0f64; feature_size * frames];
    // Each mel filter is non-zero on a few bins only: summing over its first to last non-zero
    // bin, in bin order, adds the same terms as the full sum (the skipped ones are exact zeros).
    let spans: Vec<(usize, usize)> = (0..feature_size)
        .map(|m| {
            let nonzero = |b: &usize| filters[b * feature_size + m] != 0.0;
            let lo = (0..bins).find(nonzero).unwrap_or(bins);
            let hi = (0..bins).rev().find(nonzero).map_or(lo, |b| b + 1);
            (lo, hi)
        })
        .collect();
    // A frame of zeros (padding) has zero power: log10(1e-10) in every bin, without the FFT.
    let silent = 0f64.max(1e-10).log10();
    for f in 0..frames {
        let start = f * hop_length;
        if padded[start..start + n_fft].iter().all(|&v| v == 0.0) {
            for m in 0..feature_size {
                log_spec[m * frames + f] = silent;
            }
            continue;
        }
        for (i, slot) in input.iter_mut().enumerate() {
            *slot = padded[start + i] * window[i];
        }
        fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .map_err(|e| AudioError::InvalidArgument(format!("FFT failed: {e}")))?;
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.re * c.re + c.im * c.im;
        }
        for (m, &(lo, hi)) in spans.iter().enumerate() {
            let mut s = 0.0;
            for (b, p) in power.iter().enumerate().take(hi).skip(lo) {
                s += filters[b * feature_size + m] * p;
            }
            log_spec[m * frames + f] = s.max(1e-10).log10();
        }
    }
    let max = log_spec.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let floor = max - 8.0;
    let values = log_spec
        .iter()
        .map(|&v| ((v.max(floor) + 4.0) / 4.0) as f32)
        .collect();
    // The reference's mask `[:, ::hop]` (minus the last entry when len % hop != 0) counts
    // ceil(real / hop) ones.
    let attention_frames = real.div_ceil(hop_length).min(frames);
    Ok(LogMel {
        values,
        feature_size,
        frames,
        attention_frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whisper_windows_and_hops_that_would_not_fit_are_refused() {
        let config = WhisperConfig::default();
        let err = whisper_log_mel(&[0.0; 16], &config, WHISPER_MAX_SAMPLES + 1, true)
            .expect_err("window too long");
        assert!(err.to_string().contains("n_samples"), "{err}");
        let tiny_hop = WhisperConfig {
            hop_length: 1,
            ..config
        };
        let err = whisper_log_mel(&[0.0; 16], &tiny_hop, 16_000 * 3600, true)
            .expect_err("too many values");
        assert!(err.to_string().contains("hop_length"), "{err}");
    }

    #[test]
    fn normalize_is_zero_mean_unit_var() {
        let x: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.1).sin() + 0.3).collect();
        let y = wav2vec2_normalize(&x);
        let mean: f64 = y.iter().map(|&v| f64::from(v)).sum::<f64>() / y.len() as f64;
        let var: f64 = y
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / y.len() as f64;
        assert!(mean.abs() < 1e-6);
        assert!((var - 1.0).abs() < 1e-4);
    }

    #[test]
    fn whisper_shapes() {
        let x = vec![0.1f32; 16_000];
        let out = whisper_log_mel(&x, &WhisperConfig::default(), 480_000, true).expect("features");
        assert_eq!(
            (out.feature_size, out.frames, out.attention_frames),
            (80, 3000, 100)
        );
        assert_eq!(out.values.len(), 80 * 3000);
        let long = vec![0.1f32; 500_000];
        let out = whisper_log_mel(&long, &WhisperConfig::default(), 0, false).expect("long");
        assert_eq!(out.frames, 3125);
    }

    #[test]
    fn mel_filters_are_nonnegative_triangles() {
        let f = mel_filter_bank(201, 80, 0.0, 8000.0, 16_000);
        assert!(f.iter().all(|&v| v >= 0.0));
        for m in 0..80 {
            assert!((0..201).any(|b| f[b * 80 + m] > 0.0), "filter {m} is empty");
        }
    }
}
