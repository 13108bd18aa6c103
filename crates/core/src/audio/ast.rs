//! `ASTFeatureExtractor` (Audio Spectrogram Transformer) of transformers 4.57: Kaldi-style
//! log-mel filter-bank features, as the extractor computes them when torchaudio is not
//! installed (its numpy path, `transformers.audio_utils.spectrogram`):
//!
//! - frames of 400 samples every 160 (`center=False`: no padding; `1 + ⌊(n − 400) / 160⌋`
//!   frames), in f64;
//! - per frame: the frame's mean removed (DC offset), pre-emphasis `x[i] − 0.97·x[i−1]` (the
//!   first sample times `1 − 0.97`), a symmetric Hann window (`np.hanning(400)`), zero-padded
//!   to a 512-point real FFT whose output is stored as complex64 (numpy writes it into a
//!   complex64 array), power `|X|²` in f64;
//! - Kaldi mel filters triangular in mel space on 20 Hz – `sampling_rate // 2`
//!   ([`kaldi_mel_filter_bank`]), no area normalisation; `ln(max(·, f32::EPSILON))`, to f32;
//! - `[frames, num_mel_bins]`, zero-padded (or cut) to `max_length` frames;
//! - with `do_normalize`, `(x − mean) / (2·std)` in f32 (numpy's float32 array op with Python
//!   floats: `mean` and `2·std` rounded to f32 first).
//!
//! The frame length, hop, FFT size and lowest frequency are fixed by this path, whatever the
//! sampling rate. With torchaudio installed the reference calls
//! `torchaudio.compliance.kaldi.fbank` instead (Hann window too, not Kaldi's default Povey),
//! which at 16 kHz computes the same quantities in f32: within 3.4e-4 of these features after
//! normalisation (low-energy bins), scores within 5e-5 on the fixtures. It differs elsewhere:
//! it frames 25 ms every 10 ms at the extractor's rate (200 / 80 samples at 8 kHz) and refuses
//! input shorter than one frame (this path gives 240 to 399 samples no frame).

use realfft::RealFftPlanner;

use super::features::linspace;
use super::AudioError;

/// Samples per analysis frame.
pub const AST_FRAME_LENGTH: usize = 400;
/// Samples between frame starts.
pub const AST_HOP_LENGTH: usize = 160;
/// FFT size (frames are zero-padded to it).
pub const AST_FFT_LENGTH: usize = 512;
/// Lowest frequency of the mel filters, in Hz.
pub const AST_MIN_FREQUENCY: f64 = 20.0;
/// Pre-emphasis coefficient.
pub const AST_PREEMPHASIS: f64 = 0.97;
/// Floor of the mel energies before the logarithm (`torch.finfo(torch.float32).eps`).
pub const AST_MEL_FLOOR: f64 = 1.192_092_955_078_125e-7;
/// Fewest samples the reference accepts: shorter input makes it ask numpy for a negative
/// number of frames (`ValueError`); 240 to 399 samples give no frame (all padding).
pub const AST_MIN_SAMPLES: usize = AST_FRAME_LENGTH - AST_HOP_LENGTH;
/// Most mel bins accepted (the 257 FFT bins leave filters empty well before this).
pub const AST_MAX_MEL_BINS: usize = 1024;
/// Most frames (`max_length`) accepted.
pub const AST_MAX_LENGTH: usize = 65_536;
/// Most values of one output (`max_length · num_mel_bins`): 64 MiB of f32.
pub const AST_MAX_VALUES: usize = 16 * 1024 * 1024;
/// Lowest sampling rate accepted: `sampling_rate // 2` must reach the 20 Hz lowest frequency
/// (the reference's `mel_filter_bank` refuses a maximum below the minimum).
pub const AST_MIN_SAMPLING_RATE: u32 = 40;

/// `ASTFeatureExtractor` settings (its `preprocessor_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct AstConfig {
    /// Mel bins (128).
    pub num_mel_bins: usize,
    /// Frames the output is padded or cut to (1024).
    pub max_length: usize,
    /// Sampling rate of the samples (16000); places the mel filters.
    pub sampling_rate: u32,
    /// Normalise with `mean` and `std` (true).
    pub do_normalize: bool,
    /// Normalisation mean (AudioSet's −4.2677393).
    pub mean: f64,
    /// Normalisation standard deviation (AudioSet's 4.5689974); the divisor is twice it.
    pub std: f64,
}

impl Default for AstConfig {
    fn default() -> Self {
        Self {
            num_mel_bins: 128,
            max_length: 1024,
            sampling_rate: 16_000,
            do_normalize: true,
            mean: -4.267_739_3,
            std: 4.568_997_4,
        }
    }
}

