//! TAPAS: the table tokenizer of transformers' `TapasTokenizer` (question, then the table
//! flattened row by row; seven token type ids per token; numeric ranks and relations;
//! `drop_rows_to_fit` truncation; padding) and the table-question-answering post-processing
//! (`convert_logits_to_predictions`).

mod numeric;
mod predict;
mod text;
mod ucd;

use std::collections::HashMap;

use serde_json::Value;

use crate::{Error, Result};
use text::BasicOptions;

pub use numeric::{parse_text, NumericSpan, NumericValue};
pub use predict::{argmax, cell_probabilities, predict_coordinates, previous_answer_labels};

/// Number of token type ids per token: segment, column, row, previous label, column rank,
/// inverse column rank, numeric relation.
pub const TOKEN_TYPES: usize = 7;

/// A table: column names and rows of cells (every row as long as `columns`).
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// `rows[r][c]`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Builds a table from column-major cells, checking that every column has `num_rows`.
    pub fn from_columns(columns: Vec<String>, cells: Vec<Vec<String>>) -> Result<Table> {
        if columns.len() != cells.len() {
            return Err(Error::InvalidArgument(
                "a table needs one list of cells per column".into(),
            ));
        }
        let num_rows = cells.first().map_or(0, Vec::len);
        if cells.iter().any(|c| c.len() != num_rows) {
            return Err(Error::InvalidArgument(
                "All rows in the table must be the same length".into(),
            ));
        }
        let mut rows = vec![Vec::with_capacity(columns.len()); num_rows];
        for column in cells {
            for (r, cell) in column.into_iter().enumerate() {
                rows[r].push(cell);
            }
        }
        Ok(Table { columns, rows })
    }
}

/// Truncation strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// Drop rows from the end (and trim cells) until question and table fit.
    DropRowsToFit,
    /// Keep everything.
    DoNotTruncate,
}

/// Padding strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// `padding=True`: pad to the longest sequence of a batch; for a single query with an
    /// explicit `max_length`, to that length (as the reference does).
    True,
    /// Pad to the longest sequence of the batch.
    Longest,
    /// Pad to `max_length` (the model maximum when absent).
    MaxLength,
    /// No padding (a batch must then have equal lengths).
    DoNotPad,
}

/// Options of one encode call.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// Truncation.
    pub truncation: Truncation,
    /// Padding.
    pub padding: Padding,
    /// Length budget (the model maximum when absent).
    pub max_length: Option<usize>,
    /// `true` when the queries were given as a list (batch semantics of the reference).
    pub batched: bool,
}

/// Model inputs for a batch of queries on one table, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct TableEncoding {
    /// Number of sequences.
    pub batch: usize,
    /// Padded length.
    pub seq_len: usize,
    /// `batch * seq_len` token ids.
    pub input_ids: Vec<i64>,
    /// `batch * seq_len`.
    pub attention_mask: Vec<i64>,
    /// `batch * seq_len * 7`.
    pub token_type_ids: Vec<i64>,
    /// Token strings per sequence (before padding), for inspection.
    pub tokens: Vec<Vec<String>>,
}

/// transformers' slow `TapasTokenizer` on a WordPiece vocabulary.
#[derive(Debug, Clone)]
pub struct TapasTokenizer {
    vocab: HashMap<String, u32>,
    specials: Vec<String>,
    basic: BasicOptions,
    unk: String,
    sep: String,
    pad: String,
    cls: String,
    empty: String,
    cell_trim_length: i64,
    max_column_id: usize,
    max_row_id: usize,
    strip_column_names: bool,
    min_question_length: Option<usize>,
    max_question_length: Option<usize>,
    model_max_length: usize,
    pad_left: bool,
    max_input_chars_per_word: usize,
}

fn config_str(cfg: &Value, key: &str, default: &str) -> String {
    match cfg.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string(),
        _ => default.to_string(),
    }
}

fn config_usize(cfg: &Value, key: &str) -> Option<usize> {
    let v = cfg.get(key)?;
    if let Some(u) = v.as_u64() {
        return usize::try_from(u).ok();
    }
    // model_max_length is 1e30 in files without a limit
    v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| {
        if f > 1e18 {
            usize::MAX / 4
        } else {
            f as usize
        }
    })
}

