//! Token-classification post-processing: per-token scores, word building, entity grouping,
//! label filtering and stride-window merging (task contract section 1).

use crate::error::{check_finite, Error, Result};

/// What aggregation needs to know about the tokenizer that produced the tokens.
pub trait TokenVocab {
    /// The vocabulary string of `id` (`##ing`, `Ġworld`, `▁world`), as `convert_ids_to_tokens`.
    fn id_to_token(&self, id: u32) -> Option<String>;
    /// The tokenizer's decoder applied to token strings, as `convert_tokens_to_string`.
    fn tokens_to_string(&self, tokens: &[String]) -> Result<String>;
    /// The id of the unknown token, if the model has one.
    fn unk_id(&self) -> Option<u32>;
    /// The model's continuing-subword prefix (`##` for WordPiece), if it has a non-empty one.
    fn continuing_subword_prefix(&self) -> Option<String>;
}

/// How token predictions become entities (`aggregation_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One entity per token, full label (`B-PER`), with its `index`.
    None,
    /// Token entities grouped by tag.
    Simple,
    /// Words take the label of their first token, then grouped.
    First,
    /// Words take the argmax of the mean of their tokens' probabilities, then grouped.
    Average,
    /// Words take the label of their most confident token, then grouped.
    Max,
}

impl Strategy {
    /// Parses `none|simple|first|average|max`, case-insensitively (the reference upper-cases the
    /// value with Unicode rules before an enum lookup, so this does too).
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_uppercase().as_str() {
            "NONE" => Ok(Strategy::None),
            "SIMPLE" => Ok(Strategy::Simple),
            "FIRST" => Ok(Strategy::First),
            "AVERAGE" => Ok(Strategy::Average),
            "MAX" => Ok(Strategy::Max),
            _ => Err(Error::InvalidArgument(format!(
                "unknown aggregation_strategy {name:?}; expected one of none, simple, first, average, max"
            ))),
        }
    }

    /// The lower-case name used by the task contract.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::Simple => "simple",
            Strategy::First => "first",
            Strategy::Average => "average",
            Strategy::Max => "max",
        }
    }
}

/// The model's view of one text: logits `[windows, seq, labels]` and, per token position,
/// the input id, the special-tokens mask and the `(start, end)` offsets in code points of the
/// original text. With stride there is one window per overflowing chunk; all offsets refer
/// to the same original text.
#[derive(Debug, Clone, Copy)]
pub struct TokenPredictions<'a> {
    /// Raw logits, `windows * seq * labels` values.
    pub logits: &'a [f32],
    /// Number of windows (1 without stride).
    pub windows: usize,
    /// Tokens per window (padded length).
    pub seq: usize,
    /// Number of labels (the model's `num_labels`).
    pub labels: usize,
    /// Input ids, `windows * seq` values.
    pub input_ids: &'a [u32],
    /// Special-tokens mask, `windows * seq` values; non-zero marks CLS/SEP/PAD and friends.
    pub special_tokens_mask: &'a [u8],
    /// Offsets, `windows * seq * 2` values: start then end, in code points.
    pub offsets: &'a [u32],
}

/// Post-processing parameters.
#[derive(Debug, Clone, Copy)]
pub struct AggregateOptions<'a> {
    /// `config.id2label`, indexed by label id; its length must equal `labels`.
    pub id2label: &'a [String],
    /// The aggregation strategy.
    pub strategy: Strategy,
    /// Entities whose `entity` (none) or `entity_group` (other strategies) is listed are dropped.
    pub ignore_labels: &'a [String],
}

/// One output entity. `index` is set only for [`Strategy::None`]; then `label` is the wire
/// `entity`, otherwise it is the wire `entity_group`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// `entity` (full label) or `entity_group` (label without its prefix).
    pub label: String,
    /// Probability (none/simple tokens, first/max words), mean probability (average words), or
    /// the mean of the member scores (groups); f32 like the reference.
    pub score: f32,
    /// Token position in the model input window (strategy none only).
    pub index: Option<usize>,
    /// Vocabulary token (none), or the decoder's rendering of the members.
    pub word: String,
    /// Start offset in code points.
    pub start: usize,
    /// End offset in code points.
    pub end: usize,
}

/// A token kept for aggregation (special tokens are dropped before this).
struct PreEntity<'p> {
    word: String,
    probs: &'p [f32],
    start: usize,
    end: usize,
    index: usize,
    is_subword: bool,
}

/// An entity before grouping: a labelled token or word.
struct Labelled {
    label: String,
    score: f32,
    index: usize,
    word: String,
    start: usize,
    end: usize,
}

