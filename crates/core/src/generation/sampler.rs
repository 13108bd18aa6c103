//! One sequence's next-token choice: greedy argmax, or sampling from the processed and warped
//! distribution with the sequence's own [`Rng`].
//!
//! Sampling step (one uniform draw `u` per step): `p = softmax(scores)` in f32, then the token is
//! the first index `i` (in token-id order) with `p[i] > 0` whose cumulative sum `p[0] + … + p[i]`
//! (accumulated in f64) exceeds `u * Σp`.

use super::config::DecodingConfig;
use super::math::{argmax, log_softmax_at, softmax};
use super::processors::LogitsProcessor;
use super::rng::Rng;
use crate::{Error, Result};

/// A chosen token and its log-probability under the processed (and warped) scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// The token id.
    pub token: i32,
    /// `log_softmax(scores)[token]`.
    pub logprob: f32,
}

/// Checks a logits row: non-empty, no NaN, no +inf (-inf is a banned token and is accepted).
pub fn check_logits(logits: &[f32], what: &str) -> Result<()> {
    if logits.is_empty() {
        return Err(Error::Dims(format!("{what}: the logits row is empty")));
    }
    if i32::try_from(logits.len()).is_err() {
        return Err(Error::Dims(format!(
            "{what}: a vocabulary of {} logits is too large",
            logits.len()
        )));
    }
    match logits
        .iter()
        .position(|v| v.is_nan() || *v == f32::INFINITY)
    {
        Some(i) => Err(Error::NonFinite(format!(
            "{what}: logit at index {i} is {} (finite values or -inf expected)",
            logits[i]
        ))),
        None => Ok(()),
    }
}

/// Inverse-CDF draw over token-id order (see the module documentation).
pub fn draw(probs: &[f32], u: f64) -> Option<usize> {
    let total: f64 = probs.iter().map(|&p| f64::from(p)).sum();
    if total.is_nan() || total <= 0.0 || !total.is_finite() {
        return None;
    }
    let target = u * total;
    let mut acc = 0f64;
    let mut last = None;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            acc += f64::from(p);
            last = Some(i);
            if acc > target {
                return Some(i);
            }
        }
    }
    last
}

/// Next-token chooser for one sequence.
#[derive(Debug, Clone)]
pub struct TokenSampler {
    processor: LogitsProcessor,
    rng: Rng,
    seed: u64,
}

impl TokenSampler {
    /// A sampler for `cfg`; `seed` fixes the random stream (absent = a random seed).
    pub fn new(cfg: DecodingConfig, seed: Option<u64>) -> Result<Self> {
        let processor = LogitsProcessor::new(cfg)?;
        let seed = seed.unwrap_or_else(Rng::random_seed);
        Ok(Self {
            processor,
            rng: Rng::from_seed(seed),
            seed,
        })
    }

    /// The seed of this sampler's stream.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The processor list.
    pub fn processor(&self) -> &LogitsProcessor {
        &self.processor
    }

    /// The processed (and, when sampling, warped) scores for a logits row.
    pub fn scores(&self, logits: &[f32], ids: &[i32], prompt_len: usize) -> Result<Vec<f32>> {
        check_logits(logits, "TokenSampler")?;
        if prompt_len > ids.len() {
            return Err(Error::InvalidArgument(format!(
                "promptLength {prompt_len} is larger than the {} ids given",
                ids.len()
            )));
        }
        let mut scores = logits.to_vec();
        self.processor.apply(&mut scores, ids, prompt_len)?;
        Ok(scores)
    }

    /// Chooses the next token of a sequence. `logits` is the last position's row, `ids` the
    /// sequence so far, `prompt_len` the index where generated tokens start.
    pub fn next(&mut self, logits: &[f32], ids: &[i32], prompt_len: usize) -> Result<Choice> {
        let scores = self.scores(logits, ids, prompt_len)?;
        let index = if self.processor.config().do_sample {
            let probs = softmax(&scores);
            let u = self.rng.uniform();
            draw(&probs, u).ok_or_else(|| {
                Error::InvalidArgument(
                    "every token was removed by the logits processors; nothing can be sampled"
                        .into(),
                )
            })?
        } else {
            argmax(&scores)
        };
        // Greedy over a row the processors removed entirely picks index 0, as torch.argmax
        // does; its log-probability is then -inf rather than NaN.
        let logprob = match log_softmax_at(&scores, index) {
            l if l.is_nan() => f32::NEG_INFINITY,
            l => l,
        };
        let token = i32::try_from(index)
            .map_err(|_| Error::Internal(format!("token index {index} overflows i32")))?;
        Ok(Choice { token, logprob })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_is_first_argmax_and_top_k_one_sampling_equals_it() {
        let logits = [0.1f32, 2.0, 2.0, -1.0];
        let mut g =
            TokenSampler::new(DecodingConfig::default(), Some(1)).unwrap_or_else(|e| panic!("{e}"));
        let c = g.next(&logits, &[0], 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.token, 1);
        let mut s = TokenSampler::new(
            DecodingConfig {
                do_sample: true,
                top_k: Some(1),
                ..Default::default()
            },
            Some(5),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let logits = [0.1f32, 2.0, 2.5, -1.0];
        for _ in 0..20 {
            assert_eq!(s.next(&logits, &[0], 1).map(|c| c.token).ok(), Some(2));
        }
    }

    #[test]
    fn draw_walks_the_cdf() {
        let p = [0.0f32, 0.25, 0.0, 0.75];
        assert_eq!(draw(&p, 0.0), Some(1));
        assert_eq!(draw(&p, 0.2499), Some(1));
        assert_eq!(draw(&p, 0.25), Some(3));
        assert_eq!(draw(&p, 0.999_999), Some(3));
        assert_eq!(draw(&[0.0, 0.0], 0.5), None);
    }

    #[test]
    fn bad_logits_are_errors() {
        let mut g =
            TokenSampler::new(DecodingConfig::default(), Some(1)).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(g.next(&[], &[], 0), Err(Error::Dims(_))));
        assert!(matches!(
            g.next(&[f32::NAN], &[], 0),
            Err(Error::NonFinite(_))
        ));
        assert!(matches!(
            g.next(&[1.0], &[], 3),
            Err(Error::InvalidArgument(_))
        ));
    }
}
