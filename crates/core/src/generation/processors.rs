//! Logits processors and warpers, applied as transformers 4.57 `_get_logits_processor` builds
//! its `LogitsProcessorList`:
//!
//! repetition penalty → no-repeat n-gram → bad words → min length → min new tokens → forced
//! BOS → forced EOS → suppress tokens → suppress tokens at begin → Whisper timestamps; then,
//! only when sampling, temperature → top-k → top-p → min-p → typical-p → epsilon → eta.
//!
//! Scores are f32 and every operation is the f32 operation torch performs (Python float
//! parameters are rounded to f32 first, as torch does with a scalar operand).

use super::config::{DecodingConfig, WhisperTimestamps};
use super::math::{kth_largest, log_softmax, softmax, torch_sort};
use crate::{Error, Result};

/// A validated processor list for one decoding run.
#[derive(Debug, Clone)]
pub struct LogitsProcessor {
    cfg: DecodingConfig,
    /// `bad_words_ids` without the single-token sequences equal to an EOS id.
    bad_words: Vec<Vec<i32>>,
    /// `min_tokens_to_keep` of the warpers: 1, or for beam search `len(eos) + 1` (2 when there
    /// is no EOS), as `_get_logits_processor` sets it.
    min_tokens_to_keep: usize,
}

fn id_index(id: i32, vocab: usize, what: &str) -> Result<usize> {
    usize::try_from(id)
        .ok()
        .filter(|&i| i < vocab)
        .ok_or_else(|| {
            Error::TokenId(format!(
                "{what}: token id {id} is outside the vocabulary of {vocab} logits"
            ))
        })
}

/// Sets the listed ids that exist in the vocabulary to -inf (`torch.isin` over the
/// vocabulary: ids outside it are ignored).
fn ban_known(scores: &mut [f32], ids: &[i32]) {
    for &id in ids {
        if let Some(s) = usize::try_from(id).ok().and_then(|i| scores.get_mut(i)) {
            *s = f32::NEG_INFINITY;
        }
    }
}

impl LogitsProcessor {
    /// Processors for greedy search or sampling (`min_tokens_to_keep` = 1).
    pub fn new(cfg: DecodingConfig) -> Result<Self> {
        Self::with_beams(cfg, 1)
    }

    /// Processors for a search over `num_beams` beams.
    pub fn with_beams(cfg: DecodingConfig, num_beams: usize) -> Result<Self> {
        cfg.validate()?;
        let bad_words = cfg
            .bad_words_ids
            .iter()
            .flatten()
            .filter(|w| !(w.len() == 1 && cfg.eos_token_ids.contains(&w[0])))
            .cloned()
            .collect();
        let min_tokens_to_keep = if num_beams > 1 {
            if cfg.eos_token_ids.is_empty() {
                2
            } else {
                cfg.eos_token_ids.len() + 1
            }
        } else {
            1
        };
        Ok(Self {
            cfg,
            bad_words,
            min_tokens_to_keep,
        })
    }

    /// The configuration this list was built from.
    pub fn config(&self) -> &DecodingConfig {
        &self.cfg
    }

    /// Applies the processors, then (when sampling) the warpers.
    pub fn apply(&self, scores: &mut [f32], ids: &[i32], prompt_len: usize) -> Result<()> {
        self.process(scores, ids, prompt_len)?;
        if self.cfg.do_sample {
            self.warp(scores);
        }
        Ok(())
    }

