//! SentencePiece model files (`*.model`, `source.spm`): the protobuf reader, and the
//! `tokenizer.json` that tokenizes as a Marian slow tokenizer (`MarianTokenizer`: a source
//! SentencePiece model for the pieces, `vocab.json` for their ids).
//!
//! The model file is untrusted: the protobuf is decoded by `prost` (malformed bytes are an
//! error), every field the tokenizer depends on is checked, and the normaliser's precompiled
//! character map, whose double-array trie the `tokenizers` crate walks without bounds checks,
//! is walked here first over every byte path so that no lookup can fall outside it.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use prost::Message;
use serde_json::{json, Value};

use crate::{Error, Result};

/// The most pieces a model may have (the largest published SentencePiece vocabularies have
/// about 256k).
pub const MAX_PIECES: usize = 1 << 21;

/// Prefix that keeps an entry of the backend model's vocabulary out of reach of any text:
/// `vocab.json` entries the source model cannot produce (target-only pieces, control symbols)
/// and gaps between ids. U+10FFFF is a noncharacter; decoding reads `vocab.json`'s own strings.
const UNREACHABLE: char = '\u{10FFFF}';

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, repeated, tag = "1")]
    pieces: Vec<PieceProto>,
    #[prost(message, optional, tag = "2")]
    trainer_spec: Option<TrainerSpecProto>,
    #[prost(message, optional, tag = "3")]
    normalizer_spec: Option<NormalizerSpecProto>,
}

#[derive(Clone, PartialEq, Message)]
struct PieceProto {
    #[prost(string, optional, tag = "1")]
    piece: Option<String>,
    #[prost(float, optional, tag = "2")]
    score: Option<f32>,
    #[prost(int32, optional, tag = "3")]
    kind: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
struct TrainerSpecProto {
    #[prost(int32, optional, tag = "3")]
    model_type: Option<i32>,
    #[prost(bool, optional, tag = "24")]
    treat_whitespace_as_suffix: Option<bool>,
    #[prost(bool, optional, tag = "35")]
    byte_fallback: Option<bool>,
    #[prost(int32, optional, tag = "40")]
    unk_id: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
struct NormalizerSpecProto {
    #[prost(bytes = "vec", optional, tag = "2")]
    precompiled_charsmap: Option<Vec<u8>>,
    #[prost(bool, optional, tag = "3")]
    add_dummy_prefix: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    remove_extra_whitespaces: Option<bool>,
    #[prost(bool, optional, tag = "5")]
    escape_whitespaces: Option<bool>,
}

/// A piece's type, as SentencePiece's `ModelProto.SentencePiece.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// An ordinary piece the lattice may use.
    Normal,
    /// The unknown piece.
    Unknown,
    /// A control symbol (`<s>`, `</s>`): never produced from text.
    Control,
    /// A user-defined symbol: always one piece wherever it occurs.
    UserDefined,
    /// A byte piece (`<0x41>`) of a byte-fallback model.
    Byte,
    /// Kept in the vocabulary but never produced.
    Unused,
}

impl PieceKind {
    fn from_proto(value: Option<i32>) -> Option<Self> {
        Some(match value.unwrap_or(1) {
            1 => PieceKind::Normal,
            2 => PieceKind::Unknown,
            3 => PieceKind::Control,
            4 => PieceKind::UserDefined,
            5 => PieceKind::Unused,
            6 => PieceKind::Byte,
            _ => return None,
        })
    }
}

/// One vocabulary entry of a SentencePiece model.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub text: String,
    pub score: f32,
    pub kind: PieceKind,
}

/// How a SentencePiece model cuts text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    /// The unigram lattice (Marian, T5, XLM-R).
    Unigram,
    /// Merges of adjacent pieces, best-scored first (M2M100).
    Bpe,
}