/// Runs the token-classification post-processing of the task contract (section 1.4 to 1.6)
/// on one text: softmax per token, special tokens skipped, words built and grouped according
/// to `options.strategy`, ignored labels dropped, and stride windows merged.
pub fn aggregate<V: TokenVocab + ?Sized>(
    text: &str,
    predictions: &TokenPredictions<'_>,
    options: &AggregateOptions<'_>,
    vocab: &V,
) -> Result<Vec<Entity>> {
    let TokenPredictions {
        logits,
        windows,
        seq,
        labels,
        input_ids,
        special_tokens_mask,
        offsets,
    } = *predictions;
    let tokens = windows
        .checked_mul(seq)
        .ok_or_else(|| Error::Dims(format!("aggregate: dims [{windows}, {seq}] overflow")))?;
    let want_logits = tokens.checked_mul(labels).ok_or_else(|| {
        Error::Dims(format!(
            "aggregate: logits dims [{windows}, {seq}, {labels}] overflow"
        ))
    })?;
    if logits.len() != want_logits {
        return Err(Error::Dims(format!(
            "aggregate: logits have {} values but dims [{windows}, {seq}, {labels}] need {want_logits}",
            logits.len()
        )));
    }
    if labels == 0 {
        return Err(Error::Dims(
            "aggregate: logits need at least one label (labels = 0)".into(),
        ));
    }
    if options.id2label.len() != labels {
        return Err(Error::Dims(format!(
            "aggregate: id2label has {} labels but the logits have {labels}",
            options.id2label.len()
        )));
    }
    for (what, len) in [
        ("input ids", input_ids.len()),
        ("special tokens mask", special_tokens_mask.len()),
    ] {
        if len != tokens {
            return Err(Error::Dims(format!(
                "aggregate: {what} have {len} values but dims [{windows}, {seq}] need {tokens}"
            )));
        }
    }
    let want_offsets = tokens.checked_mul(2).ok_or_else(|| {
        Error::Dims(format!(
            "aggregate: offsets dims [{windows}, {seq}, 2] overflow"
        ))
    })?;
    if offsets.len() != want_offsets {
        return Err(Error::Dims(format!(
            "aggregate: offsets have {} values but dims [{windows}, {seq}, 2] need {want_offsets}",
            offsets.len()
        )));
    }
    check_finite(logits, "aggregate: logits")?;

    let chars: Vec<char> = text.chars().collect();
    let has_prefix = vocab
        .continuing_subword_prefix()
        .is_some_and(|p| !p.is_empty());
    let unk_id = vocab.unk_id();

    let mut entities = Vec::new();
    for w in 0..windows {
        let base = w * seq;
        let mut probs = logits[base * labels..(base + seq) * labels].to_vec();
        probs.chunks_exact_mut(labels).for_each(softmax_in_place);

        let mut pre = Vec::new();
        for (i, row) in probs.chunks_exact(labels).enumerate() {
            let pos = base + i;
            if special_tokens_mask[pos] != 0 {
                continue;
            }
            let id = input_ids[pos];
            let start = offsets[2 * pos] as usize;
            let end = offsets[2 * pos + 1] as usize;
            if start > end || end > chars.len() {
                return Err(Error::InvalidArgument(format!(
                    "aggregate: token {i} of window {w} has offsets ({start}, {end}) outside the text of {} code points",
                    chars.len()
                )));
            }
            let token = vocab.id_to_token(id).ok_or_else(|| {
                Error::TokenId(format!(
                    "aggregate: token id {id} at position {i} of window {w} is not in the vocabulary"
                ))
            })?;
            let word_ref = &chars[start..end];
            let (word, is_subword) = if unk_id == Some(id) {
                (word_ref.iter().collect(), false)
            } else if has_prefix {
                let sub = token.chars().count() != word_ref.len();
                (token, sub)
            } else {
                // Fallback heuristic: a token continues a word unless a plain space (U+0020)
                // precedes it or starts it.
                let sub =
                    start > 0 && !chars[start - 1..(start + 1).min(chars.len())].contains(&' ');
                (token, sub)
            };
            pre.push(PreEntity {
                word,
                probs: row,
                start,
                end,
                index: i,
                is_subword,
            });
        }

        let labelled = match options.strategy {
            Strategy::None | Strategy::Simple => pre
                .into_iter()
                .map(|p| {
                    let (label, score) = best(p.probs);
                    Labelled {
                        label: options.id2label[label].clone(),
                        score,
                        index: p.index,
                        word: p.word,
                        start: p.start,
                        end: p.end,
                    }
                })
                .collect(),
            strategy => aggregate_words(pre, strategy, options.id2label, vocab)?,
        };

        if options.strategy == Strategy::None {
            entities.extend(
                labelled
                    .into_iter()
                    .filter(|e| !options.ignore_labels.contains(&e.label))
                    .map(|e| Entity {
                        label: e.label,
                        score: e.score,
                        index: Some(e.index),
                        word: e.word,
                        start: e.start,
                        end: e.end,
                    }),
            );
        } else {
            for group in group_entities(labelled, vocab)? {
                if !options.ignore_labels.contains(&group.label) {
                    entities.push(group);
                }
            }
        }
    }
    if windows > 1 {
        entities = merge_overlapping(entities);
    }
    Ok(entities)
}

