//! Bindings for `hf_tasks_core::pooling`. Hidden states are a flat `Float32Array`
//! `[batch, seq, dim]`, the attention mask a `BigInt64Array` `[batch, seq]` (the ORT input).

use hf_tasks_core::pooling::{self, Hidden};
use napi::bindgen_prelude::{BigInt64Array, Float32Array, Result};
use napi_derive::napi;

use crate::errors::{dim_arg, guard, Code};

fn hidden<'a>(
    values: &'a Float32Array,
    batch: f64,
    seq: f64,
    dim: f64,
) -> hf_tasks_core::Result<Hidden<'a>> {
    Ok(Hidden {
        values,
        batch: dim_arg(batch, "batch")?,
        seq: dim_arg(seq, "seq")?,
        dim: dim_arg(dim, "dim")?,
    })
}

/// Mask-aware mean pooling: `sum(h * mask) / max(sum(mask), 1e-9)` per sequence, `[batch, dim]`.
#[napi(js_name = "meanPool")]
pub fn mean_pool(
    hidden_states: Float32Array,
    batch: f64,
    seq: f64,
    dim: f64,
    attention_mask: BigInt64Array,
) -> Result<Float32Array, Code> {
    guard(|| {
        pooling::mean_pool(&hidden(&hidden_states, batch, seq, dim)?, &attention_mask)
            .map(Float32Array::new)
    })
}

/// `mean_sqrt_len` pooling: `sum(h * mask) / sqrt(max(sum(mask), 1e-9))`, `[batch, dim]`.
#[napi(js_name = "meanSqrtLenPool")]
pub fn mean_sqrt_len_pool(
    hidden_states: Float32Array,
    batch: f64,
    seq: f64,
    dim: f64,
    attention_mask: BigInt64Array,
) -> Result<Float32Array, Code> {
    guard(|| {
        pooling::mean_sqrt_len_pool(&hidden(&hidden_states, batch, seq, dim)?, &attention_mask)
            .map(Float32Array::new)
    })
}

/// `weightedmean` pooling: token `t` weighs `t + 1`, `[batch, dim]`.
#[napi(js_name = "weightedMeanPool")]
pub fn weighted_mean_pool(
    hidden_states: Float32Array,
    batch: f64,
    seq: f64,
    dim: f64,
    attention_mask: BigInt64Array,
) -> Result<Float32Array, Code> {
    guard(|| {
        pooling::weighted_mean_pool(&hidden(&hidden_states, batch, seq, dim)?, &attention_mask)
            .map(Float32Array::new)
    })
}

/// CLS pooling: the first token's vector of each sequence, `[batch, dim]`.
#[napi(js_name = "clsPool")]
pub fn cls_pool(
    hidden_states: Float32Array,
    batch: f64,
    seq: f64,
    dim: f64,
) -> Result<Float32Array, Code> {
    guard(|| pooling::cls_pool(&hidden(&hidden_states, batch, seq, dim)?).map(Float32Array::new))
}

/// Last-token pooling: the last position whose mask is 1 (left or right padding), `[batch, dim]`.
#[napi(js_name = "lastTokenPool")]
pub fn last_token_pool(
    hidden_states: Float32Array,
    batch: f64,
    seq: f64,
    dim: f64,
    attention_mask: BigInt64Array,
) -> Result<Float32Array, Code> {
    guard(|| {
        pooling::last_token_pool(&hidden(&hidden_states, batch, seq, dim)?, &attention_mask)
            .map(Float32Array::new)
    })
}

/// Max pooling over unmasked tokens (masked ones count as -1e9), `[batch, dim]`.
#[napi(js_name = "maxPool")]
pub fn max_pool(
    hidden_states: Float32Array,
    batch: f64,
    seq: f64,
    dim: f64,
    attention_mask: BigInt64Array,
) -> Result<Float32Array, Code> {
    guard(|| {
        pooling::max_pool(&hidden(&hidden_states, batch, seq, dim)?, &attention_mask)
            .map(Float32Array::new)
    })
}
