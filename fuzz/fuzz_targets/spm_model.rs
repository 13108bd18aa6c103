//! Fuzzes the SentencePiece model reader and the slow tokenizers built on it (Marian, M2M100,
//! Speech2Text; unigram and BPE models): arbitrary bytes
//! (and mutations of the fixture's `source.spm`, the seed corpus) are an error or a model;
//! a model whose character map passed the reader's check builds a tokenizer that encodes and
//! decodes any text without panicking, and every id it gives is in its vocabulary.
#![no_main]

use hf_tasks_core::spm::SentencePieceModel;
use hf_tasks_core::tokenize::{EncodeOptions, MarianTarget, SlowFlavor, Tokenizer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The last bytes (up to 64) double as text to encode.
    let cut = data.len().saturating_sub(64);
    let Ok(model) = SentencePieceModel::parse(data, "source.spm") else {
        return;
    };
    let mut vocab = serde_json::Map::new();
    for p in model.pieces.iter().take(4096) {
        let id = vocab.len();
        vocab.entry(p.text.clone()).or_insert(id.into());
    }
    for extra in ["</s>", "<unk>", ">>fr<<", "<pad>"] {
        let id = vocab.len();
        vocab.entry(extra.to_string()).or_insert(id.into());
    }
    let vocab = serde_json::Value::Object(vocab).to_string();
    // The first byte picks the class: Marian (with the same bytes as target.spm), M2M100
    // (with two language tokens after the vocabulary) or Speech2Text (multilingual, lower-casing
    // its input and upper-casing its output).
    let mut config = None;
    let (flavor, target, languages) = match data.first() {
        Some(b) if b % 3 == 0 => (
            SlowFlavor::Marian,
            MarianTarget {
                spm: Some((data, "target.spm")),
                vocab: None,
            },
            Vec::new(),
        ),
        Some(b) if b % 3 == 1 => {
            config = Some(
                r#"{"lang_codes": "mustc", "tgt_lang": "de", "do_upper_case": true, "do_lower_case": true}"#,
            );
            (SlowFlavor::Speech2Text, MarianTarget::default(), Vec::new())
        }
        _ => (
            SlowFlavor::M2M100,
            MarianTarget::default(),
            vec!["__en__".to_string(), "__fr__".to_string()],
        ),
    };
    let Ok(tok) = Tokenizer::from_slow_sentencepiece(
        flavor,
        (data, "source.spm"),
        (&vocab, "vocab.json"),
        config.map(|c| (c, "tokenizer_config.json")),
        None,
        target,
        &languages,
    ) else {
        return;
    };
    let tail = String::from_utf8_lossy(&data[cut..]).into_owned();
    let texts = [
        tail.as_str(),
        ">>fr<< Grüße  aus\tKöln ﬁ ① __fr__ <lang:de> ß",
        "  </s> <unk>x<pad>  ",
        "",
    ];
    for text in texts {
        if let Ok(enc) = tok.encode(text, None, &EncodeOptions::default()) {
            let ids: Vec<u32> = enc.input_ids.iter().map(|&i| i as u32).collect();
            assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
            let _ = tok.decode(&ids, true, None);
            let _ = tok.decode(&ids, false, None);
        }
    }
});
