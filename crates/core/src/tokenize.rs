//! The tokenizer primitive: a Hugging Face `tokenizer.json` (through the `tokenizers` crate)
//! plus the `transformers` layer around it (`tokenizer_config.json`), encoding exactly as a
//! Python fast tokenizer's `__call__` does.
//!
//! Python sets truncation and padding on the backend tokenizer for each call and then runs
//! `encode_batch`. Here the backend tokenizer is kept without post-processor, truncation or
//! padding, and each call performs the same steps with its own parameters: encode each
//! sequence, truncate (with overflowing windows), apply the post-processor, pad the batch.
//! That keeps one shared, immutable tokenizer for concurrent calls with different options.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;
use tokenizers::parallelism::MaybeParallelRefIterator;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    pad_encodings, truncate_encodings, Decoder, Encoding, ModelWrapper, PaddingDirection,
    PaddingParams, PaddingStrategy, PostProcessor, PostProcessorWrapper, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use crate::aggregate::TokenVocab;
use crate::error::{Error, Result};
use crate::offsets::{OffsetUnit, TextIndex};

/// `transformers`' threshold above which `model_max_length` means "no limit" (its
/// `LARGE_INTEGER`; the sentinel written when a model has no limit is `int(1e30)`).
pub const LARGE_INTEGER: f64 = 1e20;

/// File names looked up next to `tokenizer.json`.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The `transformers` tokenizer configuration.
pub const CONFIG_FILE: &str = "tokenizer_config.json";
/// Legacy special tokens file, used only when the configuration has no `added_tokens_decoder`.
pub const SPECIAL_TOKENS_MAP_FILE: &str = "special_tokens_map.json";

/// Left or right (padding and truncation side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Side {
    /// Pad or cut at the start.
    Left,
    /// Pad or cut at the end.
    #[default]
    Right,
}

impl Side {
    /// Parses `left` | `right`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "left" => Ok(Side::Left),
            "right" => Ok(Side::Right),
            _ => Err(Error::InvalidArgument(format!(
                "unknown side {name:?}; expected left or right"
            ))),
        }
    }

    /// `left` | `right`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// Truncation strategy (`truncation=` of the Python tokenizer call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// `False` / `do_not_truncate`.
    DoNotTruncate,
    /// `True` / `longest_first`: remove tokens from the longer sequence first.
    LongestFirst,
    /// Only cut the first sequence.
    OnlyFirst,
    /// Only cut the second sequence of a pair.
    OnlySecond,
}

impl Truncation {
    /// Parses `longest_first` | `only_first` | `only_second` | `do_not_truncate`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "longest_first" => Ok(Truncation::LongestFirst),
            "only_first" => Ok(Truncation::OnlyFirst),
            "only_second" => Ok(Truncation::OnlySecond),
            "do_not_truncate" => Ok(Truncation::DoNotTruncate),
            _ => Err(Error::InvalidArgument(format!(
                "unknown truncation strategy {name:?}; expected longest_first, only_first, only_second or do_not_truncate"
            ))),
        }
    }
}

/// Padding strategy (`padding=` of the Python tokenizer call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding.
    #[default]
    DoNotPad,
    /// Pad to the longest row of the batch.
    Longest,
    /// Pad to `max_length` (or the model maximum).
    MaxLength,
}

impl Padding {
    /// Parses `longest` | `max_length` | `do_not_pad`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "longest" => Ok(Padding::Longest),
            "max_length" => Ok(Padding::MaxLength),
            "do_not_pad" => Ok(Padding::DoNotPad),
            _ => Err(Error::InvalidArgument(format!(
                "unknown padding strategy {name:?}; expected longest, max_length or do_not_pad"
            ))),
        }
    }
}

/// Options of one encode call, mirroring the Python fast tokenizer's `__call__`.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeOptions {
    /// Add the model's special tokens (`[CLS]`, `</s>`...). Default true.
    pub add_special_tokens: bool,
    /// `None` = not given (then `max_length` alone turns on `longest_first`, as in Python).
    pub truncation: Option<Truncation>,
    /// Maximum length; defaults to the model maximum where truncation or `max_length` padding
    /// needs one.
    pub max_length: Option<usize>,
    /// Padding strategy.
    pub padding: Padding,
    /// Padding side; defaults to the tokenizer's `padding_side`.
    pub padding_side: Option<Side>,
    /// Truncation side; defaults to the tokenizer's `truncation_side`.
    pub truncation_side: Option<Side>,
    /// Round the padded length up to a multiple of this.
    pub pad_to_multiple_of: Option<usize>,
    /// Overlap in tokens between consecutive overflowing windows.
    pub stride: usize,
    /// Return every overflowing window as its own row (`return_overflowing_tokens=True`).
    pub return_overflowing: bool,
    /// The unit of the returned offsets.
    pub offsets: OffsetUnit,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            add_special_tokens: true,
            truncation: None,
            max_length: None,
            padding: Padding::DoNotPad,
            padding_side: None,
            truncation_side: None,
            pad_to_multiple_of: None,
            stride: 0,
            return_overflowing: false,
            offsets: OffsetUnit::CodePoint,
        }
    }
}

/// The result of encoding a batch: `rows` rows (one per input, or one per overflowing window)
/// of `seq_len` tokens, row-major. Without padding, rows shorter than `seq_len` are filled on
/// the right as padding would fill them and `lengths` holds each row's real length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchEncoding {
    /// Number of rows.
    pub rows: usize,
    /// Tokens per row (the longest row).
    pub seq_len: usize,
    /// Token ids `[rows, seq_len]`.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Segment ids (0 for the first sequence, 1 for the second where the model uses them).
    pub token_type_ids: Vec<i64>,
    /// 1 for special and padding tokens.
    pub special_tokens_mask: Vec<u8>,
    /// `[rows, seq_len, 2]` start/end of each token in its own input text, in the requested
    /// unit; `(0, 0)` for special and padding tokens.
    pub offsets: Vec<u32>,
    /// Word index of each token within its sequence, -1 for none.
    pub word_ids: Vec<i32>,
    /// 0 or 1 (first/second sequence), -1 for special and padding tokens.
    pub sequence_ids: Vec<i8>,
    /// For each row, the index of the input it comes from.
    pub overflow_to_sample_mapping: Vec<u32>,
    /// Real (unfilled) length of each row.
    pub lengths: Vec<u32>,
}

/// The special tokens of a tokenizer, as `transformers` names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Classification token (`[CLS]`, `<s>`).
    pub cls: Option<String>,
    /// Separator (`[SEP]`, `</s>`).
    pub sep: Option<String>,
    /// Padding token.
    pub pad: Option<String>,
    /// Mask token (`[MASK]`, `<mask>`).
    pub mask: Option<String>,
    /// Unknown token.
    pub unk: Option<String>,
    /// Beginning of sequence.
    pub bos: Option<String>,
    /// End of sequence.
    pub eos: Option<String>,
}

/// What `tokenizer_config.json` adds to `tokenizer.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizerConfig {
    /// `model_max_length`; `None` when absent or the "no limit" sentinel.
    pub model_max_length: Option<usize>,
    /// Default padding side.
    pub padding_side: Side,
    /// Default truncation side.
    pub truncation_side: Side,
    /// Default of `decode`'s `clean_up_tokenization_spaces` (false when absent, as in
    /// transformers 4.57 for fast tokenizers).
    pub clean_up_tokenization_spaces: bool,
    /// `do_lower_case`, where the configuration states it.
    pub do_lower_case: Option<bool>,
    /// Named special tokens.
    pub special_tokens: SpecialTokens,
    /// `(add_bos_token, add_eos_token)` of a tokenizer class whose fast tokenizer rebuilds the
    /// post-processor from these flags when it loads (Llama, CodeLlama, Gemma, Cohere,
    /// GPT-NeoX), with the class defaults for flags left out; `None` for other classes.
    pub bos_eos_template: Option<(bool, bool)>,
}

/// Tokenizer classes whose fast tokenizer replaces `tokenizer.json`'s post-processor with
/// `[bos] $A [eos]` from `add_bos_token` / `add_eos_token`: the class, its default
/// `add_bos_token`, and its default BOS and EOS tokens (used when the configuration names none).
const BOS_EOS_CLASSES: [(&str, bool, &str, &str); 5] = [
    ("LlamaTokenizer", true, "<s>", "</s>"),
    ("CodeLlamaTokenizer", true, "<s>", "</s>"),
    ("GemmaTokenizer", true, "<bos>", "<eos>"),
    (
        "CohereTokenizer",
        true,
        "<BOS_TOKEN>",
        "<|END_OF_TURN_TOKEN|>",
    ),
    ("GPTNeoXTokenizer", false, "<|endoftext|>", "<|endoftext|>"),
];

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            model_max_length: None,
            padding_side: Side::Right,
            truncation_side: Side::Right,
            clean_up_tokenization_spaces: false,
            do_lower_case: None,
            special_tokens: SpecialTokens::default(),
            bos_eos_template: None,
        }
    }
}

/// A loaded tokenizer. Immutable and `Send + Sync`: share it behind an `Arc`.
pub struct Tokenizer {
    /// The backend tokenizer with post-processor, truncation and padding removed.
    inner: tokenizers::Tokenizer,
    /// The post-processor taken out of `tokenizer.json`.
    post_processor: Option<PostProcessorWrapper>,
    config: TokenizerConfig,
    vocab_size: usize,
    /// A slow SentencePiece tokenizer (Marian, M2M100): its vocabulary and decoding rules.
    slow: Option<Arc<SlowVocab>>,
}