    /// The processors (everything before the sampling warpers). `ids` is the whole sequence so
    /// far; `prompt_len` is where generated tokens start.
    pub fn process(&self, scores: &mut [f32], ids: &[i32], prompt_len: usize) -> Result<()> {
        let vocab = scores.len();
        let cur_len = ids.len();
        let cfg = &self.cfg;

        if let Some(p) = cfg.repetition_penalty.filter(|&p| p != 1.0) {
            let p = p as f32;
            let mut seen = vec![false; vocab];
            for &id in ids {
                let i = id_index(id, vocab, "repetitionPenalty")?;
                if !seen[i] {
                    seen[i] = true;
                    let s = scores[i];
                    scores[i] = if s < 0.0 { s * p } else { s / p };
                }
            }
        }

        if let Some(n) = cfg.no_repeat_ngram_size.filter(|&n| n > 0) {
            if cur_len + 1 >= n && cur_len >= n {
                let prefix = &ids[cur_len + 1 - n..];
                let mut banned = Vec::new();
                for start in 0..=cur_len - n {
                    if &ids[start..start + n - 1] == prefix {
                        banned.push(ids[start + n - 1]);
                    }
                }
                for id in banned {
                    let i = id_index(id, vocab, "noRepeatNgramSize")?;
                    scores[i] = f32::NEG_INFINITY;
                }
            }
        }

        for word in &self.bad_words {
            for &id in word {
                id_index(id, vocab, "badWordsIds")?;
            }
            let (last, prefix) = match word.split_last() {
                Some(x) => x,
                None => continue,
            };
            let hit = prefix.is_empty()
                || (word.len() <= cur_len && &ids[cur_len - prefix.len()..] == prefix);
            if hit {
                scores[id_index(*last, vocab, "badWordsIds")?] = f32::NEG_INFINITY;
            }
        }

        if !cfg.eos_token_ids.is_empty() {
            if let Some(min) = cfg.min_length.filter(|&m| m > 0) {
                if cur_len < min {
                    ban_known(scores, &cfg.eos_token_ids);
                }
            }
            if let Some(min) = cfg.min_new_tokens.filter(|&m| m > 0) {
                if (cur_len as i64) - (prompt_len as i64) < min as i64 {
                    ban_known(scores, &cfg.eos_token_ids);
                }
            }
        }

        if let Some(bos) = cfg.forced_bos_token_id {
            if cur_len == 1 {
                let i = id_index(bos, vocab, "forcedBosTokenId")?;
                scores.fill(f32::NEG_INFINITY);
                scores[i] = 0.0;
            }
        }

        if let (Some(eos), Some(max_length)) = (&cfg.forced_eos_token_ids, cfg.max_length) {
            if cur_len + 1 == max_length {
                let idx = eos
                    .iter()
                    .map(|&e| id_index(e, vocab, "forcedEosTokenIds"))
                    .collect::<Result<Vec<_>>>()?;
                scores.fill(f32::NEG_INFINITY);
                for i in idx {
                    scores[i] = 0.0;
                }
            }
        }

        if let Some(tokens) = &cfg.suppress_tokens {
            ban_known(scores, tokens);
        }

        if let Some(tokens) = &cfg.begin_suppress_tokens {
            let begin =
                cfg.begin_index
                    .unwrap_or(if prompt_len > 1 || cfg.forced_bos_token_id.is_none() {
                        prompt_len
                    } else {
                        prompt_len + 1
                    });
            if cur_len == begin {
                ban_known(scores, tokens);
            }
        }

        if let Some(w) = &cfg.whisper_timestamps {
            whisper_timestamps(scores, ids, cfg.begin_index.unwrap_or(prompt_len), w);
        }
        Ok(())
    }

    /// The sampling warpers (applied whatever `do_sample` says).
    pub fn warp(&self, scores: &mut [f32]) {
        let cfg = &self.cfg;
        let keep = self.min_tokens_to_keep;
        if let Some(t) = cfg.temperature.filter(|&t| t != 1.0) {
            let t = t as f32;
            for s in scores.iter_mut() {
                *s /= t;
            }
        }
        if let Some(k) = cfg.top_k.filter(|&k| k != 0) {
            top_k(scores, k.max(keep));
        }
        if let Some(p) = cfg.top_p.filter(|&p| p < 1.0) {
            top_p(scores, p, keep);
        }
        if let Some(p) = cfg.min_p {
            min_p(scores, p, keep);
        }
        if let Some(m) = cfg.typical_p.filter(|&m| m < 1.0) {
            typical(scores, m, keep);
        }
        if let Some(e) = cfg.epsilon_cutoff.filter(|&e| e > 0.0 && e < 1.0) {
            let probs = softmax(scores);
            cutoff(scores, &probs, e as f32, keep);
        }
        if let Some(e) = cfg.eta_cutoff.filter(|&e| e > 0.0 && e < 1.0) {
            eta(scores, e as f32, keep);
        }
    }
}

