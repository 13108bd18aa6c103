//! Beam search for one input, step by step, as transformers 4.57's vectorised `_beam_search`
//! (batch size 1).
//!
//! Each step: `log_softmax` of every running beam's logits, then the logits processors (so
//! penalties act on log-probabilities), plus the running beam score; the best
//! `beams_to_keep = max(2, 1 + n_eos) * num_beams` candidates over `num_beams × vocab` (ties:
//! lower flat index first). A candidate ending in EOS, or reaching `max_length`, hits a
//! stopping criterion; the next running beams are the best `num_beams` candidates that did not.
//! Candidates among the top `num_beams` that hit one become finished hypotheses scored
//! `sum_logprobs / generated_len ** length_penalty` (generated length including the EOS), and
//! the `num_beams` best finished hypotheses are kept. All arithmetic is f32 with the same
//! `-1e9` masking constants as the reference, so scores and tie-breaks follow it.
//!
//! With `do_sample` (beam sampling) the warpers run after the processors (keeping at least
//! `n_eos + 1` tokens) and the candidates are drawn without replacement, as torch's
//! `multinomial(softmax(scores), beams_to_keep)` does: every entry `i` of the flattened
//! `num_beams × vocab` row gets the key `p_i / q_i` with `q_i = -ln(1 - u_i)` (one uniform draw
//! `u_i` of the search's [`Rng`] per entry, in index order) and the candidates are the
//! `beams_to_keep` largest keys, in key order.

use super::config::DecodingConfig;
use super::math::softmax;
use super::math::{log_softmax, top_k_indices};
use super::processors::LogitsProcessor;
use super::rng::Rng;
use super::sampler::check_logits;
use crate::{Error, Result};

/// `early_stopping` of the generation config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// `True`: stop as soon as `num_beams` hypotheses are finished.
    True,
    /// `False` (default): stop when no running beam can beat the worst finished hypothesis,
    /// estimated at the current length.
    #[default]
    False,
    /// `"never"`: as `False`, but estimated at `max_length` when `length_penalty > 0`.
    Never,
}

/// Beam search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamConfig {
    /// The logits processors (and, with `do_sample`, the warpers: beam sampling).
    pub decoding: DecodingConfig,
    /// `num_beams` (>= 1).
    pub num_beams: usize,
    /// `length_penalty` (default 1.0).
    pub length_penalty: f64,
    /// `early_stopping`.
    pub early_stopping: EarlyStopping,
    /// `num_return_sequences` (1..=num_beams).
    pub num_return_sequences: usize,
    /// `pad_token_id`.
    pub pad_token_id: Option<i32>,
    /// Total length bound, prompt included.
    pub max_length: usize,
}

/// What one step chose.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamStep {
    /// For each new running beam, the previous beam row it continues.
    pub beam_indices: Vec<i32>,
    /// For each new running beam, its new token.
    pub tokens: Vec<i32>,
    /// Generation is over: call `finalize`.
    pub done: bool,
}

/// The search result: best hypotheses first.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamOutput {
    /// Generated ids (prompt excluded), padded with the reference's fill value (pad id, or
    /// the first EOS id when the pad id is absent or 0, or -1 without EOS) to the longest.
    pub sequences: Vec<Vec<i32>>,
    /// Real generated length of each sequence (before padding).
    pub lengths: Vec<usize>,
    /// Length-normalised sequence scores.
    pub scores: Vec<f32>,
}

const NEG_BIG: f32 = -1.0e9;

/// The state of a beam search over one input.
#[derive(Debug, Clone)]
pub struct BeamSearch {
    cfg: BeamConfig,
    processor: LogitsProcessor,
    prompt_len: usize,
    cur_len: usize,
    beams_to_keep: usize,
    running: Vec<Vec<i32>>,
    running_scores: Vec<f32>,
    finished: Vec<Vec<i32>>,
    finished_scores: Vec<f32>,
    finished_flags: Vec<bool>,
    heuristic_unsatisfied: bool,
    done: bool,
    rng: Rng,
    /// Candidates of a proposed, not yet committed step: (beam row, token, score).
    pending: Option<Vec<(usize, i32, f32)>>,
}