/// What the tokenizer needs from a SentencePiece model file.
#[derive(Debug, Clone, PartialEq)]
pub struct SentencePieceModel {
    pub model_type: ModelType,
    pub pieces: Vec<Piece>,
    pub unk_id: usize,
    pub byte_fallback: bool,
    /// The normaliser's precompiled character map (empty: no character normalisation).
    pub charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
}

fn load_err(name: &str, what: impl std::fmt::Display) -> Error {
    Error::TokenizerLoad(format!("{name}: {what}"))
}

impl SentencePieceModel {
    /// Reads a serialized `ModelProto`. `name` labels the file in error messages.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self> {
        let proto = ModelProto::decode(bytes)
            .map_err(|e| load_err(name, format!("not a SentencePiece model ({e})")))?;
        let trainer = proto.trainer_spec.unwrap_or_default();
        let normalizer = proto.normalizer_spec.unwrap_or_default();
        let model_type = match trainer.model_type.unwrap_or(1) {
            1 => ModelType::Unigram,
            2 => ModelType::Bpe,
            t => {
                return Err(load_err(
                    name,
                    format!("SentencePiece model type {t} is not supported (only unigram and BPE)"),
                ))
            }
        };
        if trainer.treat_whitespace_as_suffix.unwrap_or(false) {
            return Err(load_err(
                name,
                "treat_whitespace_as_suffix is not supported",
            ));
        }
        if !normalizer.escape_whitespaces.unwrap_or(true) {
            return Err(load_err(name, "escape_whitespaces: false is not supported"));
        }
        if proto.pieces.is_empty() {
            return Err(load_err(name, "the model has no pieces"));
        }
        if proto.pieces.len() > MAX_PIECES {
            return Err(load_err(
                name,
                format!(
                    "{} pieces is more than the limit of {MAX_PIECES}",
                    proto.pieces.len()
                ),
            ));
        }
        let mut seen = HashSet::with_capacity(proto.pieces.len());
        let mut pieces = Vec::with_capacity(proto.pieces.len());
        for (i, p) in proto.pieces.into_iter().enumerate() {
            let text = p.piece.unwrap_or_default();
            let score = p.score.unwrap_or(0.0);
            let kind = PieceKind::from_proto(p.kind)
                .ok_or_else(|| load_err(name, format!("piece {i} has an unknown type")))?;
            if text.is_empty() {
                return Err(load_err(name, format!("piece {i} is empty")));
            }
            if !score.is_finite() {
                return Err(load_err(name, format!("piece {i} has a non-finite score")));
            }
            if !seen.insert(text.clone()) {
                return Err(load_err(name, format!("piece {text:?} appears twice")));
            }
            pieces.push(Piece { text, score, kind });
        }
        let unk_id = usize::try_from(trainer.unk_id.unwrap_or(0))
            .ok()
            .filter(|&id| pieces.get(id).is_some_and(|p| p.kind == PieceKind::Unknown))
            .ok_or_else(|| load_err(name, "unk_id does not name the model's unknown piece"))?;
        let charsmap = normalizer.precompiled_charsmap.unwrap_or_default();
        if !charsmap.is_empty() {
            check_charsmap(&charsmap).map_err(|e| load_err(name, e))?;
        }
        Ok(SentencePieceModel {
            model_type,
            pieces,
            unk_id,
            byte_fallback: trainer.byte_fallback.unwrap_or(false),
            charsmap,
            add_dummy_prefix: normalizer.add_dummy_prefix.unwrap_or(true),
            remove_extra_whitespaces: normalizer.remove_extra_whitespaces.unwrap_or(true),
        })
    }

    /// The smallest score of a normal piece, as SentencePiece computes it (0 without one).
    fn min_score(&self) -> f64 {
        self.pieces
            .iter()
            .filter(|p| p.kind == PieceKind::Normal)
            .map(|p| f64::from(p.score))
            .reduce(f64::min)
            .unwrap_or(0.0)
    }
}

