//! The tokenizer against transformers 4.57.3's `TapasTokenizer` on the fixture vocabulary
//! (test/fixtures/goldens/tapas-tokenizer.json, made by scripts/fixtures/make_tapas_goldens.py).

use serde_json::Value;

use super::*;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn tokenizer() -> TapasTokenizer {
    TapasTokenizer::from_files(
        &read("test/fixtures/models/tapas-wtq/vocab.txt"),
        &read("test/fixtures/models/tapas-wtq/tokenizer_config.json"),
    )
    .expect("fixture tokenizer")
}

fn table(v: &Value) -> Table {
    let obj = v.as_object().expect("table object");
    let columns = obj.keys().cloned().collect();
    let cells = obj
        .values()
        .map(|c| {
            c.as_array()
                .expect("column")
                .iter()
                .map(|x| x.as_str().expect("cell").to_string())
                .collect()
        })
        .collect();
    Table::from_columns(columns, cells).expect("table")
}

fn options(case: &Value, batched: bool) -> EncodeOptions {
    let truncation = match case.get("truncation") {
        Some(Value::String(s)) if s == "do_not_truncate" => Truncation::DoNotTruncate,
        Some(Value::Bool(false)) | None => Truncation::DoNotTruncate,
        _ => Truncation::DropRowsToFit,
    };
    let padding = match case.get("padding") {
        Some(Value::Bool(true)) => Padding::True,
        Some(Value::String(s)) if s == "max_length" => Padding::MaxLength,
        Some(Value::String(s)) if s == "longest" => Padding::Longest,
        _ => Padding::DoNotPad,
    };
    EncodeOptions {
        truncation,
        padding,
        max_length: case
            .get("max_length")
            .and_then(Value::as_u64)
            .map(|v| v as usize),
        batched,
    }
}

fn flat(v: &Value) -> Vec<i64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_i64().expect("int")],
        _ => panic!("not a number array"),
    }
}

#[test]
fn matches_reference_tokenizer() {
    let tok = tokenizer();
    let golden: Value = serde_json::from_str(&read("test/fixtures/goldens/tapas-tokenizer.json"))
        .expect("golden json");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 70);
    for (i, case) in cases.iter().enumerate() {
        let (queries, batched) = match &case["query"] {
            Value::String(s) => (vec![s.clone()], false),
            Value::Array(a) => (
                a.iter()
                    .map(|q| q.as_str().unwrap_or("").to_string())
                    .collect(),
                true,
            ),
            _ => panic!("query"),
        };
        let result = tok.encode(&table(&case["table"]), &queries, &options(case, batched));
        if let Some(err) = case.get("error") {
            let got = result.expect_err("an error");
            assert_eq!(got.to_string(), err.as_str().unwrap_or(""), "case {i}");
            continue;
        }
        let enc = result.unwrap_or_else(|e| panic!("case {i}: {e}"));
        let tokens: Vec<String> = enc.tokens.iter().flatten().cloned().collect();
        let want_tokens: Vec<String> = match &case["tokens"] {
            Value::Array(a) => a
                .iter()
                .flat_map(|t| match t {
                    Value::Array(b) => b
                        .iter()
                        .map(|x| x.as_str().unwrap_or("").to_string())
                        .collect(),
                    other => vec![other.as_str().unwrap_or("").to_string()],
                })
                .filter(|t| t != "[PAD]")
                .collect(),
            _ => panic!("tokens"),
        };
        assert_eq!(tokens, want_tokens, "case {i} tokens");
        assert_eq!(
            enc.input_ids,
            flat(&case["input_ids"]),
            "case {i} input_ids"
        );
        assert_eq!(
            enc.attention_mask,
            flat(&case["attention_mask"]),
            "case {i} mask"
        );
        let want_tt = flat(&case["token_type_ids"]);
        if enc.token_type_ids != want_tt {
            for t in 0..enc.token_type_ids.len() / TOKEN_TYPES {
                let got = &enc.token_type_ids[t * TOKEN_TYPES..(t + 1) * TOKEN_TYPES];
                let want = want_tt.get(t * TOKEN_TYPES..(t + 1) * TOKEN_TYPES);
                if Some(got) != want {
                    panic!(
                        "case {i} token {t} ({:?}): got {got:?}, want {want:?}",
                        tokens.get(t)
                    );
                }
            }
            panic!("case {i}: token type ids differ in length");
        }
    }
}

#[test]
fn predicts_cells_from_logits() {
    // two cells of column 0 (rows 0 and 1) and one header token
    let tt: Vec<i64> = [
        [0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0],
        [1, 1, 2, 0, 0, 0, 0],
    ]
    .concat();
    let logits = [5.0, 5.0, 3.0, -1.0, -2.0];
    let mask = [1, 1, 1, 1, 1];
    let coords = predict_coordinates(&logits, &mask, &tt, 0.5).expect("predict");
    assert_eq!(coords, vec![(0, 0)]);
    let mut next = tt.clone();
    previous_answer_labels(&logits, &mask, &tt, &mut next).expect("labels");
    let labels: Vec<i64> = next.chunks(7).map(|c| c[3]).collect();
    assert_eq!(labels, vec![0, 0, 1, 1, 0]);
    assert!(predict_coordinates(&logits[..3], &mask, &tt, 0.5).is_err());
    assert_eq!(argmax(&[0.1, 0.3, 0.3]), Some(1));
}

#[test]
fn categories_are_those_of_unicode_14() {
    use super::text::py_category;
    for (c, want) in [
        ('a', "Ll"),
        ('\u{378}', "Cn"),
        ('\u{1E900}', "Lu"),
        ('\u{A7C1}', "Ll"),
        ('\u{11D51}', "Nd"),
        ('\u{1AC1}', "Mn"),
        ('\u{E000}', "Co"),
        ('\u{3000}', "Zs"),
        ('\u{10FFFF}', "Cn"),
    ] {
        assert_eq!(py_category(c), want, "U+{:04X}", c as u32);
    }
    assert_eq!(super::text::decimal_value('\u{11D55}'), Some(5));
}