impl TapasTokenizer {
    /// Loads from the text of `vocab.txt` and of `tokenizer_config.json` (may be empty).
    pub fn from_files(vocab_txt: &str, tokenizer_config: &str) -> Result<TapasTokenizer> {
        let cfg: Value = if tokenizer_config.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(tokenizer_config)
                .map_err(|e| Error::TokenizerLoad(format!("tokenizer_config.json: {e}")))?
        };
        let mut vocab = HashMap::new();
        for (i, line) in vocab_txt.split('\n').enumerate() {
            if i + 1 == vocab_txt.split('\n').count() && line.is_empty() {
                break;
            }
            let id = u32::try_from(i)
                .map_err(|_| Error::TokenizerLoad("vocab.txt is too large".into()))?;
            vocab.insert(line.strip_suffix('\r').unwrap_or(line).to_string(), id);
        }
        if let Some(Value::Object(added)) = cfg.get("added_tokens_decoder") {
            for (id, tok) in added {
                if let (Ok(id), Some(content)) = (
                    id.parse::<u32>(),
                    tok.get("content").and_then(Value::as_str),
                ) {
                    vocab.entry(content.to_string()).or_insert(id);
                }
            }
        }
        let unk = config_str(&cfg, "unk_token", "[UNK]");
        let sep = config_str(&cfg, "sep_token", "[SEP]");
        let pad = config_str(&cfg, "pad_token", "[PAD]");
        let cls = config_str(&cfg, "cls_token", "[CLS]");
        let mask = config_str(&cfg, "mask_token", "[MASK]");
        let empty_token = config_str(&cfg, "empty_token", "[EMPTY]");
        let mut additional: Vec<String> = cfg
            .get("additional_special_tokens")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Object(o) => {
                            o.get("content").and_then(Value::as_str).map(str::to_string)
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !additional.contains(&empty_token) {
            additional.push(empty_token);
        }
        let empty = additional[0].clone();
        let mut specials = vec![unk.clone(), sep.clone(), pad.clone(), cls.clone(), mask];
        specials.extend(additional);
        if let Some(Value::Object(added)) = cfg.get("added_tokens_decoder") {
            for tok in added.values() {
                if let Some(c) = tok.get("content").and_then(Value::as_str) {
                    specials.push(c.to_string());
                }
            }
        }
        specials.retain(|s| !s.is_empty());
        specials.sort();
        specials.dedup();
        for t in [&unk, &sep, &pad, &cls] {
            if !vocab.contains_key(t.as_str()) {
                return Err(Error::TokenizerLoad(format!("vocab.txt has no {t} token")));
            }
        }
        let model_max_length = config_usize(&cfg, "model_max_length").unwrap_or(512);
        let id_limit = |key: &str| match cfg.get(key) {
            Some(Value::Null) | None => model_max_length,
            Some(_) => config_usize(&cfg, key).unwrap_or(model_max_length),
        };
        Ok(TapasTokenizer {
            basic: BasicOptions {
                do_lower_case: cfg
                    .get("do_lower_case")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                strip_accents: cfg.get("strip_accents").and_then(Value::as_bool),
                tokenize_chinese_chars: cfg
                    .get("tokenize_chinese_chars")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            },
            vocab,
            specials,
            unk,
            sep,
            pad,
            cls,
            empty,
            cell_trim_length: cfg
                .get("cell_trim_length")
                .and_then(Value::as_i64)
                .unwrap_or(-1),
            max_column_id: id_limit("max_column_id"),
            max_row_id: id_limit("max_row_id"),
            strip_column_names: cfg
                .get("strip_column_names")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            min_question_length: config_usize(&cfg, "min_question_length"),
            max_question_length: config_usize(&cfg, "max_question_length"),
            model_max_length,
            pad_left: cfg.get("padding_side").and_then(Value::as_str) == Some("left"),
            max_input_chars_per_word: 100,
        })
    }

    /// The model maximum length (`model_max_length`).
    pub fn model_max_length(&self) -> usize {
        self.model_max_length
    }

    /// Id of a token (the unknown token's id when absent).
    pub fn token_to_id(&self, token: &str) -> u32 {
        self.vocab
            .get(token)
            .or_else(|| self.vocab.get(&self.unk))
            .copied()
            .unwrap_or(0)
    }