impl SentencePieceModel {
    /// The largest normal score as SentencePiece keeps it: starting from the smallest positive
    /// float, so with log-probability scores it stays there.
    fn max_score(&self) -> f32 {
        self.pieces
            .iter()
            .filter(|p| p.kind == PieceKind::Normal)
            .map(|p| p.score)
            .fold(f32::MIN_POSITIVE, f32::max)
    }
}

/// Checks that a precompiled character map is one the `tokenizers` crate can use on any text:
/// its blob parses, its replacement strings are UTF-8, and every trie position reachable by any
/// byte sequence, and every replacement offset, lies inside the map.
pub fn check_charsmap(map: &[u8]) -> std::result::Result<(), String> {
    let bad = |what: &str| {
        Err(format!(
            "the normaliser's character map is malformed ({what})"
        ))
    };
    if map.len() < 4 {
        return bad("too short");
    }
    let trie_bytes = u32::from_le_bytes([map[0], map[1], map[2], map[3]]) as usize;
    if trie_bytes > map.len() - 4 {
        return bad("trie size past the end");
    }
    let units: Vec<usize> = map[4..4 + trie_bytes / 4 * 4]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let Ok(normalized) = std::str::from_utf8(&map[4 + trie_bytes / 4 * 4..]) else {
        return bad("replacement strings are not UTF-8");
    };
    if units.is_empty() {
        return bad("empty trie");
    }
    // The unit layout of SentencePiece's double-array (darts-clone) trie.
    let offset = |u: usize| (u >> 10) << ((u & (1 << 9)) >> 6);
    let label = |u: usize| u & ((1 << 31) | 0xFF);
    let has_leaf = |u: usize| (u >> 8) & 1 == 1;
    let value = |u: usize| u & ((1 << 31) - 1);
    let mut seen = vec![false; units.len()];
    let mut stack = vec![offset(units[0])];
    while let Some(node) = stack.pop() {
        if node >= units.len() {
            return bad("trie node past the end");
        }
        if std::mem::replace(&mut seen[node], true) {
            continue;
        }
        for byte in 1..=255usize {
            let pos = node ^ byte;
            let Some(&unit) = units.get(pos) else {
                return bad("trie position past the end");
            };
            if label(unit) != byte {
                continue;
            }
            let next = pos ^ offset(unit);
            if has_leaf(unit) {
                let Some(&leaf) = units.get(next) else {
                    return bad("trie leaf past the end");
                };
                let start = value(leaf);
                if start > normalized.len() || !normalized.is_char_boundary(start) {
                    return bad("replacement offset past the end");
                }
            }
            stack.push(next);
        }
    }
    Ok(())
}

/// A token the slow tokenizer cuts out of the text before SentencePiece sees it (its special
/// tokens, M2M100's language tokens), with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    pub special: bool,
}

