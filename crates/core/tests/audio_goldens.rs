//! Replays test/fixtures/goldens/audio.json (written by scripts/fixtures/make_audio_goldens.py
//! from ffmpeg 5.1 and transformers 4.57.3) through the audio core: decoding of every clip at
//! 16 kHz and 8 kHz against `ffmpeg_read`, Wav2Vec2 normalisation and Whisper log-mel features
//! (80 and 128 bins, 30 s padding, long-form padding) against the feature extractors.
//!
//! Tolerances (largest per-sample difference against ffmpeg's output):
//! - PCM WAV and FLAC already at the target rate and mono: exact;
//! - PCM/FLAC needing a down-mix or resampling: `LOSSLESS_TOL`;
//! - MP3 (different decoders): `LOSSY_TOL`, and equal lengths (the encoder delay dropped, the
//!   end padding kept, as ffmpeg does);
//! - OGG Vorbis: `VORBIS_TOL` over the common length; ffmpeg 5.1 may end one short block
//!   earlier (measured: 256 samples at 16 kHz), so lengths may differ by `VORBIS_LEN_TOL`.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hf_tasks_core::audio::{
    decode, wav2vec2_normalize, whisper_log_mel, AudioError, DecodeOptions, WhisperConfig,
};
use serde_json::Value;

/// Down-mixed or resampled lossless input: largest per-sample difference from ffmpeg.
const LOSSLESS_TOL: f32 = 2e-5;
/// MP3: largest per-sample difference from ffmpeg's decoder (measured 5.0e-6).
const LOSSY_TOL: f32 = 2e-5;
/// OGG Vorbis: largest per-sample difference over the common length (measured 3.5e-3).
const VORBIS_TOL: f32 = 5e-3;
/// OGG Vorbis: largest length difference in output samples (measured 256 at 16 kHz).
const VORBIS_LEN_TOL: usize = 512;
/// Features computed from the same samples.
const FEATURE_TOL: f32 = 1e-4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures")
}