/// The target side of a Marian tokenizer, where the folder has it: `target.spm` (how pieces
/// decode) and, with separate vocabularies, `target_vocab.json` (the ids generated text uses).
#[derive(Debug, Clone, Copy, Default)]
pub struct MarianTarget<'a> {
    pub spm: Option<(&'a [u8], &'a str)>,
    pub vocab: Option<(&'a str, &'a str)>,
}

impl SlowVocab {
    /// The class's `decode`: special tokens skipped (by the source vocabulary's ids, then by
    /// text) or kept (Marian: with a space after them); each run of pieces between them decoded
    /// by the decoding model; tokens kept apart joined by spaces; both ends stripped.
    fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let mut texts: Vec<String> = Vec::new();
        let mut run: Vec<&str> = Vec::new();
        for &id in ids {
            if skip_special_tokens && self.special_ids.contains(&id) {
                continue;
            }
            let token = self
                .tokens
                .get(id as usize)
                .or_else(|| self.tokens.get(self.unk_id as usize))
                .map(String::as_str)
                .unwrap_or_default();
            let special = self.specials.contains(token);
            if skip_special_tokens && special {
                continue;
            }
            if self.apart.contains(token) {
                if !run.is_empty() {
                    texts.push(self.tokens_to_string(&run));
                    run.clear();
                }
                texts.push(token.to_string());
            } else {
                run.push(token);
            }
        }
        if !run.is_empty() {
            texts.push(self.tokens_to_string(&run));
        }
        Ok(texts.join(" "))
    }

    /// The class's `convert_tokens_to_string`.
    fn tokens_to_string(&self, tokens: &[&str]) -> String {
        let mut out = String::new();
        let mut run: Vec<&str> = Vec::new();
        for &token in tokens {
            if self.specials.contains(token) {
                self.decode_pieces(&run, &mut out);
                run.clear();
                out.push_str(token);
                if self.flavor != SlowFlavor::M2M100 {
                    out.push(' ');
                }
            } else {
                run.push(token);
            }
        }
        self.decode_pieces(&run, &mut out);
        match self.flavor {
            SlowFlavor::Marian => py_strip(&out.replace('\u{2581}', " ")).to_string(),
            SlowFlavor::M2M100 | SlowFlavor::Speech2Text => py_strip(&out).to_string(),
        }
    }

    /// SentencePiece's `decode_pieces` on the decoding model: a piece it does not know as it is,
    /// a control piece as nothing, the unknown piece as ` ⁇ `, others with `▁` as spaces (the
    /// leading one dropped until some piece shows text).
    fn decode_pieces(&self, pieces: &[&str], out: &mut String) {
        if self.upper_case {
            let mut run = String::new();
            self.decode_run(pieces, &mut run);
            out.push_str(&run.to_uppercase());
        } else {
            self.decode_run(pieces, out);
        }
    }

    fn decode_run(&self, pieces: &[&str], out: &mut String) {
        use crate::spm::PieceKind;
        let mut first = true;
        for piece in pieces {
            // Without a decoding model every piece is taken as one of its pieces.
            let kind = match self.target.get(*piece) {
                None if self.target.is_empty() => Some(&PieceKind::Normal),
                kind => kind,
            };
            match kind {
                Some(PieceKind::Control) | Some(PieceKind::Unused) => {}
                Some(PieceKind::Unknown) => {
                    out.push_str(" \u{2047} ");
                    first = false;
                }
                Some(_) => {
                    let surface = match first {
                        true => piece.strip_prefix('\u{2581}').unwrap_or(piece),
                        false => piece,
                    };
                    out.push_str(&surface.replace('\u{2581}', " "));
                    first = surface.is_empty();
                }
                None => {
                    out.push_str(piece);
                    first = false;
                }
            }
        }
    }

    /// Gives text the source model does not know (the lattice's unknown pieces) the id
    /// `vocab.json` has for it, as `MarianTokenizer` looks every piece up there.
    fn surface_ids(&self, encoding: Encoding) -> Encoding {
        // Ids past vocab.json are source pieces it lacks: the unknown id, as for text the source
        // model does not know, unless vocab.json has the text itself.
        let remap = |(id, token): (&u32, &String)| {
            if *id != self.unk_id && (*id as usize) < self.source_size {
                return *id;
            }
            self.ids.get(token).copied().unwrap_or(self.unk_id)
        };
        let ids: Vec<u32> = encoding
            .get_ids()
            .iter()
            .zip(encoding.get_tokens())
            .map(remap)
            .collect();
        if ids == encoding.get_ids() {
            return encoding;
        }
        let one_sequence = encoding.n_sequences() == 1;
        let mut out = Encoding::new(
            ids,
            encoding.get_type_ids().to_vec(),
            encoding.get_tokens().to_vec(),
            encoding.get_word_ids().to_vec(),
            encoding.get_offsets().to_vec(),
            encoding.get_special_tokens_mask().to_vec(),
            encoding.get_attention_mask().to_vec(),
            encoding.get_overflowing().clone(),
            Default::default(),
        );
        if one_sequence {
            out.set_sequence_id(0);
        }
        out
    }
}

/// Which slow SentencePiece tokenizer class [`Tokenizer::from_slow_sentencepiece`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowFlavor {
    /// `MarianTokenizer`: `</s>` after the text, a leading `>>fr<<` code is one token; decoding
    /// keeps a space after a special token and turns every `▁` into a space.
    Marian,
    /// `M2M100Tokenizer`: `__en__` (the source language) before the text and `</s>` after.
    M2M100,
    /// `Speech2TextTokenizer`: `</s>` after the text, and `<lang:fr>` (the target language)
    /// before it when the tokenizer has `lang_codes`; decoding upper-cases the text with
    /// `do_upper_case`, and `do_lower_case` lower-cases the input.
    Speech2Text,
}

/// The languages `Speech2TextTokenizer` knows for each `lang_codes` value (`<lang:xx>` tokens).
const SPEECH2TEXT_LANGUAGES: &[(&str, &[&str])] =
    &[("mustc", &["pt", "fr", "ru", "nl", "ro", "it", "es", "de"])];

/// What a slow SentencePiece tokenizer keeps beside the backend tokenizer: its vocabulary
/// (entries the model cannot produce are renamed in the backend's) and how it decodes. Text
/// the model does not know takes `vocab.json`'s id for it, or the unknown id.
#[derive(Debug)]
struct SlowVocab {
    flavor: SlowFlavor,
    /// Token to id: `vocab.json` and the added tokens.
    ids: std::collections::HashMap<String, u32>,
    /// Id to token for decoding: `vocab.json`'s, or `target_vocab.json`'s with separate
    /// vocabularies, under the added tokens (gaps decode as the unknown token, as the
    /// reference's lookup does).
    tokens: Vec<String>,
    unk_id: u32,
    /// Ids below this are `vocab.json`'s or added tokens (ids from the backend beyond it are
    /// pieces `vocab.json` lacks).
    source_size: usize,
    /// The special tokens' strings, and their ids in the source vocabulary (the reference
    /// skips by these ids, then by text).
    specials: std::collections::HashSet<String>,
    special_ids: std::collections::HashSet<u32>,
    /// Tokens decoded as texts of their own, joined to the rest by spaces.
    apart: std::collections::HashSet<String>,
    /// The decoding SentencePiece model's piece kinds, which decide how a run of pieces
    /// decodes (empty: every piece taken as a normal one).
    target: std::collections::HashMap<String, crate::spm::PieceKind>,
    /// A unigram model's lattice, which cuts each span in SentencePiece's precision.
    lattice: Option<crate::spm::Lattice>,
    /// Speech2Text's `do_upper_case`: each decoded run of pieces upper-cased.
    upper_case: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenize(e.to_string())
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::TokenizerLoad(format!("cannot read {}: {e}", path.display())))
}

/// A special-token entry: a string, or an AddedToken object with `content`.
fn token_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn parse_json(text: &str, name: &str) -> Result<serde_json::Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(Error::TokenizerLoad(format!(
            "{name}: expected a JSON object"
        ))),
        Err(e) => Err(Error::TokenizerLoad(format!("{name}: malformed JSON: {e}"))),
    }
}

fn side_field(cfg: &serde_json::Map<String, Value>, key: &str, name: &str) -> Result<Side> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(Side::Right),
        Some(Value::String(s)) => Side::parse(s).map_err(|_| {
            Error::TokenizerLoad(format!(
                "{name}: {key} must be \"left\" or \"right\", got {s:?}"
            ))
        }),
        Some(other) => Err(Error::TokenizerLoad(format!(
            "{name}: {key} must be \"left\" or \"right\", got {other}"
        ))),
    }
}

fn bool_field(cfg: &serde_json::Map<String, Value>, key: &str, name: &str) -> Result<Option<bool>> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(Error::TokenizerLoad(format!(
            "{name}: {key} must be a boolean, got {other}"
        ))),
    }
}

fn max_length_field(cfg: &serde_json::Map<String, Value>, name: &str) -> Result<Option<usize>> {
    match cfg.get("model_max_length") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                if (u as f64) > LARGE_INTEGER {
                    return Ok(None);
                }
                return usize::try_from(u).map(Some).map_err(|_| {
                    Error::TokenizerLoad(format!("{name}: model_max_length {u} is too large"))
                });
            }
            match n.as_f64() {
                Some(f) if f > LARGE_INTEGER => Ok(None),
                Some(f) if f >= 0.0 && f.fract() == 0.0 => Ok(Some(f as usize)),
                _ => Err(Error::TokenizerLoad(format!(
                    "{name}: model_max_length must be a non-negative integer, got {n}"
                ))),
            }
        }
        Some(other) => Err(Error::TokenizerLoad(format!(
            "{name}: model_max_length must be a number, got {other}"
        ))),
    }
}