    /// `tokenize`: per-character lowercasing outside special tokens, split on special tokens,
    /// then `[EMPTY]` for empty-looking text or basic + WordPiece.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut segment = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(special) = self
                .specials
                .iter()
                .filter(|s| rest.starts_with(s.as_str()))
                .max_by_key(|s| s.len())
            {
                self.tokenize_segment(&segment, &mut out);
                segment.clear();
                out.push(special.clone());
                rest = &rest[special.len()..];
                continue;
            }
            let Some(c) = rest.chars().next() else {
                break;
            };
            if self.basic.do_lower_case {
                segment.extend(c.to_lowercase());
            } else {
                segment.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        self.tokenize_segment(&segment, &mut out);
        out
    }

    fn tokenize_segment(&self, segment: &str, out: &mut Vec<String>) {
        if segment.is_empty() {
            return;
        }
        if text::is_empty_text(segment) {
            out.push(self.empty.clone());
            return;
        }
        let words = text::basic_tokenize(segment, &self.basic);
        for word in words {
            if self.specials.contains(&word) {
                out.push(word);
            } else {
                out.extend(text::wordpiece(
                    std::slice::from_ref(&word),
                    &self.vocab,
                    &self.unk,
                    self.max_input_chars_per_word,
                ));
            }
        }
    }

    /// Encodes `queries` against `table` (one sequence per query).
    pub fn encode(
        &self,
        table: &Table,
        queries: &[String],
        opts: &EncodeOptions,
    ) -> Result<TableEncoding> {
        let tokenized = self.tokenize_table(table);
        let numeric = NumericTable::new(table);
        let mut sequences = Vec::with_capacity(queries.len());
        for query in queries {
            sequences.push(self.encode_one(table, &tokenized, &numeric, query, opts)?);
        }
        let longest = sequences.iter().map(|s| s.ids.len()).max().unwrap_or(0);
        let target = match opts.padding {
            Padding::DoNotPad => None,
            Padding::Longest => Some(longest),
            Padding::True => {
                if !opts.batched && opts.max_length.is_some() {
                    opts.max_length
                } else {
                    Some(longest)
                }
            }
            Padding::MaxLength => Some(opts.max_length.unwrap_or(self.model_max_length)),
        };
        let seq_len = target.map_or(longest, |t| t.max(longest));
        if sequences.iter().any(|s| s.ids.len() != seq_len) && target != Some(seq_len) {
            return Err(Error::Tokenize(
                "the sequences of this batch have different lengths: pad them (padding=true)"
                    .into(),
            ));
        }
        let batch = sequences.len();
        let pad_id = i64::from(self.token_to_id(&self.pad));
        let mut input_ids = Vec::with_capacity(batch * seq_len);
        let mut attention_mask = Vec::with_capacity(batch * seq_len);
        let mut token_type_ids = Vec::with_capacity(batch * seq_len * TOKEN_TYPES);
        let mut tokens = Vec::with_capacity(batch);
        for s in sequences {
            let missing = seq_len - s.ids.len();
            if self.pad_left {
                input_ids.extend(std::iter::repeat_n(pad_id, missing));
                attention_mask.extend(std::iter::repeat_n(0, missing));
                token_type_ids.extend(std::iter::repeat_n(0, missing * TOKEN_TYPES));
            }
            input_ids.extend(s.ids.iter().copied());
            attention_mask.extend(std::iter::repeat_n(1, s.ids.len()));
            for t in &s.types {
                token_type_ids.extend(t.iter().copied());
            }
            if !self.pad_left {
                input_ids.extend(std::iter::repeat_n(pad_id, missing));
                attention_mask.extend(std::iter::repeat_n(0, missing));
                token_type_ids.extend(std::iter::repeat_n(0, missing * TOKEN_TYPES));
            }
            tokens.push(s.tokens);
        }
        Ok(TableEncoding {
            batch,
            seq_len,
            input_ids,
            attention_mask,
            token_type_ids,
            tokens,
        })
    }

    /// Token lists of the header (row 0) and of every data row.
    fn tokenize_table(&self, table: &Table) -> Vec<Vec<Vec<String>>> {
        let mut rows = Vec::with_capacity(table.rows.len() + 1);
        rows.push(
            table
                .columns
                .iter()
                .map(|c| {
                    if self.strip_column_names {
                        Vec::new()
                    } else {
                        self.tokenize(c)
                    }
                })
                .collect(),
        );
        for row in &table.rows {
            rows.push(row.iter().map(|c| self.tokenize(c)).collect());
        }
        rows
    }

