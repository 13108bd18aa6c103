//! Fuzzes token-classification aggregation two ways:
//! - raw: arbitrary logits/ids/mask/offsets/labels of consistent (sometimes inconsistent)
//!   shape, against a mock vocabulary or a real fixture tokenizer: must return Ok or a coded
//!   error, never panic;
//! - encoded: an arbitrary text encoded by a fixture tokenizer (optionally in stride windows),
//!   finite logits: must succeed, with every entity inside the text and valid labels.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Result as ArbResult, Unstructured};
use hf_tasks_core::aggregate::{
    aggregate, AggregateOptions, Strategy, TokenPredictions, TokenVocab,
};
use hf_tasks_core::tokenize::{EncodeOptions, Padding, Tokenizer, Truncation};
use libfuzzer_sys::fuzz_target;

const FIXTURES: [&str; 4] = ["bert-cased", "bert-uncased", "roberta-bpe", "xlmr-unigram"];
const STRATEGIES: [Strategy; 5] = [
    Strategy::None,
    Strategy::Simple,
    Strategy::First,
    Strategy::Average,
    Strategy::Max,
];
const LABELS: [&str; 12] = [
    "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-MAIL", "B-ORG-X", "LABEL_0", "PER", "-", "B-", "I-",
];

fn tokenizers() -> &'static [Tokenizer] {
    static T: OnceLock<Vec<Tokenizer>> = OnceLock::new();
    T.get_or_init(|| {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../test/fixtures/tokenizers/");
        FIXTURES
            .iter()
            .map(|name| {
                Tokenizer::from_path(std::path::Path::new(&format!("{root}{name}")))
                    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
            })
            .collect()
    })
}

/// A small vocabulary with a WordPiece-like or byte-level-like decoder.
struct Mock {
    wordpiece: bool,
}

const MOCK_TOKENS: [&str; 8] = ["[CLS]", "[UNK]", "a", "##b", "Ġc", "▁d", "😀", ""];

impl TokenVocab for Mock {
    fn id_to_token(&self, id: u32) -> Option<String> {
        MOCK_TOKENS.get(id as usize).map(|t| (*t).to_string())
    }
    fn tokens_to_string(&self, tokens: &[String]) -> hf_tasks_core::Result<String> {
        Ok(if self.wordpiece {
            tokens.join(" ").replace(" ##", "")
        } else {
            tokens.concat().replace('Ġ', " ")
        })
    }
    fn unk_id(&self) -> Option<u32> {
        Some(1)
    }
    fn continuing_subword_prefix(&self) -> Option<String> {
        self.wordpiece.then(|| "##".to_string())
    }
}

fn labels(u: &mut Unstructured<'_>, n: usize) -> ArbResult<Vec<String>> {
    (0..n)
        .map(|_| Ok((*u.choose(&LABELS)?).to_string()))
        .collect()
}

fn ignore(u: &mut Unstructured<'_>) -> ArbResult<Vec<String>> {
    let n = u.int_in_range(0..=3)?;
    labels(u, n)
}

fn finite_logit(u: &mut Unstructured<'_>) -> ArbResult<f32> {
    Ok(f32::from(u.int_in_range(-2000i16..=2000)?) / 100.0)
}

fn check_entities(
    text: &str,
    out: &[hf_tasks_core::aggregate::Entity],
    strategy: Strategy,
    seq: usize,
) {
    let len = text.chars().count();
    for e in out {
        assert!(
            e.start <= len && e.end <= len,
            "entity outside the text: {e:?}"
        );
        assert!(
            e.score.is_finite() && (0.0..=1.0 + 1e-6).contains(&e.score),
            "score {e:?}"
        );
        match strategy {
            Strategy::None => assert!(e.index.is_some_and(|i| i < seq)),
            _ => assert!(e.index.is_none()),
        }
    }
}