/// Max-subtracted softmax of one row in f32, summing like numpy (pairwise).
fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in row.iter_mut() {
        *v = (*v - max).exp();
    }
    let sum = numpy_sum(row);
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// numpy's pairwise summation of a contiguous f32 array (`np.sum`), so that means over the same
/// f32 values round the same way as the reference.
fn numpy_sum(values: &[f32]) -> f32 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        values.iter().fold(0.0f32, |acc, v| acc + v)
    } else if n <= BLOCK {
        let mut r = [0.0f32; 8];
        r.copy_from_slice(&values[..8]);
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += values[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &values[full..] {
            res += v;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        numpy_sum(&values[..half]) + numpy_sum(&values[half..])
    }
}

/// numpy's `nanmean` of f32 values: f32 pairwise sum divided by the count in f64, rounded to
/// f32. Inputs here are probabilities, never NaN.
fn numpy_mean(values: &[f32]) -> f32 {
    (f64::from(numpy_sum(values)) / values.len() as f64) as f32
}

/// Argmax (first index on ties, as numpy) and the value there. Rows are never empty (at least
/// one label is checked up front).
fn best(probs: &[f32]) -> (usize, f32) {
    let mut idx = 0;
    let mut val = probs.first().copied().unwrap_or(f32::NAN);
    for (i, &p) in probs.iter().enumerate().skip(1) {
        if p > val {
            idx = i;
            val = p;
        }
    }
    (idx, val)
}

fn max_of(probs: &[f32]) -> f32 {
    best(probs).1
}

/// Builds words (a non-subword token opens a word, subwords join it) and labels each word.
fn aggregate_words<V: TokenVocab + ?Sized>(
    pre: Vec<PreEntity<'_>>,
    strategy: Strategy,
    id2label: &[String],
    vocab: &V,
) -> Result<Vec<Labelled>> {
    let mut words: Vec<Vec<PreEntity<'_>>> = Vec::new();
    for p in pre {
        match words.last_mut() {
            Some(word) if p.is_subword => word.push(p),
            _ => words.push(vec![p]),
        }
    }
    words
        .into_iter()
        .map(|members| aggregate_word(&members, strategy, id2label, vocab))
        .collect()
}

fn aggregate_word<V: TokenVocab + ?Sized>(
    members: &[PreEntity<'_>],
    strategy: Strategy,
    id2label: &[String],
    vocab: &V,
) -> Result<Labelled> {
    let (first, last) = match (members.first(), members.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(Error::Internal("aggregate: empty word".into())),
    };
    let pieces: Vec<String> = members.iter().map(|m| m.word.clone()).collect();
    let word = vocab.tokens_to_string(&pieces)?;
    let (label, score) = match strategy {
        Strategy::First => best(first.probs),
        Strategy::Max => {
            // First member with the highest max probability (Python `max` keeps the first).
            let mut chosen = first;
            let mut chosen_max = max_of(first.probs);
            for m in &members[1..] {
                let v = max_of(m.probs);
                if v > chosen_max {
                    chosen = m;
                    chosen_max = v;
                }
            }
            best(chosen.probs)
        }
        Strategy::Average => {
            let labels = first.probs.len();
            let mut sum = vec![0.0f32; labels];
            for m in members {
                for (s, p) in sum.iter_mut().zip(m.probs) {
                    *s += p;
                }
            }
            let count = members.len() as f64;
            let mean: Vec<f32> = sum.iter().map(|&s| (f64::from(s) / count) as f32).collect();
            best(&mean)
        }
        Strategy::None | Strategy::Simple => {
            return Err(Error::Internal(
                "aggregate: word aggregation needs first, average or max".into(),
            ))
        }
    };
    Ok(Labelled {
        label: id2label[label].clone(),
        score,
        index: first.index,
        word,
        start: first.start,
        end: last.end,
    })
}

/// Splits a label into (is_begin, tag): `B-X` -> (true, X), `I-X` -> (false, X), anything else
/// -> (false, whole label).
fn bi_tag(label: &str) -> (bool, &str) {
    if let Some(tag) = label.strip_prefix("B-") {
        (true, tag)
    } else if let Some(tag) = label.strip_prefix("I-") {
        (false, tag)
    } else {
        (false, label)
    }
}

/// Groups consecutive items with the same tag unless the item is a `B-`.
fn group_entities<V: TokenVocab + ?Sized>(items: Vec<Labelled>, vocab: &V) -> Result<Vec<Entity>> {
    let mut groups = Vec::new();
    let mut current: Vec<Labelled> = Vec::new();
    for item in items {
        let extend = match current.last() {
            None => true,
            Some(prev) => {
                let (begin, tag) = bi_tag(&item.label);
                let (_, prev_tag) = bi_tag(&prev.label);
                tag == prev_tag && !begin
            }
        };
        if !extend {
            groups.push(close_group(&current, vocab)?);
            current.clear();
        }
        current.push(item);
    }
    if !current.is_empty() {
        groups.push(close_group(&current, vocab)?);
    }
    Ok(groups)
}

fn close_group<V: TokenVocab + ?Sized>(members: &[Labelled], vocab: &V) -> Result<Entity> {
    let (first, last) = match (members.first(), members.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(Error::Internal("aggregate: empty group".into())),
    };
    // Everything up to and including the first '-' goes (`B-ORG-X` -> `ORG-X`).
    let label = match first.label.split_once('-') {
        Some((_, rest)) => rest.to_string(),
        None => first.label.clone(),
    };
    let scores: Vec<f32> = members.iter().map(|m| m.score).collect();
    let words: Vec<String> = members.iter().map(|m| m.word.clone()).collect();
    Ok(Entity {
        label,
        score: numpy_mean(&scores),
        index: None,
        word: vocab.tokens_to_string(&words)?,
        start: first.start,
        end: last.end,
    })
}

/// Stride merging (contract 1.6): stable sort by start, then keep, among entities starting
/// inside the current one, the longest (or equally long with a strictly higher score).
/// The sweep starts by comparing the first entity with itself, like the reference, so an
/// empty first entity is emitted twice.
fn merge_overlapping(mut entities: Vec<Entity>) -> Vec<Entity> {
    entities.sort_by_key(|e| e.start);
    let mut iter = entities.into_iter();
    let Some(first) = iter.next() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current = first.clone();
    for entity in std::iter::once(first).chain(iter) {
        if current.start <= entity.start && entity.start < current.end {
            // Signed like Python ints: hostile offsets can make a word end before it starts.
            let len = entity.end as i64 - entity.start as i64;
            let current_len = current.end as i64 - current.start as i64;
            if len > current_len || (len == current_len && entity.score > current.score) {
                current = entity;
            }
        } else {
            out.push(std::mem::replace(&mut current, entity));
        }
    }
    out.push(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary with a WordPiece-like decoder (prefix `##`) or a byte-level-like one (`Ġ`
    /// marks a leading space, no continuing-subword prefix).
    struct MockVocab {
        tokens: Vec<&'static str>,
        wordpiece: bool,
        unk: Option<u32>,
    }

    impl TokenVocab for MockVocab {
        fn id_to_token(&self, id: u32) -> Option<String> {
            self.tokens.get(id as usize).map(|t| (*t).to_string())
        }
        fn tokens_to_string(&self, tokens: &[String]) -> Result<String> {
            if self.wordpiece {
                let mut out = String::new();
                for (i, t) in tokens.iter().enumerate() {
                    // Like the WordPiece decoder: the first token is kept as is.
                    match t.strip_prefix("##") {
                        Some(rest) if i > 0 => out.push_str(rest),
                        _ => {
                            if i > 0 {
                                out.push(' ');
                            }
                            out.push_str(t);
                        }
                    }
                }
                Ok(out)
            } else {
                Ok(tokens.concat().replace('Ġ', " "))
            }
        }
        fn unk_id(&self) -> Option<u32> {
            self.unk
        }
        fn continuing_subword_prefix(&self) -> Option<String> {
            self.wordpiece.then(|| "##".to_string())
        }
    }

    /// WordPiece vocabulary: 0 [CLS], 1 [SEP], 2 [UNK], then words and pieces.
    fn wp() -> MockVocab {
        MockVocab {
            tokens: vec![
                "[CLS]", "[SEP]", "[UNK]", "john", "##son", "lives", "in", "new", "york", "ing",
                "##ing", "[PAD]", "e",
            ],
            wordpiece: true,
            unk: Some(2),
        }
    }

    /// Byte-level vocabulary: 0 <s>, 1 </s>, then pieces.
    fn bl() -> MockVocab {
        MockVocab {
            tokens: vec![
                "<s>", "</s>", "John", "son", "Ġlives", "Ġin", "\tx", "Ġ", "y",
            ],
            wordpiece: false,
            unk: None,
        }
    }

    /// One token of a test case: id, offsets, special flag, and the label it should win
    /// with a given logit (other labels get 0).
    #[derive(Clone, Copy)]
    struct Tok {
        id: u32,
        start: u32,
        end: u32,
        special: bool,
        logits: &'static [f32],
    }

    const ZERO: &[f32] = &[0.0; 5];

    fn tok(id: u32, start: u32, end: u32, logits: &'static [f32]) -> Tok {
        Tok {
            id,
            start,
            end,
            special: false,
            logits,
        }
    }

    fn special(id: u32) -> Tok {
        Tok {
            id,
            start: 0,
            end: 0,
            special: true,
            logits: ZERO,
        }
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_string()).collect()
    }

    fn bio() -> Vec<String> {
        labels(&["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    }

    struct Case {
        logits: Vec<f32>,
        ids: Vec<u32>,
        mask: Vec<u8>,
        offsets: Vec<u32>,
        windows: usize,
        seq: usize,
        labels: usize,
    }

    fn case(windows: &[&[Tok]], labels: usize) -> Case {
        let seq = windows.first().map_or(0, |w| w.len());
        let mut c = Case {
            logits: vec![],
            ids: vec![],
            mask: vec![],
            offsets: vec![],
            windows: windows.len(),
            seq,
            labels,
        };
        for w in windows {
            assert_eq!(w.len(), seq);
            for t in *w {
                assert_eq!(t.logits.len(), labels);
                c.logits.extend_from_slice(t.logits);
                c.ids.push(t.id);
                c.mask.push(u8::from(t.special));
                c.offsets.extend([t.start, t.end]);
            }
        }
        c
    }

    fn run(
        text: &str,
        c: &Case,
        id2label: &[String],
        strategy: Strategy,
        ignore: &[String],
        vocab: &MockVocab,
    ) -> Result<Vec<Entity>> {
        aggregate(
            text,
            &TokenPredictions {
                logits: &c.logits,
                windows: c.windows,
                seq: c.seq,
                labels: c.labels,
                input_ids: &c.ids,
                special_tokens_mask: &c.mask,
                offsets: &c.offsets,
            },
            &AggregateOptions {
                id2label,
                strategy,
                ignore_labels: ignore,
            },
            vocab,
        )
    }

    /// Softmax in f64, the value the f32 pipeline approximates.
    fn prob(logits: &[f32], i: usize) -> f32 {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
        ((logits[i] as f64 - max).exp() / sum) as f32
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    fn o() -> Vec<String> {
        labels(&["O"])
    }

    const O: &[f32] = &[5.0, 0.0, 0.0, 0.0, 0.0];
    const BPER: &[f32] = &[0.0, 4.0, 1.0, 0.0, 0.0];
    const IPER: &[f32] = &[0.0, 1.0, 3.0, 0.0, 0.0];
    const BLOC: &[f32] = &[0.0, 0.0, 0.0, 6.0, 1.0];
    const ILOC: &[f32] = &[0.0, 0.0, 0.0, 1.0, 2.0];

    // "johnson lives in new york"
    //  0      7     13 16  20   25
    fn johnson(a: &'static [f32], b: &'static [f32], c: &'static [f32], d: &'static [f32]) -> Case {
        case(
            &[&[
                special(0),
                tok(3, 0, 4, a),
                tok(4, 4, 7, b),
                tok(5, 8, 13, O),
                tok(6, 14, 16, O),
                tok(7, 17, 20, c),
                tok(8, 21, 25, d),
                special(1),
            ]],
            5,
        )
    }
    const JOHNSON: &str = "johnson lives in new york";

    #[test]
    fn strategy_parse_is_case_insensitive_and_lists_valid_names() {
        assert_eq!(Strategy::parse("SiMpLe").unwrap(), Strategy::Simple);
        assert_eq!(Strategy::parse("none").unwrap(), Strategy::None);
        assert_eq!(Strategy::parse("AVERAGE").unwrap(), Strategy::Average);
        // Python's str.upper maps the long s to S.
        assert_eq!(Strategy::parse("ſimple").unwrap(), Strategy::Simple);
        let err = Strategy::parse("mean").unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_ARGUMENT");
        let msg = err.to_string();
        for name in ["none", "simple", "first", "average", "max"] {
            assert!(msg.contains(name), "{msg}");
            assert_eq!(Strategy::parse(name).unwrap().name(), name);
        }
    }

    #[test]
    fn none_keeps_every_kept_token_with_index_and_raw_word() {
        let c = johnson(BPER, IPER, BLOC, ILOC);
        let out = run(JOHNSON, &c, &bio(), Strategy::None, &o(), &wp()).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.label.as_str(), e.index, e.word.as_str(), e.start, e.end))
            .collect();
        assert_eq!(
            got,
            vec![
                ("B-PER", Some(1), "john", 0, 4),
                ("I-PER", Some(2), "##son", 4, 7),
                ("B-LOC", Some(5), "new", 17, 20),
                ("I-LOC", Some(6), "york", 21, 25),
            ]
        );
        assert!(close(out[0].score, prob(BPER, 1)));
        assert!(close(out[1].score, prob(IPER, 2)));
    }

    #[test]
    fn simple_groups_b_then_i_and_averages_scores() {
        let c = johnson(BPER, IPER, BLOC, ILOC);
        let out = run(JOHNSON, &c, &bio(), Strategy::Simple, &o(), &wp()).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (
                out[0].label.as_str(),
                out[0].word.as_str(),
                out[0].start,
                out[0].end
            ),
            ("PER", "johnson", 0, 7)
        );
        assert_eq!(out[0].index, None);
        assert!(close(out[0].score, (prob(BPER, 1) + prob(IPER, 2)) / 2.0));
        assert_eq!(
            (
                out[1].label.as_str(),
                out[1].word.as_str(),
                out[1].start,
                out[1].end
            ),
            ("LOC", "new york", 17, 25)
        );
    }

    #[test]
    fn two_b_tags_make_two_groups_and_i_after_o_starts_one() {
        let c = johnson(BPER, BPER, O, ILOC);
        let out = run(JOHNSON, &c, &bio(), Strategy::Simple, &o(), &wp()).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.label.as_str(), e.word.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("PER", "john"), ("PER", "##son"), ("LOC", "york")]
        );
    }

    #[test]
    fn ignore_labels_apply_after_grouping() {
        let c = johnson(BPER, IPER, BLOC, ILOC);
        // Full labels do not match stripped group labels.
        let out = run(
            JOHNSON,
            &c,
            &bio(),
            Strategy::Simple,
            &labels(&["O", "B-PER"]),
            &wp(),
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        let out = run(
            JOHNSON,
            &c,
            &bio(),
            Strategy::Simple,
            &labels(&["O", "PER"]),
            &wp(),
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].label, "LOC");
        // Without ignore labels the O groups stay.
        let out = run(JOHNSON, &c, &bio(), Strategy::Simple, &[], &wp()).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.label.as_str(), e.word.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("PER", "johnson"), ("O", "lives in"), ("LOC", "new york")]
        );
        // In none mode the full label is what is filtered.
        let out = run(
            JOHNSON,
            &c,
            &bio(),
            Strategy::None,
            &labels(&["O", "B-PER"]),
            &wp(),
        )
        .unwrap();
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn all_outside_gives_nothing_and_custom_outside_is_kept() {
        let c = johnson(O, O, O, O);
        assert!(run(JOHNSON, &c, &bio(), Strategy::Simple, &o(), &wp())
            .unwrap()
            .is_empty());
        let names = labels(&["OTHER", "B-PER", "I-PER", "B-LOC", "I-LOC"]);
        let out = run(JOHNSON, &c, &names, Strategy::Simple, &o(), &wp()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].label, "OTHER");
        assert_eq!(out[0].word, "johnson lives in new york");
    }

    #[test]
    fn labels_without_prefix_and_group_label_quirks() {
        // IO labels merge when equal; E-MAIL groups under MAIL; B-ORG-X becomes ORG-X.
        let names = labels(&["O", "PER", "E-MAIL", "B-ORG-X", "LABEL_4"]);
        let c = johnson(
            BPER,
            BPER,
            &[0.0, 0.0, 9.0, 0.0, 0.0],
            &[0.0, 0.0, 0.0, 9.0, 0.0],
        );
        let out = run(JOHNSON, &c, &names, Strategy::Simple, &o(), &wp()).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.label.as_str(), e.word.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("PER", "johnson"), ("MAIL", "new"), ("ORG-X", "york")]
        );
        // Two consecutive E-MAIL items merge (tag "E-MAIL" equal, not B).
        let c = johnson(O, O, &[0.0, 0.0, 9.0, 0.0, 0.0], &[0.0, 0.0, 9.0, 0.0, 0.0]);
        let out = run(JOHNSON, &c, &names, Strategy::Simple, &o(), &wp()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].label.as_str(), out[0].word.as_str()),
            ("MAIL", "new york")
        );
    }

    #[test]
    fn group_score_is_the_mean_of_three_members() {
        let c = case(
            &[&[tok(7, 0, 3, BLOC), tok(8, 4, 8, ILOC), tok(8, 9, 13, ILOC)]],
            5,
        );
        let out = run("new york york", &c, &bio(), Strategy::Simple, &o(), &wp()).unwrap();
        assert_eq!(out.len(), 1);
        let want = (prob(BLOC, 3) + 2.0 * prob(ILOC, 4)) / 3.0;
        assert!(close(out[0].score, want), "{} vs {want}", out[0].score);
        assert_eq!(out[0].word, "new york york");
    }

    // "johnsoning": john | ##son | ##ing, one word whose tokens disagree.
    fn disagreeing() -> Case {
        case(
            &[&[
                special(0),
                tok(3, 0, 4, &[0.0, 2.0, 0.0, 1.9, 0.0]),
                tok(4, 4, 7, &[0.0, 0.0, 0.0, 3.0, 0.0]),
                tok(10, 7, 10, &[0.0, 1.5, 0.0, 1.0, 0.0]),
                special(1),
            ]],
            5,
        )
    }

    #[test]
    fn word_strategies_disagree_on_a_mixed_word() {
        let c = disagreeing();
        let first = run("johnsoning", &c, &bio(), Strategy::First, &o(), &wp()).unwrap();
        let max = run("johnsoning", &c, &bio(), Strategy::Max, &o(), &wp()).unwrap();
        let avg = run("johnsoning", &c, &bio(), Strategy::Average, &o(), &wp()).unwrap();
        for out in [&first, &max, &avg] {
            assert_eq!(out.len(), 1);
            assert_eq!(
                (out[0].word.as_str(), out[0].start, out[0].end),
                ("johnsoning", 0, 10)
            );
            assert_eq!(out[0].index, None);
        }
        assert_eq!(first[0].label, "PER");
        assert!(close(first[0].score, prob(&[0.0, 2.0, 0.0, 1.9, 0.0], 1)));
        assert_eq!(max[0].label, "LOC");
        assert!(close(max[0].score, prob(&[0.0, 0.0, 0.0, 3.0, 0.0], 3)));
        let rows: [&[f32]; 3] = [
            &[0.0, 2.0, 0.0, 1.9, 0.0],
            &[0.0, 0.0, 0.0, 3.0, 0.0],
            &[0.0, 1.5, 0.0, 1.0, 0.0],
        ];
        let mean = |k: usize| rows.iter().map(|r| prob(r, k)).sum::<f32>() / 3.0;
        assert!(mean(3) > mean(1));
        assert_eq!(avg[0].label, "LOC");
        assert!(close(avg[0].score, mean(3)));
        // Simple does not build words: the three tokens group by tag.
        let simple = run("johnsoning", &c, &bio(), Strategy::Simple, &o(), &wp()).unwrap();
        let got: Vec<_> = simple.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(got, vec!["PER", "LOC", "PER"]);
    }

    #[test]
    fn max_keeps_the_first_token_on_ties() {
        let c = case(
            &[&[
                tok(3, 0, 4, &[0.0, 3.0, 0.0, 0.0, 0.0]),
                tok(4, 4, 7, &[0.0, 0.0, 0.0, 3.0, 0.0]),
            ]],
            5,
        );
        let out = run("johnson", &c, &bio(), Strategy::Max, &o(), &wp()).unwrap();
        assert_eq!(out[0].label, "PER");
    }

    #[test]
    fn prefix_rule_compares_token_and_text_lengths() {
        // "ing" matches its text slice in length: not a subword, it opens a word; "##ing" is
        // longer than its slice: a subword, it joins that word.
        let c = case(
            &[&[tok(3, 0, 4, BPER), tok(9, 5, 8, BPER), tok(10, 8, 11, BPER)]],
            5,
        );
        let out = run("john inging", &c, &bio(), Strategy::First, &[], &wp()).unwrap();
        let got: Vec<_> = out.iter().map(|e| e.word.as_str()).collect();
        assert_eq!(got, vec!["john", "inging"]);
        // A decomposed accent (e + U+0301, 2 code points) under the token "e" (1 code point)
        // counts as a subword by the length rule, so it joins the previous word.
        let c = case(&[&[tok(3, 0, 4, BPER), tok(12, 5, 7, BPER)]], 5);
        let out = run("john e\u{301}", &c, &bio(), Strategy::First, &[], &wp()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].word.as_str(), out[0].start, out[0].end),
            ("john e", 0, 7)
        );
    }

    #[test]
    fn unk_token_uses_original_text_and_is_not_a_subword() {
        // "😀 John": the emoji is [UNK] at code points 0..1; John at 2..6.
        let c = case(
            &[&[
                special(0),
                tok(2, 0, 1, BPER),
                tok(3, 2, 6, IPER),
                special(1),
            ]],
            5,
        );
        let text = "😀 John";
        let none = run(text, &c, &bio(), Strategy::None, &o(), &wp()).unwrap();
        assert_eq!(none[0].word, "😀");
        assert_eq!((none[1].start, none[1].end), (2, 6));
        let simple = run(text, &c, &bio(), Strategy::Simple, &o(), &wp()).unwrap();
        assert_eq!(simple.len(), 1);
        assert_eq!(simple[0].word, "😀 john");
        // An UNK glued to the previous token would be a subword by length; UNK never is.
        let c = case(&[&[tok(3, 0, 4, BPER), tok(2, 4, 5, BPER)]], 5);
        let out = run("john😀", &c, &bio(), Strategy::First, &[], &wp()).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].word, "😀");
    }

    #[test]
    fn heuristic_only_counts_plain_spaces() {
        // "John son\tx y": tokens John(0..4) son(5..8) \tx(8..10) Ġ(10..11) y(11..12)
        let text = "John son\tx y";
        let c = case(
            &[&[
                special(0),
                tok(2, 0, 4, BPER),
                tok(3, 5, 8, BPER),
                tok(6, 8, 10, BPER),
                tok(7, 10, 11, BPER),
                tok(8, 11, 12, BPER),
                special(1),
            ]],
            5,
        );
        let out = run(text, &c, &bio(), Strategy::First, &[], &bl()).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.word.as_str(), e.start, e.end))
            .collect();
        // start 0: not a subword; "son": space before -> new word; "\tx": tab before, no space
        // -> subword; "Ġ" starts with a space -> new word; "y": space before -> new word.
        assert_eq!(
            got,
            vec![
                ("John", 0, 4),
                ("son\tx", 5, 10),
                (" ", 10, 11),
                ("y", 11, 12)
            ]
        );
    }

    #[test]
    fn stride_windows_are_merged() {
        // Two windows over "johnson lives in new york"; the second repeats "new".
        let w1: &[Tok] = &[
            special(0),
            tok(3, 0, 4, BPER),
            tok(4, 4, 7, IPER),
            tok(7, 17, 20, BLOC),
            special(1),
        ];
        let w2: &[Tok] = &[
            special(0),
            tok(7, 17, 20, BLOC),
            tok(8, 21, 25, ILOC),
            special(1),
            special(11),
        ];
        let c = case(&[w1, w2], 5);
        let out = run(JOHNSON, &c, &bio(), Strategy::Simple, &o(), &wp()).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.label.as_str(), e.word.as_str(), e.start, e.end))
            .collect();
        assert_eq!(
            got,
            vec![("PER", "johnson", 0, 7), ("LOC", "new york", 17, 25)]
        );
        // In none mode indexes are per window.
        let out = run(JOHNSON, &c, &bio(), Strategy::None, &o(), &wp()).unwrap();
        let got: Vec<_> = out.iter().map(|e| (e.word.as_str(), e.index)).collect();
        assert_eq!(
            got,
            vec![
                ("john", Some(1)),
                ("##son", Some(2)),
                ("new", Some(3)),
                ("york", Some(2))
            ]
        );
    }

    fn ent(start: usize, end: usize, score: f32, word: &str) -> Entity {
        Entity {
            label: "X".into(),
            score,
            index: None,
            word: word.into(),
            start,
            end,
        }
    }

    #[test]
    fn merge_prefers_longer_then_strictly_higher_score() {
        let out = merge_overlapping(vec![
            ent(5, 8, 0.5, "b"),
            ent(0, 3, 0.9, "a"),
            ent(5, 10, 0.1, "longer"),
            ent(5, 10, 0.1, "same, not higher"),
            ent(6, 11, 0.9, "same, higher"),
            ent(12, 13, 0.2, "c"),
        ]);
        let got: Vec<_> = out.iter().map(|e| e.word.as_str()).collect();
        assert_eq!(got, vec!["a", "same, higher", "c"]);
        assert!(merge_overlapping(vec![]).is_empty());
        // An empty first entity does not overlap itself: the reference emits it twice.
        let out = merge_overlapping(vec![ent(0, 0, 0.5, "e"), ent(1, 2, 0.5, "f")]);
        let got: Vec<_> = out.iter().map(|e| e.word.as_str()).collect();
        assert_eq!(got, vec!["e", "e", "f"]);
    }

    #[test]
    fn empty_and_special_only_inputs_give_nothing() {
        let c = case(&[&[special(0), special(1)]], 5);
        assert!(run("", &c, &bio(), Strategy::Simple, &o(), &wp())
            .unwrap()
            .is_empty());
        let c = case(&[], 5);
        assert!(run("", &c, &bio(), Strategy::First, &o(), &wp())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rejects_bad_input_with_codes() {
        let good = johnson(BPER, IPER, BLOC, ILOC);
        let v = wp();
        let code = |c: &Case, id2label: &[String]| {
            run(JOHNSON, c, id2label, Strategy::Simple, &o(), &v)
                .unwrap_err()
                .code()
        };
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.logits.pop();
        assert_eq!(code(&c, &bio()), "ERR_DIMS");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.ids.pop();
        assert_eq!(code(&c, &bio()), "ERR_DIMS");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.mask.push(0);
        assert_eq!(code(&c, &bio()), "ERR_DIMS");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.offsets.pop();
        assert_eq!(code(&c, &bio()), "ERR_DIMS");
        assert_eq!(code(&good, &labels(&["O", "X"])), "ERR_DIMS");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.labels = 0;
        c.logits.clear();
        assert_eq!(code(&c, &[]), "ERR_DIMS");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.windows = usize::MAX;
        c.seq = 2;
        assert_eq!(code(&c, &bio()), "ERR_DIMS");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.logits[7] = f32::NAN;
        assert_eq!(code(&c, &bio()), "ERR_NON_FINITE");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.logits[0] = f32::INFINITY; // even on a special token
        assert_eq!(code(&c, &bio()), "ERR_NON_FINITE");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.ids[1] = 999;
        assert_eq!(code(&c, &bio()), "ERR_TOKEN_ID");
        // Ids under special tokens are not looked up (padding ids may be anything).
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.ids[0] = u32::MAX;
        assert!(run(JOHNSON, &c, &bio(), Strategy::Simple, &o(), &v).is_ok());
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.offsets[3] = 26;
        assert_eq!(code(&c, &bio()), "ERR_INVALID_ARGUMENT");
        let mut c = johnson(BPER, IPER, BLOC, ILOC);
        c.offsets[2] = 5;
        c.offsets[3] = 4;
        assert_eq!(code(&c, &bio()), "ERR_INVALID_ARGUMENT");
    }

    #[test]
    fn numpy_sum_matches_pairwise_blocks() {
        let v: Vec<f32> = (0..300).map(|i| 1.0 / (i as f32 + 1.0)).collect();
        // Equal to the block decomposition numpy uses: [0,144) + [144,300) for n=300, each
        // split further where over 128.
        let want = numpy_sum(&v[..144]) + numpy_sum(&v[144..]);
        assert_eq!(numpy_sum(&v), want);
        assert_eq!(numpy_sum(&[1.0, 2.0, 3.0]), 6.0);
        assert_eq!(numpy_mean(&[0.25, 0.75]), 0.5);
    }
}