    fn encode_one(
        &self,
        table: &Table,
        tokenized: &[Vec<Vec<String>>],
        numeric: &NumericTable,
        query: &str,
        opts: &EncodeOptions,
    ) -> Result<Sequence> {
        let mut query_tokens = self.tokenize(query);
        let mut query_text = query;
        if self
            .max_question_length
            .is_some_and(|m| query_tokens.len() > m)
            || self
                .min_question_length
                .is_some_and(|m| query_tokens.len() < m)
        {
            query_tokens.clear();
            query_text = "";
        }
        let truncate = opts.truncation != Truncation::DoNotTruncate;
        let mut num_rows = table.rows.len();
        if num_rows >= self.max_row_id {
            if truncate {
                num_rows = self.max_row_id.saturating_sub(1);
            } else {
                return Err(Error::Tokenize("Too many rows".into()));
            }
        }
        let num_columns = table.columns.len();
        if num_columns >= self.max_column_id {
            return Err(Error::Tokenize("Too many columns".into()));
        }
        // (row index, column index, token index, word begin index) of every table token
        let mut coords: Vec<(usize, usize, usize, i64)> = Vec::new();
        let mut max_tokens = 0usize;
        for (r, row) in tokenized.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                max_tokens = max_tokens.max(cell.len());
                for t in 0..cell.len() {
                    let mut wb = t as i64;
                    while wb >= 0 && cell[wb as usize].starts_with("##") {
                        wb -= 1;
                    }
                    coords.push((r, c, t, wb));
                }
            }
        }
        let mut num_rows = num_rows as i64;
        let mut num_tokens = max_tokens;
        if truncate {
            let max_length = opts.max_length.unwrap_or(self.model_max_length);
            (num_rows, num_tokens) = self.truncated_rows(
                &coords,
                query_tokens.len(),
                num_rows,
                max_tokens,
                max_length,
            );
        }
        let mut tokens = Vec::with_capacity(query_tokens.len() + 2 + coords.len());
        tokens.push(self.cls.clone());
        tokens.extend(query_tokens.iter().cloned());
        tokens.push(self.sep.clone());
        let mut types: Vec<[i64; TOKEN_TYPES]> = vec![[0; TOKEN_TYPES]; tokens.len()];
        let mut cell_tokens: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
        for &(r, c, t, wb) in &coords {
            if r as i64 > num_rows || c >= num_columns || wb >= num_tokens as i64 {
                continue;
            }
            if r > 0 {
                cell_tokens
                    .entry((c, r - 1))
                    .or_default()
                    .push(tokens.len());
            }
            tokens.push(tokenized[r][c][t].clone());
            let mut ty = [0i64; TOKEN_TYPES];
            ty[0] = 1;
            ty[1] = c as i64 + 1;
            ty[2] = r as i64;
            types.push(ty);
        }
        if let Some(max_length) = opts.max_length {
            if tokens.len() > max_length {
                return Err(Error::Tokenize(format!(
                    "Could not encode the query and table header given the maximum length. Encoding the query and table header results in a length of {} which is higher than the max_length of {max_length}",
                    tokens.len()
                )));
            }
        }
        numeric.annotate(query_text, &cell_tokens, &mut types);
        let ids = tokens
            .iter()
            .map(|t| i64::from(self.token_to_id(t)))
            .collect();
        Ok(Sequence { ids, types, tokens })
    }

    /// `_get_truncated_table_rows` with `drop_rows_to_fit`: (rows kept, tokens per cell).
    fn truncated_rows(
        &self,
        coords: &[(usize, usize, usize, i64)],
        question_len: usize,
        mut num_rows: i64,
        max_tokens: usize,
        max_length: usize,
    ) -> (i64, usize) {
        let budget = max_length as i64 - (question_len as i64 + 2);
        let mut limit = max_tokens;
        if self.cell_trim_length >= 0 && limit as i64 > self.cell_trim_length {
            limit = self.cell_trim_length as usize;
        }
        // per row, how many tokens have their word beginning at each index (shifted by one:
        // a word begin of -1 is bucket 0)
        let width = max_tokens + 1;
        let row_count = coords.iter().map(|c| c.0 + 1).max().unwrap_or(0);
        let mut per_row = vec![vec![0i64; width]; row_count];
        for &(r, _, _, wb) in coords {
            let k = (wb + 1).clamp(0, width as i64 - 1) as usize;
            per_row[r][k] += 1;
        }
        let mut total = vec![0i64; width];
        for row in per_row.iter().take((num_rows + 1).max(0) as usize) {
            for (k, v) in row.iter().enumerate() {
                total[k] += v;
            }
        }
        loop {
            // cost(n): tokens whose word begins before n = buckets 0..=n
            let cost = |n: usize| -> i64 { total.iter().take(n + 1).sum() };
            let mut num_tokens = 0usize;
            for n in 0..=limit {
                num_tokens = n;
                if cost(n + 1) > budget {
                    break;
                }
            }
            let rejected = num_tokens < limit && (self.cell_trim_length >= 0 || num_tokens == 0);
            if !rejected {
                return (num_rows, num_tokens.max(1));
            }
            num_rows -= 1;
            if num_rows < 1 {
                return (num_rows, 1);
            }
            if let Some(row) = per_row.get((num_rows + 1) as usize) {
                for (k, v) in row.iter().enumerate() {
                    total[k] -= v;
                }
            }
        }
    }
}