impl TokenizerConfig {
    /// Parses `tokenizer_config.json` text, then applies `special_tokens_map.json` the way
    /// `transformers` does (only when the configuration has no `added_tokens_decoder`).
    pub fn parse(
        config: Option<(&str, &str)>,
        special_tokens_map: Option<(&str, &str)>,
    ) -> Result<Self> {
        let mut out = TokenizerConfig::default();
        let mut legacy = true;
        let mut class_tokens: Option<(&str, &str)> = None;
        if let Some((text, name)) = config {
            let cfg = parse_json(text, name)?;
            out.model_max_length = max_length_field(&cfg, name)?;
            out.padding_side = side_field(&cfg, "padding_side", name)?;
            out.truncation_side = side_field(&cfg, "truncation_side", name)?;
            out.clean_up_tokenization_spaces =
                bool_field(&cfg, "clean_up_tokenization_spaces", name)?.unwrap_or(false);
            out.do_lower_case = bool_field(&cfg, "do_lower_case", name)?;
            out.special_tokens = special_tokens_from(&cfg);
            legacy = !cfg.contains_key("added_tokens_decoder");
            let class = cfg
                .get("tokenizer_class")
                .and_then(Value::as_str)
                .unwrap_or("");
            let class = class.strip_suffix("Fast").unwrap_or(class);
            if let Some(&(_, add_bos, bos, eos)) = BOS_EOS_CLASSES.iter().find(|c| c.0 == class) {
                out.bos_eos_template = Some((
                    bool_field(&cfg, "add_bos_token", name)?.unwrap_or(add_bos),
                    bool_field(&cfg, "add_eos_token", name)?.unwrap_or(false),
                ));
                class_tokens = Some((bos, eos));
            }
        }
        if let (true, Some((text, name))) = (legacy, special_tokens_map) {
            let map = parse_json(text, name)?;
            let from_map = special_tokens_from(&map);
            let st = &mut out.special_tokens;
            for (slot, value) in [
                (&mut st.cls, from_map.cls),
                (&mut st.sep, from_map.sep),
                (&mut st.pad, from_map.pad),
                (&mut st.mask, from_map.mask),
                (&mut st.unk, from_map.unk),
                (&mut st.bos, from_map.bos),
                (&mut st.eos, from_map.eos),
            ] {
                if value.is_some() {
                    *slot = value;
                }
            }
        }
        // The class's own BOS and EOS where the configuration names none, as its constructor's
        // defaults give them.
        if let Some((bos, eos)) = class_tokens {
            let st = &mut out.special_tokens;
            st.bos.get_or_insert_with(|| bos.to_owned());
            st.eos.get_or_insert_with(|| eos.to_owned());
        }
        Ok(out)
    }
}

/// The `[bos] $A [eos]` template a Llama-style fast tokenizer builds when it loads
/// (`update_post_processor`): BOS and EOS where the flags ask for them, on both sequences of a
/// pair.
fn bos_eos_post_processor(
    inner: &tokenizers::Tokenizer,
    special: &SpecialTokens,
    add_bos: bool,
    add_eos: bool,
    name: &str,
) -> Result<PostProcessorWrapper> {
    let token = |flag: bool, which: &str, t: &Option<String>| -> Result<Option<(String, u32)>> {
        if !flag {
            return Ok(None);
        }
        let t = t.as_deref().ok_or_else(|| {
            Error::TokenizerLoad(format!(
                "{name}: add_{which}_token = True but {which}_token = None"
            ))
        })?;
        let id = inner.token_to_id(t).ok_or_else(|| {
            Error::TokenizerLoad(format!(
                "{name}: {which}_token {t:?} is not in the vocabulary"
            ))
        })?;
        Ok(Some((t.to_owned(), id)))
    };
    let bos = token(add_bos, "bos", &special.bos)?;
    let eos = token(add_eos, "eos", &special.eos)?;
    let seq = |s: &str, type_id: u8| {
        let mut parts = Vec::new();
        if let Some((b, _)) = &bos {
            parts.push(format!("{b}:{type_id}"));
        }
        parts.push(format!("${s}:{type_id}"));
        if let Some((e, _)) = &eos {
            parts.push(format!("{e}:{type_id}"));
        }
        parts
    };
    let single = seq("A", 0);
    let pair: Vec<String> = single.iter().cloned().chain(seq("B", 1)).collect();
    let specials: Vec<(String, u32)> = bos.into_iter().chain(eos).collect();
    let template = TemplateProcessing::builder()
        .try_single(single)
        .and_then(|b| b.try_pair(pair))
        .map_err(|e| Error::TokenizerLoad(format!("{name}: {e}")))?
        .special_tokens(specials)
        .build()
        .map_err(|e| Error::TokenizerLoad(format!("{name}: {e}")))?;
    Ok(PostProcessorWrapper::Template(template))
}

fn special_tokens_from(cfg: &serde_json::Map<String, Value>) -> SpecialTokens {
    let get = |k: &str| cfg.get(k).and_then(token_string);
    SpecialTokens {
        cls: get("cls_token"),
        sep: get("sep_token"),
        pad: get("pad_token"),
        mask: get("mask_token"),
        unk: get("unk_token"),
        bos: get("bos_token"),
        eos: get("eos_token"),
    }
}

/// Per-call truncation and padding, resolved from the options and the model defaults exactly
/// as `transformers`' `_get_padding_truncation_strategies` does.
struct Resolved {
    truncation: Option<TruncationParams>,
    padding: Option<PaddingParams>,
}

impl Tokenizer {
    /// Loads from the text of `tokenizer.json` and, optionally, `tokenizer_config.json` and
    /// `special_tokens_map.json`. `*_name` label the sources in error messages.
    pub fn from_parts(
        tokenizer_json: (&str, &str),
        config: Option<(&str, &str)>,
        special_tokens_map: Option<(&str, &str)>,
    ) -> Result<Self> {
        let (text, name) = tokenizer_json;
        // Parse as JSON first so a malformed file gets a JSON error naming the file.
        parse_json(text, name)?;
        let mut inner = tokenizers::Tokenizer::from_str(text)
            .map_err(|e| Error::TokenizerLoad(format!("{name}: not a valid tokenizer: {e}")))?;
        let config = TokenizerConfig::parse(config, special_tokens_map)?;
        let post_processor = match config.bos_eos_template {
            Some((add_bos, add_eos)) => Some(bos_eos_post_processor(
                &inner,
                &config.special_tokens,
                add_bos,
                add_eos,
                name,
            )?),
            None => inner.get_post_processor().cloned(),
        };
        inner.with_post_processor(None::<PostProcessorWrapper>);
        inner
            .with_truncation(None)
            .map_err(|e| Error::TokenizerLoad(format!("{name}: {e}")))?;
        inner.with_padding(None);
        let vocab_size = inner.get_vocab_size(true);
        Ok(Tokenizer {
            inner,
            post_processor,
            config,
            vocab_size,
            slow: None,
        })
    }

    /// A Marian slow tokenizer (`MarianTokenizer`): `source.spm` cuts the text, `vocab.json`
    /// gives the ids; see [`Tokenizer::from_slow_sentencepiece`].
    pub fn from_marian(
        source_spm: (&[u8], &str),
        vocab_json: (&str, &str),
        config: Option<(&str, &str)>,
        special_tokens_map: Option<(&str, &str)>,
        target: MarianTarget<'_>,
    ) -> Result<Self> {
        Tokenizer::from_slow_sentencepiece(
            SlowFlavor::Marian,
            source_spm,
            vocab_json,
            config,
            special_tokens_map,
            target,
            &[],
        )
    }

