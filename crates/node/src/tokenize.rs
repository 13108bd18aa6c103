//! Bindings for `hf_tasks_core::tokenize`: the `Tokenizer` class.

use std::path::Path;
use std::sync::Arc;

use hf_tasks_core::offsets::OffsetUnit;
use hf_tasks_core::tokenize::{
    self as core, BatchEncoding, EncodeOptions, Padding, Side, Truncation,
};
use hf_tasks_core::Error;
use napi::bindgen_prelude::{
    AsyncTask, BigInt64Array, Int32Array, Int8Array, Result, Uint32Array, Uint8Array,
};
use napi::{Env, Status, Task};
use napi_derive::napi;

use crate::errors::{guard, Code};

/// Encode options as JS passes them (camelCase); strings are validated in Rust.
#[napi(object)]
#[derive(Default)]
pub struct NativeEncodeOptions {
    /// Add the model's special tokens (default true).
    pub add_special_tokens: Option<bool>,
    /// `longest_first` | `only_first` | `only_second` | `do_not_truncate`; absent = not given.
    pub truncation: Option<String>,
    /// Maximum length in tokens.
    pub max_length: Option<f64>,
    /// `longest` | `max_length` | `do_not_pad` (default).
    pub padding: Option<String>,
    /// `left` | `right`; default: the tokenizer's.
    pub padding_side: Option<String>,
    /// `left` | `right`; default: the tokenizer's.
    pub truncation_side: Option<String>,
    /// Round padded lengths up to a multiple of this.
    pub pad_to_multiple_of: Option<f64>,
    /// Tokens of overlap between overflowing windows.
    pub stride: Option<f64>,
    /// One row per overflowing window.
    pub return_overflowing: Option<bool>,
    /// `code_points` (default) | `utf16`.
    pub offsets: Option<String>,
}

/// A batch encoding as flat typed arrays; `dims` = `[rows, seqLen]`.
#[napi(object)]
pub struct NativeEncoding {
    /// `[rows, seqLen]` token ids.
    pub input_ids: BigInt64Array,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: BigInt64Array,
    /// Segment ids.
    pub token_type_ids: BigInt64Array,
    /// 1 for special and padding tokens.
    pub special_tokens_mask: Uint8Array,
    /// `[rows, seqLen, 2]` token spans in the input text.
    pub offsets: Uint32Array,
    /// Word index per token, -1 for none.
    pub word_ids: Int32Array,
    /// 0/1 per token, -1 for special and padding tokens.
    pub sequence_ids: Int8Array,
    /// Input index of each row.
    pub overflow_to_sample_mapping: Uint32Array,
    /// Real length of each row (rows are filled up to `seqLen` when not padded).
    pub lengths: Uint32Array,
    /// `[rows, seqLen]`.
    pub dims: Vec<u32>,
}

/// Special token strings (null when the tokenizer has none).
#[napi(object)]
pub struct NativeSpecialTokens {
    pub cls_token: Option<String>,
    pub sep_token: Option<String>,
    pub pad_token: Option<String>,
    pub mask_token: Option<String>,
    pub unk_token: Option<String>,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
}

fn count_arg(v: Option<f64>, name: &str) -> hf_tasks_core::Result<Option<usize>> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    match v {
        None => Ok(None),
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= MAX_SAFE => {
            usize::try_from(x as u64)
                .map(Some)
                .map_err(|_| Error::InvalidArgument(format!("{name} is too large: {x}")))
        }
        Some(x) => Err(Error::InvalidArgument(format!(
            "{name} must be a non-negative integer, got {x}"
        ))),
    }
}

fn side_arg(v: Option<&str>) -> hf_tasks_core::Result<Option<Side>> {
    v.map(Side::parse).transpose()
}

