//! Bindings for `hf_tasks_core::tapas`: the TAPAS table tokenizer and the cell prediction.

use hf_tasks_core::tapas::{self, EncodeOptions, Padding, Table, TapasTokenizer, Truncation};
use hf_tasks_core::Error;
use napi::bindgen_prelude::{BigInt64Array, Float32Array, Result, Uint32Array};
use napi_derive::napi;

use crate::errors::{dim_arg, guard, Code};

/// Model inputs of a batch of queries on one table (row-major, int64 as ORT wants).
#[napi(object)]
pub struct TapasEncoding {
    /// Number of sequences (one per query).
    pub batch: u32,
    /// Padded sequence length.
    pub seq_len: u32,
    /// `batch * seqLen`.
    pub input_ids: BigInt64Array,
    /// `batch * seqLen`.
    pub attention_mask: BigInt64Array,
    /// `batch * seqLen * 7`: segment, column, row, previous label, column rank, inverse
    /// column rank, numeric relation.
    pub token_type_ids: BigInt64Array,
}

/// Encoding options.
#[napi(object)]
pub struct TapasEncodeOptions {
    /// `drop_rows_to_fit` or `do_not_truncate`.
    pub truncation: String,
    /// `true`, `longest`, `max_length` or `do_not_pad`.
    pub padding: String,
    /// Length budget; the tokenizer's `model_max_length` when absent.
    pub max_length: Option<f64>,
    /// The queries were given as a list.
    pub batched: bool,
}

fn options(o: TapasEncodeOptions) -> hf_tasks_core::Result<EncodeOptions> {
    let truncation = match o.truncation.as_str() {
        "drop_rows_to_fit" => Truncation::DropRowsToFit,
        "do_not_truncate" => Truncation::DoNotTruncate,
        other => {
            return Err(Error::InvalidArgument(format!(
                "truncation must be drop_rows_to_fit or do_not_truncate, got {other}"
            )))
        }
    };
    let padding = match o.padding.as_str() {
        "true" => Padding::True,
        "longest" => Padding::Longest,
        "max_length" => Padding::MaxLength,
        "do_not_pad" => Padding::DoNotPad,
        other => {
            return Err(Error::InvalidArgument(format!(
                "padding must be true, longest, max_length or do_not_pad, got {other}"
            )))
        }
    };
    let max_length = match o.max_length {
        Some(v) => Some(dim_arg(v, "max_length")?),
        None => None,
    };
    Ok(EncodeOptions {
        truncation,
        padding,
        max_length,
        batched: o.batched,
    })
}

fn count(n: usize) -> hf_tasks_core::Result<u32> {
    u32::try_from(n).map_err(|_| Error::InvalidArgument(format!("{n} does not fit in 32 bits")))
}

/// transformers' `TapasTokenizer` (slow, WordPiece vocabulary).
#[napi(js_name = "NativeTapasTokenizer")]
pub struct NativeTapasTokenizer {
    inner: TapasTokenizer,
}

#[napi]
impl NativeTapasTokenizer {
    /// Loads from the text of `vocab.txt` and `tokenizer_config.json` (may be empty).
    #[napi(factory, js_name = "fromFiles")]
    pub fn from_files(vocab: String, config: String) -> Result<NativeTapasTokenizer, Code> {
        guard(|| TapasTokenizer::from_files(&vocab, &config))
            .map(|inner| NativeTapasTokenizer { inner })
    }

    /// The tokenizer's `model_max_length`.
    #[napi(getter, js_name = "modelMaxLength")]
    pub fn model_max_length(&self) -> f64 {
        self.inner.model_max_length() as f64
    }

    /// Tokens of one text (special tokens, `[EMPTY]`, basic + WordPiece).
    #[napi]
    pub fn tokenize(&self, text: String) -> Vec<String> {
        self.inner.tokenize(&text)
    }

    /// Encodes `queries` against a table given column by column: `cells` holds `numRows`
    /// cells per column, columns in order.
    #[napi]
    pub fn encode(
        &self,
        columns: Vec<String>,
        cells: Vec<String>,
        num_rows: f64,
        queries: Vec<String>,
        opts: TapasEncodeOptions,
    ) -> Result<TapasEncoding, Code> {
        guard(|| {
            let rows = dim_arg(num_rows, "numRows")?;
            if cells.len() != rows.saturating_mul(columns.len()) {
                return Err(Error::Dims(format!(
                    "{} cells do not make {} columns of {rows} rows",
                    cells.len(),
                    columns.len()
                )));
            }
            let mut by_column: Vec<Vec<String>> = Vec::with_capacity(columns.len());
            let mut it = cells.into_iter();
            for _ in 0..columns.len() {
                by_column.push(it.by_ref().take(rows).collect());
            }
            let table = Table::from_columns(columns, by_column)?;
            let enc = self.inner.encode(&table, &queries, &options(opts)?)?;
            Ok(TapasEncoding {
                batch: count(enc.batch)?,
                seq_len: count(enc.seq_len)?,
                input_ids: BigInt64Array::new(enc.input_ids),
                attention_mask: BigInt64Array::new(enc.attention_mask),
                token_type_ids: BigInt64Array::new(enc.token_type_ids),
            })
        })
    }
}

/// Answer cells of one sequence: flat `(row, column)` pairs, sorted, of the cells whose mean
/// token probability (sigmoid of the logits clipped at -88.7, masked) is above `threshold`.
#[napi(js_name = "tapasPredictCoordinates")]
pub fn tapas_predict_coordinates(
    logits: Float32Array,
    attention_mask: BigInt64Array,
    token_type_ids: BigInt64Array,
    threshold: f64,
) -> Result<Uint32Array, Code> {
    guard(|| {
        let coords =
            tapas::predict_coordinates(&logits, &attention_mask, &token_type_ids, threshold)?;
        let mut flat = Vec::with_capacity(coords.len() * 2);
        for (r, c) in coords {
            flat.push(count(r)?);
            flat.push(count(c)?);
        }
        Ok(Uint32Array::new(flat))
    })
}

/// Sequential inference: a copy of `nextTokenTypeIds` whose previous-label column holds the
/// previous sequence's answer cells.
#[napi(js_name = "tapasPreviousAnswerLabels")]
pub fn tapas_previous_answer_labels(
    prev_logits: Float32Array,
    prev_attention_mask: BigInt64Array,
    prev_token_type_ids: BigInt64Array,
    next_token_type_ids: BigInt64Array,
) -> Result<BigInt64Array, Code> {
    guard(|| {
        let mut next = next_token_type_ids.to_vec();
        tapas::previous_answer_labels(
            &prev_logits,
            &prev_attention_mask,
            &prev_token_type_ids,
            &mut next,
        )?;
        Ok(BigInt64Array::new(next))
    })
}

/// Index of the first maximum (numpy `argmax`); `null` for an empty array.
#[napi(js_name = "tapasArgmax")]
pub fn tapas_argmax(values: Float32Array) -> Option<u32> {
    tapas::argmax(&values).and_then(|i| u32::try_from(i).ok())
}
