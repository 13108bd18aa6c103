//! Fuzzes resampling and the feature extractors on arbitrary samples and settings: every
//! call either fails with a typed error or returns a consistent, finite result.
#![no_main]

use arbitrary::Arbitrary;
use hf_tasks_core::audio::{
    ast_fbank, convert_raw, wav2vec2_normalize, whisper_log_mel, AstConfig, WhisperConfig,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    samples: Vec<f32>,
    rate: u32,
    target: u32,
    feature_size: u8,
    hop: u8,
    n_fft: u16,
    target_len: u16,
    truncate: bool,
    normalize: bool,
    ast_bins: u8,
    ast_length: u8,
    ast_rate: u16,
    ast_mean: f32,
    ast_std: f32,
}

fuzz_target!(|input: Input| {
    // Mostly common rates (cheap exact-phase filters), sometimes any rate (1024 phases).
    const RATES: [u32; 8] = [
        8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
    ];
    let pick = |v: u32| {
        if v % 16 == 0 {
            1 + (v / 16) % 96_000
        } else {
            RATES[(v % 8) as usize]
        }
    };
    let rate = pick(input.rate);
    // Downsampling ratios up to 100 (the decoder refuses larger ones).
    let target = pick(input.target).max(rate.div_ceil(100));
    match convert_raw(&input.samples, rate, target, 1.0) {
        Ok(out) => {
            assert!(out.len() <= input.samples.len() * target as usize / rate as usize + 64);
            // Samples beyond ±1e30 may overflow the f32 filter sums, as in ffmpeg.
            if input.samples.iter().all(|v| v.abs() <= 1e30) {
                assert!(out.iter().all(|v| v.is_finite()));
            }
        }
        Err(e) => assert!(e.code().starts_with("ERR_"), "{e}"),
    }
    let finite: Vec<f32> = input
        .samples
        .iter()
        .map(|v| {
            if v.is_finite() {
                v.clamp(-4.0, 4.0)
            } else {
                0.0
            }
        })
        .collect();
    let normalized = wav2vec2_normalize(&finite);
    assert_eq!(normalized.len(), finite.len());
    assert!(normalized.iter().all(|v| v.is_finite()));
    // Small settings keep one execution cheap (the extractor's cost is frames x bins x mels).
    let config = WhisperConfig {
        feature_size: usize::from(input.feature_size % 40),
        hop_length: if input.hop == 0 {
            0
        } else {
            32 + usize::from(input.hop)
        },
        n_fft: usize::from(input.n_fft % 512),
        do_normalize: input.normalize,
        ..WhisperConfig::default()
    };
    let target_len = usize::from(input.target_len % 2048);
    if let Ok(out) = whisper_log_mel(&finite, &config, target_len, input.truncate) {
        assert_eq!(out.values.len(), out.feature_size * out.frames);
        assert!(out.attention_frames <= out.frames);
        assert!(out.values.iter().all(|v| v.is_finite()));
    }
    // AST: any settings (bad ones are typed errors), a bounded output either way.
    let ast = AstConfig {
        num_mel_bins: usize::from(input.ast_bins),
        max_length: usize::from(input.ast_length),
        sampling_rate: u32::from(input.ast_rate),
        do_normalize: input.normalize,
        mean: f64::from(input.ast_mean),
        std: f64::from(input.ast_std),
    };
    match ast_fbank(&finite, &ast) {
        Ok(out) => {
            assert_eq!(out.values.len(), out.max_length * out.num_mel_bins);
            assert!(out.frames <= out.max_length);
            assert!(finite.len() >= 240);
            // Finite unless normalisation divides by a tiny std (numpy gives inf there too).
            if !input.normalize || (input.ast_std.abs() >= 1e-3 && input.ast_mean.abs() <= 1e30) {
                assert!(out.values.iter().all(|v| v.is_finite()));
            }
        }
        Err(e) => assert!(e.code().starts_with("ERR_"), "{e}"),
    }
});