fn to_options(o: Option<NativeEncodeOptions>) -> hf_tasks_core::Result<EncodeOptions> {
    let o = o.unwrap_or_default();
    Ok(EncodeOptions {
        add_special_tokens: o.add_special_tokens.unwrap_or(true),
        truncation: o.truncation.as_deref().map(Truncation::parse).transpose()?,
        max_length: count_arg(o.max_length, "maxLength")?,
        padding: o
            .padding
            .as_deref()
            .map(Padding::parse)
            .transpose()?
            .unwrap_or_default(),
        padding_side: side_arg(o.padding_side.as_deref())?,
        truncation_side: side_arg(o.truncation_side.as_deref())?,
        pad_to_multiple_of: count_arg(o.pad_to_multiple_of, "padToMultipleOf")?,
        stride: count_arg(o.stride, "stride")?.unwrap_or(0),
        return_overflowing: o.return_overflowing.unwrap_or(false),
        offsets: match o.offsets.as_deref() {
            None | Some("code_points") => OffsetUnit::CodePoint,
            Some("utf16") => OffsetUnit::Utf16,
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "unknown offsets unit {other:?}; expected code_points or utf16"
                )))
            }
        },
    })
}

fn check_pairs(texts: &[String], pairs: &Option<Vec<Option<String>>>) -> hf_tasks_core::Result<()> {
    match pairs {
        Some(p) if p.len() != texts.len() => Err(Error::InvalidArgument(format!(
            "{} texts but {} pair entries; pass one pair (or null) per text",
            texts.len(),
            p.len()
        ))),
        _ => Ok(()),
    }
}

fn encode(
    tok: &core::Tokenizer,
    texts: &[String],
    pairs: &Option<Vec<Option<String>>>,
    options: &EncodeOptions,
) -> hf_tasks_core::Result<BatchEncoding> {
    check_pairs(texts, pairs)?;
    let inputs: Vec<(&str, Option<&str>)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let pair = pairs
                .as_ref()
                .and_then(|p| p.get(i))
                .and_then(|p| p.as_deref());
            (t.as_str(), pair)
        })
        .collect();
    tok.encode_batch(&inputs, options)
}

fn to_js(e: BatchEncoding) -> Result<NativeEncoding, Code> {
    let dim = |v: usize| {
        u32::try_from(v).map_err(|_| {
            crate::errors::js_error("ERR_DIMS", format!("dimension {v} does not fit in uint32"))
        })
    };
    Ok(NativeEncoding {
        dims: vec![dim(e.rows)?, dim(e.seq_len)?],
        input_ids: BigInt64Array::new(e.input_ids),
        attention_mask: BigInt64Array::new(e.attention_mask),
        token_type_ids: BigInt64Array::new(e.token_type_ids),
        special_tokens_mask: Uint8Array::new(e.special_tokens_mask),
        offsets: Uint32Array::new(e.offsets),
        word_ids: Int32Array::new(e.word_ids),
        sequence_ids: Int8Array::new(e.sequence_ids),
        overflow_to_sample_mapping: Uint32Array::new(e.overflow_to_sample_mapping),
        lengths: Uint32Array::new(e.lengths),
    })
}

/// Batch encoding on the libuv thread pool. Errors reach JS as `"<CODE>: <message>"` (an
/// async task can only reject with a napi status), which the TS wrapper turns back into a
/// coded error.
pub struct EncodeTask {
    tok: Arc<core::Tokenizer>,
    texts: Vec<String>,
    pairs: Option<Vec<Option<String>>>,
    options: EncodeOptions,
}

impl Task for EncodeTask {
    type Output = BatchEncoding;
    type JsValue = NativeEncoding;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| encode(&self.tok, &self.texts, &self.pairs, &self.options)).map_err(|e| {
            napi::Error::new(
                Status::GenericFailure,
                format!("{}: {}", e.status.0, e.reason),
            )
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        to_js(output).map_err(|e| {
            napi::Error::new(
                Status::GenericFailure,
                format!("{}: {}", e.status.0, e.reason),
            )
        })
    }
}