/// Sets `scores[range]` (clipped to the vocabulary) to -inf.
fn ban_range(scores: &mut [f32], from: usize, to: usize) {
    let to = to.min(scores.len());
    if from < to {
        scores[from..to].fill(f32::NEG_INFINITY);
    }
}

/// `WhisperTimeStampLogitsProcessor` for one row: `<|notimestamps|>` is banned; timestamps come
/// in pairs (after a pair, text; after a lone timestamp, a timestamp or EOS); timestamps never
/// decrease (nor repeat, except to close a segment); the first generated token is a timestamp
/// no later than `max_initial_timestamp_index`; and when the timestamps' total probability
/// exceeds the most likely text token, only timestamps remain.
fn whisper_timestamps(scores: &mut [f32], ids: &[i32], begin: usize, w: &WhisperTimestamps) {
    let vocab = scores.len();
    let Ok(nts) = usize::try_from(w.no_timestamps_token_id) else {
        return;
    };
    let tb = nts + 1;
    if let Some(s) = scores.get_mut(nts) {
        *s = f32::NEG_INFINITY;
    }
    let sampled = ids.get(begin..).unwrap_or(&[]);
    let is_ts = |t: i32| usize::try_from(t).is_ok_and(|t| t >= tb);
    let last_ts = sampled.last().is_some_and(|&t| is_ts(t));
    let penultimate_ts = sampled.len() < 2 || is_ts(sampled[sampled.len() - 2]);
    if last_ts {
        if penultimate_ts {
            ban_range(scores, tb, vocab);
        } else {
            ban_range(scores, 0, usize::try_from(w.eos_token_id).unwrap_or(0));
        }
    }
    if let Some(&last) = sampled.iter().rev().find(|&&t| is_ts(t)) {
        let last = last as usize;
        let upto = if last_ts && !penultimate_ts {
            last
        } else {
            last + 1
        };
        ban_range(scores, tb, upto);
    }
    if ids.len() == begin {
        ban_range(scores, 0, tb);
        if let Some(m) = w.max_initial_timestamp_index {
            ban_range(scores, tb.saturating_add(m).saturating_add(1), vocab);
        }
    }
    if tb >= vocab {
        return;
    }
    let logprobs = log_softmax(scores);
    let (text, stamps) = logprobs.split_at(tb);
    let max = stamps.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let stamp_logprob = if max == f32::NEG_INFINITY || max.is_nan() {
        max
    } else {
        let sum: f32 = stamps.iter().map(|&v| (v - max).exp()).sum();
        sum.ln() + max
    };
    let max_text = text.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if stamp_logprob > max_text {
        ban_range(scores, 0, tb);
    }
}

