//! Bindings for `hf_tasks_core::generation`: `TokenSampler`, `BeamSearch` and the streaming
//! decode state returned by `Tokenizer.decodeStream`.

use std::sync::Arc;

use hf_tasks_core::generation::{
    BeamConfig, BeamSearch, DecodeStream, DecodingConfig, EarlyStopping, TokenSampler,
    WhisperTimestamps,
};
use hf_tasks_core::tokenize::Tokenizer as CoreTokenizer;
use hf_tasks_core::{Error, Result as CoreResult};
use napi::bindgen_prelude::{Either, Float32Array, Int32Array, Result, Uint8Array};
use napi_derive::napi;

use crate::errors::{guard, Code};

/// Decoding settings as JS passes them (see `DecodingConfig` in ts/generation/kernels.ts).
/// Numbers are validated here: ids and counts must be non-negative integers.
#[napi(object)]
#[derive(Default)]
pub struct NativeDecodingConfig {
    pub repetition_penalty: Option<f64>,
    pub no_repeat_ngram_size: Option<f64>,
    pub bad_words_ids: Option<Vec<Vec<f64>>>,
    pub min_length: Option<f64>,
    pub min_new_tokens: Option<f64>,
    pub eos_token_ids: Option<Vec<f64>>,
    pub forced_bos_token_id: Option<f64>,
    pub forced_eos_token_ids: Option<Vec<f64>>,
    pub max_length: Option<f64>,
    pub suppress_tokens: Option<Vec<f64>>,
    pub begin_suppress_tokens: Option<Vec<f64>>,
    pub begin_index: Option<f64>,
    pub do_sample: Option<bool>,
    pub temperature: Option<f64>,
    pub top_k: Option<f64>,
    pub top_p: Option<f64>,
    pub min_p: Option<f64>,
    pub typical_p: Option<f64>,
    pub epsilon_cutoff: Option<f64>,
    pub eta_cutoff: Option<f64>,
    pub whisper_timestamps: Option<NativeWhisperTimestamps>,
    /// Beam search only.
    pub num_beams: Option<f64>,
    pub length_penalty: Option<f64>,
    #[napi(ts_type = "boolean | 'never'")]
    pub early_stopping: Option<Either<bool, String>>,
    pub num_return_sequences: Option<f64>,
    pub pad_token_id: Option<f64>,
}

/// Whisper's timestamp rules (see `WhisperTimestamps` in ts/generation/kernels.ts).
#[napi(object)]
pub struct NativeWhisperTimestamps {
    pub no_timestamps_token_id: f64,
    pub eos_token_id: f64,
    pub max_initial_timestamp_index: Option<f64>,
}

const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