    /// A slow SentencePiece tokenizer (`MarianTokenizer`, `M2M100Tokenizer`): the SentencePiece
    /// model (`source.spm`, `sentencepiece.bpe.model`) cuts the text, `vocab.json` gives the
    /// ids, `tokenizer_config.json`'s added tokens are cut out first, and decoding follows the
    /// class's `decode`. Special tokens default to the class's. `*.1` label the sources in error
    /// messages.
    pub fn from_slow_sentencepiece(
        flavor: SlowFlavor,
        model: (&[u8], &str),
        vocab_json: (&str, &str),
        config: Option<(&str, &str)>,
        special_tokens_map: Option<(&str, &str)>,
        target: MarianTarget<'_>,
        extra_tokens: &[String],
    ) -> Result<Self> {
        use crate::spm::{AddedToken, SentencePieceModel};
        let spm = SentencePieceModel::parse(model.0, model.1)?;
        let vocab: std::collections::HashMap<String, u32> = serde_json::from_str(vocab_json.0)
            .map_err(|e| {
                Error::TokenizerLoad(format!(
                    "{}: not a JSON object of token ids ({e})",
                    vocab_json.1
                ))
            })?;
        let mut tokens = TokenizerConfig::parse(config, special_tokens_map)?.special_tokens;
        let eos = tokens.eos.get_or_insert_with(|| "</s>".into()).clone();
        let unk = tokens.unk.get_or_insert_with(|| "<unk>".into()).clone();
        tokens.pad.get_or_insert_with(|| "<pad>".into());
        match flavor {
            SlowFlavor::M2M100 => {
                tokens.bos.get_or_insert_with(|| "<s>".into());
                tokens.sep.get_or_insert_with(|| "</s>".into());
            }
            SlowFlavor::Speech2Text => {
                tokens.bos.get_or_insert_with(|| "<s>".into());
            }
            SlowFlavor::Marian => {}
        }
        let cfg: Value = match config {
            Some((text, name)) => Value::Object(parse_json(text, name)?),
            None => Value::Null,
        };
        // tokenizer_config.json's added tokens (M2M100's language tokens), then the named
        // special tokens at their vocab.json ids.
        let mut added: Vec<AddedToken> = Vec::new();
        if let Some(decoder) = cfg.get("added_tokens_decoder").and_then(Value::as_object) {
            for (id, token) in decoder {
                let (Ok(id), Some(content)) = (
                    id.parse::<u32>(),
                    token.get("content").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let special = token
                    .get("special")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                added.push(AddedToken {
                    id,
                    content: content.to_string(),
                    special,
                });
            }
        }
        // Tokens the class adds after vocab.json (M2M100's language tokens): ids, and special
        // (cut out of text) only where the configuration lists them.
        let entries = vocab.len();
        let lookup = |t: &str| {
            vocab.get(t).copied().or_else(|| {
                extra_tokens
                    .iter()
                    .position(|e| e == t)
                    .and_then(|i| u32::try_from(entries + i).ok())
            })
        };
        let map_json: Value = match special_tokens_map {
            Some((text, name)) => Value::Object(parse_json(text, name)?),
            None => Value::Null,
        };
        // Speech2Text's language tokens are special (and cut out of text) with `lang_codes`.
        let languages: Vec<String> = match (flavor, cfg.get("lang_codes")) {
            (SlowFlavor::Speech2Text, Some(Value::String(set))) => SPEECH2TEXT_LANGUAGES
                .iter()
                .find(|(name, _)| name == set)
                .ok_or_else(|| {
                    Error::TokenizerLoad(format!(
                        "tokenizer_config.json: unknown Speech2Text lang_codes {set:?}"
                    ))
                })?
                .1
                .iter()
                .map(|l| (*l).to_string())
                .collect(),
            _ => Vec::new(),
        };
        let additional: Vec<String> = languages
            .iter()
            .map(|l| format!("<lang:{l}>"))
            .chain(
                [&cfg, &map_json]
                    .into_iter()
                    .filter_map(|v| v.get("additional_special_tokens").and_then(Value::as_array))
                    .flatten()
                    .filter_map(|t| {
                        t.as_str()
                            .or_else(|| t.get("content").and_then(Value::as_str))
                    })
                    .map(str::to_string),
            )
            .collect();
        let st = &tokens;
        let named = [
            &st.eos, &st.unk, &st.pad, &st.bos, &st.sep, &st.cls, &st.mask,
        ];
        for name in named.into_iter().flatten().chain(additional.iter()) {
            if let Some(id) = lookup(name) {
                if !added.iter().any(|a| a.content == *name) {
                    added.push(AddedToken {
                        id,
                        content: name.clone(),
                        special: true,
                    });
                }
            }
        }
        added.sort_by_key(|a| a.id);
        let id_of =
            |t: &str| lookup(t).or_else(|| added.iter().find(|a| a.content == t).map(|a| a.id));
        // M2M100 puts the source language's token first (`src_lang`, English by default).
        let prefix = match flavor {
            SlowFlavor::Marian => None,
            // Speech2Text's target language token, by its SentencePiece id (`PieceToId`, as the
            // reference takes it), when the tokenizer has languages.
            SlowFlavor::Speech2Text => match languages.first() {
                None => None,
                Some(first) => {
                    let lang = cfg.get("tgt_lang").and_then(Value::as_str).unwrap_or(first);
                    if !languages.iter().any(|l| l == lang) {
                        return Err(Error::TokenizerLoad(format!(
                            "tokenizer_config.json: tgt_lang {lang:?} is not one of the tokenizer's languages"
                        )));
                    }
                    let token = format!("<lang:{lang}>");
                    let id = spm
                        .pieces
                        .iter()
                        .position(|p| p.text == token)
                        .unwrap_or(spm.unk_id);
                    u32::try_from(id).ok().map(|id| (token, id))
                }
            },
            SlowFlavor::M2M100 => {
                let lang = cfg.get("src_lang").and_then(Value::as_str).unwrap_or("en");
                let token = format!("__{lang}__");
                id_of(&token).map(|id| (token, id))
            }
        };
        let post_processor = match id_of(&eos) {
            Some(eos_id) => {
                let mut single = Vec::new();
                let mut specials = serde_json::Map::new();
                if let Some((token, id)) = &prefix {
                    single.push(serde_json::json!({"SpecialToken": {"id": token, "type_id": 0}}));
                    specials.insert(
                        token.clone(),
                        serde_json::json!({"id": token, "ids": [id], "tokens": [token]}),
                    );
                }
                let mut pair = single.clone();
                single.push(serde_json::json!({"Sequence": {"id": "A", "type_id": 0}}));
                pair.push(serde_json::json!({"Sequence": {"id": "A", "type_id": 0}}));
                pair.push(serde_json::json!({"Sequence": {"id": "B", "type_id": 0}}));
                let end = serde_json::json!({"SpecialToken": {"id": eos, "type_id": 0}});
                single.push(end.clone());
                pair.push(end);
                specials.insert(
                    eos.clone(),
                    serde_json::json!({"id": eos, "ids": [eos_id], "tokens": [eos]}),
                );
                serde_json::json!({
                    "type": "TemplateProcessing",
                    "single": single,
                    "pair": pair,
                    "special_tokens": specials,
                })
            }
            None => Value::Null,
        };
        let flag = |key: &str| {
            flavor == SlowFlavor::Speech2Text && cfg.get(key).and_then(Value::as_bool) == Some(true)
        };
        // `do_lower_case`: the text between special tokens lower-cased before SentencePiece.
        let (json, lattice) = crate::spm::slow_tokenizer_json(
            &spm,
            &vocab,
            &added,
            &unk,
            post_processor,
            flag("do_lower_case"),
        )?;
        let mut tokenizer =
            Tokenizer::from_parts((&json, vocab_json.1), config, special_tokens_map)?;
        tokenizer.config.special_tokens = tokens;
        let unk_id = vocab[&unk];
        let vocab_size = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let source_size = added
            .iter()
            .map(|a| a.id as usize + 1)
            .fold(vocab_size.max(entries + extra_tokens.len()), usize::max);
        // How generated pieces decode: Marian's target model, M2M100's own model.
        let decode_model = match (flavor, target.spm) {
            (SlowFlavor::Marian, Some((bytes, name))) => {
                SentencePieceModel::parse(bytes, name)?.pieces
            }
            (SlowFlavor::Marian, None) => Vec::new(),
            (SlowFlavor::M2M100 | SlowFlavor::Speech2Text, _) => spm.pieces,
        };
        let decode_vocab: std::collections::HashMap<String, u32> = match target.vocab {
            Some((text, name)) => serde_json::from_str(text).map_err(|e| {
                Error::TokenizerLoad(format!("{name}: not a JSON object of token ids ({e})"))
            })?,
            None => vocab.clone(),
        };
        let size = crate::spm::id_space(
            decode_vocab
                .values()
                .copied()
                .chain(added.iter().map(|a| a.id))
                .chain(
                    u32::try_from(entries + extra_tokens.len())
                        .ok()
                        .map(|n| n.saturating_sub(1)),
                ),
            decode_vocab.len() + added.len() + extra_tokens.len(),
            target.vocab.map_or(vocab_json.1, |(_, name)| name),
        )?;
        // Ids the vocabulary lacks decode as the unknown token, as the reference's lookup does;
        // added tokens win over the vocabulary's entry at their id.
        let mut id_tokens = vec![unk.clone(); size];
        for (text, &id) in &decode_vocab {
            id_tokens[id as usize] = text.clone();
        }
        for (i, t) in extra_tokens.iter().enumerate() {
            id_tokens[entries + i] = t.clone();
        }
        for a in &added {
            id_tokens[a.id as usize] = a.content.clone();
        }
        let mut ids = vocab;
        for (i, t) in extra_tokens.iter().enumerate() {
            if let Ok(id) = u32::try_from(entries + i) {
                ids.entry(t.clone()).or_insert(id);
            }
        }
        for a in &added {
            ids.entry(a.content.clone()).or_insert(a.id);
        }
        // The reference's `decode` keeps these apart, joined by spaces, when it shows them:
        // added tokens that are not special, and special ones past the vocabulary.
        let apart = added
            .iter()
            .filter(|a| !a.special || a.id as usize >= vocab_size)
            .map(|a| a.content.clone())
            .collect();
        let specials: std::collections::HashSet<String> = added
            .iter()
            .filter(|a| a.special)
            .map(|a| a.content.clone())
            .collect();
        let special_ids = specials
            .iter()
            .filter_map(|t| ids.get(t).copied())
            .collect();
        tokenizer.vocab_size = source_size;
        tokenizer.slow = Some(Arc::new(SlowVocab {
            flavor,
            ids,
            tokens: id_tokens,
            unk_id,
            source_size,
            specials,
            special_ids,
            apart,
            lattice,
            target: decode_model.into_iter().map(|p| (p.text, p.kind)).collect(),
            upper_case: flag("do_upper_case"),
        }));
        Ok(tokenizer)
    }

    /// Loads `path`: a `tokenizer.json` file, or a directory holding one. A
    /// `tokenizer_config.json` and `special_tokens_map.json` beside it are read when present.
    pub fn from_path(path: &Path) -> Result<Self> {
        let (file, dir): (PathBuf, PathBuf) = if path.is_dir() {
            (path.join(TOKENIZER_FILE), path.to_path_buf())
        } else {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (path.to_path_buf(), dir)
        };
        if path.is_dir() && !file.is_file() {
            return Err(Error::TokenizerLoad(format!(
                "{}: no {TOKENIZER_FILE} in this directory",
                path.display()
            )));
        }
        let text = read_file(&file)?;
        let cfg_path = dir.join(CONFIG_FILE);
        let map_path = dir.join(SPECIAL_TOKENS_MAP_FILE);
        let cfg = if cfg_path.is_file() {
            Some(read_file(&cfg_path)?)
        } else {
            None
        };
        let map = if map_path.is_file() {
            Some(read_file(&map_path)?)
        } else {
            None
        };
        let file_name = file.display().to_string();
        let cfg_name = cfg_path.display().to_string();
        let map_name = map_path.display().to_string();
        Tokenizer::from_parts(
            (&text, &file_name),
            cfg.as_deref().map(|c| (c, cfg_name.as_str())),
            map.as_deref().map(|m| (m, map_name.as_str())),
        )
    }

    /// The vocabulary string of `id` (`vocab.json`'s for a Marian tokenizer).
    fn id_token(&self, id: u32) -> Option<String> {
        match &self.slow {
            Some(m) => m
                .tokens
                .get(id as usize)
                .or_else(|| m.tokens.get(m.unk_id as usize))
                .cloned(),
            None => self.inner.id_to_token(id),
        }
    }

    /// The configuration read from `tokenizer_config.json`.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Number of ids, added tokens included (Python `len(tokenizer)`).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The id of `token` (vocabulary or added token).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        if let Some(m) = &self.slow {
            return m.ids.get(token).copied();
        }
        self.inner.token_to_id(token)
    }

    /// The id of an optional special token.
    pub fn special_id(&self, token: Option<&str>) -> Option<u32> {
        token.and_then(|t| self.inner.token_to_id(t))
    }

    /// The padding id Python would use: the pad token's id, else the unknown token's.
    fn pad_id(&self) -> Option<u32> {
        let st = &self.config.special_tokens;
        let pad = st.pad.as_deref()?;
        self.inner
            .token_to_id(pad)
            .or_else(|| self.special_id(st.unk.as_deref()))
    }

    fn n_added_tokens(&self, is_pair: bool) -> usize {
        self.post_processor
            .as_ref()
            .map_or(0, |p| p.added_tokens(is_pair))
    }

    fn resolve(&self, o: &EncodeOptions) -> Result<Resolved> {
        let mut padding = o.padding;
        let mut max_length = o.max_length;
        let mut truncation = o.truncation;
        if max_length.is_some() && padding == Padding::DoNotPad && truncation.is_none() {
            truncation = Some(Truncation::LongestFirst);
        }
        let mut truncation = truncation.unwrap_or(Truncation::DoNotTruncate);
        if max_length.is_none() {
            if padding == Padding::MaxLength {
                match self.config.model_max_length {
                    None => padding = Padding::DoNotPad,
                    Some(m) => max_length = Some(m),
                }
            }
            if truncation != Truncation::DoNotTruncate {
                match self.config.model_max_length {
                    None => truncation = Truncation::DoNotTruncate,
                    Some(m) => max_length = Some(m),
                }
            }
        }
        let pad_id = if padding == Padding::DoNotPad {
            None
        } else {
            Some(self.pad_id().ok_or_else(|| {
                Error::InvalidArgument(
                    "asking to pad but the tokenizer does not have a padding token".into(),
                )
            })?)
        };
        if let Some(0) = o.pad_to_multiple_of {
            return Err(Error::InvalidArgument(
                "pad_to_multiple_of must be a positive integer".into(),
            ));
        }
        if let (true, true, Some(m), Some(ml)) = (
            truncation != Truncation::DoNotTruncate,
            padding != Padding::DoNotPad,
            o.pad_to_multiple_of,
            max_length,
        ) {
            if ml % m != 0 {
                return Err(Error::InvalidArgument(format!(
                    "truncation and padding are both activated but truncation length ({ml}) is not a multiple of pad_to_multiple_of ({m})"
                )));
            }
        }
        let truncation = match (truncation, max_length) {
            (Truncation::DoNotTruncate, _) | (_, None) => None,
            (strategy, Some(max_length)) => {
                // The backend's own check when truncation is enabled (wrapping like the
                // released library, where a max_length below the special tokens disables it).
                let effective = max_length.wrapping_sub(self.n_added_tokens(false));
                if effective < o.stride {
                    return Err(Error::Tokenize(format!(
                        "stride {} is greater than or equal to the effective max length {effective} (= max_length {max_length} - {} special tokens)",
                        o.stride,
                        self.n_added_tokens(false)
                    )));
                }
                Some(TruncationParams {
                    max_length,
                    stride: o.stride,
                    strategy: match strategy {
                        Truncation::OnlyFirst => TruncationStrategy::OnlyFirst,
                        Truncation::OnlySecond => TruncationStrategy::OnlySecond,
                        _ => TruncationStrategy::LongestFirst,
                    },
                    direction: match o.truncation_side.unwrap_or(self.config.truncation_side) {
                        Side::Left => TruncationDirection::Left,
                        Side::Right => TruncationDirection::Right,
                    },
                })
            }
        };
        let padding = match (padding, pad_id) {
            (Padding::DoNotPad, _) | (_, None) => None,
            (strategy, Some(pad_id)) => Some(PaddingParams {
                strategy: match (strategy, max_length) {
                    (Padding::MaxLength, Some(ml)) => PaddingStrategy::Fixed(ml),
                    _ => PaddingStrategy::BatchLongest,
                },
                direction: match o.padding_side.unwrap_or(self.config.padding_side) {
                    Side::Left => PaddingDirection::Left,
                    Side::Right => PaddingDirection::Right,
                },
                pad_to_multiple_of: o.pad_to_multiple_of,
                pad_id,
                pad_type_id: 0,
                pad_token: self.config.special_tokens.pad.clone().unwrap_or_default(),
            }),
        };
        Ok(Resolved {
            truncation,
            padding,
        })
    }

    /// One text through added tokens, normalization, pre-tokenization and the model: the
    /// backend's, or for a slow unigram tokenizer its own lattice over the backend's splits.
    fn backend_encode(&self, text: &str) -> Result<Encoding> {
        let Some(lattice) = self.slow.as_ref().and_then(|m| m.lattice.as_ref()) else {
            return self.inner.encode_char_offsets(text, false).map_err(tok_err);
        };
        let mut splits = self
            .inner
            .get_added_vocabulary()
            .extract_and_normalize(self.inner.get_normalizer(), text);
        splits
            .tokenize(|normalized| {
                let text = normalized.get();
                Ok(lattice
                    .encode(text)
                    .into_iter()
                    .map(|(id, start, end)| {
                        tokenizers::Token::new(id, text[start..end].to_string(), (start, end))
                    })
                    .collect())
            })
            .map_err(tok_err)?;
        splits
            .into_encoding(None, 0, tokenizers::OffsetType::Char)
            .map_err(tok_err)
    }

    /// One text through the backend (normalization, pre-tokenization, model), with Marian's
    /// leading language code cut off first.
    fn encode_text(&self, text: &str) -> Result<Encoding> {
        let code = self
            .slow
            .as_ref()
            .filter(|m| m.flavor == SlowFlavor::Marian)
            .and_then(|m| crate::spm::leading_language_code(text).map(|c| (m, c)));
        let Some((marian, code)) = code else {
            let encoding = self.backend_encode(text)?;
            return Ok(match &self.slow {
                Some(m) => m.surface_ids(encoding),
                None => encoding,
            });
        };
        let id = marian.ids.get(code).copied().unwrap_or(marian.unk_id);
        let mut encoding = Encoding::new(
            vec![id],
            vec![0],
            vec![code.to_string()],
            vec![Some(0)],
            vec![(0, code.chars().count())],
            vec![0],
            vec![1],
            Vec::new(),
            Default::default(),
        );
        let rest = self.backend_encode(&text[code.len()..])?;
        encoding.merge_with(marian.surface_ids(rest), true);
        Ok(encoding)
    }

    /// One input through normalization, pre-tokenization, model, truncation and
    /// post-processing (`TokenizerImpl::encode_char_offsets` with per-call truncation).
    fn encode_one(
        &self,
        text: &str,
        pair: Option<&str>,
        truncation: Option<&TruncationParams>,
        add_special_tokens: bool,
    ) -> Result<Encoding> {
        let encoding = self.encode_text(text)?;
        let pair_encoding = match pair {
            Some(p) => {
                let mut e = self.encode_text(p)?;
                e.set_type_ids(vec![1; e.len()]);
                Some(e)
            }
            None => None,
        };
        let (encoding, pair_encoding) = match truncation {
            Some(t) => {
                let n_added = self.n_added_tokens(pair_encoding.is_some());
                let params = if add_special_tokens && n_added > 0 {
                    TruncationParams {
                        max_length: t.max_length.wrapping_sub(n_added),
                        ..t.clone()
                    }
                } else {
                    t.clone()
                };
                check_truncation(&encoding, pair_encoding.as_ref(), &params)?;
                match pair_encoding {
                    // The slow tokenizers cut a pair one token at a time from the longer side
                    // (the second on a tie), where the fast ones split the budget.
                    Some(mut second)
                        if self.slow.is_some()
                            && params.strategy == TruncationStrategy::LongestFirst =>
                    {
                        let mut first = encoding;
                        let (mut a, mut b) = (first.len(), second.len());
                        while a + b > params.max_length {
                            if a > b {
                                a -= 1;
                            } else {
                                b -= 1;
                            }
                        }
                        first.truncate(a, params.stride, params.direction);
                        second.truncate(b, params.stride, params.direction);
                        (first, Some(second))
                    }
                    pair => truncate_encodings(encoding, pair, &params).map_err(tok_err)?,
                }
            }
            None => (encoding, pair_encoding),
        };
        match &self.post_processor {
            Some(p) => p
                .process(encoding, pair_encoding, add_special_tokens)
                .map_err(tok_err),
            None => Ok(match pair_encoding {
                None => encoding,
                Some(pair_encoding) => {
                    let mut merged = Encoding::default();
                    for (i, mut e) in [encoding, pair_encoding].into_iter().enumerate() {
                        e.set_sequence_id(i);
                        merged.merge_with(e, false);
                    }
                    merged
                }
            }),
        }
    }

    /// Encodes a batch of texts or text pairs (`pair = None` for a single text), as the Python
    /// fast tokenizer's `__call__(texts, pairs, ...)`.
    pub fn encode_batch(
        &self,
        inputs: &[(&str, Option<&str>)],
        options: &EncodeOptions,
    ) -> Result<BatchEncoding> {
        let resolved = self.resolve(options)?;
        let mut encodings = inputs
            .maybe_par_iter()
            .map(|(text, pair)| {
                self.encode_one(
                    text,
                    *pair,
                    resolved.truncation.as_ref(),
                    options.add_special_tokens,
                )
            })
            .collect::<Result<Vec<Encoding>>>()?;
        if let Some(params) = &resolved.padding {
            pad_encodings(&mut encodings, params).map_err(tok_err)?;
        }
        self.flatten(inputs, encodings, options)
    }

    /// Encodes one text (or pair): a batch of one.
    pub fn encode(
        &self,
        text: &str,
        pair: Option<&str>,
        options: &EncodeOptions,
    ) -> Result<BatchEncoding> {
        self.encode_batch(&[(text, pair)], options)
    }

    fn flatten(
        &self,
        inputs: &[(&str, Option<&str>)],
        encodings: Vec<Encoding>,
        options: &EncodeOptions,
    ) -> Result<BatchEncoding> {
        // (input index, window) in Python's order: each input, then its overflowing windows.
        let mut windows: Vec<(usize, Encoding)> = Vec::with_capacity(encodings.len());
        for (i, mut enc) in encodings.into_iter().enumerate() {
            let overflowing = enc.take_overflowing();
            windows.push((i, enc));
            if options.return_overflowing {
                windows.extend(overflowing.into_iter().map(|o| (i, o)));
            }
        }
        let rows = windows.len();
        let seq_len = windows.iter().map(|(_, e)| e.len()).max().unwrap_or(0);
        let cells = rows
            .checked_mul(seq_len)
            .ok_or_else(|| Error::Dims(format!("encode: [{rows}, {seq_len}] overflows")))?;
        let fill_id = i64::from(self.pad_id().unwrap_or(0));
        let mut out = BatchEncoding {
            rows,
            seq_len,
            input_ids: vec![fill_id; cells],
            attention_mask: vec![0; cells],
            token_type_ids: vec![0; cells],
            special_tokens_mask: vec![1; cells],
            offsets: vec![0; cells * 2],
            word_ids: vec![-1; cells],
            sequence_ids: vec![-1; cells],
            overflow_to_sample_mapping: Vec::with_capacity(rows),
            lengths: Vec::with_capacity(rows),
        };
        // Text indexes for UTF-16 / byte offsets, built once per input.
        let mut indexes: Vec<Option<(TextIndex, Option<TextIndex>)>> = vec![None; inputs.len()];
        for (r, (sample, enc)) in windows.iter().enumerate() {
            let base = r * seq_len;
            let n = enc.len();
            out.overflow_to_sample_mapping
                .push(to_u32(*sample, "sample index")?);
            out.lengths.push(to_u32(n, "row length")?);
            let seq_ids = enc.get_sequence_ids();
            let ids = enc.get_ids();
            let type_ids = enc.get_type_ids();
            let attention = enc.get_attention_mask();
            let special = enc.get_special_tokens_mask();
            let words = enc.get_word_ids();
            let offsets = enc.get_offsets();
            for t in 0..n {
                let k = base + t;
                out.input_ids[k] = i64::from(ids[t]);
                out.token_type_ids[k] = i64::from(type_ids[t]);
                out.attention_mask[k] = i64::from(attention[t]);
                out.special_tokens_mask[k] = u8::from(special[t] != 0);
                out.word_ids[k] = match words[t] {
                    Some(w) => i32::try_from(w).map_err(|_| {
                        Error::Tokenize(format!("word index {w} does not fit in int32"))
                    })?,
                    None => -1,
                };
                let seq = seq_ids.get(t).copied().flatten();
                out.sequence_ids[k] = match seq {
                    Some(0) => 0,
                    Some(1) => 1,
                    Some(s) => {
                        return Err(Error::Internal(format!("unexpected sequence id {s}")));
                    }
                    None => -1,
                };
                let (mut start, mut end) = offsets[t];
                if options.offsets != OffsetUnit::CodePoint && (start, end) != (0, 0) {
                    if let Some(seq) = seq {
                        let (text, pair) = inputs.get(*sample).copied().ok_or_else(|| {
                            Error::Internal(format!("row {r} maps to missing input {sample}"))
                        })?;
                        let slot = indexes.get_mut(*sample).ok_or_else(|| {
                            Error::Internal(format!("no text index slot for input {sample}"))
                        })?;
                        let (ti, pi) = slot.get_or_insert_with(|| {
                            (TextIndex::new(text), pair.map(TextIndex::new))
                        });
                        let index = if seq == 0 { Some(&*ti) } else { pi.as_ref() };
                        let index = index.ok_or_else(|| {
                            Error::Internal(format!("token of sequence {seq} without a pair text"))
                        })?;
                        (start, end) = index.span_from_chars((start, end), options.offsets)?;
                    }
                }
                out.offsets[2 * k] = to_u32(start, "offset")?;
                out.offsets[2 * k + 1] = to_u32(end, "offset")?;
            }
        }
        Ok(out)
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        for (i, &id) in ids.iter().enumerate() {
            if self.inner.id_to_token(id).is_none() {
                return Err(Error::TokenId(format!(
                    "token id {id} at index {i} is outside the vocabulary (ids run 0..{})",
                    self.vocab_size
                )));
            }
        }
        Ok(())
    }

    /// Decodes ids to text, as Python `tokenizer.decode(ids, skip_special_tokens,
    /// clean_up_tokenization_spaces)`; `clean_up = None` uses the tokenizer's default.
    pub fn decode(
        &self,
        ids: &[u32],
        skip_special_tokens: bool,
        clean_up: Option<bool>,
    ) -> Result<String> {
        let text = match &self.slow {
            Some(m) => m.decode(ids, skip_special_tokens)?,
            None => {
                self.check_ids(ids)?;
                self.inner
                    .decode(ids, skip_special_tokens)
                    .map_err(tok_err)?
            }
        };
        Ok(
            if clean_up.unwrap_or(self.config.clean_up_tokenization_spaces) {
                clean_up_tokenization(&text)
            } else {
                text
            },
        )
    }

    /// Decodes several id sequences.
    pub fn decode_batch(
        &self,
        batch: &[&[u32]],
        skip_special_tokens: bool,
        clean_up: Option<bool>,
    ) -> Result<Vec<String>> {
        batch
            .iter()
            .map(|ids| self.decode(ids, skip_special_tokens, clean_up))
            .collect()
    }

    /// The vocabulary strings of `ids` (Python `convert_ids_to_tokens`); special tokens are
    /// left out when `skip_special_tokens`.
    pub fn convert_ids_to_tokens(
        &self,
        ids: &[u32],
        skip_special_tokens: bool,
    ) -> Result<Vec<String>> {
        // Slow tokenizers give ids past the vocabulary their unknown token (see `id_token`).
        if self.slow.is_none() {
            self.check_ids(ids)?;
        }
        let special: Vec<u32> = if skip_special_tokens {
            self.all_special_ids()
        } else {
            Vec::new()
        };
        Ok(ids
            .iter()
            .filter(|id| !special.contains(id))
            .filter_map(|&id| self.id_token(id))
            .collect())
    }

    /// Ids of the named special tokens (Python `all_special_ids`, without additional ones).
    pub fn all_special_ids(&self) -> Vec<u32> {
        let st = &self.config.special_tokens;
        let mut ids: Vec<u32> = [
            &st.bos, &st.eos, &st.unk, &st.sep, &st.pad, &st.cls, &st.mask,
        ]
        .into_iter()
        .filter_map(|t| self.special_id(t.as_deref()))
        .collect();
        ids.dedup();
        ids
    }

    /// The tokenizer's decoder applied to token strings (Python `convert_tokens_to_string`);
    /// without a decoder the tokens are joined with spaces.
    pub fn convert_tokens_to_string(&self, tokens: &[String]) -> Result<String> {
        if let Some(m) = &self.slow {
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            return Ok(m.tokens_to_string(&tokens));
        }
        Ok(match self.inner.get_decoder() {
            Some(d) => d.decode(tokens.to_vec()).map_err(tok_err)?,
            None => tokens.join(" "),
        })
    }

    /// The model's non-empty continuing-subword prefix (`##` for WordPiece).
    pub fn continuing_subword_prefix(&self) -> Option<String> {
        let prefix = match self.inner.get_model() {
            ModelWrapper::WordPiece(m) => Some(m.continuing_subword_prefix.clone()),
            ModelWrapper::BPE(m) => m.continuing_subword_prefix.clone(),
            _ => None,
        };
        prefix.filter(|p| !p.is_empty())
    }
}