/// A loaded tokenizer (`tokenizer.json` + `tokenizer_config.json`).
#[napi]
pub struct Tokenizer {
    pub(crate) inner: Arc<core::Tokenizer>,
}

#[napi]
impl Tokenizer {
    /// Loads a `tokenizer.json` file or a directory holding one (with its
    /// `tokenizer_config.json` and `special_tokens_map.json` when present).
    #[napi(factory, js_name = "fromFile")]
    pub fn from_file(path: String) -> Result<Tokenizer, Code> {
        guard(|| core::Tokenizer::from_path(Path::new(&path)))
            .map(|t| Tokenizer { inner: Arc::new(t) })
    }

    /// A Marian slow tokenizer from `source.spm` (bytes), `vocab.json` (text) and, optionally,
    /// `tokenizer_config.json`, `special_tokens_map.json`, `target.spm` (bytes) and, with
    /// separate vocabularies, `target_vocab.json`.
    #[napi(factory, js_name = "fromMarian")]
    pub fn from_marian(
        source_spm: Uint8Array,
        vocab_json: String,
        config: Option<String>,
        special_tokens_map: Option<String>,
        target_spm: Option<Uint8Array>,
        target_vocab_json: Option<String>,
    ) -> Result<Tokenizer, Code> {
        guard(|| {
            core::Tokenizer::from_marian(
                (&source_spm, "source.spm"),
                (&vocab_json, "vocab.json"),
                config.as_deref().map(|c| (c, "tokenizer_config.json")),
                special_tokens_map
                    .as_deref()
                    .map(|m| (m, "special_tokens_map.json")),
                core::MarianTarget {
                    spm: target_spm.as_deref().map(|b| (b, "target.spm")),
                    vocab: target_vocab_json
                        .as_deref()
                        .map(|v| (v, "target_vocab.json")),
                },
            )
        })
        .map(|t| Tokenizer { inner: Arc::new(t) })
    }

    /// An M2M100 slow tokenizer from `sentencepiece.bpe.model` (bytes), `vocab.json` (text),
    /// optionally `tokenizer_config.json` and `special_tokens_map.json`, and the language tokens
    /// (`__en__`...) whose ids follow `vocab.json`'s entries.
    #[napi(factory, js_name = "fromM2M100")]
    pub fn from_m2m100(
        spm: Uint8Array,
        vocab_json: String,
        config: Option<String>,
        special_tokens_map: Option<String>,
        language_tokens: Vec<String>,
    ) -> Result<Tokenizer, Code> {
        slow_sentencepiece(
            core::SlowFlavor::M2M100,
            &spm,
            &vocab_json,
            config.as_deref(),
            special_tokens_map.as_deref(),
            &language_tokens,
        )
    }

    /// A Speech2Text slow tokenizer (`Speech2TextTokenizer`) from `sentencepiece.bpe.model`
    /// (bytes), `vocab.json` (text) and optionally `tokenizer_config.json` and
    /// `special_tokens_map.json`.
    #[napi(factory, js_name = "fromSpeech2Text")]
    pub fn from_speech2text(
        spm: Uint8Array,
        vocab_json: String,
        config: Option<String>,
        special_tokens_map: Option<String>,
    ) -> Result<Tokenizer, Code> {
        slow_sentencepiece(
            core::SlowFlavor::Speech2Text,
            &spm,
            &vocab_json,
            config.as_deref(),
            special_tokens_map.as_deref(),
            &[],
        )
    }

    /// Loads from JSON text: `tokenizer.json`, optional `tokenizer_config.json` and
    /// `special_tokens_map.json`.
    #[napi(factory, js_name = "fromJson")]
    pub fn from_json(
        json: String,
        config: Option<String>,
        special_tokens_map: Option<String>,
    ) -> Result<Tokenizer, Code> {
        guard(|| {
            core::Tokenizer::from_parts(
                (&json, "tokenizer.json"),
                config.as_deref().map(|c| (c, "tokenizer_config.json")),
                special_tokens_map
                    .as_deref()
                    .map(|m| (m, "special_tokens_map.json")),
            )
        })
        .map(|t| Tokenizer { inner: Arc::new(t) })
    }