fn count(v: Option<f64>, name: &str) -> CoreResult<Option<usize>> {
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

fn id(x: f64, name: &str) -> CoreResult<i32> {
    if x.is_finite() && x.fract() == 0.0 && x >= 0.0 && x <= f64::from(i32::MAX) {
        Ok(x as i32)
    } else {
        Err(Error::InvalidArgument(format!(
            "{name} must hold token ids (non-negative integers), got {x}"
        )))
    }
}

fn ids(v: Option<&Vec<f64>>, name: &str) -> CoreResult<Option<Vec<i32>>> {
    v.map(|xs| xs.iter().map(|&x| id(x, name)).collect())
        .transpose()
}

fn number(v: Option<f64>, name: &str) -> CoreResult<Option<f64>> {
    match v {
        Some(x) if !x.is_finite() => Err(Error::InvalidArgument(format!(
            "{name} must be a finite number, got {x}"
        ))),
        other => Ok(other),
    }
}

fn decoding(c: &NativeDecodingConfig) -> CoreResult<DecodingConfig> {
    let cfg = DecodingConfig {
        repetition_penalty: number(c.repetition_penalty, "repetitionPenalty")?,
        no_repeat_ngram_size: count(c.no_repeat_ngram_size, "noRepeatNgramSize")?,
        bad_words_ids: c
            .bad_words_ids
            .as_ref()
            .map(|w| {
                w.iter()
                    .map(|s| ids(Some(s), "badWordsIds").map(Option::unwrap_or_default))
                    .collect::<CoreResult<Vec<_>>>()
            })
            .transpose()?,
        min_length: count(c.min_length, "minLength")?,
        min_new_tokens: count(c.min_new_tokens, "minNewTokens")?,
        eos_token_ids: ids(c.eos_token_ids.as_ref(), "eosTokenIds")?.unwrap_or_default(),
        forced_bos_token_id: c
            .forced_bos_token_id
            .map(|x| id(x, "forcedBosTokenId"))
            .transpose()?,
        forced_eos_token_ids: ids(c.forced_eos_token_ids.as_ref(), "forcedEosTokenIds")?,
        max_length: count(c.max_length, "maxLength")?,
        suppress_tokens: ids(c.suppress_tokens.as_ref(), "suppressTokens")?,
        begin_suppress_tokens: ids(c.begin_suppress_tokens.as_ref(), "beginSuppressTokens")?,
        begin_index: count(c.begin_index, "beginIndex")?,
        do_sample: c.do_sample.unwrap_or(false),
        temperature: number(c.temperature, "temperature")?,
        top_k: count(c.top_k, "topK")?,
        top_p: number(c.top_p, "topP")?,
        min_p: number(c.min_p, "minP")?,
        typical_p: number(c.typical_p, "typicalP")?,
        epsilon_cutoff: number(c.epsilon_cutoff, "epsilonCutoff")?,
        eta_cutoff: number(c.eta_cutoff, "etaCutoff")?,
        whisper_timestamps: c
            .whisper_timestamps
            .as_ref()
            .map(|w| -> CoreResult<WhisperTimestamps> {
                Ok(WhisperTimestamps {
                    no_timestamps_token_id: id(
                        w.no_timestamps_token_id,
                        "whisperTimestamps.noTimestampsTokenId",
                    )?,
                    eos_token_id: id(w.eos_token_id, "whisperTimestamps.eosTokenId")?,
                    max_initial_timestamp_index: count(
                        w.max_initial_timestamp_index,
                        "whisperTimestamps.maxInitialTimestampIndex",
                    )?,
                })
            })
            .transpose()?,
    };
    cfg.validate()?;
    Ok(cfg)
}

fn beam_config(c: &NativeDecodingConfig) -> CoreResult<BeamConfig> {
    let decoding = decoding(c)?;
    let max_length = count(c.max_length, "maxLength")?
        .ok_or_else(|| Error::InvalidArgument("beam search needs maxLength".into()))?;
    let num_beams = count(c.num_beams, "numBeams")?
        .ok_or_else(|| Error::InvalidArgument("beam search needs numBeams".into()))?;
    let early_stopping = match &c.early_stopping {
        None | Some(Either::A(false)) => EarlyStopping::False,
        Some(Either::A(true)) => EarlyStopping::True,
        Some(Either::B(s)) if s == "never" => EarlyStopping::Never,
        Some(Either::B(s)) => {
            return Err(Error::InvalidArgument(format!(
                "earlyStopping must be true, false or \"never\", got {s:?}"
            )))
        }
    };
    Ok(BeamConfig {
        decoding,
        num_beams,
        length_penalty: number(c.length_penalty, "lengthPenalty")?.unwrap_or(1.0),
        early_stopping,
        num_return_sequences: count(c.num_return_sequences, "numReturnSequences")?.unwrap_or(1),
        pad_token_id: c.pad_token_id.map(|x| id(x, "padTokenId")).transpose()?,
        max_length,
    })
}

fn seed_arg(seed: Option<f64>) -> CoreResult<Option<u64>> {
    match seed {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 && s.fract() == 0.0 && s <= MAX_SAFE => {
            Ok(Some(s as u64))
        }
        Some(s) => Err(Error::InvalidArgument(format!(
            "seed must be an integer in [0, 2^53 - 1], got {s}"
        ))),
    }
}

/// A chosen token.
#[napi(object)]
pub struct NativeChoice {
    pub token: i32,
    /// Log-softmax of the processed (and warped) scores at the token.
    pub logprob: f64,
}

/// One sequence's next-token chooser (greedy or seeded sampling).
#[napi]
pub struct NativeTokenSampler {
    inner: TokenSampler,
}

#[napi]
impl NativeTokenSampler {
    /// `seed`: integer in [0, 2^53 - 1]; absent = a random seed.
    #[napi(constructor)]
    pub fn new(config: NativeDecodingConfig, seed: Option<f64>) -> Result<Self, Code> {
        guard(|| {
            let cfg = decoding(&config)?;
            TokenSampler::new(cfg, seed_arg(seed)?)
        })
        .map(|inner| Self { inner })
    }

    /// The seed of this sampler's random stream.
    #[napi(getter)]
    pub fn seed(&self) -> f64 {
        self.inner.seed() as f64
    }

    /// Chooses the next token from the last position's logits.
    #[napi]
    pub fn next(
        &mut self,
        logits: Float32Array,
        ids: Int32Array,
        prompt_length: f64,
    ) -> Result<NativeChoice, Code> {
        let inner = &mut self.inner;
        guard(|| {
            let prompt = count(Some(prompt_length), "promptLength")?.unwrap_or(0);
            inner.next(&logits, &ids, prompt)
        })
        .map(|c| NativeChoice {
            token: c.token,
            logprob: f64::from(c.logprob),
        })
    }

    /// The processed (and, when sampling, warped) scores of a logits row; -inf marks removed
    /// tokens.
    #[napi]
    pub fn scores(
        &self,
        logits: Float32Array,
        ids: Int32Array,
        prompt_length: f64,
    ) -> Result<Float32Array, Code> {
        guard(|| {
            let prompt = count(Some(prompt_length), "promptLength")?.unwrap_or(0);
            self.inner.scores(&logits, &ids, prompt)
        })
        .map(Float32Array::new)
    }
}

/// What one beam step chose.
#[napi(object)]
pub struct NativeBeamStep {
    /// For each new beam, the previous beam row it continues (reorder caches with these).
    pub beam_indices: Int32Array,
    /// For each new beam, its new token.
    pub tokens: Int32Array,
    pub done: bool,
}

/// Candidates of a proposed beam step.
#[napi(object)]
pub struct NativeBeamCandidates {
    /// Previous beam row of each candidate.
    pub beam_indices: Int32Array,
    /// Token of each candidate.
    pub tokens: Int32Array,
}

/// The best hypotheses.
#[napi(object)]
pub struct NativeBeamOutput {
    /// Generated ids (prompt excluded), padded to the longest with the reference's fill value.
    pub sequences: Vec<Int32Array>,
    /// Real generated length of each sequence.
    pub lengths: Vec<u32>,
    /// Length-normalised sequence scores.
    pub scores: Vec<f64>,
}

/// Beam search over one input.
#[napi]
pub struct NativeBeamSearch {
    inner: BeamSearch,
}

#[napi]
impl NativeBeamSearch {
    /// `seed` (beam sampling only): integer in [0, 2^53 - 1]; absent = a random seed.
    #[napi(constructor)]
    pub fn new(
        config: NativeDecodingConfig,
        prompt_ids: Int32Array,
        seed: Option<f64>,
    ) -> Result<Self, Code> {
        guard(|| BeamSearch::with_seed(beam_config(&config)?, &prompt_ids, seed_arg(seed)?))
            .map(|inner| Self { inner })
    }

    /// One step over `numBeams` rows of logits; `stopAll`: every candidate of this step hits a
    /// stopping criterion (time is up), so the search ends with this step.
    #[napi]
    pub fn step(
        &mut self,
        logits: Float32Array,
        stop_all: Option<bool>,
    ) -> Result<NativeBeamStep, Code> {
        let inner = &mut self.inner;
        guard(|| inner.step_with(&logits, stop_all.unwrap_or(false))).map(|s| NativeBeamStep {
            beam_indices: Int32Array::new(s.beam_indices),
            tokens: Int32Array::new(s.tokens),
            done: s.done,
        })
    }

    /// First half of a step: the candidates (previous beam row, token) in the reference's
    /// order; `commit` must follow.
    #[napi]
    pub fn propose(&mut self, logits: Float32Array) -> Result<NativeBeamCandidates, Code> {
        let inner = &mut self.inner;
        guard(|| inner.propose(&logits)).map(|c| NativeBeamCandidates {
            beam_indices: Int32Array::new(c.iter().map(|&(b, _)| b as i32).collect()),
            tokens: Int32Array::new(c.iter().map(|&(_, t)| t).collect()),
        })
    }

    /// Second half of a step: `stops[j]` nonzero = candidate `j` hits a stopping criterion
    /// (e.g. a stop string); `stopAll` = they all do.
    #[napi]
    pub fn commit(
        &mut self,
        stops: Option<Uint8Array>,
        stop_all: Option<bool>,
    ) -> Result<NativeBeamStep, Code> {
        let inner = &mut self.inner;
        let flags: Vec<bool> = stops
            .map(|s| s.iter().map(|&x| x != 0).collect())
            .unwrap_or_default();
        guard(|| inner.commit(&flags, stop_all.unwrap_or(false))).map(|s| NativeBeamStep {
            beam_indices: Int32Array::new(s.beam_indices),
            tokens: Int32Array::new(s.tokens),
            done: s.done,
        })
    }

    /// The running sequences (prompt included), one per beam.
    #[napi]
    pub fn sequences(&self) -> Vec<Int32Array> {
        self.inner
            .sequences()
            .iter()
            .map(|s| Int32Array::new(s.clone()))
            .collect()
    }

    /// True once the search is over.
    #[napi(getter)]
    pub fn done(&self) -> bool {
        self.inner.is_done()
    }

    /// The best `numReturnSequences` hypotheses, best first.
    #[napi]
    pub fn finalize(&self) -> NativeBeamOutput {
        let out = self.inner.finalize();
        NativeBeamOutput {
            sequences: out.sequences.into_iter().map(Int32Array::new).collect(),
            lengths: out
                .lengths
                .iter()
                .map(|&l| u32::try_from(l).unwrap_or(u32::MAX))
                .collect(),
            scores: out.scores.iter().map(|&s| f64::from(s)).collect(),
        }
    }
}

/// Incremental decode of one sequence (from `Tokenizer.decodeStream`).
#[napi]
pub struct NativeDecodeStream {
    tok: Arc<CoreTokenizer>,
    inner: DecodeStream,
}

impl NativeDecodeStream {
    pub(crate) fn create(tok: Arc<CoreTokenizer>, skip_special_tokens: bool) -> Self {
        Self {
            tok,
            inner: DecodeStream::new(skip_special_tokens),
        }
    }
}

#[napi]
impl NativeDecodeStream {
    /// Adds one id; returns the new text ('' while a character or word is incomplete).
    #[napi]
    pub fn step(&mut self, id: f64) -> Result<String, Code> {
        let (tok, inner) = (&self.tok, &mut self.inner);
        guard(|| {
            if !(id.is_finite() && id.fract() == 0.0 && id >= 0.0 && id <= f64::from(u32::MAX)) {
                return Err(Error::TokenId(format!(
                    "token id must be a non-negative integer, got {id}"
                )));
            }
            inner.step(tok, id as u32)
        })
    }

    /// The text still held back (e.g. a trailing incomplete character) at the end.
    #[napi]
    pub fn flush(&mut self) -> Result<String, Code> {
        let (tok, inner) = (&self.tok, &mut self.inner);
        guard(|| inner.flush(tok))
    }
}
