//! Bindings for `hf_tasks_core::similarity`.

use hf_tasks_core::similarity;
use napi::bindgen_prelude::{Float32Array, Result};
use napi_derive::napi;

use crate::errors::{dim_arg, guard, Code};

/// L2-normalises every row of a `[rows, dim]` matrix: `x / max(||x||, 1e-12)`.
#[napi(js_name = "l2Normalize")]
pub fn l2_normalize(values: Float32Array, rows: f64, dim: f64) -> Result<Float32Array, Code> {
    guard(|| {
        similarity::l2_normalize(&values, dim_arg(rows, "rows")?, dim_arg(dim, "dim")?)
            .map(Float32Array::new)
    })
}

/// Cosine similarity of `query` (`[dim]`) with each row of `candidates` (`[rows, dim]`).
#[napi(js_name = "cosineSimilarity")]
pub fn cosine_similarity(
    query: Float32Array,
    candidates: Float32Array,
    rows: f64,
    dim: f64,
) -> Result<Float32Array, Code> {
    guard(|| {
        similarity::cosine_similarity(
            &query,
            &candidates,
            dim_arg(rows, "rows")?,
            dim_arg(dim, "dim")?,
        )
        .map(Float32Array::new)
    })
}

/// Cosine similarity of every row of `a` with every row of `b`: `[rowsA, rowsB]`, row-major.
#[napi(js_name = "cosineSimilarityMatrix")]
pub fn cosine_similarity_matrix(
    a: Float32Array,
    rows_a: f64,
    b: Float32Array,
    rows_b: f64,
    dim: f64,
) -> Result<Float32Array, Code> {
    guard(|| {
        similarity::cosine_similarity_matrix(
            &a,
            dim_arg(rows_a, "rowsA")?,
            &b,
            dim_arg(rows_b, "rowsB")?,
            dim_arg(dim, "dim")?,
        )
        .map(Float32Array::new)
    })
}
