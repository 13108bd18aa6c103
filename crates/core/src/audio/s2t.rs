//! `Speech2TextFeatureExtractor` (facebook/s2t-* speech recognition) of transformers 4.57, as
//! the extractor computes one input when torchaudio is not installed (its numpy path):
//!
//! - the samples times 2^15 ("Kaldi compliance: 16-bit signed integers");
//! - Kaldi-style log-mel frames as `ASTFeatureExtractor` computes them
//!   ([`super::ast`]: 400 samples every 160, DC offset and pre-emphasis, 512-point FFT, Kaldi
//!   mel filters from 20 Hz), with Kaldi's default Povey window (`np.hanning(400) ** 0.85`)
//!   instead of Hann; `1 + ⌊(n − 400) / 160⌋` frames, none for 240 to 399 samples;
//! - utterance-level cepstral mean and variance normalisation over the frames
//!   (`do_ceptral_normalize`, `normalize_means`, `normalize_vars`), in f32 as numpy computes
//!   `x.mean(axis=0)` and `x.std(axis=0)` on a float32 array (each column summed in frame
//!   order).
//!
//! The result is `[frames, num_mel_bins]`, the model's `input_features` of one input. The
//! reference's `dither` adds random noise; only `dither = 0` (every published extractor's) is
//! accepted, since random noise cannot be reproduced.

use super::ast::{
    ast_frame_count, hanning, kaldi_log_mel_frames, AST_FRAME_LENGTH, AST_MAX_MEL_BINS,
    AST_MIN_SAMPLING_RATE,
};
use super::AudioError;

/// Scale of the samples before the filter bank (16-bit integer range).
pub const S2T_SAMPLE_SCALE: f64 = 32_768.0;
/// Exponent of the Povey window over the symmetric Hann window.
const POVEY_EXPONENT: f64 = 0.85;

/// `Speech2TextFeatureExtractor` settings (its `preprocessor_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct S2tConfig {
    /// Mel bins (80).
    pub num_mel_bins: usize,
    /// Sampling rate of the samples (16000); places the mel filters.
    pub sampling_rate: u32,
    /// Utterance-level cepstral mean and variance normalisation (true).
    pub do_ceptral_normalize: bool,
    /// Subtract each bin's mean over the frames (true).
    pub normalize_means: bool,
    /// Divide by each bin's standard deviation over the frames (true).
    pub normalize_vars: bool,
}

impl Default for S2tConfig {
    fn default() -> Self {
        Self {
            num_mel_bins: 80,
            sampling_rate: 16_000,
            do_ceptral_normalize: true,
            normalize_means: true,
            normalize_vars: true,
        }
    }
}

impl S2tConfig {
    /// Checks every setting against its limit.
    pub fn validate(&self) -> Result<(), AudioError> {
        if self.num_mel_bins == 0 || self.num_mel_bins > AST_MAX_MEL_BINS {
            return Err(AudioError::InvalidArgument(format!(
                "num_mel_bins must be between 1 and {AST_MAX_MEL_BINS}, got {}",
                self.num_mel_bins
            )));
        }
        if self.sampling_rate < AST_MIN_SAMPLING_RATE {
            return Err(AudioError::InvalidArgument(format!(
                "sampling_rate must be at least {AST_MIN_SAMPLING_RATE} (its half is the highest mel frequency, above the lowest, 20 Hz), got {}",
                self.sampling_rate
            )));
        }
        Ok(())
    }
}

/// Output of [`s2t_fbank`].
#[derive(Debug, Clone, PartialEq)]
pub struct S2tFeatures {
    /// Row-major `[frames, num_mel_bins]`.
    pub values: Vec<f32>,
    /// Frames (rows): `1 + ⌊(n − 400) / 160⌋`, 0 for 240 to 399 samples.
    pub frames: usize,
    /// Mel bins (columns).
    pub num_mel_bins: usize,
}

/// Kaldi's Povey window: `np.power(np.hanning(400), 0.85)`.
fn povey() -> Vec<f64> {
    hanning(AST_FRAME_LENGTH)
        .into_iter()
        .map(|w| w.powf(POVEY_EXPONENT))
        .collect()
}

/// Each column's sum over the rows, in f32, row after row (numpy's `sum(axis=0)` of a
/// C-ordered float32 array).
fn column_sums(values: &[f32], columns: usize) -> Vec<f32> {
    let mut sums = vec![0f32; columns];
    for row in values.chunks_exact(columns) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    sums
}

/// `x.mean(axis=0)` of a float32 `[rows, columns]` array, as numpy computes it.
fn column_means(values: &[f32], columns: usize, rows: usize) -> Vec<f32> {
    let n = rows as f32;
    column_sums(values, columns)
        .into_iter()
        .map(|s| s / n)
        .collect()
}

/// `utterance_cmvn`: the columns centred and/or scaled by their statistics over the frames.
/// One frame (or a constant column) has a zero deviation, so scaling gives NaN there, as the
/// reference's division does.
fn utterance_cmvn(values: &mut [f32], columns: usize, rows: usize, means: bool, vars: bool) {
    if rows == 0 {
        return;
    }
    if means {
        let mean = column_means(values, columns, rows);
        for row in values.chunks_exact_mut(columns) {
            for (v, m) in row.iter_mut().zip(&mean) {
                *v -= m;
            }
        }
    }
    if vars {
        // numpy's `_var`: the mean again, the squared deviations summed, over n, then sqrt.
        let mean = column_means(values, columns, rows);
        let mut squares = vec![0f32; columns];
        for row in values.chunks_exact(columns) {
            for ((s, &v), m) in squares.iter_mut().zip(row).zip(&mean) {
                let d = v - m;
                *s += d * d;
            }
        }
        let n = rows as f32;
        let std: Vec<f32> = squares.into_iter().map(|s| (s / n).sqrt()).collect();
        for row in values.chunks_exact_mut(columns) {
            for (v, s) in row.iter_mut().zip(&std) {
                *v /= s;
            }
        }
    }
}