impl AstConfig {
    /// Checks every setting against its limit.
    pub fn validate(&self) -> Result<(), AudioError> {
        let invalid = |m: String| Err(AudioError::InvalidArgument(m));
        if self.num_mel_bins == 0 || self.num_mel_bins > AST_MAX_MEL_BINS {
            return invalid(format!(
                "num_mel_bins must be between 1 and {AST_MAX_MEL_BINS}, got {}",
                self.num_mel_bins
            ));
        }
        if self.max_length == 0 || self.max_length > AST_MAX_LENGTH {
            return invalid(format!(
                "max_length must be between 1 and {AST_MAX_LENGTH}, got {}",
                self.max_length
            ));
        }
        if self.max_length * self.num_mel_bins > AST_MAX_VALUES {
            return invalid(format!(
                "max_length x num_mel_bins must be at most {AST_MAX_VALUES}, got {} x {}",
                self.max_length, self.num_mel_bins
            ));
        }
        if self.sampling_rate < AST_MIN_SAMPLING_RATE {
            return invalid(format!(
                "sampling_rate must be at least {AST_MIN_SAMPLING_RATE} (its half is the highest mel frequency, above the lowest, 20 Hz), got {}",
                self.sampling_rate
            ));
        }
        if self.do_normalize {
            if !self.mean.is_finite() {
                return invalid(format!("mean must be finite, got {}", self.mean));
            }
            let divisor = self.std * 2.0;
            // The divisor is used as an f32, as numpy does.
            if !self.std.is_finite() || divisor == 0.0 || !(divisor as f32).is_finite() {
                return invalid(format!("std must be finite and non-zero, got {}", self.std));
            }
        }
        Ok(())
    }
}

/// Output of [`ast_fbank`].
#[derive(Debug, Clone, PartialEq)]
pub struct AstFeatures {
    /// Row-major `[max_length, num_mel_bins]` (the model's `input_values` of one input).
    pub values: Vec<f32>,
    /// Frames (rows).
    pub max_length: usize,
    /// Mel bins (columns).
    pub num_mel_bins: usize,
    /// Frames computed from the samples (the rows before `max_length` that are not padding):
    /// `min(1 + ⌊(n − 400) / 160⌋, max_length)`, 0 for 240 to 399 samples.
    pub frames: usize,
}

fn hertz_to_mel_kaldi(freq: f64) -> f64 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

/// `transformers.audio_utils.mel_filter_bank(num_frequency_bins, num_mel_filters,
/// min_frequency, max_frequency, sampling_rate, norm=None, mel_scale="kaldi",
/// triangularize_in_mel_space=True)`: row-major `[num_frequency_bins, num_mel_filters]`,
/// triangles in Kaldi mel space (`1127 · ln(1 + f / 700)`) as torchaudio's Kaldi filter bank.
pub fn kaldi_mel_filter_bank(
    num_frequency_bins: usize,
    num_mel_filters: usize,
    min_frequency: f64,
    max_frequency: f64,
    sampling_rate: u32,
) -> Vec<f64> {
    let mel_freqs = linspace(
        hertz_to_mel_kaldi(min_frequency),
        hertz_to_mel_kaldi(max_frequency),
        num_mel_filters + 2,
    );
    let bin_width = f64::from(sampling_rate) / (num_frequency_bins.saturating_sub(1) * 2) as f64;
    let diff: Vec<f64> = mel_freqs.windows(2).map(|w| w[1] - w[0]).collect();
    let mut out = vec![0f64; num_frequency_bins * num_mel_filters];
    for b in 0..num_frequency_bins {
        let mel = hertz_to_mel_kaldi(bin_width * b as f64);
        for m in 0..num_mel_filters {
            let down = -(mel_freqs[m] - mel) / diff[m];
            let up = (mel_freqs[m + 2] - mel) / diff[m + 1];
            out[b * num_mel_filters + m] = down.min(up).max(0.0);
        }
    }
    out
}

/// `np.hanning(n)`: the symmetric Hann window, with numpy's own formula.
pub(super) fn hanning(n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![1.0];
    }
    let denom = (n - 1) as f64;
    (0..n)
        .map(|k| {
            let x = (2 * k) as f64 + 1.0 - n as f64;
            0.5 + 0.5 * (std::f64::consts::PI * x / denom).cos()
        })
        .collect()
}

