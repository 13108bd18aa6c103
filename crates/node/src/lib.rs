//! napi-rs bindings for hf-tasks-core: one module per core module, nothing else.
// Under `cargo test`/`clippy --all-targets` the napi macros register nothing, so the exported
// functions look unused there.
#![cfg_attr(test, allow(dead_code, unused_imports))]

mod aggregate;
mod audio;
mod errors;
mod generation;
mod image;
mod mask;
mod pooling;
mod qa;
mod scoring;
mod similarity;
mod tapas;
mod tokenize;

/// mimalloc instead of glibc's malloc: the addon's allocations share glibc's main arena with
/// the Node main thread, where small-object churn (tokenizer encodings, per-call vectors) spent
/// about a third of a short text's tokenization in malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