fn golden() -> Value {
    let path = root().join("goldens/audio.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("json")
}

fn f32s(v: &Value) -> Vec<f32> {
    let bytes = STANDARD
        .decode(v.as_str().expect("base64"))
        .expect("base64");
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(root().join("audio").join(name)).expect("fixture clip")
}

#[test]
fn decode_matches_ffmpeg() {
    let g = golden();
    let mut report = Vec::new();
    for clip in g["decode"].as_array().expect("decode") {
        let file = clip["file"].as_str().expect("file");
        let format = clip["format"].as_str().expect("format");
        let bytes = read(file);
        for rate in [16_000u32, 8_000] {
            let got = decode(
                &bytes,
                &DecodeOptions {
                    target_rate: rate,
                    ..Default::default()
                },
            );
            if format == "opus" {
                let err = got.expect_err("opus is not supported");
                assert_eq!(err.code(), "ERR_AUDIO_UNSUPPORTED");
                continue;
            }
            let got = got.unwrap_or_else(|e| panic!("{file} at {rate}: {e}"));
            let want = f32s(&clip[format!("samples_{rate}")]);
            let lossless = clip["lossless"].as_bool().expect("lossless");
            let exact = lossless
                && clip["rate"].as_u64() == Some(u64::from(rate))
                && clip["channels"].as_u64() == Some(1);
            let d = max_diff(&got.samples, &want);
            report.push(format!(
                "{file}@{rate}: {d:.2e} ({} vs {})",
                got.samples.len(),
                want.len()
            ));
            if format == "ogg" {
                assert!(
                    got.samples.len().abs_diff(want.len()) <= VORBIS_LEN_TOL,
                    "{file}"
                );
                // Away from the end, where a different length changes the resampler's mirror.
                let common = got.samples.len().min(want.len()).saturating_sub(64);
                let d = max_diff(&got.samples[..common], &want[..common]);
                assert!(d <= VORBIS_TOL, "{file} at {rate}: {d}");
                continue;
            }
            assert_eq!(got.samples.len(), want.len(), "{file} at {rate}: length");
            if exact {
                assert_eq!(got.samples, want, "{file} at {rate}: exact");
            } else if lossless {
                assert!(d <= LOSSLESS_TOL, "{file} at {rate}: {d}");
            } else {
                assert!(d <= LOSSY_TOL, "{file} at {rate}: {d}");
            }
        }
    }
    eprintln!("max |ours - ffmpeg|: {}", report.join(", "));
}

#[test]
fn broken_files_are_typed_errors() {
    let opts = DecodeOptions::default();
    assert_eq!(decode(&read("empty.wav"), &opts), Err(AudioError::Empty));
    for name in ["truncated-header.wav", "not-audio.txt"] {
        let err = decode(&read(name), &opts).expect_err(name);
        assert!(err.is_input_error(), "{name}: {err}");
    }
    // A fmt chunk declaring 0 Hz (found by fuzzing: the demuxer would panic on it).
    let mut zero_rate = read("tone-16k-s16.wav");
    zero_rate[24..28].copy_from_slice(&0u32.to_le_bytes());
    let err = decode(&zero_rate, &opts).expect_err("0 Hz");
    assert_eq!(err.code(), "ERR_AUDIO_CORRUPT");
    // WAVE_FORMAT_EXTENSIBLE layouts no speaker mapping can hold (found by fuzzing: the demuxer's
    // mask repair overflowed a shift on 89 channels).
    let ext = read("tone-16k-s16-ext-3ch.wav");
    let patched = |channels: u16, mask: u32| {
        let mut b = ext.clone();
        b[22..24].copy_from_slice(&channels.to_le_bytes());
        b[40..44].copy_from_slice(&mask.to_le_bytes());
        b
    };
    for (channels, mask) in [(89, 0x3), (3, 0x8000_0003), (3, 0x2_0000), (19, 0)] {
        let err = decode(&patched(channels, mask), &opts).expect_err("layout");
        assert_eq!(
            err.code(),
            "ERR_AUDIO_UNSUPPORTED",
            "{channels} ch, mask {mask:#x}: {err}"
        );
    }
    // Fewer positions than channels, with room above them: placed in order, as before.
    assert!(decode(&patched(3, 0x1), &opts).is_ok());
    // An MP3 (ID3 tag first) with a broken extensible WAV inside: read as MP3 only, never as the
    // WAV the generic probe would find in it (found by fuzzing).
    let mut nested = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    nested.extend_from_slice(&patched(89, 0x3));
    let err = decode(&nested, &opts).expect_err("nested");
    assert!(!err.to_string().contains("decoder failed"), "{err}");
    let short = DecodeOptions {
        max_duration_s: 0.1,
        ..Default::default()
    };
    let err = decode(&read("tone-16k-s16.wav"), &short).expect_err("too long");
    assert_eq!(err.code(), "ERR_AUDIO_TOO_LONG");
}

fn check_whisper(
    name: &str,
    entry: &Value,
    samples: &[f32],
    bins: usize,
    target: usize,
    truncate: bool,
) {
    let config = WhisperConfig {
        feature_size: bins,
        ..Default::default()
    };
    let out = whisper_log_mel(samples, &config, target, truncate).expect("features");
    let shape: Vec<usize> = entry["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|v| v.as_u64().expect("dim") as usize)
        .collect();
    assert_eq!(vec![out.feature_size, out.frames], shape, "{name}: shape");
    let head_frames = entry["head_frames"].as_u64().expect("head") as usize;
    let head = f32s(&entry["head"]);
    let mut worst = 0f32;
    for m in 0..bins {
        for f in 0..head_frames {
            let d = (out.values[m * out.frames + f] - head[m * head_frames + f]).abs();
            worst = worst.max(d);
        }
    }
    let tail = f32s(&entry["tail_frame"]);
    for (m, want) in tail.iter().enumerate().take(bins) {
        worst = worst.max((out.values[m * out.frames + out.frames - 1] - want).abs());
    }
    assert!(
        worst <= FEATURE_TOL,
        "{name}: whisper {bins} max diff {worst}"
    );
    let max = out.values.iter().copied().fold(f32::MIN, f32::max);
    assert!((max - entry["max"].as_f64().expect("max") as f32).abs() <= FEATURE_TOL);
    let mean = out.values.iter().map(|&v| f64::from(v)).sum::<f64>() / out.values.len() as f64;
    assert!(
        (mean - entry["mean"].as_f64().expect("mean")).abs() <= 1e-5,
        "{name}: mean"
    );
    if let Some(sum) = entry.get("attention_mask_sum").and_then(Value::as_u64) {
        assert_eq!(out.attention_frames as u64, sum, "{name}: attention frames");
    }
}

#[test]
fn features_match_transformers() {
    let g = golden();
    for clip in g["decode"].as_array().expect("decode") {
        let file = clip["file"].as_str().expect("file");
        let Some(samples) = clip.get("samples_16000") else {
            continue;
        };
        // Features from the reference's own samples: the extractor alone is under test.
        let samples = f32s(samples);
        let normalized = wav2vec2_normalize(&samples);
        let want = f32s(&clip["wav2vec2_normalized"]);
        let d = max_diff(&normalized, &want);
        assert!(d <= 1e-5, "{file}: wav2vec2 normalisation {d}");
        check_whisper(file, &clip["whisper80"], &samples, 80, 480_000, true);
        check_whisper(file, &clip["whisper128"], &samples, 128, 480_000, true);
    }
}

#[test]
fn whisper_long_form_matches_transformers() {
    let g = golden();
    let long = &g["whisper_long"];
    let n = long["length"].as_u64().expect("length") as usize;
    let samples: Vec<f32> = (0..n)
        .map(|i| {
            let x = i as f64;
            (0.3 * (x * 0.0625).sin() + 0.2 * (x * x * 1e-7).sin()) as f32
        })
        .collect();
    check_whisper("long/longest", &long["longest"], &samples, 80, 0, false);
    check_whisper(
        "long/truncated",
        &long["truncated"],
        &samples,
        80,
        480_000,
        true,
    );
    let out = whisper_log_mel(&samples, &WhisperConfig::default(), 0, false).expect("features");
    let last = f32s(&long["longest"]["last_frames"]);
    let k = last.len() / 80;
    let mut worst = 0f32;
    for m in 0..80 {
        for j in 0..k {
            let ours = out.values[m * out.frames + out.frames - k + j];
            worst = worst.max((ours - last[m * k + j]).abs());
        }
    }
    assert!(worst <= FEATURE_TOL, "long-form tail: {worst}");
}

#[test]
fn hostile_metadata_lengths_do_not_allocate() {
    // A FLAC VORBIS_COMMENT block whose comment claims ~4 GiB: the metadata is dropped and the
    // audio decodes as without it.
    let flac = read("tone-16k.flac");
    let clean = decode(&flac, &DecodeOptions::default()).expect("flac");
    let info_len = 4 + 34;
    let mut hostile = flac[..4].to_vec();
    let mut info = flac[4..4 + info_len].to_vec();
    info[0] &= 0x7F; // STREAMINFO is no longer the last block
    hostile.extend_from_slice(&info);
    let mut comment = Vec::new();
    comment.extend_from_slice(&0u32.to_le_bytes()); // vendor
    comment.extend_from_slice(&1u32.to_le_bytes()); // one comment
    comment.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes()); // of ~4 GiB
    let len = comment.len();
    hostile.extend_from_slice(&[0x84, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    hostile.extend_from_slice(&comment);
    // The frames (skip the original metadata blocks).
    let mut at = 4;
    loop {
        let last = flac[at] & 0x80 != 0;
        let n = (usize::from(flac[at + 1]) << 16)
            | (usize::from(flac[at + 2]) << 8)
            | usize::from(flac[at + 3]);
        at += 4 + n;
        if last {
            break;
        }
    }
    hostile.extend_from_slice(&flac[at..]);
    let got = decode(&hostile, &DecodeOptions::default()).expect("hostile flac");
    assert_eq!(got.samples, clean.samples);
    // The same trick in an OGG Vorbis comment header is refused.
    let mut ogg = read("tone-16k.ogg");
    let pos = ogg
        .windows(7)
        .position(|w| w == b"\x03vorbis")
        .expect("comment header");
    ogg[pos + 7..pos + 11].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let err = decode(&ogg, &DecodeOptions::default()).expect_err("hostile ogg");
    assert_eq!(err.code(), "ERR_AUDIO_CORRUPT");
}