    /// Encodes texts (and optional pairs, one entry or null per text) on the calling thread.
    #[napi(js_name = "encodeBatchSync")]
    pub fn encode_batch_sync(
        &self,
        texts: Vec<String>,
        pairs: Option<Vec<Option<String>>>,
        options: Option<NativeEncodeOptions>,
    ) -> Result<NativeEncoding, Code> {
        let enc = guard(|| {
            let options = to_options(options)?;
            encode(&self.inner, &texts, &pairs, &options)
        })?;
        to_js(enc)
    }

    /// Encodes texts on the libuv thread pool; resolves to the same result as the sync call.
    #[napi(js_name = "encodeBatch", ts_return_type = "Promise<NativeEncoding>")]
    pub fn encode_batch(
        &self,
        texts: Vec<String>,
        pairs: Option<Vec<Option<String>>>,
        options: Option<NativeEncodeOptions>,
    ) -> Result<AsyncTask<EncodeTask>, Code> {
        let options = guard(|| {
            check_pairs(&texts, &pairs)?;
            to_options(options)
        })?;
        Ok(AsyncTask::new(EncodeTask {
            tok: Arc::clone(&self.inner),
            texts,
            pairs,
            options,
        }))
    }

    /// Decodes ids; `cleanUpTokenizationSpaces` null/undefined uses the tokenizer's default.
    #[napi]
    pub fn decode(
        &self,
        ids: Uint32Array,
        skip_special_tokens: Option<bool>,
        clean_up_tokenization_spaces: Option<bool>,
    ) -> Result<String, Code> {
        guard(|| {
            self.inner.decode(
                &ids,
                skip_special_tokens.unwrap_or(false),
                clean_up_tokenization_spaces,
            )
        })
    }

    /// Decodes several sequences given flat: `ids` holds them back to back, `lengths` their
    /// sizes.
    #[napi(js_name = "decodeBatch")]
    pub fn decode_batch(
        &self,
        ids: Uint32Array,
        lengths: Uint32Array,
        skip_special_tokens: Option<bool>,
        clean_up_tokenization_spaces: Option<bool>,
    ) -> Result<Vec<String>, Code> {
        guard(|| {
            let total: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
            if total != ids.len() as u64 {
                return Err(Error::Dims(format!(
                    "decodeBatch: lengths sum to {total} but {} ids were given",
                    ids.len()
                )));
            }
            let mut rows: Vec<&[u32]> = Vec::with_capacity(lengths.len());
            let mut at = 0usize;
            for &l in lengths.iter() {
                let end = at + l as usize;
                let row = ids.get(at..end).ok_or_else(|| {
                    Error::Dims(format!("decodeBatch: row [{at}, {end}) out of range"))
                })?;
                rows.push(row);
                at = end;
            }
            self.inner.decode_batch(
                &rows,
                skip_special_tokens.unwrap_or(false),
                clean_up_tokenization_spaces,
            )
        })
    }

    /// Vocabulary strings of `ids`.
    #[napi(js_name = "convertIdsToTokens")]
    pub fn convert_ids_to_tokens(
        &self,
        ids: Uint32Array,
        skip_special_tokens: Option<bool>,
    ) -> Result<Vec<String>, Code> {
        guard(|| {
            self.inner
                .convert_ids_to_tokens(&ids, skip_special_tokens.unwrap_or(false))
        })
    }

    /// The decoder applied to token strings.
    #[napi(js_name = "convertTokensToString")]
    pub fn convert_tokens_to_string(&self, tokens: Vec<String>) -> Result<String, Code> {
        guard(|| self.inner.convert_tokens_to_string(&tokens))
    }

