//! Replays test/fixtures/goldens/aggregate.json (written by
//! scripts/fixtures/make_aggregate_goldens.py from transformers' TokenClassificationPipeline
//! post-processing) through `aggregate::aggregate`, over the fixture tokenizers loaded with the
//! `tokenizers` crate. Labels, words, offsets, indexes and order must match exactly; scores
//! within 1e-5.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hf_tasks_core::aggregate::{
    aggregate, AggregateOptions, Strategy, TokenPredictions, TokenVocab,
};
use hf_tasks_core::{Error, Result};
use serde_json::Value;
use tokenizers::{ModelWrapper, Tokenizer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tokenizer facts aggregation needs, read straight from the fixture files the way the
/// Python tokenizer reads them: unk token from the special-tokens map, the prefix from the
/// model, the decoder from tokenizer.json.
struct FixtureVocab {
    tokenizer: Tokenizer,
    unk: Option<u32>,
}

impl FixtureVocab {
    fn load(name: &str) -> Self {
        let dir = root().join("test/fixtures/tokenizers").join(name);
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer.json");
        let map: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("special_tokens_map.json")).expect("special map"),
        )
        .expect("special map json");
        let unk = match &map["unk_token"] {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
        .and_then(|t| tokenizer.token_to_id(&t));
        FixtureVocab { tokenizer, unk }
    }
}

impl TokenVocab for FixtureVocab {
    fn id_to_token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    fn tokens_to_string(&self, tokens: &[String]) -> Result<String> {
        use tokenizers::tokenizer::Decoder;
        match self.tokenizer.get_decoder() {
            Some(decoder) => decoder
                .decode(tokens.to_vec())
                .map_err(|e| Error::Internal(e.to_string())),
            None => Ok(tokens.join(" ")),
        }
    }

    fn unk_id(&self) -> Option<u32> {
        self.unk
    }

    fn continuing_subword_prefix(&self) -> Option<String> {
        match self.tokenizer.get_model() {
            ModelWrapper::WordPiece(wp) => Some(wp.continuing_subword_prefix.clone()),
            ModelWrapper::BPE(bpe) => bpe.continuing_subword_prefix.clone(),
            _ => None,
        }
        .filter(|p| !p.is_empty())
    }
}

fn numbers<T>(v: &Value, f: impl Fn(&Value) -> Option<T>) -> Vec<T> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| f(x).expect("number"))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    numbers(v, |x| x.as_str().map(str::to_string))
}

/// Replays every golden run with the vocabulary `vocab_for(tokenizer name)`; returns the number
/// of runs and entities checked.
fn replay<V: TokenVocab>(mut vocab_for: impl FnMut(&str) -> V) -> (usize, usize) {
    let path = root().join("test/fixtures/goldens/aggregate.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("golden file"))
        .expect("golden json");
    let mut vocabs: HashMap<String, V> = HashMap::new();
    let mut checked_runs = 0;
    let mut checked_entities = 0;
    let mut max_diff = 0.0f64;
    for case in golden["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let tok = case["tokenizer"].as_str().expect("tokenizer").to_string();
        let vocab = vocabs.entry(tok.clone()).or_insert_with(|| vocab_for(&tok));
        let logits: Vec<f32> = numbers(&case["logits"], |x| x.as_f64().map(|f| f as f32));
        let ids: Vec<u32> = numbers(&case["input_ids"], |x| x.as_u64().map(|i| i as u32));
        let mask: Vec<u8> = numbers(&case["special_tokens_mask"], |x| {
            x.as_u64().map(|i| i as u8)
        });
        let offsets: Vec<u32> = numbers(&case["offsets"], |x| x.as_u64().map(|i| i as u32));
        let id2label = strings(&case["id2label"]);
        let dim = |k: &str| case[k].as_u64().expect("dim") as usize;
        let predictions = TokenPredictions {
            logits: &logits,
            windows: dim("windows"),
            seq: dim("seq"),
            labels: dim("labels"),
            input_ids: &ids,
            special_tokens_mask: &mask,
            offsets: &offsets,
        };
        let text = case["text"].as_str().expect("text");
        for run in case["runs"].as_array().expect("runs") {
            let ignore = strings(&run["ignore_labels"]);
            for (strategy_name, expected) in run["expected"].as_object().expect("expected") {
                let strategy = Strategy::parse(strategy_name).expect("strategy");
                let options = AggregateOptions {
                    id2label: &id2label,
                    strategy,
                    ignore_labels: &ignore,
                };
                let got = aggregate(text, &predictions, &options, vocab)
                    .unwrap_or_else(|e| panic!("{name} {strategy_name}: {e}"));
                let expected = expected.as_array().expect("entities");
                let ctx = format!("{name} ignore={ignore:?} {strategy_name}");
                assert_eq!(
                    got.len(),
                    expected.len(),
                    "{ctx}: {got:#?}\nvs {expected:#?}"
                );
                for (g, e) in got.iter().zip(expected) {
                    let key = if strategy == Strategy::None {
                        "entity"
                    } else {
                        "entity_group"
                    };
                    assert_eq!(g.label, e[key].as_str().expect("label"), "{ctx}");
                    assert_eq!(g.word, e["word"].as_str().expect("word"), "{ctx}");
                    assert_eq!(g.start as u64, e["start"].as_u64().expect("start"), "{ctx}");
                    assert_eq!(g.end as u64, e["end"].as_u64().expect("end"), "{ctx}");
                    assert_eq!(
                        g.index.map(|i| i as u64),
                        e.get("index").and_then(Value::as_u64),
                        "{ctx}"
                    );
                    let diff = (f64::from(g.score) - e["score"].as_f64().expect("score")).abs();
                    assert!(diff < 1e-5, "{ctx}: score {} vs {}", g.score, e["score"]);
                    max_diff = max_diff.max(diff);
                    checked_entities += 1;
                }
                checked_runs += 1;
            }
        }
    }
    eprintln!("aggregate goldens: {checked_runs} runs, {checked_entities} entities, max score diff {max_diff:e}");
    (checked_runs, checked_entities)
}

#[test]
fn aggregation_matches_the_reference_pipeline() {
    let (runs, entities) = replay(FixtureVocab::load);
    assert!(runs >= 300, "only {runs} runs in the golden file");
    assert!(
        entities >= 1000,
        "only {entities} entities in the golden file"
    );
}

/// The same goldens with the crate's own tokenizer as the vocabulary (its decoder, unk id and
/// subword prefix as read from the fixture folders).
#[test]
fn aggregation_with_the_crate_tokenizer_matches_the_reference_pipeline() {
    let (runs, _) = replay(|name| {
        let dir = root().join("test/fixtures/tokenizers").join(name);
        hf_tasks_core::tokenize::Tokenizer::from_path(&dir)
            .unwrap_or_else(|e| panic!("cannot load {name}: {e}"))
    });
    assert!(runs >= 300);
}
