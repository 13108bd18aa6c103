//! Decoding kernels against transformers 4.57.3 (goldens from
//! scripts/fixtures/make_generation_kernel_goldens.py).

use std::path::PathBuf;

use hf_tasks_core::generation::math::torch_sort;
use hf_tasks_core::generation::{
    BeamConfig, BeamSearch, DecodingConfig, EarlyStopping, LogitsProcessor, TokenSampler,
};
use serde_json::Value;

fn golden() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../test/fixtures/goldens/generation-kernels.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
}

fn ids(v: &Value) -> Vec<i32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_i64().unwrap_or_else(|| panic!("not an id: {x}")) as i32)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32).unwrap_or(f32::NEG_INFINITY))
        .collect()
}

fn decoding(cfg: &Value) -> DecodingConfig {
    let f = |k: &str| cfg.get(k).and_then(Value::as_f64);
    let u = |k: &str| cfg.get(k).and_then(Value::as_u64).map(|x| x as usize);
    let list = |k: &str| cfg.get(k).map(ids);
    DecodingConfig {
        repetition_penalty: f("repetitionPenalty"),
        no_repeat_ngram_size: u("noRepeatNgramSize"),
        bad_words_ids: cfg
            .get("badWordsIds")
            .and_then(Value::as_array)
            .map(|w| w.iter().map(ids).collect()),
        min_length: u("minLength"),
        min_new_tokens: u("minNewTokens"),
        eos_token_ids: list("eosTokenIds").unwrap_or_default(),
        forced_bos_token_id: cfg
            .get("forcedBosTokenId")
            .and_then(Value::as_i64)
            .map(|x| x as i32),
        forced_eos_token_ids: list("forcedEosTokenIds"),
        max_length: u("maxLength"),
        suppress_tokens: list("suppressTokens"),
        begin_suppress_tokens: list("beginSuppressTokens"),
        begin_index: None,
        do_sample: cfg
            .get("doSample")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        temperature: f("temperature"),
        top_k: u("topK"),
        top_p: f("topP"),
        min_p: f("minP"),
        typical_p: f("typicalP"),
        epsilon_cutoff: f("epsilonCutoff"),
        eta_cutoff: f("etaCutoff"),
        whisper_timestamps: None,
    }
}