    /// The id of a token, or null.
    #[napi(js_name = "tokenToId")]
    pub fn token_to_id(&self, token: String) -> Option<u32> {
        self.inner.token_to_id(&token)
    }

    /// `model_max_length`, or null when the model has no limit.
    #[napi(getter, js_name = "modelMaxLength")]
    pub fn model_max_length(&self) -> Option<f64> {
        self.inner.config().model_max_length.map(|m| m as f64)
    }

    /// `left` | `right`.
    #[napi(getter, js_name = "paddingSide")]
    pub fn padding_side(&self) -> String {
        self.inner.config().padding_side.as_str().to_string()
    }

    /// `left` | `right`.
    #[napi(getter, js_name = "truncationSide")]
    pub fn truncation_side(&self) -> String {
        self.inner.config().truncation_side.as_str().to_string()
    }

    /// Number of ids, added tokens included.
    #[napi(getter, js_name = "vocabSize")]
    pub fn vocab_size(&self) -> u32 {
        u32::try_from(self.inner.vocab_size()).unwrap_or(u32::MAX)
    }

    /// Default of `decode`'s `clean_up_tokenization_spaces`.
    #[napi(getter, js_name = "cleanUpTokenizationSpaces")]
    pub fn clean_up_tokenization_spaces(&self) -> bool {
        self.inner.config().clean_up_tokenization_spaces
    }

    /// `do_lower_case` from the configuration, or null.
    #[napi(getter, js_name = "doLowerCase")]
    pub fn do_lower_case(&self) -> Option<bool> {
        self.inner.config().do_lower_case
    }

    /// The model's continuing-subword prefix (`##`), or null.
    #[napi(getter, js_name = "continuingSubwordPrefix")]
    pub fn continuing_subword_prefix(&self) -> Option<String> {
        self.inner.continuing_subword_prefix()
    }

    /// Incremental decoding for streaming: each `step(id)` returns the text that id completes,
    /// and the steps (plus `flush()`) concatenate to `decode(ids, skipSpecialTokens, false)`.
    #[napi(js_name = "decodeStream")]
    pub fn decode_stream(
        &self,
        skip_special_tokens: Option<bool>,
    ) -> crate::generation::NativeDecodeStream {
        crate::generation::NativeDecodeStream::create(
            Arc::clone(&self.inner),
            skip_special_tokens.unwrap_or(false),
        )
    }

    /// Special token strings.
    #[napi(getter, js_name = "specialTokens")]
    pub fn special_tokens(&self) -> NativeSpecialTokens {
        let s = &self.inner.config().special_tokens;
        NativeSpecialTokens {
            cls_token: s.cls.clone(),
            sep_token: s.sep.clone(),
            pad_token: s.pad.clone(),
            mask_token: s.mask.clone(),
            unk_token: s.unk.clone(),
            bos_token: s.bos.clone(),
            eos_token: s.eos.clone(),
        }
    }
}

/// A slow tokenizer whose SentencePiece model is `sentencepiece.bpe.model` (M2M100, Speech2Text).
fn slow_sentencepiece(
    flavor: core::SlowFlavor,
    spm: &[u8],
    vocab_json: &str,
    config: Option<&str>,
    special_tokens_map: Option<&str>,
    extra_tokens: &[String],
) -> Result<Tokenizer, Code> {
    guard(|| {
        core::Tokenizer::from_slow_sentencepiece(
            flavor,
            (spm, "sentencepiece.bpe.model"),
            (vocab_json, "vocab.json"),
            config.map(|c| (c, "tokenizer_config.json")),
            special_tokens_map.map(|m| (m, "special_tokens_map.json")),
            core::MarianTarget::default(),
            extra_tokens,
        )
    })
    .map(|t| Tokenizer { inner: Arc::new(t) })
}
