//! Random configurations, logits and ids through the decoding kernels: every call returns a
//! value or an error, never panics, and chosen tokens are inside the vocabulary.

use hf_tasks_core::generation::{
    BeamConfig, BeamSearch, DecodingConfig, EarlyStopping, TokenSampler, WhisperTimestamps,
};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
    fn maybe(&mut self) -> bool {
        self.next().is_multiple_of(3)
    }
    fn ids(&mut self, len: u32, vocab: u32) -> Vec<i32> {
        (0..len).map(|_| self.below(vocab + 2) as i32).collect()
    }
}

fn random_config(r: &mut Lcg, vocab: u32) -> DecodingConfig {
    DecodingConfig {
        repetition_penalty: r.maybe().then(|| f64::from(r.below(30)) / 10.0),
        no_repeat_ngram_size: r.maybe().then(|| r.below(4) as usize),
        bad_words_ids: r.maybe().then(|| {
            (0..r.below(3))
                .map(|_| {
                    let n = r.below(3);
                    r.ids(n, vocab)
                })
                .collect()
        }),
        min_length: r.maybe().then(|| r.below(10) as usize),
        min_new_tokens: r.maybe().then(|| r.below(10) as usize),
        eos_token_ids: if r.maybe() {
            let n = r.below(3);
            r.ids(n, vocab)
        } else {
            vec![]
        },
        forced_bos_token_id: r.maybe().then(|| r.below(vocab + 2) as i32),
        forced_eos_token_ids: r.maybe().then(|| r.ids(2, vocab)),
        max_length: r.maybe().then(|| r.below(12) as usize),
        suppress_tokens: r.maybe().then(|| r.ids(3, vocab)),
        begin_suppress_tokens: r.maybe().then(|| r.ids(2, vocab)),
        begin_index: r.maybe().then(|| r.below(6) as usize),
        do_sample: r.maybe(),
        temperature: r.maybe().then(|| f64::from(r.below(20)) / 10.0),
        top_k: r.maybe().then(|| r.below(vocab + 3) as usize),
        top_p: r.maybe().then(|| f64::from(r.below(12)) / 10.0),
        min_p: r.maybe().then(|| f64::from(r.below(12)) / 10.0),
        typical_p: r.maybe().then(|| f64::from(r.below(12)) / 10.0),
        epsilon_cutoff: r.maybe().then(|| f64::from(r.below(12)) / 100.0),
        eta_cutoff: r.maybe().then(|| f64::from(r.below(12)) / 100.0),
        whisper_timestamps: r.maybe().then(|| WhisperTimestamps {
            no_timestamps_token_id: r.below(vocab + 2) as i32,
            eos_token_id: r.below(vocab + 2) as i32,
            max_initial_timestamp_index: r.maybe().then(|| r.below(4) as usize),
        }),
    }
}

fn random_logits(r: &mut Lcg, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match r.below(12) {
            0 => f32::NEG_INFINITY,
            1 => 1.0,
            _ => (r.below(2000) as f32 - 1000.0) / 100.0,
        })
        .collect()
}

#[test]
fn samplers_never_panic() {
    let mut r = Lcg(2024);
    let mut chosen = 0;
    for _ in 0..3000 {
        let vocab = 1 + r.below(40);
        let cfg = random_config(&mut r, vocab);
        let seed = r.maybe().then(|| u64::from(r.next()));
        let Ok(mut s) = TokenSampler::new(cfg, seed) else {
            continue;
        };
        for _ in 0..4 {
            let len = r.below(8);
            let ids = r.ids(len, vocab);
            let prompt = r.below(len + 2) as usize;
            let logits = random_logits(&mut r, vocab as usize);
            if let Ok(c) = s.next(&logits, &ids, prompt) {
                assert!(c.token >= 0 && (c.token as u32) < vocab);
                assert!(!c.logprob.is_nan());
                chosen += 1;
            }
        }
    }
    assert!(chosen > 1000, "only {chosen} successful steps");
}

#[test]
fn beam_searches_never_panic() {
    let mut r = Lcg(99);
    let mut finished = 0;
    for _ in 0..600 {
        let vocab = 1 + r.below(30);
        let mut decoding = random_config(&mut r, vocab);
        decoding.max_length = None;
        let num_beams = 1 + r.below(5) as usize;
        let prompt_len = 1 + r.below(3);
        let prompt = r.ids(prompt_len, vocab);
        let cfg = BeamConfig {
            decoding,
            num_beams,
            length_penalty: f64::from(r.below(40)) / 10.0 - 1.0,
            early_stopping: match r.below(3) {
                0 => EarlyStopping::True,
                1 => EarlyStopping::False,
                _ => EarlyStopping::Never,
            },
            num_return_sequences: 1 + r.below(num_beams as u32) as usize,
            pad_token_id: r.maybe().then(|| r.below(vocab) as i32),
            max_length: prompt.len() + r.below(8) as usize,
        };
        let Ok(mut bs) = BeamSearch::with_seed(cfg, &prompt, Some(7)) else {
            continue;
        };
        for _ in 0..12 {
            let logits = random_logits(&mut r, num_beams * vocab as usize);
            match bs.step_with(&logits, r.below(20) == 0) {
                Ok(step) => {
                    assert_eq!(step.tokens.len(), num_beams);
                    assert!(step.beam_indices.iter().all(|&b| (b as usize) < num_beams));
                    if step.done {
                        let out = bs.finalize();
                        assert_eq!(out.sequences.len(), out.scores.len());
                        finished += 1;
                        break;
                    }
                }
                Err(_) => continue,
            }
        }
    }
    assert!(finished > 50, "only {finished} searches finished");
}