/// `text` without the whitespace Python's `str.strip()` removes at either end.
fn py_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

fn to_u32(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Tokenize(format!("{what} {v} does not fit in uint32")))
}

/// Fails where `truncate_encodings` would panic: a window shorter than or equal to the
/// stride. The lengths are computed exactly as that function computes them.
fn check_truncation(enc: &Encoding, pair: Option<&Encoding>, p: &TruncationParams) -> Result<()> {
    if p.max_length == 0 {
        return Ok(());
    }
    let n1 = enc.len();
    let n2 = pair.map(Encoding::len);
    let total = n1 + n2.unwrap_or(0);
    if total <= p.max_length {
        return Ok(());
    }
    let to_remove = total - p.max_length;
    let targets: Vec<(usize, usize)> = match (p.strategy, n2) {
        (TruncationStrategy::LongestFirst, Some(n2)) => {
            let (mut a, mut b) = (n1, n2);
            let swap = a > b;
            if swap {
                std::mem::swap(&mut a, &mut b);
            }
            b = if a > p.max_length {
                a
            } else {
                a.max(p.max_length - a)
            };
            if a + b > p.max_length {
                a = p.max_length / 2;
                b = a + p.max_length % 2;
            }
            if swap {
                std::mem::swap(&mut a, &mut b);
            }
            vec![(n1, a), (n2, b)]
        }
        (TruncationStrategy::LongestFirst, None) => vec![(n1, total - to_remove)],
        (TruncationStrategy::OnlyFirst, _) if n1 > to_remove => vec![(n1, n1 - to_remove)],
        (TruncationStrategy::OnlySecond, Some(n2)) if n2 > to_remove => vec![(n2, n2 - to_remove)],
        // The library itself reports these as errors.
        _ => Vec::new(),
    };
    for (len, target) in targets {
        if target > 0 && target < len && p.stride >= target {
            return Err(Error::Tokenize(format!(
                "stride {} must be smaller than the truncated length {target} of a sequence ({len} tokens cut to fit max_length {}) ",
                p.stride, p.max_length
            )));
        }
    }
    Ok(())
}