fn raw(u: &mut Unstructured<'_>) -> ArbResult<()> {
    let text: String = u.arbitrary()?;
    let windows = u.int_in_range(0..=3usize)?;
    let seq = u.int_in_range(0..=12usize)?;
    let n_labels = u.int_in_range(0..=6usize)?;
    let id2label = labels(u, n_labels)?;
    let tokens = windows * seq;
    let text_len = text.chars().count() as u32;
    let mut logits = Vec::with_capacity(tokens * n_labels);
    for _ in 0..tokens * n_labels {
        logits.push(if u.ratio(1, 50)? {
            u.arbitrary::<f32>()?
        } else {
            finite_logit(u)?
        });
    }
    let mut ids = Vec::with_capacity(tokens);
    let mut mask = Vec::with_capacity(tokens);
    let mut offsets = Vec::with_capacity(tokens * 2);
    for _ in 0..tokens {
        ids.push(if u.ratio(1, 30)? {
            u.arbitrary()?
        } else {
            u.int_in_range(0..=60u32)?
        });
        mask.push(u8::from(u.ratio(1, 5)?));
        let a = u.int_in_range(0..=text_len + 1)?;
        let b = u.int_in_range(0..=text_len + 1)?;
        offsets.extend([a, b]);
    }
    // Sometimes break a buffer length.
    match u.int_in_range(0..=20u8)? {
        0 => drop(logits.pop()),
        1 => ids.push(0),
        2 => drop(offsets.pop()),
        3 => mask.push(1),
        _ => {}
    }
    let strategy = *u.choose(&STRATEGIES)?;
    let ignore_labels = ignore(u)?;
    let predictions = TokenPredictions {
        logits: &logits,
        windows,
        seq,
        labels: n_labels,
        input_ids: &ids,
        special_tokens_mask: &mask,
        offsets: &offsets,
    };
    let options = AggregateOptions {
        id2label: &id2label,
        strategy,
        ignore_labels: &ignore_labels,
    };
    let which = u.int_in_range(0..=5usize)?;
    let result = match which {
        0 | 1 => aggregate(
            &text,
            &predictions,
            &options,
            &Mock {
                wordpiece: which == 0,
            },
        ),
        i => aggregate(&text, &predictions, &options, &tokenizers()[i - 2]),
    };
    match result {
        Ok(out) => {
            for e in &out {
                assert!(e.score.is_finite());
            }
        }
        Err(e) => assert!(
            e.code().starts_with("ERR_") && e.code() != "ERR_INTERNAL",
            "{e}"
        ),
    }
    Ok(())
}

fn encoded(u: &mut Unstructured<'_>) -> ArbResult<()> {
    let text: String = u.arbitrary()?;
    let tokenizer = u.choose(tokenizers())?;
    let mut opts = EncodeOptions::default();
    if u.arbitrary()? {
        opts.truncation = Some(Truncation::LongestFirst);
        opts.max_length = Some(u.int_in_range(8..=20usize)?);
        opts.stride = u.int_in_range(0..=4usize)?;
        opts.return_overflowing = true;
        opts.padding = Padding::Longest;
    }
    let enc = match tokenizer.encode(&text, None, &opts) {
        Ok(enc) => enc,
        Err(_) => return Ok(()),
    };
    let n_labels = u.int_in_range(1..=6usize)?;
    let id2label = labels(u, n_labels)?;
    let mut logits = Vec::with_capacity(enc.rows * enc.seq_len * n_labels);
    for _ in 0..enc.rows * enc.seq_len * n_labels {
        logits.push(finite_logit(u)?);
    }
    let ids: Vec<u32> = enc.input_ids.iter().map(|&i| i as u32).collect();
    let strategy = *u.choose(&STRATEGIES)?;
    let ignore_labels = ignore(u)?;
    let out = aggregate(
        &text,
        &TokenPredictions {
            logits: &logits,
            windows: enc.rows,
            seq: enc.seq_len,
            labels: n_labels,
            input_ids: &ids,
            special_tokens_mask: &enc.special_tokens_mask,
            offsets: &enc.offsets,
        },
        &AggregateOptions {
            id2label: &id2label,
            strategy,
            ignore_labels: &ignore_labels,
        },
        tokenizer,
    )
    .unwrap_or_else(|e| panic!("aggregation of a real encoding failed: {e}"));
    check_entities(&text, &out, strategy, enc.seq_len);
    for e in &out {
        assert!(
            !ignore_labels.contains(&e.label),
            "ignored label kept: {e:?}"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.arbitrary::<bool>() {
        Ok(true) => encoded(&mut u),
        _ => raw(&mut u),
    };
});
