//! Replays test/fixtures/goldens/images.json (written by scripts/fixtures/make_image_goldens.py
//! from Pillow and transformers 4.57.3) through the image core: decoding of every corpus file,
//! the error class of broken files, `Image.resize` for all six filters (byte-exact),
//! `center_crop` (byte-exact) and the `ViTImageProcessor` defaults (`pixel_values`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hf_tasks_core::image::transform::center_crop;
use hf_tasks_core::image::{decode, preprocess, DecodeOptions, Filter, PreprocessConfig, RgbImage};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest per-sample difference accepted between our JPEG decode (zune-jpeg) and Pillow's
/// (libjpeg-turbo, ISLOW IDCT, fancy upsampling) for JPEGs without chroma subsampling (4:4:4,
/// gray) and for lossy WebP. Measured: 2 (4:4:4), 1 (gray), 0 (WebP).
const LOSSY_MAX_ABS_DIFF: u8 = 2;
/// The same for chroma-subsampled (4:2:0) JPEGs, where the chroma upsampling differs from
/// libjpeg-turbo's: measured up to 11 on sharp synthetic edges.
const SUBSAMPLED_MAX_ABS_DIFF: u8 = 12;
/// Largest mean absolute difference per sample for lossy formats (measured: at most 0.44).
const LOSSY_MEAN_ABS_DIFF: f64 = 0.5;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures")
}