/// The `tokenizer.json` (text) that cuts text as a slow SentencePiece tokenizer
/// (`MarianTokenizer`, `M2M100Tokenizer`) does with `source` as its model and `vocab`
/// (`vocab.json`: piece to id) for the ids.
///
/// - `added` tokens are cut out first, as the slow tokenizer's added tokens are; ids past
///   `vocab.json` (M2M100's language tokens) extend the vocabulary.
/// - Each span between them is normalised as SentencePiece does (character map, extra spaces
///   removed, the dummy `▁` prefix, spaces escaped), then cut by the model: a unigram lattice
///   over the source model's pieces and scores (user-defined symbols with SentencePiece's bonus
///   score; `vocab.json` entries the model cannot produce stay out of it), or BPE merges ranked
///   by the merged piece's score (as transformers' converter extracts them).
/// - Pieces of the source model that `vocab.json` lacks follow the vocabulary: the reference
///   maps them to the unknown id, which is the caller's to do, as is looking up text the model
///   does not know (the unknown piece) in `vocab.json`.
/// - `post_processor` is the `tokenizer.json` post-processor (special tokens around a text).
/// - `lowercase` lower-cases each span first (Speech2Text's `do_lower_case`).
/// - Decoding is the caller's (see [`crate::tokenize::Tokenizer::from_slow_sentencepiece`]).
pub fn slow_tokenizer_json(
    source: &SentencePieceModel,
    vocab: &HashMap<String, u32>,
    added: &[AddedToken],
    unk: &str,
    post_processor: Value,
    lowercase: bool,
) -> Result<(String, Option<Lattice>)> {
    let err = |what: String| Error::TokenizerLoad(format!("vocab.json: {what}"));
    if vocab.is_empty() {
        return Err(err("the vocabulary is empty".into()));
    }
    let size = id_space(
        vocab.values().copied().chain(added.iter().map(|a| a.id)),
        vocab.len() + added.len(),
        "vocab.json",
    )?;
    let mut entries: Vec<Option<&str>> = vec![None; size];
    for (text, &id) in vocab {
        if entries[id as usize].replace(text).is_some() {
            return Err(err(format!("id {id} is given to two entries")));
        }
    }
    let unk_id = *vocab.get(unk).ok_or_else(|| {
        err(format!(
            "the unknown token {unk:?} is not in the vocabulary"
        ))
    })?;

    // Tokens cut out before the model; an id past vocab.json takes its slot.
    let mut added_tokens: Vec<&AddedToken> = Vec::new();
    let mut is_added: HashSet<&str> = HashSet::new();
    for token in added {
        let slot = &mut entries[token.id as usize];
        if slot.is_some_and(|t| t != token.content) {
            continue;
        }
        if is_added.insert(token.content.as_str()) {
            *slot = Some(token.content.as_str());
            added_tokens.push(token);
        }
    }
    added_tokens.sort_unstable_by_key(|t| t.id);

    let (model, lattice) = match source.model_type {
        ModelType::Unigram => {
            let (model, lattice) = unigram_model(source, vocab, &entries, &is_added, unk_id);
            (model, Some(lattice))
        }
        ModelType::Bpe => (bpe_model(source, &entries, unk), None),
    };
    let mut normalizers = Vec::new();
    if lowercase {
        normalizers.push(json!({"type": "Lowercase"}));
    }
    if !source.charsmap.is_empty() {
        normalizers.push(json!({
            "type": "Precompiled",
            "precompiled_charsmap": base64::engine::general_purpose::STANDARD.encode(&source.charsmap),
        }));
    }
    if source.remove_extra_whitespaces {
        normalizers.push(json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}));
        normalizers
            .push(json!({"type": "Replace", "pattern": {"Regex": "\\A | \\z"}, "content": ""}));
    }
    if source.add_dummy_prefix {
        normalizers.push(json!({"type": "Prepend", "prepend": "\u{2581}"}));
    }
    normalizers.push(json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}));

    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens.iter().map(|t| json!({
            "id": t.id,
            "content": t.content,
            "single_word": false,
            "lstrip": false,
            "rstrip": false,
            "normalized": false,
            "special": t.special,
        })).collect::<Vec<_>>(),
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": null,
        "post_processor": post_processor,
        // Decoding follows the slow tokenizer's own rules (the caller's).
        "decoder": null,
        "model": model,
    });
    Ok((tokenizer.to_string(), lattice))
}

/// The size of an id space holding `ids` (one past the largest) for `entries` tokens, refused
/// when the ids are far sparser than the tokens (the space is allocated).
pub fn id_space(ids: impl Iterator<Item = u32>, entries: usize, name: &str) -> Result<usize> {
    let size = ids.map(|id| id as usize + 1).max().unwrap_or(0);
    if size > entries.saturating_mul(2).saturating_add(1024) {
        return Err(Error::TokenizerLoad(format!(
            "{name}: ids go up to {} for {entries} entries",
            size - 1
        )));
    }
    Ok(size)
}

