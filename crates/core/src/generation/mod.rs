//! Decoding kernels for text generation, following transformers 4.57 `generation/`:
//!
//! - [`processors`]: the logits processors and sampling warpers of `_get_logits_processor`, in its
//!   order, computed in f32 as torch computes them;
//! - [`sampler`]: one sequence's next-token choice (greedy argmax or seeded sampling);
//! - [`rng`]: the documented, seedable random stream used for sampling;
//! - [`beam`]: the vectorised `_beam_search` for one input, step by step;
//! - [`stream`]: incremental detokenization for streaming output.

pub mod beam;
pub mod config;
pub mod math;
pub mod processors;
pub mod rng;
pub mod sampler;
pub mod stream;

pub use beam::{BeamConfig, BeamSearch, BeamStep, EarlyStopping};
pub use config::{DecodingConfig, WhisperTimestamps};
pub use processors::LogitsProcessor;
pub use rng::Rng;
pub use sampler::{Choice, TokenSampler};
pub use stream::DecodeStream;