/// `TopKLogitsWarper`: values below the k-th largest become -inf (ties with it survive).
pub fn top_k(scores: &mut [f32], k: usize) {
    let k = k.min(scores.len());
    let Some(kth) = kth_largest(scores, k) else {
        return;
    };
    for s in scores.iter_mut() {
        if *s < kth {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// Removes tokens whose probability is below `threshold`, except those at or above the
/// `keep`-th largest score (`EpsilonLogitsWarper` / `EtaLogitsWarper`).
fn cutoff(scores: &mut [f32], probs: &[f32], threshold: f32, keep: usize) {
    let k = keep.min(scores.len());
    let Some(kth) = kth_largest(scores, k) else {
        return;
    };
    for (s, &p) in scores.iter_mut().zip(probs) {
        if p < threshold && *s < kth {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// `EtaLogitsWarper`: cutoff `min(ε, sqrt(ε) * exp(-entropy))`, the entropy computed as
/// `torch.distributions.Categorical(logits=scores).entropy()` (log-probabilities clamped to the
/// lowest finite f32, so removed tokens add 0).
pub fn eta(scores: &mut [f32], epsilon: f32, keep: usize) {
    let probs = softmax(scores);
    let logp = log_softmax(scores);
    let entropy: f32 = -logp
        .iter()
        .zip(&probs)
        .map(|(&l, &p)| l.max(f32::MIN) * p)
        .sum::<f32>();
    let eta = epsilon.min(epsilon.sqrt() * (-entropy).exp());
    cutoff(scores, &probs, eta, keep);
}

/// The ascending order torch's sort gives, computed fast: -inf entries first (their order
/// never matters: they have probability 0 and stay -inf), then the finite ones sorted by value
/// with an index tie-break. `None` when the values hold NaN (callers then use [`torch_sort`]).
fn fast_ascending(scores: &[f32]) -> Option<Vec<usize>> {
    if scores.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut order: Vec<usize> = Vec::with_capacity(scores.len());
    order.extend((0..scores.len()).filter(|&i| scores[i] == f32::NEG_INFINITY));
    let finite = sorted_pairs(scores, |v| v != f32::NEG_INFINITY);
    order.extend(finite);
    Some(order)
}

/// Indices of the values accepted by `keep`, sorted by (value, index): a sort of contiguous
/// pairs, much faster than sorting indices through a lookup.
fn sorted_pairs(values: &[f32], keep: impl Fn(f32) -> bool) -> Vec<usize> {
    let mut pairs: Vec<(f32, u32)> = values
        .iter()
        .enumerate()
        .filter(|&(_, &v)| keep(v))
        .map(|(i, &v)| (v, i as u32))
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    pairs.into_iter().map(|(_, i)| i as usize).collect()
}

/// Positions `[0, cut)` of `order` whose removal would depend on how equal values are ordered:
/// true when the values on both sides of `cut` are equal and finite.
fn tie_at(scores: &[f32], order: &[usize], cut: usize) -> bool {
    cut > 0
        && cut < order.len()
        && scores[order[cut - 1]] == scores[order[cut]]
        && scores[order[cut]].is_finite()
}

/// `TopPLogitsWarper`: ascending sort, softmax, cumulative sum (accumulated in f64 and stored
/// in f32, as torch's CPU `cumsum`); tokens whose cumulative probability is `<= 1 - top_p` are
/// removed, the `keep` most likely always stay. Equal values are ordered as torch's sort orders
/// them (see [`torch_sort`]) when that decides which of them are removed.
pub fn top_p(scores: &mut [f32], top_p: f64, keep: usize) {
    let n = scores.len();
    let threshold = (1.0 - top_p) as f32;
    let protected_from = n.saturating_sub(keep);
    let cut_of = |order: &[usize]| -> usize {
        let sorted: Vec<f32> = order.iter().map(|&i| scores[i]).collect();
        let probs = softmax(&sorted);
        let mut acc = 0f64;
        let mut cut = 0;
        for &p in &probs {
            acc += f64::from(p);
            if (acc as f32) <= threshold {
                cut += 1;
            } else {
                break;
            }
        }
        cut.min(protected_from)
    };
    let mut order = fast_ascending(scores).unwrap_or_else(|| torch_sort(scores, false));
    let mut cut = cut_of(&order);
    if tie_at(scores, &order, cut) {
        order = torch_sort(scores, false);
        cut = cut_of(&order);
    }
    for &i in &order[..cut] {
        scores[i] = f32::NEG_INFINITY;
    }
}

/// `MinPLogitsWarper`: tokens whose probability is below `min_p` times the top probability
/// are removed, the `keep` highest scores always stay.
pub fn min_p(scores: &mut [f32], min_p: f64, keep: usize) {
    let probs = softmax(scores);
    let top = probs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let scaled = (min_p as f32) * top;
    // With one protected token the protection changes nothing: the most likely tokens have
    // the top probability, never below `min_p` times it. Otherwise the protected set is the
    // first `keep` of torch's descending sort.
    let mut protected = vec![false; scores.len()];
    if keep > 1 {
        for &i in torch_sort(scores, true).iter().take(keep) {
            protected[i] = true;
        }
    }
    for (i, s) in scores.iter_mut().enumerate() {
        if probs[i] < scaled && !protected[i] {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// `TypicalLogitsWarper`: keeps the tokens whose surprisal is closest to the entropy until
/// their probability mass reaches `mass`.
pub fn typical(scores: &mut [f32], mass: f64, keep: usize) {
    let n = scores.len();
    if n == 0 {
        return;
    }
    let normalized = log_softmax(scores);
    let ent: f32 = -normalized
        .iter()
        .map(|&l| l * l.exp())
        .filter(|v| !v.is_nan())
        .sum::<f32>();
    let shifted: Vec<f32> = normalized.iter().map(|&l| ((-l) - ent).abs()).collect();
    // Equal shifted scores of different logits are ordered as torch orders them; otherwise
    // any order of equal values gives the same sums.
    let mut order = sorted_pairs(&shifted, |_| true);
    let ambiguous = order
        .windows(2)
        .any(|w| shifted[w[0]] == shifted[w[1]] && scores[w[0]] != scores[w[1]]);
    if ambiguous || shifted.iter().any(|v| v.is_nan()) || keep > 1 {
        order = torch_sort(&shifted, false);
    }
    let sorted_logits: Vec<f32> = order.iter().map(|&i| scores[i]).collect();
    let probs = softmax(&sorted_logits);
    let mass = mass as f32;
    let mut acc = 0f64;
    let mut last_ind = 0usize;
    for &p in &probs {
        acc += f64::from(p);
        if (acc as f32) < mass {
            last_ind += 1;
        }
    }
    let last_ind = last_ind.min(n - 1);
    let cut = shifted[order[last_ind]];
    for (pos, &i) in order.iter().enumerate() {
        if pos >= keep && shifted[i] > cut {
            scores[i] = f32::NEG_INFINITY;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEG: f32 = f32::NEG_INFINITY;

    fn proc(cfg: DecodingConfig) -> LogitsProcessor {
        match LogitsProcessor::new(cfg) {
            Ok(p) => p,
            Err(e) => panic!("config rejected: {e}"),
        }
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_once() {
        let p = proc(DecodingConfig {
            repetition_penalty: Some(2.0),
            ..Default::default()
        });
        let mut s = vec![4.0, -1.0, 3.0];
        p.process(&mut s, &[0, 1, 0, 0], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, vec![2.0, -2.0, 3.0]);
    }

    #[test]
    fn no_repeat_ngram_bans_completions() {
        let p = proc(DecodingConfig {
            no_repeat_ngram_size: Some(2),
            ..Default::default()
        });
        let mut s = vec![0.0; 5];
        p.process(&mut s, &[1, 2, 3, 1], 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, vec![0.0, 0.0, NEG, 0.0, 0.0]);
    }

    #[test]
    fn bad_words_and_eos_filtering() {
        let p = proc(DecodingConfig {
            bad_words_ids: Some(vec![vec![4], vec![2], vec![1, 3]]),
            eos_token_ids: vec![2],
            ..Default::default()
        });
        let mut s = vec![0.0; 5];
        p.process(&mut s, &[0, 1], 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, vec![0.0, 0.0, 0.0, NEG, NEG]);
        let only_eos = LogitsProcessor::new(DecodingConfig {
            bad_words_ids: Some(vec![vec![2]]),
            eos_token_ids: vec![2],
            ..Default::default()
        });
        assert!(only_eos.is_err());
    }

    #[test]
    fn forced_tokens_and_min_length() {
        let p = proc(DecodingConfig {
            forced_bos_token_id: Some(3),
            forced_eos_token_ids: Some(vec![1]),
            max_length: Some(4),
            min_length: Some(3),
            eos_token_ids: vec![1],
            ..Default::default()
        });
        let mut s = vec![1.0; 4];
        p.process(&mut s, &[0], 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, vec![NEG, NEG, NEG, 0.0]);
        let mut s = vec![1.0; 4];
        p.process(&mut s, &[0, 3], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, vec![1.0, NEG, 1.0, 1.0]);
        let mut s = vec![1.0; 4];
        p.process(&mut s, &[0, 3, 2], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, vec![NEG, 0.0, NEG, NEG]);
    }

    #[test]
    fn top_k_keeps_ties_and_top_p_keeps_one() {
        let mut s = vec![1.0, 3.0, 2.0, 2.0, 0.5];
        top_k(&mut s, 2);
        assert_eq!(s, vec![NEG, 3.0, 2.0, 2.0, NEG]);
        let mut s = vec![1.0, 30.0, 2.0];
        top_p(&mut s, 0.5, 1);
        assert_eq!(s, vec![NEG, 30.0, NEG]);
    }

    /// top-p computed on torch's full sort order, without the fast path.
    fn top_p_exact(scores: &mut [f32], p: f64, keep: usize) {
        let n = scores.len();
        let order = torch_sort(scores, false);
        let sorted: Vec<f32> = order.iter().map(|&i| scores[i]).collect();
        let probs = softmax(&sorted);
        let mut acc = 0f64;
        let mut remove = Vec::new();
        for (pos, &q) in probs.iter().enumerate() {
            acc += f64::from(q);
            if (acc as f32) <= (1.0 - p) as f32 && pos < n.saturating_sub(keep) {
                remove.push(order[pos]);
            }
        }
        for i in remove {
            scores[i] = NEG;
        }
    }

    #[test]
    fn top_p_fast_path_equals_the_full_sort() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        for case in 0..300 {
            let n = 5 + (next() % 200) as usize;
            let levels = 2 + next() % 12;
            let row: Vec<f32> = (0..n)
                .map(|_| {
                    let v = next() % (levels + 2);
                    if v >= levels {
                        NEG
                    } else {
                        v as f32 * 0.5
                    }
                })
                .collect();
            let p = f64::from(next() % 100) / 100.0;
            let keep = 1 + (next() % 3) as usize;
            let mut fast = row.clone();
            top_p(&mut fast, p, keep);
            let mut exact = row.clone();
            top_p_exact(&mut exact, p, keep);
            assert_eq!(fast, exact, "case {case}: p={p} keep={keep}");
        }
    }

    #[test]
    fn out_of_vocab_ids_are_errors() {
        let p = proc(DecodingConfig {
            repetition_penalty: Some(1.5),
            ..Default::default()
        });
        let mut s = vec![0.0; 3];
        let err = p.process(&mut s, &[7], 0);
        assert!(matches!(err, Err(Error::TokenId(_))));
    }

    fn whisper(max_initial: Option<usize>) -> LogitsProcessor {
        // vocab 10: text 0..=3, EOS 4, specials 5, <|notimestamps|> 6, timestamps 7..=9
        proc(DecodingConfig {
            whisper_timestamps: Some(WhisperTimestamps {
                no_timestamps_token_id: 6,
                eos_token_id: 4,
                max_initial_timestamp_index: max_initial,
            }),
            ..Default::default()
        })
    }

    fn allowed(s: &[f32]) -> Vec<usize> {
        (0..s.len()).filter(|&i| s[i] != NEG).collect()
    }

    #[test]
    fn whisper_first_token_is_an_early_timestamp() {
        let mut s = vec![0f32; 10];
        whisper(Some(1))
            .process(&mut s, &[5, 5], 2)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(allowed(&s), vec![7, 8]);
        let mut s = vec![0f32; 10];
        whisper(None)
            .process(&mut s, &[5, 5], 2)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(allowed(&s), vec![7, 8, 9]);
    }

    #[test]
    fn whisper_timestamps_pair_up_and_never_decrease() {
        let p = whisper(None);
        // after a pair of timestamps: text only (and no earlier timestamp), here text wins
        let mut s = vec![5f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        p.process(&mut s, &[5, 7, 1, 8, 8], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(allowed(&s), vec![0, 1, 2, 3, 4, 5]);
        // after a lone timestamp: no text; EOS, or timestamps from the last one on (it may close)
        let mut s = vec![0f32, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        p.process(&mut s, &[5, 7, 1, 8], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(allowed(&s), vec![4, 5, 8, 9]);
        // after text: timestamps strictly after the last one
        let mut s = vec![0f32; 10];
        p.process(&mut s, &[5, 8, 1], 1)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(allowed(&s), vec![0, 1, 2, 3, 4, 5, 9]);
    }

    #[test]
    fn whisper_timestamp_mass_over_best_text_keeps_only_timestamps() {
        let p = whisper(None);
        // each timestamp alone is below the best text token, their sum is above it
        let row = [1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6, 0.6, 0.6];
        let run = |ids: &[i32]| {
            let mut s = row.to_vec();
            p.process(&mut s, ids, 1).unwrap_or_else(|e| panic!("{e}"));
            allowed(&s)
        };
        assert_eq!(run(&[5, 1]), vec![7, 8, 9]);
        assert_eq!(run(&[5, 7, 1]), vec![8, 9]);
        // a single timestamp left stays below the text token: both remain
        assert_eq!(run(&[5, 8, 1]), vec![0, 1, 2, 3, 4, 5, 9]);
    }
}
