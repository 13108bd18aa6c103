//! Fuzzes the SentencePiece model reader and the Marian tokenizer built on it: arbitrary bytes
//! (and mutations of the fixture's `source.spm`, the seed corpus) are an error or a model;
//! a model whose character map passed the reader's check builds a tokenizer that encodes and
//! decodes any text without panicking, and every id it gives is in its vocabulary.
#![no_main]

use hf_tasks_core::spm::SentencePieceModel;
use hf_tasks_core::tokenize::{EncodeOptions, MarianTarget, Tokenizer};
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
    let target = MarianTarget {
        spm: Some((data, "target.spm")),
        vocab: None,
    };
    let Ok(tok) = Tokenizer::from_marian(
        (data, "source.spm"),
        (&vocab, "vocab.json"),
        None,
        None,
        target,
    ) else {
        return;
    };
    let tail = String::from_utf8_lossy(&data[cut..]).into_owned();
    let texts = [
        tail.as_str(),
        ">>fr<< Grüße  aus\tKöln ﬁ ①",
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