fn golden() -> Value {
    let path = root().join("goldens/images.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("json")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(root().join("images").join(name)).expect("fixture image")
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn load(name: &str) -> RgbImage {
    decode(&read(name), &DecodeOptions::default())
        .expect("decodes")
        .image
}

#[test]
fn decoded_pixels_match_pillow() {
    let g = golden();
    let decoded = g["decoded"].as_object().expect("decoded");
    assert!(decoded.len() >= 30);
    let mut exact = 0;
    let mut lossy_report = Vec::new();
    let mut lossy_failures = Vec::new();
    for (name, want) in decoded {
        let got = decode(&read(name), &DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (w, h) = (
            want["width"].as_u64().expect("w"),
            want["height"].as_u64().expect("h"),
        );
        assert_eq!(
            (u64::from(got.image.width()), u64::from(got.image.height())),
            (w, h),
            "{name}: size"
        );
        if let Some(reference) = want["reference_png"].as_str() {
            let reference = load(reference);
            let (mut max, mut sum, mut differing) = (0u8, 0u64, 0usize);
            for (a, b) in got.image.data().iter().zip(reference.data()) {
                let d = a.abs_diff(*b);
                max = max.max(d);
                sum += u64::from(d);
                differing += usize::from(d != 0);
            }
            let n = reference.data().len();
            let mean = sum as f64 / n as f64;
            lossy_report.push(format!(
                "{name}: max {max}, mean {mean:.4}, {:.2}% of samples differ",
                100.0 * differing as f64 / n as f64
            ));
            let full_chroma =
                name.contains("444") || name.contains("gray") || name.contains("webp");
            let limit = if full_chroma {
                LOSSY_MAX_ABS_DIFF
            } else {
                SUBSAMPLED_MAX_ABS_DIFF
            };
            if max > limit || mean > LOSSY_MEAN_ABS_DIFF {
                lossy_failures.push(name.clone());
            }
        } else {
            if let Some(b64) = want["rgb_b64"].as_str() {
                let raw = STANDARD.decode(b64).expect("base64");
                assert!(
                    got.image.data() == raw.as_slice(),
                    "{name}: pixels differ from Pillow"
                );
            }
            assert_eq!(
                sha(got.image.data()),
                want["sha256"].as_str().expect("sha"),
                "{name}"
            );
            exact += 1;
        }
    }
    eprintln!("{exact} files decoded byte-identical to Pillow; lossy formats:");
    for line in &lossy_report {
        eprintln!("  {line}");
    }
    assert!(
        lossy_failures.is_empty(),
        "beyond the lossy tolerance: {lossy_failures:?}"
    );
    assert!(exact >= 20);
    assert!(lossy_report.len() >= 10);
}

#[test]
fn broken_files_fail_like_pillow() {
    let g = golden();
    for (name, class) in g["errors"].as_object().expect("errors") {
        let class = class
            .as_str()
            .expect("the reference refuses every broken file");
        let err = decode(&read(name), &DecodeOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{name}: decoded, but Pillow raises {class}"));
        let allowed: &[&str] = match class {
            "UnidentifiedImageError" => &["ERR_IMAGE_EMPTY", "ERR_IMAGE_FORMAT"],
            "DecompressionBombError" => &["ERR_IMAGE_TOO_LARGE"],
            "OSError" => &["ERR_IMAGE_TRUNCATED", "ERR_IMAGE_CORRUPT"],
            other => panic!("{name}: unexpected reference error {other}"),
        };
        assert!(
            allowed.contains(&err.code()),
            "{name}: {} ({err}) for {class}",
            err.code()
        );
    }
}

#[test]
fn pixel_limit_is_checked_before_decoding() {
    let bytes = read("rgb_300x200.png");
    let small = DecodeOptions {
        max_pixels: 300 * 200 - 1,
        ..DecodeOptions::default()
    };
    let err = decode(&bytes, &small).expect_err("over the limit");
    assert_eq!(err.code(), "ERR_IMAGE_TOO_LARGE");
    let exact = DecodeOptions {
        max_pixels: 300 * 200,
        ..DecodeOptions::default()
    };
    assert!(decode(&bytes, &exact).is_ok());
    let no_exif = DecodeOptions {
        apply_exif_orientation: false,
        ..DecodeOptions::default()
    };
    let raw = decode(&read("jpeg_exif6_40x24.jpg"), &no_exif).expect("decodes");
    assert_eq!(
        (raw.image.width(), raw.image.height(), raw.orientation),
        (40, 24, 1)
    );
    let turned = decode(&read("jpeg_exif6_40x24.jpg"), &DecodeOptions::default()).expect("ok");
    assert_eq!(
        (
            turned.image.width(),
            turned.image.height(),
            turned.orientation
        ),
        (24, 40, 6)
    );
}

#[test]
fn resize_is_byte_identical_to_pillow_for_all_filters() {
    let g = golden();
    let cases = g["resize"].as_array().expect("resize");
    assert!(cases.len() >= 100);
    let mut inputs: BTreeMap<String, RgbImage> = BTreeMap::new();
    let mut per_filter: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in cases {
        let input = case["input"].as_str().expect("input");
        let image = inputs
            .entry(input.to_owned())
            .or_insert_with(|| load(input));
        let filter_name = case["filter"].as_str().expect("filter");
        let filter = Filter::from_name(filter_name).expect("filter");
        let (w, h) = (
            case["width"].as_u64().expect("w"),
            case["height"].as_u64().expect("h"),
        );
        let out = image.resize(w as u32, h as u32, filter).expect("resize");
        let entry = per_filter.entry(filter_name.to_owned()).or_default();
        entry.1 += 1;
        if sha(out.data()) == case["sha256"].as_str().expect("sha") {
            entry.0 += 1;
        } else {
            failures.push(format!("{input} -> {w}x{h} {filter_name}"));
        }
    }
    for (f, (ok, n)) in &per_filter {
        eprintln!("{f}: {ok}/{n} byte-identical");
    }
    assert_eq!(per_filter.len(), 6);
    assert!(failures.is_empty(), "differ from Pillow: {failures:#?}");
}

#[test]
fn center_crop_matches_transformers() {
    let g = golden();
    let cases = g["center_crop"].as_array().expect("crops");
    assert!(cases.len() >= 6);
    for case in cases {
        let input = case["input"].as_str().expect("input");
        let image = load(input);
        let (w, h) = (
            case["width"].as_u64().expect("w"),
            case["height"].as_u64().expect("h"),
        );
        let out = center_crop(
            image.data(),
            image.width() as usize,
            image.height() as usize,
            3,
            w as usize,
            h as usize,
        )
        .expect("crop");
        assert_eq!(
            sha(&out),
            case["sha256"].as_str().expect("sha"),
            "{input} crop {w}x{h}"
        );
    }
}

#[test]
fn vit_pixel_values_match_the_reference() {
    let g = golden();
    let p = &g["processor"];
    assert_eq!(p["resample"].as_u64(), Some(2));
    assert_eq!(p["size"]["height"].as_u64(), Some(224));
    let config = PreprocessConfig::vit_defaults();
    let mut checked = 0;
    for case in g["vit"].as_array().expect("vit") {
        let input = case["input"].as_str().expect("input");
        if case.get("error").is_some() {
            continue;
        }
        let t = preprocess(&load(input), &config).expect("preprocess");
        assert_eq!(t.shape, vec![3, 224, 224], "{input}");
        let idx = case["indices"].as_array().expect("indices");
        let vals = case["values"].as_array().expect("values");
        let mut max = 0f32;
        for (i, v) in idx.iter().zip(vals) {
            let (i, v) = (
                i.as_u64().expect("i") as usize,
                v.as_f64().expect("v") as f32,
            );
            max = max.max((t.data[i] - v).abs());
        }
        assert!(max <= 1e-5, "{input}: max diff {max}");
        let bytes: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(
            sha(&bytes),
            case["sha256"].as_str().expect("sha"),
            "{input}: not bit-identical"
        );
        checked += 1;
    }
    assert!(checked >= 10);
}

#[test]
fn resize_targets_match_transformers() {
    use hf_tasks_core::image::size::{detr_size, shortest_edge_size};
    let g = golden();
    let cases = g["sizes"].as_array().expect("sizes");
    assert!(cases.len() >= 200);
    let pair = |v: &Value| {
        let a = v.as_array().expect("pair");
        (
            a[0].as_u64().expect("h") as u32,
            a[1].as_u64().expect("w") as u32,
        )
    };
    for c in cases {
        let n = |k: &str| c[k].as_u64().expect("int") as u32;
        let (h, w, size) = (n("height"), n("width"), n("size"));
        let max_size = c["max_size"].as_u64().map(|m| m as u32);
        let what = format!("{h}x{w} size {size} max {max_size:?}");
        let got = shortest_edge_size(h, w, size, max_size).expect("shortest edge");
        assert_eq!(got, pair(&c["shortest_edge"]), "shortest_edge {what}");
        assert_eq!(
            detr_size(h, w, size, max_size).expect("detr"),
            pair(&c["detr"]),
            "detr {what}"
        );
    }
}
