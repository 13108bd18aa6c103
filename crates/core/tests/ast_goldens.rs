//! Replays the feature goldens of test/fixtures/goldens/audio-ast.json (written by
//! scripts/fixtures/make_ast_goldens.py from transformers 4.57.3's `ASTFeatureExtractor`, numpy
//! path) through [`ast_fbank`], with each fixture model's own preprocessor_config.json: the
//! reference's samples of a few clips (at each extractor's rate) and formula signals around the
//! frame-count edges (240 and 400 samples) and past 1024 frames.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hf_tasks_core::audio::{ast_fbank, AstConfig};
use serde_json::Value;

/// Largest difference from the reference's input_values (measured: 0, bit-exact, on x86-64
/// Linux; the margin covers other platforms' `ln`/`cos`).
const FEATURE_TOL: f32 = 1e-6;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures")
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("file")).expect("json")
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

/// The golden script's formula signal, computed in f64 and rounded to f32.
fn formula(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = i as f64;
            (0.3 * (x * 0.0625).sin() + 0.2 * (x * x * 1e-7).sin() + 0.05 * (x * 1.7).sin()) as f32
        })
        .collect()
}

/// A fixture model's extractor settings, read as the TS loader reads them.
fn config_of(model: &str) -> AstConfig {
    let raw = json(
        &root()
            .join("models")
            .join(model)
            .join("preprocessor_config.json"),
    );
    assert_eq!(raw["feature_extractor_type"], "ASTFeatureExtractor");
    let d = AstConfig::default();
    let int = |k: &str, v: usize| raw.get(k).and_then(Value::as_u64).map_or(v, |x| x as usize);
    let float = |k: &str, v: f64| raw.get(k).and_then(Value::as_f64).unwrap_or(v);
    AstConfig {
        num_mel_bins: int("num_mel_bins", d.num_mel_bins),
        max_length: int("max_length", d.max_length),
        sampling_rate: int("sampling_rate", d.sampling_rate as usize) as u32,
        do_normalize: raw
            .get("do_normalize")
            .and_then(Value::as_bool)
            .unwrap_or(d.do_normalize),
        mean: float("mean", d.mean),
        std: float("std", d.std),
    }
}

#[test]
fn ast_features_match_transformers() {
    let g = json(&root().join("goldens/audio-ast.json"));
    assert_eq!(g["reference"]["feature_path"], "numpy");
    let mut worst = 0f32;
    let mut compared = 0;
    for entry in g["features"].as_array().expect("features") {
        let name = entry.get("file").and_then(Value::as_str).map_or_else(
            || format!("formula {}", entry["formula_length"]),
            str::to_owned,
        );
        for (model, want) in entry["features"].as_object().expect("features") {
            let config = config_of(model);
            let samples = match entry.get("samples") {
                Some(s) => f32s(&s[config.sampling_rate.to_string()]),
                None => formula(entry["formula_length"].as_u64().expect("length") as usize),
            };
            let label = format!("{name} / {model}");
            let out = ast_fbank(&samples, &config).expect("features");
            let shape = [out.max_length as u64, out.num_mel_bins as u64];
            assert_eq!(want["shape"], Value::from(shape.to_vec()), "{label}: shape");
            assert_eq!(want["frames"].as_u64(), Some(out.frames as u64), "{label}");
            let rows = want["head_rows"].as_u64().expect("rows") as usize;
            let head = f32s(&want["head"]);
            let bins = out.num_mel_bins;
            assert_eq!(head.len(), rows * bins, "{label}: head");
            let mut d = 0f32;
            for (a, b) in out.values[..rows * bins].iter().zip(&head) {
                d = d.max((a - b).abs());
            }
            let last = f32s(&want["last_rows"]);
            for (a, b) in out.values[out.values.len() - 2 * bins..].iter().zip(&last) {
                d = d.max((a - b).abs());
            }
            assert!(d <= FEATURE_TOL, "{label}: max difference {d}");
            worst = worst.max(d);
            let sum: f64 = out.values.iter().map(|&v| f64::from(v)).sum();
            let want_sum = want["sum"].as_f64().expect("sum");
            assert!(
                (sum - want_sum).abs() <= 1e-5 * out.values.len() as f64,
                "{label}: sum {sum} vs {want_sum}"
            );
            let min = out.values.iter().copied().fold(f32::MAX, f32::min);
            let max = out.values.iter().copied().fold(f32::MIN, f32::max);
            assert!((f64::from(min) - want["min"].as_f64().expect("min")).abs() <= 1e-4);
            assert!((f64::from(max) - want["max"].as_f64().expect("max")).abs() <= 1e-4);
            compared += 1;
        }
    }
    assert!(compared >= 30, "{compared} feature cases");
    println!("AST features: {compared} cases, largest difference {worst:e}");
}

#[test]
fn ast_refuses_what_the_reference_refuses() {
    let g = json(&root().join("goldens/audio-ast.json"));
    let mut seen = 0;
    for c in g["audio_classification"].as_array().expect("cases") {
        if c.get("error").is_none() {
            continue;
        }
        let config = config_of(c["model"].as_str().expect("model"));
        let n = c["formula_length"].as_u64().expect("length") as usize;
        assert!(ast_fbank(&formula(n), &config).is_err(), "{n} samples");
        seen += 1;
    }
    assert!(seen >= 3);
}
