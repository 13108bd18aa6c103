//! Fuzzes the TAPAS table tokenizer: arbitrary tables (cells, column names, unicode, numbers
//! and dates), queries, truncation and padding settings never panic; an encoding is either an
//! error or consistent (lengths, token type ranges, attention mask), and the cell prediction
//! on it never panics either.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Result as ArbResult, Unstructured};
use hf_tasks_core::tapas::{
    predict_coordinates, previous_answer_labels, EncodeOptions, Padding, Table, TapasTokenizer,
    Truncation, TOKEN_TYPES,
};
use libfuzzer_sys::fuzz_target;

fn tokenizer() -> &'static TapasTokenizer {
    static TOK: OnceLock<TapasTokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../test/fixtures/models/tapas-wtq"
        );
        let vocab = std::fs::read_to_string(format!("{dir}/vocab.txt")).expect("vocab.txt");
        let config =
            std::fs::read_to_string(format!("{dir}/tokenizer_config.json")).expect("config");
        TapasTokenizer::from_files(&vocab, &config).expect("tokenizer")
    })
}

/// Short strings biased towards what the numeric parser looks at.
fn cell(u: &mut Unstructured<'_>) -> ArbResult<String> {
    const PIECES: [&str; 16] = [
        "1", "2,345", ".5", "-", " ", "march", "2010", "5th", "three", "-", "/", "[EMPTY]", "n/a",
        "é", "東", "1990s",
    ];
    if u.ratio(1, 2)? {
        let n = u.int_in_range(0..=4)?;
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(u.choose(&PIECES)?);
            if u.ratio(1, 2)? {
                s.push(' ');
            }
        }
        Ok(s)
    } else {
        let s: String = u.arbitrary()?;
        Ok(s.chars().take(40).collect())
    }
}

fn run(u: &mut Unstructured<'_>) -> ArbResult<()> {
    let tok = tokenizer();
    let cols = u.int_in_range(0..=5)?;
    let rows = u.int_in_range(0..=12)?;
    let mut columns = Vec::with_capacity(cols);
    let mut cells = Vec::with_capacity(cols);
    for _ in 0..cols {
        columns.push(cell(u)?);
        let mut column = Vec::with_capacity(rows);
        for _ in 0..rows {
            column.push(cell(u)?);
        }
        cells.push(column);
    }
    let Ok(table) = Table::from_columns(columns, cells) else {
        return Ok(());
    };
    let nq = u.int_in_range(1..=3)?;
    let mut queries = Vec::with_capacity(nq);
    for _ in 0..nq {
        queries.push(cell(u)?);
    }
    let opts = EncodeOptions {
        truncation: if u.arbitrary()? {
            Truncation::DropRowsToFit
        } else {
            Truncation::DoNotTruncate
        },
        padding: *u.choose(&[
            Padding::True,
            Padding::Longest,
            Padding::MaxLength,
            Padding::DoNotPad,
        ])?,
        max_length: if u.arbitrary()? {
            Some(u.int_in_range(0..=160)?)
        } else {
            None
        },
        batched: nq > 1 || u.arbitrary()?,
    };
    let Ok(enc) = tok.encode(&table, &queries, &opts) else {
        return Ok(());
    };
    let n = enc.batch * enc.seq_len;
    assert_eq!(enc.batch, queries.len());
    assert_eq!(enc.input_ids.len(), n);
    assert_eq!(enc.attention_mask.len(), n);
    assert_eq!(enc.token_type_ids.len(), n * TOKEN_TYPES);
    for t in enc.token_type_ids.chunks(TOKEN_TYPES) {
        assert!(t[0] == 0 || t[0] == 1);
        assert!(t[1] >= 0 && t[1] <= cols as i64);
        assert!(t[2] >= 0 && t[2] <= rows as i64);
        assert!(t.iter().all(|v| *v >= 0));
    }
    if let Some(max) = opts.max_length {
        if opts.truncation == Truncation::DropRowsToFit {
            for s in &enc.tokens {
                assert!(s.len() <= max);
            }
        }
    }
    let logits: Vec<f32> = (0..n).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
    for b in 0..enc.batch {
        let r = b * enc.seq_len..(b + 1) * enc.seq_len;
        let tt = &enc.token_type_ids[r.start * TOKEN_TYPES..r.end * TOKEN_TYPES];
        let coords =
            predict_coordinates(&logits[r.clone()], &enc.attention_mask[r.clone()], tt, 0.5)
                .expect("consistent encoding");
        for (row, col) in coords {
            assert!(row < rows && col < cols);
        }
        let mut next = tt.to_vec();
        previous_answer_labels(&logits[r.clone()], &enc.attention_mask[r], tt, &mut next)
            .expect("labels");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