fn length_factor(len: usize, penalty: f64) -> f32 {
    (len as f64).powf(penalty) as f32
}

impl BeamSearch {
    /// Starts a search from `prompt` (the decoder prompt every beam starts from).
    pub fn new(cfg: BeamConfig, prompt: &[i32]) -> Result<Self> {
        Self::with_seed(cfg, prompt, None)
    }

    /// As [`BeamSearch::new`], with the seed of the random stream beam sampling draws from
    /// (absent = a random seed; unused without `do_sample`).
    pub fn with_seed(cfg: BeamConfig, prompt: &[i32], seed: Option<u64>) -> Result<Self> {
        if cfg.num_beams == 0 {
            return Err(Error::InvalidArgument("numBeams must be at least 1".into()));
        }
        if cfg.num_return_sequences == 0 || cfg.num_return_sequences > cfg.num_beams {
            return Err(Error::InvalidArgument(format!(
                "numReturnSequences must be between 1 and numBeams ({}), got {}",
                cfg.num_beams, cfg.num_return_sequences
            )));
        }
        if !cfg.length_penalty.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "lengthPenalty must be a finite number, got {}",
                cfg.length_penalty
            )));
        }
        if prompt.is_empty() {
            return Err(Error::InvalidArgument(
                "beam search needs a non-empty prompt (at least the decoder start token)".into(),
            ));
        }
        if prompt.len() >= cfg.max_length {
            return Err(Error::InvalidArgument(format!(
                "the prompt has {} tokens but maxLength is {}; maxLength must be larger",
                prompt.len(),
                cfg.max_length
            )));
        }
        if prompt.iter().any(|&t| t < 0) {
            return Err(Error::TokenId("prompt ids must be non-negative".into()));
        }
        let mut decoding = cfg.decoding.clone();
        if decoding.max_length.is_none() {
            decoding.max_length = Some(cfg.max_length);
        }
        let processor = LogitsProcessor::with_beams(decoding, cfg.num_beams)?;
        let n = cfg.num_beams;
        let n_eos = cfg.decoding.eos_token_ids.len();
        let beams_to_keep = 2usize.max(1 + n_eos) * n;
        let mut running_scores = vec![NEG_BIG; n];
        running_scores[0] = 0.0;
        Ok(Self {
            prompt_len: prompt.len(),
            cur_len: prompt.len(),
            beams_to_keep,
            running: vec![prompt.to_vec(); n],
            running_scores,
            finished: vec![prompt.to_vec(); n],
            finished_scores: vec![NEG_BIG; n],
            finished_flags: vec![false; n],
            heuristic_unsatisfied: true,
            done: false,
            rng: Rng::from_seed(seed.unwrap_or_else(Rng::random_seed)),
            pending: None,
            processor,
            cfg,
        })
    }

    /// Number of beams (rows expected by `step`).
    pub fn num_beams(&self) -> usize {
        self.cfg.num_beams
    }

    /// True once the search is over.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The running sequences (prompt included), one per beam.
    pub fn sequences(&self) -> &[Vec<i32>] {
        &self.running
    }

    /// The running beam scores (sums of processed log-probabilities).
    pub fn running_scores(&self) -> &[f32] {
        &self.running_scores
    }

    /// One step: `logits` holds `num_beams` rows of the vocabulary, one per running beam.
    pub fn step(&mut self, logits: &[f32]) -> Result<BeamStep> {
        self.step_with(logits, false)
    }

    /// As [`BeamSearch::step`]; `stop_all` makes every candidate of this step hit a stopping
    /// criterion, as transformers' `MaxTimeCriteria` does once time is up: the best candidates
    /// become finished hypotheses and the search ends.
    pub fn step_with(&mut self, logits: &[f32], stop_all: bool) -> Result<BeamStep> {
        self.propose(logits)?;
        self.commit(&[], stop_all)
    }

    /// First half of a step: the `beams_to_keep` candidates of `logits` in the reference's
    /// order, as (previous beam row, token). Call [`BeamSearch::commit`] next, with which of
    /// them hit a caller-side stopping criterion (e.g. a stop string), as transformers runs
    /// every stopping criterion on every candidate.
    pub fn propose(&mut self, logits: &[f32]) -> Result<Vec<(usize, i32)>> {
        if self.done {
            return Err(Error::InvalidArgument(
                "beam search is already finished; call finalize".into(),
            ));
        }
        self.pending = None;
        let n = self.cfg.num_beams;
        if logits.is_empty() || !logits.len().is_multiple_of(n) {
            return Err(Error::Dims(format!(
                "beam step: {} logits is not {n} rows of the vocabulary",
                logits.len()
            )));
        }
        let vocab = logits.len() / n;
        check_logits(logits, "beam step")?;
        let total = n * vocab;
        if total < self.beams_to_keep {
            return Err(Error::Dims(format!(
                "beam step: a vocabulary of {vocab} is too small for {n} beams ({} candidates are kept)",
                self.beams_to_keep
            )));
        }
        let mut acc = Vec::with_capacity(total);
        for (b, row) in logits.chunks_exact(vocab).enumerate() {
            let mut lp = log_softmax(row);
            self.processor
                .apply(&mut lp, &self.running[b], self.prompt_len)?;
            let base = self.running_scores[b];
            acc.extend(lp.iter().map(|&v| v + base));
        }

        // Top candidates (or, when sampling, drawn without replacement).
        let top = if self.cfg.decoding.do_sample {
            let probs = softmax(&acc);
            if probs.iter().any(|p| p.is_nan()) {
                return Err(Error::InvalidArgument(
                    "every token was removed by the logits processors; nothing can be sampled"
                        .into(),
                ));
            }
            let keys: Vec<f32> = probs
                .iter()
                .map(|&p| {
                    let q = -(1.0 - self.rng.uniform()).ln();
                    (f64::from(p) / q) as f32
                })
                .collect();
            top_k_indices(&keys, self.beams_to_keep)
        } else {
            top_k_indices(&acc, self.beams_to_keep)
        };
        let pending: Vec<(usize, i32, f32)> = top
            .iter()
            .map(|&flat| (flat / vocab, (flat % vocab) as i32, acc[flat]))
            .collect();
        let out = pending.iter().map(|&(b, t, _)| (b, t)).collect();
        self.pending = Some(pending);
        Ok(out)
    }

    /// Second half of a step: `stops[j]` (empty = none) says candidate `j` of
    /// [`BeamSearch::propose`] hits a caller-side stopping criterion; `stop_all` says they all
    /// do. EOS and `max_length` are checked here.
    pub fn commit(&mut self, stops: &[bool], stop_all: bool) -> Result<BeamStep> {
        let Some(pending) = self.pending.take() else {
            return Err(Error::InvalidArgument(
                "beam commit without a proposed step".into(),
            ));
        };
        if !stops.is_empty() && stops.len() != pending.len() {
            let count = pending.len();
            self.pending = Some(pending);
            return Err(Error::Dims(format!(
                "beam commit: {} stop flags for {count} candidates",
                stops.len()
            )));
        }
        let n = self.cfg.num_beams;
        let eos = &self.cfg.decoding.eos_token_ids;
        let reaches_max = stop_all || self.cur_len + 1 >= self.cfg.max_length;
        let cand: Vec<(usize, i32, f32, bool)> = pending
            .iter()
            .enumerate()
            .map(|(j, &(src, tok, lp))| {
                let hits =
                    reaches_max || eos.contains(&tok) || stops.get(j).copied().unwrap_or(false);
                (src, tok, lp, hits)
            })
            .collect();

        // Next running beams: the best candidates that did not stop.
        let running_lp: Vec<f32> = cand
            .iter()
            .map(|&(_, _, lp, hits)| if hits { lp + NEG_BIG } else { lp })
            .collect();
        let next = top_k_indices(&running_lp, n);
        let mut new_running = Vec::with_capacity(n);
        let mut new_scores = Vec::with_capacity(n);
        let mut beam_indices = Vec::with_capacity(n);
        let mut tokens = Vec::with_capacity(n);
        for &j in &next {
            let (src, tok, _, _) = cand[j];
            let mut seq = self.running[src].clone();
            seq.push(tok);
            new_running.push(seq);
            new_scores.push(running_lp[j]);
            beam_indices.push(src as i32);
            tokens.push(tok);
        }

        // Finished hypotheses.
        let factor = length_factor(self.cur_len + 1 - self.prompt_len, self.cfg.length_penalty);
        let beams_full = self.finished_flags.iter().all(|&f| f)
            && self.cfg.early_stopping == EarlyStopping::True;
        let mut merged_scores = self.finished_scores.clone();
        let mut merged_flags = self.finished_flags.clone();
        for (j, &(_, _, lp, hits)) in cand.iter().enumerate() {
            let mut s = lp / factor;
            if beams_full {
                s += NEG_BIG;
            }
            if !self.heuristic_unsatisfied {
                s += NEG_BIG;
            }
            let just_finished = hits && j < n;
            if !just_finished {
                s += NEG_BIG;
            }
            merged_scores.push(s);
            merged_flags.push(just_finished);
        }
        let keep = top_k_indices(&merged_scores, n);
        let mut finished = Vec::with_capacity(n);
        let mut finished_scores = Vec::with_capacity(n);
        let mut finished_flags = Vec::with_capacity(n);
        for &m in &keep {
            let seq = if m < n {
                self.finished[m].clone()
            } else {
                let (src, tok, _, _) = cand[m - n];
                let mut seq = self.running[src].clone();
                seq.push(tok);
                seq
            };
            finished.push(seq);
            finished_scores.push(merged_scores[m]);
            finished_flags.push(merged_flags[m]);
        }
        self.finished = finished;
        self.finished_scores = finished_scores;
        self.finished_flags = finished_flags;
        self.running = new_running;
        self.running_scores = new_scores;
        self.cur_len += 1;

        // Stopping rules.
        let best_len =
            if self.cfg.early_stopping == EarlyStopping::Never && self.cfg.length_penalty > 0.0 {
                self.cfg.max_length - self.prompt_len
            } else {
                self.cur_len - self.prompt_len
            };
        let best_running =
            self.running_scores[0] / length_factor(best_len, self.cfg.length_penalty);
        let worst = self
            .finished_scores
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min);
        let improvable = self
            .finished_flags
            .iter()
            .any(|&f| best_running > if f { worst } else { NEG_BIG });
        self.heuristic_unsatisfied = self.heuristic_unsatisfied && improvable;
        let exists_open_beam = !(self.finished_flags.iter().all(|&f| f)
            && self.cfg.early_stopping == EarlyStopping::True);
        let valid_continuations = !cand.iter().all(|c| c.3);
        self.done = !(self.heuristic_unsatisfied && exists_open_beam && valid_continuations)
            || self.cur_len >= self.cfg.max_length;
        Ok(BeamStep {
            beam_indices,
            tokens,
            done: self.done,
        })
    }

    /// The fill value of the reference's output rows.
    fn fill_value(&self) -> i32 {
        let eos = &self.cfg.decoding.eos_token_ids;
        match eos.first() {
            None => -1,
            Some(&e) => match self.cfg.pad_token_id {
                Some(p) if p != 0 => p,
                _ => e,
            },
        }
    }

    /// The best `num_return_sequences` hypotheses, best first.
    pub fn finalize(&self) -> BeamOutput {
        let k = self.cfg.num_return_sequences;
        let rows: Vec<&[i32]> = self.finished[..k]
            .iter()
            .map(|s| &s[self.prompt_len.min(s.len())..])
            .collect();
        let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
        let longest = lengths.iter().copied().max().unwrap_or(0);
        let fill = self.fill_value();
        let sequences = rows
            .iter()
            .map(|r| {
                let mut v = r.to_vec();
                v.resize(longest, fill);
                v
            })
            .collect();
        BeamOutput {
            sequences,
            lengths,
            scores: self.finished_scores[..k].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(num_beams: usize, max_length: usize) -> BeamConfig {
        BeamConfig {
            decoding: DecodingConfig {
                eos_token_ids: vec![0],
                ..Default::default()
            },
            num_beams,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            num_return_sequences: 1,
            pad_token_id: None,
            max_length,
        }
    }

    #[test]
    fn stops_at_max_length_and_returns_the_best_path() {
        let mut bs = BeamSearch::new(cfg(2, 3), &[1]).unwrap_or_else(|e| panic!("{e}"));
        // vocab 4: token 2 is always the best, EOS (0) is unlikely.
        let row = [-5.0f32, 0.0, 3.0, 1.0];
        let logits: Vec<f32> = row.iter().chain(row.iter()).copied().collect();
        let s1 = bs.step(&logits).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s1.done);
        assert_eq!(s1.tokens, vec![2, 3]);
        assert_eq!(s1.beam_indices, vec![0, 0]);
        let s2 = bs.step(&logits).unwrap_or_else(|e| panic!("{e}"));
        assert!(s2.done);
        let out = bs.finalize();
        assert_eq!(out.sequences, vec![vec![2, 2]]);
        assert!(bs.step(&logits).is_err());
    }

    #[test]
    fn beam_sampling_repeats_with_a_seed() {
        let run = |seed: u64| {
            let mut c = cfg(3, 12);
            c.decoding.do_sample = true;
            c.decoding.temperature = Some(1.5);
            c.num_return_sequences = 3;
            let mut bs =
                BeamSearch::with_seed(c, &[1], Some(seed)).unwrap_or_else(|e| panic!("{e}"));
            let v = 16;
            loop {
                let logits: Vec<f32> = bs
                    .sequences()
                    .iter()
                    .flat_map(|s| {
                        let last = *s.last().unwrap_or(&0);
                        (0..v).map(move |t| (((t * 7 + last * 3) % 11) as f32) * 0.3)
                    })
                    .collect();
                if bs.step(&logits).unwrap_or_else(|e| panic!("{e}")).done {
                    break;
                }
            }
            bs.finalize()
        };
        let a = run(5);
        assert_eq!(a, run(5));
        assert_eq!(a.sequences.len(), 3);
        assert!(a.scores.windows(2).all(|w| w[0] >= w[1]));
        assert!((0..20).any(|s| run(s) != a));
    }

    #[test]
    fn a_forced_stop_finishes_the_best_candidates() {
        let mut bs = BeamSearch::new(cfg(2, 10), &[1]).unwrap_or_else(|e| panic!("{e}"));
        let row = [-5.0f32, 0.0, 3.0, 1.0];
        let logits: Vec<f32> = row.iter().chain(row.iter()).copied().collect();
        assert!(!bs.step(&logits).unwrap_or_else(|e| panic!("{e}")).done);
        let last = bs
            .step_with(&logits, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(last.done);
        let out = bs.finalize();
        assert_eq!(out.sequences, vec![vec![2, 2]]);
        assert_eq!(out.lengths, vec![2]);
        assert!(out.scores[0] > -1.0 && out.scores[0] < 0.0);
    }

    #[test]
    fn a_caller_stop_finishes_that_candidate() {
        let mut bs = BeamSearch::new(cfg(2, 10), &[1]).unwrap_or_else(|e| panic!("{e}"));
        let row = [-5.0f32, 0.0, 3.0, 1.0];
        let logits: Vec<f32> = row.iter().chain(row.iter()).copied().collect();
        let cands = bs.propose(&logits).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cands.len(), 4);
        assert_eq!(cands[0], (0, 2));
        assert!(bs.commit(&[true], false).is_err());
        // The best candidate stops (as a stop string would): it is finished, the others run.
        let step = bs
            .commit(&[true, false, false, false], false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(step.tokens, vec![3, 1]);
        assert!(bs.commit(&[], false).is_err());
        assert_eq!(bs.finalize().sequences, vec![vec![2]]);
    }

    #[test]
    fn rejects_bad_shapes_and_settings() {
        assert!(BeamSearch::new(cfg(0, 5), &[1]).is_err());
        assert!(BeamSearch::new(cfg(2, 1), &[1]).is_err());
        let mut bs = BeamSearch::new(cfg(2, 5), &[1]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(bs.step(&[0.0; 7]), Err(Error::Dims(_))));
        // 2 beams keep 4 candidates: a vocabulary of 1 is too small.
        assert!(matches!(bs.step(&[0.0; 2]), Err(Error::Dims(_))));
    }
}