/// `Speech2TextFeatureExtractor` features of one mono input at `config.sampling_rate` (see the
/// module documentation): row-major `[frames, num_mel_bins]`. Fewer than 240 samples is an
/// error (the reference asks numpy for a negative number of frames); 240 to 399 give no frame.
pub fn s2t_fbank(samples: &[f32], config: &S2tConfig) -> Result<S2tFeatures, AudioError> {
    config.validate()?;
    let frames = ast_frame_count(samples.len()).map_err(|_| {
        AudioError::InvalidArgument(format!(
            "audio too short for Speech2Text features: {} samples (at least {} needed)",
            samples.len(),
            super::ast::AST_MIN_SAMPLES
        ))
    })?;
    let bins = config.num_mel_bins;
    let mut values = vec![0f32; frames * bins];
    kaldi_log_mel_frames(
        samples,
        S2T_SAMPLE_SCALE,
        &povey(),
        bins,
        config.sampling_rate,
        frames,
        &mut values,
    )?;
    if config.do_ceptral_normalize {
        utterance_cmvn(
            &mut values,
            bins,
            frames,
            config.normalize_means,
            config.normalize_vars,
        );
    }
    Ok(S2tFeatures {
        values,
        frames,
        num_mel_bins: bins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.07).sin() * 0.2 + (i as f32 * 0.31).cos() * 0.05)
            .collect()
    }

    #[test]
    fn shapes_follow_the_frame_count() {
        let c = S2tConfig::default();
        assert_eq!(s2t_fbank(&tone(16_000), &c).expect("1 s").frames, 98);
        let none = s2t_fbank(&tone(300), &c).expect("no frame");
        assert_eq!((none.frames, none.values.len()), (0, 0));
        assert!(s2t_fbank(&tone(100), &c).is_err());
        let c40 = S2tConfig {
            num_mel_bins: 40,
            ..c
        };
        let out = s2t_fbank(&tone(4000), &c40).expect("40 bins");
        assert_eq!(out.values.len(), out.frames * 40);
    }

    /// Pseudo-random samples in [-0.5, 0.5): every bin varies from frame to frame.
    fn noise(n: usize) -> Vec<f32> {
        let mut state = 0x2545_f491_u32;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn normalised_columns_have_zero_mean_and_unit_deviation() {
        let out = s2t_fbank(&noise(16_000), &S2tConfig::default()).expect("features");
        let n = out.frames as f64;
        for m in 0..80 {
            let col: Vec<f64> = (0..out.frames)
                .map(|f| f64::from(out.values[f * 80 + m]))
                .collect();
            let mean = col.iter().sum::<f64>() / n;
            let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            assert!(mean.abs() < 1e-4, "bin {m}: mean {mean}");
            assert!((var - 1.0).abs() < 1e-3, "bin {m}: variance {var}");
        }
    }

    #[test]
    fn means_only_and_raw_features() {
        let x = tone(8000);
        let raw = s2t_fbank(
            &x,
            &S2tConfig {
                do_ceptral_normalize: false,
                ..S2tConfig::default()
            },
        )
        .expect("raw");
        let centred = s2t_fbank(
            &x,
            &S2tConfig {
                normalize_vars: false,
                ..S2tConfig::default()
            },
        )
        .expect("centred");
        let mean = column_means(&raw.values, 80, raw.frames);
        for (i, (&c, &r)) in centred.values.iter().zip(&raw.values).enumerate() {
            assert_eq!(c, r - mean[i % 80]);
        }
        // The samples are scaled to the 16-bit range: a louder copy is not the same spectrum.
        let loud: Vec<f32> = x.iter().map(|v| v * 2.0).collect();
        let louder = s2t_fbank(
            &loud,
            &S2tConfig {
                do_ceptral_normalize: false,
                ..S2tConfig::default()
            },
        )
        .expect("loud");
        assert!((louder.values[5] - raw.values[5] - 4f32.ln()).abs() < 1e-3);
    }

    #[test]
    fn one_frame_scaled_is_nan_as_in_the_reference() {
        let out = s2t_fbank(&tone(400), &S2tConfig::default()).expect("one frame");
        assert_eq!(out.frames, 1);
        assert!(out.values.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn povey_is_hann_to_the_085() {
        let w = povey();
        let h = hanning(400);
        assert_eq!(w[0], 0.0);
        assert!((w[100] - h[100].powf(0.85)).abs() < 1e-15);
        assert!(w.iter().zip(&h).all(|(p, h)| p >= h));
    }

    #[test]
    fn bad_settings_are_errors() {
        for bad in [
            S2tConfig {
                num_mel_bins: 0,
                ..S2tConfig::default()
            },
            S2tConfig {
                sampling_rate: 10,
                ..S2tConfig::default()
            },
        ] {
            assert!(s2t_fbank(&tone(1000), &bad).is_err());
        }
    }
}
