//! Bindings for `hf_tasks_core::aggregate`: token-classification post-processing with the
//! tokenizer that produced the tokens.

use hf_tasks_core::aggregate::{self, AggregateOptions, Entity, Strategy, TokenPredictions};
use hf_tasks_core::Error;
use napi::bindgen_prelude::{BigInt64Array, Either, Float32Array, Result, Uint32Array, Uint8Array};
use napi_derive::napi;

use crate::errors::{dim_arg, guard, Code};
use crate::tokenize::Tokenizer;

/// One text's model output and encoding, as flat typed arrays.
#[napi(object)]
pub struct TokenClassificationInput {
    /// The original text (offsets index it in code points).
    pub text: String,
    /// `[windows, seq, labels]` logits.
    pub logits: Float32Array,
    /// Number of stride windows (1 without stride).
    pub windows: f64,
    /// Tokens per window.
    pub seq: f64,
    /// Number of labels.
    pub labels: f64,
    /// `[windows, seq]` input ids.
    pub input_ids: BigInt64Array,
    /// `[windows, seq]`, non-zero for special and padding tokens.
    pub special_tokens_mask: Uint8Array,
    /// `[windows, seq, 2]` code-point offsets into `text`.
    pub offsets: Uint32Array,
    /// `config.id2label` as an array indexed by label id.
    #[napi(js_name = "id2label")]
    pub id2label: Vec<String>,
    /// `none` | `simple` | `first` | `average` | `max` (case-insensitive).
    pub aggregation_strategy: String,
    /// Labels to drop after grouping; default `["O"]`.
    pub ignore_labels: Option<Vec<String>>,
}

/// An entity of an aggregated strategy (wire keys and order of the task contract).
#[napi(object)]
pub struct GroupedEntity {
    #[napi(js_name = "entity_group")]
    pub entity_group: String,
    pub score: f64,
    pub word: String,
    pub start: u32,
    pub end: u32,
}

/// A token entity of strategy `none` (wire keys and order of the task contract).
#[napi(object)]
pub struct TokenEntity {
    pub entity: String,
    pub score: f64,
    pub index: u32,
    pub word: String,
    pub start: u32,
    pub end: u32,
}

fn narrow(v: usize) -> hf_tasks_core::Result<u32> {
    u32::try_from(v).map_err(|_| Error::Internal(format!("offset {v} does not fit in 32 bits")))
}

/// Ids must fit the vocabulary's u32 range where they are looked up (non-special positions);
/// special positions are never read, so any value passes there.
fn token_ids(ids: &[i64], mask: &[u8]) -> hf_tasks_core::Result<Vec<u32>> {
    ids.iter()
        .enumerate()
        .map(|(i, &id)| match u32::try_from(id) {
            Ok(v) => Ok(v),
            Err(_) if mask.get(i).is_some_and(|&m| m != 0) => Ok(u32::MAX),
            Err(_) => Err(Error::TokenId(format!(
                "aggregate: token id {id} at flat position {i} is outside the vocabulary"
            ))),
        })
        .collect()
}

/// Token-classification post-processing (task contract 1.4 to 1.6): per-token softmax, special
/// tokens skipped, words and groups built per the strategy, ignored labels dropped, stride
/// windows merged. Returns `{entity_group, score, word, start, end}` objects, or with strategy
/// `none` `{entity, score, index, word, start, end}`; offsets in code points.
#[napi(js_name = "aggregateTokens")]
pub fn aggregate_tokens(
    tokenizer: &Tokenizer,
    input: TokenClassificationInput,
) -> Result<Either<Vec<GroupedEntity>, Vec<TokenEntity>>, Code> {
    guard(|| {
        let strategy = Strategy::parse(&input.aggregation_strategy)?;
        let ids = token_ids(&input.input_ids, &input.special_tokens_mask)?;
        let ignore = input.ignore_labels.unwrap_or_else(|| vec!["O".to_string()]);
        let entities = aggregate::aggregate(
            &input.text,
            &TokenPredictions {
                logits: &input.logits,
                windows: dim_arg(input.windows, "windows")?,
                seq: dim_arg(input.seq, "seq")?,
                labels: dim_arg(input.labels, "labels")?,
                input_ids: &ids,
                special_tokens_mask: &input.special_tokens_mask,
                offsets: &input.offsets,
            },
            &AggregateOptions {
                id2label: &input.id2label,
                strategy,
                ignore_labels: &ignore,
            },
            tokenizer.inner.as_ref(),
        )?;
        if strategy == Strategy::None {
            entities
                .into_iter()
                .map(|e: Entity| {
                    Ok(TokenEntity {
                        index: narrow(e.index.unwrap_or(0))?,
                        start: narrow(e.start)?,
                        end: narrow(e.end)?,
                        entity: e.label,
                        score: f64::from(e.score),
                        word: e.word,
                    })
                })
                .collect::<hf_tasks_core::Result<Vec<_>>>()
                .map(Either::B)
        } else {
            entities
                .into_iter()
                .map(|e: Entity| {
                    Ok(GroupedEntity {
                        start: narrow(e.start)?,
                        end: narrow(e.end)?,
                        entity_group: e.label,
                        score: f64::from(e.score),
                        word: e.word,
                    })
                })
                .collect::<hf_tasks_core::Result<Vec<_>>>()
                .map(Either::A)
        }
    })
}