/// The Kaldi-style log-mel frames both `ASTFeatureExtractor` and `Speech2TextFeatureExtractor`
/// compute on their numpy path (`transformers.audio_utils.spectrogram` with 400-sample frames
/// every 160, a 512-point FFT, DC offset removed, pre-emphasis 0.97, `window`, power 2, Kaldi
/// mel filters from 20 Hz to `sampling_rate // 2`, `ln(max(·, f32::EPSILON))`): the first
/// `frames` frames of `samples · scale` (in f64), written row-major `[frames, num_mel_bins]`
/// into the start of `values`.
pub(super) fn kaldi_log_mel_frames(
    samples: &[f32],
    scale: f64,
    window: &[f64],
    num_mel_bins: usize,
    sampling_rate: u32,
    frames: usize,
    values: &mut [f32],
) -> Result<(), AudioError> {
    if window.len() != AST_FRAME_LENGTH || values.len() < frames * num_mel_bins {
        return Err(AudioError::InvalidArgument(
            "filter bank buffers of the wrong size".into(),
        ));
    }
    let bins = AST_FFT_LENGTH / 2 + 1;
    let filters = kaldi_mel_filter_bank(
        bins,
        num_mel_bins,
        AST_MIN_FREQUENCY,
        f64::from(sampling_rate / 2),
        sampling_rate,
    );
    // Each filter is non-zero on a few bins only: summing over its first to last non-zero bin,
    // in bin order, adds the same terms as the full product (the others are exact zeros).
    let spans: Vec<(usize, usize)> = (0..num_mel_bins)
        .map(|m| {
            let nonzero = |b: &usize| filters[b * num_mel_bins + m] != 0.0;
            let lo = (0..bins).find(nonzero).unwrap_or(bins);
            let hi = (0..bins).rev().find(nonzero).map_or(lo, |b| b + 1);
            (lo, hi)
        })
        .collect();
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(AST_FFT_LENGTH);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut frame = [0f64; AST_FRAME_LENGTH];
    let mut power = vec![0f64; bins];
    let keep = 1.0 - AST_PREEMPHASIS;
    for f in 0..frames {
        let start = f * AST_HOP_LENGTH;
        let source = samples
            .get(start..start + AST_FRAME_LENGTH)
            .ok_or_else(|| AudioError::InvalidArgument("frame out of range".into()))?;
        for (d, &s) in frame.iter_mut().zip(source) {
            *d = f64::from(s) * scale;
        }
        let mean = frame.iter().sum::<f64>() / AST_FRAME_LENGTH as f64;
        for v in &mut frame {
            *v -= mean;
        }
        for i in (1..AST_FRAME_LENGTH).rev() {
            frame[i] -= AST_PREEMPHASIS * frame[i - 1];
        }
        frame[0] *= keep;
        for ((slot, &v), &w) in input.iter_mut().zip(&frame).zip(window) {
            *slot = v * w;
        }
        for slot in &mut input[AST_FRAME_LENGTH..] {
            *slot = 0.0;
        }
        fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .map_err(|e| AudioError::InvalidArgument(format!("FFT failed: {e}")))?;
        for (p, c) in power.iter_mut().zip(&spectrum) {
            // Stored as complex64, then `np.abs(·, dtype=float64) ** 2`.
            let magnitude = f64::from(c.re as f32).hypot(f64::from(c.im as f32));
            *p = magnitude * magnitude;
        }
        let row = &mut values[f * num_mel_bins..(f + 1) * num_mel_bins];
        for (m, (slot, &(lo, hi))) in row.iter_mut().zip(&spans).enumerate() {
            let mut s = 0.0;
            for (b, p) in power.iter().enumerate().take(hi).skip(lo) {
                s += filters[b * num_mel_bins + m] * p;
            }
            *slot = s.max(AST_MEL_FLOOR).ln() as f32;
        }
    }
    Ok(())
}

/// The frames `ASTFeatureExtractor` computes from `n` samples, or an error below
/// [`AST_MIN_SAMPLES`].
pub fn ast_frame_count(n: usize) -> Result<usize, AudioError> {
    if n >= AST_FRAME_LENGTH {
        Ok(1 + (n - AST_FRAME_LENGTH) / AST_HOP_LENGTH)
    } else if n >= AST_MIN_SAMPLES {
        Ok(0)
    } else {
        Err(AudioError::InvalidArgument(format!(
            "audio too short for AST features: {n} samples (at least {AST_MIN_SAMPLES} needed)"
        )))
    }
}