/// The unigram model: `vocab.json`'s entries in id order with the source model's scores, the
/// entries it cannot produce renamed out of the lattice's reach, then its pieces `vocab.json`
/// lacks.
fn unigram_model(
    source: &SentencePieceModel,
    vocab: &HashMap<String, u32>,
    entries: &[Option<&str>],
    is_added: &HashSet<&str>,
    unk_id: u32,
) -> (Value, Lattice) {
    let min_score = source.min_score();
    let spm: HashMap<&str, &Piece> = source.pieces.iter().map(|p| (p.text.as_str(), p)).collect();
    // SentencePiece scores a user-defined symbol `byte length * max_score - 0.1` (about -0.1),
    // so that it wins over any split of its text.
    let max_score = source.max_score();
    let score_of = |p: &Piece| match p.kind {
        PieceKind::Normal => Some(p.score),
        PieceKind::UserDefined => Some(p.text.len() as f32 * max_score - 0.1),
        _ => None,
    };
    let mut lattice = Lattice {
        pieces: HashMap::new(),
        max_len: 0,
        unk_id,
        unk_score: min_score as f32 - 10.0,
    };
    let mut pieces: Vec<Value> = Vec::with_capacity(entries.len());
    for (id, entry) in entries.iter().enumerate() {
        let (text, score) = match entry {
            Some(t) if is_added.contains(t) => (t.to_string(), min_score),
            Some(t) => match spm.get(t).and_then(|p| score_of(p)) {
                Some(score) => {
                    lattice.insert(t, id as u32, score);
                    (t.to_string(), f64::from(score).max(min_score))
                }
                None => (format!("{UNREACHABLE}{t}"), min_score),
            },
            None => (format!("{UNREACHABLE}<unused {id}>"), min_score),
        };
        pieces.push(json!([text, score]));
    }
    for p in &source.pieces {
        if !vocab.contains_key(&p.text) && !is_added.contains(p.text.as_str()) {
            if let Some(score) = score_of(p) {
                lattice.insert(&p.text, pieces.len() as u32, score);
                pieces.push(json!([p.text, f64::from(score).max(min_score)]));
            }
        }
    }
    let model = json!({
        "type": "Unigram",
        "unk_id": unk_id,
        "vocab": pieces,
        "byte_fallback": false,
    });
    (model, lattice)
}

/// SentencePiece's unigram lattice over the pieces a model can produce, with the model's `f32`
/// arithmetic: path scores are summed and compared in single precision, as SentencePiece does
/// (the `tokenizers` crate sums in double precision, which orders near-equal paths, such as
/// the splits of a run of one character, differently).
#[derive(Debug, Clone)]
pub struct Lattice {
    pieces: HashMap<String, (u32, f32)>,
    /// The longest piece, in bytes.
    max_len: usize,
    unk_id: u32,
    unk_score: f32,
}

impl Lattice {
    fn insert(&mut self, text: &str, id: u32, score: f32) {
        self.max_len = self.max_len.max(text.len());
        self.pieces.insert(text.to_string(), (id, score));
    }

