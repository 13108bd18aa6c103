//! Bindings for `hf_tasks_core::scoring`.

use hf_tasks_core::scoring::{self, ScoreFn};
use napi::bindgen_prelude::{Float32Array, Result, Uint32Array};
use napi_derive::napi;

use crate::errors::{guard, to_usize, Code};

/// Applies `fn` ("softmax" | "sigmoid" | "none") to every row of a `[rows, cols]` matrix.
#[napi(js_name = "applyScores")]
pub fn apply_scores(
    values: Float32Array,
    rows: u32,
    cols: u32,
    func: String,
) -> Result<Float32Array, Code> {
    guard(|| {
        let f = ScoreFn::parse(&func)?;
        scoring::apply_rows(&values, to_usize(rows), to_usize(cols), f).map(Float32Array::new)
    })
}

/// Indices of the `k` largest values, descending; ties keep the lower index first.
#[napi(js_name = "topK")]
pub fn top_k(values: Float32Array, k: u32) -> Result<Uint32Array, Code> {
    guard(|| {
        hf_tasks_core::error::check_finite(&values, "topK")?;
        let idx = scoring::top_k(&values, to_usize(k));
        Ok(Uint32Array::new(
            idx.into_iter().map(|i| i as u32).collect(),
        ))
    })
}
