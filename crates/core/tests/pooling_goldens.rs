//! Replays test/fixtures/goldens/pooling.json (written by
//! scripts/fixtures/make_pooling_goldens.py from sentence-transformers' Pooling, Normalize and
//! util.cos_sim) through the pooling and similarity kernels.

use std::path::Path;

use hf_tasks_core::pooling::{
    cls_pool, last_token_pool, max_pool, mean_pool, mean_sqrt_len_pool, weighted_mean_pool, Hidden,
};
use hf_tasks_core::similarity::{cosine_similarity, cosine_similarity_matrix, l2_normalize};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // Relative for the -1e9 fill of max pooling, absolute elsewhere.
        let tol = 1e-5f32.max(w.abs() * 1e-6);
        assert!((g - w).abs() <= tol, "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn pooling_and_similarity_match_sentence_transformers() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures/goldens/pooling.json");
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("json");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    for (n, case) in cases.iter().enumerate() {
        let dim = |k: &str| case[k].as_u64().expect("dim") as usize;
        let (batch, seq, d) = (dim("batch"), dim("seq"), dim("dim"));
        let values = floats(&case["hidden"]);
        let mask: Vec<i64> = case["attention_mask"]
            .as_array()
            .expect("mask")
            .iter()
            .map(|x| x.as_i64().expect("int"))
            .collect();
        let hidden = Hidden {
            values: &values,
            batch,
            seq,
            dim: d,
        };
        let pooled = &case["pooled"];
        let mean = mean_pool(&hidden, &mask).expect("mean");
        assert_close(&mean, &floats(&pooled["mean"]), &format!("case {n} mean"));
        assert_close(
            &cls_pool(&hidden).expect("cls"),
            &floats(&pooled["cls"]),
            &format!("case {n} cls"),
        );
        assert_close(
            &max_pool(&hidden, &mask).expect("max"),
            &floats(&pooled["max"]),
            &format!("case {n} max"),
        );
        assert_close(
            &last_token_pool(&hidden, &mask).expect("last"),
            &floats(&pooled["last_token"]),
            &format!("case {n} last token"),
        );
        assert_close(
            &mean_sqrt_len_pool(&hidden, &mask).expect("mean_sqrt_len"),
            &floats(&pooled["mean_sqrt_len"]),
            &format!("case {n} mean_sqrt_len"),
        );
        assert_close(
            &weighted_mean_pool(&hidden, &mask).expect("weightedmean"),
            &floats(&pooled["weightedmean"]),
            &format!("case {n} weightedmean"),
        );
        assert_close(
            &l2_normalize(&mean, batch, d).expect("normalize"),
            &floats(&case["normalized_mean"]),
            &format!("case {n} normalize"),
        );
        let other = floats(&case["other"]);
        let rows_other = other.len() / d;
        let want = floats(&case["cos_sim_mean_other"]);
        let matrix = cosine_similarity_matrix(&mean, batch, &other, rows_other, d).expect("matrix");
        assert_close(&matrix, &want, &format!("case {n} cos_sim"));
        for b in 0..batch {
            let row = cosine_similarity(&mean[b * d..(b + 1) * d], &other, rows_other, d)
                .expect("one to many");
            assert_close(
                &row,
                &want[b * rows_other..(b + 1) * rows_other],
                &format!("case {n} cos_sim row {b}"),
            );
        }
    }
}