    /// The best path through `normalized`: (id, byte start, byte end) per piece, a run of
    /// characters no piece covers fused into one unknown piece.
    pub fn encode(&self, normalized: &str) -> Vec<(u32, usize, usize)> {
        struct Node {
            id: u32,
            score: f32,
            start: Option<usize>,
        }
        let size = normalized.len();
        let mut best: Vec<Node> = (0..=size)
            .map(|_| Node {
                id: 0,
                score: 0.0,
                start: None,
            })
            .collect();
        let mut start = 0;
        while start < size {
            let here = best[start].score;
            let width = normalized[start..].chars().next().map_or(1, char::len_utf8);
            let mut single = false;
            let last = size.min(start + self.max_len);
            for end in (start + 1..=last).filter(|&e| normalized.is_char_boundary(e)) {
                if let Some(&(id, score)) = self.pieces.get(&normalized[start..end]) {
                    let candidate = score + here;
                    let node = &mut best[end];
                    if node.start.is_none() || candidate > node.score {
                        *node = Node {
                            id,
                            score: candidate,
                            start: Some(start),
                        };
                    }
                    single |= end - start == width;
                }
            }
            if !single {
                let candidate = self.unk_score + here;
                let node = &mut best[start + width];
                if node.start.is_none() || candidate > node.score {
                    *node = Node {
                        id: self.unk_id,
                        score: candidate,
                        start: Some(start),
                    };
                }
            }
            start += width;
        }
        let mut out: Vec<(u32, usize, usize)> = Vec::new();
        let mut end = size;
        while end > 0 {
            let node = &best[end];
            let begin = node.start.unwrap_or(0);
            match out.last_mut() {
                // Runs of unknown characters are one piece, as SentencePiece returns them.
                Some(next) if node.id == self.unk_id && next.0 == self.unk_id => next.1 = begin,
                _ => out.push((node.id, begin, end)),
            }
            end = begin;
        }
        out.reverse();
        out
    }
}

