//! Token-classification post-processing: per-token scores, word building, entity grouping,
//! label filtering and stride-window merging (task contract section 1).

use crate::error::Result;

/// What aggregation needs to know about the tokenizer that produced the tokens.
pub trait TokenVocab {
    /// The vocabulary string of `id` (`##ing`, `Ġworld`, `▁world`), as `convert_ids_to_tokens`.
    fn id_to_token(&self, id: u32) -> Option<String>;
    /// The tokenizer's decoder applied to token strings, as `convert_tokens_to_string`.
    fn tokens_to_string(&self, tokens: &[String]) -> Result<String>;
    /// The id of the unknown token, if the model has one.
    fn unk_id(&self) -> Option<u32>;
    /// The model's continuing-subword prefix (`##` for WordPiece), if it has a non-empty one.
    fn continuing_subword_prefix(&self) -> Option<String>;
}
