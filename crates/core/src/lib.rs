//! hf-tasks-core: everything around the neural network for Hugging Face task contracts.
//!
//! Pure Rust, no Node types. The `hf-tasks-node` crate binds these modules one to one.

pub mod aggregate;
pub mod audio;
pub mod error;
pub mod generation;
pub mod image;
pub mod mask;
pub mod offsets;
pub mod pooling;
pub mod qa;
pub mod scoring;
pub mod similarity;
pub mod spm;
pub mod tapas;
pub mod tokenize;

pub use error::{Error, Result};