struct Sequence {
    ids: Vec<i64>,
    types: Vec<[i64; TOKEN_TYPES]>,
    tokens: Vec<String>,
}

/// Per-column consolidated numeric values of the whole table (all rows, before truncation).
struct NumericTable {
    columns: Vec<Vec<Option<NumericValue>>>,
}

impl NumericTable {
    fn new(table: &Table) -> NumericTable {
        let columns = (0..table.columns.len())
            .map(|c| {
                let cells: Vec<&str> = table.rows.iter().map(|r| r[c].as_str()).collect();
                numeric::consolidate_column(&cells, 0.7)
            })
            .collect();
        NumericTable { columns }
    }

    /// Fills column ranks, inverse ranks and numeric relations.
    fn annotate(
        &self,
        query: &str,
        cell_tokens: &HashMap<(usize, usize), Vec<usize>>,
        types: &mut [[i64; TOKEN_TYPES]],
    ) {
        for (c, values) in self.columns.iter().enumerate() {
            let present: Vec<(usize, &NumericValue)> = values
                .iter()
                .enumerate()
                .filter_map(|(r, v)| v.as_ref().map(|v| (r, v)))
                .collect();
            if present.is_empty() {
                continue;
            }
            let Some(key) = numeric::sort_key_fn(present.iter().map(|(_, v)| *v)) else {
                continue;
            };
            let keyed: Vec<(usize, Vec<f64>)> = present.iter().map(|(r, v)| (*r, key(v))).collect();
            let mut unique: Vec<&Vec<f64>> = keyed.iter().map(|(_, k)| k).collect();
            unique.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            unique.dedup_by(|a, b| a == b);
            for (r, k) in &keyed {
                let rank = unique
                    .binary_search_by(|u| {
                        u.as_slice()
                            .partial_cmp(k.as_slice())
                            .unwrap_or(std::cmp::Ordering::Equal)
                    })
                    .unwrap_or(0);
                if let Some(idx) = cell_tokens.get(&(c, *r)) {
                    for &t in idx {
                        types[t][4] = rank as i64 + 1;
                        types[t][5] = (unique.len() - rank) as i64;
                    }
                }
            }
        }
        let question = numeric::question_values(query);
        if question.is_empty() {
            return;
        }
        let mut relations: HashMap<(usize, usize), u32> = HashMap::new();
        for value in &question {
            for (c, values) in self.columns.iter().enumerate() {
                let present: Vec<(usize, &NumericValue)> = values
                    .iter()
                    .enumerate()
                    .filter_map(|(r, v)| v.as_ref().map(|v| (r, v)))
                    .collect();
                if present.is_empty() {
                    continue;
                }
                let all = present
                    .iter()
                    .map(|(_, v)| *v)
                    .chain(std::iter::once(value));
                let Some(key) = numeric::sort_key_fn(all) else {
                    continue;
                };
                let q = key(value);
                for (r, v) in &present {
                    let bit = numeric::relation_bit(&q, &key(v));
                    if bit != 0 {
                        *relations.entry((c, *r)).or_default() |= bit;
                    }
                }
            }
        }
        for (cell, bits) in relations {
            if let Some(idx) = cell_tokens.get(&cell) {
                for &t in idx {
                    types[t][6] = i64::from(bits);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
