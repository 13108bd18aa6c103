//! hf-tasks-core: everything around the neural network for Hugging Face task contracts.
//!
//! Pure Rust, no Node types. The `hf-tasks-node` crate binds these modules one to one.

pub mod aggregate;
pub mod error;
pub mod qa;
pub mod scoring;

pub use error::{Error, Result};