/// `transformers`' `clean_up_tokenization`: removes the spaces a word-level decode leaves
/// before punctuation and English contractions.
pub fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

impl TokenVocab for Tokenizer {
    fn id_to_token(&self, id: u32) -> Option<String> {
        self.id_token(id)
    }

    fn tokens_to_string(&self, tokens: &[String]) -> Result<String> {
        self.convert_tokens_to_string(tokens)
    }

    fn unk_id(&self) -> Option<u32> {
        self.special_id(self.config.special_tokens.unk.as_deref())
    }

    fn continuing_subword_prefix(&self) -> Option<String> {
        Tokenizer::continuing_subword_prefix(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../test/fixtures/tokenizers")
            .join(name)
    }

    fn load(name: &str) -> Tokenizer {
        match Tokenizer::from_path(&fixture(name)) {
            Ok(t) => t,
            Err(e) => panic!("cannot load fixture {name}: {e}"),
        }
    }

    fn ok<T>(r: Result<T>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("unexpected error {}: {e}", e.code()),
        }
    }

    fn err_code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.code(),
        }
    }

    #[test]
    fn loads_config_of_each_fixture() {
        let bert = load("bert-uncased");
        let c = bert.config();
        assert_eq!(c.model_max_length, Some(64));
        assert_eq!(c.padding_side, Side::Right);
        assert!(c.clean_up_tokenization_spaces);
        assert_eq!(c.do_lower_case, Some(true));
        assert_eq!(c.special_tokens.cls.as_deref(), Some("[CLS]"));
        assert_eq!(c.special_tokens.mask.as_deref(), Some("[MASK]"));
        assert_eq!(c.special_tokens.bos, None);
        assert_eq!(bert.vocab_size(), 1500);
        assert_eq!(bert.continuing_subword_prefix().as_deref(), Some("##"));

        let roberta = load("roberta-bpe");
        assert!(!roberta.config().clean_up_tokenization_spaces);
        assert_eq!(
            roberta.config().special_tokens.mask.as_deref(),
            Some("<mask>")
        );
        assert_eq!(roberta.continuing_subword_prefix(), None);
        let xlmr = load("xlmr-unigram");
        assert_eq!(xlmr.continuing_subword_prefix(), None);
        assert_eq!(xlmr.special_id(Some("<s>")), Some(0));
    }

    #[test]
    fn encodes_single_text_with_specials_and_offsets() {
        let t = load("bert-uncased");
        let e = ok(t.encode("Hello world", None, &EncodeOptions::default()));
        assert_eq!(e.rows, 1);
        let cls = i64::from(t.token_to_id("[CLS]").unwrap_or(u32::MAX));
        let sep = i64::from(t.token_to_id("[SEP]").unwrap_or(u32::MAX));
        assert_eq!(e.input_ids.first(), Some(&cls));
        assert_eq!(e.input_ids.last(), Some(&sep));
        assert_eq!(e.special_tokens_mask.first(), Some(&1));
        assert_eq!(e.sequence_ids.first(), Some(&-1));
        assert_eq!(e.sequence_ids.get(1), Some(&0));
        // "world" is the last word: its tokens end at code point 11.
        let n = e.seq_len;
        assert_eq!(e.offsets[2 * (n - 2) + 1], 11);
        assert!(e.attention_mask.iter().all(|&m| m == 1));
        assert_eq!(e.lengths, vec![n as u32]);
    }

    #[test]
    fn utf16_offsets_count_surrogate_pairs() {
        let t = load("bert-cased");
        let text = "😀 John";
        let cp = ok(t.encode(text, None, &EncodeOptions::default()));
        let u16 = ok(t.encode(
            text,
            None,
            &EncodeOptions {
                offsets: OffsetUnit::Utf16,
                ..EncodeOptions::default()
            },
        ));
        let n = cp.seq_len;
        // Last real token before [SEP] is (part of) "John".
        let k = n - 2;
        assert_eq!(cp.offsets[2 * k + 1], 6);
        assert_eq!(u16.offsets[2 * k + 1], 7);
        assert_eq!(cp.input_ids, u16.input_ids);
    }

    #[test]
    fn pair_type_ids_and_sequence_ids() {
        let t = load("bert-uncased");
        let e = ok(t.encode("a b", Some("c"), &EncodeOptions::default()));
        // [CLS] a b [SEP] c [SEP]
        assert_eq!(e.token_type_ids, vec![0, 0, 0, 0, 1, 1]);
        assert_eq!(e.sequence_ids, vec![-1, 0, 0, -1, 1, -1]);
        assert_eq!(e.word_ids, vec![-1, 0, 1, -1, 0, -1]);
    }

    #[test]
    fn overflowing_windows_map_to_their_sample() {
        let t = load("bert-uncased");
        let long = "the quick brown fox jumps over the lazy dog ".repeat(4);
        let opts = EncodeOptions {
            truncation: Some(Truncation::LongestFirst),
            max_length: Some(12),
            stride: 3,
            return_overflowing: true,
            padding: Padding::Longest,
            ..EncodeOptions::default()
        };
        let e = ok(t.encode_batch(&[("short text", None), (long.as_str(), None)], &opts));
        assert!(e.rows > 2);
        assert_eq!(e.seq_len, 12);
        assert_eq!(e.overflow_to_sample_mapping[0], 0);
        assert!(e.overflow_to_sample_mapping[1..].iter().all(|&s| s == 1));
        // Consecutive windows of the long text overlap by the stride: the last 3 content
        // tokens of window 1 open window 2.
        let row = |r: usize| &e.input_ids[r * 12..(r + 1) * 12];
        assert_eq!(&row(1)[8..11], &row(2)[1..4]);
        // The short row is padded on the right.
        assert_eq!(e.attention_mask[11], 0);
    }

    #[test]
    fn no_padding_fills_ragged_rows_and_reports_lengths() {
        let t = load("roberta-bpe");
        let e = ok(t.encode_batch(
            &[("Hi", None), ("Hello there my friend", None)],
            &EncodeOptions::default(),
        ));
        assert_eq!(e.rows, 2);
        let (l0, l1) = (e.lengths[0] as usize, e.lengths[1] as usize);
        assert!(l0 < l1);
        assert_eq!(e.seq_len, l1);
        assert_eq!(e.attention_mask[l0], 0);
        assert_eq!(
            e.input_ids[l0],
            i64::from(t.token_to_id("<pad>").unwrap_or(0))
        );
    }

    #[test]
    fn impossible_truncation_is_an_error_not_a_panic() {
        let t = load("bert-uncased");
        let long = "one two three four five six seven eight nine ten";
        // A stride that does not fit the window.
        let e = t.encode(
            long,
            None,
            &EncodeOptions {
                max_length: Some(6),
                stride: 5,
                ..EncodeOptions::default()
            },
        );
        assert_eq!(err_code(e), "ERR_TOKENIZE");
        // Pair truncation where one side must shrink below the stride.
        let e = t.encode(
            long,
            Some(long),
            &EncodeOptions {
                max_length: Some(8),
                stride: 2,
                return_overflowing: true,
                ..EncodeOptions::default()
            },
        );
        assert_eq!(err_code(e), "ERR_TOKENIZE");
        // only_second without a second sequence.
        let e = t.encode(
            long,
            None,
            &EncodeOptions {
                truncation: Some(Truncation::OnlySecond),
                max_length: Some(6),
                ..EncodeOptions::default()
            },
        );
        assert_eq!(err_code(e), "ERR_TOKENIZE");
        // only_second when the second sequence is too short to absorb the cut.
        let e = t.encode(
            long,
            Some("x"),
            &EncodeOptions {
                truncation: Some(Truncation::OnlySecond),
                max_length: Some(6),
                ..EncodeOptions::default()
            },
        );
        assert_eq!(err_code(e), "ERR_TOKENIZE");
    }

    #[test]
    fn truncation_defaults_follow_transformers() {
        let t = load("bert-uncased");
        let long = "word ".repeat(100);
        // truncation on, no max_length: the model maximum (64).
        let e = ok(t.encode(
            &long,
            None,
            &EncodeOptions {
                truncation: Some(Truncation::LongestFirst),
                ..EncodeOptions::default()
            },
        ));
        assert_eq!(e.seq_len, 64);
        // max_length alone turns on longest_first.
        let e = ok(t.encode(
            &long,
            None,
            &EncodeOptions {
                max_length: Some(10),
                ..EncodeOptions::default()
            },
        ));
        assert_eq!(e.seq_len, 10);
        // Explicitly off: everything is kept.
        let e = ok(t.encode(
            &long,
            None,
            &EncodeOptions {
                truncation: Some(Truncation::DoNotTruncate),
                max_length: Some(10),
                ..EncodeOptions::default()
            },
        ));
        assert_eq!(e.seq_len, 202);
    }

    #[test]
    fn padding_left_and_max_length() {
        let t = load("bert-uncased");
        let e = ok(t.encode(
            "hi",
            None,
            &EncodeOptions {
                padding: Padding::MaxLength,
                max_length: Some(8),
                padding_side: Some(Side::Left),
                ..EncodeOptions::default()
            },
        ));
        assert_eq!(e.seq_len, 8);
        // [CLS] h ##i [SEP] after four pads.
        assert_eq!(e.attention_mask, vec![0, 0, 0, 0, 1, 1, 1, 1]);
        assert_eq!(e.word_ids[..5], [-1; 5]);
        assert_eq!(e.word_ids[5..7], [0, 0]);
        assert_eq!(e.lengths, vec![8]);
    }

    #[test]
    fn llama_style_classes_rebuild_the_post_processor_from_their_flags() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures/models/llama-tiny");
        let json = match std::fs::read_to_string(dir.join(TOKENIZER_FILE)) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let ids = |config: &str, pair: Option<&str>| {
            let t = ok(Tokenizer::from_parts(
                (&json, "tokenizer.json"),
                Some((config, "tokenizer_config.json")),
                None,
            ));
            ok(t.encode("hello", pair, &EncodeOptions::default())).input_ids
        };
        let cfg = |class: &str, flags: &str| {
            format!(
                r#"{{"tokenizer_class": "{class}", "bos_token": "<s>", "eos_token": "</s>"{flags}}}"#
            )
        };
        let plain = ids(&cfg("PreTrainedTokenizerFast", ""), None);
        let (bos, body) = (plain[0], &plain[1..]);
        // tokenizer.json's own template (BOS only) for other classes and for the Llama default.
        assert_eq!(ids(&cfg("LlamaTokenizerFast", ""), None), plain);
        let eos = ids(&cfg("LlamaTokenizer", r#", "add_eos_token": true"#), None);
        assert_eq!(eos.len(), plain.len() + 1);
        assert_eq!(&eos[..plain.len()], &plain[..]);
        let none = ids(
            &cfg("GemmaTokenizerFast", r#", "add_bos_token": false"#),
            None,
        );
        assert_eq!(none, body);
        // GPT-NeoX adds nothing by default; a pair repeats the template on its second sequence.
        assert_eq!(ids(&cfg("GPTNeoXTokenizerFast", ""), None), body);
        let pair = ids(&cfg("CodeLlamaTokenizer", ""), Some("hello"));
        assert_eq!(pair, [&[bos][..], body, &[bos][..], body].concat());
        // Tokens the configuration does not name are the class's defaults (Llama: <s>, </s>).
        assert_eq!(
            ids(
                r#"{"tokenizer_class": "LlamaTokenizer", "add_eos_token": true}"#,
                None
            ),
            eos
        );
        // A token the vocabulary lacks fails at load.
        let e = Tokenizer::from_parts(
            (&json, "tokenizer.json"),
            Some((
                r#"{"tokenizer_class": "LlamaTokenizer", "bos_token": "<nope>"}"#,
                "c",
            )),
            None,
        );
        assert!(matches!(e, Err(Error::TokenizerLoad(m)) if m.contains("not in the vocabulary")));
    }

    #[test]
    fn padding_needs_a_pad_token() {
        let json = match std::fs::read_to_string(fixture("bert-uncased").join(TOKENIZER_FILE)) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let t = ok(Tokenizer::from_parts((&json, "tokenizer.json"), None, None));
        assert_eq!(t.config().model_max_length, None);
        let e = t.encode(
            "hi",
            None,
            &EncodeOptions {
                padding: Padding::Longest,
                ..EncodeOptions::default()
            },
        );
        assert_eq!(err_code(e), "ERR_INVALID_ARGUMENT");
        // No model maximum: truncation without max_length is a no-op, as in transformers.
        let e = ok(t.encode(
            &"word ".repeat(100),
            None,
            &EncodeOptions {
                truncation: Some(Truncation::LongestFirst),
                ..EncodeOptions::default()
            },
        ));
        assert_eq!(e.seq_len, 202);
    }

    #[test]
    fn config_sentinels_and_errors() {
        let json = match std::fs::read_to_string(fixture("bert-uncased").join(TOKENIZER_FILE)) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let src = |cfg: &str| {
            Tokenizer::from_parts((&json, "tokenizer.json"), Some((cfg, "cfg.json")), None)
        };
        let t = ok(src(
            r#"{"model_max_length": 1000000000000000019884624838656}"#,
        ));
        assert_eq!(t.config().model_max_length, None);
        let t = ok(src(
            r#"{"model_max_length": 512, "padding_side": "left", "pad_token": {"content": "[PAD]"}}"#,
        ));
        assert_eq!(t.config().model_max_length, Some(512));
        assert_eq!(t.config().padding_side, Side::Left);
        assert_eq!(t.config().special_tokens.pad.as_deref(), Some("[PAD]"));
        let e = src(r#"{"padding_side": "middle"}"#);
        assert_eq!(err_code(e), "ERR_TOKENIZER_LOAD");
        let e = src("{not json");
        match e {
            Err(Error::TokenizerLoad(m)) => assert!(m.contains("cfg.json"), "{m}"),
            other => panic!("expected a load error, got {other:?}"),
        }
        // special_tokens_map.json fills in when the config has no added_tokens_decoder.
        let t = ok(Tokenizer::from_parts(
            (&json, "tokenizer.json"),
            Some(("{}", "cfg.json")),
            Some((r#"{"mask_token": "[MASK]"}"#, "map.json")),
        ));
        assert_eq!(t.config().special_tokens.mask.as_deref(), Some("[MASK]"));
    }

    #[test]
    fn load_errors_name_the_file() {
        match Tokenizer::from_parts(("{\"version\": ", "bad/tokenizer.json"), None, None) {
            Err(Error::TokenizerLoad(m)) => assert!(m.contains("bad/tokenizer.json"), "{m}"),
            other => panic!("expected a load error, got {other:?}"),
        }
        match Tokenizer::from_parts(("{\"model\": 3}", "odd.json"), None, None) {
            Err(Error::TokenizerLoad(m)) => assert!(m.contains("odd.json"), "{m}"),
            other => panic!("expected a load error, got {other:?}"),
        }
        let missing = fixture("no-such-tokenizer");
        assert_eq!(
            err_code(Tokenizer::from_path(&missing)),
            "ERR_TOKENIZER_LOAD"
        );
        let empty_dir = fixture("");
        assert_eq!(
            err_code(Tokenizer::from_path(&empty_dir)),
            "ERR_TOKENIZER_LOAD"
        );
    }

    #[test]
    fn decode_and_cleanup() {
        let t = load("bert-uncased");
        let e = ok(t.encode("Hello, world! It's fine.", None, &EncodeOptions::default()));
        let ids: Vec<u32> = e.input_ids.iter().map(|&i| i as u32).collect();
        let text = ok(t.decode(&ids, true, None));
        assert_eq!(text, "hello, world! it's fine.");
        let raw = ok(t.decode(&ids, true, Some(false)));
        // The WordPiece decoder's own cleanup already joins punctuation; transformers' extra
        // rules then fix the contraction.
        assert_eq!(raw, "hello, world! it ' s fine.");
        let with_specials = ok(t.decode(&ids, false, None));
        assert!(with_specials.starts_with("[CLS] hello"));
        assert_eq!(
            err_code(t.decode(&[5, 1_000_000], false, None)),
            "ERR_TOKEN_ID"
        );
        assert_eq!(
            ok(t.decode_batch(&[&ids[..2], &ids[..1]], false, None)),
            vec!["[CLS] he".to_string(), "[CLS]".to_string()]
        );
    }

    #[test]
    fn tokens_round_trip_through_the_decoder() {
        let t = load("roberta-bpe");
        let e = ok(t.encode("Hello world", None, &EncodeOptions::default()));
        let ids: Vec<u32> = e.input_ids.iter().map(|&i| i as u32).collect();
        let tokens = ok(t.convert_ids_to_tokens(&ids, true));
        assert_eq!(tokens.len(), ids.len() - 2);
        assert_eq!(ok(t.convert_tokens_to_string(&tokens)), "Hello world");
        assert_eq!(
            err_code(t.convert_ids_to_tokens(&[99_999], false)),
            "ERR_TOKEN_ID"
        );
        // The TokenVocab view used by entity aggregation.
        let v: &dyn TokenVocab = &t;
        assert_eq!(v.unk_id(), t.token_to_id("<unk>"));
        assert_eq!(v.id_to_token(ids[1]), tokens.first().cloned());
    }

    #[test]
    fn cleanup_rules() {
        assert_eq!(
            clean_up_tokenization("a . b ? c ! d , e ' f do n't I 'm it 's we 've they 're"),
            "a. b? c! d, e'f don't I'm it's we've they're"
        );
    }
}