fn close(a: f32, b: f32, tol: f32) -> bool {
    if b == f32::NEG_INFINITY || a == f32::NEG_INFINITY {
        return a == b;
    }
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[test]
fn processors_match_transformers() {
    let g = golden();
    let cases = g["processors"]
        .as_array()
        .unwrap_or_else(|| panic!("no cases"));
    assert!(cases.len() >= 50);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let cfg = decoding(&case["config"]);
        let logits = floats(&case["logits"]);
        let want = floats(&case["scores"]);
        let seq = ids(&case["ids"]);
        let prompt = case["promptLength"].as_u64().unwrap_or(0) as usize;
        let beams = case["config"]
            .get("numBeams")
            .and_then(Value::as_u64)
            .unwrap_or(1) as usize;
        let p = LogitsProcessor::with_beams(cfg.clone(), beams)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got = logits.clone();
        p.apply(&mut got, &seq, prompt)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(i) = (0..want.len()).find(|&i| !close(got[i], want[i], 1e-6)) {
            failures.push(format!(
                "{name}: index {i}: got {} want {}",
                got[i], want[i]
            ));
            continue;
        }
        // Greedy on the processed scores (the warpers keep the argmax).
        let mut greedy =
            TokenSampler::new(DecodingConfig::default(), Some(0)).unwrap_or_else(|e| panic!("{e}"));
        let choice = greedy
            .next(&got, &seq, prompt)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_arg = case["argmax"].as_i64().unwrap_or(-1) as i32;
        let want_lp = case["logprob"].as_f64().unwrap_or(f64::NAN) as f32;
        if choice.token != want_arg || !close(choice.logprob, want_lp, 1e-5) {
            failures.push(format!(
                "{name}: greedy {} ({}) want {want_arg} ({want_lp})",
                choice.token, choice.logprob
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn sort_permutations_match_torch() {
    let g = golden();
    let sorts = g["sorts"].as_array().unwrap_or_else(|| panic!("no sorts"));
    assert!(sorts.len() >= 10);
    for case in sorts {
        let x = floats(&case["values"]);
        let desc = case["descending"].as_bool().unwrap_or(false);
        let want: Vec<usize> = ids(&case["indices"]).iter().map(|&i| i as usize).collect();
        assert_eq!(torch_sort(&x, desc), want, "n={} desc={desc}", x.len());
    }
}

struct Fake {
    vocab: usize,
    positions: usize,
    last: Vec<f32>,
    previous: Vec<f32>,
    position: Vec<f32>,
}

impl Fake {
    fn logits(&self, seq: &[i32]) -> Vec<f32> {
        let v = self.vocab;
        let last = *seq.last().unwrap_or(&0) as usize;
        let prev = if seq.len() >= 2 {
            seq[seq.len() - 2] as usize
        } else {
            0
        };
        let pos = seq.len() % self.positions;
        (0..v)
            .map(|t| {
                (self.last[last * v + t] + self.previous[prev * v + t]) + self.position[pos * v + t]
            })
            .collect()
    }
}

#[test]
fn beam_search_matches_transformers() {
    let g = golden();
    let b = &g["beam"];
    let fake = Fake {
        vocab: b["vocab"].as_u64().unwrap_or(0) as usize,
        positions: b["positions"].as_u64().unwrap_or(1) as usize,
        last: floats(&b["last"]),
        previous: floats(&b["previous"]),
        position: floats(&b["position"]),
    };
    let cases = b["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("no beam cases"));
    assert!(cases.len() >= 72);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let c = &case["config"];
        let cfg = BeamConfig {
            decoding: decoding(c),
            num_beams: c["numBeams"].as_u64().unwrap_or(1) as usize,
            length_penalty: c
                .get("lengthPenalty")
                .and_then(Value::as_f64)
                .unwrap_or(1.0),
            early_stopping: match c.get("earlyStopping") {
                Some(Value::Bool(true)) => EarlyStopping::True,
                Some(Value::String(s)) if s == "never" => EarlyStopping::Never,
                _ => EarlyStopping::False,
            },
            num_return_sequences: c
                .get("numReturnSequences")
                .and_then(Value::as_u64)
                .unwrap_or(1) as usize,
            pad_token_id: c
                .get("padTokenId")
                .and_then(Value::as_i64)
                .map(|x| x as i32),
            max_length: c["maxLength"].as_u64().unwrap_or(0) as usize,
        };
        let prompt = ids(&case["prompt"]);
        let mut bs = BeamSearch::new(cfg, &prompt).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut steps = 0;
        loop {
            let logits: Vec<f32> = bs.sequences().iter().flat_map(|s| fake.logits(s)).collect();
            let step = bs.step(&logits).unwrap_or_else(|e| panic!("{name}: {e}"));
            steps += 1;
            assert!(steps < 100, "{name}: no end");
            if step.done {
                break;
            }
        }
        let out = bs.finalize();
        let want_seqs: Vec<Vec<i32>> = case["sequences"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}"))
            .iter()
            .map(ids)
            .collect();
        let want_scores = floats(&case["scores"]);
        if out.sequences != want_seqs {
            failures.push(format!(
                "{name}: sequences {:?} want {want_seqs:?}",
                out.sequences
            ));
            continue;
        }
        if let Some(i) =
            (0..want_scores.len()).find(|&i| !close(out.scores[i], want_scores[i], 1e-5))
        {
            failures.push(format!(
                "{name}: score {i}: {} want {}",
                out.scores[i], want_scores[i]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn greedy_loop_matches_transformers_sample_without_sampling() {
    let g = golden();
    let b = &g["beam"];
    let fake = Fake {
        vocab: b["vocab"].as_u64().unwrap_or(0) as usize,
        positions: b["positions"].as_u64().unwrap_or(1) as usize,
        last: floats(&b["last"]),
        previous: floats(&b["previous"]),
        position: floats(&b["position"]),
    };
    let cases = b["greedy"]
        .as_array()
        .unwrap_or_else(|| panic!("no greedy cases"));
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let cfg = decoding(&case["config"]);
        let max_length = cfg.max_length.unwrap_or(0);
        let eos = cfg.eos_token_ids.clone();
        let prompt = ids(&case["prompt"]);
        let mut sampler = TokenSampler::new(cfg, Some(0)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut seq = prompt.clone();
        while seq.len() < max_length {
            let choice = sampler
                .next(&fake.logits(&seq), &seq, prompt.len())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            seq.push(choice.token);
            if eos.contains(&choice.token) {
                break;
            }
        }
        assert_eq!(seq[prompt.len()..], ids(&case["sequence"])[..], "{name}");
    }
}