/// `ASTFeatureExtractor` features of one mono input at `config.sampling_rate`: row-major
/// `[max_length, num_mel_bins]` (see the module documentation). Only the frames that survive
/// the cut to `max_length` are computed, so the cost is bounded by `max_length`.
pub fn ast_fbank(samples: &[f32], config: &AstConfig) -> Result<AstFeatures, AudioError> {
    config.validate()?;
    let AstConfig {
        num_mel_bins,
        max_length,
        ..
    } = *config;
    let frames = ast_frame_count(samples.len())?.min(max_length);
    let mut values = vec![0f32; max_length * num_mel_bins];
    kaldi_log_mel_frames(
        samples,
        1.0,
        &hanning(AST_FRAME_LENGTH),
        num_mel_bins,
        config.sampling_rate,
        frames,
        &mut values,
    )?;
    if config.do_normalize {
        let mean = config.mean as f32;
        let divisor = (config.std * 2.0) as f32;
        for v in &mut values {
            *v = (*v - mean) / divisor;
        }
    }
    Ok(AstFeatures {
        values,
        max_length,
        num_mel_bins,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_counts_follow_the_reference() {
        assert!(ast_frame_count(0).is_err());
        assert!(ast_frame_count(239).is_err());
        assert_eq!(ast_frame_count(240).ok(), Some(0));
        assert_eq!(ast_frame_count(399).ok(), Some(0));
        assert_eq!(ast_frame_count(400).ok(), Some(1));
        assert_eq!(ast_frame_count(559).ok(), Some(1));
        assert_eq!(ast_frame_count(560).ok(), Some(2));
        assert_eq!(ast_frame_count(16_000).ok(), Some(98));
    }

    #[test]
    fn shapes_padding_and_truncation() {
        let config = AstConfig {
            num_mel_bins: 16,
            max_length: 10,
            ..AstConfig::default()
        };
        let x: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let out = ast_fbank(&x, &config).expect("features");
        assert_eq!((out.max_length, out.num_mel_bins, out.frames), (10, 16, 10));
        assert_eq!(out.values.len(), 160);
        let short = ast_fbank(&x[..720], &config).expect("short");
        assert_eq!(short.frames, 3);
        // Padding rows are zeros before normalisation.
        let pad = (0.0 - config.mean as f32) / (config.std * 2.0) as f32;
        assert!(short.values[3 * 16..].iter().all(|&v| v == pad));
        // The computed rows do not depend on the padding.
        assert_eq!(short.values[..3 * 16], out.values[..3 * 16]);
        let none = ast_fbank(&x[..300], &config).expect("no frame");
        assert_eq!(none.frames, 0);
        assert!(none.values.iter().all(|&v| v == pad));
        assert!(ast_fbank(&x[..100], &config).is_err());
    }

    #[test]
    fn silence_is_the_floor() {
        let config = AstConfig {
            do_normalize: false,
            ..AstConfig::default()
        };
        let out = ast_fbank(&[0.25f32; 400], &config).expect("features");
        // A constant frame has no energy once its mean is removed.
        let floor = AST_MEL_FLOOR.ln() as f32;
        assert!(out.values[..128].iter().all(|&v| v == floor));
    }

    #[test]
    fn bad_settings_are_errors() {
        let base = AstConfig::default();
        for bad in [
            AstConfig {
                num_mel_bins: 0,
                ..base.clone()
            },
            AstConfig {
                max_length: 0,
                ..base.clone()
            },
            AstConfig {
                max_length: AST_MAX_LENGTH + 1,
                ..base.clone()
            },
            AstConfig {
                num_mel_bins: AST_MAX_MEL_BINS,
                max_length: AST_MAX_LENGTH,
                ..base.clone()
            },
            AstConfig {
                sampling_rate: 39,
                ..base.clone()
            },
            AstConfig {
                std: 0.0,
                ..base.clone()
            },
            AstConfig {
                mean: f64::NAN,
                ..base.clone()
            },
            AstConfig {
                std: 1e300,
                ..base.clone()
            },
        ] {
            assert!(ast_fbank(&[0.0; 1000], &bad).is_err(), "{bad:?}");
        }
        // Without normalisation mean and std are not used.
        let plain = AstConfig {
            do_normalize: false,
            std: 0.0,
            ..base
        };
        assert!(ast_fbank(&[0.0; 1000], &plain).is_ok());
    }

    #[test]
    fn kaldi_filters_are_triangles_in_mel_space() {
        let f = kaldi_mel_filter_bank(257, 128, 20.0, 8000.0, 16_000);
        assert!(f.iter().all(|&v| (0.0..=1.0).contains(&v)));
        // The Nyquist bin sits on the last filter's upper edge.
        assert!(f[256 * 128..].iter().all(|&v| v == 0.0));
        // As the reference (which warns about it), 128 filters on 257 bins leave one empty.
        let empty = (0..128)
            .filter(|&m| (0..257).all(|b| f[b * 128 + m] == 0.0))
            .count();
        assert_eq!(empty, 1);
        let f = kaldi_mel_filter_bank(257, 64, 20.0, 8000.0, 16_000);
        for m in 0..64 {
            assert!((0..257).any(|b| f[b * 64 + m] > 0.0), "filter {m} is empty");
        }
    }

    #[test]
    fn hanning_is_numpy_symmetric() {
        let w = hanning(400);
        assert_eq!(w[0], 0.0);
        assert_eq!(w[399], 0.0);
        assert!((w[199] - w[200]).abs() < 1e-15);
        assert!(w.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }
}
