//! Fuzzes audio decoding: arbitrary bytes (any supported container, usually broken) either fail
//! with a typed audio error or decode to finite mono samples within the duration limit, which
//! then feed both feature extractors.
#![no_main]

use hf_tasks_core::audio::{
    decode, wav2vec2_normalize, whisper_log_mel, DecodeOptions, WhisperConfig,
};
use libfuzzer_sys::fuzz_target;

/// Short, so that one execution stays cheap (FLAC packs long constant blocks in a few bytes).
const MAX_SECONDS: f64 = 0.05;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the output rate.
    let (params, bytes) = data.split_at(data.len().min(1));
    let rate = match params.first().map(|b| b % 4) {
        Some(0) => 8_000,
        Some(1) => 22_050,
        Some(2) => 44_100,
        _ => 16_000,
    };
    let options = DecodeOptions {
        target_rate: rate,
        max_duration_s: MAX_SECONDS,
    };
    let decoded = match decode(bytes, &options) {
        Ok(d) => d,
        Err(e) => {
            assert!(e.code().starts_with("ERR_AUDIO_"), "{e}");
            return;
        }
    };
    assert!(!decoded.samples.is_empty());
    assert_eq!(decoded.sample_rate, rate);
    // The limit holds on the source; resampling adds at most a filter's length.
    assert!(
        decoded.duration_s() <= MAX_SECONDS + 0.01,
        "{}",
        decoded.duration_s()
    );
    let normalized = wav2vec2_normalize(&decoded.samples);
    assert_eq!(normalized.len(), decoded.samples.len());
    if decoded.samples.iter().all(|v| v.is_finite()) {
        let config = WhisperConfig::default();
        // Padding to the input's own length keeps the frame count small.
        if let Ok(out) = whisper_log_mel(&decoded.samples, &config, 0, false) {
            assert_eq!(out.values.len(), out.feature_size * out.frames);
            assert!(out.values.iter().all(|v| v.is_finite()));
        }
    }
});