/// The BPE model: `vocab.json`'s ids (then the source pieces it lacks) and, for every normal
/// piece, a merge of each split into two pieces, ranked by the merged piece's score (higher
/// first), then the longer left part, as transformers' `SentencePieceExtractor` orders them.
fn bpe_model(source: &SentencePieceModel, entries: &[Option<&str>], unk: &str) -> Value {
    let mut ids = serde_json::Map::new();
    for (id, entry) in entries.iter().enumerate() {
        let text = match entry {
            Some(t) => t.to_string(),
            None => format!("{UNREACHABLE}<unused {id}>"),
        };
        ids.insert(text, json!(id));
    }
    let mut next = entries.len();
    for p in &source.pieces {
        if p.kind == PieceKind::Normal && !ids.contains_key(&p.text) {
            ids.insert(p.text.clone(), json!(next));
            next += 1;
        }
    }
    let normal: HashSet<&str> = source
        .pieces
        .iter()
        .filter(|p| p.kind == PieceKind::Normal)
        .map(|p| p.text.as_str())
        .collect();
    // (score, left length, right length, left, right) in piece order; the sort is stable.
    let mut merges: Vec<(f32, usize, usize, &str, &str)> = Vec::new();
    for p in source.pieces.iter().filter(|p| p.kind == PieceKind::Normal) {
        for (cut, _) in p.text.char_indices().skip(1) {
            let (left, right) = p.text.split_at(cut);
            if normal.contains(left) && normal.contains(right) {
                merges.push((
                    p.score,
                    left.chars().count(),
                    right.chars().count(),
                    left,
                    right,
                ));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    json!({
        "type": "BPE",
        "dropout": null,
        "unk_token": unk,
        "continuing_subword_prefix": null,
        "end_of_word_suffix": null,
        "fuse_unk": true,
        "byte_fallback": false,
        "ignore_merges": false,
        "vocab": ids,
        "merges": merges.iter().map(|m| json!([m.3, m.4])).collect::<Vec<_>>(),
    })
}

/// The language code (`>>fr<<`) that `MarianTokenizer` takes off the start of a text before
/// SentencePiece sees it, with the byte length it covers: the text from a leading `>>` through
/// the first `<<` after it.
pub fn leading_language_code(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(">>")?;
    let end = rest.find("<<")?;
    Some(&text[..end + 4])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{EncodeOptions, MarianTarget, Tokenizer};

    fn piece(text: &str, score: f32, kind: i32) -> PieceProto {
        PieceProto {
            piece: Some(text.into()),
            score: Some(score),
            kind: Some(kind),
        }
    }

    /// A unigram model without a character map: `<unk>`, `</s>` (control) and a few pieces.
    fn model_bytes(model_type: i32, charsmap: Option<Vec<u8>>) -> Vec<u8> {
        ModelProto {
            pieces: vec![
                piece("<unk>", 0.0, 2),
                piece("</s>", 0.0, 3),
                piece("\u{2581}", -3.0, 1),
                piece("\u{2581}ab", -2.0, 1),
                piece("a", -4.0, 1),
                piece("b", -4.0, 1),
                piece("c", -4.5, 1),
                piece("\u{2581}c", -3.5, 1),
                piece("<sep>", 0.0, 4),
            ],
            trainer_spec: Some(TrainerSpecProto {
                model_type: Some(model_type),
                unk_id: Some(0),
                ..Default::default()
            }),
            normalizer_spec: Some(NormalizerSpecProto {
                precompiled_charsmap: charsmap,
                ..Default::default()
            }),
        }
        .encode_to_vec()
    }

    const VOCAB: &str = r#"{"</s>": 0, "<unk>": 1, "▁ab": 2, "a": 3, "b": 4, "c": 5, "▁c": 6,
        "▁": 7, "▁target": 8, "<sep>": 9, ">>fr<<": 10, "<pad>": 11}"#;

    fn tokenizer() -> Tokenizer {
        Tokenizer::from_marian(
            (&model_bytes(1, None), "source.spm"),
            (VOCAB, "vocab.json"),
            None,
            None,
            MarianTarget::default(),
        )
        .unwrap()
    }

    fn ids(tok: &Tokenizer, text: &str) -> Vec<i64> {
        tok.encode(text, None, &EncodeOptions::default())
            .unwrap()
            .input_ids
    }

    #[test]
    fn reads_pieces_and_defaults() {
        let m = SentencePieceModel::parse(&model_bytes(1, None), "m").unwrap();
        assert_eq!(m.pieces.len(), 9);
        assert_eq!(m.pieces[1].kind, PieceKind::Control);
        assert_eq!(m.pieces[8].kind, PieceKind::UserDefined);
        assert!(m.add_dummy_prefix && m.remove_extra_whitespaces && !m.byte_fallback);
        assert_eq!(m.min_score(), -4.5);
    }

    #[test]
    fn malformed_and_unsupported_models_are_errors() {
        for bytes in [&b"\xff\xff\xff"[..], b"", b"\x0a\x05\x0a\x03ab"] {
            let err = SentencePieceModel::parse(bytes, "x.spm").unwrap_err();
            assert_eq!(err.code(), "ERR_TOKENIZER_LOAD", "{err}");
        }
        let word = SentencePieceModel::parse(&model_bytes(3, None), "x.spm").unwrap_err();
        assert!(word.to_string().contains("type 3"), "{word}");
        let bpe = SentencePieceModel::parse(&model_bytes(2, None), "x.spm").unwrap();
        assert_eq!(bpe.model_type, ModelType::Bpe);
        let bad_map =
            SentencePieceModel::parse(&model_bytes(1, Some(vec![8, 0, 0, 0, 1])), "x.spm");
        assert!(bad_map.unwrap_err().to_string().contains("character map"));
    }

    #[test]
    fn charsmap_check_refuses_out_of_bounds_tries() {
        assert!(check_charsmap(&[]).is_err());
        // A one-unit trie whose root offset points past the end.
        let mut map = 4u32.to_le_bytes().to_vec();
        map.extend((1u32 << 10).to_le_bytes());
        assert!(check_charsmap(&map).is_err());
        // A trie size past the end of the blob.
        assert!(check_charsmap(&[255, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn encodes_as_the_source_model_with_vocab_ids() {
        let tok = tokenizer();
        // "▁ab" beats "▁"+"a"+"b"; spaces collapse and the ends are stripped; `</s>` appended.
        assert_eq!(ids(&tok, "ab"), [2, 0]);
        assert_eq!(ids(&tok, "  ab   c "), [2, 6, 0]);
        // A target-only entry is never produced from text, but decodes.
        assert!(!ids(&tok, "target").contains(&8));
        assert_eq!(tok.decode(&[8, 6], true, None).unwrap(), "target c");
        assert_eq!(tok.token_to_id("▁target"), Some(8));
        // A leading language code is one token; an unknown one is <unk>; elsewhere it is text.
        assert_eq!(ids(&tok, ">>fr<< ab")[..2], [10, 2]);
        assert_eq!(ids(&tok, ">>xx<<ab")[..2], [1, 2]);
        // (Mid-text, its characters are unknown to this model: one fused unknown piece, whose
        // text vocab.json has.)
        assert_eq!(ids(&tok, "ab >>fr<<"), [2, 7, 10, 0]);
        assert_eq!(ids(&tok, "ab >>fr<< c"), [2, 7, 10, 6, 0]);
        // Special tokens are cut out; a user-defined symbol wins in the lattice; unknown
        // characters are <unk>.
        assert_eq!(ids(&tok, "ab</s><sep>c"), [2, 0, 7, 9, 5, 0]);
        assert_eq!(ids(&tok, "ab zz"), [2, 7, 1, 0]);
        // Decoding strips both ends and skips special tokens.
        assert_eq!(tok.decode(&[7, 2, 0, 11], true, None).unwrap(), "ab");
        assert_eq!(tok.decode(&[2, 0], false, None).unwrap(), "ab</s>");
    }

    #[test]
    fn the_lattice_compares_paths_in_single_precision() {
        // In f32, "a"+"aa" ties "a"+"a"+"a" (the earlier split is kept); in f64 the three
        // single pieces score higher by 2.4e-7.
        let model = ModelProto {
            pieces: vec![
                piece("<unk>", 0.0, 2),
                piece("a", -1.1, 1),
                piece("aa", -2.200_000_3, 1),
            ],
            trainer_spec: Some(TrainerSpecProto {
                unk_id: Some(0),
                ..Default::default()
            }),
            normalizer_spec: Some(NormalizerSpecProto {
                add_dummy_prefix: Some(false),
                ..Default::default()
            }),
        }
        .encode_to_vec();
        let vocab = r#"{"<unk>": 0, "a": 1, "aa": 2, "</s>": 3}"#;
        let target = MarianTarget::default();
        let tok = Tokenizer::from_marian((&model, "s"), (vocab, "v"), None, None, target).unwrap();
        assert_eq!(ids(&tok, "aaa"), [1, 2, 3]);
    }

    #[test]
    fn bpe_models_merge_the_best_scored_pair_first() {
        let target = MarianTarget::default();
        let tok = Tokenizer::from_marian(
            (&model_bytes(2, None), "s"),
            (VOCAB, "vocab.json"),
            None,
            None,
            target,
        )
        .unwrap();
        // "▁ab" needs "▁a" or "ab", which the model lacks: no merge reaches it.
        assert_eq!(ids(&tok, "ab c"), [7, 3, 4, 6, 0]);
        // Ids past the vocabulary decode as the unknown token, as the reference's lookup does.
        assert_eq!(tok.decode(&[6, 99], false, None).unwrap(), "c<unk>");
    }

    #[test]
    fn vocab_json_must_name_ids_once_and_hold_unk() {
        let model = model_bytes(1, None);
        for (vocab, what) in [
            (r#"{"a": 0, "b": 0, "<unk>": 1}"#, "two entries"),
            (r#"{"a": 0}"#, "unknown token"),
            (r#"{"<unk>": 0, "a": 99999999}"#, "ids go up to"),
            (r#"["<unk>"]"#, "JSON object"),
        ] {
            let target = MarianTarget::default();
            let err =
                Tokenizer::from_marian((&model, "s"), (vocab, "vocab.json"), None, None, target)
                    .unwrap_err();
            assert!(err.to_string().contains(what), "{err}");
        }
    }
}
